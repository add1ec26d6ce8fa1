import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { MetadataState, maxChunkIndex, noSession, type Command } from '../../src/master/index.ts';
import { SnapshotReader, restoreSnapshot } from '../../src/master/snapshot-reader.ts';
import {
  SnapshotError,
  inodeRecordBytes,
  metaItemBytes,
  snapshotBytes,
  snapshotFrameHeaderBytes,
  snapshotHeaderBytes,
  writeSnapshot,
  type SnapshotErrorReason,
} from '../../src/master/snapshot.ts';
import { Driver, historyArb, historyPrologue } from './helpers.ts';

// ---- random states built by random histories of every command kind ----

/**
 * After the shared prologue, file 7 ('k') is held by both sessions and unlinked with trash time 0:
 * sustained, until the sessions let go. Random histories reach a sustained file rarely otherwise.
 */
const sustainedPrologue: readonly Command[] = (() => {
  const h = { timeSec: 1_000, uid: 0, gids: [0], session: noSession } as const;
  return [
    { ...h, kind: 'create', parent: 1, name: 'k', mode: 0o644, umask: 0 },
    { ...h, kind: 'setTrashTime', inode: 7, trashTimeSec: 0 },
    { ...h, kind: 'acquire', sessionId: 1, inode: 7 },
    { ...h, kind: 'acquire', sessionId: 2, inode: 7 },
    { ...h, kind: 'unlink', parent: 1, name: 'k' },
  ];
})();

/** A history cut at a random point: the state is snapshotted there, the rest runs on after restore. */
const cutHistory = fc.record({
  commands: historyArb(80).map((h) => [...h.slice(0, historyPrologue.length), ...sustainedPrologue, ...h.slice(historyPrologue.length)]),
  cutAt: fc.nat(),
  rootTrashTimeSec: fc.constantFrom(0, 86_400),
});

function build(cmds: readonly Command[], rootTrashTimeSec: number, initialInodeCapacity = 1024): MetadataState {
  const s = new MetadataState({ inodeReuseDelaySec: 10, rootTrashTimeSec, initialInodeCapacity, rootTimeSec: 5 });
  cmds.forEach((c, i) => s.apply(c, { index: i + 1 }));
  return s;
}

function restored(bytes: Uint8Array, options = {}): MetadataState {
  const s = restoreSnapshot([bytes], options);
  assert.deepEqual(s.checkInvariants(), []);
  return s;
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

/** What a snapshotted state holds, so the tests can assert that the generator reaches every kind of state. */
function features(s: MetadataState): string[] {
  const st = s.statfs();
  const dump = s.dump();
  const out: string[] = [];
  if (st.chunks > 0) out.push('chunks');
  if (/ locked[1-9]/.test(dump)) out.push('locked chunk');
  if (st.trashFiles > 0) out.push('trash');
  if (st.sustainedFiles > 0) out.push('sustained');
  if (/ open[2-9]/.test(dump)) out.push('file held by two sessions');
  if (/^session .* open \[\d/m.test(dump)) out.push('session holding files');
  if (/^ {2}retry /m.test(dump)) out.push('retry window');
  if (/^freed \d/m.test(dump.split('\n')[1] ?? '')) out.push('freed inodes');
  if (/ g[13-9] /.test(dump)) out.push('goal set');
  if (/ tt(?!(?:86400|0)\b)\d+/.test(dump)) out.push('trash time set');
  if (st.symlinks > 0) out.push('symlink');
  if (st.otherNodes > 0) out.push('device or fifo');
  return out;
}

describe('snapshot: round trip and determinism', () => {
  test('restore(write(s)) has the same dump, sound invariants and the same bytes, and keeps applying like s', () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(cutHistory, ({ commands, cutAt, rootTrashTimeSec }) => {
        const cut = cutAt % (commands.length + 1);
        const s = build(commands.slice(0, cut), rootTrashTimeSec);
        const bytes = snapshotBytes(s, { chunkBytes: 8192 });
        const r = restored(bytes);
        assert.equal(r.dump(), s.dump());
        assert.equal(r.lastAppliedIndex, s.lastAppliedIndex);
        assert.deepEqual(r.statfs(), s.statfs());
        assert.ok(same(snapshotBytes(r, { chunkBytes: 8192 }), bytes));
        for (const f of features(s)) seen.set(f, (seen.get(f) ?? 0) + 1);
        // The restored state is a working replica: the rest of the history gives the same results.
        commands.slice(cut).forEach((c, i) => {
          const ctx = { index: cut + 1 + i };
          assert.deepEqual(r.apply(c, ctx), s.apply(c, ctx), `${c.kind} at ${ctx.index}`);
        });
        assert.equal(r.dump(), s.dump());
        assert.deepEqual(r.statfs(), s.statfs());
        assert.deepEqual(r.checkInvariants(), []);
      }),
      { seed: 31, numRuns: 300 },
    );
    for (const f of [
      'chunks', 'locked chunk', 'trash', 'sustained', 'file held by two sessions', 'session holding files', 'retry window',
      'freed inodes', 'goal set', 'trash time set', 'symlink', 'device or fifo',
    ]) {
      assert.ok((seen.get(f) ?? 0) >= 5, `snapshots with ${f}: ${seen.get(f) ?? 0}; seen ${JSON.stringify([...seen])}`);
    }
  });

  test('replicas with different layout histories write identical bytes', () => {
    fc.assert(
      fc.property(cutHistory, ({ commands, cutAt, rootTrashTimeSec }) => {
        const a = build(commands, rootTrashTimeSec, 1024);
        const b = build(commands, rootTrashTimeSec, 2);
        // c is restored from a snapshot in the middle of the sequence, then continues: compact pool,
        // other slots and table sizes, a trash heap without the entries of files that left the trash.
        const cut = cutAt % (commands.length + 1);
        const c0 = build(commands.slice(0, cut), rootTrashTimeSec, 2);
        const c = restored(snapshotBytes(c0, { chunkBytes: 8192 }), { initialInodeCapacity: 3 });
        commands.slice(cut).forEach((cmd, i) => c.apply(cmd, { index: cut + i + 1 }));
        const bytes = snapshotBytes(a);
        assert.ok(same(snapshotBytes(b), bytes), 'initial capacity does not show');
        assert.ok(same(snapshotBytes(c), bytes), 'a restore in the middle does not show');
        assert.equal(c.dump(), a.dump());
        assert.equal(b.dump(), a.dump());
      }),
      { seed: 32, numRuns: 200 },
    );
  });

  test('the restored state does not depend on the chunk size or on how the stream is split', () => {
    fc.assert(
      fc.property(cutHistory, fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 20 }), ({ commands, rootTrashTimeSec }, cuts) => {
        const s = build(commands, rootTrashTimeSec);
        const small = snapshotBytes(s, { chunkBytes: 8192 });
        const large = snapshotBytes(s, { chunkBytes: 1 << 20 });
        const r = new SnapshotReader();
        let off = 0;
        for (let k = 0; off < small.length; k++) {
          const n = cuts[k % cuts.length] ?? 1;
          r.push(small.subarray(off, off + n));
          off += n;
        }
        const fromPieces = r.finish();
        assert.equal(fromPieces.dump(), s.dump());
        assert.equal(restored(large).dump(), s.dump());
      }),
      { seed: 33, numRuns: 100 },
    );
  });

  test('a big state spans many bounded chunks, and every chunk respects chunkBytes', () => {
    const s = bigState();
    const chunks = [...writeSnapshot(s, { chunkBytes: 8192 })];
    assert.ok(chunks.length > 10, `${chunks.length} chunks`);
    for (const c of chunks) assert.ok(c.length <= 8192);
    const r = new SnapshotReader();
    for (const c of chunks) r.push(c);
    const back = r.finish();
    assert.equal(back.dump(), s.dump());
    assert.deepEqual(back.checkInvariants(), []);
    assert.throws(() => r.finish(), /already/);
  });

  test('chunkBytes is validated, and the state must not change while a snapshot is written', () => {
    const s = bigState();
    assert.throws(() => [...writeSnapshot(s, { chunkBytes: 100 })], RangeError);
    assert.throws(() => [...writeSnapshot(s, { chunkBytes: 2 ** 30 })], RangeError);
    const it = writeSnapshot(s, { chunkBytes: 8192 });
    it.next();
    it.next();
    s.apply({ kind: 'mkdir', parent: 1, name: 'late', mode: 0o755, umask: 0, timeSec: 1, uid: 0, gids: [0], session: noSession }, { index: s.lastAppliedIndex + 1 });
    assert.throws(() => it.next(), /does not change/);
  });
});

// ---- corruption ----

function sessionOpen(d: Driver, timeoutSec: number): number {
  const r = d.run({ kind: 'sessionOpen', rootInode: 1, flags: 3, timeoutSec });
  assert.ok(r.ok && r.sessionId !== undefined);
  return r.sessionId;
}

function writeChunk(d: Driver, inode: number, index: number, session = noSession): number {
  const r = d.run({ kind: 'writeChunk', inode, index, session });
  assert.ok(r.ok && r.chunk !== undefined, `writeChunk ${inode}/${index}`);
  return r.chunk.chunkId;
}

let big: MetadataState | undefined;
/**
 * Dirs, 2,000 files with non-ASCII names, symlinks, devices, hard links; goals; chunks, some
 * locked; two sessions holding files, one with a full retry window; unlinked files trashed,
 * sustained or freed (waiting for reuse).
 */
function bigState(): MetadataState {
  if (big !== undefined) return big;
  const d = new Driver({ inodeReuseDelaySec: 1_000_000 });
  const dirs = [1];
  for (let i = 0; i < 20; i++) dirs.push(d.mkdir(dirs[i % dirs.length] ?? 1, `dir-${i}`));
  const files: [number, string, number][] = [];
  for (let i = 0; i < 2000; i++) {
    const parent = dirs[i % dirs.length] ?? 1;
    const n = `f${i}-\u00e9\u{1F600}`;
    files.push([parent, n, d.create(parent, n)]);
  }
  d.ok({ kind: 'symlink', parent: 1, name: 'ln', target: 'dir-0/f0' });
  d.ok({ kind: 'mknod', parent: 1, name: 'tty', type: 'chardev', mode: 0o600, umask: 0, rdev: 0x0501 });
  d.ok({ kind: 'link', inode: d.create(1, 'orig'), parent: dirs[3] ?? 1, name: 'hard' });
  const s1 = sessionOpen(d, 3_600);
  const s2 = sessionOpen(d, 86_400);
  const inodeOf = (k: number): number => files[k]?.[2] ?? 0;
  for (let k = 0; k < 600; k++) {
    if (k % 10 === 0) d.ok({ kind: 'setTrashTime', inode: inodeOf(k), trashTimeSec: 0 });
    if (k % 7 === 0) d.ok({ kind: 'setGoal', inode: inodeOf(k), goal: 1 + (k % 9) });
  }
  // Chunks; the first 40 writes go through session 1, so its retry window is full; every other chunk is unlocked again.
  for (let k = 0; k < 400; k++) {
    const inode = inodeOf(k);
    const index = k % 3 === 2 ? 100_000 + k : k % 3;
    const id = writeChunk(d, inode, index, k < 40 ? { id: s1, seq: k + 1 } : noSession);
    if (k % 2 === 0) d.ok({ kind: 'writeChunkEnd', inode, index, chunkId: id, lengthBytes: 1_000 + k });
  }
  for (let k = 0; k < 50; k++) d.ok({ kind: 'acquire', sessionId: s1, inode: inodeOf(k) });
  for (let k = 25; k < 75; k++) d.ok({ kind: 'acquire', sessionId: s2, inode: inodeOf(k) });
  // Trash time 0 for k % 10 === 0: sustained when held (k < 75), else freed; the others go to the trash.
  for (let i = 0; i < 300; i++) {
    const [parent, n] = files[i * 5] ?? [1, ''];
    d.ok({ kind: 'unlink', parent, name: n });
  }
  const st = d.state.statfs();
  assert.ok(st.trashFiles > 200 && st.sustainedFiles > 5 && st.chunks > 300, JSON.stringify(st));
  big = d.state;
  return big;
}

/**
 * A small state with one of everything in the new sections, written in a single frame: chunks at
 * (a, 0), (a, 3), (b, 1); trashed files b (held by session 1) and e; sustained file c (held by
 * session 2 only); session 1 with results for seqs 1..5; a freed inode.
 */
function keptState(): MetadataState {
  const d = new Driver({ inodeReuseDelaySec: 1_000_000 });
  const s1 = sessionOpen(d, 600);
  const s2 = sessionOpen(d, 86_400);
  const [a, b, c] = [d.create(1, 'a'), d.create(1, 'b'), d.create(1, 'c')];
  d.create(1, 'e');
  d.ok({ kind: 'setTrashTime', inode: c, trashTimeSec: 0 });
  d.ok({ kind: 'setGoal', inode: a, goal: 5 });
  const id = writeChunk(d, a, 0, { id: s1, seq: 1 });
  writeChunk(d, a, 3, { id: s1, seq: 2 });
  d.ok({ kind: 'writeChunkEnd', inode: a, index: 0, chunkId: id, lengthBytes: 10, session: { id: s1, seq: 3 } });
  writeChunk(d, b, 1);
  d.ok({ kind: 'acquire', sessionId: s2, inode: c, session: { id: s1, seq: 4 } });
  d.ok({ kind: 'acquire', sessionId: s1, inode: b, session: { id: s1, seq: 5 } });
  for (const n of ['b', 'c', 'e']) d.ok({ kind: 'unlink', parent: 1, name: n });
  const f = d.create(1, 'f');
  d.ok({ kind: 'setTrashTime', inode: f, trashTimeSec: 0 });
  d.ok({ kind: 'unlink', parent: 1, name: 'f' });
  const st = d.state.statfs();
  assert.deepEqual([st.chunks, st.trashFiles, st.sustainedFiles], [3, 2, 1]);
  return d.state;
}

function reject(bytes: Uint8Array | readonly Uint8Array[], reason?: SnapshotErrorReason): SnapshotError {
  const r = new SnapshotReader();
  let err: unknown;
  try {
    for (const b of bytes instanceof Uint8Array ? [bytes] : bytes) r.push(b);
    r.finish();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof SnapshotError, `expected a SnapshotError, got ${String(err)}`);
  assert.equal(err.code, 'ERR_BAD_SNAPSHOT');
  if (reason !== undefined) assert.equal(err.reason, reason, err.message);
  // A failed reader stays failed.
  assert.throws(() => r.push(new Uint8Array(1)), SnapshotError);
  assert.throws(() => r.finish(), SnapshotError);
  return err;
}

interface Frames {
  header: Uint8Array;
  frames: { magic: number; sequence: number; payload: Uint8Array }[];
}

function splitFrames(bytes: Uint8Array): Frames {
  const header = bytes.slice(0, snapshotHeaderBytes);
  const frames: Frames['frames'] = [];
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let p = snapshotHeaderBytes; p < bytes.length; ) {
    const len = v.getUint32(p + 8, true);
    frames.push({ magic: v.getUint32(p, true), sequence: v.getUint32(p + 4, true), payload: bytes.slice(p + 16, p + 16 + len) });
    p += 16 + len;
  }
  return { header, frames };
}

/** Reassembles frames with correct checksums: for edits that only the semantic checks can catch. */
function joinFrames(f: Frames): Uint8Array {
  const seed = crc32(f.header.subarray(0, 24));
  const parts: Uint8Array[] = [f.header];
  for (const fr of f.frames) {
    const h = new Uint8Array(snapshotFrameHeaderBytes);
    const v = new DataView(h.buffer);
    v.setUint32(0, fr.magic, true);
    v.setUint32(4, fr.sequence, true);
    v.setUint32(8, fr.payload.length, true);
    v.setUint32(12, crc32(fr.payload, crc32(h.subarray(0, 12), seed)), true);
    parts.push(h, fr.payload);
  }
  return Buffer.concat(parts);
}

function edited(edit: (first: DataView, f: Frames) => void): Uint8Array {
  const f = splitFrames(snapshotBytes(bigState(), { chunkBytes: 8192 }));
  const first = f.frames[0];
  assert.ok(first !== undefined);
  edit(new DataView(first.payload.buffer, first.payload.byteOffset, first.payload.byteLength), f);
  return joinFrames(f);
}

// Offsets in the first frame's payload: meta section (12 + 96 bytes), inodes section header (12), then the root's record.
const meta = 12;
const rootRecord = 12 + metaItemBytes + 12;

/**
 * The offset of the first item of section `id` (with `count` items) in a payload; the section
 * header must occur exactly once.
 */
function sectionAt(payload: Uint8Array, id: number, count: number): number {
  const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const found: number[] = [];
  for (let p = 0; p + 12 <= payload.length; p++) {
    if (v.getUint16(p, true) === id && v.getUint16(p + 2, true) === 0 && v.getUint32(p + 4, true) === count && v.getUint32(p + 8, true) === 0) found.push(p + 12);
  }
  assert.equal(found.length, 1, `section ${id} with ${count} items found at ${found.join(', ')}`);
  return found[0] ?? 0;
}

/** keptState in one data frame, edited through `edit(view, payload, frames)`, with valid checksums. */
function keptEdit(edit: (v: DataView, payload: Uint8Array, f: Frames) => void): Uint8Array {
  const f = splitFrames(snapshotBytes(keptState(), { chunkBytes: 1 << 20 }));
  assert.equal(f.frames.length, 2, 'one data frame and the trailer');
  const p = f.frames[0]?.payload ?? new Uint8Array();
  edit(new DataView(p.buffer, p.byteOffset, p.byteLength), p, f);
  return joinFrames(f);
}

/** Cuts `n` bytes at `at` out of the single data frame, keeping the trailer's payload total right. */
function cut(f: Frames, at: number, n: number): void {
  const data = f.frames[0];
  const trailer = f.frames[1];
  assert.ok(data !== undefined && trailer !== undefined);
  data.payload = Buffer.concat([data.payload.subarray(0, at), data.payload.subarray(at + n)]);
  const tv = new DataView(trailer.payload.buffer, trailer.payload.byteOffset);
  tv.setUint32(8, tv.getUint32(8, true) - n, true);
}

describe('snapshot: corruption is refused with ERR_BAD_SNAPSHOT', () => {
  const good = (): Uint8Array => snapshotBytes(bigState(), { chunkBytes: 8192 });

  test('the untouched stream and its reassembly restore (so the edits below are what fails)', () => {
    assert.equal(restored(good()).dump(), bigState().dump());
    assert.ok(same(joinFrames(splitFrames(good())), good()));
  });

  test('stream header: magic, version, checksum, chunk size', () => {
    const b = good();
    b[0] = (b[0] ?? 0) ^ 0x01;
    reject(b, 'magic');
    const v2 = good();
    new DataView(v2.buffer, v2.byteOffset).setUint32(8, 2, true);
    reject(v2, 'version');
    const crc = good();
    crc[25] = (crc[25] ?? 0) ^ 0x40;
    reject(crc, 'checksum');
    const chunk = good();
    const cv = new DataView(chunk.buffer, chunk.byteOffset);
    cv.setUint32(12, 1 << 30, true);
    cv.setUint32(24, crc32(chunk.subarray(0, 24)), true);
    reject(chunk, 'range');
  });

  test('a flipped bit anywhere is caught by a checksum (sampled over every frame)', () => {
    const b = good();
    for (let p = snapshotHeaderBytes; p < b.length; p += 61) {
      const c = b.slice();
      c[p] = (c[p] ?? 0) ^ (1 << p % 8);
      const err = reject(c);
      assert.ok(['checksum', 'magic', 'range'].includes(err.reason), `byte ${p}: ${err.message}`);
    }
  });

  test('truncation at any frame boundary or inside a frame, trailing bytes, reordered, dropped or foreign frames', () => {
    const b = good();
    const f = splitFrames(b);
    for (let end = snapshotHeaderBytes, k = 0; k < f.frames.length; k++) {
      reject(b.subarray(0, end), 'truncated');
      reject(b.subarray(0, end + 7), 'truncated');
      end += 16 + (f.frames[k]?.payload.length ?? 0);
    }
    reject(b.subarray(0, 5), 'truncated');
    reject(new Uint8Array(0), 'truncated');
    reject([b, new Uint8Array([0])], 'trailing');
    const swapped = splitFrames(b);
    const [x, y] = [swapped.frames[1], swapped.frames[2]];
    assert.ok(x !== undefined && y !== undefined);
    swapped.frames[1] = y;
    swapped.frames[2] = x;
    reject(joinFrames(swapped), 'sequence');
    const dropped = splitFrames(b);
    dropped.frames.splice(2, 1);
    reject(joinFrames(dropped), 'sequence');
    // Frames of another snapshot (another applied index, hence another header seed) in place of ours.
    const d = new Driver();
    d.mkdir(1, 'other');
    const other = splitFrames(snapshotBytes(d.state, { chunkBytes: 8192 }));
    const mixed = Buffer.concat([b.subarray(0, snapshotHeaderBytes), joinFrames(other).subarray(snapshotHeaderBytes)]);
    reject(mixed, 'checksum');
  });

  test('out-of-range values and broken structure behind valid checksums', () => {
    reject(edited((v) => v.setUint8(rootRecord + inodeRecordBytes + 4, 9)), 'range'); // inode type
    reject(edited((v) => v.setUint16(rootRecord + inodeRecordBytes + 5, 0o17777, true)), 'range'); // mode
    reject(edited((v) => v.setUint32(rootRecord + 39, 0, true)), 'namespace'); // root's parent
    reject(edited((v) => v.setUint32(rootRecord + inodeRecordBytes, 1, true)), 'order'); // second inode numbered 1
    reject(edited((v) => v.setUint32(rootRecord + 27, 99, true)), 'namespace'); // root nlink
    reject(edited((v) => v.setUint8(rootRecord + 43, 0)), 'range'); // root goal
    reject(edited((v) => v.setUint8(rootRecord + 43, 10)), 'range');
    reject(edited((v) => v.setUint32(rootRecord + inodeRecordBytes + 27, 0, true)), 'range'); // a directory with nlink 0
    reject(edited((v) => v.setUint32(meta + 8, 5, true)), 'count'); // nextInode below the inodes
    reject(edited((v) => v.setUint32(meta + 52, 0x20_0000, true)), 'range'); // a u64 of 2^53 or more
    reject(edited((v) => v.setUint16(0, 2, true)), 'structure'); // first section is not meta
    reject(
      edited((_, f) => {
        const t = f.frames[f.frames.length - 1];
        assert.ok(t !== undefined);
        new DataView(t.payload.buffer, t.payload.byteOffset).setUint32(16, 1, true); // trailer inode total
      }),
      'count',
    );
  });

  test('entries: bad names, order, dangling children, and a corrupt free FIFO', () => {
    // Find the entries section in the logical stream and edit its first entries.
    const findEntries = (f: Frames): { frame: Uint8Array; at: number } => {
      for (const fr of f.frames) {
        const v = new DataView(fr.payload.buffer, fr.payload.byteOffset, fr.payload.byteLength);
        for (let p = 0; p + 12 <= fr.payload.length; p++) {
          // The section header: id 3, zero, 21 directories with entries (root and dir-0..19), then directory 1.
          if (v.getUint32(p, true) === 3 && v.getUint32(p + 4, true) === 21 && v.getUint32(p + 8, true) === 0 && v.getUint32(p + 12, true) === 1) {
            return { frame: fr.payload, at: p + 12 + 8 };
          }
        }
      }
      assert.fail('entries section not found');
    };
    const entryEdit = (edit: (payload: Uint8Array, entry: number) => void): Uint8Array =>
      edited((_, f) => {
        const { frame, at } = findEntries(f);
        edit(frame, at);
      });
    reject(entryEdit((b, e) => void (b[e + 5] = 0x2f)), 'range'); // '/' in a name
    reject(entryEdit((b, e) => void (b[e + 5] = 0xff)), 'range'); // not UTF-8
    reject(entryEdit((b, e) => void (b[e + 4] = 0)), 'range'); // empty name, then garbage
    reject(entryEdit((b, e) => new DataView(b.buffer, b.byteOffset).setUint32(e, 60_000, true)), 'namespace'); // names a free inode
    reject(
      entryEdit((b, e) => {
        // The second name of the root now starts with a space, which sorts before the first name.
        const second = e + 5 + (b[e + 4] ?? 0);
        b[second + 5] = 0x20;
      }),
      'order',
    );
    // The free FIFO: a live inode in it, and its first inode duplicated into its second slot.
    const fifoEdit = (edit: (v: DataView, first: number) => void): Uint8Array =>
      edited((_, f) => {
        const freed = (bigState().dump().split('\n')[1] ?? '').split(' ').length - 1;
        const hits = f.frames.filter((fr) => {
          try {
            sectionAt(fr.payload, 4, freed);
            return true;
          } catch {
            return false;
          }
        });
        const fr = hits[0];
        assert.ok(hits.length === 1 && fr !== undefined);
        const at = sectionAt(fr.payload, 4, freed);
        assert.ok(at + 16 <= fr.payload.length, 'the first two freed records share a frame');
        edit(new DataView(fr.payload.buffer, fr.payload.byteOffset, fr.payload.byteLength), at);
      });
    reject(fifoEdit((v, at) => v.setUint32(at + 8, v.getUint32(at, true), true)), 'namespace');
    reject(fifoEdit((v, at) => v.setUint32(at, 3, true)), 'namespace');
  });

  test('chunks: holder, order, ranges, duplicates and counts', () => {
    const chunkEdit = (edit: (v: DataView, at: number) => void): Uint8Array => keptEdit((v, p) => edit(v, sectionAt(p, 5, 3)));
    const second = 24;
    reject(chunkEdit((v, at) => v.setUint32(at, 1, true)), 'namespace'); // held by the root directory
    reject(chunkEdit((v, at) => v.setUint32(at, 60_000, true)), 'namespace'); // held by an inode past nextInode
    reject(chunkEdit((v, at) => v.setUint32(at + 4, maxChunkIndex + 1, true)), 'range');
    reject(chunkEdit((v, at) => v.setUint32(at + 8, 0, true)), 'range'); // chunk id 0
    reject(chunkEdit((v, at) => v.setUint32(at + 8, 99, true)), 'range'); // id not below nextChunkId
    reject(chunkEdit((v, at) => v.setUint32(at + 16, 0, true)), 'range'); // version 0
    reject(chunkEdit((v, at) => v.setUint32(at + second + 8, v.getUint32(at + 8, true), true)), 'namespace'); // one id twice
    reject(chunkEdit((v, at) => v.setUint32(at + second + 4, 0, true)), 'order'); // (a, 0) twice
    reject(chunkEdit((v, at) => v.setUint32(at + second, 0, true)), 'order'); // inode 0 after a
    reject(chunkEdit((v, at) => v.setUint32(at - 8, 2, true)), 'count'); // section count below meta's
    reject(keptEdit((v) => v.setUint32(meta + 64, 4, true)), 'count'); // meta chunk count
    reject(keptEdit((v) => v.setUint32(meta + 56, 2, true)), 'count'); // last chunk id below the chunk count
    // Any lock time is valid: the restored chunk keeps it.
    const locked = restored(chunkEdit((v, at) => v.setUint32(at + 20, 123_456, true)));
    assert.match(locked.dump(), /locked123456/);
  });

  test('trash: live unnamed files only, names, order, and no nameless file left out', () => {
    const trashEdit = (edit: (v: DataView, at: number, p: Uint8Array, f: Frames) => void): Uint8Array =>
      keptEdit((v, p, f) => edit(v, sectionAt(p, 6, 2), p, f));
    const secondAt = (p: Uint8Array, at: number): number => at + 17 + (p[at + 16] ?? 0);
    reject(trashEdit((v, at) => v.setUint32(at, 2, true)), 'namespace'); // file a, which has a name
    reject(trashEdit((v, at) => v.setUint32(at, 1, true)), 'namespace'); // the root
    reject(trashEdit((v, at) => v.setUint32(at + 12, 0, true)), 'range'); // parent 0
    reject(trashEdit((v, at) => v.setUint32(at + 12, 60_000, true)), 'range'); // parent past nextInode
    reject(trashEdit((_, at, p) => void (p[at + 17] = 0x2f)), 'range'); // '/' in the name
    reject(trashEdit((_, at, p) => void (p[at + 17] = 0xff)), 'range'); // not UTF-8
    reject(trashEdit((v, at, p) => v.setUint32(secondAt(p, at), v.getUint32(at, true), true)), 'order');
    reject(trashEdit((v) => v.setUint32(meta + 72, 3, true)), 'count'); // meta trash count
    // Drop the entry of e (counts kept consistent): e has no name and nothing holds it.
    reject(
      trashEdit((v, at, p, f) => {
        const second = secondAt(p, at);
        const n = 17 + (p[second + 16] ?? 0);
        v.setUint32(at - 8, 1, true);
        v.setUint32(meta + 72, 1, true);
        cut(f, second, n);
      }),
      'namespace',
    );
    // Any expiry is valid, and the rebuilt expiry heap follows it.
    const bytes = trashEdit((v, at) => v.setUint32(at + 4, 7, true));
    const r = restored(bytes);
    const expire = { kind: 'expireTrash', maxCount: 10, timeSec: 8, uid: 0, gids: [0], session: noSession } as const;
    const res = r.apply(expire, { index: r.lastAppliedIndex + 1 });
    assert.ok(res.ok && res.count === 1, JSON.stringify(res));
  });

  test('sessions: ranges, held inodes, retry windows, and sustained files that lose their holder', () => {
    // Session 1: header, held inode b, results for seqs 1..5. Session 2: header, held inode c.
    const sessionEdit = (edit: (v: DataView, at: number, p: Uint8Array, f: Frames) => void): Uint8Array =>
      keptEdit((v, p, f) => edit(v, sectionAt(p, 7, 2), p, f));
    const firstRetry = 34 + 4;
    const secondSession = (v: DataView, at: number): number => {
      let p = at + 34 + 4;
      for (let k = 0; k < 5; k++) p += 10 + v.getUint16(p + 8, true);
      return p;
    };
    reject(sessionEdit((v, at) => v.setUint32(at, 9, true)), 'range'); // id past nextSessionId
    reject(sessionEdit((v, at) => v.setUint32(at + 4, 0, true)), 'range'); // root inode 0
    reject(sessionEdit((v, at) => v.setUint32(at + 9, 0, true)), 'range'); // timeout 0
    reject(sessionEdit((v, at) => v.setUint32(at + 9, 8 * 86_400, true)), 'range'); // timeout past the limit
    reject(sessionEdit((v, at) => v.setUint8(at + 33, 33)), 'count'); // more results than the window holds
    reject(sessionEdit((v, at) => v.setUint32(at + 21, 6, true)), 'range'); // highest seq 6 has no result
    reject(sessionEdit((v, at) => v.setUint32(at + 21, 40, true)), 'range'); // seqs 1..5 out of the window of 40
    reject(sessionEdit((v, at) => v.setUint32(at + 34, 1, true)), 'namespace'); // holds the root
    reject(sessionEdit((v, at) => v.setUint32(at + 34, 60_000, true)), 'namespace'); // holds an inode past nextInode
    reject(sessionEdit((v, at) => v.setUint32(at + firstRetry, 2, true)), 'order'); // seqs 2, 2
    reject(sessionEdit((v, at) => v.setUint32(at + firstRetry, 0, true)), 'range'); // seq 0
    reject(sessionEdit((_, at, p) => void (p[at + firstRetry + 10] = 2)), 'range'); // result format version 2
    reject(sessionEdit((v, at) => v.setUint16(at + firstRetry + 8, 0, true)), 'range'); // empty result
    reject(sessionEdit((v, at) => v.setUint32(secondSession(v, at), 1, true)), 'order'); // session ids 1, 1
    reject(sessionEdit((v) => v.setUint32(meta + 80, 1, true)), 'count'); // last session id below the count
    reject(sessionEdit((v) => v.setUint32(meta + 88, 1, true)), 'count'); // meta session count
    // Session 2 lets go of c (counts kept consistent): c, sustained, is then held by no one.
    reject(
      sessionEdit((v, at, _, f) => {
        const s2 = secondSession(v, at);
        v.setUint32(s2 + 29, 0, true);
        cut(f, s2 + 34, 4);
      }),
      'namespace',
    );
    // Flags and expiry are free: the restored session keeps them.
    const r = restored(sessionEdit((v, at) => v.setUint8(at + 8, 0x81)));
    assert.match(r.dump(), /^session 1 root 1 flags 129 /m);
  });

  test('the restored state rebuilds what is derived: sustained set, open counts, expiry heap, totals', () => {
    const s = keptState();
    const r = restored(snapshotBytes(s));
    assert.equal(r.dump(), s.dump());
    assert.deepEqual(r.statfs(), s.statfs());
    const h = { uid: 0, gids: [0], session: noSession } as const;
    const more: Command[] = [
      { ...h, kind: 'expireTrash', maxCount: 10, timeSec: 1_000 + 86_400 },
      { ...h, kind: 'expireSessions', maxCount: 10, timeSec: 1_000 + 86_400 * 2 },
      { ...h, kind: 'create', parent: 1, name: 'g', mode: 0o644, umask: 0, timeSec: 1_000 + 86_400 * 2 },
      { ...h, kind: 'writeChunk', inode: 2, index: 7, timeSec: 1_000 + 86_400 * 2 },
    ];
    more.forEach((c, i) => {
      const ctx = { index: s.lastAppliedIndex + 1 + i };
      const x = s.apply(c, ctx);
      assert.deepEqual(r.apply(c, ctx), x);
    });
    assert.equal(r.dump(), s.dump());
    const st = r.statfs();
    assert.deepEqual([st.trashFiles, st.sustainedFiles], [0, 0]);
    assert.deepEqual(r.checkInvariants(), []);
  });

  test('random payload edits behind valid checksums never crash and never yield an unsound state', () => {
    const f0 = splitFrames(good());
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), (frameAt, byteAt, xor) => {
        const f = splitFrames(good());
        const k = frameAt % (f0.frames.length - 1);
        const fr = f.frames[k];
        assert.ok(fr !== undefined);
        const p = byteAt % fr.payload.length;
        fr.payload[p] = (fr.payload[p] ?? 0) ^ xor;
        const r = new SnapshotReader();
        try {
          r.push(joinFrames(f));
          const s = r.finish();
          // Some edits give another valid state (a uid, a time): it must be sound.
          assert.deepEqual(s.checkInvariants(), []);
        } catch (e) {
          if (!(e instanceof SnapshotError)) throw e;
        }
      }),
      { numRuns: 1500 },
    );
  });
});
