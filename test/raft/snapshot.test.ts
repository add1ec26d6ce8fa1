import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message, NodeId, Snapshot, SnapshotMessage } from '../../src/raft/index.ts';
import { Cluster } from './harness.ts';

const isChunk = (m: Message): m is SnapshotMessage => m.type === 'snapshot';

function bytes(n: number, salt = 0): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + salt) % 251);
}

/** Snapshots the state machine of `id` at its applied index and compacts the log there. */
function compact(c: Cluster, id: NodeId, data: Uint8Array): Snapshot {
  const n = c.get(id);
  const s = n.node.status();
  const snap = n.storage.createSnapshot(s.applied, s.confState, data);
  n.storage.compact(s.applied);
  return snap;
}

/** A 3-node group where node 3 was cut off from the start and the leader compacted past it. */
function lagging(opts: { chunk?: number; window?: number; size?: number } = {}): { c: Cluster; snap: Snapshot } {
  const c = new Cluster({ voters: [1, 2, 3], config: { maxSnapshotChunkBytes: opts.chunk ?? 100, maxInflightSnapshotChunks: opts.window ?? 4 } });
  c.partition([1, 2], [3]);
  c.elect(1);
  for (let i = 0; i < 10; i++) c.propose(1, `v${i}`);
  c.deliverAll();
  c.tickAndDeliver(1);
  assert.equal(c.raft(1).status().applied, 11);
  const snap = compact(c, 1, bytes(opts.size ?? 1050));
  assert.equal(c.raft(1).status().firstIndex, 12);
  c.propose(1, 'after');
  c.deliverAll();
  return { c, snap };
}

test('log compaction: a lagging follower gets the snapshot in chunks of maxSnapshotChunkBytes, then the entries after it', () => {
  const { c, snap } = lagging();
  c.heal();
  c.tickAndDeliver(3);
  const chunks = c.sentWhere(isChunk) as SnapshotMessage[];
  assert.deepEqual(
    chunks.map((m) => m.offset),
    [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000],
    'each chunk sent once, in order',
  );
  for (const m of chunks) {
    assert.equal(m.to, 3);
    assert.equal(m.totalBytes, 1050);
    assert.equal(m.chunk.byteLength, m.offset === 1000 ? 50 : 100);
    assert.deepEqual(m.metadata, snap.metadata);
  }
  const n3 = c.get(3);
  assert.equal(n3.appliedSnapshotIndex, 11);
  assert.deepEqual(n3.storage.snapshot().data, snap.data);
  assert.deepEqual(n3.storage.snapshot().metadata, snap.metadata);
  assert.deepEqual(c.appliedData(3), ['after'], 'the entry after the snapshot is applied normally');
  assert.equal(c.raft(3).status().commit, 12);
  assert.equal(c.raft(1).status().progress.get(3)!.state, 'replicate');
});

test('log compaction: at most maxInflightSnapshotChunks chunks are unacknowledged, and the follower is in snapshot state meanwhile', () => {
  const { c } = lagging({ window: 3 });
  c.heal();
  let maxOut = 0;
  let sawSnapshotState = false;
  for (let i = 0; i < 40; i++) {
    c.tickAll();
    // Deliver one round at a time, looking at what is in flight in between.
    for (let r = 0; r < 50; r++) {
      c.processReadies();
      const out = c.inbox.filter(isChunk).length;
      maxOut = Math.max(maxOut, out);
      if (c.raft(1).status().progress.get(3)?.state === 'snapshot') sawSnapshotState = true;
      const batch = c.take();
      if (batch.length === 0) break;
      for (const m of batch) c.raft(m.to).step(m);
    }
    if (c.get(3).appliedSnapshotIndex > 0) break;
  }
  assert.equal(c.get(3).appliedSnapshotIndex, 11);
  assert.equal(maxOut, 3);
  assert.ok(sawSnapshotState);
});

test('log compaction: a lost chunk is resent from the last acknowledged offset, not from 0', () => {
  const { c, snap } = lagging();
  let dropped = false;
  c.dropIf = (m) => {
    if (!dropped && m.type === 'snapshot' && m.offset === 300) {
      dropped = true;
      return true;
    }
    return false;
  };
  c.heal();
  c.tickAndDeliver(6);
  assert.ok(dropped);
  const offsets = (c.sentWhere(isChunk) as SnapshotMessage[]).map((m) => m.offset);
  assert.equal(offsets.filter((o) => o === 0).length, 1, 'the transfer did not restart from 0');
  assert.equal(offsets.filter((o) => o < 300).length, 3, 'nothing before the gap was resent');
  assert.equal(offsets.filter((o) => o === 300).length, 2, 'the lost chunk was resent once');
  const firstResend = offsets.indexOf(300, offsets.indexOf(300) + 1);
  assert.ok(offsets.slice(firstResend).every((o) => o >= 300));
  const sentBytes = (c.sentWhere(isChunk) as SnapshotMessage[]).reduce((a, m) => a + m.chunk.byteLength, 0);
  assert.ok(sentBytes <= 1050 + 4 * 100, `at most one window resent (${sentBytes} bytes sent)`);
  assert.deepEqual(c.get(3).storage.snapshot().data, snap.data);
  assert.deepEqual(c.appliedData(3), ['after']);
});

test('log compaction: a transfer whose last chunks were lost resumes after two silent heartbeat intervals', () => {
  const { c, snap } = lagging();
  let dropped = 0;
  c.dropIf = (m) => {
    if (dropped < 1 && m.type === 'snapshot' && m.offset === 1000) {
      dropped++;
      return true;
    }
    return false;
  };
  c.heal();
  c.tickAndDeliver(2);
  assert.equal(dropped, 1);
  assert.equal(c.get(3).appliedSnapshotIndex, 0, 'the last chunk is missing');
  c.tickAndDeliver(3);
  assert.equal(c.get(3).appliedSnapshotIndex, 11);
  assert.deepEqual(c.get(3).storage.snapshot().data, snap.data);
  const offsets = (c.sentWhere(isChunk) as SnapshotMessage[]).map((m) => m.offset);
  assert.equal(offsets.filter((o) => o === 0).length, 1);
});

test('log compaction: a follower that restarts mid-transfer receives the snapshot again from 0', () => {
  const { c, snap } = lagging();
  let seen = 0;
  c.dropIf = (m) => m.type === 'snapshot' && ++seen > 5;
  c.heal();
  c.tickAndDeliver(1);
  assert.equal(c.get(3).appliedSnapshotIndex, 0);
  c.dropIf = undefined;
  c.get(3).restart();
  c.tickAndDeliver(6);
  assert.equal(c.get(3).appliedSnapshotIndex, 11);
  assert.deepEqual(c.get(3).storage.snapshot().data, snap.data);
  const offsets = (c.sentWhere(isChunk) as SnapshotMessage[]).map((m) => m.offset);
  assert.equal(offsets.filter((o) => o === 0).length, 2, 'started over after the restart');
  assert.deepEqual(c.appliedData(3), ['after']);
});

test('log compaction: a snapshot interrupted mid-transfer by a leader change is replaced by the new leader snapshot', () => {
  const { c } = lagging({ size: 1000 });
  // Node 2 compacted too, at a later point, with its own state.
  c.tickAndDeliver(1);
  c.propose(1, 'more');
  c.deliverAll();
  c.tickAndDeliver(1);
  const snap2 = compact(c, 2, bytes(730, 3));
  assert.ok(snap2.metadata.index > 11);
  c.heal();
  // Only the first three chunks of leader 1's snapshot reach node 3, then 1 crashes.
  let seen = 0;
  c.dropIf = (m) => m.type === 'snapshot' && m.from === 1 && ++seen > 3;
  c.tickAndDeliver(1);
  assert.ok(seen >= 3);
  assert.equal(c.get(3).appliedSnapshotIndex, 0);
  c.dropIf = undefined;
  c.isolate(1);
  c.tickUntil(() => c.raft(2).status().role === 'leader', 100, [2, 3]);
  c.tickAndDeliver(5);
  const n3 = c.get(3);
  assert.equal(n3.appliedSnapshotIndex, snap2.metadata.index);
  assert.deepEqual(n3.storage.snapshot().data, snap2.data, 'exactly the new leader snapshot, no mix of the two');
  const fromTwo = (c.sentWhere(isChunk) as SnapshotMessage[]).filter((m) => m.from === 2);
  assert.equal(fromTwo[0]!.offset, 0);
  c.propose(2, 'x');
  c.deliverAll();
  assert.deepEqual(c.appliedData(3).at(-1), 'x');
  assert.equal(c.raft(3).status().commit, c.raft(2).status().commit);
});

test('log compaction: the snapshot carries the membership, and a node restarted after installing it resumes from it', () => {
  const c = new Cluster({ voters: [1, 2, 3], config: { maxSnapshotChunkBytes: 64 } });
  c.addNode(4);
  c.partition([1, 2, 3], [4]);
  c.elect(1);
  c.tickAndDeliver(1);
  const r = c.raft(1).proposeConfChange({ changes: [{ op: 'addLearner', nodeId: 4 }] });
  assert.ok(r.ok);
  c.deliverAll();
  c.tickAndDeliver(2);
  c.propose(1, 'a');
  c.deliverAll();
  c.tickAndDeliver(1);
  const snap = compact(c, 1, bytes(200));
  assert.deepEqual(snap.metadata.confState.learners, [4]);
  c.heal();
  c.tickAndDeliver(12);
  const n4 = c.get(4);
  assert.equal(n4.appliedSnapshotIndex, snap.metadata.index);
  assert.deepEqual(c.raft(4).status().confState, snap.metadata.confState);
  n4.restart();
  c.processReadies();
  const s = c.raft(4).status();
  assert.deepEqual([s.firstIndex, s.applied, s.commit], [snap.metadata.index + 1, snap.metadata.index, snap.metadata.index]);
  assert.deepEqual(s.confState, snap.metadata.confState);
  c.propose(1, 'b');
  c.deliverAll();
  c.tickAndDeliver(1);
  assert.deepEqual(c.appliedData(4), ['b']);
});

test('log compaction: a follower whose log already holds the snapshot last entry just advances its commit index', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.setLog(3, [1, 1, 1, 1, 1], { term: 1, commit: 1 });
  const meta = { index: 4, term: 1, confState: c.conf };
  c.inject({ type: 'snapshot', from: 1, to: 3, term: 1, metadata: meta, totalBytes: 10, offset: 0, chunk: bytes(5) });
  const s = c.raft(3).status();
  assert.deepEqual([s.commit, s.lastIndex, s.firstIndex], [4, 5, 1], 'the log is kept');
  assert.equal(c.get(3).appliedSnapshotIndex, 0, 'no snapshot installed');
  const resp = c.take((m) => m.from === 3);
  assert.deepEqual(
    resp.map((m) => [m.type, m.type === 'appResp' ? m.index : -1]),
    [['appResp', 4]],
  );
});

test('log compaction: a snapshot older than the follower commit index is not installed', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.setLog(3, [1, 1, 1, 1, 1], { term: 1, commit: 5 });
  const meta = { index: 3, term: 1, confState: c.conf };
  c.inject({ type: 'snapshot', from: 1, to: 3, term: 1, metadata: meta, totalBytes: 5, offset: 0, chunk: bytes(5) });
  assert.equal(c.get(3).appliedSnapshotIndex, 0);
  assert.equal(c.raft(3).status().lastIndex, 5);
  const resp = c.take((m) => m.from === 3);
  assert.deepEqual(
    resp.map((m) => [m.type, m.type === 'appResp' ? m.index : -1]),
    [['appResp', 5]],
  );
});

test('log compaction: a follower asks again from its offset when a chunk arrives out of order', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  const meta = { index: 9, term: 2, confState: c.conf };
  const data = bytes(30);
  const chunk = (offset: number): SnapshotMessage => ({
    type: 'snapshot',
    from: 1,
    to: 3,
    term: 2,
    metadata: meta,
    totalBytes: 30,
    offset,
    chunk: data.subarray(offset, offset + 10),
  });
  const received = (): number[] =>
    c.take((m) => m.from === 3).map((m) => (m.type === 'snapshotResp' ? m.receivedBytes : m.type === 'appResp' ? -m.index : NaN));
  c.inject(chunk(10));
  assert.deepEqual(received(), [0], 'no transfer started: start from 0');
  c.inject(chunk(0));
  assert.deepEqual(received(), [10]);
  c.inject(chunk(20));
  assert.deepEqual(received(), [10], 'gap: ask for 10 again');
  c.inject(chunk(0));
  assert.deepEqual(received(), [10], 'duplicate: still 10');
  c.inject(chunk(10));
  c.inject(chunk(20));
  assert.deepEqual(received(), [20, -9], 'complete: acknowledged as an append of index 9');
  assert.equal(c.get(3).appliedSnapshotIndex, 9);
  assert.deepEqual(c.get(3).storage.snapshot().data, data);
  assert.equal(c.raft(3).status().term, 2);
});
