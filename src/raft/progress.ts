import type { ProgressState, Snapshot } from './types.ts';
import { Inflights } from './inflights.ts';
import { assert } from './assert.ts';

/** An in-progress InstallSnapshot to one follower, sent in chunks. */
export interface SnapshotTransfer {
  readonly snapshot: Snapshot;
  /** Bytes the follower confirmed it holds, in order. invariant: ackedBytes <= sentBytes. */
  ackedBytes: number;
  /** Bytes sent so far (optimistically). */
  sentBytes: number;
  /** The offset of the last resend after a gap (-1: none); one resend per gap. */
  resentFrom: number;
  /** Heartbeat intervals since the last confirmed progress; past a bound the rest is resent. */
  stalledHeartbeats: number;
}

/**
 * The leader's view of one follower (etcd's three states):
 *  - probe: one append at a time until the follower's match is found;
 *  - replicate: appends are pipelined, bounded by the in-flight window;
 *  - snapshot: the follower needs entries that are compacted; a snapshot is being sent.
 * invariant: match < next.
 */
export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: an append is out and unanswered; wait for a reply or a heartbeat. */
  probeSent = false;
  /** Set on any message from the follower; cleared by the check-quorum sweep. */
  recentActive = false;
  /** The send tick of the latest heartbeat the follower acknowledged (dates the lease). */
  lastAckSentTick = Number.NEGATIVE_INFINITY;
  /** The highest commit index sent in an append; an empty append carries a newer one. */
  sentCommit = 0;
  /** The latest read-index round the follower acknowledged. */
  readRoundAcked = 0;
  snapshotTransfer: SnapshotTransfer | undefined = undefined;
  readonly inflights: Inflights;

  constructor(
    next: number,
    public isLearner: boolean,
    maxInflightMsgs: number,
    maxInflightBytes: number,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxInflightMsgs, maxInflightBytes);
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.snapshotTransfer = undefined;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === 'snapshot' && this.snapshotTransfer !== undefined) {
      const snapIndex = this.snapshotTransfer.snapshot.metadata.index;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, snapIndex + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshot: Snapshot): void {
    this.resetState('snapshot');
    this.snapshotTransfer = { snapshot, ackedBytes: 0, sentBytes: 0, resentFrom: -1, stalledHeartbeats: 0 };
  }

  /** Records that an append carrying entries up to `lastIndex` went out. */
  sentEntries(lastIndex: number, entryCount: number, sizeBytes: number): void {
    if (this.state === 'replicate') {
      if (entryCount > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, sizeBytes);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    } else {
      assert(false, 'Progress.sentEntries in snapshot state');
    }
  }

  /** A successful append response for `index`. Returns whether match advanced. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * A rejected append of `rejected` with the follower's hint. Returns false when the
   * rejection is stale (answers an append that is no longer relevant).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  describe(): string {
    let s = `${this.state} match=${this.match} next=${this.next}`;
    if (this.isLearner) s += ' learner';
    if (this.isPaused()) s += ' paused';
    if (this.snapshotTransfer !== undefined) {
      const t = this.snapshotTransfer;
      s += ` snap=${t.snapshot.metadata.index}@${t.ackedBytes}/${t.snapshot.data.byteLength}`;
    }
    if (this.inflights.length > 0) s += ` inflight=${this.inflights.length}`;
    return s;
  }
}
