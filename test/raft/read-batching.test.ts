// ReadIndex requests that reach the leader before its next Ready share one read round.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message, NodeId, ReadState } from '../../src/raft/index.ts';
import { Cluster } from './harness.ts';

const ctx = (n: number): Uint8Array => new Uint8Array([n]);

function readsOf(c: Cluster, id: NodeId, n: number): ReadState[] {
  return c.get(id).readStates.filter((r) => r.context.length === 1 && r.context[0] === n);
}

const readHeartbeat = (m: Message): boolean => m.type === 'heartbeat' && m.readRound > 0;
const roundOf = (m: Message): number => (m.type === 'heartbeat' || m.type === 'heartbeatResp' ? m.readRound : -1);

/** A cluster of voters 1..3 (and learner 4) with leader 1, an entry of its term committed, and quiet. */
function settled(): Cluster {
  const c = new Cluster({ voters: [1, 2, 3], learners: [4] });
  c.elect(1);
  c.propose(1, 'a');
  c.deliverAll();
  c.tickAndDeliver(1);
  return c;
}

test('read batching: forwarded and local reads that arrive before a Ready share one heartbeat round', () => {
  const c = settled();
  const commit = c.raft(1).status().commit;
  for (const [id, n] of [
    [2, 2],
    [3, 3],
    [4, 4],
  ] as const) {
    assert.equal(c.raft(id).readIndex(ctx(n)).ok, true);
  }
  const forwarded = c.take((m) => m.type === 'readIndex');
  assert.deepEqual(
    forwarded.map((m) => [m.from, m.to]),
    [
      [2, 1],
      [3, 1],
      [4, 1],
    ],
  );
  const before = c.sent.length;
  c.raft(1).readIndex(ctx(1));
  for (const m of forwarded) c.raft(1).step(m);
  assert.equal(c.raft(1).hasReady(), true, 'queued reads make a Ready');
  c.processReadies();

  const hbs = c.sent.slice(before).filter(readHeartbeat);
  assert.deepEqual(hbs.map((m) => m.to).sort(), [2, 3, 4], 'one heartbeat per member, not one per read');
  assert.equal(new Set(hbs.map(roundOf)).size, 1, 'all in one read round');

  c.deliverAll();
  for (const [id, n] of [
    [1, 1],
    [2, 2],
    [3, 3],
    [4, 4],
  ] as const) {
    assert.deepEqual(
      readsOf(c, id, n).map((r) => r.index),
      [commit],
      `read ${n} on node ${id}`,
    );
  }
  assert.equal(c.sentWhere((m) => m.type === 'readIndexResp').length, 3, 'one answer per forwarded read');
  assert.equal(c.sent.slice(before).filter(readHeartbeat).length, 3, 'no further read round');
});

test('read batching: a read that arrives after a round started is never answered by that round', () => {
  const c = settled();
  const commit = c.raft(1).status().commit;
  c.raft(1).readIndex(ctx(1));
  const first = c.take(readHeartbeat);
  assert.equal(first.length, 3);
  const round = roundOf(first[0]!);
  // The followers acknowledge round `round`; their answers are held.
  for (const m of first) c.raft(m.to).step(m);
  const acks = c.take((m) => m.type === 'heartbeatResp');
  assert.deepEqual(acks.map(roundOf), [round, round, round]);

  // A local read and a forwarded one arrive after the round started, before its acknowledgements.
  c.raft(3).readIndex(ctx(3));
  for (const m of c.take((m) => m.type === 'readIndex')) c.raft(1).step(m);
  c.raft(1).readIndex(ctx(2));
  for (const m of acks) c.raft(1).step(m);
  c.processReadies();
  assert.deepEqual(
    readsOf(c, 1, 1).map((r) => r.index),
    [commit],
    'the first read is confirmed by its round',
  );
  assert.deepEqual(readsOf(c, 1, 2), [], 'the later local read waits for the next round');
  assert.deepEqual(c.inbox.filter((m) => m.type === 'readIndexResp'), [], 'the later forwarded read waits too');
  const second = c.inbox.filter(readHeartbeat);
  assert.deepEqual([...new Set(second.map(roundOf))], [round + 1], 'the next round was started for them');

  c.deliverAll();
  assert.deepEqual(
    readsOf(c, 1, 2).map((r) => r.index),
    [commit],
  );
  assert.deepEqual(
    readsOf(c, 3, 3).map((r) => r.index),
    [commit],
  );
});

test('read batching: the read index is the commit index when the round starts, not an earlier one', () => {
  const c = settled();
  const before = c.raft(1).status().commit;
  // An entry is replicated; the acknowledgements are held back.
  c.propose(1, 'b');
  for (const m of c.take((m) => m.type === 'app')) c.raft(m.to).step(m);
  const acks = c.take((m) => m.type === 'appResp');
  assert.ok(acks.length > 0);

  // A forwarded read and a local read arrive while the commit index is still `before`...
  c.raft(2).readIndex(ctx(2));
  for (const m of c.take((m) => m.type === 'readIndex')) c.raft(1).step(m);
  c.raft(1).readIndex(ctx(1));
  assert.equal(c.raft(1).status().commit, before);
  // ...and the entry commits before the leader's next Ready starts their round.
  for (const m of acks) c.raft(1).step(m);
  const atStart = c.raft(1).status().commit;
  assert.equal(atStart, before + 1);
  c.processReadies();
  assert.ok(c.inbox.some(readHeartbeat));
  c.deliverAll();
  assert.deepEqual(
    readsOf(c, 1, 1).map((r) => r.index),
    [atStart],
  );
  assert.deepEqual(
    readsOf(c, 2, 2).map((r) => r.index),
    [atStart],
  );
});

test('read batching: a leader deposed before its next Ready refuses the queued reads', () => {
  const c = settled();
  const term = c.raft(1).status().term;
  c.raft(1).readIndex(ctx(1));
  c.raft(2).readIndex(ctx(2));
  for (const m of c.take((m) => m.type === 'readIndex')) c.raft(1).step(m);
  c.raft(1).step({ type: 'heartbeat', from: 3, to: 1, term: term + 1, commit: 0, readRound: 0, sentTick: 0 });
  const before = c.sent.length;
  c.processReadies();
  assert.equal(c.sent.slice(before).filter(readHeartbeat).length, 0, 'no read round from a follower');
  assert.deepEqual(
    readsOf(c, 1, 1).map((r) => r.index),
    [0],
  );
  const resp = c.sent.slice(before).filter((m) => m.type === 'readIndexResp');
  assert.deepEqual(
    resp.map((m) => [m.to, m.type === 'readIndexResp' ? m.index : -1]),
    [[2, 0]],
  );
});

test('read batching: with a valid lease, or as the only voter, reads are still answered without a round', () => {
  const lease = new Cluster({ voters: [1, 2, 3], config: { readMode: 'lease' } });
  // Followers refuse votes during their first election timeout.
  for (let i = 0; i < 10; i++) lease.tickAll();
  assert.equal(lease.elect(1), 1);
  lease.propose(1, 'a');
  lease.deliverAll();
  lease.tickAndDeliver(1);
  const before = lease.sent.length;
  lease.raft(1).readIndex(ctx(1));
  assert.equal(lease.raft(1).hasReady(), true);
  lease.raft(2).readIndex(ctx(2));
  lease.deliverAll();
  const commit = lease.raft(1).status().commit;
  assert.deepEqual(
    readsOf(lease, 1, 1).map((r) => r.index),
    [commit],
  );
  assert.deepEqual(
    readsOf(lease, 2, 2).map((r) => r.index),
    [commit],
  );
  assert.equal(lease.sent.slice(before).filter(readHeartbeat).length, 0);

  const single = new Cluster({ voters: [1], learners: [2] });
  single.elect(1);
  single.propose(1, 'a');
  single.deliverAll();
  single.raft(2).readIndex(ctx(2));
  single.raft(1).readIndex(ctx(1));
  single.deliverAll();
  assert.deepEqual(
    readsOf(single, 1, 1).map((r) => r.index),
    [2],
  );
  assert.deepEqual(
    readsOf(single, 2, 2).map((r) => r.index),
    [2],
  );
  assert.equal(single.sentWhere(readHeartbeat).length, 0);
});
