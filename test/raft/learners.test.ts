import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message, NodeId } from '../../src/raft/index.ts';
import { Cluster } from './harness.ts';

const touches =
  (...ids: NodeId[]) =>
  (m: Message): boolean =>
    ids.includes(m.from) || ids.includes(m.to);

test('learners receive the log but never vote, never campaign and never count towards a commit', () => {
  const c = new Cluster({ voters: [1, 2, 3], learners: [4] });
  c.elect(1);
  c.propose(1, 'a');
  c.deliverAll();
  c.tickAndDeliver(1);
  assert.deepEqual(c.appliedData(4), ['a'], 'the learner applies the log');
  assert.equal(c.raft(4).status().leader, 1);

  // Only the learner acknowledges: nothing commits.
  c.propose(1, 'b');
  c.deliverAll((m) => !touches(2, 3)(m));
  assert.equal(c.raft(4).status().lastIndex, 3);
  assert.deepEqual(c.appliedData(1), ['a'], 'a learner acknowledgement does not count');
  c.deliverAll();
  c.tickAndDeliver(1);
  assert.deepEqual(c.appliedData(1), ['a', 'b']);

  // A learner cut off from everyone never campaigns.
  c.isolate(4);
  c.raft(4).reportLeaderConnectionClosed(1);
  c.tickAndDeliver(100);
  assert.equal(c.sentWhere((m) => m.from === 4 && (m.type === 'preVote' || m.type === 'vote')).length, 0);
  c.raft(4).campaign();
  c.processReadies();
  assert.equal(c.raft(4).status().role, 'follower');

  // A candidate does not ask a learner, and a learner's yes does not count.
  c.heal();
  c.partition([1], [3], [2, 4]);
  c.tick(2, 30);
  c.dropPending();
  const asked = c.sentWhere((m) => m.to === 4 && (m.type === 'preVote' || m.type === 'vote')).length;
  assert.equal(asked, 0);
  c.raft(2).campaign();
  c.processReadies();
  assert.equal(c.raft(2).status().role, 'preCandidate');
  c.inject({ type: 'preVoteResp', from: 4, to: 2, term: 2, reject: false });
  assert.equal(c.raft(2).status().role, 'preCandidate', 'one voter and a learner are not a majority of 3');
  assert.equal(c.raft(2).status().term, 1);
});

test('status().progress reports each member lag, learners included', () => {
  const c = new Cluster({ voters: [1, 2, 3], learners: [4] });
  c.elect(1);
  c.tickAndDeliver(1);
  for (let i = 0; i < 5; i++) c.propose(1, `v${i}`);
  c.deliverAll((m) => !touches(4)(m));
  const p = c.raft(1).status().progress;
  assert.deepEqual([...p.keys()].sort(), [1, 2, 3, 4]);
  assert.deepEqual([p.get(4)!.isLearner, p.get(4)!.lag, p.get(4)!.match], [true, 5, 1]);
  assert.deepEqual([p.get(2)!.isLearner, p.get(2)!.lag], [false, 0]);
  assert.equal(p.get(1)!.lag, 0);
  c.deliverAll();
  c.tickAndDeliver(1);
  assert.equal(c.raft(1).status().progress.get(4)!.lag, 0);
  // Only a leader reports progress.
  assert.equal(c.raft(2).status().progress.size, 0);
});

test('a learner promoted via addVoter votes and counts afterwards', () => {
  const c = new Cluster({ voters: [1, 2, 3], learners: [4] });
  c.elect(1);
  c.tickAndDeliver(1);
  const r = c.raft(1).proposeConfChange({ changes: [{ op: 'addVoter', nodeId: 4 }] });
  assert.ok(r.ok);
  c.deliverAll();
  c.tickAndDeliver(2);
  for (const id of [1, 2, 3, 4]) {
    const cs = c.raft(id).status().confState;
    assert.deepEqual([cs.voters, cs.votersOutgoing, cs.learners], [[1, 2, 3, 4], [], []], `node ${id}`);
  }
  // Now 4 counts: with 1, 2 and 4 a commit is possible, with 1 and 2 alone it is not.
  c.propose(1, 'x');
  c.deliverAll((m) => !touches(3, 4)(m));
  assert.deepEqual(c.appliedData(1), []);
  c.deliverAll((m) => !touches(3)(m));
  assert.deepEqual(c.appliedData(1), ['x']);
  c.deliverAll();
  // And 4 can be elected.
  c.isolate(1);
  c.tick(4, 25);
  c.tick(2, 10);
  c.tick(3, 10);
  c.dropPending();
  c.raft(4).campaign();
  c.deliverAll();
  assert.equal(c.raft(4).status().role, 'leader');
});

test('a learner promoted while far behind catches up, and the group stays available meanwhile', () => {
  const c = new Cluster({ voters: [1, 2, 3], learners: [4] });
  c.elect(1);
  c.tickAndDeliver(1);
  const slow = touches(4);
  for (let i = 0; i < 50; i++) c.propose(1, `v${i}`);
  c.deliverAll((m) => !slow(m));
  assert.equal(c.raft(1).status().progress.get(4)!.lag, 50);
  const r = c.raft(1).proposeConfChange({ changes: [{ op: 'addVoter', nodeId: 4 }] });
  assert.ok(r.ok);
  c.deliverAll((m) => !slow(m));
  c.tickAndDeliver(2, (m) => !slow(m));
  const cs = c.raft(1).status().confState;
  assert.deepEqual([cs.voters, cs.votersOutgoing], [[1, 2, 3, 4], []], 'promoted although 4 is behind');
  // Available: 1, 2 and 3 are 3 of 4.
  c.propose(1, 'while-behind');
  c.deliverAll((m) => !slow(m));
  assert.equal(c.appliedData(1).at(-1), 'while-behind');
  // The new voter catches up.
  c.deliverAll();
  c.tickAndDeliver(3);
  assert.deepEqual(c.appliedData(4), c.appliedData(1));
  assert.deepEqual(c.raft(4).status().confState.voters, [1, 2, 3, 4]);
  assert.equal(c.raft(1).status().progress.get(4)!.lag, 0);
});

test('a voter demoted to learner keeps voting until the joint configuration is left', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.tickAndDeliver(1);
  const r = c.raft(1).proposeConfChange({ changes: [{ op: 'addLearner', nodeId: 3 }], autoLeave: false });
  assert.ok(r.ok);
  c.deliverAll();
  c.tickAndDeliver(1);
  let cs = c.raft(1).status().confState;
  assert.deepEqual([cs.voters, cs.votersOutgoing, cs.learners, cs.learnersNext], [[1, 2], [1, 2, 3], [], [3]]);
  // While joint, 3 still counts in C_old: with 2 down, 1 and 3 are 2 of {1,2,3} but 1 alone of {1,2}.
  c.propose(1, 'x');
  c.deliverAll((m) => !touches(2)(m));
  assert.deepEqual(c.appliedData(1), []);
  c.deliverAll();
  assert.deepEqual(c.appliedData(1), ['x']);
  const leave = c.raft(1).proposeConfChange({ changes: [] });
  assert.ok(leave.ok);
  c.deliverAll();
  c.tickAndDeliver(1);
  cs = c.raft(1).status().confState;
  assert.deepEqual([cs.voters, cs.votersOutgoing, cs.learners, cs.learnersNext], [[1, 2], [], [3], []]);
  assert.equal(c.raft(1).status().progress.get(3)!.isLearner, true);
  // Now 1 and 2 commit without 3, and 3 still receives the log.
  c.propose(1, 'y');
  c.deliverAll((m) => !touches(3)(m));
  assert.deepEqual(c.appliedData(1), ['x', 'y']);
  c.deliverAll();
  c.tickAndDeliver(1);
  assert.deepEqual(c.appliedData(3), ['x', 'y']);
});
