import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ERRNO, NodeType, SetAttr, noSession, rootInode } from '../../src/master/index.ts';
import { Driver } from './helpers.ts';

const R = rootInode;
const long = 'x'.repeat(256);

describe('mkdir', () => {
  test('creates a directory with nlink 2, bumps the parent nlink and times', () => {
    const d = new Driver();
    d.timeSec = 5_000;
    const a = d.ok({ kind: 'mkdir', parent: R, name: 'a', mode: 0o7777, umask: 0o022 });
    const at = d.attr(a);
    assert.equal(at.type, NodeType.directory);
    assert.equal(at.mode, 0o1755, 'setuid/setgid dropped, umask applied');
    assert.equal(at.nlink, 2);
    assert.deepEqual([at.atimeSec, at.mtimeSec, at.ctimeSec], [5_000, 5_000, 5_000]);
    assert.equal(d.attr(R).nlink, 3);
    assert.equal(d.attr(R).mtimeSec, 5_000);
    assert.equal(d.attr(R).ctimeSec, 5_000);
  });

  test('errors: EEXIST, dot names, ENAMETOOLONG, EINVAL, ENOENT, ENOTDIR', () => {
    const d = new Driver();
    const f = d.create(R, 'f');
    d.mkdir(R, 'a');
    const mk = (parent: number, name: string) => d.code({ kind: 'mkdir', parent, name, mode: 0o755, umask: 0 });
    assert.equal(mk(R, 'a'), 'EEXIST');
    assert.equal(mk(R, 'f'), 'EEXIST');
    assert.equal(mk(R, '.'), 'EEXIST');
    assert.equal(mk(R, '..'), 'EEXIST');
    assert.equal(mk(R, long), 'ENAMETOOLONG');
    assert.equal(mk(R, 'é'.repeat(128)), 'ENAMETOOLONG', '256 UTF-8 bytes');
    assert.equal(mk(R, 'é'.repeat(127) + 'x'), 'OK', '255 UTF-8 bytes');
    assert.equal(mk(R, 'a/b'), 'EINVAL');
    assert.equal(mk(R, 'a\0b'), 'EINVAL');
    assert.equal(mk(R, ''), 'EINVAL');
    assert.equal(mk(999, 'x'), 'ENOENT');
    assert.equal(mk(f, 'x'), 'ENOTDIR');
  });

  test('failures are typed values with errno', () => {
    const d = new Driver();
    const r = d.run({ kind: 'mkdir', parent: 77, name: 'x', mode: 0o755, umask: 0 });
    assert.deepEqual(r, { ok: false, code: 'ENOENT', errno: ERRNO.ENOENT });
  });

  test('a setgid directory passes its group and its setgid bit on', () => {
    const d = new Driver();
    const g = d.mkdir(R, 'g', 0o777);
    d.ok({ kind: 'setattr', inode: g, setMask: SetAttr.mode, mode: 0o2777, newUid: 0, newGid: 0, atimeSec: 0, mtimeSec: 0 });
    d.ok({ kind: 'setattr', inode: g, setMask: SetAttr.gid, mode: 0, newUid: 0, newGid: 50, atimeSec: 0, mtimeSec: 0 });
    const sub = d.ok({ kind: 'mkdir', parent: g, name: 's', mode: 0o755, umask: 0 }, { uid: 7, gids: [7] });
    assert.equal(d.attr(sub).gid, 50);
    assert.equal(d.attr(sub).mode, 0o2755);
    const f = d.ok({ kind: 'create', parent: g, name: 'f', mode: 0o644, umask: 0 }, { uid: 7, gids: [7] });
    assert.equal(d.attr(f).gid, 50);
    assert.equal(d.attr(f).mode, 0o644);
  });
});

describe('mknod and create', () => {
  test('every node type, with rdev for devices', () => {
    const d = new Driver();
    const types = ['file', 'fifo', 'socket', 'blockdev', 'chardev'] as const;
    const expected = [NodeType.file, NodeType.fifo, NodeType.socket, NodeType.blockdev, NodeType.chardev];
    types.forEach((type, i) => {
      const ino = d.ok({ kind: 'mknod', parent: R, name: type, type, mode: 0o4755, umask: 0o002, rdev: 0x0801 });
      const at = d.attr(ino);
      assert.equal(at.type, expected[i]);
      assert.equal(at.mode, 0o4755);
      assert.equal(at.nlink, 1);
      assert.equal(at.rdev, type === 'blockdev' || type === 'chardev' ? 0x0801 : 0);
    });
    assert.equal(d.attr(R).nlink, 2, 'non-directories do not count in the parent nlink');
    assert.deepEqual(d.state.statfs(), {
      inodes: 6, directories: 1, files: 1, symlinks: 0, otherNodes: 4, fileLengthBytes: 0,
      trashFiles: 0, trashLengthBytes: 0, sustainedFiles: 0, sustainedLengthBytes: 0, chunks: 0,
    });
  });

  test('dot names: EEXIST, like mknod(2) and open(O_CREAT|O_EXCL)', () => {
    const d = new Driver();
    assert.equal(d.code({ kind: 'create', parent: R, name: '.', mode: 0o644, umask: 0 }), 'EEXIST');
    assert.equal(d.code({ kind: 'create', parent: R, name: '..', mode: 0o644, umask: 0 }), 'EEXIST');
    assert.equal(d.code({ kind: 'mknod', parent: R, name: '.', type: 'fifo', mode: 0o644, umask: 0, rdev: 0 }), 'EEXIST');
    d.create(R, 'f');
    assert.equal(d.code({ kind: 'create', parent: R, name: 'f', mode: 0o644, umask: 0 }), 'EEXIST');
    assert.equal(d.code({ kind: 'create', parent: R, name: long, mode: 0o644, umask: 0 }), 'ENAMETOOLONG');
  });

  test('only root creates devices', () => {
    const d = new Driver();
    d.mkdir(R, 'open', 0o777);
    const user = { uid: 5, gids: [5] };
    assert.equal(d.code({ kind: 'mknod', parent: 2, name: 'b', type: 'blockdev', mode: 0o600, umask: 0, rdev: 1 }, user), 'EPERM');
    assert.equal(d.code({ kind: 'mknod', parent: 2, name: 'c', type: 'chardev', mode: 0o600, umask: 0, rdev: 1 }, user), 'EPERM');
    assert.equal(d.code({ kind: 'mknod', parent: 2, name: 'p', type: 'fifo', mode: 0o600, umask: 0, rdev: 0 }, user), 'OK');
  });
});

describe('symlink and readlink', () => {
  test('stores the target, length in bytes, mode 0777', () => {
    const d = new Driver();
    const s = d.ok({ kind: 'symlink', parent: R, name: 'l', target: '../dé/x' });
    const at = d.attr(s);
    assert.equal(at.type, NodeType.symlink);
    assert.equal(at.mode, 0o777);
    assert.equal(at.lengthBytes, 8);
    assert.deepEqual(d.state.readlink(s), { ok: true, target: '../dé/x' });
    assert.equal(d.state.readlink(R).ok ? 'OK' : 'EINVAL', 'EINVAL');
  });

  test('errors: empty target ENOENT, long target ENAMETOOLONG, EEXIST, dot names', () => {
    const d = new Driver();
    assert.equal(d.code({ kind: 'symlink', parent: R, name: 'l', target: '' }), 'ENOENT');
    assert.equal(d.code({ kind: 'symlink', parent: R, name: 'l', target: 'y'.repeat(4096) }), 'ENAMETOOLONG');
    assert.equal(d.code({ kind: 'symlink', parent: R, name: 'l', target: 'y'.repeat(4095) }), 'OK');
    assert.equal(d.code({ kind: 'symlink', parent: R, name: 'l', target: 'z' }), 'EEXIST');
    assert.equal(d.code({ kind: 'symlink', parent: R, name: '..', target: 'z' }), 'EEXIST');
  });
});

describe('link', () => {
  test('adds a name, counts links, updates ctime of the inode and times of the parent', () => {
    const d = new Driver();
    const f = d.create(R, 'f');
    const a = d.mkdir(R, 'a');
    d.timeSec = 2_000;
    d.ok({ kind: 'link', inode: f, parent: a, name: 'g' });
    assert.equal(d.attr(f).nlink, 2);
    assert.equal(d.attr(f).ctimeSec, 2_000);
    assert.equal(d.attr(f).mtimeSec, 1_000);
    assert.equal(d.attr(a).mtimeSec, 2_000);
    assert.equal(d.attr(R).mtimeSec, 1_000);
  });

  test('errors: directories EPERM, EEXIST, dot names EEXIST, ENOENT for a missing inode', () => {
    const d = new Driver();
    const f = d.create(R, 'f');
    const a = d.mkdir(R, 'a');
    assert.equal(d.code({ kind: 'link', inode: a, parent: R, name: 'a2' }), 'EPERM');
    assert.equal(d.code({ kind: 'link', inode: f, parent: R, name: 'a' }), 'EEXIST');
    assert.equal(d.code({ kind: 'link', inode: f, parent: R, name: '.' }), 'EEXIST');
    assert.equal(d.code({ kind: 'link', inode: 99, parent: R, name: 'z' }), 'ENOENT');
    assert.equal(d.code({ kind: 'link', inode: f, parent: f, name: 'z' }), 'ENOTDIR');
  });
});

describe('unlink', () => {
  test('removes a name; the inode lives on while it has others and is freed after the last (trash off)', () => {
    const d = new Driver({ rootTrashTimeSec: 0 });
    const f = d.create(R, 'f');
    d.ok({ kind: 'link', inode: f, parent: R, name: 'g' });
    d.timeSec = 3_000;
    d.ok({ kind: 'unlink', parent: R, name: 'f' });
    assert.equal(d.attr(f).nlink, 1);
    assert.equal(d.attr(f).ctimeSec, 3_000);
    assert.equal(d.attr(R).mtimeSec, 3_000);
    const r = d.run({ kind: 'unlink', parent: R, name: 'g' });
    assert.deepEqual(r, { ok: true, inode: f, attr: null });
    assert.equal(d.state.getattr(f).ok, false);
    assert.equal(d.state.statfs().inodes, 1);
  });

  test('errors: ENOENT, EISDIR for directories and dot names (Linux), ENOTDIR parent', () => {
    const d = new Driver();
    const f = d.create(R, 'f');
    d.mkdir(R, 'a');
    const un = (parent: number, name: string) => d.code({ kind: 'unlink', parent, name });
    assert.equal(un(R, 'nope'), 'ENOENT');
    assert.equal(un(R, 'a'), 'EISDIR');
    assert.equal(un(R, '.'), 'EISDIR');
    assert.equal(un(R, '..'), 'EISDIR');
    assert.equal(un(f, 'x'), 'ENOTDIR');
    assert.equal(un(R, long), 'ENAMETOOLONG');
  });
});

describe('rmdir', () => {
  test('removes an empty directory and lowers the parent nlink', () => {
    const d = new Driver();
    const a = d.mkdir(R, 'a');
    d.mkdir(a, 'b');
    assert.equal(d.attr(a).nlink, 3);
    d.ok({ kind: 'rmdir', parent: a, name: 'b' });
    assert.equal(d.attr(a).nlink, 2);
    d.ok({ kind: 'rmdir', parent: R, name: 'a' });
    assert.equal(d.attr(R).nlink, 2);
  });

  test('errors: ENOTEMPTY, ENOTDIR, ENOENT, "." EINVAL, ".." ENOTEMPTY', () => {
    const d = new Driver();
    const a = d.mkdir(R, 'a');
    d.create(a, 'f');
    const rm = (parent: number, name: string) => d.code({ kind: 'rmdir', parent, name });
    assert.equal(rm(R, 'a'), 'ENOTEMPTY');
    assert.equal(rm(a, 'f'), 'ENOTDIR');
    assert.equal(rm(R, 'nope'), 'ENOENT');
    assert.equal(rm(a, '.'), 'EINVAL');
    assert.equal(rm(a, '..'), 'ENOTEMPTY');
  });
});

describe('rename', () => {
  test('moves a file between directories, updating both parents and the inode ctime', () => {
    const d = new Driver();
    const a = d.mkdir(R, 'a');
    const b = d.mkdir(R, 'b');
    const f = d.create(a, 'f');
    d.timeSec = 4_000;
    d.ok({ kind: 'rename', srcParent: a, srcName: 'f', dstParent: b, dstName: 'g' });
    assert.deepEqual(d.names(a), []);
    assert.deepEqual(d.names(b), ['g']);
    assert.equal(d.attr(f).ctimeSec, 4_000);
    assert.equal(d.attr(a).mtimeSec, 4_000);
    assert.equal(d.attr(b).mtimeSec, 4_000);
  });

  test('moves a directory: nlink of both parents and the parent pointer follow', () => {
    const d = new Driver();
    const a = d.mkdir(R, 'a');
    const b = d.mkdir(R, 'b');
    const c = d.mkdir(a, 'c');
    d.ok({ kind: 'rename', srcParent: a, srcName: 'c', dstParent: b, dstName: 'c' });
    assert.equal(d.attr(a).nlink, 2);
    assert.equal(d.attr(b).nlink, 3);
    const up = d.state.lookup(c, '..', { uid: 0, gids: [0] });
    assert.equal(up.ok && up.inode, b);
  });

  test('over an existing file: the replaced inode loses a link (trash off)', () => {
    const d = new Driver({ rootTrashTimeSec: 0 });
    const f = d.create(R, 'f');
    const g = d.create(R, 'g');
    d.ok({ kind: 'link', inode: g, parent: R, name: 'g2' });
    d.ok({ kind: 'rename', srcParent: R, srcName: 'f', dstParent: R, dstName: 'g' });
    assert.equal(d.attr(g).nlink, 1);
    const l = d.state.lookup(R, 'g', { uid: 0, gids: [0] });
    assert.equal(l.ok && l.inode, f);
    d.ok({ kind: 'rename', srcParent: R, srcName: 'g', dstParent: R, dstName: 'g2' });
    assert.equal(d.state.getattr(g).ok, false, 'last link of g replaced: freed');
  });

  test('over an empty directory replaces it; the parents nlink stays right', () => {
    const d = new Driver();
    const a = d.mkdir(R, 'a');
    const b = d.mkdir(R, 'b');
    d.mkdir(a, 'x');
    const y = d.mkdir(b, 'y');
    d.ok({ kind: 'rename', srcParent: a, srcName: 'x', dstParent: b, dstName: 'y' });
    assert.equal(d.attr(a).nlink, 2);
    assert.equal(d.attr(b).nlink, 3);
    assert.equal(d.state.getattr(y).ok, false);
  });

  test('two names of one inode: nothing happens', () => {
    const d = new Driver();
    const f = d.create(R, 'f');
    d.ok({ kind: 'link', inode: f, parent: R, name: 'g' });
    const before = d.state.dump();
    d.ok({ kind: 'rename', srcParent: R, srcName: 'f', dstParent: R, dstName: 'g' });
    assert.equal(d.state.dump().replace(/^applied \d+/, ''), before.replace(/^applied \d+/, ''));
    assert.deepEqual(d.names(R), ['f', 'g']);
    d.ok({ kind: 'rename', srcParent: R, srcName: 'f', dstParent: R, dstName: 'f' });
  });

  test('errors: own subtree EINVAL, ancestor target ENOTEMPTY, non-empty ENOTEMPTY, ENOTDIR, EISDIR, EBUSY, ENOENT', () => {
    const d = new Driver();
    const a = d.mkdir(R, 'a');
    const b = d.mkdir(a, 'b');
    const c = d.mkdir(b, 'c');
    d.create(R, 'f');
    const full = d.mkdir(R, 'full');
    d.create(full, 'inside');
    const mv = (srcParent: number, srcName: string, dstParent: number, dstName: string) =>
      d.code({ kind: 'rename', srcParent, srcName, dstParent, dstName });
    assert.equal(mv(R, 'a', c, 'x'), 'EINVAL', 'into its own subtree');
    assert.equal(mv(R, 'a', a, 'x'), 'EINVAL', 'into itself');
    assert.equal(mv(b, 'c', R, 'a'), 'ENOTEMPTY', 'over an ancestor of the source');
    assert.equal(mv(R, 'a', R, 'full'), 'ENOTEMPTY');
    assert.equal(mv(R, 'a', R, 'f'), 'ENOTDIR', 'directory over a file');
    assert.equal(mv(R, 'f', R, 'a'), 'EISDIR', 'file over a directory');
    assert.equal(mv(R, '.', R, 'x'), 'EBUSY');
    assert.equal(mv(R, 'f', R, '..'), 'EBUSY');
    assert.equal(mv(R, 'nope', R, 'x'), 'ENOENT');
    assert.equal(mv(R, 'f', 99, 'x'), 'ENOENT');
    assert.equal(mv(R, 'f', R, long), 'ENAMETOOLONG');
  });
});

describe('setattr', () => {
  test('sets mode, owner, group and times by mask; ctime always', () => {
    const d = new Driver();
    const f = d.create(R, 'f', 0o644);
    d.timeSec = 9_000;
    const mask = SetAttr.mode | SetAttr.uid | SetAttr.gid | SetAttr.atime | SetAttr.mtime;
    const r = d.run({ kind: 'setattr', inode: f, setMask: mask, mode: 0o4711, newUid: 10, newGid: 20, atimeSec: 11, mtimeSec: 12 });
    assert.ok(r.ok && r.attr);
    assert.deepEqual(
      [r.attr.mode, r.attr.uid, r.attr.gid, r.attr.atimeSec, r.attr.mtimeSec, r.attr.ctimeSec],
      [0o4711, 10, 20, 11, 12, 9_000],
    );
    d.timeSec = 9_500;
    d.ok({ kind: 'setattr', inode: f, setMask: SetAttr.atimeNow | SetAttr.mtimeNow, mode: 0, newUid: 0, newGid: 0, atimeSec: 0, mtimeSec: 0 });
    assert.deepEqual([d.attr(f).atimeSec, d.attr(f).mtimeSec, d.attr(f).mode], [9_500, 9_500, 0o4711]);
  });

  test('chown of a non-directory clears setuid (and setgid with group exec)', () => {
    const d = new Driver();
    const f = d.create(R, 'f', 0o6755);
    d.ok({ kind: 'setattr', inode: f, setMask: SetAttr.uid, mode: 0, newUid: 3, newGid: 0, atimeSec: 0, mtimeSec: 0 });
    assert.equal(d.attr(f).mode, 0o755);
    const g = d.mkdir(R, 'g', 0o755);
    d.ok({ kind: 'setattr', inode: g, setMask: SetAttr.mode, mode: 0o2755, newUid: 0, newGid: 0, atimeSec: 0, mtimeSec: 0 });
    d.ok({ kind: 'setattr', inode: g, setMask: SetAttr.gid, mode: 0, newUid: 0, newGid: 3, atimeSec: 0, mtimeSec: 0 });
    assert.equal(d.attr(g).mode, 0o2755, 'directories keep setgid');
  });

  test('errors: ENOENT, EINVAL for unknown mask bits or mode bits', () => {
    const d = new Driver();
    const f = d.create(R, 'f');
    const base = { kind: 'setattr', newUid: 0, newGid: 0, atimeSec: 0, mtimeSec: 0 } as const;
    assert.equal(d.code({ ...base, inode: 77, setMask: SetAttr.mode, mode: 0o644 }), 'ENOENT');
    assert.equal(d.code({ ...base, inode: f, setMask: 0x01, mode: 0 }), 'EINVAL');
    assert.equal(d.code({ ...base, inode: f, setMask: SetAttr.mode, mode: 0o17777 }), 'EINVAL');
  });
});

describe('truncate', () => {
  test('sets the length, mtime and ctime; statfs sums file lengths', () => {
    const d = new Driver();
    const f = d.create(R, 'f');
    d.timeSec = 7_000;
    d.ok({ kind: 'truncate', inode: f, lengthBytes: 1 << 40 });
    assert.equal(d.attr(f).lengthBytes, 1 << 40);
    assert.equal(d.attr(f).mtimeSec, 7_000);
    assert.equal(d.attr(f).ctimeSec, 7_000);
    d.ok({ kind: 'truncate', inode: f, lengthBytes: 10 });
    assert.equal(d.state.statfs().fileLengthBytes, 10);
  });

  test('errors: EISDIR, EINVAL for other types and bad lengths, EFBIG, ENOENT', () => {
    const d = new Driver();
    const a = d.mkdir(R, 'a');
    const p = d.ok({ kind: 'mknod', parent: R, name: 'p', type: 'fifo', mode: 0o644, umask: 0, rdev: 0 });
    const s = d.ok({ kind: 'symlink', parent: R, name: 's', target: 't' });
    const f = d.create(R, 'f');
    const tr = (inode: number, lengthBytes: number) => d.code({ kind: 'truncate', inode, lengthBytes });
    assert.equal(tr(a, 0), 'EISDIR');
    assert.equal(tr(p, 0), 'EINVAL');
    assert.equal(tr(s, 0), 'EINVAL');
    assert.equal(tr(f, -1), 'EINVAL');
    assert.equal(tr(f, 1.5), 'EINVAL');
    assert.equal(tr(f, 2 ** 60), 'EFBIG');
    assert.equal(tr(99, 0), 'ENOENT');
  });
});

describe('inode allocation', () => {
  test('freed numbers are reused only after the reuse delay, oldest first', () => {
    const d = new Driver({ inodeReuseDelaySec: 100, rootTrashTimeSec: 0 });
    const f = d.create(R, 'f');
    const g = d.create(R, 'g');
    d.ok({ kind: 'unlink', parent: R, name: 'g' });
    d.ok({ kind: 'unlink', parent: R, name: 'f' });
    assert.equal(d.create(R, 'h'), 4, 'too early: a new number');
    d.timeSec += 101;
    assert.equal(d.create(R, 'i'), g);
    assert.equal(d.create(R, 'j'), f);
    assert.equal(d.create(R, 'k'), 5);
  });

  test('the table grows by doubling past its initial capacity', () => {
    const d = new Driver({ initialInodeCapacity: 4 });
    for (let i = 0; i < 40; i++) d.create(R, `f${i}`);
    assert.equal(d.state.statfs().files, 40);
  });

  test('apply refuses an index that does not increase', () => {
    const d = new Driver();
    d.create(R, 'f');
    assert.throws(() => d.state.apply({ kind: 'unlink', timeSec: 1, uid: 0, gids: [0], session: noSession, parent: R, name: 'f' }, { index: 1 }));
  });
});
