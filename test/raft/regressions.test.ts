// Executions found by review and by the simulator, kept so they stay fixed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message, NodeId, Snapshot, SnapshotMessage } from '../../src/raft/index.ts';
import { Cluster } from './harness.ts';

interface ElectionTimer {
  randomizedElectionTimeout: number;
  electionElapsed: number;
}

test('lease reads without pre-vote: a follower whose term is bumped by a stale answer still honours the lease it acknowledged', () => {
  const c = new Cluster({ voters: [1, 2, 3], config: { readMode: 'lease', preVote: false, checkQuorum: true }, seed: 3 });
  c.tickAll(12); // past the start-up lease window
  c.elect(2);
  assert.equal(c.leader(), 2);
  c.tick(2);
  // One heartbeat of node 2 (term 1) to node 3 stays in the network for a long time.
  const held = c.take((m) => m.from === 2 && m.to === 3 && m.type === 'heartbeat');
  assert.equal(held.length, 1);
  c.deliverAll();
  c.isolate(2);
  c.tickUntil(() => c.raft(1).status().role === 'leader' || c.raft(3).status().role === 'leader', 60);
  assert.equal(c.raft(1).status().role, 'leader', 'with seed 3 node 1 wins the election of term 2');
  c.heal();
  c.tickAndDeliver(3);
  const term = c.raft(1).status().term;
  // Node 1 holds a lease acknowledged by node 2; nodes 1 and 3 cannot talk.
  c.cut.add('1->3');
  c.cut.add('3->1');
  for (let i = 0; i < 40 && c.raft(3).status().term === term; i++) c.tickAndDeliver();
  assert.ok(c.raft(3).status().term > term, 'node 3 campaigned (no pre-vote: its term rose)');
  const timer3 = c.raft(3) as unknown as ElectionTimer;
  while (timer3.randomizedElectionTimeout - timer3.electionElapsed > 1) c.tickAndDeliver();
  // The stale heartbeat reaches node 3; its answer raises node 2's term. Node 2's answers to 1 are lost.
  c.cut.add('2->1');
  for (const m of held) c.inject(m);
  c.deliverAll((m: Message) => m.from === 3 || m.to === 3);
  let newLeaderCommitted = false;
  for (let i = 0; i < 30; i++) {
    c.tickAndDeliver();
    if (c.raft(3).status().role === 'leader' && !newLeaderCommitted) {
      c.propose(3, 'x');
      c.deliverAll();
      newLeaderCommitted = c.appliedData(3).includes('x');
    }
    const before = c.get(1).readStates.length;
    c.raft(1).readIndex(new Uint8Array([42, i]));
    c.processReadies();
    const served = c.get(1).readStates.slice(before).filter((r) => r.index > 0);
    assert.ok(!(newLeaderCommitted && served.length > 0), `tick ${i}: node 1 served a lease read after node 3 committed a newer write`);
  }
});

test('a read waiting for its heartbeat round is answered when the group shrinks to a single voter', () => {
  const c = new Cluster({ voters: [1, 2] });
  c.elect(1);
  c.propose(1, 'a');
  c.tickAndDeliver(2);
  assert.equal(c.raft(1).proposeConfChange({ changes: [{ op: 'remove', nodeId: 2 }] }).ok, true);
  c.processReadies();
  c.raft(1).readIndex(new Uint8Array([9]));
  c.processReadies();
  assert.ok(c.dropPending((m) => m.type === 'heartbeat') > 0, 'the read round went out and is lost');
  c.deliverAll((m) => m.type !== 'heartbeat');
  c.isolate(2);
  c.tickAndDeliver(50);
  assert.deepEqual(c.raft(1).status().confState.voters, [1]);
  const answers = c.get(1).readStates.filter((r) => r.context[0] === 9);
  assert.equal(answers.length, 1, 'the read is answered exactly once');
  assert.ok(answers[0]!.index > 0, 'with a read point');
});

test('a snapshot transfer to a member that died stops sending chunks', () => {
  const isChunk = (m: Message): m is SnapshotMessage => m.type === 'snapshot';
  const c = new Cluster({ voters: [1, 2, 3], config: { maxSnapshotChunkBytes: 100, maxInflightSnapshotChunks: 4 } });
  c.partition([1, 2], [3]);
  c.elect(1);
  for (let i = 0; i < 10; i++) c.propose(1, `v${i}`);
  c.deliverAll();
  c.tickAndDeliver(1);
  const n1 = c.get(1);
  const s = n1.node.status();
  const snap: Snapshot = n1.storage.createSnapshot(s.applied, s.confState, Uint8Array.from({ length: 100_000 }, (_, i) => i % 251));
  n1.storage.compact(snap.metadata.index);
  c.propose(1, 'after');
  c.deliverAll();
  c.heal();
  c.tickAll();
  c.deliverAll((m) => m.type !== 'snapshot');
  c.dropPending(isChunk);
  assert.equal(c.raft(1).status().progress.get(3)?.state, 'snapshot', 'the transfer to node 3 started');
  c.isolate(3);
  const before = c.sentWhere(isChunk).length;
  const alive: NodeId[] = [1, 2];
  for (let i = 0; i < 200; i++) {
    for (const id of alive) c.tick(id);
    c.deliverAll();
  }
  const resent = c.sentWhere(isChunk).length - before;
  assert.ok(resent < 10, `${resent} chunks sent to a dead member in 200 ticks`);
  assert.equal(c.raft(1).status().role, 'leader');
});
