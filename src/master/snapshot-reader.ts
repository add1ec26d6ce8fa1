import { crc32 } from 'node:zlib';
import { ChunkList } from './chunks.ts';
import { decodeResult, encodeResult } from './codec.ts';
import { NodeType } from './commands.ts';
import { maxEntries, maxNamePoolBytes } from './entries.ts';
import { invariant } from './errors.ts';
import {
  initialInodeCapacity,
  maxChunkIndex,
  maxFileLengthBytes,
  maxGoal,
  maxInode,
  maxNameBytes,
  maxSessionId,
  maxSessionTimeoutSec,
  maxSymlinkTargetBytes,
  minGoal,
  retryWindow,
  rootInode,
} from './limits.ts';
import { compareNameBytes, decodeName } from './namebytes.ts';
import type { Session } from './sessions.ts';
import {
  Section,
  SnapshotError,
  chunkRecordBytes,
  dataFrameMagic,
  dirHeaderBytes,
  entryRecordHeaderBytes,
  freedRecordBytes,
  inodeRecordBytes,
  maxRetryResultBytes,
  maxSnapshotChunkBytes,
  metaItemBytes,
  minSnapshotChunkBytes,
  openRecordBytes,
  retryRecordHeaderBytes,
  sectionHeaderBytes,
  sectionsByVersion,
  sessionHeaderBytes,
  snapshotFrameHeaderBytes,
  snapshotHeaderBytes,
  snapshotMagic,
  trailerFrameMagic,
  trailerPayloadBytes,
  trashRecordHeaderBytes,
} from './snapshot.ts';
import { MetadataState } from './state.ts';
import { Store } from './store.ts';

// Reads the stream that snapshot.ts writes; the format is described there.

export interface SnapshotReaderOptions {
  /** Initial inode slots of the restored state (it is at least the snapshot's `nextInode`). */
  readonly initialInodeCapacity?: number;
}

/** Restores a state from chunks of a snapshot stream, split anywhere. */
export function restoreSnapshot(chunks: Iterable<Uint8Array>, options: SnapshotReaderOptions = {}): MetadataState {
  const r = new SnapshotReader(options);
  for (const chunk of chunks) r.push(chunk);
  return r.finish();
}

/** `sub`: the records that follow an item (a directory's entries, a session's inodes and retry results). */
type Phase = 'header' | 'section' | 'items' | 'sub' | 'end' | 'done';

/**
 * Push-style restore: `push` bytes as they arrive (split anywhere), then `finish()` for the
 * state. Every field is validated; any defect throws `SnapshotError` (code ERR_BAD_SNAPSHOT),
 * after which the reader refuses further use. No state is returned unless the whole stream was
 * read and the namespace checked (link counts, reachability, the free FIFO, files with no name).
 * The derived structures (sustained set, open counts, trash expiry heap, totals) are rebuilt.
 * Memory beyond the state being built: one frame (at most the stream's chunkBytes), plus one
 * 32-bit counter per inode slot during `finish`.
 */
export class SnapshotReader {
  private failure: SnapshotError | null = null;
  private finished = false;
  private phase: Phase = 'header';
  private readonly headerBuf = new Uint8Array(snapshotHeaderBytes);
  private frame: Uint8Array = new Uint8Array(0);
  private frameView: DataView = new DataView(new ArrayBuffer(0));
  /** Bytes of the current header or frame received so far. */
  private have = 0;
  private chunkBytes = 0;
  private seed = 0;
  private sequence = 0;
  private payloadTotal = 0;

  private sections: readonly number[] = [];
  private sectionIndex = 0;
  private section = 0;
  private remaining = 0;

  private store: Store | null = null;
  private appliedIndex = 0;
  private headerAppliedIndex = 0;
  private nextInode = 0;
  private inodes = 0;
  private entries = 0;
  private freed = 0;
  private nameBytes = 0;
  private lastChunkId = 0;
  private chunks = 0;
  private trashed = 0;
  private lastSessionId = 0;
  private sessions = 0;
  private lastInode = 0;
  private lastDir = 0;
  private dir = 0;
  /** Sub-records left after the current item. */
  private subRemaining = 0;
  private entriesSeen = 0;
  private readonly lastName = new Uint8Array(maxNameBytes);
  private lastNameBytes = 0;
  private lastChunkInode = 0;
  private lastChunkIndex = -1;
  private lastTrashed = 0;
  private session: Session | null = null;
  private openRemaining = 0;
  private lastOpen = 0;
  private lastRetrySeq = 0;

  constructor(private readonly options: SnapshotReaderOptions = {}) {
    const cap = options.initialInodeCapacity;
    if (cap !== undefined && (!Number.isInteger(cap) || cap < 2)) throw new RangeError(`initialInodeCapacity must be an integer >= 2, got ${cap}`);
  }

  push(bytes: Uint8Array): void {
    this.usable();
    try {
      this.consume(bytes);
    } catch (e) {
      throw this.fail(e);
    }
  }

  finish(): MetadataState {
    this.usable();
    try {
      if (this.phase !== 'done') throw new SnapshotError('truncated', `stream ends in phase ${this.phase}`);
      const store = this.store;
      invariant(store !== null, 'a complete stream built a store');
      verifyNamespace(store, this.nextInode);
      deriveKept(store, this.nextInode);
      this.finished = true;
      return new MetadataState({}, { store, appliedIndex: this.appliedIndex });
    } catch (e) {
      throw this.fail(e);
    }
  }

  private usable(): void {
    if (this.failure !== null) throw this.failure;
    if (this.finished) throw new Error('SnapshotReader: finish() was already called');
  }

  private fail(e: unknown): SnapshotError {
    // A broken invariant while building means a check above let a bad value through; the stream is refused all the same.
    const err = e instanceof SnapshotError ? e : new SnapshotError('structure', e instanceof Error ? e.message : String(e));
    this.failure = err;
    this.store = null;
    return err;
  }

  private consume(bytes: Uint8Array): void {
    let off = 0;
    while (off < bytes.length) {
      if (this.phase === 'done') throw new SnapshotError('trailing', `${bytes.length - off} bytes after the trailer`);
      if (this.phase === 'header') {
        const n = Math.min(snapshotHeaderBytes - this.have, bytes.length - off);
        this.headerBuf.set(bytes.subarray(off, off + n), this.have);
        this.have += n;
        off += n;
        if (this.have === snapshotHeaderBytes) this.readHeader();
        continue;
      }
      // Frame header first, then as much payload as it announces.
      let want = snapshotFrameHeaderBytes;
      if (this.have >= snapshotFrameHeaderBytes) want += this.frameView.getUint32(8, true);
      const n = Math.min(want - this.have, bytes.length - off);
      this.frame.set(bytes.subarray(off, off + n), this.have);
      this.have += n;
      off += n;
      if (this.have === snapshotFrameHeaderBytes) this.checkFrameHeader();
      if (this.have >= snapshotFrameHeaderBytes && this.have === snapshotFrameHeaderBytes + this.frameView.getUint32(8, true)) {
        this.readFrame();
        this.have = 0;
      }
    }
  }

  private readHeader(): void {
    const h = this.headerBuf;
    const v = new DataView(h.buffer, h.byteOffset, h.byteLength);
    if (Buffer.from(h.subarray(0, 8)).toString('latin1') !== snapshotMagic) throw new SnapshotError('magic', 'not a metadata snapshot');
    const version = v.getUint32(8, true);
    const sections = sectionsByVersion.get(version);
    if (sections === undefined) throw new SnapshotError('version', `format version ${version} is not supported`);
    const seed = crc32(h.subarray(0, 24));
    if (v.getUint32(24, true) !== seed) throw new SnapshotError('checksum', 'stream header checksum mismatch');
    const chunkBytes = v.getUint32(12, true);
    if (chunkBytes < minSnapshotChunkBytes || chunkBytes > maxSnapshotChunkBytes) {
      throw new SnapshotError('range', `chunkBytes ${chunkBytes} is out of range`);
    }
    const lo = v.getUint32(16, true);
    const hi = v.getUint32(20, true);
    if (hi >= 0x20_0000) throw new SnapshotError('range', 'applied index of 2^53 or more');
    this.headerAppliedIndex = hi * 0x1_0000_0000 + lo;
    this.sections = sections;
    this.chunkBytes = chunkBytes;
    this.seed = seed;
    this.frame = new Uint8Array(chunkBytes);
    this.frameView = new DataView(this.frame.buffer);
    this.have = 0;
    this.phase = 'section';
  }

  private checkFrameHeader(): void {
    const v = this.frameView;
    const magic = v.getUint32(0, true);
    if (magic !== dataFrameMagic && magic !== trailerFrameMagic) throw new SnapshotError('magic', `frame ${this.sequence} has magic ${magic.toString(16)}`);
    const payload = v.getUint32(8, true);
    if (snapshotFrameHeaderBytes + payload > this.chunkBytes) {
      throw new SnapshotError('range', `frame ${this.sequence} payload of ${payload} bytes exceeds the chunk size ${this.chunkBytes}`);
    }
  }

  private readFrame(): void {
    const v = this.frameView;
    const payload = v.getUint32(8, true);
    const end = snapshotFrameHeaderBytes + payload;
    const crc = crc32(this.frame.subarray(snapshotFrameHeaderBytes, end), crc32(this.frame.subarray(0, 12), this.seed));
    if (v.getUint32(12, true) !== crc) throw new SnapshotError('checksum', `frame ${this.sequence} checksum mismatch`);
    if (v.getUint32(4, true) !== this.sequence) throw new SnapshotError('sequence', `frame ${v.getUint32(4, true)} where ${this.sequence} was due`);
    this.sequence++;
    if (v.getUint32(0, true) === trailerFrameMagic) {
      this.readTrailer(payload);
      return;
    }
    if (this.phase === 'end') throw new SnapshotError('structure', 'data frame after the end section');
    if (payload === 0) throw new SnapshotError('range', 'empty data frame');
    this.payloadTotal += payload;
    let p = snapshotFrameHeaderBytes;
    while (p < end) p = this.readRecord(p, end);
  }

  private readTrailer(payload: number): void {
    if (this.phase !== 'end') throw new SnapshotError('truncated', `trailer in phase ${this.phase}`);
    if (payload !== trailerPayloadBytes) throw new SnapshotError('range', `trailer of ${payload} bytes`);
    const p = snapshotFrameHeaderBytes;
    const totals = [this.sequence - 1, this.payloadTotal, this.inodes, this.entries, this.freed];
    for (let k = 0; k < totals.length; k++) {
      const got = this.u64(p + 8 * k);
      if (got !== totals[k]) throw new SnapshotError('count', `trailer total ${k} is ${got}, counted ${totals[k]}`);
    }
    this.phase = 'done';
  }

  private u64(p: number): number {
    const lo = this.frameView.getUint32(p, true);
    const hi = this.frameView.getUint32(p + 4, true);
    if (hi >= 0x20_0000) throw new SnapshotError('range', `u64 at ${p} is 2^53 or more`);
    return hi * 0x1_0000_0000 + lo;
  }

  private need(p: number, n: number, end: number, what: string): void {
    if (p + n > end) throw new SnapshotError('truncated', `${what} cut at the end of frame ${this.sequence - 1}`);
  }

  /** Reads one record at `p` and returns the offset after it. */
  private readRecord(p: number, end: number): number {
    const v = this.frameView;
    switch (this.phase) {
      case 'section': {
        this.need(p, sectionHeaderBytes, end, 'section header');
        const id = v.getUint16(p, true);
        const count = this.u64(p + 4);
        if (v.getUint16(p + 2, true) !== 0) throw new SnapshotError('range', 'section header reserved field set');
        const expected = this.sections[this.sectionIndex] ?? Section.end;
        if (id !== expected) throw new SnapshotError('structure', `section ${id} where ${expected} was due`);
        this.sectionIndex++;
        this.section = id;
        this.remaining = count;
        if (id === Section.end) {
          if (count !== 0) throw new SnapshotError('range', 'end section with items');
          this.phase = 'end';
        } else {
          this.startSection(id, count);
        }
        return p + sectionHeaderBytes;
      }
      case 'items':
        this.remaining--;
        p = this.readItem(p, end);
        if (this.remaining === 0 && this.phase === 'items') this.endSection();
        return p;
      case 'sub':
        p = this.section === Section.entries ? this.readEntry(p, end) : this.readSessionRecord(p, end);
        if (--this.subRemaining === 0) this.endSub();
        return p;
      case 'end':
        throw new SnapshotError('structure', 'records after the end section');
      case 'header':
      case 'done':
        throw new SnapshotError('structure', `record in phase ${this.phase}`);
    }
  }

  /** The current item's sub-records are all read. */
  private endSub(): void {
    if (this.section === Section.sessions) this.endSession();
    this.phase = 'items';
    if (this.remaining === 0) this.endSection();
  }

  /** The item count the meta section announced for section `id`, or -1 when it announces none. */
  private announced(id: number): number {
    switch (id) {
      case Section.meta:
        return 1;
      case Section.inodes:
        return this.inodes;
      case Section.freed:
        return this.freed;
      case Section.chunks:
        return this.chunks;
      case Section.trash:
        return this.trashed;
      case Section.sessions:
        return this.sessions;
      default:
        return -1;
    }
  }

  private startSection(id: number, count: number): void {
    const expected = this.announced(id);
    if (expected >= 0 && count !== expected) throw new SnapshotError('count', `section ${id} has ${count} items, expected ${expected}`);
    if (id === Section.entries && count > this.inodes) throw new SnapshotError('count', `${count} directories with entries, ${this.inodes} inodes`);
    this.phase = 'items';
    if (count === 0) this.endSection();
  }

  private endSection(): void {
    if (this.section === Section.entries && this.entriesSeen !== this.entries) {
      throw new SnapshotError('count', `${this.entriesSeen} entries, meta says ${this.entries}`);
    }
    if (this.section === Section.entries && this.store !== null && this.store.entries.liveNameBytes !== this.nameBytes) {
      throw new SnapshotError('count', `${this.store.entries.liveNameBytes} name bytes, meta says ${this.nameBytes}`);
    }
    this.phase = 'section';
  }

  private readItem(p: number, end: number): number {
    switch (this.section) {
      case Section.meta:
        return this.readMeta(p, end);
      case Section.inodes:
        return this.readInode(p, end);
      case Section.entries: {
        this.need(p, dirHeaderBytes, end, 'directory header');
        const s = this.storeOrFail();
        const dir = this.frameView.getUint32(p, true);
        const count = this.frameView.getUint32(p + 4, true);
        if (dir <= this.lastDir) throw new SnapshotError('order', `directory ${dir} after ${this.lastDir}`);
        if (!s.isDir(dir)) throw new SnapshotError('namespace', `entries for ${dir}, which is not a live directory`);
        if (count === 0 || this.entriesSeen + count > this.entries) throw new SnapshotError('count', `directory ${dir} with ${count} entries`);
        this.lastDir = dir;
        this.dir = dir;
        this.subRemaining = count;
        this.lastNameBytes = 0;
        this.phase = 'sub';
        return p + dirHeaderBytes;
      }
      case Section.freed:
        return this.readFreed(p, end);
      case Section.chunks:
        return this.readChunk(p, end);
      case Section.trash:
        return this.readTrashed(p, end);
      case Section.sessions:
        return this.readSession(p, end);
      default:
        throw new SnapshotError('structure', `items of section ${this.section}`);
    }
  }

  private storeOrFail(): Store {
    if (this.store === null) throw new SnapshotError('structure', 'no meta section');
    return this.store;
  }

  private readMeta(p: number, end: number): number {
    this.need(p, metaItemBytes, end, 'meta');
    this.appliedIndex = this.u64(p);
    if (this.appliedIndex !== this.headerAppliedIndex) {
      throw new SnapshotError('count', `meta applied index ${this.appliedIndex}, header ${this.headerAppliedIndex}`);
    }
    const nextInode = this.u64(p + 8);
    const delay = this.u64(p + 16);
    this.inodes = this.u64(p + 24);
    this.entries = this.u64(p + 32);
    this.freed = this.u64(p + 40);
    this.nameBytes = this.u64(p + 48);
    this.lastChunkId = this.u64(p + 56);
    this.chunks = this.u64(p + 64);
    this.trashed = this.u64(p + 72);
    this.lastSessionId = this.u64(p + 80);
    this.sessions = this.u64(p + 88);
    if (nextInode < rootInode + 1 || nextInode > maxInode + 1) throw new SnapshotError('range', `nextInode ${nextInode}`);
    if (this.inodes < 1 || this.inodes > nextInode - 1 || this.freed !== nextInode - 1 - this.inodes) {
      throw new SnapshotError('count', `${this.inodes} inodes and ${this.freed} freed below nextInode ${nextInode}`);
    }
    // Files in the trash or sustained have no name, so entries may be fewer than inodes - 1.
    if (this.entries > maxEntries) throw new SnapshotError('count', `${this.entries} entries`);
    if (this.nameBytes < this.entries || this.nameBytes > this.entries * maxNameBytes || this.nameBytes > maxNamePoolBytes) {
      throw new SnapshotError('count', `${this.nameBytes} name bytes for ${this.entries} entries`);
    }
    if (this.chunks > this.lastChunkId) throw new SnapshotError('count', `${this.chunks} chunks, last chunk id ${this.lastChunkId}`);
    if (this.trashed > this.inodes) throw new SnapshotError('count', `${this.trashed} trashed files, ${this.inodes} inodes`);
    if (this.lastSessionId > maxSessionId || this.sessions > this.lastSessionId) {
      throw new SnapshotError('count', `${this.sessions} sessions, last session id ${this.lastSessionId}`);
    }
    this.nextInode = nextInode;
    // Slots up to nextInode - 1 exist; the table then grows by doubling as the state does.
    const capacity = Math.max(this.options.initialInodeCapacity ?? initialInodeCapacity, nextInode);
    const store = new Store(delay, capacity);
    store.nextInode = nextInode;
    store.entries.reserve(this.entries, this.nameBytes);
    store.chunks.nextChunkId = this.lastChunkId + 1;
    store.nextSessionId = this.lastSessionId + 1;
    this.store = store;
    return p + metaItemBytes;
  }

  private readInode(p: number, end: number): number {
    this.need(p, inodeRecordBytes, end, 'inode');
    const s = this.storeOrFail();
    const v = this.frameView;
    const inode = v.getUint32(p, true);
    const type = v.getUint8(p + 4);
    const mode = v.getUint16(p + 5, true);
    const nlink = v.getUint32(p + 27, true);
    const length = this.u64(p + 31);
    const parent = v.getUint32(p + 39, true);
    const goal = v.getUint8(p + 43);
    if (inode <= this.lastInode || inode >= this.nextInode) throw new SnapshotError('order', `inode ${inode} after ${this.lastInode} (next ${this.nextInode})`);
    if (this.lastInode === 0 && (inode !== rootInode || type !== NodeType.directory || parent !== rootInode)) {
      throw new SnapshotError('namespace', 'the first inode is not the root directory');
    }
    if (type < NodeType.file || type > NodeType.socket) throw new SnapshotError('range', `inode ${inode} type ${type}`);
    if (mode > 0o7777) throw new SnapshotError('range', `inode ${inode} mode ${mode.toString(8)}`);
    const isDir = type === NodeType.directory;
    if (isDir ? parent === 0 || parent >= this.nextInode : parent !== 0) throw new SnapshotError('range', `inode ${inode} parent ${parent}`);
    // A file may have no name (trashed or sustained: checked in `finish`); other types have one at least.
    if (nlink < (isDir ? 2 : type === NodeType.file ? 0 : 1)) throw new SnapshotError('range', `inode ${inode} nlink ${nlink}`);
    if (goal < minGoal || goal > maxGoal) throw new SnapshotError('range', `inode ${inode} goal ${goal}`);
    if (length > maxFileLengthBytes || (type !== NodeType.file && type !== NodeType.symlink && length !== 0)) {
      throw new SnapshotError('range', `inode ${inode} length ${length}`);
    }
    this.lastInode = inode;
    s.init(inode, type as Exclude<NodeType, 0>, mode, v.getUint32(p + 7, true), v.getUint32(p + 11, true), v.getUint32(p + 15, true), goal, v.getUint32(p + 44, true));
    s.mtimeSec[inode] = v.getUint32(p + 19, true);
    s.ctimeSec[inode] = v.getUint32(p + 23, true);
    s.nlink[inode] = nlink;
    s.parent[inode] = parent;
    p += inodeRecordBytes;
    if (type === NodeType.symlink) {
      this.need(p, 2, end, 'symlink target length');
      const bytes = v.getUint16(p, true);
      this.need(p + 2, bytes, end, 'symlink target');
      const target = decodeName(this.frame, p + 2, bytes);
      if (bytes === 0 || bytes > maxSymlinkTargetBytes || target === null || target.includes('\0') || bytes !== length) {
        throw new SnapshotError('range', `symlink ${inode} target of ${bytes} bytes, length ${length}`);
      }
      s.symlinkTarget.set(inode, target);
      p += 2 + bytes;
    }
    s.setLength(inode, length);
    if (type === NodeType.blockdev || type === NodeType.chardev) {
      this.need(p, 4, end, 'rdev');
      s.rdev.set(inode, v.getUint32(p, true));
      p += 4;
    }
    return p;
  }

  private readEntry(p: number, end: number): number {
    this.need(p, entryRecordHeaderBytes, end, 'entry');
    const s = this.storeOrFail();
    const child = this.frameView.getUint32(p, true);
    const len = this.frame[p + 4] ?? 0;
    const at = p + entryRecordHeaderBytes;
    this.need(at, len, end, 'entry name');
    const name = this.entryName(at, len);
    if (name === null) throw new SnapshotError('range', `directory ${this.dir}: bad name of ${len} bytes`);
    if (this.lastNameBytes > 0 && compareNameBytes(this.lastName, 0, this.lastNameBytes, this.frame, at, len) >= 0) {
      throw new SnapshotError('order', `directory ${this.dir}: ${JSON.stringify(name)} is not after the previous name`);
    }
    if (!s.exists(child)) throw new SnapshotError('namespace', `directory ${this.dir}: ${JSON.stringify(name)} names free inode ${child}`);
    if (s.isDir(child) && s.parent[child] !== this.dir) {
      throw new SnapshotError('namespace', `directory ${child} is named in ${this.dir} but its parent is ${s.parent[child]}`);
    }
    this.lastName.set(this.frame.subarray(at, at + len));
    this.lastNameBytes = len;
    s.entries.addBytes(this.dir, this.frame, at, len, child);
    this.entriesSeen++;
    return at + len;
  }

  private readFreed(p: number, end: number): number {
    this.need(p, freedRecordBytes, end, 'freed inode');
    const s = this.storeOrFail();
    const inode = this.frameView.getUint32(p, true);
    if (inode <= rootInode || inode >= this.nextInode || s.typeOf(inode) !== NodeType.free) {
      throw new SnapshotError('namespace', `freed inode ${inode} is live or out of range`);
    }
    s.freedInodes.push(inode);
    s.freedAtSec.push(this.frameView.getUint32(p + 4, true));
    return p + freedRecordBytes;
  }

  /** The name of `len` bytes at `at` if it may be a directory entry's (canonical WTF-8), else null. */
  private entryName(at: number, len: number): string | null {
    const name = len === 0 ? null : decodeName(this.frame, at, len);
    if (name === null || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) return null;
    return name;
  }

  private readChunk(p: number, end: number): number {
    this.need(p, chunkRecordBytes, end, 'chunk');
    const s = this.storeOrFail();
    const v = this.frameView;
    const inode = v.getUint32(p, true);
    const index = v.getUint32(p + 4, true);
    const id = this.u64(p + 8);
    const version = v.getUint32(p + 16, true);
    if (inode < this.lastChunkInode || (inode === this.lastChunkInode && index <= this.lastChunkIndex)) {
      throw new SnapshotError('order', `chunk at ${inode}/${index} after ${this.lastChunkInode}/${this.lastChunkIndex}`);
    }
    if (inode >= this.nextInode || s.typeOf(inode) !== NodeType.file) throw new SnapshotError('namespace', `chunk ${id} held by ${inode}, not a live file`);
    if (index > maxChunkIndex) throw new SnapshotError('range', `chunk index ${index} of inode ${inode}`);
    if (id < 1 || id > this.lastChunkId) throw new SnapshotError('range', `chunk id ${id}, last chunk id ${this.lastChunkId}`);
    if (version < 1) throw new SnapshotError('range', `chunk ${id} has version 0`);
    const chunks = s.chunks;
    if (chunks.table.find(id) >= 0) throw new SnapshotError('namespace', `chunk ${id} is held twice`);
    let list = chunks.lists.get(inode);
    if (list === undefined) {
      list = new ChunkList();
      chunks.lists.set(inode, list);
    }
    list.insert(index, id);
    chunks.table.insert(id, version, v.getUint32(p + 20, true), inode, index);
    this.lastChunkInode = inode;
    this.lastChunkIndex = index;
    return p + chunkRecordBytes;
  }

  private readTrashed(p: number, end: number): number {
    this.need(p, trashRecordHeaderBytes, end, 'trash entry');
    const s = this.storeOrFail();
    const v = this.frameView;
    const inode = v.getUint32(p, true);
    const expiresAtSec = this.u64(p + 4);
    const parent = v.getUint32(p + 12, true);
    const len = this.frame[p + 16] ?? 0;
    const at = p + trashRecordHeaderBytes;
    this.need(at, len, end, 'trash entry name');
    if (inode <= this.lastTrashed) throw new SnapshotError('order', `trashed inode ${inode} after ${this.lastTrashed}`);
    if (inode >= this.nextInode || s.typeOf(inode) !== NodeType.file || s.nlink[inode] !== 0) {
      throw new SnapshotError('namespace', `trashed inode ${inode} is not a live file with no name`);
    }
    // The directory the name was in may be gone since, but its number was handed out.
    if (parent < rootInode || parent >= this.nextInode) throw new SnapshotError('range', `trashed inode ${inode} from directory ${parent}`);
    const name = this.entryName(at, len);
    if (name === null) throw new SnapshotError('range', `trashed inode ${inode}: bad name of ${len} bytes`);
    s.trash.set(inode, { expiresAtSec, parent, name });
    this.lastTrashed = inode;
    return at + len;
  }

  private readSession(p: number, end: number): number {
    this.need(p, sessionHeaderBytes, end, 'session');
    const s = this.storeOrFail();
    const v = this.frameView;
    const id = v.getUint32(p, true);
    const rootInode = v.getUint32(p + 4, true);
    const timeoutSec = v.getUint32(p + 9, true);
    const highestSeq = this.u64(p + 21);
    const openCount = v.getUint32(p + 29, true);
    const windowCount = v.getUint8(p + 33);
    const last = this.session?.id ?? 0;
    if (id <= last) throw new SnapshotError('order', `session ${id} after ${last}`);
    if (id > this.lastSessionId) throw new SnapshotError('range', `session ${id}, last session id ${this.lastSessionId}`);
    if (rootInode < 1 || rootInode >= this.nextInode) throw new SnapshotError('range', `session ${id} root ${rootInode}`);
    if (timeoutSec < 1 || timeoutSec > maxSessionTimeoutSec) throw new SnapshotError('range', `session ${id} timeout ${timeoutSec}`);
    if (openCount > this.inodes) throw new SnapshotError('count', `session ${id} holds ${openCount} inodes`);
    if (windowCount > Math.min(retryWindow, highestSeq) || (highestSeq > 0 && windowCount === 0)) {
      throw new SnapshotError('count', `session ${id} keeps ${windowCount} results up to seq ${highestSeq}`);
    }
    const session: Session = {
      id,
      rootInode,
      flags: v.getUint8(p + 8),
      timeoutSec,
      expiresAtSec: this.u64(p + 13),
      open: new Set(),
      highestSeq,
      windowSeq: new Float64Array(retryWindow),
      windowResult: new Array<Uint8Array | undefined>(retryWindow).fill(undefined),
    };
    s.sessions.set(id, session);
    this.session = session;
    this.openRemaining = openCount;
    this.lastOpen = 0;
    this.lastRetrySeq = 0;
    this.subRemaining = openCount + windowCount;
    if (this.subRemaining > 0) this.phase = 'sub';
    else this.endSession();
    return p + sessionHeaderBytes;
  }

  /** One of the current session's held inodes, or one of its retry results. */
  private readSessionRecord(p: number, end: number): number {
    const s = this.storeOrFail();
    const session = this.session;
    invariant(session !== null, 'a session header came first');
    const v = this.frameView;
    if (this.openRemaining > 0) {
      this.need(p, openRecordBytes, end, 'held inode');
      const inode = v.getUint32(p, true);
      if (inode <= this.lastOpen) throw new SnapshotError('order', `session ${session.id} holds ${inode} after ${this.lastOpen}`);
      if (inode >= this.nextInode || s.typeOf(inode) !== NodeType.file) {
        throw new SnapshotError('namespace', `session ${session.id} holds ${inode}, not a live file`);
      }
      session.open.add(inode);
      s.openCount.set(inode, (s.openCount.get(inode) ?? 0) + 1);
      this.lastOpen = inode;
      this.openRemaining--;
      return p + openRecordBytes;
    }
    this.need(p, retryRecordHeaderBytes, end, 'retry result');
    const seq = this.u64(p);
    const len = v.getUint16(p + 8, true);
    const at = p + retryRecordHeaderBytes;
    this.need(at, len, end, 'retry result');
    if (seq < 1 || seq > session.highestSeq || seq <= session.highestSeq - retryWindow) {
      throw new SnapshotError('range', `session ${session.id} retry seq ${seq} outside the window of ${session.highestSeq}`);
    }
    if (seq <= this.lastRetrySeq) throw new SnapshotError('order', `session ${session.id} retry seq ${seq} after ${this.lastRetrySeq}`);
    const result = this.frame.slice(at, at + len);
    if (len > maxRetryResultBytes || !canonicalResult(result)) throw new SnapshotError('range', `session ${session.id} retry seq ${seq}: bad result`);
    session.windowSeq[seq % retryWindow] = seq;
    session.windowResult[seq % retryWindow] = result;
    this.lastRetrySeq = seq;
    return at + len;
  }

  private endSession(): void {
    const session = this.session;
    invariant(session !== null, 'a session was read');
    if (this.lastRetrySeq !== session.highestSeq) {
      throw new SnapshotError('range', `session ${session.id} lacks the result of its highest seq ${session.highestSeq}`);
    }
  }
}

/** Whether `bytes` is a result exactly as `encodeResult` writes it. */
function canonicalResult(bytes: Uint8Array): boolean {
  try {
    return Buffer.from(encodeResult(decodeResult(bytes))).equals(bytes);
  } catch {
    return false;
  }
}

/**
 * Rebuilds what derives from the files with no name: each is in the trash or, failing that,
 * sustained, which needs a session holding it. Then the length totals and the trash expiry heap.
 */
function deriveKept(s: Store, nextInode: number): void {
  let trashLength = 0n;
  let sustainedLength = 0n;
  for (let i = 2; i < nextInode; i++) {
    if (s.type[i] !== NodeType.file || s.nlink[i] !== 0) continue;
    const length = BigInt(s.lengthBytes[i] ?? 0);
    if (s.trash.has(i)) {
      trashLength += length;
    } else if (s.openCount.has(i)) {
      s.sustained.add(i);
      sustainedLength += length;
    } else {
      throw new SnapshotError('namespace', `file ${i} has no name, is not in the trash and no session holds it`);
    }
  }
  s.trashLengthBytes = trashLength;
  s.sustainedLengthBytes = sustainedLength;
  s.trashQueue.rebuild(s.trash);
}

/**
 * The namespace checks a record-by-record read cannot make: every non-root inode is named (a
 * directory exactly once, by its parent), link counts match the entries, directories form a tree
 * under the root, and the free FIFO holds each free number below nextInode exactly once. O(inodes
 * + entries) with one 32-bit counter per inode slot.
 */
function verifyNamespace(s: Store, nextInode: number): void {
  const t = s.entries;
  const mark = new Uint32Array(nextInode);
  for (let d = 1; d < nextInode; d++) {
    if (!s.isDir(d)) continue;
    let subdirs = 0;
    for (let e = t.first(d); e !== 0; e = t.next(e)) {
      const child = t.child(e);
      mark[child] = (mark[child] ?? 0) + 1;
      if (s.isDir(child)) subdirs++;
    }
    if (s.nlink[d] !== 2 + subdirs) throw new SnapshotError('namespace', `directory ${d} nlink ${s.nlink[d]}, has ${subdirs} subdirectories`);
  }
  for (let i = 1; i < nextInode; i++) {
    const type = s.typeOf(i);
    if (type === NodeType.free) continue;
    const names = mark[i] ?? 0;
    if (type === NodeType.directory ? names !== (i === rootInode ? 0 : 1) : names !== s.nlink[i]) {
      throw new SnapshotError('namespace', `inode ${i} has ${names} names, nlink ${s.nlink[i]}`);
    }
  }
  // Directories: 0 unknown, 1 on the path being walked, 2 known to reach the root.
  mark.fill(0);
  mark[rootInode] = 2;
  for (let d = 2; d < nextInode; d++) {
    if (!s.isDir(d) || mark[d] !== 0) continue;
    let up = d;
    while (mark[up] === 0) {
      mark[up] = 1;
      up = s.parent[up] ?? 0;
    }
    if (mark[up] === 1) throw new SnapshotError('namespace', `directory ${up} is its own ancestor`);
    for (let x = d; mark[x] === 1; x = s.parent[x] ?? 0) mark[x] = 2;
  }
  mark.fill(0);
  for (let k = s.freedHead; k < s.freedInodes.length; k++) {
    const i = s.freedInodes[k] ?? 0;
    if (mark[i] !== 0) throw new SnapshotError('namespace', `inode ${i} is twice in the free FIFO`);
    mark[i] = 1;
  }
}
