import type { Entry, Snapshot } from './types.ts';
import type { LogStorage } from './storage.ts';
import { entrySizeBytes } from './storage.ts';
import { assert } from './assert.ts';

/**
 * The entries and snapshot not yet reported durable. Entries [offset, offsetInProgress)
 * have been handed to the caller in a Ready and are being written; the rest have not.
 * invariant: offset <= offsetInProgress <= offset + entries.length.
 * When `snapshot` is set, offset == snapshot.metadata.index + 1.
 */
class Unstable {
  snapshot: Snapshot | undefined = undefined;
  snapshotInProgress = false;
  entries: Entry[] = [];
  offset: number;
  offsetInProgress: number;

  constructor(offset: number) {
    this.offset = offset;
    this.offsetInProgress = offset;
  }

  lastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    if (this.snapshot !== undefined) return this.snapshot.metadata.index;
    return undefined;
  }

  term(index: number): number | undefined {
    if (index < this.offset) {
      if (this.snapshot !== undefined && this.snapshot.metadata.index === index) return this.snapshot.metadata.term;
      return undefined;
    }
    const e = this.entries[index - this.offset];
    return e?.term;
  }

  truncateAndAppend(ents: readonly Entry[]): void {
    const first = ents[0]!.index;
    const end = this.offset + this.entries.length;
    if (first === end) {
      this.entries.push(...ents);
    } else if (first <= this.offset) {
      // Replaces everything unstable (and, for the caller, stored entries from `first` on).
      this.offset = first;
      this.entries = [...ents];
    } else {
      this.entries = this.entries.slice(0, first - this.offset).concat(ents);
    }
    this.offsetInProgress = Math.min(this.offsetInProgress, first);
  }
}

/**
 * The Raft log as the core sees it: the durable part in the caller's LogStorage,
 * the rest in Unstable. Indexes below `unstable.offset` are read from storage,
 * the rest from unstable (storage may still hold stale entries there that an
 * in-flight write is about to replace).
 */
export class RaftLog {
  readonly unstable: Unstable;
  /** invariant: committed never decreases and committed <= lastIndex(). */
  committed: number;
  /** Highest index handed to the caller for applying. invariant: applied <= applying <= committed. */
  applying: number;
  applied: number;

  constructor(
    readonly storage: LogStorage,
    committed: number,
    applied: number,
  ) {
    this.unstable = new Unstable(storage.lastIndex() + 1);
    const first = storage.firstIndex();
    assert(applied >= first - 1, 'RaftLog: applied index is below the snapshot', { applied, first });
    assert(committed <= storage.lastIndex(), 'RaftLog: committed index beyond the durable log', {
      committed,
      last: storage.lastIndex(),
    });
    this.committed = Math.max(committed, first - 1);
    assert(applied <= this.committed, 'RaftLog: applied beyond committed', { applied, committed: this.committed });
    this.applied = applied;
    this.applying = applied;
  }

  firstIndex(): number {
    if (this.unstable.snapshot !== undefined) return this.unstable.snapshot.metadata.index + 1;
    return this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.lastIndex() ?? this.storage.lastIndex();
  }

  /** The last index known durable locally (storage part, excluding stale entries). */
  stableLastIndex(): number {
    if (this.unstable.snapshot !== undefined) return this.storage.firstIndex() - 1;
    return this.unstable.offset - 1;
  }

  term(index: number): number | undefined {
    const u = this.unstable.term(index);
    if (u !== undefined) return u;
    if (index >= this.unstable.offset) return undefined;
    if (this.unstable.snapshot !== undefined) return undefined; // everything below the snapshot is superseded
    return this.storage.term(index);
  }

  lastTerm(): number {
    const t = this.term(this.lastIndex());
    assert(t !== undefined, 'RaftLog: term of the last index is unknown');
    return t;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** Entries [lo, hi), at most maxBytes (but at least one); undefined when lo is compacted. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] | undefined {
    if (lo >= hi) return [];
    if (lo < this.firstIndex()) return undefined;
    assert(hi <= this.lastIndex() + 1, 'RaftLog.slice: hi beyond the log', { hi, last: this.lastIndex() });
    const out: Entry[] = [];
    let bytes = 0;
    const splitAt = this.unstable.offset;
    if (lo < splitAt) {
      const stored = this.storage.entries(lo, Math.min(hi, splitAt), maxBytes);
      for (const e of stored) {
        bytes += entrySizeBytes(e);
        out.push(e);
      }
      if (out.length < Math.min(hi, splitAt) - lo) return out; // byte limit reached
    }
    for (let i = Math.max(lo, splitAt); i < hi; i++) {
      const e = this.unstable.entries[i - this.unstable.offset]!;
      const size = entrySizeBytes(e);
      if (out.length > 0 && bytes + size > maxBytes) break;
      bytes += size;
      out.push(e);
    }
    return out;
  }

  /** Leader append. Returns the new last index. */
  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const first = ents[0]!.index;
    assert(first > this.committed, 'RaftLog.append: would overwrite committed entries', { first, committed: this.committed });
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /**
   * Follower append after a matching (index, logTerm). Returns the last index of
   * the new entries, or undefined when the previous entry does not match.
   */
  maybeAppend(index: number, logTerm: number, ents: readonly Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const conflict = this.findConflict(ents);
    if (conflict !== 0) {
      // Raft §5.3: delete the conflicting entry and all that follow it; never a committed one.
      assert(conflict > this.committed, 'RaftLog.maybeAppend: conflict with a committed entry', {
        conflict,
        committed: this.committed,
      });
      this.append(ents.slice(conflict - (index + 1)));
    }
    return lastNew;
  }

  /** The index of the first entry that is new or conflicts with the log; 0 when all are present. */
  private findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast backtracking: the largest index <= `index` whose term is <= `term`, with
   * its term. Entries above it cannot match a log whose entry at `index` has `term`.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = Math.min(index, this.lastIndex()); i >= 0; i--) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
    return { index: 0, term: 0 };
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), 'RaftLog.commitTo: beyond the last index (log lost or corrupted?)', {
      index,
      last: this.lastIndex(),
    });
    this.committed = index;
  }

  restore(snap: Snapshot): void {
    this.committed = snap.metadata.index;
    this.unstable.snapshot = snap;
    this.unstable.snapshotInProgress = false;
    this.unstable.entries = [];
    this.unstable.offset = snap.metadata.index + 1;
    this.unstable.offsetInProgress = snap.metadata.index + 1;
    this.applying = Math.max(this.applying, snap.metadata.index);
  }

  /** Entries not yet handed out for writing. */
  nextUnstableEntries(): Entry[] {
    const u = this.unstable;
    return u.entries.slice(u.offsetInProgress - u.offset);
  }

  hasNextUnstableEntries(): boolean {
    const u = this.unstable;
    return u.offsetInProgress < u.offset + u.entries.length;
  }

  nextUnstableSnapshot(): Snapshot | undefined {
    return this.unstable.snapshotInProgress ? undefined : this.unstable.snapshot;
  }

  markInProgress(lastEntryIndex: number | undefined, snapshot: boolean): void {
    if (lastEntryIndex !== undefined) this.unstable.offsetInProgress = lastEntryIndex + 1;
    if (snapshot) this.unstable.snapshotInProgress = true;
  }

  /** Committed entries that are durable locally and not yet handed out for applying. */
  nextCommittedEntries(maxBytes: number): Entry[] {
    if (!this.hasNextCommittedEntries()) return [];
    const hi = Math.min(this.committed, this.stableLastIndex());
    return this.slice(this.applying + 1, hi + 1, maxBytes) ?? [];
  }

  /** Whether nextCommittedEntries would return anything (without building it). */
  hasNextCommittedEntries(): boolean {
    if (this.unstable.snapshot !== undefined) return false; // the snapshot must be installed first
    const hi = Math.min(this.committed, this.stableLastIndex());
    return this.applying < hi && this.applying + 1 >= this.firstIndex();
  }

  stableTo(index: number, term: number): void {
    const u = this.unstable;
    if (index < u.offset) return; // already stable, or covered by a snapshot
    if (u.term(index) !== term) return; // the entry was replaced since the write began
    u.entries = u.entries.slice(index + 1 - u.offset);
    u.offset = index + 1;
    u.offsetInProgress = Math.max(u.offsetInProgress, u.offset);
  }

  stableSnapTo(index: number): void {
    const u = this.unstable;
    if (u.snapshot !== undefined && u.snapshot.metadata.index === index) {
      u.snapshot = undefined;
      u.snapshotInProgress = false;
    }
  }

  appliedTo(index: number): void {
    assert(index <= this.applying, 'RaftLog.appliedTo: beyond what was handed out', { index, applying: this.applying });
    if (index > this.applied) this.applied = index;
  }
}
