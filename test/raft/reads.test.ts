import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message, NodeId, ReadState } from '../../src/raft/index.ts';
import { Cluster } from './harness.ts';

const ctx = (n: number): Uint8Array => new Uint8Array([n]);

function readsOf(c: Cluster, id: NodeId, n: number): ReadState[] {
  return c.get(id).readStates.filter((r) => r.context.length === 1 && r.context[0] === n);
}

const touches =
  (...ids: NodeId[]) =>
  (m: Message): boolean =>
    ids.includes(m.from) || ids.includes(m.to);

const readHeartbeat = (m: Message): boolean => m.type === 'heartbeat' && m.readRound > 0;

test('ReadIndex: the leader confirms its leadership with a heartbeat round before answering, at the commit index of arrival', () => {
  const c = new Cluster({ voters: [1, 2, 3, 4, 5] });
  c.elect(1);
  c.propose(1, 'a');
  c.deliverAll();
  c.tickAndDeliver(1);
  const commit = c.raft(1).status().commit;
  assert.equal(c.raft(1).readIndex(ctx(1)).ok, true);
  c.processReadies();
  assert.deepEqual(readsOf(c, 1, 1), [], 'not answered before a quorum confirmed');
  const hbs = c.inbox.filter(readHeartbeat);
  assert.equal(hbs.length, 4, 'a heartbeat round went to every follower');
  // A later commit does not change the read point recorded on arrival.
  c.propose(1, 'b');
  // One follower confirms: 2 of 5, not enough.
  c.deliverAll((m) => (m.type === 'heartbeat' || m.type === 'heartbeatResp') && touches(2)(m));
  assert.deepEqual(readsOf(c, 1, 1), []);
  c.deliverAll((m) => (m.type === 'heartbeat' || m.type === 'heartbeatResp') && touches(3)(m));
  assert.deepEqual(
    readsOf(c, 1, 1).map((r) => r.index),
    [commit],
  );
  c.deliverAll();
  assert.equal(readsOf(c, 1, 1).length, 1, 'answered once');
});

test('ReadIndex: a read before the leader commits an entry of its term waits for it', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.setLog(1, [1, 1], { term: 1, commit: 1 });
  c.setLog(2, [1, 1], { term: 1, commit: 1 });
  c.raft(1).campaign();
  c.deliverAll((m) => m.type !== 'app');
  assert.equal(c.raft(1).status().role, 'leader');
  c.raft(1).readIndex(ctx(7));
  c.processReadies();
  c.deliverAll((m) => m.type !== 'app');
  c.tickAndDeliver(2, (m) => m.type !== 'app');
  assert.deepEqual(readsOf(c, 1, 7), [], 'index 2 may be committed: the leader cannot know before its no-op commits');
  c.deliverAll();
  c.tickAndDeliver(1);
  assert.deepEqual(
    readsOf(c, 1, 7).map((r) => r.index),
    [3],
  );
});

test('ReadIndex: a deposed leader never answers a read with a read point', () => {
  for (const checkQuorum of [true, false]) {
    const c = new Cluster({ voters: [1, 2, 3], config: { checkQuorum } });
    c.elect(1);
    c.propose(1, 'a');
    c.deliverAll();
    c.tickAndDeliver(1);
    c.isolate(1);
    c.raft(1).readIndex(ctx(9));
    c.processReadies();
    c.tickUntil(() => c.raft(2).status().role === 'leader' || c.raft(3).status().role === 'leader', 80);
    const lead = c.leader();
    c.propose(lead, 'b');
    c.deliverAll();
    c.tickAndDeliver(25);
    c.heal();
    c.tickAndDeliver(5);
    assert.equal(c.raft(1).status().role, 'follower');
    const answers = readsOf(c, 1, 9);
    assert.ok(
      answers.every((r) => r.index === 0),
      `checkQuorum=${checkQuorum}: answers ${JSON.stringify(answers.map((r) => r.index))}`,
    );
    assert.equal(answers.length, 1, `checkQuorum=${checkQuorum}: told to retry`);
  }
});

test('ReadIndex: a single-voter leader answers at once', () => {
  const c = new Cluster({ voters: [1], learners: [2] });
  c.elect(1);
  c.propose(1, 'a');
  c.deliverAll();
  c.raft(1).readIndex(ctx(1));
  c.processReadies();
  assert.deepEqual(
    readsOf(c, 1, 1).map((r) => r.index),
    [2],
  );
  assert.equal(c.inbox.filter(readHeartbeat).length, 0);
});

test('ReadIndex: lost heartbeats are retried; a later heartbeat carries the waiting round', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.tickAndDeliver(1);
  c.raft(1).readIndex(ctx(4));
  c.processReadies();
  assert.equal(c.dropPending(readHeartbeat), 2);
  c.tick(1);
  assert.equal(c.inbox.filter(readHeartbeat).length, 2);
  c.deliverAll();
  assert.deepEqual(
    readsOf(c, 1, 4).map((r) => r.index),
    [1],
  );
});

test('ReadIndex: while joint, the heartbeat round needs a quorum of both halves', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.addNode(4);
  c.addNode(5);
  c.elect(1);
  c.tickAndDeliver(1);
  const r = c.raft(1).proposeConfChange({ changes: [{ op: 'addVoter', nodeId: 4 }, { op: 'addVoter', nodeId: 5 }, { op: 'remove', nodeId: 2 }, { op: 'remove', nodeId: 3 }], autoLeave: false });
  assert.ok(r.ok);
  c.deliverAll();
  c.tickAndDeliver(2);
  assert.deepEqual(c.raft(1).status().confState.votersOutgoing, [1, 2, 3]);
  c.raft(1).readIndex(ctx(5));
  c.processReadies();
  c.deliverAll((m) => !touches(4, 5)(m));
  assert.deepEqual(readsOf(c, 1, 5), [], 'C_old confirmed, C_new did not');
  c.deliverAll();
  assert.equal(readsOf(c, 1, 5).length, 1);
  assert.ok(readsOf(c, 1, 5)[0]!.index > 0);
});

test('follower reads: readIndex on a follower returns a ReadState with the leader read index', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  for (const x of ['a', 'b']) c.propose(1, x);
  c.deliverAll();
  c.tickAndDeliver(1);
  assert.equal(c.raft(2).readIndex(ctx(2)).ok, true);
  c.processReadies();
  const fwd = c.inbox.filter((m) => m.type === 'readIndex');
  assert.deepEqual(
    fwd.map((m) => [m.from, m.to]),
    [[2, 1]],
  );
  c.deliverAll();
  assert.deepEqual(
    readsOf(c, 2, 2).map((r) => r.index),
    [c.raft(1).status().commit],
  );
  assert.ok(c.sentWhere(readHeartbeat).length > 0, 'the leader confirmed with a heartbeat round');
});

test('learner reads: readIndex on a learner returns a ReadState with the leader read index', () => {
  const c = new Cluster({ voters: [1, 2, 3], learners: [4] });
  c.elect(1);
  c.propose(1, 'a');
  c.deliverAll();
  c.tickAndDeliver(1);
  c.raft(4).readIndex(ctx(3));
  c.deliverAll();
  assert.deepEqual(
    readsOf(c, 4, 3).map((r) => r.index),
    [2],
  );
});

test('follower reads: without a known leader the read is refused, and a non-leader asked for a read index answers 0', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  assert.deepEqual(c.raft(2).readIndex(ctx(1)), { ok: false, code: 'ERR_NOT_LEADER', leaderHint: 0 });
  c.inject({ type: 'readIndex', from: 3, to: 2, term: 0, context: ctx(8) });
  const out = c.take((m) => m.from === 2);
  assert.deepEqual(
    out.map((m) => [m.type, m.type === 'readIndexResp' ? m.index : -1]),
    [['readIndexResp', 0]],
  );
});

test('ReadIndex: reads beyond maxPendingReads that wait for the first commit are answered with index 0', () => {
  const c = new Cluster({ voters: [1, 2, 3], config: { maxPendingReads: 2 } });
  c.raft(1).campaign();
  c.deliverAll((m) => m.type !== 'app');
  for (const n of [1, 2, 3]) c.raft(1).readIndex(ctx(n));
  c.processReadies();
  assert.deepEqual(
    readsOf(c, 1, 3).map((r) => r.index),
    [0],
  );
  assert.deepEqual(readsOf(c, 1, 1), []);
  c.deliverAll();
  c.tickAndDeliver(1);
  assert.deepEqual(
    [...readsOf(c, 1, 1), ...readsOf(c, 1, 2)].map((r) => r.index),
    [1, 1],
  );
});

function leaseCluster(): Cluster {
  const c = new Cluster({ voters: [1, 2, 3], config: { readMode: 'lease' } });
  // Followers refuse votes during their first election timeout (they may have backed a lease before a restart).
  for (let i = 0; i < 10; i++) c.tickAll();
  c.elect(1);
  assert.equal(c.leader(), 1);
  c.propose(1, 'a');
  c.deliverAll();
  c.tickAndDeliver(1);
  return c;
}

test('lease reads: served without a heartbeat round while the lease holds', () => {
  const c = leaseCluster();
  c.raft(1).readIndex(ctx(1));
  c.processReadies();
  assert.deepEqual(
    readsOf(c, 1, 1).map((r) => r.index),
    [2],
  );
  assert.equal(c.inbox.filter(readHeartbeat).length, 0, 'no heartbeat round');
});

test('lease reads: the lease lasts electionTicks - leaseDriftTicks from the send tick of the last acknowledged heartbeat', () => {
  const c = leaseCluster();
  c.isolate(1);
  // The last acknowledged heartbeat was sent at the current tick: the lease covers the next
  // 10 - 2 = 8 ticks (t = 0..7).
  const served: boolean[] = [];
  for (let t = 0; t < 10; t++) {
    const before = c.get(1).readStates.length;
    c.raft(1).readIndex(ctx(100 + t));
    c.processReadies();
    served.push(c.get(1).readStates.slice(before).some((r) => r.index > 0));
    c.tick(1);
  }
  const lastServed = served.lastIndexOf(true);
  assert.ok(served.slice(0, lastServed + 1).every(Boolean));
  assert.ok(served.slice(lastServed + 1).every((x) => !x), 'never again once expired');
  assert.equal(lastServed, 7, `served: ${served.map((x) => (x ? 1 : 0)).join('')}`);
});

test('lease reads: not after a leadership transfer started', () => {
  const c = leaseCluster();
  c.raft(1).transferLeadership(2);
  c.processReadies();
  assert.ok(c.inbox.some((m) => m.type === 'timeoutNow'));
  c.dropPending((m) => m.type === 'timeoutNow');
  c.raft(1).readIndex(ctx(1));
  c.processReadies();
  assert.deepEqual(readsOf(c, 1, 1), [], 'not served from the lease');
  assert.equal(c.inbox.filter(readHeartbeat).length, 2, 'a heartbeat round instead');
  // Even after the transfer was abandoned, the lease stays void for the term.
  c.tickAndDeliver(12);
  assert.equal(c.raft(1).status().leadTransferee, 0);
  assert.equal(c.raft(1).status().role, 'leader');
  c.raft(1).readIndex(ctx(2));
  c.processReadies();
  assert.deepEqual(readsOf(c, 1, 2), []);
});

test('lease reads: not after the lease expired without acknowledgements', () => {
  const c = leaseCluster();
  c.isolate(1);
  c.tick(1, 9);
  assert.equal(c.raft(1).status().role, 'leader');
  c.raft(1).readIndex(ctx(1));
  c.processReadies();
  assert.deepEqual(readsOf(c, 1, 1), []);
});

test('lease reads: followers that acknowledged the lease refuse to vote until it ran out', () => {
  const c = leaseCluster();
  c.isolate(1);
  // 2 campaigns at once (as if its clock ran fast); 3 heard 1 just now and refuses.
  c.cut.delete('2->3');
  c.cut.delete('3->2');
  c.raft(2).campaign();
  c.deliverAll();
  assert.notEqual(c.raft(2).status().role, 'leader');
  assert.equal(c.raft(3).status().term, 1);
  // A restarted follower also refuses during its first election timeout.
  c.get(3).restart();
  c.raft(2).campaign();
  c.deliverAll();
  assert.notEqual(c.raft(2).status().role, 'leader');
});
