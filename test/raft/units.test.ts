import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jointCommitted, jointVoteResult, majorityCommitted, majorityVoteResult } from '../../src/raft/quorum.ts';
import { Inflights } from '../../src/raft/inflights.ts';
import { Progress } from '../../src/raft/progress.ts';
import { RaftLog } from '../../src/raft/log.ts';
import { applyConfChange, checkConfState, decodeConfChange, describeConfState, encodeConfChange, isJoint } from '../../src/raft/confchange.ts';
import { InvariantError, MemoryStorage, emptyConfState, entrySizeBytes } from '../../src/raft/index.ts';
import type { ConfState, Entry, NodeId, Snapshot } from '../../src/raft/index.ts';
import { makeEntry } from './harness.ts';

const ids = (...xs: number[]): Set<NodeId> => new Set(xs);
const acks = (m: Record<number, number>) => (id: NodeId): number | undefined => m[id];
const votes = (m: Record<number, boolean>): Map<NodeId, boolean> => new Map(Object.entries(m).map(([k, v]) => [Number(k), v]));

function conf(voters: number[], extra: Partial<ConfState> = {}): ConfState {
  return { ...emptyConfState(), voters, ...extra };
}

function storageWith(terms: number[], cs: ConfState = conf([1, 2, 3])): MemoryStorage {
  const st = new MemoryStorage(cs);
  st.append(terms.map((t, i) => makeEntry(t, i + 1, `e${i + 1}`)));
  return st;
}

function termsOf(ents: readonly Entry[]): number[] {
  return ents.map((e) => e.term);
}

// ---------------------------------------------------------------- quorum

test('quorum: majorityCommitted is the highest index a majority holds', () => {
  assert.equal(majorityCommitted(ids(1, 2, 3), acks({ 1: 5, 2: 3, 3: 1 })), 3);
  assert.equal(majorityCommitted(ids(1, 2, 3, 4), acks({ 1: 5, 2: 4, 3: 3, 4: 1 })), 3);
  assert.equal(majorityCommitted(ids(1, 2, 3, 4, 5), acks({ 1: 9, 2: 9, 3: 2, 4: 2, 5: 2 })), 2);
  assert.equal(majorityCommitted(ids(1), acks({ 1: 7 })), 7);
  // A member nobody heard from counts as 0.
  assert.equal(majorityCommitted(ids(1, 2, 3), acks({ 1: 5 })), 0);
  assert.equal(majorityCommitted(ids(), acks({})), Number.POSITIVE_INFINITY);
});

test('quorum: jointCommitted needs a majority of both halves; an empty half imposes nothing', () => {
  const a = acks({ 1: 10, 2: 10, 3: 2, 4: 2, 5: 2 });
  assert.equal(jointCommitted(ids(1, 2, 3), ids(), a), 10);
  assert.equal(jointCommitted(ids(1, 2, 3), ids(3, 4, 5), a), 2);
  assert.equal(jointCommitted(ids(3, 4, 5), ids(1, 2, 3), a), 2);
  assert.equal(jointCommitted(ids(1, 2, 4), ids(1, 2, 3), a), 10);
});

test('quorum: majorityVoteResult is won, lost or pending', () => {
  assert.equal(majorityVoteResult(ids(1, 2, 3), votes({ 1: true, 2: true })), 'won');
  assert.equal(majorityVoteResult(ids(1, 2, 3), votes({ 1: true, 2: false })), 'pending');
  assert.equal(majorityVoteResult(ids(1, 2, 3), votes({ 1: true, 2: false, 3: false })), 'lost');
  assert.equal(majorityVoteResult(ids(1, 2, 3, 4), votes({ 1: true, 2: true })), 'pending');
  assert.equal(majorityVoteResult(ids(1, 2, 3, 4), votes({ 1: true, 2: true, 3: false, 4: false })), 'lost');
  assert.equal(majorityVoteResult(ids(1), votes({ 1: true })), 'won');
  assert.equal(majorityVoteResult(ids(), votes({})), 'won');
  // Votes of non-members do not count.
  assert.equal(majorityVoteResult(ids(1, 2, 3), votes({ 1: true, 7: true, 8: true })), 'pending');
});

test('quorum: jointVoteResult combines both halves', () => {
  const v = votes({ 1: true, 2: true, 3: false, 4: false });
  assert.equal(jointVoteResult(ids(1, 2, 3), ids(), v), 'won');
  assert.equal(jointVoteResult(ids(1, 2, 5), ids(3, 4, 5), v), 'lost');
  assert.equal(jointVoteResult(ids(1, 2, 5), ids(1, 3, 5), v), 'pending');
  assert.equal(jointVoteResult(ids(1, 2, 5), ids(1, 2, 3), v), 'won');
});

// ---------------------------------------------------------------- inflights

test('inflights: bounded by count; an acknowledgement frees every message up to its index', () => {
  const inf = new Inflights(3, 0);
  inf.add(2, 10);
  inf.add(4, 10);
  assert.equal(inf.full(), false);
  inf.add(7, 10);
  assert.equal(inf.full(), true);
  assert.equal(inf.length, 3);
  assert.throws(() => inf.add(8, 1), InvariantError);
  inf.freeLE(3);
  assert.equal(inf.length, 2);
  inf.freeLE(6);
  assert.equal(inf.length, 1);
  // Wraps around the ring.
  inf.add(9, 1);
  inf.add(12, 1);
  assert.equal(inf.full(), true);
  inf.freeLE(9);
  assert.equal(inf.length, 1);
  inf.freeLE(100);
  assert.equal(inf.length, 0);
  assert.equal(inf.full(), false);
});

test('inflights: bounded by bytes; indexes must not go backwards; reset empties', () => {
  const inf = new Inflights(10, 100);
  inf.add(1, 60);
  assert.equal(inf.full(), false);
  inf.add(2, 40);
  assert.equal(inf.full(), true, '100 bytes in flight reach the 100-byte bound');
  inf.freeLE(1);
  assert.equal(inf.full(), false);
  assert.throws(() => inf.add(1, 1), InvariantError);
  inf.reset();
  assert.equal(inf.length, 0);
  inf.add(1, 1);
  assert.equal(inf.length, 1);
});

// ---------------------------------------------------------------- progress

test('progress: probe state sends one append at a time', () => {
  const pr = new Progress(6, false, 4, 0);
  assert.equal(pr.state, 'probe');
  assert.equal(pr.isPaused(), false);
  pr.sentEntries(7, 2, 50);
  assert.equal(pr.isPaused(), true);
  assert.equal(pr.next, 6, 'probe does not advance next optimistically');
  assert.equal(pr.maybeUpdate(7), true);
  assert.equal(pr.match, 7);
  assert.equal(pr.next, 8);
  assert.equal(pr.isPaused(), false);
  assert.equal(pr.maybeUpdate(5), false, 'a stale acknowledgement does not move match back');
  assert.equal(pr.match, 7);
});

test('progress: replicate state pipelines up to the in-flight bound', () => {
  const pr = new Progress(1, false, 2, 0);
  pr.match = 3;
  pr.becomeReplicate();
  assert.equal(pr.next, 4);
  pr.sentEntries(5, 2, 10);
  assert.equal(pr.next, 6);
  assert.equal(pr.isPaused(), false);
  pr.sentEntries(8, 3, 10);
  assert.equal(pr.next, 9);
  assert.equal(pr.isPaused(), true);
  pr.maybeUpdate(5);
  pr.inflights.freeLE(5);
  assert.equal(pr.isPaused(), false);
});

test('progress: rejections in replicate state fall back to match+1 and ignore stale ones', () => {
  const pr = new Progress(1, false, 8, 0);
  pr.match = 5;
  pr.becomeReplicate();
  pr.sentEntries(9, 4, 10);
  assert.equal(pr.maybeDecrTo(4, 0), false, 'rejection of an index at or below match is stale');
  assert.equal(pr.next, 10);
  assert.equal(pr.maybeDecrTo(8, 3), true);
  assert.equal(pr.next, 6);
});

test('progress: rejections in probe state use the hint but never go below match+1', () => {
  const pr = new Progress(11, false, 8, 0);
  pr.match = 2;
  pr.sentEntries(10, 0, 0);
  assert.equal(pr.maybeDecrTo(9, 4), false, 'only the rejection of next-1 counts');
  assert.equal(pr.maybeDecrTo(10, 4), true);
  assert.equal(pr.next, 5);
  assert.equal(pr.isPaused(), false);
  pr.sentEntries(4, 0, 0);
  assert.equal(pr.maybeDecrTo(4, 0), true);
  assert.equal(pr.next, 3, 'not below match+1');
  // A hint above the rejected index cannot move next up.
  const pr2 = new Progress(8, false, 8, 0);
  assert.equal(pr2.maybeDecrTo(7, 20), true);
  assert.equal(pr2.next, 7);
});

test('progress: snapshot state pauses appends; leaving it resumes after the snapshot', () => {
  const pr = new Progress(3, false, 8, 0);
  pr.match = 2;
  const snap: Snapshot = { metadata: { index: 40, term: 3, confState: conf([1, 2, 3]) }, data: new Uint8Array(5) };
  pr.becomeSnapshot(snap);
  assert.equal(pr.state, 'snapshot');
  assert.equal(pr.isPaused(), true);
  assert.equal(pr.snapshotTransfer?.snapshot, snap);
  assert.throws(() => pr.sentEntries(4, 1, 1), InvariantError);
  pr.becomeProbe();
  assert.equal(pr.state, 'probe');
  assert.equal(pr.next, 41);
  assert.equal(pr.snapshotTransfer, undefined);
});

test('progress: describe gives a stable text form', () => {
  const pr = new Progress(5, true, 2, 0);
  pr.match = 4;
  pr.becomeReplicate();
  pr.sentEntries(6, 1, 10);
  pr.sentEntries(7, 1, 10);
  assert.equal(pr.describe(), 'replicate match=4 next=8 learner paused inflight=2');
});

// ---------------------------------------------------------------- log

test('log: term, firstIndex and lastIndex span storage and unstable entries', () => {
  const st = storageWith([1, 1, 2]);
  const log = new RaftLog(st, 0, 0);
  assert.equal(log.firstIndex(), 1);
  assert.equal(log.lastIndex(), 3);
  log.append([makeEntry(3, 4), makeEntry(3, 5)]);
  assert.equal(log.lastIndex(), 5);
  assert.equal(log.term(0), 0);
  assert.equal(log.term(3), 2);
  assert.equal(log.term(5), 3);
  assert.equal(log.term(6), undefined);
  assert.equal(log.stableLastIndex(), 3);
  assert.deepEqual(termsOf(log.nextUnstableEntries()), [3, 3]);
});

test('log: maybeAppend rejects a mismatching previous entry and leaves the log alone', () => {
  const log = new RaftLog(storageWith([1, 1, 2]), 0, 0);
  assert.equal(log.maybeAppend(3, 3, [makeEntry(3, 4)]), undefined);
  assert.equal(log.maybeAppend(4, 2, [makeEntry(3, 5)]), undefined);
  assert.equal(log.lastIndex(), 3);
});

test('log: maybeAppend truncates at the first conflict and keeps a longer matching suffix', () => {
  const log = new RaftLog(storageWith([1, 1, 2, 2, 2]), 1, 0);
  // Entries already present: nothing is truncated, lastNew is the end of the message.
  assert.equal(log.maybeAppend(1, 1, [makeEntry(1, 2), makeEntry(2, 3)]), 3);
  assert.equal(log.lastIndex(), 5);
  // A conflict at index 4 replaces 4 and 5.
  assert.equal(log.maybeAppend(2, 1, [makeEntry(2, 3), makeEntry(3, 4)]), 4);
  assert.equal(log.lastIndex(), 4);
  assert.equal(log.term(4), 3);
  assert.equal(log.stableLastIndex(), 3, 'stored entries from the conflict on no longer count as durable');
  assert.throws(() => log.maybeAppend(0, 0, [makeEntry(5, 1)]), InvariantError, 'a committed entry is never replaced');
});

test('log: isUpToDate compares last term first, then length', () => {
  const log = new RaftLog(storageWith([1, 1, 2]), 0, 0);
  assert.equal(log.isUpToDate(3, 2), true);
  assert.equal(log.isUpToDate(9, 2), true);
  assert.equal(log.isUpToDate(2, 2), false);
  assert.equal(log.isUpToDate(1, 3), true);
  assert.equal(log.isUpToDate(10, 1), false);
});

test('log: findConflictByTerm finds the last index whose term is at most the given term', () => {
  const log = new RaftLog(storageWith([1, 1, 3, 3, 5, 5, 5]), 0, 0);
  assert.deepEqual(log.findConflictByTerm(7, 4), { index: 4, term: 3 });
  assert.deepEqual(log.findConflictByTerm(7, 5), { index: 7, term: 5 });
  assert.deepEqual(log.findConflictByTerm(7, 2), { index: 2, term: 1 });
  assert.deepEqual(log.findConflictByTerm(20, 9), { index: 7, term: 5 });
  assert.deepEqual(log.findConflictByTerm(3, 0), { index: 0, term: 0 });
});

test('log: slice honours the byte limit across storage and unstable entries, but returns at least one entry', () => {
  const st = new MemoryStorage(conf([1]));
  st.append([makeEntry(1, 1, 'a'.repeat(76)), makeEntry(1, 2, 'b'.repeat(76))]);
  const log = new RaftLog(st, 0, 0);
  log.append([makeEntry(2, 3, 'c'.repeat(76)), makeEntry(2, 4, 'd'.repeat(76))]);
  const size = entrySizeBytes(makeEntry(1, 1, 'a'.repeat(76)));
  assert.equal(size, 100);
  assert.equal(log.slice(1, 5, 1)!.length, 1);
  assert.equal(log.slice(1, 5, 200)!.length, 2);
  assert.equal(log.slice(1, 5, 299)!.length, 2);
  assert.equal(log.slice(1, 5, 300)!.length, 3);
  assert.equal(log.slice(2, 5, 250)!.length, 2);
  assert.equal(log.slice(3, 5, 1)!.length, 1);
  assert.equal(log.slice(1, 5, Infinity)!.length, 4);
  assert.deepEqual(log.slice(3, 3, 1), []);
});

test('log: slice of a compacted range is undefined', () => {
  const st = storageWith([1, 1, 1, 2, 2]);
  st.createSnapshot(3, conf([1, 2, 3]), new Uint8Array(0));
  st.compact(3);
  const log = new RaftLog(st, 3, 3);
  assert.equal(log.firstIndex(), 4);
  assert.equal(log.slice(2, 5, Infinity), undefined);
  assert.equal(log.slice(4, 6, Infinity)!.length, 2);
  assert.equal(log.term(3), 1);
  assert.equal(log.term(2), undefined);
});

test('log: stableTo ignores a report for an entry that was replaced meanwhile', () => {
  const log = new RaftLog(storageWith([1]), 0, 0);
  log.append([makeEntry(2, 2), makeEntry(2, 3)]);
  log.markInProgress(3, false);
  // The follower learns of a conflict before the write of 2..3 completes.
  log.maybeAppend(1, 1, [makeEntry(3, 2)]);
  log.stableTo(3, 2);
  assert.equal(log.stableLastIndex(), 1, 'index 3 no longer exists; index 2 has another term');
  log.stableTo(2, 3);
  assert.equal(log.stableLastIndex(), 2);
});

test('log: committed entries are handed out only once durable locally', () => {
  const st = storageWith([1, 1]);
  const log = new RaftLog(st, 0, 0);
  log.append([makeEntry(1, 3), makeEntry(1, 4)]);
  log.commitTo(4);
  assert.deepEqual(log.nextCommittedEntries(Infinity).map((e) => e.index), [1, 2]);
  st.append(log.nextUnstableEntries());
  log.stableTo(4, 1);
  assert.deepEqual(log.nextCommittedEntries(Infinity).map((e) => e.index), [1, 2, 3, 4]);
  assert.throws(() => log.commitTo(9), InvariantError);
});

test('log: restore replaces the log by a snapshot', () => {
  const log = new RaftLog(storageWith([1, 1]), 1, 1);
  const snap: Snapshot = { metadata: { index: 10, term: 4, confState: conf([1, 2, 3]) }, data: new Uint8Array([1]) };
  log.restore(snap);
  assert.equal(log.committed, 10);
  assert.equal(log.lastIndex(), 10);
  assert.equal(log.firstIndex(), 11);
  assert.equal(log.term(10), 4);
  assert.equal(log.term(2), undefined, 'entries below the snapshot are gone');
  assert.deepEqual(log.nextCommittedEntries(Infinity), []);
  assert.equal(log.nextUnstableSnapshot(), snap);
});

// ---------------------------------------------------------------- confchange

test('confchange: adding a voter enters a joint configuration, leaving it yields C_new', () => {
  const r = applyConfChange(conf([1, 2, 3]), { changes: [{ op: 'addVoter', nodeId: 4 }] });
  assert.ok(r.ok);
  assert.deepEqual(r.conf.voters, [1, 2, 3, 4]);
  assert.deepEqual(r.conf.votersOutgoing, [1, 2, 3]);
  assert.equal(r.conf.autoLeave, true);
  assert.equal(isJoint(r.conf), true);
  const l = applyConfChange(r.conf, { changes: [] });
  assert.ok(l.ok);
  assert.deepEqual(l.conf, { voters: [1, 2, 3, 4], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false });
  assert.equal(isJoint(l.conf), false);
});

test('confchange: demoting a voter keeps it voting until the joint configuration is left', () => {
  const r = applyConfChange(conf([1, 2, 3]), { changes: [{ op: 'addLearner', nodeId: 3 }], autoLeave: false });
  assert.ok(r.ok);
  assert.deepEqual(r.conf.voters, [1, 2]);
  assert.deepEqual(r.conf.votersOutgoing, [1, 2, 3]);
  assert.deepEqual(r.conf.learners, []);
  assert.deepEqual(r.conf.learnersNext, [3]);
  assert.equal(r.conf.autoLeave, false);
  const l = applyConfChange(r.conf, { changes: [] });
  assert.ok(l.ok);
  assert.deepEqual(l.conf.learners, [3]);
  assert.deepEqual(l.conf.learnersNext, []);
});

test('confchange: promoting a learner and removing members', () => {
  const start = conf([1, 2, 3], { learners: [4, 5] });
  const r = applyConfChange(start, {
    changes: [
      { op: 'addVoter', nodeId: 4 },
      { op: 'remove', nodeId: 5 },
      { op: 'remove', nodeId: 1 },
    ],
  });
  assert.ok(r.ok);
  assert.deepEqual(r.conf.voters, [2, 3, 4]);
  assert.deepEqual(r.conf.votersOutgoing, [1, 2, 3]);
  assert.deepEqual(r.conf.learners, []);
  assert.equal(describeConfState(r.conf), 'voters=(2 3 4)&&(1 2 3) autoleave');
});

test('confchange: invalid changes are refused', () => {
  const joint = applyConfChange(conf([1, 2, 3]), { changes: [{ op: 'addVoter', nodeId: 4 }] });
  assert.ok(joint.ok);
  assert.equal(applyConfChange(joint.conf, { changes: [{ op: 'addVoter', nodeId: 5 }] }).ok, false, 'already joint');
  assert.equal(applyConfChange(conf([1, 2, 3]), { changes: [] }).ok, false, 'nothing to leave');
  assert.equal(applyConfChange(emptyConfState(), { changes: [{ op: 'addVoter', nodeId: 1 }] }).ok, false, 'empty configuration');
  assert.equal(
    applyConfChange(conf([1, 2, 3]), {
      changes: [
        { op: 'addVoter', nodeId: 4 },
        { op: 'remove', nodeId: 4 },
      ],
    }).ok,
    false,
    'same node twice',
  );
  assert.equal(
    applyConfChange(conf([1]), { changes: [{ op: 'remove', nodeId: 1 }] }).ok,
    false,
    'no voters left',
  );
  assert.equal(applyConfChange(conf([1, 2, 3]), { changes: [{ op: 'addVoter', nodeId: 0 }] }).ok, false, 'bad id');
  assert.equal(applyConfChange(conf([1, 2, 3]), { changes: [{ op: 'addVoter', nodeId: 1.5 }] }).ok, false, 'bad id');
});

test('confchange: checkConfState rejects a learner that is also a voter', () => {
  assert.throws(() => checkConfState(conf([1, 2], { learners: [2] })));
  assert.throws(() => checkConfState(conf([1, 2], { learnersNext: [3] })));
  assert.doesNotThrow(() => checkConfState(conf([1, 2], { votersOutgoing: [1, 2, 3], learnersNext: [3] })));
});

test('confchange: encoding round-trips and defaults autoLeave to true', () => {
  const cc = { changes: [{ op: 'addLearner' as const, nodeId: 7 }], autoLeave: false };
  assert.deepEqual(decodeConfChange(encodeConfChange(cc)), cc);
  assert.deepEqual(decodeConfChange(encodeConfChange({ changes: [] })), { changes: [], autoLeave: true });
  assert.throws(() => decodeConfChange(new TextEncoder().encode('{"v":2,"changes":[]}')));
});

test('confchange: describeConfState text forms', () => {
  assert.equal(describeConfState(conf([1, 2, 3])), 'voters=(1 2 3)');
  assert.equal(
    describeConfState({ voters: [1, 2], votersOutgoing: [1, 2, 3], learners: [5], learnersNext: [3], autoLeave: true }),
    'voters=(1 2)&&(1 2 3) learners=(5) learners_next=(3) autoleave',
  );
});

// ---------------------------------------------------------------- MemoryStorage

test('MemoryStorage: starts empty at index 0 with the bootstrap configuration', () => {
  const st = new MemoryStorage(conf([1, 2, 3]));
  assert.equal(st.firstIndex(), 1);
  assert.equal(st.lastIndex(), 0);
  assert.equal(st.term(0), 0);
  assert.equal(st.term(1), undefined);
  assert.deepEqual(st.initialState(), { hardState: { term: 0, vote: 0, commit: 0 }, confState: conf([1, 2, 3]) });
  st.setHardState({ term: 3, vote: 2, commit: 0 });
  assert.deepEqual(st.initialState().hardState, { term: 3, vote: 2, commit: 0 });
});

test('MemoryStorage: append replaces entries from the first appended index on and refuses holes', () => {
  const st = storageWith([1, 1, 1, 1]);
  st.append([makeEntry(2, 3), makeEntry(2, 4), makeEntry(2, 5)]);
  assert.equal(st.lastIndex(), 5);
  assert.deepEqual(termsOf(st.entries(1, 6, Infinity)), [1, 1, 2, 2, 2]);
  st.append([makeEntry(3, 2)]);
  assert.equal(st.lastIndex(), 2, 'a shorter append truncates the tail');
  assert.throws(() => st.append([makeEntry(3, 5)]), InvariantError);
});

test('MemoryStorage: entries stops at maxBytes but returns at least one', () => {
  const st = new MemoryStorage(conf([1]));
  st.append([makeEntry(1, 1, 'x'.repeat(76)), makeEntry(1, 2, 'x'.repeat(76)), makeEntry(1, 3, 'x'.repeat(76))]);
  assert.equal(st.entries(1, 4, 0).length, 1);
  assert.equal(st.entries(1, 4, 199).length, 1);
  assert.equal(st.entries(1, 4, 200).length, 2);
  assert.equal(st.entries(1, 4, 300).length, 3);
  assert.throws(() => st.entries(1, 5, 300), InvariantError);
});

test('MemoryStorage: createSnapshot and compact keep the term of the snapshot index', () => {
  const st = storageWith([1, 1, 2, 2, 3]);
  const snap = st.createSnapshot(4, conf([1, 2, 3]), new Uint8Array([9]));
  assert.deepEqual(snap.metadata, { index: 4, term: 2, confState: conf([1, 2, 3]) });
  assert.equal(st.firstIndex(), 1, 'creating a snapshot does not discard entries by itself');
  st.compact(3);
  assert.equal(st.firstIndex(), 4);
  assert.equal(st.term(3), 2);
  assert.equal(st.term(2), undefined);
  assert.throws(() => st.entries(3, 5, Infinity), InvariantError);
  assert.throws(() => st.compact(5), InvariantError, 'compact beyond the snapshot');
  st.compact(4);
  assert.equal(st.firstIndex(), 5);
  assert.equal(st.term(4), 2);
  assert.equal(st.lastIndex(), 5);
  assert.throws(() => st.createSnapshot(4, conf([1]), new Uint8Array(0)), InvariantError, 'not newer');
  assert.throws(() => st.createSnapshot(9, conf([1]), new Uint8Array(0)), InvariantError, 'beyond the log');
  // Appending entries partly covered by the snapshot keeps only the new part.
  st.append([makeEntry(2, 4), makeEntry(3, 5), makeEntry(4, 6)]);
  assert.equal(st.firstIndex(), 5);
  assert.equal(st.lastIndex(), 6);
  assert.equal(st.term(6), 4);
});

test('MemoryStorage: applySnapshot replaces the whole log and ignores older snapshots', () => {
  const st = storageWith([1, 1, 2]);
  const cs = conf([1, 2, 3, 4]);
  st.applySnapshot({ metadata: { index: 10, term: 5, confState: cs }, data: new Uint8Array([1, 2]) });
  assert.equal(st.firstIndex(), 11);
  assert.equal(st.lastIndex(), 10);
  assert.equal(st.term(10), 5);
  assert.equal(st.initialState().confState, cs);
  st.applySnapshot({ metadata: { index: 8, term: 5, confState: conf([1]) }, data: new Uint8Array(0) });
  assert.equal(st.snapshot().metadata.index, 10);
  st.append([makeEntry(5, 11)]);
  assert.equal(st.lastIndex(), 11);
});
