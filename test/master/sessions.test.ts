import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ERRNO, maxSessionTimeoutSec, retryWindow, rootInode } from '../../src/master/index.ts';
import { Driver } from './helpers.ts';

const R = rootInode;

function open(d: Driver, timeoutSec = 600): number {
  const r = d.run({ kind: 'sessionOpen', rootInode: R, flags: 3, timeoutSec });
  if (!r.ok || r.sessionId === undefined) assert.fail('sessionOpen failed');
  return r.sessionId;
}

const withoutApplied = (dump: string): string => dump.replace(/^applied \d+ /, '');

describe('sessions', () => {
  test('open hands out ids 1, 2, ... never reused; close and renew; BADSESSIONID for unknown ids', () => {
    const d = new Driver();
    assert.equal(open(d), 1);
    assert.equal(open(d), 2);
    d.ok({ kind: 'sessionClose', sessionId: 1 });
    assert.equal(open(d), 3);
    assert.equal(d.code({ kind: 'sessionClose', sessionId: 1 }), 'BADSESSIONID');
    assert.equal(d.code({ kind: 'sessionRenew', sessionId: 1 }), 'BADSESSIONID');
    assert.deepEqual(d.run({ kind: 'sessionRenew', sessionId: 7 }), { ok: false, code: 'BADSESSIONID', errno: ERRNO.EINVAL });
    d.timeSec = 5_000;
    assert.equal(d.code({ kind: 'sessionRenew', sessionId: 2 }), 'OK');
    assert.match(d.state.dump(), /^session 2 root 1 flags 3 timeout 600 expires 5600 open \[\] seq 0$/m);
  });

  test('open errors: EINVAL for a timeout or flags out of range, ENOENT / ENOTDIR for the root', () => {
    const d = new Driver();
    const f = d.create(R, 'f');
    const o = (rootInode: number, flags: number, timeoutSec: number) => d.code({ kind: 'sessionOpen', rootInode, flags, timeoutSec });
    assert.equal(o(R, 0, 0), 'EINVAL');
    assert.equal(o(R, 0, maxSessionTimeoutSec + 1), 'EINVAL');
    assert.equal(o(R, 256, 10), 'EINVAL');
    assert.equal(o(99, 0, 10), 'ENOENT');
    assert.equal(o(f, 0, 10), 'ENOTDIR');
    assert.equal(o(R, 0, maxSessionTimeoutSec), 'OK');
  });

  test('expireSessions closes sessions with expiresAt < now, earliest first then lowest id, at most maxCount', () => {
    const d = new Driver();
    const a = open(d, 100); // expires 1100
    const b = open(d, 50); // 1050
    const c = open(d, 50); // 1050
    d.timeSec = 1_050;
    assert.deepEqual(d.run({ kind: 'expireSessions', maxCount: 5 }), { ok: true, inode: 0, attr: null, count: 0 }, 'strictly before now');
    d.timeSec = 1_101;
    assert.deepEqual(d.run({ kind: 'expireSessions', maxCount: 2 }), { ok: true, inode: 0, attr: null, count: 2 });
    assert.equal(d.code({ kind: 'sessionRenew', sessionId: b }), 'BADSESSIONID');
    assert.equal(d.code({ kind: 'sessionRenew', sessionId: c }), 'BADSESSIONID');
    assert.equal(d.code({ kind: 'sessionRenew', sessionId: a }), 'OK', 'renewed before the next expiry pass');
    assert.deepEqual(d.run({ kind: 'expireSessions', maxCount: 2 }), { ok: true, inode: 0, attr: null, count: 0 });
    assert.match(d.state.dump(), new RegExp(`^session ${a} `, 'm'));
    assert.equal(d.code({ kind: 'expireSessions', maxCount: 1 }, { uid: 5, gids: [5] }), 'EPERM');
    assert.equal(d.code({ kind: 'expireSessions', maxCount: 0 }), 'EINVAL');
  });

  test('acquire twice is holding once; release of an unheld inode is a no-op; closing releases all', () => {
    const d = new Driver({ rootTrashTimeSec: 0 });
    const f = d.create(R, 'f');
    const g = d.create(R, 'g');
    const s = open(d);
    d.ok({ kind: 'acquire', sessionId: s, inode: f });
    d.ok({ kind: 'acquire', sessionId: s, inode: f });
    d.ok({ kind: 'acquire', sessionId: s, inode: g });
    assert.match(d.state.dump(), new RegExp(`^${f} .* open1$`, 'm'));
    d.ok({ kind: 'release', sessionId: s, inode: f });
    assert.doesNotMatch(d.state.dump(), new RegExp(`^${f} .* open1$`, 'm'), 'held once, released once');
    const before = withoutApplied(d.state.dump());
    assert.equal(d.code({ kind: 'release', sessionId: s, inode: f }), 'OK');
    assert.equal(d.code({ kind: 'release', sessionId: s, inode: 999 }), 'OK');
    assert.equal(withoutApplied(d.state.dump()), before);
    d.ok({ kind: 'unlink', parent: R, name: 'g' });
    assert.equal(d.state.statfs().sustainedFiles, 1);
    d.ok({ kind: 'sessionClose', sessionId: s });
    assert.equal(d.state.statfs().sustainedFiles, 0);
    assert.equal(d.state.getattr(g).ok, false);
  });

  test('acquire errors: BADSESSIONID, ENOENT, EPERM for anything but a regular file', () => {
    const d = new Driver();
    const s = open(d);
    const l = d.ok({ kind: 'symlink', parent: R, name: 'l', target: 't' });
    assert.equal(d.code({ kind: 'acquire', sessionId: 9, inode: R }), 'BADSESSIONID');
    assert.equal(d.code({ kind: 'release', sessionId: 9, inode: R }), 'BADSESSIONID');
    assert.equal(d.code({ kind: 'acquire', sessionId: s, inode: 99 }), 'ENOENT');
    assert.equal(d.code({ kind: 'acquire', sessionId: s, inode: R }), 'EPERM');
    assert.equal(d.code({ kind: 'acquire', sessionId: s, inode: l }), 'EPERM');
  });
});

describe('retry cache', () => {
  test('a retried (session, seq) gets its first answer and changes nothing but the applied index', () => {
    const d = new Driver();
    const s = open(d);
    const session = { id: s, seq: 1 };
    const first = d.run({ kind: 'create', parent: R, name: 'f', mode: 0o644, umask: 0, session });
    assert.ok(first.ok);
    const before = d.state.dump();
    d.timeSec += 30;
    const again = d.run({ kind: 'create', parent: R, name: 'f', mode: 0o644, umask: 0, session });
    assert.deepEqual(again, first, 'not EEXIST: the first answer');
    assert.equal(withoutApplied(d.state.dump()), withoutApplied(before));
    assert.notEqual(d.state.dump(), before, 'the applied index moved');
    // Failures are answers too.
    const fail1 = d.run({ kind: 'unlink', parent: R, name: 'nope', session: { id: s, seq: 2 } });
    d.create(R, 'nope');
    assert.deepEqual(d.run({ kind: 'unlink', parent: R, name: 'nope', session: { id: s, seq: 2 } }), fail1);
    assert.deepEqual(d.names(R), ['f', 'nope']);
  });

  test('the window: out-of-order sequences run once; older than the window is RETRY_EXPIRED; nothing runs', () => {
    const d = new Driver();
    const s = open(d);
    const mk = (seq: number, name: string) => d.run({ kind: 'mkdir', parent: R, name, mode: 0o755, umask: 0, session: { id: s, seq } });
    assert.equal(mk(5, 'five').ok, true);
    assert.equal(mk(3, 'three').ok, true, 'a lower seq that never ran, inside the window, runs');
    assert.equal(mk(3, 'other').ok, true);
    assert.deepEqual(d.names(R), ['five', 'three'], 'its retry did not run again');
    assert.equal(mk(5 + retryWindow, 'top').ok, true);
    assert.deepEqual(mk(5, 'late'), { ok: false, code: 'RETRY_EXPIRED', errno: ERRNO.RETRY_EXPIRED });
    assert.equal(ERRNO.RETRY_EXPIRED, 110, 'ETIMEDOUT');
    assert.equal(mk(6, 'six').ok, true, 'the oldest seq still in the window');
    assert.deepEqual(d.names(R), ['five', 'six', 'three', 'top']);
    assert.deepEqual(d.state.checkInvariants(), []);
  });

  test('a command for an unknown session is BADSESSIONID and does not run; session 0 is never deduplicated', () => {
    const d = new Driver();
    const r = d.run({ kind: 'mkdir', parent: R, name: 'x', mode: 0o755, umask: 0, session: { id: 4, seq: 1 } });
    assert.deepEqual(r, { ok: false, code: 'BADSESSIONID', errno: ERRNO.BADSESSIONID });
    assert.deepEqual(d.names(R), []);
    d.mkdir(R, 'x');
    assert.equal(d.code({ kind: 'mkdir', parent: R, name: 'x', mode: 0o755, umask: 0 }), 'EEXIST');
    const s = open(d);
    assert.equal(d.code({ kind: 'mkdir', parent: R, name: 'y', mode: 0o755, umask: 0, session: { id: s, seq: 0 } }), 'EINVAL');
    assert.deepEqual(d.names(R), ['x']);
  });

  test('results survive a session being closed by its own command: nothing is stored, a retry is BADSESSIONID', () => {
    const d = new Driver();
    const s = open(d);
    assert.equal(d.code({ kind: 'sessionClose', sessionId: s, session: { id: s, seq: 1 } }), 'OK');
    assert.equal(d.code({ kind: 'sessionClose', sessionId: s, session: { id: s, seq: 1 } }), 'BADSESSIONID');
  });

  test('writeChunk retried: the same chunk and version, not LOCKED and not a second version bump', () => {
    const d = new Driver();
    const f = d.create(R, 'f');
    const s = open(d);
    const w = () => d.run({ kind: 'writeChunk', inode: f, index: 0, session: { id: s, seq: 9 } });
    const first = w();
    assert.deepEqual(w(), first);
    assert.ok(first.ok && first.chunk !== undefined);
    assert.equal(first.chunk.version, 1);
  });
});
