import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MemoryStorage } from '../../src/raft/index.ts';
import type { Snapshot } from '../../src/raft/index.ts';
import { CONF, ent, ents, image, memoryHarness, realHarness, simHarness } from './helpers.ts';
import type { Harness, Store } from './helpers.ts';

const harnesses: Harness[] = [memoryHarness(), simHarness(), realHarness()];
after(async () => {
  for (const h of harnesses) await h.cleanup();
});

for (const h of harnesses) {
  describe(`LogStorage conformance: ${h.name}`, () => {
    const withStore = async (fn: (s: Store) => Promise<Store | void>): Promise<void> => {
      const s = await h.fresh();
      const last = (await fn(s)) ?? s;
      await last.close();
    };

    test('a fresh store is empty with the initial configuration', () =>
      withStore(async (s) => {
        assert.equal(s.firstIndex(), 1);
        assert.equal(s.lastIndex(), 0);
        assert.equal(s.term(0), 0);
        assert.equal(s.term(1), undefined);
        assert.deepEqual(s.initialState(), { hardState: { term: 0, vote: 0, commit: 0 }, confState: CONF });
        assert.equal(s.snapshot().metadata.index, 0);
        s = await h.reopen(s);
        assert.deepEqual(s.initialState().confState, CONF);
        assert.equal(s.lastIndex(), 0);
        return s;
      }));

    test('append, then read entries and terms at the edges', () =>
      withStore(async (s) => {
        await s.append(ents(1, 10, 1));
        await s.append(ents(11, 20, 2));
        assert.equal(s.firstIndex(), 1);
        assert.equal(s.lastIndex(), 20);
        assert.equal(s.term(0), 0);
        assert.equal(s.term(10), 1);
        assert.equal(s.term(11), 2);
        assert.equal(s.term(20), 2);
        assert.equal(s.term(21), undefined);
        assert.deepEqual(s.entries(1, 21, Infinity), ents(1, 20, 1).slice(0, 10).concat(ents(11, 20, 2)));
        assert.equal(s.entries(5, 6, 0).length, 1, 'at least one entry even over the byte limit');
        const some = s.entries(1, 21, 150);
        assert.ok(some.length >= 1 && some.length < 20);
        assert.throws(() => s.entries(0, 3, Infinity));
        assert.throws(() => s.entries(1, 22, Infinity));
        s = await h.reopen(s);
        assert.deepEqual(s.entries(1, 21, Infinity), ents(1, 10, 1).concat(ents(11, 20, 2)));
        return s;
      }));

    test('an append overwrites the conflicting suffix', () =>
      withStore(async (s) => {
        await s.append(ents(1, 10, 1));
        await s.append(ents(6, 8, 2));
        assert.equal(s.lastIndex(), 8);
        assert.equal(s.term(5), 1);
        assert.equal(s.term(6), 2);
        assert.equal(s.term(9), undefined);
        await s.append(ents(3, 3, 3));
        assert.equal(s.lastIndex(), 3);
        await s.append(ents(4, 6, 3));
        s = await h.reopen(s);
        assert.equal(s.lastIndex(), 6);
        assert.deepEqual(s.entries(1, 7, Infinity), ents(1, 2, 1).concat(ents(3, 6, 3)));
        return s;
      }));

    test('an append that would leave a hole is refused', () =>
      withStore(async (s) => {
        await s.append(ents(1, 3, 1));
        await assert.rejects(async () => s.append(ents(5, 6, 1)));
        assert.equal(s.lastIndex(), 3);
      }));

    test('hard state survives a reopen', () =>
      withStore(async (s) => {
        await s.append(ents(1, 3, 2));
        await s.setHardState({ term: 2, vote: 3, commit: 2 });
        await s.setHardState({ term: 3, vote: 1, commit: 3 });
        s = await h.reopen(s);
        assert.deepEqual(s.initialState().hardState, { term: 3, vote: 1, commit: 3 });
        return s;
      }));

    test('createSnapshot then compact: the prefix is gone, term(first - 1) is known', () =>
      withStore(async (s) => {
        await s.append(ents(1, 50, 1));
        await s.append(ents(51, 100, 2));
        const snap = await s.createSnapshot(60, CONF, new Uint8Array([9, 8, 7]));
        assert.deepEqual(snap.metadata, { index: 60, term: 2, confState: CONF });
        await s.compact(55);
        assert.equal(s.firstIndex(), 56);
        assert.equal(s.term(55), 2);
        assert.equal(s.term(54), undefined);
        assert.throws(() => s.entries(55, 60, Infinity));
        await s.compact(60);
        await s.append(ents(101, 120, 3));
        await s.compact(40); // already compacted: no effect
        s = await h.reopen(s);
        assert.equal(s.firstIndex(), 61);
        assert.equal(s.lastIndex(), 120);
        assert.equal(s.term(60), 2);
        assert.deepEqual(s.snapshot().data, new Uint8Array([9, 8, 7]));
        assert.deepEqual(s.entries(61, 121, Infinity), ents(61, 100, 2).concat(ents(101, 120, 3)));
        await s.append(ents(50, 70, 4)); // partly covered by the compaction
        assert.equal(s.firstIndex(), 61);
        assert.equal(s.lastIndex(), 70);
        assert.equal(s.term(61), 4);
        return s;
      }));

    test('compaction beyond the snapshot is refused', () =>
      withStore(async (s) => {
        await s.append(ents(1, 10, 1));
        await s.createSnapshot(5, CONF, new Uint8Array());
        await assert.rejects(async () => s.compact(6));
      }));

    test('applySnapshot replaces the whole log', () =>
      withStore(async (s) => {
        await s.append(ents(1, 30, 1));
        const snap: Snapshot = { metadata: { index: 25, term: 4, confState: { ...CONF, learners: [4] } }, data: new Uint8Array([1, 2]) };
        await s.applySnapshot(snap);
        assert.equal(s.firstIndex(), 26);
        assert.equal(s.lastIndex(), 25);
        assert.equal(s.term(25), 4);
        assert.equal(s.term(26), undefined);
        await s.append(ents(26, 30, 4));
        await s.applySnapshot({ ...snap, metadata: { ...snap.metadata, index: 20 } }); // older: ignored
        s = await h.reopen(s);
        assert.equal(s.firstIndex(), 26);
        assert.equal(s.lastIndex(), 30);
        assert.deepEqual(s.snapshot().metadata.confState.learners, [4]);
        assert.deepEqual(s.initialState().confState.learners, [4]);
        assert.deepEqual(s.entries(26, 31, Infinity), ents(26, 30, 4));
        return s;
      }));

    test('many entries over many segments, compacted in steps, survive reopens', () =>
      withStore(async (s) => {
        let term = 1;
        for (let i = 1; i <= 2000; i += 100) {
          await s.append(ents(i, i + 99, term));
          if (i % 500 === 1) term++;
        }
        for (const c of [300, 900, 1500]) {
          await s.createSnapshot(c, CONF, new Uint8Array([c & 0xff]));
          await s.compact(c);
          s = await h.reopen(s);
          assert.equal(s.firstIndex(), c + 1);
          assert.equal(s.lastIndex(), 2000);
          for (const e of s.entries(c + 1, 2001, Infinity)) assert.deepEqual(e, ent(e.index, e.term));
        }
        return s;
      }));
  });
}

// ------------------------------------------------------------------ model-based

type Cmd =
  | { k: 'append'; from: number; n: number; term: number }
  | { k: 'hs'; commit: number }
  | { k: 'snap'; back: number }
  | { k: 'compact'; back: number }
  | { k: 'install'; ahead: number }
  | { k: 'reopen' };

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('append' as const), from: fc.nat(20), n: fc.integer({ min: 1, max: 40 }), term: fc.nat(2) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('hs' as const), commit: fc.nat(30) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('snap' as const), back: fc.nat(30) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('compact' as const), back: fc.nat(30) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('install' as const), ahead: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('reopen' as const) }) },
);

test('FileLogStorage (SimFileIO, tiny segments) behaves like MemoryStorage under random operations and reopens', async () => {
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(cmdArb, { minLength: 1, maxLength: 60 }), async (cmds) => {
      const h = simHarness(++run, 4096);
      const m = new MemoryStorage(CONF);
      let s = await h.fresh();
      let term = 1;
      for (const c of cmds) {
        switch (c.k) {
          case 'append': {
            // Overwrite from somewhere in the last 20 entries, with a term at least the current one. Never at or below
            // the snapshot: a snapshot covers committed entries only, which Raft never overwrites.
            const from = Math.max(m.firstIndex(), m.snapshot().metadata.index + 1, m.lastIndex() + 1 - c.from);
            term += c.term;
            const es = ents(from, from + c.n - 1, term);
            m.append(es);
            await s.append(es);
            break;
          }
          case 'hs': {
            const hs = { term, vote: 1, commit: Math.max(0, m.lastIndex() - c.commit) };
            m.setHardState(hs);
            await s.setHardState(hs);
            break;
          }
          case 'snap': {
            const i = m.lastIndex() - c.back;
            if (i > m.snapshot().metadata.index && i >= m.firstIndex() - 1) {
              const data = new Uint8Array([i & 0xff, 1]);
              m.createSnapshot(i, CONF, data);
              await s.createSnapshot(i, CONF, data);
            }
            break;
          }
          case 'compact': {
            const i = Math.min(m.snapshot().metadata.index, m.lastIndex()) - c.back;
            if (i >= m.firstIndex()) {
              m.compact(i);
              await s.compact(i);
            }
            break;
          }
          case 'install': {
            const i = m.lastIndex() + c.ahead;
            if (i > m.snapshot().metadata.index) {
              term++;
              const snap: Snapshot = { metadata: { index: i, term, confState: CONF }, data: new Uint8Array([3, i & 0xff]) };
              m.applySnapshot(snap);
              await s.applySnapshot(snap);
            }
            break;
          }
          case 'reopen':
            s = await h.reopen(s);
            break;
        }
        assert.deepEqual(image(s), image(m), `after ${JSON.stringify(c)}`);
      }
      s = await h.reopen(s);
      assert.deepEqual(image(s), image(m), 'after the final reopen');
      await s.close();
    }),
    { numRuns: 120, seed: 42 },
  );
});
