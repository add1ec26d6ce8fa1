import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FileLogStorage, SimFileIO, StorageCorruptionError, seededRandom } from '../../src/storage/index.ts';
import {
  FRAME_HEADER_BYTES,
  RECORD_HEADER_BYTES,
  RecordKind,
  SEGMENT_FORMAT_VERSION,
  SEGMENT_HEADER_BYTES,
  SEGMENT_MAGIC,
  checkRecord,
  crc32,
  decodeSegmentHeader,
  encodeFrame,
  encodeSegmentHeader,
  frameCrc,
  parseFrame,
  recordSeed,
} from '../../src/storage/format.ts';
import type { Entry } from '../../src/raft/index.ts';
import { CONF, diskWith, quietLogger } from './helpers.ts';

const DIR = '/data';

/** An entry whose payload length does not depend on its index, so records can be swapped. */
function fixedEnt(index: number, term: number): Entry {
  const data = new Uint8Array(40);
  for (let i = 0; i < data.length; i++) data[i] = (index * 31 + term * 7 + i) & 0xff;
  return { index, term, type: 'normal', data };
}

interface FrameInfo {
  start: number;
  end: number;
  /** File offsets of its records. */
  records: number[];
  kinds: number[];
}

interface Segment {
  path: string;
  seed: number;
  frames: FrameInfo[];
}

function walk(path: string, buf: Uint8Array): Segment {
  const h = decodeSegmentHeader(buf);
  assert.ok(typeof h !== 'string', String(h));
  const frames: FrameInfo[] = [];
  for (let off = SEGMENT_HEADER_BYTES; off < buf.byteLength; ) {
    const r = parseFrame(buf, off, h.seed);
    assert.ok(r.ok, r.ok ? '' : r.reason);
    frames.push({ start: off, end: r.end, records: r.offsets, kinds: r.records.map((x) => x.kind) });
    off = r.end;
  }
  return { path, seed: h.seed, frames };
}

/**
 * A store on 4 KiB segments: single-entry appends (one frame each, all records the same size),
 * then one frame of several entries. Returns its durable files and the layout of its segments.
 */
async function build(): Promise<{ files: Map<string, Uint8Array>; segs: Segment[] }> {
  const io = new SimFileIO(seededRandom(11));
  const s = await FileLogStorage.open({ io, dir: DIR, segmentBytes: 4096, initialConfState: CONF, logger: quietLogger, random: seededRandom(12) });
  for (let i = 1; i <= 120; i++) await s.append([fixedEnt(i, 2)]);
  await s.append([121, 122, 123, 124, 125].map((i) => fixedEnt(i, 2)));
  await s.append([fixedEnt(126, 2)]);
  await s.close();
  const files = new Map<string, Uint8Array>();
  for (const p of io.listAll()) files.set(p, new Uint8Array(io.durableContent(p)!));
  const segs = [...files.keys()]
    .filter((p) => p.endsWith('.log'))
    .sort()
    .map((p) => walk(p, files.get(p)!));
  assert.ok(segs.length >= 3, 'several segments');
  return { files, segs };
}

type Outcome = { ok: true; last: number; logs: string[] } | { ok: false; err: StorageCorruptionError };

async function reopen(files: Map<string, Uint8Array>): Promise<Outcome> {
  const logs: string[] = [];
  try {
    const s = await FileLogStorage.open({ io: await diskWith(files, DIR, 1), dir: DIR, segmentBytes: 4096, logger: (e) => void logs.push(e), random: seededRandom(2) });
    return { ok: true, last: s.lastIndex(), logs };
  } catch (e) {
    if (e instanceof StorageCorruptionError) return { ok: false, err: e };
    throw e;
  }
}

/** Recomputes the frame checksum of the frame at `off`: what the frame would be had these bytes been written as one. */
function reseal(buf: Uint8Array, off: number, seed: number): void {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const bodyLen = v.getUint32(off, true);
  v.setUint32(off + 4, frameCrc(buf.subarray(off, off + FRAME_HEADER_BYTES + bodyLen), bodyLen, seed), true);
}

function copied(files: Map<string, Uint8Array>): Map<string, Uint8Array> {
  return new Map([...files].map(([p, b]) => [p, new Uint8Array(b)]));
}

/** Single-record entry frames of a segment (frames written by one one-entry append). */
function singleEntryFrames(seg: Segment): FrameInfo[] {
  return seg.frames.filter((f) => f.records.length === 1 && f.kinds[0] === RecordKind.EntryNormal);
}

test('recordSeed is crc32 of the u64 offset continued from the segment seed', () => {
  const rnd = seededRandom(4);
  for (const off of [0, 8, 96, 4096, 0xffff_fff8, 0x1_0000_0000, 2 ** 40 + 8, 2 ** 53 - 8]) {
    const seed = rnd.intBelow(0x1_0000_0000);
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(off));
    assert.equal(recordSeed(seed, off), crc32(b, seed), `offset ${off}`);
  }
});

test('segment seeds differ with the salt and the sequence number', () => {
  const seeds = new Set<number>();
  for (let seq = 1; seq <= 20; seq++) for (const salt of [0, 1, 0xdead_beef]) seeds.add(encodeSegmentHeader(seq, salt, 1).header.seed);
  assert.equal(seeds.size, 60);
  const { bytes, header } = encodeSegmentHeader(3, 77, 1);
  assert.deepEqual(decodeSegmentHeader(bytes), header);
});

test('a record passes its checksum only in the segment and at the offset it was written to', () => {
  const a = encodeSegmentHeader(1, 0x1234_5678, 1).header;
  const b = encodeSegmentHeader(2, 0x1234_5678, 1).header;
  const c = encodeSegmentHeader(1, 0x1234_5679, 1).header;
  const at = 4096;
  const frame = encodeFrame([{ kind: RecordKind.EntryNormal, entry: fixedEnt(7, 3) }, { kind: RecordKind.EntryNormal, entry: fixedEnt(8, 3) }], a.seed, at);
  // The segment content as written: the frame at offset `at`.
  const seg = new Uint8Array(at + frame.byteLength + 512);
  seg.set(frame, at);
  const r1 = at + FRAME_HEADER_BYTES;
  const r2 = r1 + RECORD_HEADER_BYTES + 40;
  assert.deepEqual(checkRecord(seg, r1, a.seed), { ok: true, end: r2 });
  assert.equal(checkRecord(seg, r2, a.seed).ok, true);
  // Same bytes, same offset, another segment (sequence number or salt): refused.
  assert.deepEqual(checkRecord(seg, r1, b.seed), { ok: false, reason: 'record checksum mismatch' });
  assert.deepEqual(checkRecord(seg, r1, c.seed), { ok: false, reason: 'record checksum mismatch' });
  // Same bytes, same segment, another offset: refused.
  const rec = seg.slice(r1, r2);
  for (const to of [r1 - 8, r1 + 8, r2, at + frame.byteLength, 64]) {
    const moved = new Uint8Array(seg);
    moved.set(rec, to);
    assert.deepEqual(checkRecord(moved, to, a.seed), { ok: false, reason: 'record checksum mismatch' }, `record moved to ${to}`);
  }
  // Any single bit of the record (header, payload, padding) breaks it.
  for (let i = 0; i < r2 - r1; i++) {
    const flipped = new Uint8Array(seg);
    flipped[r1 + i]! ^= 1 << (i % 8);
    assert.equal(checkRecord(flipped, r1, a.seed).ok, false, `bit flipped in byte ${i} of the record`);
  }
});

test('resealing a frame without changing it is accepted (the tests below change only the record)', async () => {
  const { files, segs } = await build();
  const seg = segs[segs.length - 1]!;
  const f = seg.frames[2]!;
  const fs = copied(files);
  reseal(fs.get(seg.path)!, f.start, seg.seed);
  assert.deepEqual(fs.get(seg.path), files.get(seg.path));
  const r = await reopen(fs);
  assert.ok(r.ok);
  assert.equal(r.last, 126);
});

test('a record copied to another offset of its segment fails its record checksum, even where its frame checksum passes', async () => {
  const { files, segs } = await build();
  for (const seg of [segs[0]!, segs[segs.length - 1]!]) {
    const singles = singleEntryFrames(seg);
    assert.ok(singles.length >= 3);
    // Into a middle frame, and into the very last frame of the segment.
    const targets = seg === segs[segs.length - 1] ? [singles[1]!, seg.frames[seg.frames.length - 1]!] : [singles[1]!];
    for (const target of targets) {
      const source = singles[0]!;
      assert.notEqual(source.records[0], target.records[0]);
      const fs = copied(files);
      const buf = fs.get(seg.path)!;
      const src = files.get(seg.path)!;
      const len = source.end - source.records[0]!;
      assert.equal(target.end - target.records[0]!, len, 'records of the same size');
      buf.set(src.subarray(source.records[0]!, source.end), target.records[0]!);
      reseal(buf, target.start, seg.seed);
      const r = await reopen(fs);
      assert.ok(!r.ok, `a record copied from ${source.records[0]} to ${target.records[0]} of ${seg.path} must be refused`);
      assert.equal(r.err.code, 'ERR_STORAGE_CORRUPT');
      assert.equal(r.err.file, seg.path);
      assert.equal(r.err.offset, target.records[0]);
      assert.match(r.err.reason, /record checksum mismatch/);
      assert.match(r.err.reason, /not a torn write/);
    }
  }
});

test('a record copied to the same offset of another segment fails its record checksum', async () => {
  const { files, segs } = await build();
  // Every segment opens with a frame of the same shape (hard state, compact): same offsets, same sizes.
  const from = segs[0]!;
  const to = segs[1]!;
  const fh = from.frames[0]!;
  const th = to.frames[0]!;
  assert.deepEqual(fh.kinds.slice(0, 2), [RecordKind.HardState, RecordKind.Compact]);
  assert.deepEqual(th.kinds.slice(0, 2), [RecordKind.HardState, RecordKind.Compact]);
  assert.deepEqual(th.records.slice(0, 2), fh.records.slice(0, 2));
  for (let k = 0; k < 2; k++) {
    const at = th.records[k]!;
    const end = th.records[k + 1]!;
    const fs = copied(files);
    fs.get(to.path)!.set(files.get(from.path)!.subarray(at, end), at);
    reseal(fs.get(to.path)!, th.start, to.seed);
    const r = await reopen(fs);
    assert.ok(!r.ok, `record ${k} of the head frame copied from ${from.path}`);
    assert.equal(r.err.file, to.path);
    assert.equal(r.err.offset, at);
    assert.match(r.err.reason, /record checksum mismatch/);
  }
  // Likewise an entry record, and a whole frame, copied to the same offset of another segment:
  // segments 2 and 3 both open with a head frame of hard state, compact and one entry, so their
  // single-entry frames lie at the same offsets.
  const s2 = segs[1]!;
  const s3 = segs[2]!;
  const src = singleEntryFrames(s2)[2]!;
  const dst = s3.frames.find((f) => f.start === src.start)!;
  assert.ok(dst !== undefined && s3.frames.indexOf(dst) < s3.frames.length - 1, 'a frame at the same offset, not the last one');
  assert.deepEqual([dst.records, dst.end], [src.records, src.end]);
  const record = copied(files);
  record.get(s3.path)!.set(files.get(s2.path)!.subarray(src.records[0]!, src.end), dst.records[0]!);
  reseal(record.get(s3.path)!, dst.start, s3.seed);
  const r1 = await reopen(record);
  assert.ok(!r1.ok);
  assert.equal(r1.err.offset, dst.records[0]);
  assert.match(r1.err.reason, /record checksum mismatch/);
  const frame = copied(files);
  frame.get(s3.path)!.set(files.get(s2.path)!.subarray(src.start, src.end), dst.start);
  const r2 = await reopen(frame);
  assert.ok(!r2.ok, 'a frame copied from another segment must fail its frame checksum');
  assert.equal(r2.err.file, s3.path);
  assert.match(r2.err.reason, /frame checksum mismatch/);
  assert.equal(r2.err.offset, dst.records[0], 'and is reported at its record, which fails its own checksum');
});

test("a bit flipped in a record's payload is reported at that record's offset", async () => {
  const { files, segs } = await build();
  const rnd = seededRandom(9);
  const last = segs[segs.length - 1]!;
  const multi = segs.flatMap((s) => s.frames.filter((f) => f.records.length === 5).map((f) => ({ s, f })));
  assert.equal(multi.length, 1, 'one frame of five entries');
  const cases: { seg: Segment; frame: FrameInfo; k: number }[] = [];
  // Every record of the five-entry frame, unless it is the last frame of the last segment (a torn tail).
  const m = multi[0]!;
  if (!(m.s === last && m.f === last.frames[last.frames.length - 1])) for (let k = 0; k < 5; k++) cases.push({ seg: m.s, frame: m.f, k });
  // Entry frames of every segment (in the last segment, not its last frame).
  for (const seg of segs) {
    const frames = seg === last ? seg.frames.slice(0, -1) : seg.frames;
    for (const f of frames.filter((x) => x.kinds.every((kd) => kd === RecordKind.EntryNormal))) cases.push({ seg, frame: f, k: rnd.intBelow(f.records.length) });
  }
  assert.ok(cases.length > 20);
  for (const { seg, frame, k } of cases) {
    const at = frame.records[k]!;
    const end = frame.records[k + 1] ?? frame.end;
    const payloadByte = at + RECORD_HEADER_BYTES + rnd.intBelow(40);
    assert.ok(payloadByte < end);
    const fs = copied(files);
    fs.get(seg.path)![payloadByte]! ^= 1 << rnd.intBelow(8);
    const r = await reopen(fs);
    assert.ok(!r.ok, `flip at ${payloadByte} of ${seg.path} must be refused`);
    assert.equal(r.err.file, seg.path);
    assert.equal(r.err.offset, at, `flip at ${payloadByte}, in record ${k} at ${at} of the frame at ${frame.start}: ${r.err.message}`);
    assert.match(r.err.reason, new RegExp(`record at offset ${at} of the frame at offset ${frame.start} fails its own checksum`));
  }
  // The same flip in the last frame of the last segment reads as a torn tail: cut, not refused.
  const lf = last.frames[last.frames.length - 1]!;
  const fs = copied(files);
  fs.get(last.path)![lf.records[0]! + RECORD_HEADER_BYTES]! ^= 1;
  const r = await reopen(fs);
  assert.ok(r.ok);
  assert.ok(r.logs.includes('storage_torn_tail_cut'));
  assert.equal(r.last, 125);
});

test('a segment of another format version is refused with a clear message', async () => {
  const { files, segs } = await build();
  assert.equal(SEGMENT_FORMAT_VERSION, 2);
  assert.equal(SEGMENT_MAGIC, 'MNGWAL02');
  for (const [magic, version] of [
    ['MNGWAL01', 1],
    ['MNGWAL03', 3],
    ['MNGWAL02', 1],
  ] as const) {
    const fs = copied(files);
    const seg = segs[1]!;
    const b = fs.get(seg.path)!;
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    b.set(new TextEncoder().encode(magic), 0);
    v.setUint32(8, version, true);
    v.setUint32(56, crc32(b.subarray(0, 56)), true);
    const r = await reopen(fs);
    assert.ok(!r.ok, `${magic} version ${version} must be refused`);
    assert.equal(r.err.code, 'ERR_STORAGE_CORRUPT');
    assert.equal(r.err.file, seg.path);
    assert.equal(r.err.offset, 0);
    assert.match(r.err.message, new RegExp(`unsupported segment format version ${version} \\(magic "${magic}"\\): this build reads only version 2 \\("MNGWAL02"\\)`));
    assert.match(r.err.message, /new member/);
  }
});

test('entries read back after the format change are intact', async () => {
  const { files } = await build();
  const s = await FileLogStorage.open({ io: await diskWith(files, DIR, 1), dir: DIR, segmentBytes: 4096, logger: quietLogger, random: seededRandom(3) });
  const es = s.entries(s.firstIndex(), s.lastIndex() + 1, Infinity);
  assert.equal(es.length, 126);
  for (const e of es) assert.deepEqual(e.data, fixedEnt(e.index, e.term).data);
});
