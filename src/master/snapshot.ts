import { crc32 } from 'node:zlib';
import { NodeType } from './commands.ts';
import { invariant } from './errors.ts';
import { maxSymlinkTargetBytes } from './limits.ts';
import { encodeName, maxEncodedBytes } from './namebytes.ts';
import { MetadataState } from './state.ts';

/*
 * Snapshot of the whole replicated state as a byte stream, written and read in bounded chunks.
 * All integers are little-endian; a u64 holds a value below 2^53.
 *
 *   stream header (28 bytes)  magic "MNGMDSNP" | u32 formatVersion | u32 chunkBytes
 *                             | u64 appliedIndex | u32 crc32(bytes 0..24)
 *   data frames               u32 magic 0x4d445346 | u32 sequence (0, 1, ...) | u32 payloadBytes
 *                             | u32 crc | payload; 16 + payloadBytes <= chunkBytes
 *   trailer frame             same header with magic 0x4d445354; payload: u64 dataFrames
 *                             | u64 payloadBytes | u64 inodes | u64 entries | u64 freed
 *   crc = crc32 over the frame header's first 12 bytes and the payload, seeded with the stream
 *   header's crc, so a frame only checks inside a stream of the same applied index and chunk size
 *   (where, the state being deterministic, it is the same frame).
 *
 * The data frames' payloads, concatenated, are a sequence of sections. Each section is
 * `u16 id | u16 zero | u64 itemCount` and its items; records (a section header, an item, a
 * directory header, an entry) are never split across frames. Format version 1 has, in order:
 *
 *   1 meta     1 item: u64 appliedIndex | u64 nextInode | u64 inodeReuseDelaySec | u64 inodes
 *              | u64 entries | u64 freed | u64 nameBytes
 *   2 inodes   one per live inode, by increasing number: u32 inode | u8 type | u16 mode | u32 uid
 *              | u32 gid | u32 atime | u32 mtime | u32 ctime | u32 nlink | u64 length | u32 parent,
 *              then for a symlink u16 targetBytes | target (WTF-8), for a device u32 rdev
 *   3 entries  one per directory that has entries, by increasing number: u32 dir | u32 count,
 *              then `count` entries in name order (compareNames): u32 child | u8 nameBytes | name
 *   4 freed    the inode free FIFO, oldest first: u32 inode | u32 freedAtSec
 *   0xffff end (itemCount 0)
 *
 * Everything is canonical (inodes, directories and names in order, no layout detail), so two
 * replicas in the same logical state write identical bytes for the same chunk size.
 *
 * The reader is in snapshot-reader.ts. Adding state (chunks, sessions, trash...): give it a new section id, write it between `freed`
 * and `end`, bump `snapshotFormatVersion`, and make the reader require the section from that
 * version on (see `sectionsByVersion`). A reader never skips a section it does not know: a
 * replica that ignored part of the state would diverge.
 */

export const snapshotMagic = 'MNGMDSNP';
export const snapshotFormatVersion = 1;
export const snapshotHeaderBytes = 28;
export const snapshotFrameHeaderBytes = 16;
/** Large enough for the largest record (a symlink with a 4095-byte target). */
export const minSnapshotChunkBytes = 8 * 1024;
/** The reader allocates one frame of the size the stream header announces: bound it. */
export const maxSnapshotChunkBytes = 16 * 1024 * 1024;
export const defaultSnapshotChunkBytes = 1024 * 1024;

export const dataFrameMagic = 0x4d445346;
export const trailerFrameMagic = 0x4d445354;
export const trailerPayloadBytes = 40;
export const sectionHeaderBytes = 12;
export const metaItemBytes = 56;
export const inodeRecordBytes = 43;
export const dirHeaderBytes = 8;
export const entryRecordHeaderBytes = 5;
export const freedRecordBytes = 8;
const u64Limit = Number.MAX_SAFE_INTEGER;

export const Section = { meta: 1, inodes: 2, entries: 3, freed: 4, end: 0xffff } as const;
/** The sections each format version carries, in stream order (`end` implied). */
export const sectionsByVersion: ReadonlyMap<number, readonly number[]> = new Map([
  [1, [Section.meta, Section.inodes, Section.entries, Section.freed]],
]);

export type SnapshotErrorReason =
  | 'magic'
  | 'version'
  | 'checksum'
  | 'sequence'
  | 'truncated'
  | 'trailing'
  | 'range'
  | 'order'
  | 'structure'
  | 'count'
  | 'namespace';

/** A snapshot stream that cannot be restored. `reason` says which check refused it. */
export class SnapshotError extends Error {
  override readonly name = 'SnapshotError';
  readonly code = 'ERR_BAD_SNAPSHOT';
  constructor(
    readonly reason: SnapshotErrorReason,
    message: string,
  ) {
    super(`bad snapshot (${reason}): ${message}`);
  }
}

export interface WriteSnapshotOptions {
  /** Bytes per yielded chunk, frame header included (8 KiB .. 16 MiB, default 1 MiB). */
  readonly chunkBytes?: number;
}

function checkChunkBytes(chunkBytes: number): void {
  if (!Number.isInteger(chunkBytes) || chunkBytes < minSnapshotChunkBytes || chunkBytes > maxSnapshotChunkBytes) {
    throw new RangeError(`chunkBytes must be an integer from ${minSnapshotChunkBytes} to ${maxSnapshotChunkBytes}, got ${chunkBytes}`);
  }
}

function setU64(v: DataView, p: number, x: number): void {
  invariant(Number.isInteger(x) && x >= 0 && x <= u64Limit, `u64 field ${x} is below 2^53`);
  v.setUint32(p, x % 0x1_0000_0000, true);
  v.setUint32(p + 4, Math.floor(x / 0x1_0000_0000), true);
}

/** Packs records into frames of at most `chunkBytes` bytes. */
class FrameWriter {
  buf: Uint8Array;
  view: DataView;
  pos = snapshotFrameHeaderBytes;
  sequence = 0;
  payloadTotal = 0;

  constructor(
    private readonly chunkBytes: number,
    private readonly seed: number,
  ) {
    this.buf = new Uint8Array(chunkBytes);
    this.view = new DataView(this.buf.buffer);
  }

  fits(n: number): boolean {
    return this.pos + n <= this.chunkBytes;
  }

  get empty(): boolean {
    return this.pos === snapshotFrameHeaderBytes;
  }

  /** Closes the current frame and returns it; the next record goes into a fresh buffer. */
  take(magic = dataFrameMagic): Uint8Array {
    const payload = this.pos - snapshotFrameHeaderBytes;
    this.view.setUint32(0, magic, true);
    this.view.setUint32(4, this.sequence, true);
    this.view.setUint32(8, payload, true);
    const crc = crc32(this.buf.subarray(snapshotFrameHeaderBytes, this.pos), crc32(this.buf.subarray(0, 12), this.seed));
    this.view.setUint32(12, crc, true);
    const frame = this.buf.subarray(0, this.pos);
    this.sequence++;
    if (magic === dataFrameMagic) this.payloadTotal += payload;
    this.buf = new Uint8Array(this.chunkBytes);
    this.view = new DataView(this.buf.buffer);
    this.pos = snapshotFrameHeaderBytes;
    return frame;
  }

  sectionHeader(id: number, count: number): void {
    this.view.setUint16(this.pos, id, true);
    this.view.setUint16(this.pos + 2, 0, true);
    setU64(this.view, this.pos + 4, count);
    this.pos += sectionHeaderBytes;
  }
}

/**
 * The snapshot of `state` as a sequence of chunks of at most `chunkBytes` bytes each: the stream
 * header, then one frame per chunk. Memory beyond the state is one chunk, plus the name order of
 * the directory being written (4 bytes per entry). The state must not change while the
 * generator runs (checked: the applied index must stay put).
 */
export function* writeSnapshot(state: MetadataState, options: WriteSnapshotOptions = {}): Generator<Uint8Array, void, undefined> {
  const chunkBytes = options.chunkBytes ?? defaultSnapshotChunkBytes;
  checkChunkBytes(chunkBytes);
  const { store: s, appliedIndex } = MetadataState.internals(state);
  const unchanged = (): void => invariant(state.lastAppliedIndex === appliedIndex, 'the state does not change while a snapshot is written');

  const header = new Uint8Array(snapshotHeaderBytes);
  const hv = new DataView(header.buffer);
  header.set(Buffer.from(snapshotMagic, 'latin1'), 0);
  hv.setUint32(8, snapshotFormatVersion, true);
  hv.setUint32(12, chunkBytes, true);
  setU64(hv, 16, appliedIndex);
  const seed = crc32(header.subarray(0, 24));
  hv.setUint32(24, seed, true);
  yield header;
  unchanged();

  const w = new FrameWriter(chunkBytes, seed);
  const t = s.entries;
  let inodes = 0;
  let dirsWithEntries = 0;
  for (let i = 1; i < s.nextInode && i < s.capacity; i++) {
    if (s.typeOf(i) === NodeType.free) continue;
    inodes++;
    if (s.isDir(i) && s.hasEntries(i)) dirsWithEntries++;
  }
  const freed = s.freedInodes.length - s.freedHead;

  w.sectionHeader(Section.meta, 1);
  setU64(w.view, w.pos, appliedIndex);
  setU64(w.view, w.pos + 8, s.nextInode);
  setU64(w.view, w.pos + 16, s.inodeReuseDelaySec);
  setU64(w.view, w.pos + 24, inodes);
  setU64(w.view, w.pos + 32, t.liveEntries);
  setU64(w.view, w.pos + 40, freed);
  setU64(w.view, w.pos + 48, t.liveNameBytes);
  w.pos += metaItemBytes;

  if (!w.fits(sectionHeaderBytes)) {
    yield w.take();
    unchanged();
  }
  w.sectionHeader(Section.inodes, inodes);
  const target = new Uint8Array(maxEncodedBytes(maxSymlinkTargetBytes));
  for (let i = 1; i < s.nextInode && i < s.capacity; i++) {
    const type = s.typeOf(i);
    if (type === NodeType.free) continue;
    const symlink = s.symlinkTarget.get(i);
    const targetBytes = symlink === undefined ? 0 : encodeName(symlink, target);
    const device = type === NodeType.blockdev || type === NodeType.chardev;
    const size = inodeRecordBytes + (type === NodeType.symlink ? 2 + targetBytes : 0) + (device ? 4 : 0);
    if (!w.fits(size)) {
      yield w.take();
      unchanged();
    }
    const v = w.view;
    let p = w.pos;
    v.setUint32(p, i, true);
    v.setUint8(p + 4, type);
    v.setUint16(p + 5, s.mode[i] ?? 0, true);
    v.setUint32(p + 7, s.uid[i] ?? 0, true);
    v.setUint32(p + 11, s.gid[i] ?? 0, true);
    v.setUint32(p + 15, s.atimeSec[i] ?? 0, true);
    v.setUint32(p + 19, s.mtimeSec[i] ?? 0, true);
    v.setUint32(p + 23, s.ctimeSec[i] ?? 0, true);
    v.setUint32(p + 27, s.nlink[i] ?? 0, true);
    setU64(v, p + 31, s.lengthBytes[i] ?? 0);
    v.setUint32(p + 39, s.parent[i] ?? 0, true);
    p += inodeRecordBytes;
    if (type === NodeType.symlink) {
      invariant(symlink !== undefined, `symlink ${i} has a target`);
      v.setUint16(p, targetBytes, true);
      w.buf.set(target.subarray(0, targetBytes), p + 2);
      p += 2 + targetBytes;
    }
    if (device) {
      v.setUint32(p, s.rdev.get(i) ?? 0, true);
      p += 4;
    }
    w.pos = p;
  }

  if (!w.fits(sectionHeaderBytes)) {
    yield w.take();
    unchanged();
  }
  w.sectionHeader(Section.entries, dirsWithEntries);
  for (let dir = 1; dir < s.nextInode && dir < s.capacity; dir++) {
    if (!s.isDir(dir) || !s.hasEntries(dir)) continue;
    const order = t.sorted(dir, false);
    if (!w.fits(dirHeaderBytes)) {
      yield w.take();
      unchanged();
    }
    w.view.setUint32(w.pos, dir, true);
    w.view.setUint32(w.pos + 4, order.length, true);
    w.pos += dirHeaderBytes;
    for (let k = 0; k < order.length; k++) {
      const e = order[k] ?? 0;
      const len = t.nameLength[e] ?? 0;
      if (!w.fits(entryRecordHeaderBytes + len)) {
        yield w.take();
        unchanged();
      }
      const p = w.pos;
      w.view.setUint32(p, t.childOf[e] ?? 0, true);
      w.buf[p + 4] = len;
      const at = t.nameOffset[e] ?? 0;
      w.buf.set(t.pool.subarray(at, at + len), p + 5);
      w.pos = p + entryRecordHeaderBytes + len;
    }
  }

  if (!w.fits(sectionHeaderBytes)) {
    yield w.take();
    unchanged();
  }
  w.sectionHeader(Section.freed, freed);
  for (let k = s.freedHead; k < s.freedInodes.length; k++) {
    if (!w.fits(freedRecordBytes)) {
      yield w.take();
      unchanged();
    }
    w.view.setUint32(w.pos, s.freedInodes[k] ?? 0, true);
    w.view.setUint32(w.pos + 4, s.freedAtSec[k] ?? 0, true);
    w.pos += freedRecordBytes;
  }

  if (!w.fits(sectionHeaderBytes)) {
    yield w.take();
    unchanged();
  }
  w.sectionHeader(Section.end, 0);
  const dataFrames = w.sequence + 1;
  const payloadTotal = w.payloadTotal + (w.pos - snapshotFrameHeaderBytes);
  yield w.take();
  unchanged();

  setU64(w.view, w.pos, dataFrames);
  setU64(w.view, w.pos + 8, payloadTotal);
  setU64(w.view, w.pos + 16, inodes);
  setU64(w.view, w.pos + 24, t.liveEntries);
  setU64(w.view, w.pos + 32, freed);
  w.pos += trailerPayloadBytes;
  yield w.take(trailerFrameMagic);
}

/** The whole snapshot in one buffer (tests and small states). */
export function snapshotBytes(state: MetadataState, options: WriteSnapshotOptions = {}): Uint8Array {
  return Buffer.concat([...writeSnapshot(state, options)]);
}
