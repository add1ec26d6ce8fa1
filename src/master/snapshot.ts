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
 * sub-record) are never split across frames. Format version 1 has, in order:
 *
 *   1 meta     1 item: u64 appliedIndex | u64 nextInode | u64 inodeReuseDelaySec | u64 inodes
 *              | u64 entries | u64 freed | u64 nameBytes | u64 lastChunkId (nextChunkId - 1)
 *              | u64 chunks | u64 trashed | u64 lastSessionId (nextSessionId - 1) | u64 sessions
 *   2 inodes   one per live inode, by increasing number: u32 inode | u8 type | u16 mode | u32 uid
 *              | u32 gid | u32 atime | u32 mtime | u32 ctime | u32 nlink | u64 length | u32 parent
 *              | u8 goal | u32 trashTimeSec, then for a symlink u16 targetBytes | target (WTF-8),
 *              for a device u32 rdev
 *   3 entries  one per directory that has entries, by increasing number: u32 dir | u32 count,
 *              then `count` entries in name order (compareNames): u32 child | u8 nameBytes | name
 *   4 freed    the inode free FIFO, oldest first: u32 inode | u32 freedAtSec
 *   5 chunks   one per chunk, by increasing (inode, index): u32 inode | u32 index | u64 chunkId
 *              | u32 version | u32 lockedToSec
 *   6 trash    one per trashed file, by increasing inode: u32 inode | u64 expiresAtSec
 *              | u32 parent | u8 nameBytes | name (WTF-8)
 *   7 sessions one per session, by increasing id: u32 id | u32 rootInode | u8 flags
 *              | u32 timeoutSec | u64 expiresAtSec | u64 highestSeq | u32 openCount
 *              | u8 windowCount, then `openCount` records u32 inode (ascending), then
 *              `windowCount` records u64 seq | u16 resultBytes | result (encodeResult), by seq
 *   0xffff end (itemCount 0)
 *
 * Derived structures are rebuilt on restore, not written: the sustained set (the files with no
 * name outside the trash), open counts (from the sessions' open sets), the trash expiry heap,
 * length totals, per-type counts, the chunk table's slots and every cache of the entry table.
 *
 * Everything is canonical (inodes, directories, names, chunks, sessions in order, no layout
 * detail), so two replicas in the same logical state write identical bytes for the same chunk
 * size, whatever their history.
 *
 * The reader is in snapshot-reader.ts. Adding state: give it a new section id, write it before
 * `end`, and list it in `sectionsByVersion` (after a release, under a new format version; the
 * reader keeps reading older versions with their own lists). A reader never skips a section it
 * does not know: a replica that ignored part of the state would diverge.
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
export const metaItemBytes = 96;
export const inodeRecordBytes = 48;
export const dirHeaderBytes = 8;
export const entryRecordHeaderBytes = 5;
export const freedRecordBytes = 8;
export const chunkRecordBytes = 24;
export const trashRecordHeaderBytes = 17;
export const sessionHeaderBytes = 34;
export const openRecordBytes = 4;
export const retryRecordHeaderBytes = 10;
/** Bound on one stored result, so a retry record always fits in the smallest frame. */
export const maxRetryResultBytes = 1024;
const u64Limit = Number.MAX_SAFE_INTEGER;

export const Section = { meta: 1, inodes: 2, entries: 3, freed: 4, chunks: 5, trash: 6, sessions: 7, end: 0xffff } as const;
/** The sections each format version carries, in stream order (`end` implied). */
export const sectionsByVersion: ReadonlyMap<number, readonly number[]> = new Map([
  [1, [Section.meta, Section.inodes, Section.entries, Section.freed, Section.chunks, Section.trash, Section.sessions]],
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
  if (!(Number.isInteger(x) && x >= 0 && x <= u64Limit)) invariant(false, `u64 field ${x} is below 2^53`);
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
    /** Called after each yielded frame, when the consumer hands control back. */
    private readonly resumed: () => void,
  ) {
    this.buf = new Uint8Array(chunkBytes);
    this.view = new DataView(this.buf.buffer);
  }

  /**
   * Whether a record of `n` bytes fits in the current frame; if not, `flush` before writing it.
   * Every record is below `minSnapshotChunkBytes` minus the frame header, so it fits a fresh frame.
   */
  fits(n: number): boolean {
    return this.pos + n <= this.chunkBytes;
  }

  /** Yields the current frame; the next record goes into a fresh one. */
  *flush(): Generator<Uint8Array, void, undefined> {
    yield this.take();
    this.resumed();
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

  *section(id: number, count: number): Generator<Uint8Array, void, undefined> {
    if (!this.fits(sectionHeaderBytes)) yield* this.flush();
    this.u16(id);
    this.u16(0);
    this.u64(count);
  }

  u8(x: number): void {
    this.view.setUint8(this.pos, x);
    this.pos += 1;
  }

  u16(x: number): void {
    this.view.setUint16(this.pos, x, true);
    this.pos += 2;
  }

  u32(x: number): void {
    this.view.setUint32(this.pos, x, true);
    this.pos += 4;
  }

  u64(x: number): void {
    setU64(this.view, this.pos, x);
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

/**
 * The snapshot of `state` as a sequence of chunks of at most `chunkBytes` bytes each: the stream
 * header, then one frame per chunk. Memory beyond the state is one chunk, plus the name order of
 * the directory being written (4 bytes per entry) and the sorted ids and held inodes of the
 * sessions. The state must not change while the generator runs (checked: the applied index must
 * stay put).
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

  const w = new FrameWriter(chunkBytes, seed, unchanged);
  const t = s.entries;
  const end = Math.min(s.nextInode, s.capacity);
  let inodes = 0;
  let dirsWithEntries = 0;
  for (let i = 1; i < end; i++) {
    if (s.typeOf(i) === NodeType.free) continue;
    inodes++;
    if (s.isDir(i) && s.hasEntries(i)) dirsWithEntries++;
  }
  const freed = s.freedInodes.length - s.freedHead;
  const chunks = s.chunks.table.size;

  yield* w.section(Section.meta, 1);
  if (!w.fits(metaItemBytes)) yield* w.flush();
  for (const x of [appliedIndex, s.nextInode, s.inodeReuseDelaySec, inodes, t.liveEntries, freed, t.liveNameBytes]) w.u64(x);
  for (const x of [s.chunks.nextChunkId - 1, chunks, s.trash.size, s.nextSessionId - 1, s.sessions.size]) w.u64(x);

  yield* w.section(Section.inodes, inodes);
  const encoded = new Uint8Array(maxEncodedBytes(maxSymlinkTargetBytes));
  for (let i = 1; i < end; i++) {
    const type = s.typeOf(i);
    if (type === NodeType.free) continue;
    const symlink = s.symlinkTarget.get(i);
    const targetBytes = symlink === undefined ? 0 : encodeName(symlink, encoded);
    const device = type === NodeType.blockdev || type === NodeType.chardev;
    if (!w.fits(inodeRecordBytes + (type === NodeType.symlink ? 2 + targetBytes : 0) + (device ? 4 : 0))) yield* w.flush();
    w.u32(i);
    w.u8(type);
    w.u16(s.mode[i] ?? 0);
    w.u32(s.uid[i] ?? 0);
    w.u32(s.gid[i] ?? 0);
    w.u32(s.atimeSec[i] ?? 0);
    w.u32(s.mtimeSec[i] ?? 0);
    w.u32(s.ctimeSec[i] ?? 0);
    w.u32(s.nlink[i] ?? 0);
    w.u64(s.lengthBytes[i] ?? 0);
    w.u32(s.parent[i] ?? 0);
    w.u8(s.goal[i] ?? 0);
    w.u32(s.trashTimeSec[i] ?? 0);
    if (type === NodeType.symlink) {
      invariant(symlink !== undefined, `symlink ${i} has a target`);
      w.u16(targetBytes);
      w.bytes(encoded.subarray(0, targetBytes));
    }
    if (device) w.u32(s.rdev.get(i) ?? 0);
  }

  yield* w.section(Section.entries, dirsWithEntries);
  for (let dir = 1; dir < end; dir++) {
    if (!s.isDir(dir) || !s.hasEntries(dir)) continue;
    const order = t.sorted(dir, false);
    if (!w.fits(dirHeaderBytes)) yield* w.flush();
    w.u32(dir);
    w.u32(order.length);
    for (let k = 0; k < order.length; k++) {
      const e = order[k] ?? 0;
      const len = t.nameLength[e] ?? 0;
      if (!w.fits(entryRecordHeaderBytes + len)) yield* w.flush();
      w.u32(t.childOf[e] ?? 0);
      w.u8(len);
      const at = t.nameOffset[e] ?? 0;
      w.bytes(t.pool.subarray(at, at + len));
    }
  }

  yield* w.section(Section.freed, freed);
  for (let k = s.freedHead; k < s.freedInodes.length; k++) {
    if (!w.fits(freedRecordBytes)) yield* w.flush();
    w.u32(s.freedInodes[k] ?? 0);
    w.u32(s.freedAtSec[k] ?? 0);
  }

  yield* w.section(Section.chunks, chunks);
  const table = s.chunks.table;
  for (let i = 1; i < end; i++) {
    if (s.type[i] !== NodeType.file) continue;
    const list = s.chunks.lists.get(i);
    if (list === undefined) continue;
    for (let k = 0; k < list.count; k++) {
      const id = list.ids[k] ?? 0;
      const slot = table.find(id);
      invariant(slot >= 0, `chunk ${id} of inode ${i} is in the table`);
      if (!w.fits(chunkRecordBytes)) yield* w.flush();
      w.u32(i);
      w.u32(list.indexes[k] ?? 0);
      w.u64(id);
      w.u32(table.version[slot] ?? 0);
      w.u32(table.lockedToSec[slot] ?? 0);
    }
  }

  yield* w.section(Section.trash, s.trash.size);
  for (let i = 1; i < end; i++) {
    // Only a file with no name can be in the trash: skip the map lookup for the others.
    if (s.nlink[i] !== 0 || s.type[i] !== NodeType.file) continue;
    const e = s.trash.get(i);
    if (e === undefined) continue;
    const len = encodeName(e.name, encoded);
    if (!w.fits(trashRecordHeaderBytes + len)) yield* w.flush();
    w.u32(i);
    w.u64(e.expiresAtSec);
    w.u32(e.parent);
    w.u8(len);
    w.bytes(encoded.subarray(0, len));
  }

  yield* w.section(Section.sessions, s.sessions.size);
  for (const id of [...s.sessions.keys()].sort((a, b) => a - b)) {
    const x = s.sessions.get(id);
    invariant(x !== undefined, `session ${id} exists`);
    const open = [...x.open].sort((a, b) => a - b);
    const window: number[] = [];
    for (let k = 0; k < x.windowSeq.length; k++) if ((x.windowSeq[k] ?? 0) !== 0) window.push(k);
    window.sort((a, b) => (x.windowSeq[a] ?? 0) - (x.windowSeq[b] ?? 0));
    if (!w.fits(sessionHeaderBytes)) yield* w.flush();
    w.u32(id);
    w.u32(x.rootInode);
    w.u8(x.flags);
    w.u32(x.timeoutSec);
    w.u64(x.expiresAtSec);
    w.u64(x.highestSeq);
    w.u32(open.length);
    w.u8(window.length);
    for (const inode of open) {
      if (!w.fits(openRecordBytes)) yield* w.flush();
      w.u32(inode);
    }
    for (const slot of window) {
      const result = x.windowResult[slot];
      invariant(result !== undefined && result.length <= maxRetryResultBytes, `session ${id} retry slot ${slot} holds a result`);
      if (!w.fits(retryRecordHeaderBytes + result.length)) yield* w.flush();
      w.u64(x.windowSeq[slot] ?? 0);
      w.u16(result.length);
      w.bytes(result);
    }
  }

  yield* w.section(Section.end, 0);
  const dataFrames = w.sequence + 1;
  const payloadTotal = w.payloadTotal + (w.pos - snapshotFrameHeaderBytes);
  yield w.take();
  unchanged();

  for (const x of [dataFrames, payloadTotal, inodes, t.liveEntries, freed]) w.u64(x);
  yield w.take(trailerFrameMagic);
}

/** The whole snapshot in one buffer (tests and small states). */
export function snapshotBytes(state: MetadataState, options: WriteSnapshotOptions = {}): Uint8Array {
  return Buffer.concat([...writeSnapshot(state, options)]);
}
