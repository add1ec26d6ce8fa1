import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FileLogStorage, NodeFileIO, SimFileIO, StorageCorruptionError, seededRandom } from '../../src/storage/index.ts';
import { FRAME_HEADER_BYTES, SEGMENT_HEADER_BYTES, decodeSegmentHeader, parseFrame, RecordKind } from '../../src/storage/format.ts';
import { CONF, diskWith, ents, intact, quietLogger, tmpDir } from './helpers.ts';

const DIR = '/data';

interface Layout {
  files: Map<string, Uint8Array>;
  lastSegment: string;
  /** Per frame of the last segment: where it ends and the last entry index durable once it is whole. */
  frames: { start: number; end: number; lastIndex: number }[];
  /** Last entry index before the last segment's first frame. */
  baseLast: number;
  /** Per segment: where each frame header and each record lies (start inclusive, end exclusive). */
  regions: Map<string, { start: number; end: number; what: 'frame header' | 'record' }[]>;
}

/** The frame header or record holding byte `off` of segment `p`, if any. */
function regionAt(L: Layout, p: string, off: number): { start: number; what: string } | undefined {
  return L.regions.get(p)?.find((r) => off >= r.start && off < r.end);
}

/** A store with several segments, each append its own frame; returns the durable files. */
async function buildLayout(): Promise<Layout> {
  const io = new SimFileIO(seededRandom(5));
  const s = await FileLogStorage.open({ io, dir: DIR, segmentBytes: 4096, initialConfState: CONF, logger: quietLogger, random: seededRandom(6) });
  let term = 1;
  for (let i = 1; i <= 150; i += 3) {
    if (i % 40 === 1) term++;
    await s.append(ents(i, i + 2, term));
    if (i % 10 === 1) await s.setHardState({ term, vote: 2, commit: Math.max(0, i - 30) });
  }
  await s.append(ents(140, 145, term + 1)); // a truncating overwrite near the end
  await s.close();
  const files = new Map<string, Uint8Array>();
  for (const p of io.listAll()) files.set(p, io.durableContent(p)!);
  const segs = [...files.keys()].filter((p) => p.endsWith('.log')).sort();
  const lastSegment = segs[segs.length - 1]!;
  const buf = files.get(lastSegment)!;
  const hdr = decodeSegmentHeader(buf);
  assert.ok(typeof hdr !== 'string');
  const frames: Layout['frames'] = [];
  let off = SEGMENT_HEADER_BYTES;
  let last = -1;
  while (off < buf.byteLength) {
    const r = parseFrame(buf, off, hdr.seed);
    assert.ok(r.ok);
    for (const rec of r.records) if (rec.kind === RecordKind.EntryNormal || rec.kind === RecordKind.EntryConf) last = rec.entry.index;
    frames.push({ start: off, end: r.end, lastIndex: last });
    off = r.end;
  }
  assert.ok(segs.length >= 3, 'several segments');
  assert.ok(frames.length >= 5, 'several frames in the last segment');
  const regions: Layout['regions'] = new Map();
  for (const p of segs) {
    const b = files.get(p)!;
    const h = decodeSegmentHeader(b);
    assert.ok(typeof h !== 'string');
    const rs: { start: number; end: number; what: 'frame header' | 'record' }[] = [];
    for (let o = SEGMENT_HEADER_BYTES; o < b.byteLength; ) {
      const r = parseFrame(b, o, h.seed);
      assert.ok(r.ok);
      rs.push({ start: o, end: o + FRAME_HEADER_BYTES, what: 'frame header' });
      r.offsets.forEach((ro, i) => rs.push({ start: ro, end: r.offsets[i + 1] ?? r.end, what: 'record' }));
      o = r.end;
    }
    regions.set(p, rs);
  }
  return { files, lastSegment, frames, baseLast: -1, regions };
}

type Outcome = { ok: true; last: number; logs: string[] } | { ok: false; err: StorageCorruptionError };

async function reopen(io: SimFileIO): Promise<Outcome> {
  const logs: string[] = [];
  try {
    const s = await FileLogStorage.open({ io, dir: DIR, segmentBytes: 4096, logger: (e) => void logs.push(e), random: seededRandom(1) });
    // Never a wrong entry: every entry carries the payload of its index and term, terms never decrease.
    let prev = s.term(s.firstIndex() - 1)!;
    for (const e of s.entries(s.firstIndex(), s.lastIndex() + 1, Infinity)) {
      assert.ok(intact(e), `entry ${e.index} intact`);
      assert.ok(e.term >= prev);
      prev = e.term;
    }
    return { ok: true, last: s.lastIndex(), logs };
  } catch (e) {
    if (e instanceof StorageCorruptionError) return { ok: false, err: e };
    throw e;
  }
}

test('a torn last segment (cut at every byte offset of its last frames) recovers the whole frames before the cut', async () => {
  const L = await buildLayout();
  const full = L.files.get(L.lastSegment)!;
  const firstCut = L.frames[Math.max(0, L.frames.length - 4)]!.start;
  let checked = 0;
  for (let cut = firstCut; cut < full.byteLength; cut++) {
    const files = new Map(L.files);
    files.set(L.lastSegment, full.subarray(0, cut));
    const r = await reopen(await diskWith(files, DIR, cut));
    assert.ok(r.ok, `cut at ${cut}: ${r.ok ? '' : r.err.message}`);
    const whole = L.frames.filter((f) => f.end <= cut);
    const expectLast = whole.length > 0 ? whole[whole.length - 1]!.lastIndex : undefined;
    if (expectLast !== undefined && expectLast >= 0) assert.equal(r.last, expectLast, `cut at ${cut}`);
    const atBoundary = L.frames.some((f) => f.end === cut);
    assert.equal(r.logs.includes('storage_torn_tail_cut'), !atBoundary, `cut at ${cut} is logged unless it falls between frames`);
    checked++;
  }
  assert.ok(checked > 100);
});

test('single bit flips: in the last frame they read as a torn tail, anywhere else they are refused as corruption at the damaged record', async () => {
  const L = await buildLayout();
  const rnd = seededRandom(77);
  const paths = [...L.files.keys()];
  const lastFrame = L.frames[L.frames.length - 1]!;
  let refused = 0;
  let recovered = 0;
  let recordOffsets = 0;
  for (let k = 0; k < 400; k++) {
    const p = paths[rnd.intBelow(paths.length)]!;
    const size = L.files.get(p)!.byteLength;
    const off = rnd.intBelow(size);
    const io = await diskWith(L.files, DIR, k);
    io.flipBit(p, off, rnd.intBelow(8));
    const r = await reopen(io);
    if (p === L.lastSegment && off >= lastFrame.start) {
      assert.ok(r.ok, `flip in the last frame at ${off}: ${r.ok ? '' : r.err.message}`);
      assert.equal(r.last, L.frames[L.frames.length - 2]!.lastIndex);
      recovered++;
    } else {
      assert.ok(!r.ok, `flip in ${p} at ${off} must be refused`);
      assert.equal(r.err.code, 'ERR_STORAGE_CORRUPT');
      assert.equal(r.err.file, p);
      assert.match(r.err.message, /rejoin|new member/);
      if (p.endsWith('.log')) {
        // Reported where the damage is: the record holding the flipped bit, else the frame header, else the segment header.
        const region = regionAt(L, p, off);
        const want = region?.start ?? 0;
        assert.equal(r.err.offset, want, `flip in ${p} at ${off} (${region?.what ?? 'segment header'} at ${want}) reported at ${r.err.offset}: ${r.err.message}`);
        if (region?.what === 'record') recordOffsets++;
      }
      refused++;
    }
  }
  assert.ok(refused > 300 && recovered > 0, `${refused} refused, ${recovered} recovered`);
  assert.ok(recordOffsets > 200, `${recordOffsets} flips reported at their record's offset`);
});

test('a torn tail on real files is cut back; a flip in the middle on real files is refused', async () => {
  const L = await buildLayout();
  const root = tmpDir('mooseng-torn-');
  try {
    const io = new NodeFileIO();
    const rnd = seededRandom(3);
    const full = L.files.get(L.lastSegment)!;
    for (let k = 0; k < 15; k++) {
      const dir = path.join(root, `t${k}`);
      fs.mkdirSync(dir);
      for (const [p, b] of L.files) fs.writeFileSync(path.join(dir, path.basename(p)), b);
      const seg = path.join(dir, path.basename(L.lastSegment));
      const middle = k % 3 === 0;
      if (middle) {
        const f = L.frames[1]!;
        const b = fs.readFileSync(seg);
        b[f.start + 40]! ^= 4;
        fs.writeFileSync(seg, b);
      } else {
        fs.truncateSync(seg, L.frames[L.frames.length - 2]!.start + rnd.intBelow(full.byteLength - L.frames[L.frames.length - 2]!.start));
      }
      const logs: string[] = [];
      const open = () => FileLogStorage.open({ io, dir, logger: (e) => void logs.push(e) });
      if (middle) {
        await assert.rejects(open(), (e: unknown) => e instanceof StorageCorruptionError && e.file === seg);
      } else {
        const s = await open();
        for (const e of s.entries(s.firstIndex(), s.lastIndex() + 1, Infinity)) assert.ok(intact(e));
        await s.append(ents(s.lastIndex() + 1, s.lastIndex() + 3, 9));
        await s.close();
        const t = await open();
        assert.equal(t.term(t.lastIndex()), 9, 'appends after a cut are recovered');
        await t.close();
      }
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
