import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NONE } from '../../src/raft/index.ts';
import type { Message, VoteMessage } from '../../src/raft/index.ts';
import { Cluster } from './harness.ts';

const isType =
  (...types: Message['type'][]) =>
  (m: Message): boolean =>
    types.includes(m.type);

function vote(from: number, to: number, term: number, index: number, logTerm: number, type: 'vote' | 'preVote' = 'vote'): VoteMessage {
  return { type, from, to, term, index, logTerm, force: false };
}

function granted(c: Cluster, from: number, to: number, type: 'voteResp' | 'preVoteResp' = 'voteResp'): boolean | undefined {
  const resp = c.take((m) => m.type === type && m.from === from && m.to === to);
  assert.ok(resp.length <= 1, 'at most one answer');
  const r = resp[0];
  if (r === undefined || (r.type !== 'voteResp' && r.type !== 'preVoteResp')) return undefined;
  return !r.reject;
}

test('§5.1 a node that sees a higher term becomes a follower of that term', () => {
  // A leader.
  const c = new Cluster({ voters: [1, 2, 3] });
  assert.equal(c.elect(1), 1);
  assert.equal(c.raft(1).status().term, 1);
  c.inject({ type: 'heartbeat', from: 2, to: 1, term: 5, commit: 0, readRound: 0, sentTick: 0 });
  let s = c.raft(1).status();
  assert.deepEqual([s.role, s.term, s.leader, s.vote], ['follower', 5, 2, NONE]);

  // A candidate.
  const c2 = new Cluster({ voters: [1, 2, 3], config: { preVote: false } });
  c2.raft(3).campaign();
  c2.processReadies();
  assert.equal(c2.raft(3).status().role, 'candidate');
  c2.inject({ type: 'app', from: 1, to: 3, term: 4, index: 0, logTerm: 0, commit: 0, entries: [] });
  s = c2.raft(3).status();
  assert.deepEqual([s.role, s.term, s.leader], ['follower', 4, 1]);

  // A follower, told of a newer term by an answer: it knows no leader of that term.
  const c3 = new Cluster({ voters: [1, 2, 3] });
  c3.inject({ type: 'appResp', from: 2, to: 3, term: 7, index: 0, reject: false, rejectHint: 0, logTerm: 0 });
  s = c3.raft(3).status();
  assert.deepEqual([s.role, s.term, s.leader, s.vote], ['follower', 7, NONE, NONE]);

  // The new term is persisted before anything else is said.
  assert.equal(c3.get(3).storage.initialState().hardState.term, 7);
});

test('§5.1 a request with a stale term is rejected, and the stale leader is told the current term', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.setLog(2, [1, 1], { term: 3 });
  c.inject({ type: 'app', from: 1, to: 2, term: 2, index: 2, logTerm: 1, commit: 2, entries: [{ term: 2, index: 3, type: 'normal', data: new Uint8Array(1) }] });
  assert.equal(c.raft(2).status().lastIndex, 2, 'the stale append is not applied');
  assert.equal(c.raft(2).status().commit, 0);
  const out = c.take((m) => m.from === 2);
  assert.equal(out.length, 1);
  assert.equal(out[0]!.type, 'appResp');
  assert.equal(out[0]!.term, 3);

  // A stale vote request is not granted.
  c.inject(vote(3, 2, 2, 5, 2));
  assert.notEqual(granted(c, 2, 3), true);
  assert.equal(c.raft(2).status().vote, NONE);
  // A stale pre-vote request is refused explicitly.
  c.inject(vote(3, 2, 2, 5, 2, 'preVote'));
  assert.equal(granted(c, 2, 3, 'preVoteResp'), false);
  assert.equal(c.raft(2).status().term, 3);

  // The stale leader steps down when it hears the answer.
  const c2 = new Cluster({ voters: [1, 2, 3] });
  c2.elect(1);
  c2.inject({ type: 'appResp', from: 2, to: 1, term: 9, index: 0, reject: false, rejectHint: 0, logTerm: 0 });
  assert.equal(c2.raft(1).status().role, 'follower');
  assert.equal(c2.raft(1).status().term, 9);
});

test('§5.2 nodes start as followers with no leader', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  for (const id of [1, 2, 3]) {
    const s = c.raft(id).status();
    assert.deepEqual([s.role, s.term, s.vote, s.leader, s.commit], ['follower', 0, NONE, NONE, 0]);
  }
  assert.equal(c.raft(1).hasReady(), false);
});

test('§5.2 the leader sends a heartbeat to every follower each heartbeat interval', () => {
  const c = new Cluster({ voters: [1, 2, 3], config: { heartbeatTicks: 3 } });
  c.elect(1);
  c.take();
  c.tick(1, 2);
  assert.deepEqual(c.take(isType('heartbeat')), []);
  c.tick(1);
  const hb = c.take(isType('heartbeat'));
  assert.deepEqual(
    hb.map((m) => [m.to, m.term]).sort(),
    [
      [2, 1],
      [3, 1],
    ],
  );
  c.tick(1, 3);
  assert.equal(c.take(isType('heartbeat')).length, 2);
});

test('§5.2 a follower that hears no leader within its election timeout starts an election', () => {
  const c = new Cluster({ voters: [1, 2, 3], config: { preVote: false } });
  let ticks = 0;
  while (c.raft(1).status().role === 'follower') {
    c.tick(1);
    ticks++;
    assert.ok(ticks < 20, 'campaigns within 2 * electionTicks');
  }
  assert.ok(ticks >= 10, `not before electionTicks (${ticks})`);
  const s = c.raft(1).status();
  assert.deepEqual([s.role, s.term, s.vote], ['candidate', 1, 1]);
  const reqs = c.take(isType('vote'));
  assert.deepEqual(reqs.map((m) => m.to).sort(), [2, 3]);
  for (const m of reqs) {
    assert.equal(m.term, 1);
  }
});

test('§5.2 a follower that keeps hearing its leader never starts an election', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  for (let i = 0; i < 100; i++) c.tickAndDeliver();
  for (const id of [1, 2, 3]) assert.equal(c.raft(id).status().term, 1);
  assert.equal(c.leader(), 1);
  assert.equal(c.sentWhere(isType('preVote', 'vote')).length, 4, 'only the first election');
});

test('§5.2 election timeouts are randomized in [electionTicks, 2 * electionTicks)', () => {
  const seen = new Set<number>();
  for (let seed = 1; seed <= 40; seed++) {
    const c = new Cluster({ voters: [1, 2, 3], seed, config: { preVote: false } });
    let ticks = 0;
    while (c.raft(2).status().role === 'follower') {
      c.tick(2);
      ticks++;
    }
    assert.ok(ticks >= 10 && ticks < 20, `timeout ${ticks} out of range`);
    seen.add(ticks);
    // The next timeout of the same candidate is drawn again, also in range.
    let again = 0;
    const term = c.raft(2).status().term;
    while (c.raft(2).status().term === term) {
      c.tick(2);
      again++;
    }
    assert.ok(again >= 10 && again < 20, `second timeout ${again} out of range`);
  }
  assert.ok(seen.size >= 5, `timeouts spread over several values (${[...seen].join(',')})`);
});

test('§5.2 a candidate that gets votes from a majority becomes leader', () => {
  const c = new Cluster({ voters: [1, 2, 3, 4, 5], config: { preVote: false } });
  c.raft(1).campaign();
  c.processReadies();
  const reqs = c.take(isType('vote'));
  assert.equal(reqs.length, 4);
  const answer = (to: number): void => {
    c.inject(reqs.find((m) => m.to === to)!);
    const resp = c.take((m) => m.from === to && m.to === 1);
    for (const m of resp) c.inject(m);
  };
  answer(2);
  assert.equal(c.raft(1).status().role, 'candidate', '2 of 5 votes are not a majority');
  answer(3);
  assert.equal(c.raft(1).status().role, 'leader', '3 of 5 votes are');
  assert.equal(c.raft(1).status().term, 1);
});

test('§5.2 a candidate that learns of a leader of its term becomes its follower', () => {
  const c = new Cluster({ voters: [1, 2, 3], config: { preVote: false } });
  c.setLog(3, [], { term: 1 });
  c.raft(3).campaign();
  c.processReadies();
  assert.equal(c.raft(3).status().term, 2);
  c.take();
  c.inject({ type: 'app', from: 1, to: 3, term: 2, index: 0, logTerm: 0, commit: 0, entries: [] });
  const s = c.raft(3).status();
  assert.deepEqual([s.role, s.term, s.leader, s.vote], ['follower', 2, 1, 3]);
});

test('§5.2 a candidate rejected by a majority stops campaigning in that term', () => {
  const c = new Cluster({ voters: [1, 2, 3], config: { preVote: false } });
  c.setLog(2, [1, 1]);
  c.setLog(3, [1, 1]);
  c.raft(1).campaign();
  c.deliverAll();
  const s = c.raft(1).status();
  assert.deepEqual([s.role, s.term], ['follower', 1]);
  assert.equal(c.raft(1).status().vote, 1);
  assert.equal(c.leader(), NONE);
});

test('§5.2 a split vote is resolved by a new election in a higher term', () => {
  const c = new Cluster({ voters: [1, 2, 3, 4], config: { preVote: false } });
  c.raft(1).campaign();
  c.raft(2).campaign();
  c.processReadies();
  // 3 votes for 1, 4 votes for 2: neither has 3 of 4.
  c.deliverAll((m) => !((m.from === 2 && m.to === 3) || (m.from === 1 && m.to === 4)));
  c.dropPending();
  assert.equal(c.leader(), NONE);
  assert.equal(c.raft(1).status().role, 'candidate');
  assert.equal(c.raft(2).status().role, 'candidate');
  const ticks = c.tickUntil(() => c.leader() !== NONE, 60);
  assert.ok(ticks <= 40);
  const lead = c.leader();
  assert.ok(c.raft(lead).status().term >= 2, 'the winner campaigned again in a higher term');
  const leaders = [1, 2, 3, 4].filter((id) => c.raft(id).status().role === 'leader');
  assert.deepEqual(leaders, [lead]);
});

test('§5.2 each node grants at most one vote per term', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.inject(vote(1, 3, 1, 0, 0));
  assert.equal(granted(c, 3, 1), true);
  assert.equal(c.raft(3).status().vote, 1);
  c.inject(vote(2, 3, 1, 0, 0));
  assert.equal(granted(c, 3, 2), false, 'a second candidate of the same term is refused');
  c.inject(vote(1, 3, 1, 0, 0));
  assert.equal(granted(c, 3, 1), true, 'a repeated request of the same candidate is granted again');
  // The vote survives a restart.
  c.get(3).restart();
  c.inject(vote(2, 3, 1, 0, 0));
  assert.equal(granted(c, 3, 2), false);
  // In a later term the node may vote again.
  c.inject(vote(2, 3, 2, 0, 0));
  assert.equal(granted(c, 3, 2), true);
  assert.equal(c.raft(3).status().vote, 2);
});

test('§5.4.1 election restriction: a vote is refused to a candidate whose log is less up to date', () => {
  // The voter's log ends with term 2 at index 3.
  const cases: { index: number; logTerm: number; grant: boolean; why: string }[] = [
    { index: 3, logTerm: 2, grant: true, why: 'same last term and length' },
    { index: 5, logTerm: 2, grant: true, why: 'same last term, longer' },
    { index: 2, logTerm: 2, grant: false, why: 'same last term, shorter' },
    { index: 1, logTerm: 3, grant: true, why: 'higher last term, although shorter' },
    { index: 9, logTerm: 1, grant: false, why: 'lower last term, although longer' },
    { index: 0, logTerm: 0, grant: false, why: 'empty log' },
  ];
  for (const type of ['vote', 'preVote'] as const) {
    for (const k of cases) {
      const c = new Cluster({ voters: [1, 2, 3] });
      c.setLog(2, [1, 1, 2], { term: 2 });
      c.inject(vote(1, 2, 3, k.index, k.logTerm, type));
      assert.equal(granted(c, 2, 1, type === 'vote' ? 'voteResp' : 'preVoteResp'), k.grant, `${type}: ${k.why}`);
      assert.equal(c.raft(2).status().vote, type === 'vote' && k.grant ? 1 : NONE, `${type}: ${k.why}`);
    }
  }
});

test('§5.4.1 a candidate whose log lacks a committed entry cannot win, while an up-to-date one can', () => {
  const c = new Cluster({ voters: [1, 2, 3, 4, 5] });
  c.elect(1);
  c.partition([1, 2, 3], [4, 5]);
  c.propose(1, 'x');
  c.deliverAll();
  assert.equal(c.raft(1).status().commit, 2);
  c.partition([1], [2, 3, 4, 5]);
  // Let everyone's memory of leader 1 expire, then have 4 campaign.
  for (const id of [2, 3, 4, 5]) c.tick(id, 10);
  c.dropPending();
  c.raft(4).campaign();
  c.deliverAll((m) => m.type !== 'heartbeat');
  assert.notEqual(c.raft(4).status().role, 'leader', '4 misses the committed entry 2');
  c.dropPending();
  c.raft(2).campaign();
  c.deliverAll();
  assert.equal(c.raft(2).status().role, 'leader');
  assert.equal(c.raft(2).termAt(2), 1);
});

test('term and vote are in the hard state of the Ready and the vote messages wait for it (messages, not messagesNow)', () => {
  const c = new Cluster({ voters: [1, 2, 3], config: { preVote: false } });
  const n1 = c.raft(1);
  n1.campaign();
  const rd = n1.ready();
  assert.deepEqual(rd.hardState, { term: 1, vote: 1, commit: 0 });
  assert.equal(rd.mustSync, true);
  assert.deepEqual(rd.messagesNow, []);
  assert.deepEqual(rd.messages.map((m) => [m.type, m.to]).sort(), [
    ['vote', 2],
    ['vote', 3],
  ]);
  assert.deepEqual(rd.softState, { role: 'candidate', leader: NONE });

  // The voter: its vote is in the hard state and its answer waits for the write.
  const n2 = c.raft(2);
  n2.step(rd.messages.find((m) => m.to === 2)!);
  const rd2 = n2.ready();
  assert.deepEqual(rd2.hardState, { term: 1, vote: 1, commit: 0 });
  assert.equal(rd2.mustSync, true);
  assert.deepEqual(rd2.messagesNow, []);
  assert.deepEqual(
    rd2.messages.map((m) => [m.type, m.to, m.type === 'voteResp' && !m.reject]),
    [['voteResp', 1, true]],
  );

  // With pre-vote, a pre-vote changes neither term nor vote, so nothing needs syncing.
  const p = new Cluster({ voters: [1, 2, 3] });
  p.raft(1).campaign();
  const prd = p.raft(1).ready();
  assert.equal(prd.hardState, undefined);
  assert.equal(prd.mustSync, false);
  assert.deepEqual(prd.messagesNow, []);
  assert.deepEqual(prd.messages.map((m) => m.type), ['preVote', 'preVote']);
});

test('a vote is not answered before it is durable, and a crash before that forgets it safely', () => {
  const c = new Cluster({ voters: [1, 2, 3], config: { preVote: false } });
  c.get(2).holdDisk = true;
  c.raft(1).campaign();
  c.processReadies();
  c.deliverAll((m) => m.to === 2);
  assert.equal(c.raft(2).status().vote, 1);
  assert.deepEqual(c.inbox.filter((m) => m.from === 2), [], 'no answer while the vote is not durable');
  // Crash before the write: the vote was never promised, and is forgotten.
  c.get(2).restart();
  c.get(2).holdDisk = false;
  assert.equal(c.raft(2).status().vote, NONE);
  assert.equal(c.raft(2).status().term, 0);
  c.dropPending();
  c.raft(3).campaign();
  c.deliverAll((m) => m.from !== 1 && m.to !== 1);
  assert.equal(c.raft(3).status().role, 'leader');
  assert.equal(c.raft(2).status().vote, 3);
});
