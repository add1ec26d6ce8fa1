import type { ConfState, Entry, HardState, Snapshot } from './types.ts';
import { assert } from './assert.ts';

/**
 * The core's read-only view of the durable log. Contract:
 *  - the log has no holes: entries firstIndex()..lastIndex() are all present;
 *  - term(firstIndex() - 1) is the term of the latest snapshot (the entry it replaced);
 *  - term(i) is undefined when i is below firstIndex() - 1 (compacted) or above lastIndex();
 *  - entries(lo, hi, maxBytes) returns entries [lo, hi) (lo >= firstIndex, hi <= lastIndex + 1),
 *    stopping early once maxBytes is passed, but always at least one entry when lo < hi;
 *  - it changes only when the caller persists a Ready (append, snapshot) or compacts.
 */
export interface LogStorage {
  initialState(): { hardState: HardState; confState: ConfState };
  firstIndex(): number;
  lastIndex(): number;
  term(index: number): number | undefined;
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  snapshot(): Snapshot;
}

export function entrySizeBytes(e: Entry): number {
  // A fixed header (term, index, type, length) plus the payload.
  return 24 + e.data.byteLength;
}

export function emptyConfState(): ConfState {
  return { voters: [], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false };
}

/**
 * An in-memory LogStorage. Used by tests and the simulator, where it stands for what
 * a node has made durable; also the model for the file-backed store.
 */
export class MemoryStorage implements LogStorage {
  private hardState: HardState = { term: 0, vote: 0, commit: 0 };
  private snap: Snapshot;
  // invariant: ents[0] is the dummy entry at snap.metadata.index with its term.
  private ents: Entry[];

  constructor(initialConf: ConfState = emptyConfState()) {
    this.snap = { metadata: { index: 0, term: 0, confState: initialConf }, data: new Uint8Array(0) };
    this.ents = [{ index: 0, term: 0, type: 'normal', data: new Uint8Array(0) }];
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hardState, confState: this.snap.metadata.confState };
  }

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  firstIndex(): number {
    return this.offset() + 1;
  }

  lastIndex(): number {
    return this.offset() + this.ents.length - 1;
  }

  term(index: number): number | undefined {
    const off = this.offset();
    if (index < off || index > this.lastIndex()) return undefined;
    return this.ents[index - off]!.term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const off = this.offset();
    assert(lo > off, 'MemoryStorage.entries: lo is compacted', { lo, off });
    assert(hi <= this.lastIndex() + 1, 'MemoryStorage.entries: hi past the end', { hi, last: this.lastIndex() });
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.ents[i - off]!;
      bytes += entrySizeBytes(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Appends entries, replacing any stored entries from entries[0].index on. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    const off = this.offset();
    assert(first <= this.lastIndex() + 1, 'MemoryStorage.append: hole in the log', { first, last: this.lastIndex() });
    if (first + entries.length - 1 <= off) return; // entirely compacted already
    // Skip entries covered by the snapshot; truncate any stored suffix they replace.
    const skip = Math.max(0, off + 1 - first);
    const keep = first + skip - off; // number of stored entries (incl. dummy) to keep
    if (keep < this.ents.length) this.ents.length = keep;
    for (let i = skip; i < entries.length; i++) this.ents.push(entries[i]!);
  }

  /** Replaces the whole log with a snapshot (a follower installing one). */
  applySnapshot(snap: Snapshot): void {
    if (snap.metadata.index <= this.snap.metadata.index) return;
    this.snap = snap;
    this.ents = [{ index: snap.metadata.index, term: snap.metadata.term, type: 'normal', data: new Uint8Array(0) }];
  }

  /** Records a snapshot of the state machine taken at `index` (which must be applied). */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    assert(index > this.snap.metadata.index, 'createSnapshot: not newer than the current snapshot', { index });
    assert(index <= this.lastIndex(), 'createSnapshot: index beyond the log', { index, last: this.lastIndex() });
    const term = this.term(index)!;
    this.snap = { metadata: { index, term, confState }, data };
    return this.snap;
  }

  /** Discards entries before `index` (which must be covered by the snapshot). */
  compact(index: number): void {
    const off = this.offset();
    if (index <= off) return;
    assert(index <= this.snap.metadata.index, 'compact: beyond the snapshot', { index, snap: this.snap.metadata.index });
    this.ents = this.ents.slice(index - off);
    const head = this.ents[0]!;
    this.ents[0] = { index: head.index, term: head.term, type: 'normal', data: new Uint8Array(0) };
  }

  private offset(): number {
    return this.ents[0]!.index;
  }
}
