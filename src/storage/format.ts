import { crc32 } from 'node:zlib';
import type { ConfState, Entry, HardState } from '../raft/types.ts';

// On-disk formats. All integers are little-endian; 64-bit integers hold values below 2^53.
//
// Segment file `wal-<seq:16 hex>.log`:
//   header (64 bytes)  magic "MNGWAL02" | u32 version=2 | u32 salt | u64 seq | u64 firstIndex
//                      | 24 reserved zero bytes | u32 crc32(bytes 0..56) | u32 zero
//   frames, each starting at an 8-byte aligned offset, until the end of the file.
//   seed = crc32(header bytes 0..56), the header's own checksum: random salt, sequence number, version.
//
// Frame (one group commit; the unit of atomicity):
//   header (32 bytes)  u32 bodyLen | u32 crc | u32 magic 0x4d46524d | u32 records
//                      | u64 fileOffset | u64 reserved zero
//   body               records, bodyLen bytes (a multiple of 8)
//   crc = crc32 over header bytes 0..4 and 8..32, then the body, seeded with the segment's seed:
//   a frame is valid only in the segment and at the offset it was written to.
//
// Record (8-byte aligned inside the body):
//   header (32 bytes)  u32 crc | u32 payloadLen | u8 kind | 7 zero bytes | u64 index | u64 term
//   payload            payloadLen bytes, then zero padding to a multiple of 8
//   crc = crc32 over record bytes 4..end (the header after the crc field, the payload and its
//   padding), seeded with recordSeed(segment seed, file offset of the record): a record is valid
//   only in the segment and at the offset it was written to.

export const SEGMENT_MAGIC = 'MNGWAL02';
/** The common prefix of every segment magic ("MNGWAL" + two version digits). */
export const SEGMENT_MAGIC_PREFIX = 'MNGWAL';
export const SEGMENT_FORMAT_VERSION = 2;
export const SNAPSHOT_MAGIC = 'MNGSNP01';
export const SNAPSHOT_FORMAT_VERSION = 1;
export const SEGMENT_HEADER_BYTES = 64;
export const FRAME_HEADER_BYTES = 32;
export const FRAME_MAGIC = 0x4d46524d;
export const RECORD_HEADER_BYTES = 32;
export const SNAPSHOT_HEADER_BYTES = 64;
/** Frames larger than this are refused on read (a corrupt length must not allocate gigabytes). */
export const MAX_FRAME_BODY = 1 << 30;

export const RecordKind = {
  EntryNormal: 1,
  EntryConf: 2,
  /** payload: u64 term | u64 vote | u64 commit */
  HardState: 3,
  /** entries up to `index` are discarded; (index, term) is the new dummy entry. */
  Compact: 4,
  /** a snapshot at (index, term) was installed: the whole log is discarded. */
  Reset: 5,
} as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

export type WalRecord =
  | { readonly kind: typeof RecordKind.EntryNormal | typeof RecordKind.EntryConf; readonly entry: Entry }
  | { readonly kind: typeof RecordKind.HardState; readonly hardState: HardState }
  | { readonly kind: typeof RecordKind.Compact | typeof RecordKind.Reset; readonly index: number; readonly term: number };

const TWO32 = 0x1_0000_0000;
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

export function setU64(v: DataView, off: number, n: number): void {
  v.setUint32(off, n % TWO32, true);
  v.setUint32(off + 4, Math.floor(n / TWO32), true);
}

export function getU64(v: DataView, off: number): number {
  return v.getUint32(off, true) + v.getUint32(off + 4, true) * TWO32;
}

export function align8(n: number): number {
  return (n + 7) & ~7;
}

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function hasMagic(b: Uint8Array, magic: string): boolean {
  for (let i = 0; i < magic.length; i++) if (b[i] !== magic.charCodeAt(i)) return false;
  return true;
}

export function hex16(n: number): string {
  return n.toString(16).padStart(16, '0');
}

// ------------------------------------------------------------------ segments

export function segmentName(seq: number): string {
  return `wal-${hex16(seq)}.log`;
}

export function parseSegmentName(name: string): number | undefined {
  const m = /^wal-([0-9a-f]{16})\.log$/.exec(name);
  return m === null ? undefined : parseInt(m[1]!, 16);
}

export interface SegmentHeader {
  readonly seq: number;
  readonly salt: number;
  readonly firstIndex: number;
  /**
   * crc32 of header bytes 0..56 (the header's own checksum; it covers the salt, sequence number and
   * version): the seed of every frame and record checksum in the segment. Not a crc over bytes
   * 0..60, which hold that checksum: a crc over a message followed by its own crc is the same
   * constant for every message.
   */
  readonly seed: number;
}

export function encodeSegmentHeader(seq: number, salt: number, firstIndex: number): { bytes: Uint8Array; header: SegmentHeader } {
  const b = new Uint8Array(SEGMENT_HEADER_BYTES);
  const v = dv(b);
  b.set(textEncoder.encode(SEGMENT_MAGIC), 0);
  v.setUint32(8, SEGMENT_FORMAT_VERSION, true);
  v.setUint32(12, salt >>> 0, true);
  setU64(v, 16, seq);
  setU64(v, 24, firstIndex);
  const headerCrc = crc32(b.subarray(0, 56));
  v.setUint32(56, headerCrc, true);
  return { bytes: b, header: { seq, salt: salt >>> 0, firstIndex, seed: headerCrc } };
}

/** The 8 magic bytes as text, non-printable bytes escaped. */
function magicText(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 8; i++) {
    const c = b[i]!;
    s += c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return s;
}

/** The header, or a reason it is not valid. */
export function decodeSegmentHeader(b: Uint8Array): SegmentHeader | string {
  if (b.byteLength < SEGMENT_HEADER_BYTES) return `segment header truncated (${b.byteLength} bytes)`;
  const v = dv(b);
  if (!hasMagic(b, SEGMENT_MAGIC_PREFIX)) return 'bad segment magic';
  const version = v.getUint32(8, true);
  const known = hasMagic(b, SEGMENT_MAGIC) && version === SEGMENT_FORMAT_VERSION;
  if (v.getUint32(56, true) !== crc32(b.subarray(0, 56))) {
    return known ? 'segment header checksum mismatch' : `segment header checksum mismatch (magic "${magicText(b)}", version ${version})`;
  }
  if (!known) {
    return (
      `unsupported segment format version ${version} (magic "${magicText(b)}"): this build reads only version ` +
      `${SEGMENT_FORMAT_VERSION} ("${SEGMENT_MAGIC}") and does not convert segments of another version`
    );
  }
  if (v.getUint32(60, true) !== 0) return 'segment header reserved bytes are not zero';
  return { seq: getU64(v, 16), salt: v.getUint32(12, true), firstIndex: getU64(v, 24), seed: v.getUint32(56, true) };
}

// ------------------------------------------------------------------ records and frames

const CRC_TABLE = ((): Uint32Array => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32Word(crc: number, w: number): number {
  let c = crc;
  for (let i = 0; i < 4; i++) {
    c = CRC_TABLE[(c ^ w) & 0xff]! ^ (c >>> 8);
    w >>>= 8;
  }
  return c;
}

/**
 * The seed of the checksum of the record at `fileOffset` of a segment whose seed is `segmentSeed`:
 * crc32 of the offset as a u64 (little-endian), continued from the segment seed. Equal to
 * `crc32(u64le(fileOffset), segmentSeed)`, computed without a call into zlib.
 */
export function recordSeed(segmentSeed: number, fileOffset: number): number {
  let c = ~segmentSeed >>> 0;
  c = crc32Word(c, fileOffset % TWO32);
  c = crc32Word(c, Math.floor(fileOffset / TWO32));
  return ~c >>> 0;
}

/** The checksum of a record spanning [off, end) of `buf` (bytes 4..end), written at file offset `fileOffset`. */
function recordCrc(buf: Uint8Array, off: number, end: number, segmentSeed: number, fileOffset: number): number {
  return crc32(buf.subarray(off + 4, end), recordSeed(segmentSeed, fileOffset));
}

export function recordBytes(r: WalRecord): number {
  switch (r.kind) {
    case RecordKind.EntryNormal:
    case RecordKind.EntryConf:
      return RECORD_HEADER_BYTES + align8(r.entry.data.byteLength);
    case RecordKind.HardState:
      return RECORD_HEADER_BYTES + 24;
    default:
      return RECORD_HEADER_BYTES;
  }
}

export function entryRecord(e: Entry): WalRecord {
  return { kind: e.type === 'conf' ? RecordKind.EntryConf : RecordKind.EntryNormal, entry: e };
}

/** Encodes one frame holding `records`, to be written at `fileOffset` of the segment with `seed`. */
export function encodeFrame(records: readonly WalRecord[], seed: number, fileOffset: number): Uint8Array {
  let bodyLen = 0;
  for (const r of records) bodyLen += recordBytes(r);
  const out = new Uint8Array(FRAME_HEADER_BYTES + bodyLen);
  const v = dv(out);
  let p = FRAME_HEADER_BYTES;
  for (const r of records) {
    let len: number;
    let index: number;
    let term: number;
    switch (r.kind) {
      case RecordKind.EntryNormal:
      case RecordKind.EntryConf: {
        const e = r.entry;
        len = e.data.byteLength;
        index = e.index;
        term = e.term;
        out.set(e.data, p + RECORD_HEADER_BYTES);
        break;
      }
      case RecordKind.HardState: {
        const hs = r.hardState;
        len = 24;
        index = hs.commit;
        term = hs.term;
        setU64(v, p + RECORD_HEADER_BYTES, hs.term);
        setU64(v, p + RECORD_HEADER_BYTES + 8, hs.vote);
        setU64(v, p + RECORD_HEADER_BYTES + 16, hs.commit);
        break;
      }
      default:
        len = 0;
        index = r.index;
        term = r.term;
    }
    const end = p + RECORD_HEADER_BYTES + align8(len);
    v.setUint32(p + 4, len, true);
    out[p + 8] = r.kind;
    setU64(v, p + 16, index);
    setU64(v, p + 24, term);
    v.setUint32(p, recordCrc(out, p, end, seed, fileOffset + p), true);
    p = end;
  }
  v.setUint32(0, bodyLen, true);
  v.setUint32(8, FRAME_MAGIC, true);
  v.setUint32(12, records.length, true);
  setU64(v, 16, fileOffset);
  v.setUint32(4, frameCrc(out, bodyLen, seed), true);
  return out;
}

/** The frame checksum of `frame` (its 32-byte header then `bodyLen` bytes of body; the crc field is skipped). */
export function frameCrc(frame: Uint8Array, bodyLen: number, seed: number): number {
  let c = crc32(frame.subarray(0, 4), seed);
  c = crc32(frame.subarray(8, FRAME_HEADER_BYTES), c);
  return crc32(frame.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + bodyLen), c);
}

export type RecordCheck = { readonly ok: true; readonly end: number } | { readonly ok: false; readonly reason: string };

/**
 * Checks the record at file offset `off` of segment content `buf` on its own: it fits before
 * `limit`, its reserved bytes are zero and its checksum (seeded with the segment seed and `off`)
 * matches. Returns where the record ends.
 */
export function checkRecord(buf: Uint8Array, off: number, seed: number, limit = buf.byteLength): RecordCheck {
  return checkRecordIn(buf, dv(buf), off, seed, limit);
}

function checkRecordIn(buf: Uint8Array, v: DataView, off: number, seed: number, limit: number): RecordCheck {
  if (off + RECORD_HEADER_BYTES > limit) return { ok: false, reason: 'record header runs past its frame' };
  const len = v.getUint32(off + 4, true);
  if (len > limit - off - RECORD_HEADER_BYTES) return { ok: false, reason: `record length ${len} runs past its frame` };
  const end = off + RECORD_HEADER_BYTES + align8(len);
  if (end > limit) return { ok: false, reason: `record length ${len} runs past its frame` };
  if (recordCrc(buf, off, end, seed, off) !== v.getUint32(off, true)) return { ok: false, reason: 'record checksum mismatch' };
  if (v.getUint32(off + 12, true) !== 0 || buf[off + 9] !== 0 || buf[off + 10] !== 0 || buf[off + 11] !== 0) {
    return { ok: false, reason: 'record reserved bytes are not zero' };
  }
  return { ok: true, end };
}

export type FrameParse =
  | {
      readonly ok: true;
      readonly records: WalRecord[];
      /** The file offset of each record. */
      readonly offsets: number[];
      readonly end: number;
    }
  | {
      readonly ok: false;
      readonly reason: string;
      /** Where the problem is: the frame's offset, or that of the record at fault. */
      readonly offset: number;
      /**
       * The frame checksum matched: the frame holds exactly the bytes written there, so the fault
       * (a record that fails its own checksum or does not decode) cannot be a torn write.
       */
      readonly frameIntact: boolean;
    };

/**
 * Parses the frame at `off` of segment content `buf`. Entry payloads are views into `buf`.
 * A frame is valid only if its checksum (seeded by the segment) matches, it records its own
 * offset, and every record in it passes its own checksum (seeded by the segment and the record's
 * offset).
 */
export function parseFrame(buf: Uint8Array, off: number, seed: number): FrameParse {
  const torn = (reason: string): FrameParse => ({ ok: false, reason, offset: off, frameIntact: false });
  if (off + FRAME_HEADER_BYTES > buf.byteLength) return torn('frame header runs past the end of the file');
  const v = dv(buf);
  const bodyLen = v.getUint32(off, true);
  if (v.getUint32(off + 8, true) !== FRAME_MAGIC) return torn('bad frame magic');
  if (getU64(v, off + 16) !== off) return torn('frame offset field does not match its position');
  if (bodyLen % 8 !== 0 || bodyLen > MAX_FRAME_BODY) return torn(`bad frame length ${bodyLen}`);
  const end = off + FRAME_HEADER_BYTES + bodyLen;
  if (end > buf.byteLength) return torn('frame runs past the end of the file');
  const frame = buf.subarray(off, end);
  if (frameCrc(frame, bodyLen, seed) !== v.getUint32(off + 4, true)) return torn('frame checksum mismatch');
  const bad = (p: number, i: number, reason: string): FrameParse => ({
    ok: false,
    reason: `${reason}: record ${i} at offset ${p} of the frame at offset ${off}, whose frame checksum matches (not a torn write)`,
    offset: p,
    frameIntact: true,
  });
  const count = v.getUint32(off + 12, true);
  const records: WalRecord[] = [];
  const offsets: number[] = [];
  let p = off + FRAME_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    const c = checkRecordIn(buf, v, p, seed, end);
    if (!c.ok) return bad(p, i, c.reason);
    const len = v.getUint32(p + 4, true);
    const kind = buf[p + 8]!;
    const index = getU64(v, p + 16);
    const term = getU64(v, p + 24);
    const payloadAt = p + RECORD_HEADER_BYTES;
    switch (kind) {
      case RecordKind.EntryNormal:
      case RecordKind.EntryConf:
        records.push({
          kind,
          entry: { index, term, type: kind === RecordKind.EntryConf ? 'conf' : 'normal', data: buf.subarray(payloadAt, payloadAt + len) },
        });
        break;
      case RecordKind.HardState:
        if (len !== 24) return bad(p, i, 'bad hard state record');
        records.push({ kind, hardState: { term: getU64(v, payloadAt), vote: getU64(v, payloadAt + 8), commit: getU64(v, payloadAt + 16) } });
        break;
      case RecordKind.Compact:
      case RecordKind.Reset:
        if (len !== 0) return bad(p, i, 'bad marker record');
        records.push({ kind, index, term });
        break;
      default:
        return bad(p, i, `unknown record kind ${kind}`);
    }
    offsets.push(p);
    p = c.end;
  }
  if (p !== end) return { ok: false, reason: `frame body length does not match its records (frame at offset ${off}, whose frame checksum matches)`, offset: off, frameIntact: true };
  return { ok: true, records, offsets, end };
}

/**
 * For a frame at `off` that failed its checks: the offset of the first record in it that fails its
 * own checksum, or undefined when every record the frame header announces checks out (the damage
 * is in the frame header) or the records cannot be walked.
 */
export function locateDamagedRecord(buf: Uint8Array, off: number, seed: number): number | undefined {
  if (off + FRAME_HEADER_BYTES > buf.byteLength) return undefined;
  const v = dv(buf);
  const bodyLen = v.getUint32(off, true);
  const count = v.getUint32(off + 12, true);
  // A single damaged field of the frame header (length or count) is outvoted by the other.
  const limit = bodyLen % 8 === 0 && bodyLen <= buf.byteLength - off - FRAME_HEADER_BYTES ? off + FRAME_HEADER_BYTES + bodyLen : buf.byteLength;
  let p = off + FRAME_HEADER_BYTES;
  for (let i = 0; i < count && p < limit; i++) {
    const c = checkRecordIn(buf, v, p, seed, buf.byteLength);
    if (!c.ok) return p;
    p = c.end;
  }
  return undefined;
}

/**
 * Whether a frame written to this segment at its offset (its frame checksum matches, whether or not
 * its records then check out) starts at any 8-byte aligned offset in [from, buf.byteLength).
 */
export function findValidFrameAfter(buf: Uint8Array, from: number, seed: number): number | undefined {
  const v = dv(buf);
  for (let off = align8(from); off + FRAME_HEADER_BYTES <= buf.byteLength; off += 8) {
    if (v.getUint32(off + 8, true) !== FRAME_MAGIC) continue;
    const r = parseFrame(buf, off, seed);
    if (r.ok || r.frameIntact) return off;
  }
  return undefined;
}

// ------------------------------------------------------------------ hard state helpers

export function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

// ------------------------------------------------------------------ snapshots
//
// Snapshot file `snap-<index:16 hex>-<term:16 hex>.snap`:
//   header (64 bytes)  magic "MNGSNP01" | u32 version | u32 confLen | u64 index | u64 term
//                      | u64 dataLen | 16 reserved zero bytes | u32 crc | u32 zero
//   confState as JSON (confLen bytes), then the data (dataLen bytes).
//   crc = crc32 over header bytes 0..56, then the JSON, then the data.

export function snapshotName(index: number, term: number): string {
  return `snap-${hex16(index)}-${hex16(term)}.snap`;
}

export function parseSnapshotName(name: string): { index: number; term: number } | undefined {
  const m = /^snap-([0-9a-f]{16})-([0-9a-f]{16})\.snap$/.exec(name);
  return m === null ? undefined : { index: parseInt(m[1]!, 16), term: parseInt(m[2]!, 16) };
}

export function encodeSnapshotHeader(index: number, term: number, confState: ConfState, data: Uint8Array): { header: Uint8Array; conf: Uint8Array } {
  const conf = textEncoder.encode(JSON.stringify(confState));
  const header = new Uint8Array(SNAPSHOT_HEADER_BYTES);
  const v = dv(header);
  header.set(textEncoder.encode(SNAPSHOT_MAGIC), 0);
  v.setUint32(8, SNAPSHOT_FORMAT_VERSION, true);
  v.setUint32(12, conf.byteLength, true);
  setU64(v, 16, index);
  setU64(v, 24, term);
  setU64(v, 32, data.byteLength);
  let c = crc32(header.subarray(0, 56));
  c = crc32(conf, c);
  c = crc32(data, c);
  v.setUint32(56, c, true);
  return { header, conf };
}

export interface SnapshotHeader {
  readonly index: number;
  readonly term: number;
  readonly confLen: number;
  readonly dataLen: number;
  readonly crc: number;
  /** crc32 of header bytes 0..56, to be continued over the JSON and the data. */
  readonly headerCrc: number;
}

export function decodeSnapshotHeader(b: Uint8Array): SnapshotHeader | string {
  if (b.byteLength < SNAPSHOT_HEADER_BYTES) return 'snapshot header truncated';
  const v = dv(b);
  if (!hasMagic(b, SNAPSHOT_MAGIC)) return 'bad snapshot magic';
  const version = v.getUint32(8, true);
  if (version !== SNAPSHOT_FORMAT_VERSION) return `unsupported snapshot format version ${version}`;
  if (v.getUint32(60, true) !== 0) return 'snapshot header reserved bytes are not zero';
  return {
    index: getU64(v, 16),
    term: getU64(v, 24),
    confLen: v.getUint32(12, true),
    dataLen: getU64(v, 32),
    crc: v.getUint32(56, true),
    headerCrc: crc32(b.subarray(0, 56)),
  };
}

export function decodeConfState(b: Uint8Array): ConfState | string {
  try {
    const o: unknown = JSON.parse(textDecoder.decode(b));
    if (typeof o !== 'object' || o === null) return 'conf state is not an object';
    const r = o as Record<string, unknown>;
    const ids = (k: string): number[] | undefined => {
      const a = r[k];
      return Array.isArray(a) && a.every((x) => typeof x === 'number') ? (a as number[]) : undefined;
    };
    const voters = ids('voters');
    const votersOutgoing = ids('votersOutgoing');
    const learners = ids('learners');
    const learnersNext = ids('learnersNext');
    if (voters === undefined || votersOutgoing === undefined || learners === undefined || learnersNext === undefined || typeof r['autoLeave'] !== 'boolean') {
      return 'conf state has missing fields';
    }
    return { voters, votersOutgoing, learners, learnersNext, autoLeave: r['autoLeave'] };
  } catch (e) {
    return `conf state is not valid JSON: ${String(e)}`;
  }
}

export { crc32 };
