import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rootInode } from '../../src/master/index.ts';
import { Driver } from './helpers.ts';

const R = rootInode;
const alice = { uid: 100, gids: [100] };

function openSession(d: Driver, timeoutSec = 600): number {
  const r = d.run({ kind: 'sessionOpen', rootInode: R, flags: 0, timeoutSec });
  if (!r.ok || r.sessionId === undefined) assert.fail('sessionOpen failed');
  return r.sessionId;
}

describe('trash', () => {
  test('unlinking the last name of a file sends it to the trash with nlink 0; statfs counts it', () => {
    const d = new Driver({ rootTrashTimeSec: 100 });
    const f = d.create(R, 'f');
    d.ok({ kind: 'truncate', inode: f, lengthBytes: 42 });
    d.timeSec = 2_000;
    const r = d.run({ kind: 'unlink', parent: R, name: 'f' });
    assert.ok(r.ok && r.attr !== null);
    assert.equal(r.attr.nlink, 0);
    assert.equal(r.attr.ctimeSec, 2_000, 'MooseFS sets ctime on the way to the trash');
    assert.deepEqual(d.names(R), []);
    const st = d.state.statfs();
    assert.deepEqual([st.files, st.trashFiles, st.trashLengthBytes, st.fileLengthBytes], [1, 1, 42, 42]);
    assert.match(d.state.dump(), /trash@2100 from 1\/"f"/);
  });

  test('rename over a file trashes the replaced one under the name it had', () => {
    const d = new Driver({ rootTrashTimeSec: 100 });
    d.create(R, 'a');
    const b = d.create(R, 'b');
    d.ok({ kind: 'rename', srcParent: R, srcName: 'a', dstParent: R, dstName: 'b' });
    assert.equal(d.attr(b).nlink, 0);
    assert.equal(d.state.statfs().trashFiles, 1);
    assert.match(d.state.dump(), new RegExp(`^${b} .* trash@1100 from 1/"b"`, 'm'));
  });

  test('only regular files are kept: symlinks, fifos and directories are freed at once (MooseFS)', () => {
    const d = new Driver({ rootTrashTimeSec: 100 });
    const s = d.ok({ kind: 'symlink', parent: R, name: 's', target: 't' });
    const p = d.ok({ kind: 'mknod', parent: R, name: 'p', type: 'fifo', mode: 0o644, umask: 0, rdev: 0 });
    const dir = d.mkdir(R, 'd');
    d.ok({ kind: 'unlink', parent: R, name: 's' });
    d.ok({ kind: 'unlink', parent: R, name: 'p' });
    d.ok({ kind: 'rmdir', parent: R, name: 'd' });
    for (const i of [s, p, dir]) assert.equal(d.state.getattr(i).ok, false);
    assert.equal(d.state.statfs().trashFiles, 0);
  });

  test('a file with trash time 0 is freed at once, chunks too', () => {
    const d = new Driver({ rootTrashTimeSec: 100 });
    const f = d.create(R, 'f');
    d.ok({ kind: 'setTrashTime', inode: f, trashTimeSec: 0 });
    d.run({ kind: 'writeChunk', inode: f, index: 0 });
    d.ok({ kind: 'unlink', parent: R, name: 'f' });
    assert.equal(d.state.getattr(f).ok, false);
    assert.deepEqual([d.state.statfs().trashFiles, d.state.statfs().chunks], [0, 0]);
  });

  test('expireTrash frees files whose time is up, earliest expiry first then lowest inode, at most maxCount', () => {
    const d = new Driver({ rootTrashTimeSec: 100, inodeReuseDelaySec: 0 });
    const a = d.create(R, 'a');
    const b = d.create(R, 'b');
    const c = d.create(R, 'c');
    d.ok({ kind: 'setTrashTime', inode: a, trashTimeSec: 50 });
    d.run({ kind: 'writeChunk', inode: b, index: 0 });
    d.timeSec = 2_000;
    for (const n of ['c', 'b', 'a']) d.ok({ kind: 'unlink', parent: R, name: n });
    // Expiries: a at 2050, b and c at 2100.
    d.timeSec = 2_049;
    assert.deepEqual(d.run({ kind: 'expireTrash', maxCount: 10 }), { ok: true, inode: 0, attr: null, count: 0 });
    d.timeSec = 2_100;
    assert.deepEqual(d.run({ kind: 'expireTrash', maxCount: 2 }), { ok: true, inode: 0, attr: null, count: 2 });
    assert.equal(d.state.getattr(a).ok, false);
    assert.equal(d.state.getattr(b).ok, false, 'b before c: same expiry, lower inode');
    assert.equal(d.state.getattr(c).ok, true);
    assert.equal(d.state.statfs().chunks, 0, "b's chunk went with it");
    assert.deepEqual(d.run({ kind: 'expireTrash', maxCount: 2 }), { ok: true, inode: 0, attr: null, count: 1 });
    assert.equal(d.state.statfs().trashFiles, 0);
    // Freed in expiry order: the free list (and so later inode numbers) follows it.
    d.timeSec = 3_000;
    assert.deepEqual([d.create(R, 'x'), d.create(R, 'y'), d.create(R, 'z')], [a, b, c]);
  });

  test('expireTrash and purgeTrash: EPERM for non-root, EINVAL for a bad maxCount, ENOENT for a file not in the trash', () => {
    const d = new Driver();
    const f = d.create(R, 'f');
    assert.equal(d.code({ kind: 'expireTrash', maxCount: 1 }, alice), 'EPERM');
    assert.equal(d.code({ kind: 'expireTrash', maxCount: 0 }), 'EINVAL');
    assert.equal(d.code({ kind: 'expireTrash', maxCount: 65_537 }), 'EINVAL');
    assert.equal(d.code({ kind: 'purgeTrash', inode: f }), 'ENOENT');
    d.ok({ kind: 'unlink', parent: R, name: 'f' });
    assert.equal(d.code({ kind: 'purgeTrash', inode: f }, alice), 'EPERM');
    assert.deepEqual(d.run({ kind: 'purgeTrash', inode: f }), { ok: true, inode: f, attr: null });
    assert.equal(d.state.statfs().trashFiles, 0);
    assert.equal(d.code({ kind: 'purgeTrash', inode: f }), 'ENOENT');
  });

  test('undelete puts the file back under its name; EEXIST if taken, ENOENT if the directory is gone', () => {
    const d = new Driver({ rootTrashTimeSec: 100 });
    const dir = d.mkdir(R, 'd');
    const f = d.create(dir, 'f');
    const g = d.create(dir, 'g');
    d.ok({ kind: 'unlink', parent: dir, name: 'f' });
    d.ok({ kind: 'unlink', parent: dir, name: 'g' });
    d.create(dir, 'g');
    assert.equal(d.code({ kind: 'undelete', inode: f }, alice), 'EPERM');
    assert.equal(d.code({ kind: 'undelete', inode: g }), 'EEXIST');
    d.timeSec = 1_500;
    assert.equal(d.code({ kind: 'undelete', inode: f }), 'OK');
    assert.equal(d.attr(f).nlink, 1);
    assert.equal(d.attr(f).ctimeSec, 1_500);
    assert.equal(d.attr(dir).mtimeSec, 1_500);
    assert.deepEqual(d.names(dir), ['f', 'g']);
    assert.equal(d.code({ kind: 'undelete', inode: f }), 'ENOENT', 'no longer in the trash');
    d.ok({ kind: 'unlink', parent: dir, name: 'f' });
    d.ok({ kind: 'unlink', parent: dir, name: 'g' });
    d.ok({ kind: 'rmdir', parent: R, name: 'd' });
    assert.equal(d.code({ kind: 'undelete', inode: f }), 'ENOENT', 'directory gone');
    assert.equal(d.state.statfs().trashFiles, 3);
  });

  test('link cannot give a trashed file a name back (vfs_link: nlink 0 is ENOENT)', () => {
    const d = new Driver();
    const f = d.create(R, 'f');
    d.ok({ kind: 'unlink', parent: R, name: 'f' });
    assert.equal(d.code({ kind: 'link', inode: f, parent: R, name: 'g' }), 'ENOENT');
  });

  test('writes and truncates of a trashed file keep the trash totals right', () => {
    const d = new Driver();
    const f = d.create(R, 'f');
    d.ok({ kind: 'unlink', parent: R, name: 'f' });
    d.run({ kind: 'writeChunk', inode: f, index: 1 });
    assert.equal(d.state.statfs().trashLengthBytes, 64 * 1024 * 1024);
    d.ok({ kind: 'truncate', inode: f, lengthBytes: 3 });
    assert.equal(d.state.statfs().trashLengthBytes, 3);
  });
});

describe('sustained files', () => {
  test('trash time 0 and held open: sustained until the last holder lets go, then freed', () => {
    const d = new Driver({ rootTrashTimeSec: 0 });
    const f = d.create(R, 'f');
    const s1 = openSession(d);
    const s2 = openSession(d);
    d.ok({ kind: 'acquire', sessionId: s1, inode: f });
    d.ok({ kind: 'acquire', sessionId: s2, inode: f });
    d.ok({ kind: 'truncate', inode: f, lengthBytes: 9 });
    d.ok({ kind: 'unlink', parent: R, name: 'f' });
    assert.equal(d.attr(f).nlink, 0);
    assert.deepEqual([d.state.statfs().sustainedFiles, d.state.statfs().sustainedLengthBytes], [1, 9]);
    d.run({ kind: 'writeChunk', inode: f, index: 0 });
    d.ok({ kind: 'release', sessionId: s1, inode: f });
    assert.equal(d.state.getattr(f).ok, true, 's2 still holds it');
    assert.deepEqual(d.run({ kind: 'release', sessionId: s2, inode: f }), { ok: true, inode: f, attr: null });
    assert.deepEqual([d.state.statfs().sustainedFiles, d.state.statfs().chunks, d.state.statfs().inodes], [0, 0, 1]);
  });

  test('trash time > 0 and held open: the trash first (MooseFS); expiry or purge while held makes it sustained', () => {
    const d = new Driver({ rootTrashTimeSec: 10 });
    const f = d.create(R, 'f');
    const g = d.create(R, 'g');
    const s = openSession(d);
    d.ok({ kind: 'acquire', sessionId: s, inode: f });
    d.ok({ kind: 'acquire', sessionId: s, inode: g });
    d.ok({ kind: 'unlink', parent: R, name: 'f' });
    d.ok({ kind: 'unlink', parent: R, name: 'g' });
    assert.deepEqual([d.state.statfs().trashFiles, d.state.statfs().sustainedFiles], [2, 0]);
    d.ok({ kind: 'purgeTrash', inode: g });
    d.timeSec += 10;
    assert.equal(d.run({ kind: 'expireTrash', maxCount: 5 }).ok, true);
    assert.deepEqual([d.state.statfs().trashFiles, d.state.statfs().sustainedFiles], [0, 2]);
    d.ok({ kind: 'sessionClose', sessionId: s });
    assert.deepEqual([d.state.statfs().sustainedFiles, d.state.statfs().inodes], [0, 1]);
  });

  test('a session that expires lets go of its files', () => {
    const d = new Driver({ rootTrashTimeSec: 0 });
    const f = d.create(R, 'f');
    const s = openSession(d, 60);
    d.ok({ kind: 'acquire', sessionId: s, inode: f });
    d.ok({ kind: 'unlink', parent: R, name: 'f' });
    d.timeSec += 61;
    assert.deepEqual(d.run({ kind: 'expireSessions', maxCount: 1 }), { ok: true, inode: 0, attr: null, count: 1 });
    assert.equal(d.state.getattr(f).ok, false);
  });
});
