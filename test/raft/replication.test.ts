import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NONE } from '../../src/raft/index.ts';
import type { AppMessage, AppRespMessage, Message, NodeId } from '../../src/raft/index.ts';
import { Cluster, SeqRandom, makeEntry } from './harness.ts';

const isApp = (m: Message): m is AppMessage => m.type === 'app';
const isAppResp = (m: Message): m is AppRespMessage => m.type === 'appResp';

function logTerms(c: Cluster, id: NodeId): number[] {
  const r = c.raft(id);
  const out: number[] = [];
  for (let i = 1; i <= r.status().lastIndex; i++) out.push(r.termAt(i) ?? -1);
  return out;
}

function app(from: number, to: number, term: number, index: number, logTerm: number, entryTerms: number[], commit = 0): AppMessage {
  return { type: 'app', from, to, term, index, logTerm, commit, entries: entryTerms.map((t, i) => makeEntry(t, index + 1 + i, `t${t}i${index + 1 + i}`)) };
}

test('§5.3 the leader appends a proposal to its log and replicates it to every follower', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  const r = c.propose(1, 'x');
  assert.deepEqual(r, { ok: true, index: 2, term: 1 });
  assert.equal(c.raft(1).status().lastIndex, 2);
  const apps = c.take(isApp) as AppMessage[];
  assert.deepEqual(apps.map((m) => m.to).sort(), [2, 3]);
  for (const m of apps) {
    assert.equal(m.index, 1);
    assert.equal(m.logTerm, 1);
    assert.deepEqual(
      m.entries.map((e) => [e.index, e.term, new TextDecoder().decode(e.data)]),
      [[2, 1, 'x']],
    );
  }
});

test('§5.3 an entry is committed once a majority stores it; the leader applies it and followers learn the commit index', () => {
  const c = new Cluster({ voters: [1, 2, 3, 4, 5] });
  c.elect(1);
  c.isolate(4);
  c.isolate(5);
  c.propose(1, 'x');
  // Node 3 is slow: its messages are held back.
  c.deliverAll((m) => m.to !== 3 && m.from !== 3);
  assert.equal(c.raft(1).status().commit, 1, 'leader + 1 follower are 2 of 5: not committed');
  assert.deepEqual(c.appliedData(1), []);
  c.deliverAll();
  c.tickAndDeliver(1);
  assert.equal(c.raft(1).status().commit, 2, 'leader + 2 followers are a majority');
  assert.deepEqual(c.appliedData(1), ['x']);
  assert.deepEqual(c.appliedData(2), ['x']);
  assert.deepEqual(c.appliedData(3), ['x']);
  assert.deepEqual(c.appliedData(4), []);
});

test('§5.3 committed entries are applied in log order, once, on every node', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  const want: string[] = [];
  for (let i = 0; i < 30; i++) {
    want.push(`v${i}`);
    c.propose(1, `v${i}`);
    if (i % 7 === 0) c.deliverAll();
  }
  c.deliverAll();
  c.tickAndDeliver(1);
  for (const id of [1, 2, 3]) {
    assert.deepEqual(c.appliedData(id), want);
    const idx = c.get(id).applied.map((e) => e.index);
    assert.deepEqual(
      idx,
      idx.map((_, i) => i + 1),
    );
  }
});

test('§5.3 a follower rejects an append whose previous entry does not match', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.setLog(2, [1, 1, 2], { term: 3 });
  // prevLogIndex beyond the follower log.
  c.inject(app(1, 2, 3, 5, 3, [3]));
  let resp = c.take(isAppResp) as AppRespMessage[];
  assert.equal(resp.length, 1);
  assert.deepEqual([resp[0]!.reject, resp[0]!.index, resp[0]!.rejectHint, resp[0]!.logTerm], [true, 5, 3, 2]);
  // prevLogIndex present with another term.
  c.inject(app(1, 2, 3, 3, 3, [3]));
  resp = c.take(isAppResp) as AppRespMessage[];
  assert.deepEqual([resp[0]!.reject, resp[0]!.index, resp[0]!.rejectHint, resp[0]!.logTerm], [true, 3, 3, 2]);
  assert.deepEqual(logTerms(c, 2), [1, 1, 2], 'the log is untouched');
  // A matching previous entry is accepted.
  c.inject(app(1, 2, 3, 3, 2, [3], 4));
  resp = c.take(isAppResp) as AppRespMessage[];
  assert.deepEqual([resp[0]!.reject, resp[0]!.index], [false, 4]);
  assert.deepEqual(logTerms(c, 2), [1, 1, 2, 3]);
  assert.equal(c.raft(2).status().commit, 4);
});

test('§5.3 conflicting entries are deleted and replaced', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.setLog(2, [1, 1, 2, 2, 2], { term: 3, commit: 2 });
  c.inject(app(1, 2, 3, 2, 1, [3, 3]));
  assert.deepEqual(logTerms(c, 2), [1, 1, 3, 3]);
  const resp = c.take(isAppResp) as AppRespMessage[];
  assert.deepEqual([resp[0]!.reject, resp[0]!.index], [false, 4]);
  // Durably: the storage no longer holds the replaced entries.
  const st = c.get(2).storage;
  assert.equal(st.lastIndex(), 4);
  assert.deepEqual(
    st.entries(1, 5, Infinity).map((e) => e.term),
    [1, 1, 3, 3],
  );
});

test('§5.3 an append that repeats entries the follower has does not truncate its log', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.setLog(2, [1, 1, 2, 2, 2], { term: 2 });
  // A delayed append carrying a prefix of what the follower already has.
  c.inject(app(1, 2, 2, 1, 1, [1, 2]));
  assert.deepEqual(logTerms(c, 2), [1, 1, 2, 2, 2]);
  const resp = c.take(isAppResp) as AppRespMessage[];
  assert.deepEqual([resp[0]!.reject, resp[0]!.index], [false, 3], 'acknowledges only what the message covered');
});

test('§5.3 an append below the follower commit index is answered with the commit index', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.setLog(2, [1, 1, 1, 1], { term: 1, commit: 3 });
  c.inject(app(1, 2, 1, 1, 1, [1]));
  const resp = c.take(isAppResp) as AppRespMessage[];
  assert.deepEqual([resp[0]!.reject, resp[0]!.index], [false, 3]);
  assert.deepEqual(logTerms(c, 2), [1, 1, 1, 1]);
});

test('§5.3 the leader never overwrites or deletes its own entries', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.setLog(1, [1, 1, 2, 2, 2], { term: 2 });
  c.setLog(2, [1, 1, 2], { term: 2 });
  c.setLog(3, [1, 1, 1, 1, 1, 1, 1], { term: 2 });
  assert.equal(c.elect(1), 1);
  const mine = logTerms(c, 1);
  assert.deepEqual(mine, [1, 1, 2, 2, 2, 3]);
  c.propose(1, 'a');
  c.deliverAll();
  // A stale leader of term 2 tries to overwrite the leader's log; rejections with odd hints arrive.
  c.inject(app(3, 1, 2, 1, 1, [2, 2, 2, 2, 2, 2, 2, 2]));
  c.inject({ type: 'appResp', from: 2, to: 1, term: 3, index: 4, reject: true, rejectHint: 1, logTerm: 1 });
  c.inject({ type: 'appResp', from: 3, to: 1, term: 3, index: 2, reject: true, rejectHint: 0, logTerm: 0 });
  c.deliverAll();
  c.tickAndDeliver(3);
  const now = logTerms(c, 1);
  assert.deepEqual(now.slice(0, mine.length), mine, 'every entry the leader had is still there');
  assert.deepEqual(now, [1, 1, 2, 2, 2, 3, 3]);
  for (const id of [2, 3]) assert.deepEqual(logTerms(c, id), now, `follower ${id} converged to the leader`);
});

test('§5.3 the leader makes each divergent follower log identical to its own (Figure 7)', () => {
  const c = new Cluster({ voters: [1, 2, 3, 4, 5, 6, 7] });
  const leader = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const followers: Record<number, number[]> = {
    2: [1, 1, 1, 4, 4, 5, 5, 6, 6], // (a) missing one entry
    3: [1, 1, 1, 4], // (b) missing many
    4: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6], // (c) one extra uncommitted entry
    5: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], // (d) extra entries of a later term
    6: [1, 1, 1, 4, 4, 4, 4], // (e) missing and extra
    7: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], // (f) a long run of other terms
  };
  c.setLog(1, leader, { term: 7 });
  for (const [id, terms] of Object.entries(followers)) c.setLog(Number(id), terms, { term: 7 });
  assert.equal(c.elect(1), 1);
  assert.equal(c.raft(1).status().term, 8);
  c.tickAndDeliver(2);
  const want = [...leader, 8];
  for (const id of [1, 2, 3, 4, 5, 6, 7]) assert.deepEqual(logTerms(c, id), want, `node ${id}`);
  // About one rejection per follower thanks to the term hints, not one per entry.
  const rejects = c.sentWhere((m) => m.type === 'appResp' && m.reject);
  for (const id of [2, 3, 4, 5, 6, 7]) {
    const n = rejects.filter((m) => m.from === id).length;
    assert.ok(n <= 2, `follower ${id}: ${n} rejections`);
  }
});

test('fast backtracking: a follower with a long divergent log is fixed in few round trips', () => {
  const cases: { name: string; leader: number[]; follower: number[]; maxRejects: number }[] = [
    { name: 'follower has 200 entries of a stale term', leader: [1, 1, 1, ...Array(100).fill(3)], follower: [1, 1, 1, ...Array(200).fill(2)], maxRejects: 1 },
    { name: 'follower is 150 entries behind', leader: [1, 1, ...Array(150).fill(2)], follower: [1, 1], maxRejects: 1 },
    {
      name: 'several stale terms on the follower',
      leader: [1, ...Array(50).fill(2), ...Array(50).fill(5)],
      follower: [1, ...Array(30).fill(2), ...Array(40).fill(3), ...Array(40).fill(4)],
      maxRejects: 2,
    },
    {
      name: 'leader has several terms the follower lacks',
      leader: [1, ...Array(40).fill(2), ...Array(40).fill(4), ...Array(40).fill(6)],
      follower: [1, ...Array(40).fill(2), ...Array(60).fill(3)],
      maxRejects: 2,
    },
  ];
  for (const k of cases) {
    const c = new Cluster({ voters: [1, 2, 3], config: { maxEntriesPerMsg: 1000 } });
    const top = Math.max(...k.leader, ...k.follower);
    c.setLog(1, k.leader, { term: top });
    c.setLog(2, k.follower, { term: top });
    c.setLog(3, k.leader, { term: top });
    c.isolate(3);
    c.cut.delete('1->3');
    c.cut.delete('3->1');
    c.cut.add('1->3');
    c.elect(1);
    assert.equal(c.leader(), 1, k.name);
    c.tickAndDeliver(1, (m) => m.from !== 3 && m.to !== 3);
    assert.deepEqual(logTerms(c, 2), logTerms(c, 1), k.name);
    const rejects = c.sentWhere((m) => m.type === 'appResp' && m.reject && m.from === 2).length;
    assert.ok(rejects <= k.maxRejects, `${k.name}: ${rejects} rejections`);
  }
});

test('§5.3 the leader retries an append that was lost, without waiting for a new proposal', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.tickAndDeliver(1);
  // The append carrying x and the one carrying its commit index are both lost.
  let dropped = 0;
  c.dropIf = (m) => {
    if (m.type !== 'app' || m.to !== 3) return false;
    dropped++;
    return true;
  };
  c.propose(1, 'x');
  c.deliverAll();
  assert.equal(dropped, 2);
  c.dropIf = undefined;
  assert.deepEqual(c.appliedData(3), []);
  c.tickAndDeliver(3);
  assert.deepEqual(c.appliedData(3), ['x'], 'heartbeat answers lead the leader to resend');
});

test('§5.3 a follower whose whole in-flight window was lost catches up once it answers again', () => {
  const c = new Cluster({ voters: [1, 2, 3], config: { maxInflightMsgs: 2 } });
  c.elect(1);
  c.tickAndDeliver(1);
  c.isolate(3);
  for (const x of ['a', 'b', 'c']) {
    c.propose(1, x);
    c.deliverAll();
  }
  c.heal();
  c.tickAndDeliver(5);
  assert.deepEqual(c.appliedData(3), ['a', 'b', 'c']);
  c.propose(1, 'd');
  c.deliverAll();
  c.tickAndDeliver(1);
  assert.deepEqual(c.appliedData(3), ['a', 'b', 'c', 'd']);
});

test('§5.4.2 an entry of a previous term is not committed by counting replicas (Figure 8)', () => {
  const run = (bug: boolean): Cluster => {
    const c = new Cluster({
      voters: [1, 2, 3, 4, 5],
      config: { preVote: false, checkQuorum: false, maxEntriesPerMsg: 1, ...(bug ? { bugs: { commitPreviousTermByCounting: true } } : {}) },
    });
    // (b): S1 led term 2 and replicated index 2 to S2; S5 led term 3 and wrote index 2 alone.
    c.setLog(1, [1, 2], { term: 3, commit: 1 });
    c.setLog(2, [1, 2], { term: 3, commit: 1 });
    c.setLog(3, [1], { term: 3, vote: 5, commit: 1 });
    c.setLog(4, [1], { term: 3, vote: 5, commit: 1 });
    c.setLog(5, [1, 3], { term: 3, vote: 5, commit: 1 });
    // (c): S1 is elected in term 4 and copies index 2 (term 2) to S3, a majority; its
    // own entry of term 4 does not reach S3.
    c.isolate(5);
    c.raft(1).campaign();
    c.deliverAll((m) => m.type === 'vote' || m.type === 'voteResp');
    assert.equal(c.raft(1).status().role, 'leader');
    assert.equal(c.raft(1).status().term, 4);
    c.cut.add('1->4');
    c.dropIf = (m) => m.type === 'app' && m.to === 3 && m.entries.some((e) => e.index === 3);
    c.deliverAll();
    assert.equal(c.raft(3).termAt(2), 2, 'S3 holds index 2 of term 2');
    assert.equal(c.raft(2).termAt(2), 2);
    assert.equal(c.raft(3).termAt(3), undefined, 'S3 lacks the entry of term 4');
    return c;
  };

  const c = run(false);
  assert.equal(c.raft(1).status().commit, 1, 'index 2 is on 3 of 5 but of term 2: not committed');
  assert.equal(c.get(1).applied.length, 1);
  // (d): S1 crashes; S5 wins term 5 with S3 and S4 and overwrites index 2 — legal, since it was never committed.
  c.dropIf = undefined;
  c.partition([1], [2, 3, 4, 5]);
  c.raft(5).campaign();
  c.deliverAll();
  assert.equal(c.raft(5).status().role, 'follower', 'in term 4 everyone already voted for S1');
  c.raft(5).campaign();
  c.deliverAll();
  assert.equal(c.raft(5).status().role, 'leader');
  assert.equal(c.raft(5).status().term, 5);
  c.tickAndDeliver(2);
  for (const id of [2, 3, 4, 5]) {
    assert.equal(c.raft(id).termAt(2), 3, `node ${id}`);
    assert.ok(c.raft(id).status().commit >= 3);
  }
  for (const id of [1, 2, 3, 4, 5]) {
    const atTwo = c.get(id).applied.find((e) => e.index === 2);
    assert.ok(atTwo === undefined || atTwo.term === 3, `node ${id} never applied index 2 of term 2`);
  }

  // The same scenario with the rule broken commits index 2 of term 2, which S5 could then overwrite.
  const broken = run(true);
  assert.equal(broken.raft(1).status().commit, 2);
});

test('§5.4.2 entries of earlier terms are committed once an entry of the current term is', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.setLog(1, [1, 1, 1], { term: 1, commit: 1 });
  c.setLog(2, [1, 1, 1], { term: 1, commit: 1 });
  c.setLog(3, [1], { term: 1, commit: 1 });
  c.raft(1).campaign();
  c.deliverAll((m) => m.type !== 'app');
  assert.equal(c.raft(1).status().role, 'leader');
  // Index 3 is on a majority (1 and 2) already, but it is of term 1.
  assert.equal(c.raft(1).status().commit, 1);
  c.deliverAll((m) => m.to !== 3);
  assert.equal(c.raft(1).status().commit, 4, 'the no-op of term 2 commits 2..4 at once');
  assert.deepEqual(
    c.get(1).applied.map((e) => [e.index, e.term]),
    [
      [1, 1],
      [2, 1],
      [3, 1],
      [4, 2],
    ],
  );
});

test('§8 a new leader commits a no-op of its term', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.setLog(1, [1, 1], { term: 1 });
  c.setLog(2, [1, 1], { term: 1 });
  c.setLog(3, [1], { term: 1 });
  c.elect(1);
  c.tickAndDeliver(1);
  const s = c.raft(1).status();
  assert.equal(s.term, 2);
  assert.equal(s.lastIndex, 3);
  assert.equal(s.commit, 3);
  for (const id of [1, 2, 3]) {
    const noop = c.get(id).applied.find((e) => e.index === 3);
    assert.ok(noop !== undefined, `node ${id} applied the no-op`);
    assert.deepEqual([noop.term, noop.type, noop.data.byteLength], [2, 'normal', 0]);
    assert.deepEqual(c.appliedData(id), ['t1i1', 't1i2'], 'earlier entries committed with it');
  }
});

test('§5.5 a follower that crashes and restarts catches up', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.propose(1, 'a');
  c.deliverAll();
  c.isolate(3);
  c.propose(1, 'b');
  c.propose(1, 'c');
  c.deliverAll();
  c.tickAndDeliver(3);
  c.get(3).restart();
  assert.equal(c.raft(3).status().term, 1, 'term survives the restart');
  c.heal();
  c.tickAndDeliver(3);
  assert.deepEqual(c.appliedData(3), ['a', 'b', 'c']);
  assert.equal(c.raft(3).status().leader, 1);
});

test('§5.5 a follower that crashes before its write is durable forgets those entries, and the leader resends them', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.tickAndDeliver(1);
  c.get(3).holdDisk = true;
  c.propose(1, 'a');
  c.deliverAll();
  assert.equal(c.raft(3).status().lastIndex, 2, 'received but not durable');
  assert.equal(c.get(3).storage.lastIndex(), 1);
  c.get(3).restart();
  c.get(3).holdDisk = false;
  assert.equal(c.raft(3).status().lastIndex, 1, 'the unsynced entry is gone');
  c.tickAndDeliver(3);
  assert.deepEqual(c.appliedData(3), ['a']);
});

test('§5.5 a leader that crashes and restarts rejoins as a follower with its durable log', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.propose(1, 'a');
  c.deliverAll();
  c.isolate(1);
  c.get(1).restart();
  const s = c.raft(1).status();
  assert.deepEqual([s.role, s.term, s.leader, s.lastIndex], ['follower', 1, NONE, 2]);
  c.tickUntil(() => c.raft(2).status().role === 'leader' || c.raft(3).status().role === 'leader', 60, [2, 3]);
  const lead = c.leader();
  c.propose(lead, 'b');
  c.deliverAll();
  c.heal();
  c.tickAndDeliver(3);
  assert.equal(c.raft(1).status().leader, lead);
  assert.deepEqual(c.appliedData(1), ['a', 'b']);
});

test('§5.4.3 leader completeness, election safety, log matching and state machine safety under random partitions', () => {
  for (let seed = 1; seed <= 6; seed++) {
    const rnd = new SeqRandom(seed * 101);
    const ids = [1, 2, 3, 4, 5];
    const c = new Cluster({ voters: ids, seed });
    const leaderOfTerm = new Map<number, NodeId>();
    // index -> [entry term, highest term any node had when the commit was first seen]
    const committed = new Map<number, [number, number]>();
    let n = 0;
    const check = (): void => {
      for (const id of ids) {
        const s = c.raft(id).status();
        if (s.role === 'leader') {
          const prev = leaderOfTerm.get(s.term);
          assert.ok(prev === undefined || prev === id, `seed ${seed}: two leaders in term ${s.term}`);
          leaderOfTerm.set(s.term, id);
          // A leader of any term after the one in which an entry was committed holds it.
          for (const [i, [t, seenAt]] of committed) {
            if (i < s.firstIndex || s.term <= seenAt) continue;
            assert.equal(c.raft(id).termAt(i), t, `seed ${seed}: leader ${id} of term ${s.term} lacks committed ${t}/${i}`);
          }
        }
      }
      const maxTerm = Math.max(...ids.map((id) => c.raft(id).status().term));
      for (const id of ids) {
        const s = c.raft(id).status();
        for (let i = Math.max(1, s.firstIndex); i <= s.commit; i++) {
          const t = c.raft(id).termAt(i);
          if (t === undefined) continue;
          const known = committed.get(i);
          assert.ok(known === undefined || known[0] === t, `seed ${seed}: index ${i} committed with terms ${known?.[0]} and ${t}`);
          if (known === undefined) committed.set(i, [t, maxTerm]);
        }
      }
      // Log matching: same index and term implies same prefix.
      for (const a of ids) {
        for (const b of ids) {
          if (a >= b) continue;
          const la = c.raft(a).status().lastIndex;
          const lb = c.raft(b).status().lastIndex;
          for (let i = Math.min(la, lb); i >= 1; i--) {
            if (c.raft(a).termAt(i) !== undefined && c.raft(a).termAt(i) === c.raft(b).termAt(i)) {
              for (let j = 1; j < i; j++) assert.equal(c.raft(a).termAt(j), c.raft(b).termAt(j), `seed ${seed}: logs ${a},${b} differ at ${j} below matching ${i}`);
              break;
            }
          }
        }
      }
      // State machine safety: the same entry at every applied index.
      const applied = new Map<number, string>();
      for (const id of ids) {
        for (const e of c.get(id).applied) {
          const key = `${e.term}:${new TextDecoder().decode(e.data)}`;
          const known = applied.get(e.index);
          assert.ok(known === undefined || known === key, `seed ${seed}: index ${e.index} applied as ${known} and ${key}`);
          applied.set(e.index, key);
        }
      }
    };
    for (let round = 0; round < 25; round++) {
      const action = rnd.intBelow(4);
      if (action === 0) c.heal();
      else if (action === 1) {
        const shuffled = [...ids].sort(() => rnd.intBelow(3) - 1);
        const k = 1 + rnd.intBelow(2);
        c.partition(shuffled.slice(0, k), shuffled.slice(k));
      } else if (action === 2) {
        const lead = c.leader();
        if (lead !== NONE) c.isolate(lead);
      } else {
        const victim = ids[rnd.intBelow(ids.length)]!;
        c.get(victim).restart();
      }
      for (let t = 0; t < 8 + rnd.intBelow(20); t++) {
        c.tickAndDeliver(1);
        for (const id of ids) if (c.raft(id).status().role === 'leader' && rnd.intBelow(3) === 0) c.propose(id, `s${seed}v${n++}`);
        check();
      }
    }
    c.heal();
    c.tickUntil(() => c.leader() !== NONE, 100);
    c.propose(c.leader(), 'last');
    c.deliverAll();
    c.tickAndDeliver(5);
    check();
    const want = c.appliedData(c.leader());
    assert.ok(want.includes('last'));
    for (const id of ids) assert.deepEqual(c.appliedData(id), want, `seed ${seed}: node ${id} converged`);
  }
});
