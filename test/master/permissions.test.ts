import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SetAttr, rootInode } from '../../src/master/index.ts';
import { Driver, root } from './helpers.ts';

const R = rootInode;
const alice = { uid: 100, gids: [100] };
const bob = { uid: 200, gids: [200, 300] };
const setattr = { kind: 'setattr', newUid: 0, newGid: 0, atimeSec: 0, mtimeSec: 0, mode: 0 } as const;

function world(): { d: Driver; home: number; file: number } {
  const d = new Driver();
  const home = d.mkdir(R, 'home', 0o755, root);
  d.ok({ ...setattr, inode: home, setMask: SetAttr.uid | SetAttr.gid, newUid: 100, newGid: 100 });
  const file = d.ok({ kind: 'create', parent: home, name: 'f', mode: 0o640, umask: 0 }, alice);
  return { d, home, file };
}

describe('permission checks (non-root callers)', () => {
  test('creating and removing entries needs write and search on the directory', () => {
    const { d, home } = world();
    assert.equal(d.code({ kind: 'create', parent: home, name: 'x', mode: 0o644, umask: 0 }, bob), 'EACCES');
    assert.equal(d.code({ kind: 'mkdir', parent: home, name: 'x', mode: 0o755, umask: 0 }, bob), 'EACCES');
    assert.equal(d.code({ kind: 'symlink', parent: home, name: 'x', target: 't' }, bob), 'EACCES');
    assert.equal(d.code({ kind: 'unlink', parent: home, name: 'f' }, bob), 'EACCES');
    assert.equal(d.code({ kind: 'unlink', parent: home, name: 'nope' }, bob), 'ENOENT', 'ENOENT comes before EACCES');
    assert.equal(d.code({ kind: 'create', parent: home, name: 'f', mode: 0o644, umask: 0 }, bob), 'EEXIST', 'EEXIST before EACCES');
    assert.equal(d.code({ kind: 'rename', srcParent: home, srcName: 'f', dstParent: R, dstName: 'g' }, bob), 'EACCES');
    assert.equal(d.code({ kind: 'create', parent: home, name: 'x', mode: 0o644, umask: 0 }, alice), 'OK');
  });

  test('group bits apply to members of the file group, other bits to the rest', () => {
    const { d, file } = world();
    d.ok({ ...setattr, inode: file, setMask: SetAttr.gid, newGid: 300 }, root);
    assert.equal(d.state.access(file, bob, 4).ok, true, 'bob is in group 300: r--');
    assert.equal(d.state.access(file, bob, 2).ok, false);
    assert.equal(d.state.access(file, { uid: 9, gids: [9] }, 4).ok, false, 'others: ---');
    assert.equal(d.state.access(file, alice, 6).ok, true);
    assert.equal(d.state.access(file, alice, 1).ok, false);
    assert.equal(d.state.access(file, root, 7).ok, false, 'root executes only if some x bit is set');
    assert.equal(d.state.access(file, root, 6).ok, true);
    assert.equal(d.state.access(file, root, 8).ok, false);
  });

  test('sticky directories: only the owner of the entry or of the directory removes or renames it', () => {
    const d = new Driver();
    const tmp = d.mkdir(R, 'tmp', 0o777);
    d.ok({ ...setattr, inode: tmp, setMask: SetAttr.mode, mode: 0o1777 });
    d.ok({ kind: 'create', parent: tmp, name: 'a', mode: 0o666, umask: 0 }, alice);
    d.ok({ kind: 'mkdir', parent: tmp, name: 'ad', mode: 0o777, umask: 0 }, alice);
    assert.equal(d.code({ kind: 'unlink', parent: tmp, name: 'a' }, bob), 'EPERM');
    assert.equal(d.code({ kind: 'rmdir', parent: tmp, name: 'ad' }, bob), 'EPERM');
    assert.equal(d.code({ kind: 'rename', srcParent: tmp, srcName: 'a', dstParent: tmp, dstName: 'b' }, bob), 'EPERM');
    d.ok({ kind: 'create', parent: tmp, name: 'bobs', mode: 0o666, umask: 0 }, bob);
    assert.equal(d.code({ kind: 'rename', srcParent: tmp, srcName: 'bobs', dstParent: tmp, dstName: 'a' }, bob), 'EPERM', 'replacing needs it too');
    assert.equal(d.code({ kind: 'unlink', parent: tmp, name: 'a' }, alice), 'OK');
    assert.equal(d.code({ kind: 'rmdir', parent: tmp, name: 'ad' }, root), 'OK');
  });

  test('moving a directory to another parent needs write permission on it', () => {
    const d = new Driver();
    const pub = d.mkdir(R, 'pub', 0o777);
    d.ok({ kind: 'mkdir', parent: pub, name: 'ro', mode: 0o555, umask: 0 }, alice);
    const other = d.mkdir(R, 'other', 0o777);
    assert.equal(d.code({ kind: 'rename', srcParent: pub, srcName: 'ro', dstParent: other, dstName: 'ro' }, alice), 'EACCES');
    assert.equal(d.code({ kind: 'rename', srcParent: pub, srcName: 'ro', dstParent: pub, dstName: 'ro2' }, alice), 'OK', 'same parent: no ".." to rewrite');
  });

  test('setattr: chmod by the owner only, chown by root only, chgrp to own groups only', () => {
    const { d, file } = world();
    assert.equal(d.code({ ...setattr, inode: file, setMask: SetAttr.mode, mode: 0o600 }, bob), 'EPERM');
    assert.equal(d.code({ ...setattr, inode: file, setMask: SetAttr.mode, mode: 0o600 }, alice), 'OK');
    assert.equal(d.code({ ...setattr, inode: file, setMask: SetAttr.uid, newUid: 200 }, alice), 'EPERM');
    assert.equal(d.code({ ...setattr, inode: file, setMask: SetAttr.uid, newUid: 100 }, alice), 'OK', 'chown to oneself');
    assert.equal(d.code({ ...setattr, inode: file, setMask: SetAttr.gid, newGid: 300 }, alice), 'EPERM');
    assert.equal(d.code({ ...setattr, inode: file, setMask: SetAttr.gid, newGid: 300 }, { uid: 100, gids: [100, 300] }), 'OK');
    assert.equal(d.code({ ...setattr, inode: file, setMask: SetAttr.mtime, mtimeSec: 5 }, bob), 'EPERM');
    assert.equal(d.code({ ...setattr, inode: file, setMask: SetAttr.mtimeNow }, bob), 'EACCES');
    d.ok({ ...setattr, inode: file, setMask: SetAttr.mode, mode: 0o666 }, alice);
    assert.equal(d.code({ ...setattr, inode: file, setMask: SetAttr.mtimeNow }, bob), 'OK', 'touch with write permission');
  });

  test('chmod by a non-member of the file group drops setgid', () => {
    const { d, file } = world();
    d.ok({ ...setattr, inode: file, setMask: SetAttr.gid, newGid: 555 }, root);
    d.ok({ ...setattr, inode: file, setMask: SetAttr.mode, mode: 0o2755 }, alice);
    assert.equal(d.attr(file).mode, 0o755);
  });

  test('truncate needs write permission; by a non-root caller it clears setuid', () => {
    const { d, file } = world();
    assert.equal(d.code({ kind: 'truncate', inode: file, lengthBytes: 1 }, bob), 'EACCES');
    d.ok({ ...setattr, inode: file, setMask: SetAttr.mode, mode: 0o4770 }, alice);
    assert.equal(d.code({ kind: 'truncate', inode: file, lengthBytes: 1 }, alice), 'OK');
    assert.equal(d.attr(file).mode, 0o770);
  });

  test('protected hard links: a non-owner links only a regular file it may read and write', () => {
    const { d, home, file } = world();
    const pub = d.mkdir(R, 'pub', 0o777);
    assert.equal(d.code({ kind: 'link', inode: file, parent: pub, name: 'l' }, bob), 'EPERM');
    d.ok({ ...setattr, inode: file, setMask: SetAttr.mode, mode: 0o666 }, alice);
    assert.equal(d.code({ kind: 'link', inode: file, parent: pub, name: 'l' }, bob), 'OK');
    assert.equal(d.code({ kind: 'link', inode: home, parent: pub, name: 'h' }, bob), 'EPERM');
  });

  test('lookup needs search permission, readdir read permission', () => {
    const { d, home } = world();
    d.ok({ ...setattr, inode: home, setMask: SetAttr.mode, mode: 0o700 }, alice);
    assert.equal(d.state.lookup(home, 'f', bob).ok, false);
    assert.equal(d.state.readdir(home, bob, null, 10).ok, false);
    assert.equal(d.state.lookup(home, 'f', alice).ok, true);
    d.ok({ ...setattr, inode: home, setMask: SetAttr.mode, mode: 0o711 }, alice);
    assert.equal(d.state.lookup(home, 'f', bob).ok, true);
    const r = d.state.readdir(home, bob, null, 10);
    assert.equal(r.ok ? 'OK' : r.code, 'EACCES');
  });
});

describe('reads', () => {
  test('lookup of names, ".", ".." and errors', () => {
    const d = new Driver();
    const a = d.mkdir(R, 'a');
    const f = d.create(a, 'f');
    const id = (r: { ok: boolean; inode?: number; code?: string }) => (r.ok ? r.inode : r.code);
    assert.equal(id(d.state.lookup(a, 'f', root)), f);
    assert.equal(id(d.state.lookup(a, '.', root)), a);
    assert.equal(id(d.state.lookup(a, '..', root)), R);
    assert.equal(id(d.state.lookup(R, '..', root)), R);
    assert.equal(id(d.state.lookup(a, 'g', root)), 'ENOENT');
    assert.equal(id(d.state.lookup(f, 'g', root)), 'ENOTDIR');
    assert.equal(id(d.state.lookup(a, 'x'.repeat(300), root)), 'ENAMETOOLONG');
  });

  test('readdir pages by name; the cursor survives inserts and removals', () => {
    const d = new Driver();
    for (const n of ['e', 'b', 'd', 'a', 'c', 'f']) d.create(R, n);
    const p1 = d.state.readdir(R, root, null, 2);
    assert.ok(p1.ok);
    assert.deepEqual(p1.entries.map((e) => e.name), ['a', 'b']);
    assert.equal(p1.cursor, 'b');
    d.ok({ kind: 'unlink', parent: R, name: 'b' });
    d.ok({ kind: 'unlink', parent: R, name: 'c' });
    d.create(R, 'a2');
    d.create(R, 'cc');
    const p2 = d.state.readdir(R, root, p1.cursor, 2);
    assert.ok(p2.ok);
    assert.deepEqual(p2.entries.map((e) => e.name), ['cc', 'd']);
    const p3 = d.state.readdir(R, root, p2.cursor, 10);
    assert.ok(p3.ok);
    assert.deepEqual(p3.entries.map((e) => e.name), ['e', 'f']);
    assert.equal(p3.cursor, null);
    const bad = d.state.readdir(R, root, null, 0);
    assert.equal(bad.ok ? 'OK' : bad.code, 'EINVAL');
  });

  test('statfs counts inodes, directories and files', () => {
    const d = new Driver();
    const a = d.mkdir(R, 'a');
    d.create(a, 'f');
    d.ok({ kind: 'symlink', parent: a, name: 's', target: 'x' });
    assert.deepEqual(d.state.statfs(), {
      inodes: 4, directories: 2, files: 1, symlinks: 1, otherNodes: 0, fileLengthBytes: 0,
      trashFiles: 0, trashLengthBytes: 0, sustainedFiles: 0, sustainedLengthBytes: 0, chunks: 0,
    });
  });
});
