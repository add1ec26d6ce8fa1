import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStorage } from '../../src/raft/index.ts';
import type { Snapshot } from '../../src/raft/index.ts';
import type { LogStorage } from '../../src/raft/index.ts';
import { FileLogStorage, SimFileIO, StorageError, seededRandom } from '../../src/storage/index.ts';
import { CONF, ent, ents, image, intact, quietLogger } from './helpers.ts';

async function openSim(sim: SimFileIO, segmentBytes = 4096, logs?: unknown[]) {
  const logger = logs === undefined ? quietLogger : (e: string, f: object) => void logs.push({ e, ...f });
  return FileLogStorage.open({ io: sim.view(), dir: '/data', segmentBytes, initialConfState: CONF, logger, random: seededRandom(99) });
}

const code = (c: string) => (e: unknown) => e instanceof StorageError && e.code === c;

test('group commit: appends queued during an fsync share the next one, and resolve in order', async () => {
  const io = new SimFileIO(seededRandom(1));
  const s = await openSim(io, 1 << 20);
  const before = s.stats().walSyncs;
  const order: number[] = [];
  const ps = [];
  for (let i = 1; i <= 100; i++) ps.push(s.append([ent(i, 1)]).then((m) => order.push(m.index)));
  ps.push(s.setHardState({ term: 1, vote: 1, commit: 100 }));
  await Promise.all(ps);
  assert.deepEqual(order, ents(1, 100, 1).map((e) => e.index));
  const st = s.stats();
  assert.ok(st.walSyncs - before <= 2, `${st.walSyncs - before} syncs for 100 appends`);
  assert.ok(st.maxEntriesPerSync >= 99);
});

test('entries become visible to readers only once durable', async () => {
  const io = new SimFileIO(seededRandom(1));
  const s = await openSim(io);
  const p = s.append(ents(1, 3, 1));
  assert.equal(s.lastIndex(), 0);
  const m = await p;
  assert.deepEqual(m, { index: 3, term: 1 });
  assert.equal(s.lastIndex(), 3);
});

test('persistReady makes snapshot, entries and hard state durable in Ready order', async () => {
  const io = new SimFileIO(seededRandom(1));
  const s = await openSim(io);
  await s.append(ents(1, 5, 1));
  const snap: Snapshot = { metadata: { index: 10, term: 2, confState: CONF }, data: new Uint8Array([5]) };
  const r = await s.persistReady({ snapshot: snap, entries: ents(11, 12, 2), hardState: { term: 2, vote: 0, commit: 10 } });
  assert.deepEqual(r, { entries: { index: 12, term: 2 }, snapshotIndex: 10 });
  await s.close();
  io.crash('clean');
  const t = await openSim(io);
  assert.equal(t.firstIndex(), 11);
  assert.equal(t.lastIndex(), 12);
  assert.deepEqual(t.hardState(), { term: 2, vote: 0, commit: 10 });
});

test('a snapshot whose install was cut short by a crash is completed at open', async () => {
  const io = new SimFileIO(seededRandom(2));
  const s = await openSim(io);
  await s.append(ents(1, 5, 1));
  const snap: Snapshot = { metadata: { index: 10, term: 2, confState: CONF }, data: new Uint8Array([5]) };
  // The Reset record's fdatasync fails after the snapshot file is durable: the process dies there.
  io.failNext({ op: 'fsync', code: 'EIO', pathSuffix: '.log' });
  await assert.rejects(s.applySnapshot(snap), code('ERR_FSYNC_FAILED'));
  io.crash('clean');
  const logs: unknown[] = [];
  const t = await openSim(io, 4096, logs);
  assert.equal(t.snapshot().metadata.index, 10);
  assert.equal(t.firstIndex(), 11);
  assert.equal(t.lastIndex(), 10);
  assert.ok(logs.some((l) => (l as { e: string }).e === 'storage_snapshot_install_completed'));
});

test('a failed fsync is fatal: every later write rejects with ERR_FSYNC_FAILED, reads go on, nothing durable is lost', async () => {
  const io = new SimFileIO(seededRandom(3));
  const s = await openSim(io);
  await s.append(ents(1, 10, 1));
  await s.setHardState({ term: 1, vote: 1, commit: 10 });
  io.failNext({ op: 'fsync', code: 'EIO' });
  const p1 = s.append(ents(11, 12, 1));
  const p2 = s.append(ents(13, 14, 1));
  await assert.rejects(p1, code('ERR_FSYNC_FAILED'));
  await assert.rejects(p2, code('ERR_FSYNC_FAILED'));
  await assert.rejects(s.setHardState({ term: 2, vote: 0, commit: 10 }), code('ERR_FSYNC_FAILED'));
  await assert.rejects(s.createSnapshot(5, CONF, new Uint8Array()), code('ERR_FSYNC_FAILED'));
  assert.equal(s.failed()?.code, 'ERR_FSYNC_FAILED');
  assert.equal(s.lastIndex(), 10, 'reads still served from what was durable');
  io.crash('random');
  const t = await openSim(io);
  assert.ok(t.lastIndex() >= 10);
  for (const e of t.entries(1, t.lastIndex() + 1, Infinity)) assert.ok(intact(e));
  assert.deepEqual(t.hardState(), { term: 1, vote: 1, commit: 10 });
});

test('ENOSPC rejects the append with ERR_NO_SPACE, leaves nothing behind, and the store goes on', async () => {
  for (let seed = 1; seed <= 20; seed++) {
    const io = new SimFileIO(seededRandom(seed));
    const s = await openSim(io, 1 << 20);
    await s.append(ents(1, 10, 1));
    io.failNext({ op: 'write', code: 'ENOSPC', pathSuffix: '.log' });
    await assert.rejects(s.append(ents(11, 60, 1)), code('ERR_NO_SPACE'));
    assert.equal(s.lastIndex(), 10);
    assert.equal(s.failed(), undefined);
    await assert.rejects(s.append(ents(61, 62, 1)), code('ERR_LOG_GAP'), 'a later append cannot skip the rejected one');
    await s.append(ents(11, 20, 1));
    io.crash('random');
    const t = await openSim(io, 1 << 20);
    assert.equal(t.lastIndex(), 20, 'no partial frame was left to be mistaken for corruption');
    for (const e of t.entries(1, 21, Infinity)) assert.ok(intact(e));
  }
});

test('after a refused append, a hard state queued behind it whose commit would pass the log is refused too', async () => {
  const io = new SimFileIO(seededRandom(5));
  const s = await openSim(io, 1 << 20);
  await s.persistReady({ snapshot: undefined, entries: ents(1, 2, 1), hardState: { term: 1, vote: 1, commit: 2 } });
  io.failNext({ op: 'write', code: 'ENOSPC', pathSuffix: '.log' });
  // Two Readies queued back to back: entries 3..4, then the hard state that commits them.
  const first = s.persistReady({ snapshot: undefined, entries: ents(3, 4, 1), hardState: undefined });
  const second = s.persistReady({ snapshot: undefined, entries: [], hardState: { term: 1, vote: 1, commit: 4 } });
  await assert.rejects(first, code('ERR_NO_SPACE'));
  await assert.rejects(second, code('ERR_LOG_GAP'));
  assert.equal(s.hardState().commit, 2);
  io.crash('clean');
  const t = await openSim(io, 1 << 20);
  assert.equal(t.lastIndex(), 2);
  assert.equal(t.hardState().commit, 2, 'the store reopens: its commit index never passed its log');
});

test('ENOSPC while creating a segment or writing a snapshot is recoverable too', async () => {
  const io = new SimFileIO(seededRandom(4));
  const s = await openSim(io, 4096);
  await s.append(ents(1, 60, 1)); // fills the first segment
  io.failNext({ op: 'write', code: 'ENOSPC', pathSuffix: '.log.tmp' });
  await assert.rejects(s.append(ents(61, 62, 1)), code('ERR_NO_SPACE'));
  await s.append(ents(61, 62, 1));
  io.failNext({ op: 'write', code: 'ENOSPC', pathSuffix: '.snap.tmp' });
  await assert.rejects(s.createSnapshot(50, CONF, new Uint8Array(3000)), code('ERR_NO_SPACE'));
  assert.equal(s.snapshot().metadata.index, 0);
  await s.createSnapshot(50, CONF, new Uint8Array(3000));
  await s.compact(50);
  io.crash('clean');
  const t = await openSim(io, 4096);
  assert.equal(t.firstIndex(), 51);
  assert.equal(t.lastIndex(), 62);
  assert.ok(!io.listAll().some((p) => p.endsWith('.tmp')));
});

// A random workload on the simulated disk, crashing at random moments (clean or torn). After each
// crash the recovered store must equal the model after some prefix of the issued writes that
// includes every write acknowledged before the crash.
test('random crashes on SimFileIO: the recovered store is the state after a prefix of the writes including every acknowledged one', async () => {
  for (let seed = 1; seed <= 40; seed++) {
    const rnd = seededRandom(seed * 1000);
    const io = new SimFileIO(seededRandom(seed));
    let s = await openSim(io, 2048);
    let model = new MemoryStorage(CONF);
    let term = 1;
    for (let round = 0; round < 5; round++) {
      // Issue a burst of writes without awaiting; crash after a random number of microtask turns.
      const states: unknown[] = [image(model)];
      let acked = 0;
      const ops: Promise<unknown>[] = [];
      const n = 1 + rnd.intBelow(12);
      for (let k = 0; k < n; k++) {
        const r = rnd.intBelow(10);
        let p: Promise<unknown>;
        if (r < 7) {
          const from = Math.max(model.firstIndex(), model.snapshot().metadata.index + 1, model.lastIndex() + 1 - rnd.intBelow(4));
          if (rnd.intBelow(4) === 0) term++;
          const es = ents(from, from + rnd.intBelow(30), term);
          model.append(es);
          p = s.append(es);
        } else if (r < 9) {
          const hs = { term, vote: 1 + rnd.intBelow(3), commit: model.lastIndex() };
          model.setHardState(hs);
          p = s.setHardState(hs);
        } else {
          const i = model.lastIndex() - rnd.intBelow(5);
          if (i <= model.snapshot().metadata.index || i < model.firstIndex()) continue;
          const d = new Uint8Array([i & 0xff]);
          model.createSnapshot(i, CONF, d);
          const ps = s.createSnapshot(i, CONF, d);
          states.push(image(model));
          const me = states.length - 1;
          ops.push(ps.then(() => (acked = Math.max(acked, me))));
          model.compact(i);
          p = s.compact(i);
        }
        states.push(image(model));
        const me = states.length - 1;
        ops.push(p.then(() => (acked = Math.max(acked, me))));
      }
      const turns = rnd.intBelow(40);
      for (let t = 0; t < turns; t++) await Promise.resolve();
      const ackedAtCrash = acked;
      io.crash('random');
      await Promise.allSettled(ops);
      s = await openSim(io, 2048);
      const got = JSON.stringify(image(s));
      const k = states.findIndex((st, i) => i >= ackedAtCrash && JSON.stringify(st) === got);
      assert.ok(k >= 0, `seed ${seed} round ${round}: recovered state matches no prefix ≥ ${ackedAtCrash}:\n${got}`);
      // Continue from what was recovered.
      model = rebuild(s);
      term = Math.max(term, s.term(s.lastIndex()) ?? 0, s.hardState().term);
    }
  }
});

/** A MemoryStorage holding what a store holds. */
function rebuild(s: LogStorage & { hardState(): { term: number; vote: number; commit: number } }): MemoryStorage {
  const m = new MemoryStorage(CONF);
  const f = s.firstIndex() - 1;
  const snap = s.snapshot();
  if (snap.metadata.index === f) {
    if (f > 0) m.applySnapshot(snap);
  } else if (f > 0) {
    m.applySnapshot({ metadata: { index: f, term: s.term(f)!, confState: CONF }, data: new Uint8Array() });
  }
  if (s.lastIndex() > f) m.append(s.entries(f + 1, s.lastIndex() + 1, Infinity));
  if (snap.metadata.index > f) m.createSnapshot(snap.metadata.index, snap.metadata.confState, snap.data);
  m.setHardState(s.hardState());
  return m;
}
