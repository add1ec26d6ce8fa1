import { applyConfChange, decodeConfEntry } from '../raft/confchange.ts';
import type { RaftNode } from '../raft/raft.ts';
import type { ConfState, Entry, Message, NodeId, Ready, ReadState, Role, Snapshot } from '../raft/types.ts';
import type { FileLogStorage } from '../storage/file-log-storage.ts';

/** The replicated application a driver feeds with committed entries. */
export interface Application {
  /** Applies one committed entry (normal or conf; an empty entry carries no data). */
  applyEntry(entry: Entry): void;
  /** The application's whole state as of the last applied index. */
  snapshot(): Uint8Array;
  /** Replaces the state with a snapshot's. */
  restore(snapshot: Snapshot): void;
}

export interface DriverOptions {
  readonly raft: RaftNode;
  readonly storage: FileLogStorage;
  readonly app: Application;
  /** Hands a message to the transport (which may drop it: Raft tolerates loss). */
  readonly send: (m: Message) => void;
  /** A snapshot is taken once this many entries were applied since the last one. */
  readonly snapshotEvery: number;
  /** Entries kept in the log behind a snapshot (so a slightly lagging follower needs no snapshot). */
  readonly snapshotKeep: number;
  /** A storage failure: the process must stop (the Ready's messages depended on the lost write). */
  readonly onFatal: (e: unknown) => void;
  /** Role or leader changed. */
  readonly onSoftState?: (role: Role, leader: NodeId, term: number) => void;
  /** A read index came back: the read may be served once `applied` reaches `index` (0: refused, retry). */
  readonly onReadState?: (rs: ReadState) => void;
  /** Entries were applied up to `index`, taking `seconds`. */
  readonly onApplied?: (index: number, seconds: number) => void;
  /** A Ready's write became durable: how long it took from the call (group commit included) and how many entries it held. */
  readonly onPersisted?: (seconds: number, entries: number) => void;
  /** This master wrote a snapshot of its state at `index` (automatic or requested). */
  readonly onSnapshotTaken?: (index: number, sizeBytes: number) => void;
  /** A snapshot from the leader was made durable and installed in the state machine. */
  readonly onSnapshotInstalled?: (index: number) => void;
}

/** How many times a requested snapshot waits for a snapshot being installed or written before giving up. */
const maxSnapshotNowAttempts = 100;

interface PendingWrite {
  readonly rd: Ready;
  done: boolean;
}

/**
 * Drives a RaftNode over durable storage, following the Ready contract (src/raft/types.ts):
 * `messagesNow` go out at once; the snapshot, entries and hard state are written through the
 * store's group commit while the node keeps working (several Readies may be in flight); once a
 * Ready and every earlier one are durable, its `messages` go out, persistence is reported,
 * committed entries are applied and the node advances. Inputs arriving during one turn of the
 * event loop are batched: the driver pumps once per turn.
 */
export class RaftDriver {
  private readonly writes: PendingWrite[] = [];
  private scheduled = false;
  private failed = false;
  /** The snapshot being written (one at a time, automatic or requested). */
  private snapshotInFlight: Promise<number> | undefined;
  private role: Role = 'follower';
  private leader: NodeId = 0;
  private term = 0;
  applied: number;
  /** The configuration as of the applied index. */
  conf: ConfState;

  constructor(private readonly o: DriverOptions) {
    const snap = o.storage.snapshot();
    this.applied = snap.metadata.index;
    this.conf = snap.metadata.confState;
    this.term = o.storage.initialState().hardState.term;
  }

  get isLeader(): boolean {
    return this.role === 'leader';
  }

  get leaderId(): NodeId {
    return this.leader;
  }

  get currentRole(): Role {
    return this.role;
  }

  get currentTerm(): number {
    return this.term;
  }

  get raft(): RaftNode {
    return this.o.raft;
  }

  /** Schedules a pump for the end of this turn of the event loop. Call after every input to the node. */
  kick(): void {
    if (this.scheduled || this.failed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.failed) return;
    try {
      const raft = this.o.raft;
      while (raft.hasReady()) this.take(raft.ready());
    } catch (e) {
      this.fail(e);
    }
  }

  private fail(e: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.o.onFatal(e);
  }

  private take(rd: Ready): void {
    if (rd.hardState !== undefined) this.term = rd.hardState.term;
    if (rd.softState !== undefined) {
      const changed = rd.softState.role !== this.role || rd.softState.leader !== this.leader;
      this.role = rd.softState.role;
      this.leader = rd.softState.leader;
      if (changed) this.o.onSoftState?.(this.role, this.leader, rd.hardState?.term ?? this.term);
    }
    for (const m of rd.messagesNow) this.o.send(m);
    const durable = rd.snapshot !== undefined || rd.entries.length > 0 || rd.hardState !== undefined;
    if (!durable && this.writes.length === 0) {
      this.complete(rd);
      return;
    }
    const w: PendingWrite = { rd, done: !durable };
    this.writes.push(w);
    if (!durable) return;
    const started = process.hrtime.bigint();
    this.o.storage.persistReady(rd).then(
      () => {
        this.o.onPersisted?.(Number(process.hrtime.bigint() - started) / 1e9, rd.entries.length);
        w.done = true;
        this.completeWrites();
      },
      (e: unknown) => this.fail(e),
    );
  }

  private completeWrites(): void {
    if (this.failed) return;
    try {
      for (;;) {
        const w = this.writes[0];
        if (w === undefined || !w.done) break;
        this.writes.shift();
        this.complete(w.rd);
      }
      this.pump();
    } catch (e) {
      this.fail(e);
    }
  }

  /** Everything of `rd` and of the Readies before it is durable. */
  private complete(rd: Ready): void {
    const raft = this.o.raft;
    for (const m of rd.messages) this.o.send(m);
    if (rd.snapshot !== undefined) raft.snapshotPersisted(rd.snapshot.metadata.index);
    const last = rd.entries[rd.entries.length - 1];
    if (last !== undefined) raft.logPersisted(last.index, last.term);
    if (rd.snapshot !== undefined) {
      this.o.app.restore(rd.snapshot);
      this.applied = rd.snapshot.metadata.index;
      this.conf = rd.snapshot.metadata.confState;
      this.o.onSnapshotInstalled?.(this.applied);
    }
    const applyStart = process.hrtime.bigint();
    for (const e of rd.committedEntries) {
      if (e.index <= this.applied) continue;
      if (e.type === 'conf') this.applyConf(e);
      this.o.app.applyEntry(e);
      this.applied = e.index;
    }
    if (rd.committedEntries.length > 0 || rd.snapshot !== undefined) this.o.onApplied?.(this.applied, Number(process.hrtime.bigint() - applyStart) / 1e9);
    for (const rs of rd.readStates) this.o.onReadState?.(rs);
    raft.advance(rd);
    this.maybeSnapshot();
  }

  private applyConf(e: Entry): void {
    const { change, result } = decodeConfEntry(e.data);
    const out = this.conf.voters.length === 0 && result !== undefined ? { ok: true as const, conf: result } : applyConfChange(this.conf, change);
    if (out.ok) this.conf = out.conf;
  }

  /**
   * Takes a snapshot once enough entries were applied since the last one; then compacts the log
   * behind it. Writes in flight do not prevent it (the store queues the snapshot after them, and
   * they only add entries beyond the applied index), except one installing a snapshot from the
   * leader: the new snapshot would then be older than the store's and be refused.
   */
  private maybeSnapshot(): void {
    if (this.snapshotInFlight !== undefined || this.failed || this.installingSnapshot()) return;
    if (this.applied - this.o.storage.snapshot().metadata.index < this.o.snapshotEvery) return;
    // A failure is fatal and reported through onFatal by takeSnapshot.
    this.takeSnapshot().catch(() => undefined);
  }

  private installingSnapshot(): boolean {
    return this.writes.some((w) => w.rd.snapshot !== undefined);
  }

  /**
   * Takes a snapshot at the applied index now (the `snapshot` admin operation), after the one in
   * flight if any; resolves with the index of the store's snapshot (unchanged when nothing was
   * applied since the last one).
   */
  async snapshotNow(): Promise<number> {
    const st = this.o.storage;
    for (let attempt = 0; attempt < maxSnapshotNowAttempts; attempt++) {
      if (this.failed) throw new Error('the Raft driver stopped after a storage failure');
      const inFlight = this.snapshotInFlight;
      if (inFlight !== undefined) {
        await inFlight.catch(() => undefined);
        continue;
      }
      if (this.installingSnapshot()) {
        await st.sync();
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      if (this.applied <= st.snapshot().metadata.index) return st.snapshot().metadata.index;
      return await this.takeSnapshot();
    }
    throw new Error(`no snapshot after ${maxSnapshotNowAttempts} attempts: snapshots from the leader kept arriving`);
  }

  /** Writes the state as of the applied index (with the configuration as of that index), then compacts the log up to `snapshotKeep` entries behind it. */
  private takeSnapshot(): Promise<number> {
    const st = this.o.storage;
    // The state, its index and its configuration are captured together, in one synchronous step: apply runs in between turns only.
    const index = this.applied;
    const conf = this.conf;
    const data = this.o.app.snapshot();
    const p = (async (): Promise<number> => {
      try {
        await st.createSnapshot(index, conf, data);
        this.o.onSnapshotTaken?.(index, data.byteLength);
        const compactTo = index - this.o.snapshotKeep;
        if (compactTo >= st.firstIndex()) await st.compact(compactTo);
        return index;
      } catch (e) {
        this.fail(e);
        throw e;
      } finally {
        this.snapshotInFlight = undefined;
      }
    })();
    this.snapshotInFlight = p;
    return p;
  }

  /** Waits for the writes in flight; the node must receive no more input. */
  async drainWrites(): Promise<void> {
    await this.o.storage.sync();
  }
}
