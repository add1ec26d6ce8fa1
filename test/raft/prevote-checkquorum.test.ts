import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NONE } from '../../src/raft/index.ts';
import type { Message } from '../../src/raft/index.ts';
import { Cluster } from './harness.ts';

const terms = (c: Cluster, ids: number[]): number[] => ids.map((id) => c.raft(id).status().term);

test('pre-vote: a partitioned node rejoining does not bump terms', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.isolate(3);
  c.tickAndDeliver(100);
  assert.deepEqual(terms(c, [1, 2, 3]), [1, 1, 1], 'pre-vote never raises the isolated node term');
  assert.ok(c.sentWhere((m) => m.from === 3 && m.type === 'preVote').length > 0, 'node 3 did try');
  assert.equal(c.sentWhere((m) => m.from === 3 && m.type === 'vote').length, 0);
  c.propose(1, 'while-away');
  c.deliverAll();
  c.heal();
  c.tickAndDeliver(5);
  assert.equal(c.leader(), 1);
  assert.deepEqual(terms(c, [1, 2, 3]), [1, 1, 1]);
  assert.equal(c.raft(3).status().leader, 1);
  assert.deepEqual(c.appliedData(3), ['while-away']);
});

test('pre-vote: granting a pre-vote changes neither the voter term nor its vote', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.inject({ type: 'preVote', from: 1, to: 2, term: 5, index: 0, logTerm: 0, force: false });
  const out = c.take((m) => m.from === 2);
  assert.deepEqual(
    out.map((m) => [m.type, m.term, m.type === 'preVoteResp' && !m.reject]),
    [['preVoteResp', 5, true]],
  );
  const s = c.raft(2).status();
  assert.deepEqual([s.term, s.vote], [0, NONE]);
  assert.equal(c.get(2).storage.initialState().hardState.term, 0);
  // So the same node may still pre-vote for, and then vote for, another candidate.
  c.inject({ type: 'preVote', from: 3, to: 2, term: 5, index: 0, logTerm: 0, force: false });
  assert.equal(c.take((m) => m.from === 2 && m.type === 'preVoteResp' && !m.reject).length, 1);
});

test('pre-vote: a pre-candidate that wins campaigns in the next term; one that loses keeps its term', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.setLog(2, [1, 1, 1], { term: 1 });
  c.setLog(3, [1, 1, 1], { term: 1 });
  c.setLog(1, [1], { term: 1 });
  c.raft(1).campaign();
  c.deliverAll();
  assert.deepEqual(terms(c, [1, 2, 3]), [1, 1, 1], 'the out-of-date node lost the pre-vote; nobody changed term');
  assert.equal(c.raft(1).status().role, 'follower');
  assert.equal(c.sentWhere((m) => m.type === 'vote').length, 0);
  c.raft(2).campaign();
  c.deliverAll();
  assert.equal(c.leader(), 2);
  assert.deepEqual(terms(c, [1, 2, 3]), [2, 2, 2]);
});

test('pre-vote: a vote request of a higher term is disregarded while the leader is heard (thesis 4.2.3)', () => {
  const c = new Cluster({ voters: [1, 2, 3], nodeConfig: (id) => (id === 3 ? { preVote: false } : {}) });
  c.elect(1);
  c.isolate(3);
  c.tickAndDeliver(60);
  const t3 = c.raft(3).status().term;
  assert.ok(t3 >= 3, `the isolated node without pre-vote raised its term (${t3})`);
  c.heal();
  // Only 3's vote requests get through, while 1 keeps heartbeating 2.
  c.dropPending();
  c.tick(3, 40);
  c.tickAndDeliver(1, (m) => m.from !== 1 || m.to !== 3);
  const votes = c.trace.filter((l) => /^3->[12] vote /.test(l));
  assert.ok(votes.length > 0, 'vote requests reached 1 and 2');
  assert.equal(c.leader(), 1);
  assert.deepEqual(terms(c, [1, 2]), [1, 1], 'the healthy leader and its follower ignored them');
  assert.equal(c.raft(2).status().vote, 1);
});

test('check-quorum: a stuck candidate with a higher term that rejoins is freed and the group converges', () => {
  const c = new Cluster({ voters: [1, 2, 3], nodeConfig: (id) => (id === 3 ? { preVote: false } : {}) });
  c.elect(1);
  c.isolate(3);
  c.propose(1, 'a');
  c.tickAndDeliver(60);
  const t3 = c.raft(3).status().term;
  c.heal();
  c.tickUntil(() => c.leader() !== NONE && c.raft(3).status().leader === c.leader() && c.raft(3).status().role === 'follower', 200);
  const lead = c.leader();
  assert.notEqual(lead, 3, 'the out-of-date node cannot win');
  assert.ok(c.raft(lead).status().term > t3, 'the new leader term is above the stuck candidate term');
  c.propose(lead, 'b');
  c.deliverAll();
  for (const id of [1, 2, 3]) assert.deepEqual(c.appliedData(id), ['a', 'b']);
});

test('check-quorum: a leader partitioned with a minority steps down within 2 election timeouts; the majority elects a new one; the old one rejoins as follower', () => {
  const c = new Cluster({ voters: [1, 2, 3, 4, 5] });
  c.elect(1);
  c.propose(1, 'before');
  c.deliverAll();
  c.partition([1, 2], [3, 4, 5]);
  const lost = c.propose(1, 'lost');
  assert.equal(lost.ok, true);
  let ticks = 0;
  while (c.raft(1).status().role === 'leader') {
    c.tickAndDeliver();
    ticks++;
    assert.ok(ticks <= 20, 'stepped down within 2 election timeouts');
  }
  assert.ok(ticks >= 10, `not before one election timeout (${ticks})`);
  assert.equal(c.raft(1).status().leader, NONE);
  c.tickUntil(() => [3, 4, 5].some((id) => c.raft(id).status().role === 'leader'), 60);
  const lead = [3, 4, 5].find((id) => c.raft(id).status().role === 'leader')!;
  assert.ok(c.raft(lead).status().term > 1);
  c.propose(lead, 'after');
  c.deliverAll();
  assert.deepEqual(c.appliedData(lead), ['before', 'after']);
  // The minority never elects anyone meanwhile.
  assert.ok([1, 2].every((id) => c.raft(id).status().role !== 'leader'));
  c.heal();
  c.tickAndDeliver(3);
  assert.equal(c.leader(), lead);
  for (const id of [1, 2]) {
    const s = c.raft(id).status();
    assert.deepEqual([s.role, s.leader, s.term], ['follower', lead, c.raft(lead).status().term]);
  }
  for (const id of [1, 2, 3, 4, 5]) assert.deepEqual(c.appliedData(id), ['before', 'after'], `node ${id}`);
});

test('check-quorum: a leader that hears a quorum stays leader with a minority down', () => {
  const c = new Cluster({ voters: [1, 2, 3, 4, 5] });
  c.elect(1);
  c.isolate(4);
  c.isolate(5);
  c.tickAndDeliver(100);
  assert.equal(c.leader(), 1);
  assert.deepEqual(terms(c, [1, 2, 3]), [1, 1, 1]);
});

test('check-quorum off: an isolated leader keeps leading (the contrast)', () => {
  const c = new Cluster({ voters: [1, 2, 3], config: { checkQuorum: false } });
  c.elect(1);
  c.isolate(1);
  c.tickAndDeliver(100);
  assert.equal(c.raft(1).status().role, 'leader');
  assert.equal(c.raft(1).status().term, 1);
});

test('check-quorum: a leader counts only voters of the configuration as active', () => {
  const c = new Cluster({ voters: [1, 2, 3], learners: [4, 5] });
  c.elect(1);
  c.isolate(2);
  c.isolate(3);
  // Learners 4 and 5 still answer, but they are not a quorum.
  c.cut.delete('1->4');
  c.cut.delete('4->1');
  c.cut.delete('1->5');
  c.cut.delete('5->1');
  const isLeader = (): boolean => c.raft(1).status().role === 'leader';
  let ticks = 0;
  while (isLeader() && ticks < 40) {
    c.tickAndDeliver(1, (m: Message) => m.from === 1 || m.to === 1);
    ticks++;
  }
  assert.equal(isLeader(), false);
  assert.ok(ticks <= 20);
});

test('pre-vote: nodes whose terms differ can still complete an election', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.setLog(1, [1, 1, 2, 3], { term: 3 });
  c.setLog(2, [1, 1, 2, 3], { term: 3 });
  c.setLog(3, [1, 1], { term: 1 });
  // Node 2 is gone; node 3, behind in log and term, tries first and fails.
  c.isolate(2);
  c.raft(3).campaign();
  c.deliverAll();
  assert.deepEqual(terms(c, [1, 3]), [3, 3], 'the refusal told 3 the current term; 1 kept its own');
  assert.equal(c.leader(), NONE);
  c.raft(1).campaign();
  c.deliverAll();
  assert.equal(c.leader(), 1);
  assert.deepEqual(terms(c, [1, 3]), [4, 4]);
  c.propose(1, 'x');
  c.deliverAll();
  assert.deepEqual(c.appliedData(3), ['t1i1', 't1i2', 't2i3', 't3i4', 'x']);
});

test('pre-vote: dueling pre-candidates settle on one leader without raising terms more than needed', () => {
  for (let seed = 1; seed <= 5; seed++) {
    const c = new Cluster({ voters: [1, 2, 3, 4, 5], seed });
    for (const id of [1, 2, 3, 4, 5]) c.raft(id).campaign();
    c.deliverAll();
    c.tickUntil(() => c.leader() !== NONE, 60);
    const lead = c.leader();
    const t = c.raft(lead).status().term;
    c.tickAndDeliver(3);
    assert.equal(c.leader(), lead, `seed ${seed}`);
    for (const id of [1, 2, 3, 4, 5]) {
      assert.equal(c.raft(id).status().term, t, `seed ${seed}: node ${id}`);
      assert.equal(c.raft(id).status().leader, lead);
    }
    assert.ok(t <= 3, `seed ${seed}: term ${t}`);
  }
});

test('campaign on a leader does nothing', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.tickAndDeliver(1);
  c.raft(1).campaign();
  c.processReadies();
  assert.equal(c.raft(1).status().role, 'leader');
  assert.equal(c.raft(1).status().term, 1);
  assert.equal(c.inbox.filter((m) => m.type === 'preVote' || m.type === 'vote').length, 0);
});
