import { randomInt } from 'node:crypto';
import { assert } from '../raft/assert.ts';
import { emptyConfState, entrySizeBytes } from '../raft/storage.ts';
import type { LogStorage } from '../raft/storage.ts';
import type { ConfState, Entry, HardState, RandomSource, Ready, Snapshot } from '../raft/types.ts';
import { StorageCorruptionError, StorageError, errnoCode } from './errors.ts';
import type { StorageErrorCode } from './errors.ts';
import { joinPath } from './fileio.ts';
import type { FileHandle, FileIO } from './fileio.ts';
import {
  RecordKind,
  SEGMENT_HEADER_BYTES,
  encodeFrame,
  encodeSegmentHeader,
  decodeSegmentHeader,
  entryRecord,
  findValidFrameAfter,
  locateDamagedRecord,
  parseFrame,
  parseSegmentName,
  parseSnapshotName,
  segmentName,
  snapshotName,
} from './format.ts';
import type { SegmentHeader, WalRecord } from './format.ts';
import { readSnapshotFile, readSnapshotStream, writeSnapshotFile } from './snapshot-file.ts';

export type StorageLogger = (event: string, fields: Readonly<Record<string, unknown>>) => void;

export interface FileLogStorageOptions {
  readonly io: FileIO;
  /** The data directory (created if missing). The store owns every file in it. */
  readonly dir: string;
  /** A segment is closed and a new one started once it reaches this size. Default 64 MiB. */
  readonly segmentBytes?: number;
  /** Membership of a brand-new store (written as the snapshot at index 0). Ignored when the directory holds data. */
  readonly initialConfState?: ConfState;
  /** Receives recovery events (a torn tail cut back, leftovers removed). Default: JSON lines on stderr. */
  readonly logger?: StorageLogger;
  /** Source of the per-segment salts. Default: node:crypto. */
  readonly random?: RandomSource;
}

/** The last entry an append made durable: what `RaftNode.logPersisted(index, term)` takes. */
export interface DurableMark {
  readonly index: number;
  readonly term: number;
}

export interface PersistResult {
  /** The last entry of the Ready, now durable (undefined when the Ready had no entries). */
  readonly entries: DurableMark | undefined;
  /** The index of the Ready's snapshot, now durable (undefined when it had none). */
  readonly snapshotIndex: number | undefined;
}

export interface StorageStats {
  /** Every fsync/fdatasync issued: WAL frames, new segments, snapshots, directories. */
  fsyncs: number;
  /** fdatasyncs of WAL frames (one per group commit). */
  walSyncs: number;
  /** Entries made durable by WAL syncs. */
  entriesSynced: number;
  /** Bytes written to the WAL. */
  walBytes: number;
  /** The largest number of entries one WAL sync made durable. */
  maxEntriesPerSync: number;
  segmentsCreated: number;
  segmentsDeleted: number;
  snapshotsWritten: number;
  /** Bytes cut from a torn tail at open. */
  tornBytesCut: number;
}

interface SegmentInfo {
  readonly seq: number;
  readonly file: string;
  readonly header: SegmentHeader;
  /** Where the next frame goes (the end of the last valid frame). */
  size: number;
  /** The highest entry index recorded in the segment (0 if none). */
  maxEntryIndex: number;
}

interface OpBase<T> {
  readonly resolve: (v: T) => void;
  readonly reject: (e: unknown) => void;
}
type Op =
  | (OpBase<DurableMark> & { readonly k: 'append'; readonly entries: readonly Entry[] })
  | (OpBase<void> & { readonly k: 'hardState'; readonly hardState: HardState })
  | (OpBase<void> & { readonly k: 'compact'; readonly index: number })
  | (OpBase<void> & { readonly k: 'sync' })
  | (OpBase<void> & { readonly k: 'applySnapshot'; readonly snap: Snapshot })
  | (OpBase<Snapshot> & { readonly k: 'createSnapshot'; readonly index: number; readonly confState: ConfState; readonly data: Uint8Array });

const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

const defaultLogger: StorageLogger = (event, fields) => {
  process.stderr.write(`${JSON.stringify({ level: 'warn', component: 'storage', event, ...fields })}\n`);
};

const cryptoRandom: RandomSource = { intBelow: (n) => randomInt(n) };

/**
 * The in-memory image of the log, changed only by replaying WAL records (at open, and after each
 * record is durable). Replay is tolerant of a history whose oldest segments were deleted: an entry
 * that does not extend the log starts it afresh; open() checks the result is contiguous.
 */
class LogImage {
  dummyIndex = 0;
  dummyTerm = 0;
  /** Index of ents[0]. At runtime always dummyIndex + 1. */
  start = 1;
  ents: Entry[] = [];
  hardState: HardState = { term: 0, vote: 0, commit: 0 };

  last(): number {
    return this.ents.length === 0 ? Math.max(this.dummyIndex, this.start - 1) : this.start + this.ents.length - 1;
  }

  apply(r: WalRecord): void {
    switch (r.kind) {
      case RecordKind.EntryNormal:
      case RecordKind.EntryConf: {
        const i = r.entry.index;
        if (this.ents.length === 0 || i <= this.start || i > this.start + this.ents.length) {
          this.ents = [r.entry];
          this.start = i;
        } else {
          this.ents.length = i - this.start;
          this.ents.push(r.entry);
        }
        break;
      }
      case RecordKind.HardState:
        this.hardState = r.hardState;
        break;
      case RecordKind.Compact:
        this.dropThrough(r.index);
        this.dummyIndex = r.index;
        this.dummyTerm = r.term;
        break;
      case RecordKind.Reset:
        this.ents = [];
        this.start = r.index + 1;
        this.dummyIndex = r.index;
        this.dummyTerm = r.term;
        break;
    }
  }

  dropThrough(index: number): void {
    const k = Math.min(this.ents.length, Math.max(0, index - this.start + 1));
    if (k > 0) this.ents.splice(0, k);
    this.start = this.ents.length === 0 ? Math.max(this.start, index + 1) : this.start + k;
  }

  term(index: number): number | undefined {
    if (index === this.dummyIndex) return this.dummyTerm;
    if (index < this.start || index >= this.start + this.ents.length) return undefined;
    return this.ents[index - this.start]!.term;
  }
}

/** What a batch would make of the log, before it is durable (for validating the batch's ops). */
class Projection {
  dummyIndex: number;
  dummyTerm: number;
  last: number;
  private overlayStart = Infinity;
  private overlay: Entry[] = [];

  constructor(private readonly img: LogImage) {
    this.dummyIndex = img.dummyIndex;
    this.dummyTerm = img.dummyTerm;
    this.last = img.last();
  }

  term(i: number): number | undefined {
    if (i === this.dummyIndex) return this.dummyTerm;
    if (i < this.dummyIndex || i > this.last) return undefined;
    if (i >= this.overlayStart) return this.overlay[i - this.overlayStart]!.term;
    return this.img.term(i);
  }

  setEntries(es: readonly Entry[]): void {
    const first = es[0]!.index;
    if (first <= this.overlayStart) {
      this.overlayStart = first;
      this.overlay = [...es];
    } else {
      this.overlay.length = first - this.overlayStart;
      for (const e of es) this.overlay.push(e);
    }
    this.last = es[es.length - 1]!.index;
  }
}

/**
 * A durable LogStorage: a segmented write-ahead log plus snapshot files in one directory.
 *
 * Reads are synchronous and served from memory (every live entry is kept in memory; the log is
 * bounded by compaction). Writes (`append`, `setHardState`, `compact`, `applySnapshot`,
 * `createSnapshot`) are queued in call order; queued WAL writes are group-committed: everything
 * that arrived while the previous fsync was in flight goes into one frame made durable by one
 * fdatasync. A write's promise resolves once it, and everything queued before it, is durable; the
 * read side shows a write only from then on.
 */
export class FileLogStorage implements LogStorage {
  private readonly io: FileIO;
  private readonly dir: string;
  private readonly segmentBytes: number;
  private readonly logger: StorageLogger;
  private readonly random: RandomSource;
  private readonly img = new LogImage();
  private snap: Snapshot;
  private snapFile = '';
  private segments: SegmentInfo[] = [];
  private cur: FileHandle | undefined;
  /** Segments with a lower sequence number are superseded by a Reset record. */
  private lastResetSeq = 0;
  private queue: Op[] = [];
  private running = false;
  private failure: StorageError | undefined;
  private closed = false;
  private readonly counters: StorageStats = {
    fsyncs: 0,
    walSyncs: 0,
    entriesSynced: 0,
    walBytes: 0,
    maxEntriesPerSync: 0,
    segmentsCreated: 0,
    segmentsDeleted: 0,
    snapshotsWritten: 0,
    tornBytesCut: 0,
  };

  private constructor(opts: FileLogStorageOptions) {
    this.io = opts.io;
    this.dir = opts.dir;
    this.segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.logger = opts.logger ?? defaultLogger;
    this.random = opts.random ?? cryptoRandom;
    this.snap = { metadata: { index: 0, term: 0, confState: opts.initialConfState ?? emptyConfState() }, data: new Uint8Array(0) };
  }

  /**
   * Opens (or creates) the store in `opts.dir` and recovers it. A torn tail of the last segment is
   * cut back to the last whole frame (and logged); any other damage throws StorageCorruptionError.
   */
  static async open(opts: FileLogStorageOptions): Promise<FileLogStorage> {
    assert(opts.segmentBytes === undefined || opts.segmentBytes >= 1024, 'segmentBytes must be at least 1024');
    const s = new FileLogStorage(opts);
    await s.recover(opts.initialConfState ?? emptyConfState());
    return s;
  }

  // ------------------------------------------------------------------ LogStorage (reads)

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.img.hardState, confState: this.snap.metadata.confState };
  }

  hardState(): HardState {
    return this.img.hardState;
  }

  firstIndex(): number {
    return this.img.dummyIndex + 1;
  }

  lastIndex(): number {
    return this.img.dummyIndex + this.img.ents.length;
  }

  term(index: number): number | undefined {
    return this.img.term(index);
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const off = this.img.dummyIndex;
    assert(lo > off, 'FileLogStorage.entries: lo is compacted', { lo, off });
    assert(hi <= this.lastIndex() + 1, 'FileLogStorage.entries: hi past the end', { hi, last: this.lastIndex() });
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.img.ents[i - off - 1]!;
      bytes += entrySizeBytes(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  stats(): StorageStats & { entriesPerSync: number } {
    const c = this.counters;
    return { ...c, entriesPerSync: c.walSyncs === 0 ? 0 : c.entriesSynced / c.walSyncs };
  }

  /** The error that put the store in its failed state, if any. */
  failed(): StorageError | undefined {
    return this.failure;
  }

  // ------------------------------------------------------------------ writes

  /** Appends entries, replacing stored entries from entries[0].index on. Resolves with the last entry once durable. */
  append(entries: readonly Entry[]): Promise<DurableMark> {
    return this.enqueue<DurableMark>((resolve, reject) => ({ k: 'append', entries, resolve, reject }));
  }

  setHardState(hardState: HardState): Promise<void> {
    return this.enqueue<void>((resolve, reject) => ({ k: 'hardState', hardState, resolve, reject }));
  }

  /** Discards entries up to and including `index` (which the durable snapshot must cover), like MemoryStorage.compact. */
  compact(index: number): Promise<void> {
    return this.enqueue<void>((resolve, reject) => ({ k: 'compact', index, resolve, reject }));
  }

  /** Replaces the whole log with a snapshot (a follower installing one). */
  applySnapshot(snap: Snapshot): Promise<void> {
    return this.enqueue<void>((resolve, reject) => ({ k: 'applySnapshot', snap, resolve, reject }));
  }

  /** Records a snapshot of the state machine at `index` (applied, within the log). Resolves once the snapshot file is durable. */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Promise<Snapshot> {
    return this.enqueue<Snapshot>((resolve, reject) => ({ k: 'createSnapshot', index, confState, data, resolve, reject }));
  }

  /** Resolves once every write queued before it is durable. */
  sync(): Promise<void> {
    return this.enqueue<void>((resolve, reject) => ({ k: 'sync', resolve, reject }));
  }

  /**
   * Makes a Ready's snapshot, entries and hard state durable, in that order (and after every
   * earlier write). Once it resolves the caller may send `rd.messages` and report
   * `logPersisted(entries.index, entries.term)` / `snapshotPersisted(snapshotIndex)`.
   */
  async persistReady(rd: Pick<Ready, 'snapshot' | 'entries' | 'hardState'>): Promise<PersistResult> {
    const ps: Promise<unknown>[] = [];
    if (rd.snapshot !== undefined) ps.push(this.applySnapshot(rd.snapshot));
    const ep = rd.entries.length > 0 ? this.append(rd.entries) : undefined;
    if (ep !== undefined) ps.push(ep);
    if (rd.hardState !== undefined) ps.push(this.setHardState(rd.hardState));
    await Promise.all(ps);
    return { entries: ep === undefined ? undefined : await ep, snapshotIndex: rd.snapshot?.metadata.index };
  }

  /** Reads the current snapshot file back in chunks; the stream throws ERR_STORAGE_CORRUPT at its end if the checksum fails. */
  readSnapshotChunks(chunkBytes = 1 << 20): AsyncGenerator<Uint8Array> {
    return readSnapshotStream(this.io, joinPath(this.dir, this.snapFile), chunkBytes);
  }

  /** Waits for queued writes, then closes the files. Later writes reject with ERR_STORAGE_CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (this.failure === undefined) await this.sync();
    } catch {
      // the failure is already recorded
    }
    this.closed = true;
    const h = this.cur;
    this.cur = undefined;
    if (h !== undefined) await h.close().catch(() => undefined);
  }

  // ------------------------------------------------------------------ the write queue

  private enqueue<T>(make: (resolve: (v: T) => void, reject: (e: unknown) => void) => Op): Promise<T> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new StorageError('ERR_STORAGE_CLOSED', 'the store is closed'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push(make(resolve, reject));
      if (!this.running) void this.pump();
    });
  }

  private async pump(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        if (this.failure !== undefined) {
          this.rejectAll(this.queue.splice(0), this.failure);
          break;
        }
        const head = this.queue[0]!;
        if (head.k === 'applySnapshot' || head.k === 'createSnapshot') {
          this.queue.shift();
          await this.guard([head], () => (head.k === 'applySnapshot' ? this.runApplySnapshot(head) : this.runCreateSnapshot(head)));
          continue;
        }
        let n = 0;
        while (n < this.queue.length && this.queue[n]!.k !== 'applySnapshot' && this.queue[n]!.k !== 'createSnapshot') n++;
        const batch = this.queue.splice(0, n);
        await this.guard(batch, () => this.runBatch(batch));
      }
    } finally {
      this.running = false;
    }
  }

  /** Runs a step; a thrown error rejects the step's ops (and, if fatal, everything after). */
  private async guard(ops: readonly Op[], step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (e) {
      const err = e instanceof StorageError ? e : this.setFailure('ERR_IO_FAILED', 'unexpected error in the write path', e);
      this.rejectAll(ops, err);
      if (this.failure !== undefined) this.rejectAll(this.queue.splice(0), this.failure);
    }
  }

  private rejectAll(ops: readonly Op[], e: unknown): void {
    for (const op of ops) op.reject(e);
  }

  private setFailure(code: StorageErrorCode, message: string, cause: unknown): StorageError {
    if (this.failure === undefined) {
      const detail = cause instanceof Error ? cause.message : String(cause);
      this.failure = new StorageError(code, `${message} (${detail}); the store refuses all further writes and the process must exit`, { cause });
      this.logger('storage_failed', { code, message: this.failure.message });
    }
    return this.failure;
  }

  private async runBatch(batch: readonly Op[]): Promise<void> {
    const proj = new Projection(this.img);
    const records: WalRecord[] = [];
    const accepted: { op: Op; value: DurableMark | undefined }[] = [];
    let compacted = false;
    for (const op of batch) {
      switch (op.k) {
        case 'append': {
          const es = op.entries;
          if (es.length === 0) {
            accepted.push({ op, value: { index: proj.last, term: proj.term(proj.last) ?? 0 } });
            break;
          }
          const first = es[0]!.index;
          let contiguous = true;
          for (let i = 1; i < es.length; i++) if (es[i]!.index !== first + i || es[i]!.term < es[i - 1]!.term) contiguous = false;
          if (!contiguous) {
            op.reject(new StorageError('ERR_BAD_ARGUMENT', 'append: entries are not contiguous with non-decreasing terms'));
            break;
          }
          if (first > proj.last + 1) {
            op.reject(new StorageError('ERR_LOG_GAP', `append: entry ${first} would leave a hole after the last entry ${proj.last}`));
            break;
          }
          const lastE = es[es.length - 1]!;
          const skip = Math.max(0, proj.dummyIndex + 1 - first);
          if (skip < es.length) {
            const kept = skip === 0 ? es : es.slice(skip);
            for (const e of kept) records.push(entryRecord(e));
            proj.setEntries(kept);
          }
          accepted.push({ op, value: { index: lastE.index, term: lastE.term } });
          break;
        }
        case 'hardState':
          // invariant: the durable commit index never runs ahead of the durable log. It would
          // after a refused append (ERR_NO_SPACE) whose Ready's hard state was queued behind it.
          if (op.hardState.commit > proj.last) {
            op.reject(
              new StorageError('ERR_LOG_GAP', `hard state: commit ${op.hardState.commit} is beyond the last entry ${proj.last} (an earlier append was refused)`),
            );
            break;
          }
          records.push({ kind: RecordKind.HardState, hardState: op.hardState });
          accepted.push({ op, value: undefined });
          break;
        case 'compact': {
          const idx = op.index;
          if (idx <= proj.dummyIndex) {
            accepted.push({ op, value: undefined });
            break;
          }
          if (idx > this.snap.metadata.index || idx > proj.last) {
            op.reject(new StorageError('ERR_BAD_ARGUMENT', `compact(${idx}): beyond the durable snapshot (${this.snap.metadata.index}) or the log (${proj.last})`));
            break;
          }
          const term = proj.term(idx)!;
          records.push({ kind: RecordKind.Compact, index: idx, term });
          proj.dummyIndex = idx;
          proj.dummyTerm = term;
          compacted = true;
          accepted.push({ op, value: undefined });
          break;
        }
        case 'sync':
          accepted.push({ op, value: undefined });
          break;
        default:
          throw new Error('unreachable: snapshot op in a batch');
      }
    }
    if (records.length > 0) {
      try {
        await this.writeFrame(records);
      } catch (e) {
        this.rejectAll(
          accepted.map((a) => a.op),
          e,
        );
        if (e instanceof StorageError && e.code === 'ERR_NO_SPACE') return;
        throw e;
      }
    }
    for (const { op, value } of accepted) (op.resolve as (v: DurableMark | undefined) => void)(value);
    if (compacted) await this.deleteOldSegments();
  }

  private async runCreateSnapshot(op: Extract<Op, { k: 'createSnapshot' }>): Promise<void> {
    const { index, confState, data } = op;
    if (index <= this.snap.metadata.index || index > this.lastIndex() || index < this.img.dummyIndex) {
      op.reject(
        new StorageError('ERR_BAD_ARGUMENT', `createSnapshot(${index}): must be newer than the snapshot (${this.snap.metadata.index}) and within the log (${this.lastIndex()})`),
      );
      return;
    }
    const snap: Snapshot = { metadata: { index, term: this.img.term(index)!, confState }, data };
    await this.writeSnapshot(snap);
    this.installSnapshotFile(snap);
    op.resolve(snap);
    await this.removeOldSnapshots();
  }

  private async runApplySnapshot(op: Extract<Op, { k: 'applySnapshot' }>): Promise<void> {
    const snap = op.snap;
    if (snap.metadata.index <= this.snap.metadata.index) {
      op.resolve();
      return;
    }
    await this.writeSnapshot(snap);
    try {
      await this.writeFrame([{ kind: RecordKind.Reset, index: snap.metadata.index, term: snap.metadata.term }]);
    } catch (e) {
      if (e instanceof StorageError && e.code === 'ERR_NO_SPACE') {
        // Take the snapshot file back so that a restart does not install what the caller was told failed.
        const name = snapshotName(snap.metadata.index, snap.metadata.term);
        await this.io.unlink(joinPath(this.dir, name)).catch(() => undefined);
        await this.syncDir();
      }
      throw e;
    }
    this.installSnapshotFile(snap);
    op.resolve();
    await this.removeOldSnapshots();
    await this.deleteOldSegments();
  }

  private installSnapshotFile(snap: Snapshot): void {
    this.snap = snap;
    this.snapFile = snapshotName(snap.metadata.index, snap.metadata.term);
  }

  // ------------------------------------------------------------------ file operations

  private async writeSnapshot(snap: Snapshot): Promise<void> {
    const r = await writeSnapshotFile(this.io, this.dir, snap);
    this.counters.fsyncs += 2;
    this.counters.snapshotsWritten++;
    if (r !== 'ok') this.classify(r.stage, r.error);
  }

  /** Turns an I/O error into the store's error: ENOSPC on a write is recoverable, everything else is fatal. */
  private classify(stage: 'write' | 'sync' | 'other', e: unknown): never {
    if (stage === 'write' && errnoCode(e) === 'ENOSPC') {
      throw new StorageError('ERR_NO_SPACE', 'the disk is full; the write was rejected and left nothing behind', { cause: e });
    }
    if (stage === 'sync') throw this.setFailure('ERR_FSYNC_FAILED', 'fsync failed', e);
    throw this.setFailure('ERR_IO_FAILED', `I/O error during ${stage}`, e);
  }

  private async syncDir(): Promise<void> {
    try {
      await this.io.fsyncDir(this.dir);
      this.counters.fsyncs++;
    } catch (e) {
      this.classify('sync', e);
    }
  }

  /** Appends one frame to the WAL (rolling to a new segment first if the current one is full) and makes it durable; then replays it into memory. */
  private async writeFrame(records: WalRecord[]): Promise<void> {
    let seg = this.segments[this.segments.length - 1]!;
    let all = records;
    if (seg.size >= this.segmentBytes) {
      seg = await this.createSegment();
      all = [...this.segmentHead(), ...records];
    }
    const h = this.cur!;
    const frame = encodeFrame(all, seg.header.seed, seg.size);
    try {
      await h.write(frame, seg.size);
    } catch (e) {
      if (errnoCode(e) === 'ENOSPC') {
        // Cut whatever part of the frame reached the file, so no partial frame is ever followed by a valid one.
        try {
          await h.truncate(seg.size);
        } catch (e2) {
          this.classify('other', e2);
        }
        try {
          await h.datasync();
          this.counters.fsyncs++;
        } catch (e2) {
          this.classify('sync', e2);
        }
      }
      this.classify('write', e);
    }
    try {
      await h.datasync();
    } catch (e) {
      this.classify('sync', e);
    }
    seg.size += frame.byteLength;
    let n = 0;
    for (const r of all) {
      if (r.kind === RecordKind.EntryNormal || r.kind === RecordKind.EntryConf) {
        n++;
        if (r.entry.index > seg.maxEntryIndex) seg.maxEntryIndex = r.entry.index;
      } else if (r.kind === RecordKind.Reset) {
        this.lastResetSeq = seg.seq;
      }
      this.img.apply(r);
    }
    const c = this.counters;
    c.fsyncs++;
    c.walSyncs++;
    c.walBytes += frame.byteLength;
    c.entriesSynced += n;
    if (n > c.maxEntriesPerSync) c.maxEntriesPerSync = n;
  }

  /** The records that open every segment, so that deleting older segments loses no state. */
  private segmentHead(): WalRecord[] {
    return [
      { kind: RecordKind.HardState, hardState: this.img.hardState },
      { kind: RecordKind.Compact, index: this.img.dummyIndex, term: this.img.dummyTerm },
    ];
  }

  /** Creates the next segment durably: header into a temp file, fsync, rename, fsync the directory. */
  private async createSegment(): Promise<SegmentInfo> {
    const prev = this.segments[this.segments.length - 1];
    const seq = prev === undefined ? 1 : prev.seq + 1;
    const name = segmentName(seq);
    const file = joinPath(this.dir, name);
    const tmp = `${file}.tmp`;
    const { bytes, header } = encodeSegmentHeader(seq, this.random.intBelow(0x1_0000_0000), this.lastIndex() + 1);
    let h: FileHandle;
    try {
      h = await this.io.open(tmp, 'w');
    } catch (e) {
      this.classify(errnoCode(e) === 'ENOSPC' ? 'write' : 'other', e);
    }
    try {
      await h.write(bytes, 0);
    } catch (e) {
      await h.close().catch(() => undefined);
      await this.io.unlink(tmp).catch(() => undefined);
      this.classify('write', e);
    }
    try {
      await h.sync();
    } catch (e) {
      this.classify('sync', e);
    }
    try {
      await this.io.rename(tmp, file);
    } catch (e) {
      this.classify('other', e);
    }
    await this.syncDir();
    await h.close().catch(() => undefined);
    let next: FileHandle;
    try {
      next = await this.io.open(file, 'r+');
    } catch (e) {
      this.classify('other', e);
    }
    const old = this.cur;
    this.cur = next;
    if (old !== undefined) await old.close().catch(() => undefined);
    const seg: SegmentInfo = { seq, file: name, header, size: SEGMENT_HEADER_BYTES, maxEntryIndex: 0 };
    this.segments.push(seg);
    this.counters.fsyncs++;
    this.counters.segmentsCreated++;
    return seg;
  }

  /** Deletes the oldest segments whose every entry is compacted away or superseded by a Reset (never the current one). */
  private async deleteOldSegments(): Promise<void> {
    let deleted = 0;
    while (this.segments.length > 1) {
      const s = this.segments[0]!;
      if (!(s.seq < this.lastResetSeq || s.maxEntryIndex <= this.img.dummyIndex)) break;
      try {
        await this.io.unlink(joinPath(this.dir, s.file));
      } catch (e) {
        if (errnoCode(e) !== 'ENOENT') this.classify('other', e);
      }
      this.segments.shift();
      this.counters.segmentsDeleted++;
      deleted++;
    }
    if (deleted > 0) await this.syncDir();
  }

  /** Removes snapshot files older than the current one (which is durable). */
  private async removeOldSnapshots(): Promise<void> {
    const names = await this.io.readdir(this.dir);
    for (const n of names) {
      if (parseSnapshotName(n) !== undefined && n !== this.snapFile) await this.io.unlink(joinPath(this.dir, n)).catch(() => undefined);
    }
  }

  // ------------------------------------------------------------------ recovery

  private corrupt(file: string, offset: number, reason: string): StorageCorruptionError {
    return new StorageCorruptionError(joinPath(this.dir, file), offset, reason);
  }

  /** Corruption of the frame at `off`, reported at the offset of the record at fault when one fails its own checksum. */
  private damagedFrame(file: string, buf: Uint8Array, off: number, seed: number, reason: string): StorageCorruptionError {
    const rec = locateDamagedRecord(buf, off, seed);
    if (rec === undefined) return this.corrupt(file, off, `${reason} (frame at offset ${off})`);
    return this.corrupt(file, rec, `${reason}; the record at offset ${rec} of the frame at offset ${off} fails its own checksum`);
  }

  private async recover(initialConf: ConfState): Promise<void> {
    const io = this.io;
    await io.mkdir(this.dir);
    let names = await io.readdir(this.dir);
    const leftovers = names.filter((n) => n.endsWith('.tmp'));
    for (const n of leftovers) {
      await io.unlink(joinPath(this.dir, n));
      this.logger('storage_leftover_removed', { file: joinPath(this.dir, n) });
    }
    if (leftovers.length > 0) {
      await io.fsyncDir(this.dir);
      names = names.filter((n) => !n.endsWith('.tmp'));
    }

    const snaps = names
      .map((n) => ({ n, p: parseSnapshotName(n) }))
      .filter((x): x is { n: string; p: { index: number; term: number } } => x.p !== undefined)
      .sort((a, b) => b.p.index - a.p.index || b.p.term - a.p.term);
    let segs = names
      .map((n) => ({ n, seq: parseSegmentName(n) }))
      .filter((x): x is { n: string; seq: number } => x.seq !== undefined)
      .sort((a, b) => a.seq - b.seq);

    if (snaps.length === 0) {
      if (segs.length > 0) throw this.corrupt(segs[0]!.n, 0, 'the WAL exists but no snapshot file does (every store has one, from its creation on)');
      // A brand-new store: its initial membership is the snapshot at index 0.
      const boot: Snapshot = { metadata: { index: 0, term: 0, confState: initialConf }, data: new Uint8Array(0) };
      await this.writeSnapshot(boot);
      this.installSnapshotFile(boot);
    } else {
      const newest = snaps[0]!;
      const r = await readSnapshotFile(io, joinPath(this.dir, newest.n));
      if (typeof r === 'string') throw this.corrupt(newest.n, 0, r);
      if (r.metadata.index !== newest.p.index || r.metadata.term !== newest.p.term) throw this.corrupt(newest.n, 0, 'snapshot header does not match its file name');
      this.installSnapshotFile(r);
      for (const old of snaps.slice(1)) await io.unlink(joinPath(this.dir, old.n));
    }

    // Segments are deleted oldest first; after a crash during deletion an older one may remain
    // behind a gap. Only the run of consecutive sequence numbers ending at the newest counts.
    let from = segs.length - 1;
    while (from > 0 && segs[from - 1]!.seq === segs[from]!.seq - 1) from--;
    for (const s of segs.slice(0, Math.max(0, from))) {
      await io.unlink(joinPath(this.dir, s.n));
      this.logger('storage_stale_segment_removed', { file: joinPath(this.dir, s.n) });
    }
    segs = segs.slice(Math.max(0, from));

    for (let k = 0; k < segs.length; k++) {
      const { n, seq } = segs[k]!;
      const isLast = k === segs.length - 1;
      const file = joinPath(this.dir, n);
      const buf = await io.readFile(file);
      const header = decodeSegmentHeader(buf);
      if (typeof header === 'string') throw this.corrupt(n, 0, header);
      if (header.seq !== seq) throw this.corrupt(n, 0, `segment header says sequence ${header.seq}`);
      const seg: SegmentInfo = { seq, file: n, header, size: SEGMENT_HEADER_BYTES, maxEntryIndex: 0 };
      let off = SEGMENT_HEADER_BYTES;
      while (off < buf.byteLength) {
        const r = parseFrame(buf, off, header.seed);
        if (r.ok) {
          for (const rec of r.records) {
            if (rec.kind === RecordKind.EntryNormal || rec.kind === RecordKind.EntryConf) {
              if (rec.entry.index > seg.maxEntryIndex) seg.maxEntryIndex = rec.entry.index;
            } else if (rec.kind === RecordKind.Reset) {
              this.lastResetSeq = seq;
            }
            this.img.apply(rec);
          }
          off = r.end;
          continue;
        }
        // A frame whose checksum matches holds exactly what was written: a record in it that fails
        // its own checksum or does not decode is damage, never a torn write.
        if (r.frameIntact) throw this.corrupt(n, r.offset, r.reason);
        if (!isLast) throw this.damagedFrame(n, buf, off, header.seed, `${r.reason} in a segment that is not the last one`);
        const later = findValidFrameAfter(buf, off + 8, header.seed);
        if (later !== undefined) throw this.damagedFrame(n, buf, off, header.seed, `${r.reason}, yet a valid frame follows at offset ${later}`);
        // A torn tail: the last write never completed, so it was never acknowledged.
        const cut = buf.byteLength - off;
        this.logger('storage_torn_tail_cut', { file, offset: off, bytesCut: cut, reason: r.reason });
        const h = await io.open(file, 'r+');
        try {
          await h.truncate(off);
          await h.datasync();
        } finally {
          await h.close();
        }
        this.counters.tornBytesCut += cut;
        break;
      }
      seg.size = off;
      this.segments.push(seg);
    }

    this.finishReplay();

    if (this.segments.length === 0) {
      await this.createSegment();
      await this.writeFrame(this.segmentHead());
    } else {
      this.cur = await io.open(joinPath(this.dir, this.segments[this.segments.length - 1]!.file), 'r+');
    }

    // A snapshot installed (file durable) whose Reset record did not make it: finish the install.
    const s = this.snap.metadata;
    if (s.index > this.img.dummyIndex && this.img.term(s.index) !== s.term) {
      this.logger('storage_snapshot_install_completed', { index: s.index, term: s.term });
      await this.writeFrame([{ kind: RecordKind.Reset, index: s.index, term: s.term }]);
    }
  }

  /** Brings the replayed image to the runtime invariant, refusing anything that is not a clean log. */
  private finishReplay(): void {
    const img = this.img;
    const lastSeg = this.segments[this.segments.length - 1]?.file ?? '(no segment)';
    img.dropThrough(img.dummyIndex);
    if (img.ents.length > 0 && img.start !== img.dummyIndex + 1) {
      throw this.corrupt(lastSeg, 0, `entries ${img.dummyIndex + 1}..${img.start - 1} are missing from the WAL`);
    }
    img.start = img.dummyIndex + 1;
    let prevTerm = img.dummyTerm;
    for (const e of img.ents) {
      if (e.term < prevTerm) throw this.corrupt(lastSeg, 0, `entry ${e.index} has term ${e.term}, lower than the term ${prevTerm} before it`);
      prevTerm = e.term;
    }
    if (this.snap.metadata.index < img.dummyIndex) {
      throw this.corrupt(this.snapFile, 0, `the log is compacted through ${img.dummyIndex} but the newest snapshot is at ${this.snap.metadata.index}`);
    }
    const last = Math.max(this.lastIndex(), this.snap.metadata.index);
    if (img.hardState.commit > last) {
      throw this.corrupt(lastSeg, 0, `the hard state's commit index ${img.hardState.commit} is beyond the last entry ${last}: committed entries were lost`);
    }
  }
}
