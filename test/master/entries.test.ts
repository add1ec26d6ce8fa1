import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { EntryTable } from '../../src/master/entries.ts';
import { compareNameBytes, decodeName, encodeName, maxEncodedBytes } from '../../src/master/namebytes.ts';
import { compareNames } from '../../src/master/store.ts';
import { Driver, root } from './helpers.ts';

const encode = (s: string): Uint8Array => {
  const out = new Uint8Array(maxEncodedBytes(s.length));
  return out.subarray(0, encodeName(s, out));
};

/** Strings that mix ASCII, BMP characters on both sides of the surrogate range, astral characters and lone surrogates. */
const unit = fc.oneof(
  fc.integer({ min: 0x20, max: 0x7e }),
  fc.integer({ min: 0x80, max: 0x7ff }),
  fc.integer({ min: 0xd800, max: 0xdfff }),
  fc.integer({ min: 0xe000, max: 0xffff }),
);
const anyString = fc.oneof(
  fc.array(unit, { maxLength: 12 }).map((u) => String.fromCharCode(...u)),
  fc.string({ unit: 'binary', maxLength: 12 }),
);
const sign = (x: number): number => (x < 0 ? -1 : x > 0 ? 1 : 0);

describe('name bytes (WTF-8)', () => {
  test('encoding is a bijection with the byte count of Buffer.byteLength, and plain UTF-8 for well-formed strings', () => {
    fc.assert(
      fc.property(anyString, (s) => {
        const b = encode(s);
        assert.equal(b.length, Buffer.byteLength(s));
        assert.equal(decodeName(b, 0, b.length), s);
        if (!/[\uD800-\uDFFF]/.test(s.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ''))) assert.deepEqual(Buffer.from(b), Buffer.from(s, 'utf8'));
      }),
      { numRuns: 3000 },
    );
  });

  test('byte order equals compareNames (UTF-16 code units), including astral and lone surrogates', () => {
    fc.assert(
      fc.property(anyString, anyString, (a, b) => {
        const x = encode(a);
        const y = encode(b);
        assert.equal(sign(compareNameBytes(x, 0, x.length, y, 0, y.length)), sign(compareNames(a, b)), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
      }),
      { numRuns: 5000 },
    );
    // The case where UTF-8 byte order and UTF-16 order disagree.
    const astral = encode('\u{1F600}');
    const bmp = encode('\uFF01');
    assert.ok(compareNameBytes(astral, 0, astral.length, bmp, 0, bmp.length) < 0);
    assert.ok(Buffer.compare(Buffer.from(astral), Buffer.from(bmp)) > 0);
  });

  test('decoding refuses bytes that are not canonical WTF-8, and accepts exactly what re-encodes to itself', () => {
    const bad = [
      [0x80],
      [0xc0, 0x80],
      [0xe0, 0x80, 0x80],
      [0xe4, 0xb8],
      [0xf5, 0x80, 0x80, 0x80],
      [0xf4, 0x90, 0x80, 0x80],
      [0xed, 0xa0, 0x80, 0xed, 0xb0, 0x80],
      [0x61, 0xff],
    ];
    for (const b of bad) assert.equal(decodeName(Uint8Array.from(b), 0, b.length), null, `refuses ${b.map((x) => x.toString(16))}`);
    assert.equal(decodeName(Uint8Array.from([0xed, 0xa0, 0x80]), 0, 3), '\ud800');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 8 }), (b) => {
        const s = decodeName(b, 0, b.length);
        if (s !== null) assert.deepEqual(encode(s), b);
      }),
      { numRuns: 5000 },
    );
  });
});

const dirs = [2, 3, 7, 1500];
const entryName = fc.oneof(
  fc.constantFrom('a', 'b', 'ab', 'x.txt', '\u00e9t\u00e9', '\u{1F600}', '\uFF01', 'ff'),
  fc.array(unit, { minLength: 1, maxLength: 6 }).map((u) => String.fromCharCode(...u).replace(/[/\0]/g, '_')),
);
const ops = fc.array(
  fc.oneof(
    { weight: 5, arbitrary: fc.record({ op: fc.constant('add' as const), dir: fc.constantFrom(...dirs), name: entryName, child: fc.integer({ min: 1, max: 1 << 20 }) }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('remove' as const), dir: fc.constantFrom(...dirs), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('list' as const), dir: fc.constantFrom(...dirs) }) },
  ),
  { maxLength: 120 },
);

describe('entry table', () => {
  test('matches a Map model under random adds, removes and listings, with the layout sound after every step', () => {
    fc.assert(
      fc.property(ops, (seq) => {
        // Tiny limits so that cached orders, their eviction and pool compaction all happen.
        const t = new EntryTable({ sortedCacheMinEntries: 2, sortedCacheMaxEntries: 6, minCompactGarbageBytes: 0 });
        const model = new Map<number, Map<string, number>>(dirs.map((d) => [d, new Map()]));
        for (const o of seq) {
          const m = model.get(o.dir) ?? new Map<string, number>();
          if (o.op === 'add') {
            if (m.has(o.name)) continue;
            t.add(o.dir, o.name, o.child);
            m.set(o.name, o.child);
          } else if (o.op === 'remove') {
            const names = [...m.keys()];
            const name = names[o.pick % Math.max(1, names.length)];
            if (name === undefined) continue;
            assert.equal(t.remove(o.dir, name), m.get(name));
            m.delete(name);
          } else {
            assert.deepEqual([...t.sorted(o.dir)].map((e) => t.name(e)), [...m.keys()].sort(compareNames));
          }
          assert.deepEqual(t.checkLayout((i) => model.has(i)), []);
        }
        for (const [d, m] of model) {
          assert.equal(t.isEmpty(d), m.size === 0);
          assert.equal(t.count(d), m.size);
          for (const [name, child] of m) assert.equal(t.lookup(d, name), child);
          assert.deepEqual([...t.sorted(d, false)].map((e) => [t.name(e), t.child(e)]), [...m.entries()].sort((a, b) => compareNames(a[0], b[0])));
        }
        assert.equal(t.lookup(2, 'never-added'), 0);
      }),
      { numRuns: 300 },
    );
  });

  test('50,000 entries: index growth, removal with backward shift, compaction giving the pool back', () => {
    const t = new EntryTable();
    const n = 50_000;
    const name = (i: number): string => `file-${(i * 7919) % n}-${'x'.repeat(i % 17)}`;
    for (let i = 0; i < n; i++) t.add(2 + (i % 3), name(i), 1000 + i);
    assert.deepEqual(t.checkLayout((i) => i >= 2 && i <= 4), []);
    const grownPool = t.pool.length;
    assert.ok(t.index.length >= n / 0.7 && t.liveEntries === n);
    for (let i = 0; i < n; i++) assert.equal(t.lookup(2 + (i % 3), name(i)), 1000 + i);
    // Remove all but 100, in an order unrelated to insertion; check every 10,000 removals.
    const order = Array.from({ length: n }, (_, i) => (i * 15_485_863) % n);
    for (let k = 0; k < n - 100; k++) {
      const i = order[k] ?? 0;
      assert.equal(t.remove(2 + (i % 3), name(i)), 1000 + i);
      if (k % 10_000 === 0) assert.deepEqual(t.checkLayout((d) => d >= 2 && d <= 4), []);
    }
    assert.deepEqual(t.checkLayout((i) => i >= 2 && i <= 4), []);
    assert.equal(t.liveEntries, 100);
    assert.ok(t.pool.length < grownPool / 4, `pool shrank from ${grownPool} to ${t.pool.length}`);
    for (let k = n - 100; k < n; k++) {
      const i = order[k] ?? 0;
      assert.equal(t.lookup(2 + (i % 3), name(i)), 1000 + i);
    }
    // Freed slots are reused before the table grows.
    const highWater = t.highWater;
    for (let i = 0; i < 1000; i++) t.add(9, `again-${i}`, 5);
    assert.equal(t.highWater, highWater);
    assert.deepEqual(t.checkLayout((i) => (i >= 2 && i <= 4) || i === 9), []);
  });

  test('checkLayout notices a corrupted index, list, hash and pool bookkeeping', () => {
    const build = (): EntryTable => {
      const t = new EntryTable();
      for (let i = 0; i < 50; i++) t.add(2, `n${i}`, 10 + i);
      return t;
    };
    const isDir = (i: number): boolean => i === 2;
    let t = build();
    const slot = t.index.findIndex((e) => e !== 0);
    t.index[slot] = 0;
    assert.ok(t.checkLayout(isDir).some((l) => l.includes('index')));
    t = build();
    t.prevInDir[t.next(t.first(2))] = 0;
    assert.ok(t.checkLayout(isDir).some((l) => l.includes('prev')));
    t = build();
    const first = t.first(2);
    t.hashOf[first] = (t.hashOf[first] ?? 0) ^ 1;
    assert.ok(t.checkLayout(isDir).some((l) => l.includes('hash')));
    t = build();
    t.garbageBytes += 1;
    assert.ok(t.checkLayout(isDir).some((l) => l.includes('pool')));
    t = build();
    t.nameOffset[t.first(2)] = t.nameOffset[t.next(t.first(2))] ?? 0;
    assert.ok(t.checkLayout(isDir).length > 0);
    t = build();
    assert.ok(t.checkLayout(() => false).some((l) => l.includes('not a directory')));
  });
});

describe('readdir over the flat layout', () => {
  test('a large directory pages in compareNames order and stays stable while it changes between pages', () => {
    const d = new Driver({ inodeReuseDelaySec: 0 });
    const dir = d.mkdir(1, 'big');
    const names: string[] = [];
    for (let i = 0; i < 1200; i++) names.push(`${i % 2 ? '\uFF01' : '\u{1F600}'}${(i * 37) % 1200}`, `plain-${i}`);
    for (const n of names) d.create(dir, n);
    const stable = new Set(names.filter((_, i) => i % 5 !== 0));
    const seen: string[] = [];
    let cursor: string | null = null;
    let step = 0;
    do {
      const page = d.state.readdir(dir, root, cursor, 37);
      if (!page.ok) assert.fail(page.code);
      seen.push(...page.entries.map((e) => e.name));
      cursor = page.cursor;
      // Change the directory between pages: remove a non-stable name, add a new one.
      const victim = names[(step * 5) % names.length];
      if (victim !== undefined && step * 5 < names.length) d.ok({ kind: 'unlink', parent: dir, name: victim });
      d.create(dir, `new-${step}`);
      step++;
    } while (cursor !== null);
    const sortedSeen = [...seen].sort(compareNames);
    assert.deepEqual(seen, sortedSeen, 'pages come in name order');
    assert.equal(new Set(seen).size, seen.length, 'no name twice');
    for (const n of stable) assert.ok(seen.includes(n), `stable ${n} listed`);
    assert.deepEqual(d.state.checkInvariants(), []);
  });
});
