import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStorage, RaftNode, entrySizeBytes } from '../../src/raft/index.ts';
import type { AppMessage, Message } from '../../src/raft/index.ts';
import { Cluster, SeqRandom, makeEntry } from './harness.ts';
import type { NodeOptions } from './harness.ts';

const appTo =
  (id: number) =>
  (m: Message): m is AppMessage =>
    m.type === 'app' && m.to === id;

function laggingFollowerCluster(n: number, config: NodeOptions = {}): Cluster {
  const c = new Cluster({ voters: [1, 2, 3], config });
  // 100-byte entries (24 bytes of header + 76 of payload), so byte limits are easy to reason about.
  const payload = (): string => 'p'.repeat(76);
  const terms = Array<number>(n).fill(1);
  c.setLog(1, terms, { term: 1, commit: n, payload });
  c.setLog(2, terms, { term: 1, commit: n, payload });
  c.setLog(3, [1], { term: 1, commit: 1, payload });
  return c;
}

test('batching: an append carries at most maxEntriesPerMsg entries', () => {
  const c = laggingFollowerCluster(30, { maxEntriesPerMsg: 4 });
  c.elect(1);
  c.tickAndDeliver(2);
  const apps = c.sentWhere(appTo(3)) as AppMessage[];
  const sizes = apps.map((m) => m.entries.length);
  assert.ok(Math.max(...sizes) === 4, `batches ${sizes.join(',')}`);
  assert.ok(sizes.filter((s) => s === 4).length >= 7, 'the 30 missing entries travel in full batches');
  assert.equal(c.raft(3).status().lastIndex, 31);
  assert.equal(c.raft(3).status().commit, 31);
});

test('batching: an append carries at most maxBytesPerMsg bytes, but always at least one entry', () => {
  const c = laggingFollowerCluster(20, { maxBytesPerMsg: 250 });
  c.elect(1);
  c.tickAndDeliver(2);
  const apps = c.sentWhere(appTo(3)) as AppMessage[];
  let full = 0;
  for (const m of apps) {
    const bytes = m.entries.reduce((a, e) => a + entrySizeBytes(e), 0);
    assert.ok(m.entries.length <= 1 || bytes <= 250, `${m.entries.length} entries, ${bytes} bytes`);
    if (m.entries.length === 2) full++;
  }
  assert.ok(full >= 9, 'pairs of 100-byte entries fill 250 bytes');
  assert.equal(c.raft(3).status().lastIndex, 21);

  // A single entry above the limit still goes, alone.
  const big = new Cluster({ voters: [1, 2, 3], config: { maxBytesPerMsg: 50 } });
  big.elect(1);
  big.tickAndDeliver(1);
  big.propose(1, 'x'.repeat(200));
  big.propose(1, 'y'.repeat(200));
  big.deliverAll();
  const bigApps = big.sentWhere((m) => m.type === 'app' && m.entries.length > 0 && m.entries[0]!.index >= 2) as AppMessage[];
  assert.ok(bigApps.length >= 4);
  for (const m of bigApps) assert.equal(m.entries.length, 1);
  assert.deepEqual(big.appliedData(3), ['x'.repeat(200), 'y'.repeat(200)]);
});

test('pipelining: at most maxInflightMsgs appends are in flight to a follower in replicate state', () => {
  const c = new Cluster({ voters: [1, 2, 3], config: { maxInflightMsgs: 3 } });
  c.elect(1);
  c.tickAndDeliver(1);
  assert.equal(c.raft(1).status().progress.get(3)!.state, 'replicate');
  const before = c.sentWhere(appTo(3)).length;
  // Node 3 receives but its answers are held back.
  for (let i = 0; i < 10; i++) {
    c.propose(1, `v${i}`);
    c.deliverAll((m) => m.from !== 3);
  }
  const sent = c.sentWhere(appTo(3)).slice(before) as AppMessage[];
  assert.equal(sent.filter((m) => m.entries.length > 0).length, 3, 'three unacknowledged appends, then the window is full');
  assert.equal(c.raft(3).status().lastIndex, 4);
  const acked = c.inbox.filter((m) => m.from === 3 && m.type === 'appResp').map((m) => (m.type === 'appResp' ? m.index : 0));
  assert.equal(Math.max(...acked), 4);
  // The acknowledgements open the window again; everything arrives.
  c.deliverAll();
  c.tickAndDeliver(1);
  assert.equal(c.raft(3).status().lastIndex, 11);
  assert.equal(c.appliedData(3).length, 10);
});

test('pipelining: maxInflightBytes bounds the bytes in flight', () => {
  const c = new Cluster({ voters: [1, 2, 3], config: { maxInflightBytes: 300 } });
  c.elect(1);
  c.tickAndDeliver(1);
  const before = c.sentWhere(appTo(3)).length;
  for (let i = 0; i < 10; i++) {
    c.propose(1, 'z'.repeat(76));
    c.deliverAll((m) => m.from !== 3);
  }
  const sent = c.sentWhere(appTo(3)).slice(before) as AppMessage[];
  assert.equal(sent.filter((m) => m.entries.length > 0).length, 3, 'three 100-byte appends reach the 300-byte bound');
  c.deliverAll();
  c.tickAndDeliver(1);
  assert.equal(c.appliedData(3).length, 10);
});

test('probe state: one append at a time until the follower answers, then replicate', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.raft(1).campaign();
  c.deliverAll((m) => m.type !== 'app' || m.to !== 3);
  assert.equal(c.raft(1).status().role, 'leader');
  assert.equal(c.raft(1).status().progress.get(3)!.state, 'probe');
  for (let i = 0; i < 5; i++) c.propose(1, `v${i}`);
  c.deliverAll((m) => m.to !== 3);
  const toThree = c.inbox.filter(appTo(3));
  assert.equal(toThree.length, 1, 'only the first probe is out');
  assert.equal(c.raft(1).status().progress.get(2)!.state, 'replicate');
  c.deliverAll();
  c.tickAndDeliver(1);
  assert.equal(c.raft(1).status().progress.get(3)!.state, 'replicate');
  assert.equal(c.appliedData(3).length, 5);
});

test('progress: a rejection sends a replicating follower back to probe, and it returns to replicate', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.tickAndDeliver(1);
  assert.equal(c.raft(1).status().progress.get(3)!.state, 'replicate');
  // The appends carrying 'a' (and its commit index) to node 3 are lost.
  c.propose(1, 'a');
  c.deliverAll((m) => !(m.type === 'app' && m.to === 3));
  assert.ok(c.dropPending((m) => m.type === 'app' && m.to === 3) >= 1);
  // The next append does not match node 3's log: it is rejected.
  c.propose(1, 'b');
  c.deliverAll((m) => m.type === 'app' && m.to === 3);
  const rejects = c.take((m) => m.type === 'appResp' && m.from === 3 && m.reject);
  assert.equal(rejects.length, 1);
  c.inject(rejects[0]!);
  const pr = c.raft(1).status().progress.get(3)!;
  assert.deepEqual([pr.state, pr.match, pr.next], ['probe', 1, 2]);
  c.deliverAll();
  c.tickAndDeliver(1);
  const after = c.raft(1).status().progress.get(3)!;
  assert.deepEqual([after.state, after.match], ['replicate', 3]);
  assert.deepEqual(c.appliedData(3), ['a', 'b']);
});

test('heartbeats carry min(match, commit)', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.tickAndDeliver(1);
  // Node 3 stops answering appends: its match stays at 1.
  c.dropIf = (m) => m.type === 'app' && m.to === 3;
  for (let i = 0; i < 4; i++) c.propose(1, `v${i}`);
  c.deliverAll();
  assert.equal(c.raft(1).status().commit, 5);
  c.take();
  c.tick(1);
  const hb = c.take((m) => m.type === 'heartbeat');
  const commitTo = (id: number): number => {
    const m = hb.find((x) => x.to === id);
    assert.ok(m !== undefined && m.type === 'heartbeat');
    return m.commit;
  };
  assert.equal(commitTo(2), 5);
  assert.equal(commitTo(3), 1, 'node 3 only holds index 1');
  c.dropIf = undefined;
});

test('uncommitted-bytes limit: proposals beyond maxUncommittedBytes are refused with ERR_PROPOSAL_DROPPED', () => {
  const c = new Cluster({ voters: [1, 2, 3], config: { maxUncommittedBytes: 100 } });
  c.elect(1);
  c.tickAndDeliver(1);
  const p = (n: number) => c.propose(1, 'q'.repeat(n));
  // Nothing is delivered for now: the proposals stay uncommitted.
  assert.equal(p(60).ok, true);
  assert.equal(p(40).ok, true, 'exactly at the limit');
  const r = p(1);
  assert.deepEqual(r, { ok: false, code: 'ERR_PROPOSAL_DROPPED', leaderHint: 0 });
  c.deliverAll();
  c.tickAndDeliver(2);
  assert.equal(c.appliedData(1).length, 2);
  assert.equal(p(90).ok, true, 'accepted again once applied');
  // A single proposal larger than the limit is admitted when nothing is outstanding.
  c.deliverAll();
  c.tickAndDeliver(1);
  assert.equal(p(500).ok, true);
  assert.equal(p(1).ok, false);
});

test('maxCommittedBytesPerReady bounds the committed entries handed out in one Ready', () => {
  const st = new MemoryStorage({ voters: [1], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false });
  st.append(Array.from({ length: 10 }, (_, i) => makeEntry(1, i + 1, 'c'.repeat(76))));
  st.setHardState({ term: 1, vote: 1, commit: 10 });
  const n = new RaftNode({ id: 1, storage: st, random: new SeqRandom(1), maxCommittedBytesPerReady: 250 });
  const got: number[][] = [];
  while (n.hasReady()) {
    const rd = n.ready();
    got.push(rd.committedEntries.map((e) => e.index));
    n.advance(rd);
  }
  assert.deepEqual(got, [
    [1, 2],
    [3, 4],
    [5, 6],
    [7, 8],
    [9, 10],
  ]);
  assert.equal(n.status().applied, 10);
});
