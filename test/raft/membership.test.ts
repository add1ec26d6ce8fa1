import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStorage, NONE } from '../../src/raft/index.ts';
import type { ConfChange, ConfState, Message, NodeId } from '../../src/raft/index.ts';
import { Cluster } from './harness.ts';

function confOf(c: Cluster, id: NodeId): ConfState {
  return c.raft(id).status().confState;
}

function voters(c: Cluster, id: NodeId): [readonly NodeId[], readonly NodeId[]] {
  const cs = confOf(c, id);
  return [cs.voters, cs.votersOutgoing];
}

function change(c: Cluster, leader: NodeId, cc: ConfChange): number {
  const r = c.raft(leader).proposeConfChange(cc);
  assert.ok(r.ok && 'index' in r, `proposeConfChange refused: ${JSON.stringify(r)}`);
  c.processReadies();
  return r.index;
}

/** Holds back appends that carry a membership entry after `index` (the automatic leave). */
const holdsConfAfter =
  (index: number) =>
  (m: Message): boolean =>
    !(m.type === 'app' && m.entries.some((e) => e.type === 'conf' && e.index > index));

const touches =
  (...ids: NodeId[]) =>
  (m: Message): boolean =>
    ids.includes(m.from) || ids.includes(m.to);

test('joint consensus: adding a voter enters a joint configuration and leaves it automatically', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.addNode(4);
  c.elect(1);
  c.tickAndDeliver(1);
  const idx = change(c, 1, { changes: [{ op: 'addVoter', nodeId: 4 }] });
  // Before the entry is committed and applied nothing changes.
  assert.deepEqual(voters(c, 1), [[1, 2, 3], []]);
  c.deliverAll();
  c.tickAndDeliver(2);
  const confEntries = c.get(1).applied.filter((e) => e.type === 'conf');
  assert.equal(confEntries.length, 2, 'enter joint, then leave joint');
  assert.equal(confEntries[0]!.index, idx);
  for (const id of [1, 2, 3, 4]) assert.deepEqual(voters(c, id), [[1, 2, 3, 4], []], `node ${id}`);
  assert.equal(confOf(c, 1).autoLeave, false);
  // Now 3 of 4 are needed to commit.
  c.propose(1, 'x');
  c.deliverAll((m) => !touches(3, 4)(m));
  assert.deepEqual(c.appliedData(1), [], '1 and 2 are not 3 of 4');
  c.deliverAll((m) => !touches(4)(m));
  assert.deepEqual(c.appliedData(1), ['x']);
  c.deliverAll();
  c.tickAndDeliver(1);
  for (const id of [1, 2, 3, 4]) assert.deepEqual(c.appliedData(id), ['x']);
});

test('joint consensus: the joint configuration is visible between entering and leaving', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.addNode(4);
  c.elect(1);
  c.tickAndDeliver(1);
  const idx = change(c, 1, { changes: [{ op: 'addVoter', nodeId: 4 }, { op: 'remove', nodeId: 3 }] });
  // Deliver until the leader applied the joint configuration, but hold back the leave.
  c.deliverAll(holdsConfAfter(idx));
  assert.deepEqual(voters(c, 1), [[1, 2, 4], [1, 2, 3]]);
  assert.equal(confOf(c, 1).autoLeave, true);
  const leave = c.raft(1).status().lastIndex;
  assert.equal(leave, idx + 1, 'the leader proposed the leave itself');
  assert.deepEqual(
    c.inbox.filter((m) => m.type === 'app').map((m) => m.to).sort(),
    [2, 3, 4],
    'the leave entry goes to every member of both halves',
  );
  c.deliverAll();
  c.tickAndDeliver(2);
  assert.deepEqual(voters(c, 1), [[1, 2, 4], []]);
  assert.deepEqual(voters(c, 4), [[1, 2, 4], []]);
});

test('joint consensus: while joint, a commit needs a majority of C_old and a majority of C_new', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.addNode(4);
  c.addNode(5);
  c.elect(1);
  c.tickAndDeliver(1);
  change(c, 1, { changes: [{ op: 'addVoter', nodeId: 4 }, { op: 'addVoter', nodeId: 5 }, { op: 'remove', nodeId: 2 }, { op: 'remove', nodeId: 3 }], autoLeave: false });
  c.deliverAll();
  c.tickAndDeliver(2);
  assert.deepEqual(voters(c, 1), [[1, 4, 5], [1, 2, 3]]);
  const commit = (): number => c.raft(1).status().commit;

  // The old majority {1,2,3} acknowledges, the new one {1,4,5} has only the leader.
  const base = commit();
  c.propose(1, 'x');
  c.deliverAll((m) => !touches(4, 5)(m));
  assert.equal(commit(), base, 'C_old acked but C_new did not: not committed');
  // Node 4 answers: now both halves have a majority.
  c.deliverAll((m) => !touches(5)(m));
  assert.equal(commit(), base + 1);
  c.deliverAll();

  // The new majority acknowledges, the old one has only the leader.
  c.propose(1, 'y');
  c.deliverAll((m) => !touches(2, 3)(m));
  assert.equal(commit(), base + 1, 'C_new acked but C_old did not: not committed');
  c.deliverAll((m) => !touches(3)(m));
  assert.equal(commit(), base + 2);
  c.deliverAll();

  // Leaving: now only {1,4,5} counts.
  change(c, 1, { changes: [] });
  c.deliverAll();
  c.tickAndDeliver(2);
  assert.deepEqual(voters(c, 1), [[1, 4, 5], []]);
  c.propose(1, 'z');
  c.deliverAll((m) => !touches(2, 3)(m));
  assert.deepEqual(c.appliedData(1), ['x', 'y', 'z']);
  assert.deepEqual(c.appliedData(4), ['x', 'y', 'z']);
});

test('joint consensus: while joint, an election needs a majority of both halves', () => {
  const c = new Cluster({ voters: [1, 2, 3], config: { preVote: false, checkQuorum: false } });
  c.addNode(4);
  c.addNode(5);
  c.elect(1);
  change(c, 1, { changes: [{ op: 'addVoter', nodeId: 4 }, { op: 'addVoter', nodeId: 5 }, { op: 'remove', nodeId: 2 }, { op: 'remove', nodeId: 3 }], autoLeave: false });
  c.deliverAll();
  c.tickAndDeliver(2);
  for (const id of [1, 2, 3, 4, 5]) assert.deepEqual(voters(c, id), [[1, 4, 5], [1, 2, 3]], `node ${id}`);
  c.isolate(1);
  // 2 gets the old majority (2, 3) but nobody of the new half.
  c.partition([1], [2, 3], [4, 5]);
  c.raft(2).campaign();
  c.deliverAll();
  assert.notEqual(c.raft(2).status().role, 'leader');
  // 4 gets the new majority (4, 5) but nobody of the old half.
  c.raft(4).campaign();
  c.deliverAll();
  assert.notEqual(c.raft(4).status().role, 'leader');
  // With 2, 3 and 5 reachable, 4 has both: {2,3} of C_old and {4,5} of C_new.
  c.partition([1], [2, 3, 4, 5]);
  c.raft(4).campaign();
  c.deliverAll();
  assert.equal(c.raft(4).status().role, 'leader');
});

test('one membership change at a time: ERR_CONF_CHANGE_PENDING while one is not applied', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.addNode(4);
  c.addNode(5);
  c.elect(1);
  c.tickAndDeliver(1);
  const cc1: ConfChange = { changes: [{ op: 'addVoter', nodeId: 4 }] };
  const cc2: ConfChange = { changes: [{ op: 'addVoter', nodeId: 5 }] };
  const idx = change(c, 1, cc1);
  assert.deepEqual(c.raft(1).proposeConfChange(cc2), { ok: false, code: 'ERR_CONF_CHANGE_PENDING', leaderHint: NONE });
  // Applied the joint configuration; the automatic leave is now pending.
  c.deliverAll(holdsConfAfter(idx));
  assert.equal(confOf(c, 1).votersOutgoing.length, 3);
  assert.deepEqual(c.raft(1).proposeConfChange(cc2), { ok: false, code: 'ERR_CONF_CHANGE_PENDING', leaderHint: NONE });
  c.deliverAll();
  c.tickAndDeliver(1);
  assert.deepEqual(voters(c, 1), [[1, 2, 3, 4], []]);
  change(c, 1, cc2);
  c.deliverAll();
  c.tickAndDeliver(2);
  assert.deepEqual(voters(c, 1), [[1, 2, 3, 4, 5], []]);

  // With autoLeave off, a new change is refused while joint, and leaving is refused when not joint.
  change(c, 1, { changes: [{ op: 'remove', nodeId: 5 }], autoLeave: false });
  c.deliverAll();
  c.tickAndDeliver(1);
  assert.deepEqual(voters(c, 1), [[1, 2, 3, 4], [1, 2, 3, 4, 5]]);
  assert.deepEqual(c.raft(1).proposeConfChange(cc2), { ok: false, code: 'ERR_BAD_CONF_CHANGE', leaderHint: NONE });
  change(c, 1, { changes: [] });
  c.deliverAll();
  c.tickAndDeliver(1);
  assert.deepEqual(voters(c, 1), [[1, 2, 3, 4], []]);
  assert.deepEqual(c.raft(1).proposeConfChange({ changes: [] }), { ok: false, code: 'ERR_BAD_CONF_CHANGE', leaderHint: NONE });
  // On a follower.
  assert.deepEqual(c.raft(2).proposeConfChange(cc2), { ok: false, code: 'ERR_NOT_LEADER', leaderHint: 1 });
});

test('one membership change at a time: a new leader whose log holds an unapplied change refuses another until it is applied', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.addNode(4);
  c.addNode(5);
  c.elect(1);
  c.tickAndDeliver(1);
  // The change reaches node 2 only, and is not committed; then leader 1 is gone.
  const idx = change(c, 1, { changes: [{ op: 'addVoter', nodeId: 4 }] });
  c.deliverAll((m) => m.type === 'app' && m.to === 2);
  assert.equal(c.raft(2).termAt(idx), 1);
  c.dropPending();
  c.partition([1], [2, 3, 4, 5]);
  c.tick(2, 10);
  c.tick(3, 10);
  c.dropPending();
  c.raft(2).campaign();
  c.deliverAll((m) => m.type !== 'app');
  assert.equal(c.raft(2).status().role, 'leader');
  const cc: ConfChange = { changes: [{ op: 'addVoter', nodeId: 5 }] };
  assert.deepEqual(c.raft(2).proposeConfChange(cc), { ok: false, code: 'ERR_CONF_CHANGE_PENDING', leaderHint: NONE });
  c.deliverAll(holdsConfAfter(idx));
  assert.deepEqual(voters(c, 2), [[1, 2, 3, 4], [1, 2, 3]], 'the inherited change is committed and applied');
  assert.deepEqual(c.raft(2).proposeConfChange(cc), { ok: false, code: 'ERR_CONF_CHANGE_PENDING', leaderHint: NONE }, 'its leave is pending');
  c.deliverAll();
  c.tickAndDeliver(1);
  assert.deepEqual(voters(c, 2), [[1, 2, 3, 4], []]);
  assert.equal(c.raft(2).proposeConfChange(cc).ok, true);
});

test('a membership change interrupted by a leader crash in joint state completes under the next leader', () => {
  const c = new Cluster({ voters: [1, 2, 3], config: { maxEntriesPerMsg: 1 } });
  c.addNode(4);
  c.elect(1);
  c.tickAndDeliver(1);
  // Replace 1 by 4: C_new = {2, 3, 4}.
  const idx = change(c, 1, { changes: [{ op: 'addVoter', nodeId: 4 }, { op: 'remove', nodeId: 1 }] });
  // The joint entry commits and is applied everywhere; the leave entry never leaves node 1.
  c.dropIf = (m) => m.from === 1 && !holdsConfAfter(idx)(m);
  c.deliverAll();
  c.tickAndDeliver(2);
  for (const id of [2, 3, 4]) assert.deepEqual(voters(c, id), [[2, 3, 4], [1, 2, 3]], `node ${id} is joint`);
  // Node 1 crashes.
  c.dropIf = undefined;
  c.isolate(1);
  c.tickUntil(() => [2, 3, 4].some((id) => c.raft(id).status().role === 'leader'), 80, [2, 3, 4]);
  const lead = c.leader();
  assert.notEqual(lead, 1);
  c.tickAndDeliver(3);
  for (const id of [2, 3, 4]) assert.deepEqual(voters(c, id), [[2, 3, 4], []], `node ${id} left the joint configuration`);
  c.propose(lead, 'after');
  c.deliverAll((m) => m.to !== 1);
  for (const id of [2, 3, 4]) assert.deepEqual(c.appliedData(id), ['after']);
});

test('removing the leader itself: it steps down after C_new is applied, the rest elect a leader', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.propose(1, 'a');
  c.deliverAll();
  const idx = change(c, 1, { changes: [{ op: 'remove', nodeId: 1 }] });
  // While joint, 1 still leads: it is a voter of C_old.
  c.deliverAll(holdsConfAfter(idx));
  assert.deepEqual(voters(c, 1), [[2, 3], [1, 2, 3]]);
  assert.equal(c.raft(1).status().role, 'leader');
  c.deliverAll();
  assert.deepEqual(voters(c, 1), [[2, 3], []]);
  assert.equal(c.raft(1).status().role, 'follower', 'stepped down once C_new was applied');
  c.tickUntil(() => c.raft(2).status().role === 'leader' || c.raft(3).status().role === 'leader', 60);
  const lead = c.leader();
  assert.ok(lead === 2 || lead === 3);
  for (const id of [2, 3]) assert.deepEqual(voters(c, id), [[2, 3], []]);
  // The group works without 1, and 1 never campaigns.
  c.isolate(1);
  c.propose(lead, 'b');
  c.deliverAll();
  assert.deepEqual(c.appliedData(2), ['a', 'b']);
  assert.deepEqual(c.appliedData(3), ['a', 'b']);
  c.heal();
  const before = c.sentWhere((m) => m.from === 1 && (m.type === 'preVote' || m.type === 'vote')).length;
  c.tickAndDeliver(50);
  assert.equal(c.sentWhere((m) => m.from === 1 && (m.type === 'preVote' || m.type === 'vote')).length, before);
  assert.equal(c.leader(), lead);
});

test('a removed node cannot disrupt the group', () => {
  for (const preVote of [true, false]) {
    const c = new Cluster({ voters: [1, 2, 3], nodeConfig: (id) => (id === 3 ? { preVote } : {}) });
    c.elect(1);
    c.propose(1, 'a');
    c.deliverAll();
    c.tickAndDeliver(1);
    // 3 is cut off while it is removed: it never learns.
    c.isolate(3);
    change(c, 1, { changes: [{ op: 'remove', nodeId: 3 }] });
    c.tickAndDeliver(3);
    assert.deepEqual(voters(c, 1), [[1, 2], []]);
    assert.deepEqual(voters(c, 3), [[1, 2, 3], []], 'node 3 still believes it is a voter');
    c.heal();
    const term = c.raft(1).status().term;
    for (let i = 0; i < 60; i++) {
      c.tickAndDeliver(1);
      if (i % 10 === 0) c.propose(1, `p${i}`);
    }
    assert.ok(c.sentWhere((m) => m.from === 3 && (m.type === 'preVote' || m.type === 'vote')).length > 0, 'node 3 campaigned');
    assert.equal(c.leader(), 1, `preVote=${preVote}`);
    assert.deepEqual([c.raft(1).status().term, c.raft(2).status().term], [term, term], `preVote=${preVote}`);
    assert.equal(c.appliedData(2).length, 7);
  }
});

test('proposeConfChange: invalid changes are refused with ERR_BAD_CONF_CHANGE', () => {
  const c = new Cluster({ voters: [1] });
  c.elect(1);
  assert.deepEqual(c.raft(1).proposeConfChange({ changes: [{ op: 'remove', nodeId: 1 }] }), {
    ok: false,
    code: 'ERR_BAD_CONF_CHANGE',
    leaderHint: NONE,
  });
  assert.deepEqual(c.raft(1).proposeConfChange({ changes: [{ op: 'addVoter', nodeId: -3 }] }), {
    ok: false,
    code: 'ERR_BAD_CONF_CHANGE',
    leaderHint: NONE,
  });
});

test('a node that joins with an empty configuration replays the log from its start and adopts each configuration', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.propose(1, 'before');
  c.deliverAll();
  // Node 4 starts from nothing: no snapshot, no configuration, empty log.
  c.addNode(4, new MemoryStorage());
  change(c, 1, { changes: [{ op: 'addLearner', nodeId: 4 }] });
  c.deliverAll();
  c.tickAndDeliver(3);
  assert.deepEqual(confOf(c, 4).learners, [4], 'node 4 knows it is a learner');
  assert.deepEqual(voters(c, 4), [[1, 2, 3], []]);
  assert.deepEqual(c.appliedData(4), ['before']);
  change(c, 1, { changes: [{ op: 'addVoter', nodeId: 4 }] });
  c.deliverAll();
  c.tickAndDeliver(3);
  for (const id of [1, 2, 3, 4]) assert.deepEqual(voters(c, id), [[1, 2, 3, 4], []], `node ${id}`);
  c.propose(1, 'after');
  c.deliverAll();
  c.tickAndDeliver(1);
  assert.deepEqual(c.appliedData(4), ['before', 'after']);
});
