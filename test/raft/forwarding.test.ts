import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NONE } from '../../src/raft/index.ts';
import { Cluster } from './harness.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

test('proposal forwarding on: a follower forwards a proposal to the leader, which commits it', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.tickAndDeliver(1);
  const r = c.propose(2, 'x');
  assert.deepEqual(r, { ok: true, forwarded: true, to: 1 });
  const props = c.inbox.filter((m) => m.type === 'prop');
  assert.deepEqual(
    props.map((m) => [m.from, m.to, m.type === 'prop' ? m.entries.length : 0]),
    [[2, 1, 1]],
  );
  c.deliverAll();
  for (const id of [1, 2, 3]) assert.deepEqual(c.appliedData(id), ['x']);
  assert.equal(c.raft(1).termAt(2), 1, 'appended by the leader in its term');
  assert.equal(c.raft(1).status().lastIndex, 2);
});

test('proposal forwarding off: a follower refuses with ERR_NOT_LEADER and the leader hint', () => {
  const c = new Cluster({ voters: [1, 2, 3], config: { forwardProposals: false } });
  c.elect(1);
  c.tickAndDeliver(1);
  assert.deepEqual(c.propose(2, 'x'), { ok: false, code: 'ERR_NOT_LEADER', leaderHint: 1 });
  assert.equal(c.inbox.filter((m) => m.type === 'prop').length, 0);
  c.deliverAll();
  assert.deepEqual(c.appliedData(1), []);
});

test('without a known leader a proposal is refused with ERR_NOT_LEADER and hint 0, whatever forwardProposals says', () => {
  for (const forwardProposals of [true, false]) {
    const c = new Cluster({ voters: [1, 2, 3], config: { forwardProposals } });
    assert.deepEqual(c.propose(2, 'x'), { ok: false, code: 'ERR_NOT_LEADER', leaderHint: NONE });
    // A candidate knows no leader either.
    c.raft(3).campaign();
    c.processReadies();
    assert.deepEqual(c.propose(3, 'x'), { ok: false, code: 'ERR_NOT_LEADER', leaderHint: NONE });
  }
});

test('a forwarded proposal that reaches a node that no longer leads is dropped', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.tickAndDeliver(1);
  c.propose(2, 'x');
  // Leadership moves to 3 before the proposal arrives at 1.
  c.raft(1).transferLeadership(3);
  c.deliverAll((m) => m.type !== 'prop');
  assert.equal(c.leader(), 3);
  const before = c.raft(1).status().lastIndex;
  c.deliverAll();
  c.tickAndDeliver(1);
  assert.equal(c.raft(1).status().lastIndex, before);
  for (const id of [1, 2, 3]) assert.deepEqual(c.appliedData(id), []);
});

test('a forwarded proposal is subject to the leader uncommitted-bytes limit', () => {
  const c = new Cluster({ voters: [1, 2, 3], config: { maxUncommittedBytes: 10 } });
  c.elect(1);
  c.tickAndDeliver(1);
  assert.equal(c.propose(1, '12345678').ok, true);
  c.propose(2, 'abcdef');
  c.deliverAll((m) => m.type === 'prop');
  assert.equal(c.raft(1).status().lastIndex, 2, 'dropped: 8 + 6 bytes exceed 10');
  c.deliverAll();
  c.propose(2, 'abcdef');
  c.deliverAll();
  assert.deepEqual(c.appliedData(1), ['12345678', 'abcdef']);
});

test('proposeBatch appends several commands together, and a follower forwards them in one message', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.tickAndDeliver(1);
  const r = c.raft(1).proposeBatch([enc('a'), enc('b'), enc('c')]);
  assert.deepEqual(r, { ok: true, index: 4, term: 1 });
  c.processReadies();
  const apps = c.inbox.filter((m) => m.type === 'app' && m.to === 2);
  assert.equal(apps.length, 1);
  assert.equal(apps[0]!.type === 'app' ? apps[0]!.entries.length : 0, 3);
  c.deliverAll();
  const f = c.raft(3).proposeBatch([enc('d'), enc('e')]);
  assert.deepEqual(f, { ok: true, forwarded: true, to: 1 });
  c.processReadies();
  assert.equal(c.inbox.filter((m) => m.type === 'prop').length, 1);
  c.deliverAll();
  for (const id of [1, 2, 3]) assert.deepEqual(c.appliedData(id), ['a', 'b', 'c', 'd', 'e']);
  assert.throws(() => c.raft(1).proposeBatch([]));
});
