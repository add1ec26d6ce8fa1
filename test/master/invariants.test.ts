/**
 * The invariant checker must notice each kind of damage to the new state; otherwise the property
 * tests that call it after every command would prove nothing. Each case breaks one thing through
 * the store and expects the message naming it.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rootInode } from '../../src/master/index.ts';
import type { Store } from '../../src/master/store.ts';
import { Driver } from './helpers.ts';

const R = rootInode;

/** A state with a file holding two chunks, a trashed file, a sustained file and a session. */
function world(): { d: Driver; store: Store; f: number; trashed: number; kept: number; session: number } {
  const d = new Driver();
  const f = d.create(R, 'f');
  for (const index of [0, 2]) d.run({ kind: 'writeChunk', inode: f, index });
  const trashed = d.create(R, 't');
  d.ok({ kind: 'unlink', parent: R, name: 't' });
  const kept = d.create(R, 'k');
  d.ok({ kind: 'setTrashTime', inode: kept, trashTimeSec: 0 });
  const r = d.run({ kind: 'sessionOpen', rootInode: R, flags: 0, timeoutSec: 60 });
  assert.ok(r.ok && r.sessionId !== undefined);
  d.ok({ kind: 'acquire', sessionId: r.sessionId, inode: kept });
  d.ok({ kind: 'unlink', parent: R, name: 'k' });
  d.run({ kind: 'mkdir', parent: R, name: 'x', mode: 0o755, umask: 0, session: { id: r.sessionId, seq: 1 } });
  assert.deepEqual(d.state.checkInvariants(), []);
  assert.equal(d.state.statfs().sustainedFiles, 1);
  return { d, store: d.state['store'], f, trashed, kept, session: r.sessionId };
}

function expectViolation(d: Driver, pattern: RegExp): void {
  const bad = d.state.checkInvariants();
  assert.ok(bad.some((line) => pattern.test(line)), `expected ${pattern}, got ${JSON.stringify(bad)}`);
}

describe('the invariant checker notices', () => {
  test('a chunk missing from the table, a wrong holder, an id not below nextChunkId', () => {
    let w = world();
    const id = w.store.chunks.at(w.f, 2);
    w.store.chunks.table.remove(id);
    expectViolation(w.d, /chunk \d+ of \d+\/2 is not in the table/);
    w = world();
    w.store.chunks.table.holderIndex[w.store.chunks.table.find(w.store.chunks.at(w.f, 0))] = 7;
    expectViolation(w.d, /is held by \d+\/7, listed at \d+\/0/);
    w = world();
    w.store.chunks.nextChunkId = 2;
    expectViolation(w.d, /not below nextChunkId 2/);
    w = world();
    w.store.chunks.table.insert(999, 1, 0, w.f, 5);
    expectViolation(w.d, /table holds 3 chunks, files list 2/);
  });

  test('a nameless file outside trash and sustained; bad trash and sustained totals; a lost expiry entry', () => {
    let w = world();
    w.store.trash.delete(w.trashed);
    expectViolation(w.d, new RegExp(`inode ${w.trashed} is unreachable`));
    w = world();
    w.store.trashLengthBytes += 1n;
    expectViolation(w.d, /trash length/);
    w = world();
    w.store.sustainedLengthBytes -= 1n;
    expectViolation(w.d, /sustained length/);
    w = world();
    w.store.trashQueue.rebuild(new Map());
    expectViolation(w.d, /missing from the expiry queue/);
    w = world();
    w.store.sustained.add(w.trashed);
    expectViolation(w.d, /both trashed and sustained/);
  });

  test('open counts out of step with sessions; a sustained file nobody holds; a broken retry window; a bad goal', () => {
    let w = world();
    w.store.openCount.set(w.kept, 2);
    expectViolation(w.d, /open count 2 != 1 holding sessions/);
    w = world();
    w.store.sessions.get(w.session)?.open.clear();
    w.store.openCount.clear();
    expectViolation(w.d, /sustained inode \d+ is held by no session/);
    w = world();
    const session = w.store.sessions.get(w.session);
    assert.ok(session);
    session.highestSeq = 40;
    expectViolation(w.d, /outside the window of 40/);
    w = world();
    w.store.goal[w.f] = 0;
    expectViolation(w.d, /has goal 0/);
  });
});
