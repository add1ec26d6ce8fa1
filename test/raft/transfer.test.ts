import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NONE } from '../../src/raft/index.ts';
import type { Message, NodeId } from '../../src/raft/index.ts';
import { Cluster } from './harness.ts';

const touches =
  (...ids: NodeId[]) =>
  (m: Message): boolean =>
    ids.includes(m.from) || ids.includes(m.to);

test('leadership transfer: the leader brings the target up to date, sends timeoutNow, and the target wins', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.tickAndDeliver(1);
  for (let i = 0; i < 5; i++) c.propose(1, `v${i}`);
  c.deliverAll((m) => !touches(3)(m));
  assert.equal(c.raft(1).status().progress.get(3)!.match, 1, '3 is behind');
  c.raft(1).transferLeadership(3);
  c.processReadies();
  assert.equal(c.raft(1).status().leadTransferee, 3);
  assert.equal(c.inbox.filter((m) => m.type === 'timeoutNow').length, 0, 'not before 3 caught up');
  c.deliverAll();
  const tn = c.sentWhere((m) => m.type === 'timeoutNow');
  assert.deepEqual(
    tn.map((m) => [m.from, m.to]),
    [[1, 3]],
  );
  assert.equal(c.leader(), 3);
  assert.equal(c.raft(3).status().term, 2);
  const s1 = c.raft(1).status();
  assert.deepEqual([s1.role, s1.leader, s1.leadTransferee], ['follower', 3, NONE]);
  // Every committed entry survived.
  c.propose(3, 'after');
  c.deliverAll();
  for (const id of [1, 2, 3]) assert.deepEqual(c.appliedData(id), ['v0', 'v1', 'v2', 'v3', 'v4', 'after']);
});

test('leadership transfer: the leader refuses proposals with ERR_TRANSFERRING while it transfers', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.tickAndDeliver(1);
  c.raft(1).transferLeadership(2);
  c.processReadies();
  c.dropPending((m) => m.type === 'timeoutNow');
  assert.deepEqual(c.propose(1, 'x'), { ok: false, code: 'ERR_TRANSFERRING', leaderHint: NONE });
  assert.deepEqual(c.raft(1).proposeConfChange({ changes: [{ op: 'remove', nodeId: 3 }] }), {
    ok: false,
    code: 'ERR_TRANSFERRING',
    leaderHint: NONE,
  });
  // A proposal forwarded by a follower meanwhile is dropped (the follower retries).
  const fwd = c.propose(3, 'y');
  assert.deepEqual(fwd, { ok: true, forwarded: true, to: 1 });
  const last = c.raft(1).status().lastIndex;
  c.deliverAll();
  assert.equal(c.raft(1).status().lastIndex, last);
});

test('leadership transfer: an up-to-date target gets timeoutNow at once, and it campaigns past pre-vote and leases', () => {
  const c = new Cluster({ voters: [1, 2, 3], config: { readMode: 'lease' } });
  for (let i = 0; i < 10; i++) c.tickAll();
  c.elect(1);
  c.tickAndDeliver(1);
  c.raft(1).transferLeadership(2);
  c.processReadies();
  const tn = c.inbox.filter((m) => m.type === 'timeoutNow');
  assert.equal(tn.length, 1);
  c.deliverAll();
  assert.equal(c.leader(), 2);
  const votes = c.sentWhere((m) => m.from === 2 && (m.type === 'vote' || m.type === 'preVote'));
  assert.ok(votes.length >= 2);
  for (const v of votes) {
    assert.equal(v.type, 'vote', 'no pre-vote');
    assert.ok(v.type === 'vote' && v.force, 'forced past the lease of node 3');
  }
  assert.equal(c.raft(3).status().leader, 2);
});

test('leadership transfer aborts after an election timeout when the target is down', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.tickAndDeliver(1);
  c.isolate(3);
  c.raft(1).transferLeadership(3);
  c.processReadies();
  assert.equal(c.raft(1).status().leadTransferee, 3);
  c.tickAndDeliver(9);
  assert.equal(c.raft(1).status().leadTransferee, 3, 'still trying within the election timeout');
  assert.equal(c.propose(1, 'x').ok, false);
  c.tickAndDeliver(1);
  assert.equal(c.raft(1).status().leadTransferee, NONE, 'given up after 10 ticks');
  assert.equal(c.raft(1).status().role, 'leader');
  assert.equal(c.raft(1).status().term, 1);
  const r = c.propose(1, 'y');
  assert.equal(r.ok, true);
  c.deliverAll();
  assert.deepEqual(c.appliedData(2), ['y']);
});

test('leadership transfer: to itself, to a non-member, to a learner, or on a follower, it is ignored', () => {
  const c = new Cluster({ voters: [1, 2, 3], learners: [4] });
  c.elect(1);
  c.tickAndDeliver(1);
  for (const to of [1, 9, 4]) {
    c.raft(1).transferLeadership(to);
    assert.equal(c.raft(1).status().leadTransferee, NONE, `to ${to}`);
  }
  c.raft(2).transferLeadership(3);
  c.processReadies();
  assert.equal(c.inbox.filter((m) => m.type === 'timeoutNow').length, 0);
  assert.equal(c.propose(1, 'x').ok, true);
});

test('leadership transfer: a second transfer to another node replaces the first', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.tickAndDeliver(1);
  c.isolate(3);
  c.raft(1).transferLeadership(3);
  c.processReadies();
  c.heal();
  c.dropPending();
  c.raft(1).transferLeadership(2);
  c.processReadies();
  assert.equal(c.raft(1).status().leadTransferee, 2);
  c.deliverAll();
  assert.equal(c.leader(), 2);
});

test('leadership transfer: a target that was down may still win after it comes back within the timeout', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.tickAndDeliver(1);
  c.propose(1, 'a');
  c.deliverAll((m) => !touches(3)(m));
  c.raft(1).transferLeadership(3);
  c.processReadies();
  c.tickAndDeliver(3, (m) => !touches(3)(m));
  c.tickAndDeliver(2);
  assert.equal(c.leader(), 3);
  assert.deepEqual(c.appliedData(3), ['a']);
});
