import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NONE } from '../../src/raft/index.ts';
import { Cluster } from './harness.ts';

/** Ticks and delivers among `alive` until one of them leads; returns the ticks it took. */
function ticksToNewLeader(c: Cluster, alive: number[], max: number): number {
  for (let t = 1; t <= max; t++) {
    for (const id of alive) c.raft(id).tick();
    c.deliverAll();
    if (alive.some((id) => c.raft(id).status().role === 'leader')) return t;
  }
  return Number.POSITIVE_INFINITY;
}

function crashedLeaderCluster(seed: number): Cluster {
  const c = new Cluster({ voters: [1, 2, 3], seed });
  c.elect(1);
  c.propose(1, 'x');
  c.tickAndDeliver(3);
  // Leader 1 crashes: it neither ticks nor talks any more.
  c.isolate(1);
  return c;
}

test('fast failure detection: after reportLeaderConnectionClosed a new leader is elected in far fewer ticks than the election timeout', () => {
  const fastest: number[] = [];
  for (let seed = 1; seed <= 20; seed++) {
    const slow = crashedLeaderCluster(seed);
    const baseline = ticksToNewLeader(slow, [2, 3], 100);
    assert.ok(baseline >= 10, `without the report it takes at least an election timeout (${baseline})`);

    const c = crashedLeaderCluster(seed);
    c.raft(2).reportLeaderConnectionClosed(1);
    c.raft(3).reportLeaderConnectionClosed(1);
    const fast = ticksToNewLeader(c, [2, 3], 100);
    fastest.push(fast);
    // Also when both followers campaign at the same moment and split the vote.
    assert.ok(fast < 10, `seed ${seed}: new leader after ${fast} ticks, expected fewer than electionTicks (10)`);
    const lead = c.leader();
    assert.ok(lead === 2 || lead === 3);
    c.propose(lead, 'y');
    c.deliverAll();
    assert.deepEqual(c.appliedData(2), ['x', 'y']);
    assert.deepEqual(c.appliedData(3), ['x', 'y']);
  }
  const mean = fastest.reduce((a, b) => a + b, 0) / fastest.length;
  assert.ok(mean <= 3, `mean ticks to a new leader ${mean}`);
});

test('fast failure detection: a report on a single follower suffices when the others no longer hear the leader either', () => {
  const c = crashedLeaderCluster(3);
  // Node 3 has not noticed anything yet, but it no longer hears node 1 either: after an
  // election timeout without the leader it grants the pre-vote.
  c.raft(2).reportLeaderConnectionClosed(1);
  const t = ticksToNewLeader(c, [2, 3], 100);
  assert.ok(t < 30, `a leader emerges (${t})`);
  assert.notEqual(c.leader(), NONE);
});

test('fast failure detection: a spurious report on one follower while the leader is alive and heard by the others does not depose the leader', () => {
  for (let seed = 1; seed <= 5; seed++) {
    const c = new Cluster({ voters: [1, 2, 3], seed });
    c.elect(1);
    c.tickAndDeliver(3);
    // The connection 1->2 broke, 2 noticed; 1 is fine and still heard by 3.
    c.partition([1, 3], [2]);
    c.cut.add('1->2');
    c.cut.delete('2->1');
    c.cut.delete('2->3');
    c.cut.delete('3->2');
    c.raft(2).reportLeaderConnectionClosed(1);
    c.tickAndDeliver(30);
    assert.equal(c.leader(), 1, `seed ${seed}`);
    assert.equal(c.raft(1).status().term, 1, `seed ${seed}: no term change`);
    assert.equal(c.raft(3).status().term, 1);
    assert.ok(c.sentWhere((m) => m.from === 2 && m.type === 'preVote').length > 0, '2 did try');
    // Once the link is back, 2 follows 1 again.
    c.heal();
    c.tickAndDeliver(2);
    assert.equal(c.raft(2).status().leader, 1);
    assert.equal(c.raft(2).status().role, 'follower');
  }
});

test('fast failure detection: a report about a node that is not the leader is ignored', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.raft(2).reportLeaderConnectionClosed(3);
  c.isolate(1);
  // Without the leader, 2 still waits a full election timeout.
  let t = 0;
  while (c.raft(2).status().role === 'follower') {
    c.tick(2);
    t++;
  }
  assert.ok(t >= 10, `campaigned after ${t} ticks`);
});

test('fast failure detection with lease reads: no new leader while the old leader still serves lease reads', () => {
  // The old leader is cut off but alive and believes its lease; the followers see its
  // connections close. Whatever they do, a read served by the old lease must not miss a
  // write committed by a new leader.
  for (let seed = 1; seed <= 5; seed++) {
    const c = new Cluster({ voters: [1, 2, 3], seed, config: { readMode: 'lease' } });
    for (let i = 0; i < 10; i++) c.tickAndDeliver();
    c.elect(1);
    c.propose(1, 'x');
    c.tickAndDeliver(2);
    c.isolate(1);
    c.raft(2).reportLeaderConnectionClosed(1);
    c.raft(3).reportLeaderConnectionClosed(1);
    let newWriteCommitted = false;
    for (let t = 0; t < 60; t++) {
      c.tickAll();
      c.deliverAll();
      const lead = [2, 3].find((id) => c.raft(id).status().role === 'leader');
      if (lead !== undefined && !newWriteCommitted) {
        const r = c.propose(lead, 'y');
        assert.equal(r.ok, true);
        c.deliverAll();
        newWriteCommitted = c.appliedData(lead).includes('y');
      }
      // A read on the old leader, answered at once only if it holds the lease.
      const ctx = new Uint8Array([seed, t]);
      const before = c.get(1).readStates.length;
      c.raft(1).readIndex(ctx);
      c.processReadies();
      const served = c.get(1).readStates.slice(before).filter((r) => r.index > 0);
      if (served.length > 0 && newWriteCommitted) {
        assert.fail(
          `seed ${seed} tick ${t}: old leader 1 served a lease read at index ${served[0]!.index} ` +
            `while leader ${c.leader()} (term ${c.raft(c.leader()).status().term}) already committed a newer write`,
        );
      }
    }
    assert.ok(newWriteCommitted, `seed ${seed}: a new leader eventually commits`);
  }
});
