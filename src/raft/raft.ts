import type {
  AppMessage,
  AppRespMessage,
  ConfChange,
  ConfState,
  Entry,
  HardState,
  HeartbeatRespMessage,
  Message,
  NodeId,
  ProgressState,
  ProposeResult,
  RaftErrorCode,
  RandomSource,
  ReadState,
  Ready,
  Role,
  SnapshotMessage,
  SnapshotRespMessage,
  SoftState,
  VoteMessage,
} from './types.ts';
import { NONE } from './types.ts';
import type { LogStorage } from './storage.ts';
import { entrySizeBytes } from './storage.ts';
import { RaftLog } from './log.ts';
import { Progress } from './progress.ts';
import { assert } from './assert.ts';
import { jointCommitted, jointVoteResult } from './quorum.ts';
import { applyConfChange, checkConfState, decodeConfEntry, encodeConfChange, isJoint, sameConfState } from './confchange.ts';

export { encodeConfChange, decodeConfChange, decodeConfEntry } from './confchange.ts';
export { describeMessage } from './describe.ts';

export interface RaftConfig {
  readonly id: NodeId;
  readonly storage: LogStorage;
  readonly random: RandomSource;
  /** Minimum election timeout; each timeout is drawn from [electionTicks, 2 * electionTicks). */
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  /** 'lease' serves leader reads without a heartbeat round while the lease holds (needs checkQuorum). */
  readonly readMode?: 'readIndex' | 'lease';
  /** How far clocks may drift apart over one election timeout, in ticks; shortens the lease. */
  readonly leaseDriftTicks?: number;
  /** A follower forwards proposals to the leader (true) or refuses them with ERR_NOT_LEADER (false). */
  readonly forwardProposals?: boolean;
  readonly maxEntriesPerMsg?: number;
  readonly maxBytesPerMsg?: number;
  readonly maxInflightMsgs?: number;
  readonly maxInflightBytes?: number;
  /** Proposals are refused while more than this many bytes are appended but not applied (0: no limit). */
  readonly maxUncommittedBytes?: number;
  readonly maxSnapshotChunkBytes?: number;
  readonly maxInflightSnapshotChunks?: number;
  readonly maxCommittedBytesPerReady?: number;
  /** Read-index requests waiting for the leader's first commit in its term. */
  readonly maxPendingReads?: number;
  /** The last applied index after a restart (default: the storage snapshot's index). */
  readonly applied?: number;
  /** Test-only: deliberately broken rules, to prove that the simulator catches them. */
  readonly bugs?: {
    readonly commitPreviousTermByCounting?: boolean;
    readonly skipUpToDateCheck?: boolean;
  };
}

export interface ProgressStatus {
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly isLearner: boolean;
  /** Entries the member is behind the leader's last index. */
  readonly lag: number;
  readonly recentActive: boolean;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly firstIndex: number;
  readonly role: Role;
  readonly leader: NodeId;
  readonly confState: ConfState;
  readonly leadTransferee: NodeId;
  readonly progress: Map<NodeId, ProgressStatus>;
}

interface PendingRead {
  readonly round: number;
  readonly index: number;
  readonly context: Uint8Array;
  readonly from: NodeId;
}

interface QueuedMessage {
  readonly msg: Message;
  /** May be sent before this Ready's writes are durable. */
  readonly now: boolean;
}

interface SnapshotReceive {
  readonly index: number;
  readonly term: number;
  readonly totalBytes: number;
  readonly chunks: Uint8Array[];
  receivedBytes: number;
}

const EMPTY = new Uint8Array(0);

/**
 * The Raft consensus algorithm as a pure state machine (Ongaro's thesis, with
 * pre-vote, check-quorum, joint consensus, learners, ReadIndex and leases), in the
 * manner of etcd's raft. Inputs: tick(), step(), propose(), proposeConfChange(),
 * readIndex(), transferLeadership(), reportLeaderConnectionClosed(), and the
 * durability reports logPersisted()/snapshotPersisted(). Output: ready().
 */
export class RaftNode {
  readonly id: NodeId;
  private readonly storage: LogStorage;
  private readonly random: RandomSource;
  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly readMode: 'readIndex' | 'lease';
  private readonly leaseDriftTicks: number;
  private readonly forwardProposals: boolean;
  private readonly maxEntriesPerMsg: number;
  private readonly maxBytesPerMsg: number;
  private readonly maxInflightMsgs: number;
  private readonly maxInflightBytes: number;
  private readonly maxUncommittedBytes: number;
  private readonly maxSnapshotChunkBytes: number;
  private readonly maxInflightSnapshotChunks: number;
  private readonly maxCommittedBytesPerReady: number;
  private readonly maxPendingReads: number;
  private readonly bugs: NonNullable<RaftConfig['bugs']>;

  private term = 0;
  private vote: NodeId = NONE;
  private lead: NodeId = NONE;
  private role: Role = 'follower';
  private readonly log: RaftLog;

  private conf: ConfState;
  /** The log index at which `conf` took effect (a snapshot's index or a conf entry's). */
  private confIndex = 0;
  private incoming = new Set<NodeId>();
  private outgoing = new Set<NodeId>();
  private readonly progress = new Map<NodeId, Progress>();
  private readonly votes = new Map<NodeId, boolean>();

  private queued: QueuedMessage[] = [];
  private readStates: ReadState[] = [];
  private prevSoft: SoftState;
  private prevHard: HardState;

  /** Ticks since the last election timeout reset (followers: since the leader was last heard). */
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  /** The node's tick counter, used to date leases. */
  private tickCount = 0;

  private leadTransferee: NodeId = NONE;
  private transferElapsed = 0;
  /** Once a TimeoutNow went out in this term, another node may win at once: no more lease reads. */
  private leaseRevoked = false;
  /** Index of the latest membership change proposed; no new one until it is applied. */
  private pendingConfIndex = 0;
  private uncommittedBytes = 0;

  private readRound = 0;
  private pendingReads: PendingRead[] = [];
  /** Reads that arrived before this leader committed an entry of its term. */
  private readsAwaitingCommit: { context: Uint8Array; from: NodeId }[] = [];
  /** Reads that arrived since the last Ready: they share one read round, started when the next Ready is taken. */
  private readsQueued: { context: Uint8Array; from: NodeId }[] = [];

  /** The transport reported that the leader closed its connection to us. */
  private leaderConnectionClosed = false;
  /**
   * Lease mode: until this tick we refuse to help elect anyone (ourselves included), whatever
   * happens to our term or known leader, because a leader may count our acknowledgement of
   * its heartbeat towards a lease.
   */
  private leaseGuardUntilTick = 0;
  /**
   * An election after a reported leader crash is under way (no leader heard since): a split
   * vote is retried after a short random timeout rather than a full one. Not with leases.
   */
  private fastElection = false;
  /** The fast retries stop at this tick: a leader that is alive but unreachable is waited for normally. */
  private fastElectionUntilTick = 0;
  private snapshotReceive: SnapshotReceive | undefined = undefined;

  constructor(cfg: RaftConfig) {
    assert(cfg.id > 0 && Number.isInteger(cfg.id), 'RaftNode: id must be a positive integer', { id: cfg.id });
    this.id = cfg.id;
    this.storage = cfg.storage;
    this.random = cfg.random;
    this.electionTicks = cfg.electionTicks ?? 10;
    this.heartbeatTicks = cfg.heartbeatTicks ?? 1;
    this.preVote = cfg.preVote ?? true;
    this.checkQuorum = cfg.checkQuorum ?? true;
    this.readMode = cfg.readMode ?? 'readIndex';
    this.leaseDriftTicks = cfg.leaseDriftTicks ?? 2;
    this.forwardProposals = cfg.forwardProposals ?? true;
    this.maxEntriesPerMsg = cfg.maxEntriesPerMsg ?? 256;
    this.maxBytesPerMsg = cfg.maxBytesPerMsg ?? 1024 * 1024;
    this.maxInflightMsgs = cfg.maxInflightMsgs ?? 64;
    this.maxInflightBytes = cfg.maxInflightBytes ?? 16 * 1024 * 1024;
    this.maxUncommittedBytes = cfg.maxUncommittedBytes ?? 64 * 1024 * 1024;
    this.maxSnapshotChunkBytes = cfg.maxSnapshotChunkBytes ?? 1024 * 1024;
    this.maxInflightSnapshotChunks = cfg.maxInflightSnapshotChunks ?? 4;
    this.maxCommittedBytesPerReady = cfg.maxCommittedBytesPerReady ?? 16 * 1024 * 1024;
    this.maxPendingReads = cfg.maxPendingReads ?? 4096;
    this.bugs = cfg.bugs ?? {};

    // Limits must fit together (checked once, at start-up).
    assert(this.heartbeatTicks >= 1, 'heartbeatTicks must be >= 1');
    assert(this.electionTicks > this.heartbeatTicks, 'electionTicks must exceed heartbeatTicks', {
      electionTicks: this.electionTicks,
      heartbeatTicks: this.heartbeatTicks,
    });
    assert(this.readMode !== 'lease' || this.checkQuorum, "readMode 'lease' needs checkQuorum");
    assert(
      this.readMode !== 'lease' || (this.leaseDriftTicks >= 0 && this.leaseDriftTicks < this.electionTicks - this.heartbeatTicks),
      'leaseDriftTicks must be below electionTicks - heartbeatTicks so that a lease can be held',
    );
    assert(this.maxEntriesPerMsg >= 1 && this.maxBytesPerMsg >= 1, 'message limits must be positive');
    assert(this.maxInflightMsgs >= 1, 'maxInflightMsgs must be >= 1');
    assert(this.maxSnapshotChunkBytes >= 1 && this.maxInflightSnapshotChunks >= 1, 'snapshot chunk limits must be positive');

    const { hardState, confState } = this.storage.initialState();
    const snapIndex = this.storage.snapshot().metadata.index;
    const applied = cfg.applied ?? snapIndex;
    this.log = new RaftLog(this.storage, hardState.commit, applied);
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.conf = confState;
    this.confIndex = snapIndex;
    // Membership changes between the snapshot and the applied index were applied before the restart.
    if (applied > snapIndex) {
      for (const e of this.log.slice(snapIndex + 1, applied + 1, Number.POSITIVE_INFINITY) ?? []) {
        if (e.type === 'conf') this.applyConfEntry(e, false);
      }
    }
    this.switchToConfig(this.conf);
    this.prevHard = this.hardState();
    this.becomeFollower(this.term, NONE);
    this.prevSoft = { leader: this.lead, role: this.role };
  }

  // ---------------------------------------------------------------- inputs

  tick(): void {
    this.tickCount++;
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  /** Starts an election now (used by tests and by a leadership transfer's target). */
  campaign(): void {
    this.hup(false);
  }

  propose(data: Uint8Array): ProposeResult {
    return this.proposeBatch([data]);
  }

  /**
   * Proposes several commands at once: they are appended together and travel in the
   * same appends. On success `index` is the last one's (the first is index - count + 1).
   */
  proposeBatch(data: readonly Uint8Array[]): ProposeResult {
    assert(data.length > 0, 'proposeBatch: empty batch');
    if (this.role !== 'leader') {
      if (this.lead === NONE || !this.forwardProposals) return this.refuse('ERR_NOT_LEADER');
      this.send({ type: 'prop', from: this.id, to: this.lead, term: this.term, entries: data.map((d) => entry(0, 0, 'normal', d)) }, false);
      return { ok: true, forwarded: true, to: this.lead };
    }
    if (this.leadTransferee !== NONE) return this.refuse('ERR_TRANSFERRING');
    let bytes = 0;
    for (const d of data) bytes += d.byteLength;
    if (!this.admitUncommitted(bytes)) return this.refuse('ERR_PROPOSAL_DROPPED');
    const index = this.appendLeaderEntries(data.map((d) => ({ type: 'normal' as const, data: d })));
    return { ok: true, index, term: this.term };
  }

  proposeConfChange(cc: ConfChange): ProposeResult {
    if (this.role !== 'leader') return this.refuse('ERR_NOT_LEADER');
    if (this.leadTransferee !== NONE) return this.refuse('ERR_TRANSFERRING');
    if (this.pendingConfIndex > this.log.applied) return this.refuse('ERR_CONF_CHANGE_PENDING');
    const outcome = applyConfChange(this.conf, cc);
    if (!outcome.ok) return this.refuse('ERR_BAD_CONF_CHANGE');
    const index = this.appendLeaderEntries([{ type: 'conf', data: encodeConfChange(cc, outcome.conf) }]);
    this.pendingConfIndex = index;
    return { ok: true, index, term: this.term };
  }

  /**
   * Asks for a linearizable read point. The answer arrives as a ReadState with the
   * same context (index 0: the read could not be served, retry it).
   */
  readIndex(context: Uint8Array): { ok: true } | { ok: false; code: RaftErrorCode; leaderHint: NodeId } {
    if (this.role === 'leader') {
      this.handleReadIndex(context, this.id);
      return { ok: true };
    }
    if (this.lead === NONE) return { ok: false, code: 'ERR_NOT_LEADER', leaderHint: NONE };
    this.send({ type: 'readIndex', from: this.id, to: this.lead, term: this.term, context }, false);
    return { ok: true };
  }

  transferLeadership(to: NodeId): void {
    if (this.role !== 'leader' || to === this.id || !this.incoming.has(to)) return;
    if (this.leadTransferee === to) return;
    this.leadTransferee = to;
    this.transferElapsed = 0;
    this.leaseRevoked = true;
    const pr = this.progress.get(to)!;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to, true);
  }

  /**
   * The transport saw `peer` close its connection: if it is our leader, it has
   * probably crashed. We may campaign early, and may grant a pre-vote although we
   * heard from that leader recently; nodes that still hear from it refuse.
   */
  reportLeaderConnectionClosed(peer: NodeId): void {
    // Without pre-vote an early campaign would raise terms and could depose a live leader.
    if (!this.preVote || this.role !== 'follower' || peer !== this.lead || peer === NONE) return;
    this.leaderConnectionClosed = true;
    this.fastElection = this.readMode !== 'lease';
    this.fastElectionUntilTick = this.tickCount + 2 * this.electionTicks;
    const jitter = this.random.intBelow(Math.max(2, Math.floor(this.electionTicks / 4)));
    // With leases, the leader may serve reads until electionTicks after we last heard it, and
    // our own vote for ourselves counts as much as any: campaign no earlier than that.
    const earliest = this.readMode === 'lease' ? this.electionTicks + jitter : this.electionElapsed + 1 + jitter;
    this.randomizedElectionTimeout = Math.min(this.randomizedElectionTimeout, earliest);
  }

  step(m: Message): void {
    assert(m.to === this.id, 'step: message for another node', { to: m.to, id: this.id });
    if (m.from === this.id) return;
    // Forwarded requests carry no term obligations.
    switch (m.type) {
      case 'prop':
        this.handleForwardedProposal(m.entries);
        return;
      case 'readIndex':
        if (this.role === 'leader') this.handleReadIndex(m.context, m.from);
        else this.send({ type: 'readIndexResp', from: this.id, to: m.from, term: this.term, context: m.context, index: 0 }, false);
        return;
      case 'readIndexResp':
        this.readStates.push({ index: m.index, context: m.context });
        return;
      default:
        break;
    }

    if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        if (!m.force && this.inLease()) return; // Raft thesis 4.2.3: disregard while the leader is heard.
      }
      if (m.type === 'preVote') {
        // A pre-vote never changes our term.
      } else if (m.type === 'preVoteResp' && !m.reject) {
        // A granted pre-vote carries the term we would campaign for.
      } else if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snapshot') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === 'app' || m.type === 'heartbeat')) {
        // Tell a stale leader about the newer term (it may be cut off from the rest and
        // unable to learn it otherwise; with pre-vote we would never force it).
        this.send(appResp(this.id, m.from, this.term, 0, false, 0, 0), false);
      } else if (m.type === 'preVote') {
        this.send({ type: 'preVoteResp', from: this.id, to: m.from, term: this.term, reject: true }, false);
      }
      return;
    }

    if (m.type === 'vote' || m.type === 'preVote') {
      this.handleVoteRequest(m);
      return;
    }

    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        break;
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m);
        break;
      case 'follower':
        this.stepFollower(m);
        break;
    }
  }

  // ---------------------------------------------------------------- output

  hasReady(): boolean {
    if (this.queued.length > 0 || this.readStates.length > 0 || this.readsQueued.length > 0) return true;
    if (this.log.hasNextUnstableEntries() || this.log.nextUnstableSnapshot() !== undefined) return true;
    if (!sameHard(this.hardState(), this.prevHard)) return true;
    if (this.prevSoft.leader !== this.lead || this.prevSoft.role !== this.role) return true;
    return this.log.hasNextCommittedEntries();
  }

  /** Takes everything pending; see the Ready contract in types.ts. */
  ready(): Ready {
    // Every read that arrived since the last Ready joins one round, whose heartbeats go out in this Ready.
    this.startQueuedReads();
    const hs = this.hardState();
    const hardChanged = !sameHard(hs, this.prevHard);
    const termOrVoteChanged = hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote;
    const entries = this.log.nextUnstableEntries();
    const snapshot = this.log.nextUnstableSnapshot();
    const committedEntries = this.log.nextCommittedEntries(this.maxCommittedBytesPerReady);
    const soft: SoftState = { leader: this.lead, role: this.role };
    const softChanged = soft.leader !== this.prevSoft.leader || soft.role !== this.prevSoft.role;

    const messagesNow: Message[] = [];
    const messages: Message[] = [];
    for (const q of this.queued) {
      // A new term or vote must be durable before anything that depends on it goes out.
      if (q.now && !termOrVoteChanged) messagesNow.push(q.msg);
      else messages.push(q.msg);
    }
    this.queued = [];

    const rd: Ready = {
      softState: softChanged ? soft : undefined,
      hardState: hardChanged ? hs : undefined,
      entries,
      snapshot,
      committedEntries,
      messagesNow,
      messages,
      readStates: this.readStates,
      mustSync: termOrVoteChanged || entries.length > 0 || snapshot !== undefined,
    };
    this.readStates = [];
    if (softChanged) this.prevSoft = soft;
    if (hardChanged) this.prevHard = hs;
    this.log.markInProgress(entries.length > 0 ? entries[entries.length - 1]!.index : undefined, snapshot !== undefined);
    if (committedEntries.length > 0) this.log.applying = committedEntries[committedEntries.length - 1]!.index;
    return rd;
  }

  /** The caller made the log durable up to (index, term). */
  logPersisted(index: number, term: number): void {
    // Ready order: a snapshot is reported durable before any entry that follows it.
    const pendingSnap = this.log.unstable.snapshot;
    assert(pendingSnap === undefined || index <= pendingSnap.metadata.index, 'logPersisted: snapshotPersisted must be reported first', {
      index,
      snapshot: pendingSnap?.metadata.index,
    });
    this.log.stableTo(index, term);
    if (this.role === 'leader') {
      const self = this.progress.get(this.id);
      if (self !== undefined && self.maybeUpdate(this.log.stableLastIndex())) {
        if (this.maybeCommit()) this.bcastAppend(true);
      }
    }
  }

  snapshotPersisted(index: number): void {
    this.log.stableSnapTo(index);
  }

  /** The committed entries and snapshot of `rd` are applied to the state machine. */
  advance(rd: Ready): void {
    let appliedIndex = this.log.applied;
    if (rd.snapshot !== undefined) appliedIndex = Math.max(appliedIndex, rd.snapshot.metadata.index);
    for (const e of rd.committedEntries) {
      // A snapshot installed since this Ready was taken may already include the change.
      if (e.type === 'conf' && e.index > this.confIndex) this.applyConfEntry(e, true);
      if (this.role === 'leader') this.uncommittedBytes = Math.max(0, this.uncommittedBytes - e.data.byteLength);
      appliedIndex = e.index;
    }
    if (appliedIndex > this.log.applied) this.log.appliedTo(appliedIndex);
    this.maybeAutoLeaveJoint();
  }

  status(): RaftStatus {
    const progress = new Map<NodeId, ProgressStatus>();
    if (this.role === 'leader') {
      const last = this.log.lastIndex();
      for (const [id, pr] of this.progress) {
        progress.set(id, {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          isLearner: pr.isLearner,
          lag: last - pr.match,
          recentActive: pr.recentActive,
        });
      }
    }
    return {
      id: this.id,
      term: this.term,
      vote: this.vote,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      firstIndex: this.log.firstIndex(),
      role: this.role,
      leader: this.lead,
      confState: this.conf,
      leadTransferee: this.leadTransferee,
      progress,
    };
  }

  /** The term of the entry at `index` as this node sees it (durable or not); undefined when compacted or absent. */
  termAt(index: number): number | undefined {
    return this.log.term(index);
  }

  /** One line describing the node, for traces and scenario tests. */
  describe(): string {
    const s = this.status();
    return `${s.id} ${s.role} term=${s.term} vote=${s.vote} lead=${s.leader} commit=${s.commit} applied=${s.applied} last=${s.lastIndex}`;
  }

  // ---------------------------------------------------------------- roles

  private becomeFollower(term: number, lead: NodeId): void {
    const wasLeader = this.role === 'leader';
    this.reset(term);
    this.role = 'follower';
    this.lead = lead;
    if (wasLeader) this.failPendingReads();
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'becomePreCandidate: leader');
    // Pre-vote (thesis 9.6): ask first whether we could win, without touching our term.
    this.role = 'preCandidate';
    this.votes.clear();
    this.lead = NONE;
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'becomeCandidate: leader');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    assert(this.role === 'candidate', 'becomeLeader: not a candidate', { role: this.role });
    this.reset(this.term);
    this.role = 'leader';
    this.lead = this.id;
    this.fastElection = false;
    const self = this.progress.get(this.id);
    if (self !== undefined) {
      self.becomeReplicate();
      self.match = this.log.stableLastIndex();
      self.next = this.log.lastIndex() + 1;
      self.recentActive = true;
    }
    // Be conservative: an unapplied membership change may be in the log.
    this.pendingConfIndex = this.log.lastIndex();
    // The no-op of the new term (thesis 6.4): commits the log and enables reads.
    this.appendLeaderEntries([{ type: 'normal', data: EMPTY }]);
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
      this.snapshotReceive = undefined;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.votes.clear();
    this.leadTransferee = NONE;
    this.transferElapsed = 0;
    this.leaseRevoked = false;
    this.leaderConnectionClosed = false;
    this.uncommittedBytes = 0;
    const last = this.log.lastIndex();
    for (const [id, pr] of this.progress) {
      const fresh = new Progress(last + 1, pr.isLearner, this.maxInflightMsgs, this.maxInflightBytes);
      if (id === this.id) fresh.match = this.log.stableLastIndex();
      this.progress.set(id, fresh);
    }
  }

  private resetRandomizedElectionTimeout(): void {
    if (this.fastElection && this.tickCount < this.fastElectionUntilTick) {
      this.randomizedElectionTimeout = 1 + this.random.intBelow(Math.max(2, Math.floor(this.electionTicks / 2)));
      return;
    }
    this.randomizedElectionTimeout = this.electionTicks + this.random.intBelow(this.electionTicks);
  }

  // ---------------------------------------------------------------- ticks

  private tickElection(): void {
    this.electionElapsed++;
    if (this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.resetRandomizedElectionTimeout();
      this.hup(false);
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.leadTransferee !== NONE && ++this.transferElapsed >= this.electionTicks) {
      // Thesis 3.10: abort a transfer that did not complete within an election timeout.
      this.leadTransferee = NONE;
      this.transferElapsed = 0;
    }
    if (this.electionElapsed >= this.electionTicks) {
      this.electionElapsed = 0;
      if (this.checkQuorum) {
        // Check-quorum (thesis 6.2): a leader cut off from a quorum steps down.
        if (!this.quorumActive()) {
          this.becomeFollower(this.term, NONE);
          return;
        }
        for (const [id, pr] of this.progress) if (id !== this.id) pr.recentActive = false;
      }
    }
    if (this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.releaseConfirmedReads();
      this.bcastHeartbeat(0);
      this.resumeStalledSnapshots();
    }
  }

  private quorumActive(): boolean {
    const active = new Map<NodeId, boolean>();
    for (const [id, pr] of this.progress) if (!pr.isLearner) active.set(id, id === this.id || pr.recentActive);
    return jointVoteResult(this.incoming, this.outgoing, active) === 'won';
  }

  /** Whether we heard from a leader within the minimum election timeout (and so refuse to help depose it). */
  private inLease(): boolean {
    if (this.readMode === 'lease') {
      // Just started: we may have acknowledged a lease holder before a restart and forgotten it.
      // Otherwise the guard is a deadline, not "we know a leader": a term bump must not lift it.
      return this.tickCount < this.electionTicks || this.tickCount < this.leaseGuardUntilTick;
    }
    if (!this.checkQuorum || this.lead === NONE || this.electionElapsed >= this.electionTicks) return false;
    // Told that the leader's connection closed, we help elect another at once (with leases,
    // the deadline above applies instead).
    return !this.leaderConnectionClosed;
  }

  // ---------------------------------------------------------------- elections

  private promotable(): boolean {
    return this.incoming.has(this.id) || this.outgoing.has(this.id);
  }

  private hup(force: boolean): void {
    if (this.role === 'leader' || !this.promotable()) return;
    if (this.hasUnappliedConfChange()) return; // the configuration may be about to change
    if (this.preVote && !force) this.campaignAs('preVote', false);
    else this.campaignAs('vote', force);
  }

  private hasUnappliedConfChange(): boolean {
    if (this.log.committed <= this.log.applied) return false;
    const ents = this.log.slice(this.log.applied + 1, this.log.committed + 1, Number.POSITIVE_INFINITY) ?? [];
    return ents.some((e) => e.type === 'conf');
  }

  private campaignAs(kind: 'vote' | 'preVote', force: boolean): void {
    let term: number;
    if (kind === 'preVote') {
      this.becomePreCandidate();
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      term = this.term;
    }
    this.votes.set(this.id, true);
    if (this.pollResult() === 'won') {
      if (kind === 'preVote') this.campaignAs('vote', force);
      else this.becomeLeader();
      return;
    }
    const index = this.log.lastIndex();
    const logTerm = this.log.lastTerm();
    for (const id of this.voterIds()) {
      if (id === this.id) continue;
      this.send({ type: kind, from: this.id, to: id, term, index, logTerm, force }, false);
    }
  }

  private pollResult(): 'won' | 'lost' | 'pending' {
    return jointVoteResult(this.incoming, this.outgoing, this.votes);
  }

  private handleVoteRequest(m: VoteMessage): void {
    // We may vote for whom we voted before, or for anyone when we have neither voted nor
    // know a leader in this term; a pre-vote is for a future term and binds nothing.
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (m.type === 'preVote' && m.term > this.term);
    const upToDate = this.bugs.skipUpToDateCheck === true || this.log.isUpToDate(m.index, m.logTerm);
    const respType = m.type === 'vote' ? 'voteResp' : 'preVoteResp';
    if (canVote && upToDate) {
      this.send({ type: respType, from: this.id, to: m.from, term: m.term, reject: false }, false);
      if (m.type === 'vote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, from: this.id, to: m.from, term: this.term, reject: true }, false);
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'app':
      case 'heartbeat':
      case 'snapshot':
        // A leader of our term exists.
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case 'voteResp':
      case 'preVoteResp': {
        const expected = this.role === 'preCandidate' ? 'preVoteResp' : 'voteResp';
        if (m.type !== expected) return;
        this.votes.set(m.from, !m.reject);
        const result = this.pollResult();
        if (result === 'won') {
          if (this.role === 'preCandidate') this.campaignAs('vote', false);
          else this.becomeLeader();
        } else if (result === 'lost') {
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
      default:
        return;
    }
  }

  // ---------------------------------------------------------------- follower

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'app':
        this.heardFromLeader(m.from);
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.heardFromLeader(m.from);
        this.log.commitTo(m.commit);
        this.send(
          { type: 'heartbeatResp', from: this.id, to: m.from, term: this.term, readRound: m.readRound, sentTick: m.sentTick },
          false,
        );
        return;
      case 'snapshot':
        this.heardFromLeader(m.from);
        this.handleSnapshotChunk(m);
        return;
      case 'timeoutNow':
        // Thesis 3.10: the leader asks us to campaign at once, without pre-vote, past leases.
        this.hup(true);
        return;
      default:
        return;
    }
  }

  private heardFromLeader(from: NodeId): void {
    this.electionElapsed = 0;
    this.leaseGuardUntilTick = this.tickCount + this.electionTicks;
    this.lead = from;
    this.leaderConnectionClosed = false;
    if (this.fastElection) {
      this.fastElection = false;
      this.resetRandomizedElectionTimeout();
    }
  }

  private handleAppend(m: AppMessage): void {
    if (m.index < this.log.committed) {
      this.send(appResp(this.id, m.from, this.term, this.log.committed, false, 0, 0), false);
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.entries);
    if (lastNew !== undefined) {
      this.log.commitTo(Math.min(m.commit, lastNew));
      // Sent only once the entries are durable (it travels in Ready.messages).
      this.send(appResp(this.id, m.from, this.term, lastNew, false, 0, 0), false);
      return;
    }
    // Fast backtracking: point the leader at the last entry that can possibly match.
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send(appResp(this.id, m.from, this.term, m.index, true, hint.index, hint.term), false);
  }

  private handleSnapshotChunk(m: SnapshotMessage): void {
    const meta = m.metadata;
    if (meta.index <= this.log.committed) {
      // Nothing to install: we already have (and committed) everything it covers.
      if (this.snapshotReceive?.index === meta.index) this.snapshotReceive = undefined;
      this.send(appResp(this.id, m.from, this.term, this.log.committed, false, 0, 0), false);
      return;
    }
    if (m.offset === 0 && this.log.matchTerm(meta.index, meta.term)) {
      // Our log already holds the snapshot's last entry: fast-forward the commit instead.
      this.snapshotReceive = undefined;
      this.log.commitTo(meta.index);
      this.send(appResp(this.id, m.from, this.term, meta.index, false, 0, 0), false);
      return;
    }
    let rx = this.snapshotReceive;
    if (rx === undefined || rx.index !== meta.index || rx.term !== meta.term) {
      if (m.offset !== 0) {
        this.send(snapshotResp(this.id, m.from, this.term, meta.index, 0, false), false);
        return;
      }
      rx = { index: meta.index, term: meta.term, totalBytes: m.totalBytes, chunks: [], receivedBytes: 0 };
      this.snapshotReceive = rx;
    }
    if (m.offset === rx.receivedBytes && m.chunk.byteLength > 0) {
      rx.chunks.push(m.chunk);
      rx.receivedBytes += m.chunk.byteLength;
    }
    if (rx.receivedBytes < rx.totalBytes) {
      this.send(snapshotResp(this.id, m.from, this.term, meta.index, rx.receivedBytes, false), false);
      return;
    }
    assert(rx.receivedBytes === rx.totalBytes, 'snapshot: received more bytes than announced', {
      received: rx.receivedBytes,
      total: rx.totalBytes,
    });
    this.snapshotReceive = undefined;
    if (meta.index <= this.log.committed || this.log.matchTerm(meta.index, meta.term)) {
      // Appends arrived while the chunks did: the log now covers the snapshot. Installing it
      // would throw away entries after it that we may already have acknowledged (thesis 5.3).
      this.log.commitTo(Math.max(this.log.committed, meta.index));
      this.send(appResp(this.id, m.from, this.term, meta.index, false, 0, 0), false);
      return;
    }
    const data = concat(rx.chunks, rx.totalBytes);
    this.log.restore({ metadata: meta, data });
    this.conf = meta.confState;
    this.confIndex = meta.index;
    this.switchToConfig(this.conf);
    this.send(appResp(this.id, m.from, this.term, meta.index, false, 0, 0), false);
  }

  private handleForwardedProposal(entries: readonly Entry[]): void {
    if (this.role !== 'leader' || this.leadTransferee !== NONE) return; // dropped; the proposer times out and retries
    let bytes = 0;
    for (const e of entries) bytes += e.data.byteLength;
    if (!this.admitUncommitted(bytes)) return;
    this.appendLeaderEntries(entries.filter((e) => e.type === 'normal').map((e) => ({ type: 'normal' as const, data: e.data })));
  }

  // ---------------------------------------------------------------- leader

  private stepLeader(m: Message): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return; // not a member (any more)
    switch (m.type) {
      case 'appResp':
        pr.recentActive = true;
        this.handleAppResp(m, pr);
        return;
      case 'heartbeatResp':
        pr.recentActive = true;
        this.handleHeartbeatResp(m, pr);
        return;
      case 'snapshotResp':
        pr.recentActive = true;
        this.handleSnapshotResp(m, pr);
        return;
      default:
        return;
    }
  }

  private handleAppResp(m: AppRespMessage, pr: Progress): void {
    if (m.reject) {
      let hint = m.rejectHint;
      if (m.logTerm > 0) hint = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from, false);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    pr.probeSent = false;
    if (pr.maybeUpdate(m.index)) {
      if (pr.state === 'probe') {
        pr.becomeReplicate();
      } else if (pr.state === 'snapshot' && pr.snapshotTransfer !== undefined && pr.match >= pr.snapshotTransfer.snapshot.metadata.index) {
        pr.becomeProbe();
        pr.becomeReplicate();
      } else if (pr.state === 'replicate') {
        pr.inflights.freeLE(m.index);
      }
      if (this.maybeCommit()) this.bcastAppend(true);
      this.fillWindow(m.from);
      if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
    } else if (wasPaused && pr.state === 'probe') {
      this.sendAppend(m.from, false);
    }
  }

  private fillWindow(to: NodeId): void {
    // Bounded: each send either advances next or pauses the progress.
    for (let i = 0; i < this.maxInflightMsgs + 1; i++) {
      if (!this.sendAppend(to, false)) return;
    }
  }

  private handleHeartbeatResp(m: HeartbeatRespMessage, pr: Progress): void {
    pr.lastAckSentTick = Math.max(pr.lastAckSentTick, m.sentTick);
    pr.probeSent = false;
    if (pr.match < this.log.lastIndex()) {
      // An append may have been lost: free a slot and send from `next`; if the follower lacks
      // what came before, it rejects, and the leader falls back to probing.
      if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirst();
      this.sendAppend(m.from, true);
    }
    if (m.readRound > pr.readRoundAcked) {
      pr.readRoundAcked = m.readRound;
      this.releaseConfirmedReads();
    }
  }

  private handleSnapshotResp(m: SnapshotRespMessage, pr: Progress): void {
    const t = pr.snapshotTransfer;
    if (pr.state !== 'snapshot' || t === undefined || t.snapshot.metadata.index !== m.snapshotIndex) return;
    if (m.reject) {
      pr.becomeProbe();
      return;
    }
    if (m.receivedBytes > t.ackedBytes) {
      t.ackedBytes = m.receivedBytes;
      t.sentBytes = Math.max(t.sentBytes, t.ackedBytes);
      t.stalledHeartbeats = 0;
    } else if (m.receivedBytes < t.ackedBytes) {
      // The follower holds less than it confirmed before (it restarted, or this answer is an old
      // one overtaken by later ones): resume from its offset; duplicates are ignored there.
      t.ackedBytes = m.receivedBytes;
      t.sentBytes = m.receivedBytes;
      t.resentFrom = m.receivedBytes;
    } else if (t.sentBytes > t.ackedBytes && t.resentFrom !== t.ackedBytes) {
      // No progress although more was sent: a chunk was lost. Resend once from the gap; the
      // answers to chunks already in flight behind the gap must not trigger more resends.
      t.sentBytes = t.ackedBytes;
      t.resentFrom = t.ackedBytes;
    }
    this.sendSnapshotChunks(m.from, pr);
  }

  /** Thesis 6.4: reads need an entry of the leader's term committed first. */
  private committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  private handleReadIndex(context: Uint8Array, from: NodeId): void {
    if (!this.committedEntryInCurrentTerm()) {
      if (this.readsAwaitingCommit.length >= this.maxPendingReads) {
        this.answerRead(from, context, 0);
        return;
      }
      this.readsAwaitingCommit.push({ context, from });
      return;
    }
    if (this.isSingleVoter() || this.leaseValid()) {
      this.answerRead(from, context, this.log.committed);
      return;
    }
    this.readsQueued.push({ context, from });
  }

  /**
   * Starts one read round for all reads queued since the last Ready. Each arrived before the
   * round starts, so the commit index taken now and heartbeats sent from now on serve them all.
   */
  private startQueuedReads(): void {
    if (this.readsQueued.length === 0) return;
    const reads = this.readsQueued;
    this.readsQueued = [];
    assert(this.role === 'leader', 'startQueuedReads: reads queued on a non-leader');
    this.serveReads(reads);
  }

  /** Reads at the current commit index: answered now with a valid lease, else after one heartbeat round for all. */
  private serveReads(reads: readonly { context: Uint8Array; from: NodeId }[]): void {
    if (reads.length === 0) return;
    const index = this.log.committed;
    if (this.isSingleVoter() || this.leaseValid()) {
      for (const r of reads) this.answerRead(r.from, r.context, index);
      return;
    }
    const round = ++this.readRound;
    for (const r of reads) this.pendingReads.push({ round, index, context: r.context, from: r.from });
    this.bcastHeartbeat(round);
  }

  private isSingleVoter(): boolean {
    return this.outgoing.size === 0 && this.incoming.size === 1 && this.incoming.has(this.id);
  }

  /**
   * The lease: followers that acknowledged a heartbeat sent at tick s refuse to vote
   * until at least s + electionTicks (their clock), so no other leader exists before
   * then. Shortened by the drift bound, and void once a transfer was started.
   */
  private leaseValid(): boolean {
    if (this.readMode !== 'lease' || !this.checkQuorum || this.leaseRevoked || this.leadTransferee !== NONE) return false;
    const acked = jointCommitted(this.incoming, this.outgoing, (id) =>
      id === this.id ? this.tickCount : this.progress.get(id)?.lastAckSentTick,
    );
    return this.tickCount < acked + this.electionTicks - this.leaseDriftTicks;
  }

  private releaseConfirmedReads(): void {
    if (this.pendingReads.length === 0) return;
    const confirmed = jointCommitted(this.incoming, this.outgoing, (id) =>
      id === this.id ? Number.POSITIVE_INFINITY : this.progress.get(id)?.readRoundAcked,
    );
    let n = 0;
    while (n < this.pendingReads.length && this.pendingReads[n]!.round <= confirmed) {
      const r = this.pendingReads[n]!;
      this.answerRead(r.from, r.context, r.index);
      n++;
    }
    if (n > 0) this.pendingReads = this.pendingReads.slice(n);
  }

  private answerRead(from: NodeId, context: Uint8Array, index: number): void {
    if (from === this.id) this.readStates.push({ index, context });
    else this.send({ type: 'readIndexResp', from: this.id, to: from, term: this.term, context, index }, true);
  }

  private failPendingReads(): void {
    for (const r of this.pendingReads) this.answerRead(r.from, r.context, 0);
    for (const r of this.readsAwaitingCommit) this.answerRead(r.from, r.context, 0);
    for (const r of this.readsQueued) this.answerRead(r.from, r.context, 0);
    this.pendingReads = [];
    this.readsAwaitingCommit = [];
    this.readsQueued = [];
  }

  private admitUncommitted(bytes: number): boolean {
    if (this.maxUncommittedBytes === 0) return true;
    // An oversized proposal is admitted when nothing else is outstanding, so it cannot starve.
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.maxUncommittedBytes) return false;
    this.uncommittedBytes += bytes;
    return true;
  }

  private appendLeaderEntries(ents: readonly { type: 'normal' | 'conf'; data: Uint8Array }[]): number {
    let index = this.log.lastIndex();
    const stamped = ents.map((e) => entry(this.term, ++index, e.type, e.data));
    if (stamped.length === 0) return index;
    this.log.append(stamped);
    // Our own copy counts towards the quorum only once logPersisted reports it durable.
    this.bcastAppend();
    return index;
  }

  private maybeCommit(): boolean {
    const self = this.progress.get(this.id);
    const index = jointCommitted(this.incoming, this.outgoing, (id) => this.progress.get(id)?.match);
    if (!Number.isFinite(index) || index <= this.log.committed) return false;
    // Raft §5.4.2: only an entry of the current term is committed by counting replicas.
    if (this.bugs.commitPreviousTermByCounting !== true && this.log.term(index) !== this.term) return false;
    assert(self === undefined || index <= this.log.lastIndex(), 'maybeCommit: quorum index beyond the log');
    const hadTermCommit = this.committedEntryInCurrentTerm();
    this.log.commitTo(index);
    if (!hadTermCommit && this.committedEntryInCurrentTerm()) {
      // They join the reads queued for the next round.
      for (const r of this.readsAwaitingCommit) this.readsQueued.push(r);
      this.readsAwaitingCommit = [];
    }
    return true;
  }

  /** Sends new entries to every member; with `sendIfEmpty`, also an empty append that carries a new commit index. */
  private bcastAppend(sendIfEmpty = false): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id, sendIfEmpty);
  }

  private bcastHeartbeat(readRound: number): void {
    // Every heartbeat carries the latest read round still waiting, so a lost one is retried.
    if (readRound === 0 && this.pendingReads.length > 0) readRound = this.readRound;
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      const commit = Math.min(pr.match, this.log.committed);
      this.send({ type: 'heartbeat', from: this.id, to: id, term: this.term, commit, readRound, sentTick: this.tickCount }, true);
    }
  }

  /** Sends an append (or starts a snapshot) to `to`. Returns whether an append with entries went out. */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const last = this.log.lastIndex();
    let ents: Entry[] | undefined = [];
    if (pr.state !== 'replicate' || pr.next <= last) {
      ents = this.log.slice(pr.next, Math.min(last + 1, pr.next + this.maxEntriesPerMsg), this.maxBytesPerMsg);
    }
    if (prevTerm === undefined || ents === undefined) {
      this.startSnapshot(to, pr);
      return false;
    }
    const lastSent = ents.length > 0 ? ents[ents.length - 1]!.index : prevIndex;
    const commit = Math.min(this.log.committed, lastSent);
    // In replicate state an empty append is worth sending only to carry a newer commit index.
    if (ents.length === 0 && !sendIfEmpty && pr.state === 'replicate' && commit <= pr.sentCommit) return false;
    let bytes = 0;
    for (const e of ents) bytes += entrySizeBytes(e);
    this.send(
      { type: 'app', from: this.id, to, term: this.term, index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.log.committed },
      true,
    );
    pr.sentCommit = Math.max(pr.sentCommit, commit);
    pr.sentEntries(lastSent, ents.length, bytes);
    return ents.length > 0;
  }

  private startSnapshot(to: NodeId, pr: Progress): void {
    if (!pr.recentActive) return; // do not build up a transfer to a member that is not answering
    const snap = this.storage.snapshot();
    assert(snap.metadata.index > 0, 'startSnapshot: entries are compacted but there is no snapshot', { to });
    pr.becomeSnapshot(snap);
    this.sendSnapshotChunks(to, pr);
  }

  private sendSnapshotChunks(to: NodeId, pr: Progress, maxChunks = this.maxInflightSnapshotChunks): void {
    const t = pr.snapshotTransfer;
    if (t === undefined) return;
    const total = t.snapshot.data.byteLength;
    const window = maxChunks * this.maxSnapshotChunkBytes;
    // An empty snapshot still needs one (empty) chunk to be installed.
    let first = t.sentBytes === 0 && total === 0;
    while ((t.sentBytes < total && t.sentBytes - t.ackedBytes < window) || first) {
      first = false;
      const end = Math.min(total, t.sentBytes + this.maxSnapshotChunkBytes);
      this.send(
        {
          type: 'snapshot',
          from: this.id,
          to,
          term: this.term,
          metadata: t.snapshot.metadata,
          totalBytes: total,
          offset: t.sentBytes,
          chunk: t.snapshot.data.subarray(t.sentBytes, end),
        },
        true,
      );
      t.sentBytes = end;
      if (total === 0) break;
    }
  }

  private resumeStalledSnapshots(): void {
    for (const [id, pr] of this.progress) {
      const t = pr.snapshotTransfer;
      if (pr.state !== 'snapshot' || t === undefined) continue;
      // A lost chunk: after two silent heartbeat intervals resend one chunk from the last
      // confirmed byte, and only to a member that still answers; one that stays silent for an
      // election timeout is dropped back to probe (a later transfer may use a newer snapshot).
      if (++t.stalledHeartbeats < 2) continue;
      if (!pr.recentActive) {
        if (t.stalledHeartbeats * this.heartbeatTicks >= this.electionTicks) pr.becomeProbe();
        continue;
      }
      t.stalledHeartbeats = 0;
      t.sentBytes = t.ackedBytes;
      t.resentFrom = t.ackedBytes;
      this.sendSnapshotChunks(id, pr, 1);
    }
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send({ type: 'timeoutNow', from: this.id, to, term: this.term }, true);
  }

  // ---------------------------------------------------------------- membership

  private applyConfEntry(e: Entry, live: boolean): void {
    const { change, result } = decodeConfEntry(e.data);
    let next: ConfState;
    if (this.conf.voters.length === 0 && result !== undefined) {
      // A node that joined with no configuration and replays the log from its start.
      next = result;
    } else {
      const outcome = applyConfChange(this.conf, change);
      // The leader validated against the same configuration, so this holds on every replica.
      assert(outcome.ok, 'applyConfEntry: committed change is invalid for the current configuration', {
        index: e.index,
        reason: outcome.ok ? '' : outcome.reason,
      });
      assert(result === undefined || sameConfState(outcome.conf, result), 'applyConfEntry: replicas disagree on the configuration', {
        index: e.index,
      });
      next = outcome.conf;
    }
    this.conf = next;
    this.confIndex = e.index;
    if (live) this.switchToConfig(this.conf);
  }

  private switchToConfig(cs: ConfState): void {
    checkConfState(cs);
    this.incoming = new Set(cs.voters);
    this.outgoing = new Set(cs.votersOutgoing);
    const members = new Set([...this.incoming, ...this.outgoing, ...cs.learners]);
    const last = this.log.lastIndex();
    for (const id of [...this.progress.keys()]) if (!members.has(id)) this.progress.delete(id);
    for (const id of members) {
      const isLearner = cs.learners.includes(id);
      const pr = this.progress.get(id);
      if (pr === undefined) {
        const fresh = new Progress(last + 1, isLearner, this.maxInflightMsgs, this.maxInflightBytes);
        if (id === this.id) fresh.match = this.log.stableLastIndex();
        fresh.recentActive = true; // a new member gets a chance before check-quorum counts it out
        this.progress.set(id, fresh);
      } else {
        pr.isLearner = isLearner;
      }
    }
    if (this.role !== 'leader') return;
    if (!this.incoming.has(this.id) && !this.outgoing.has(this.id)) {
      // Thesis 4.2.2: a leader that is not part of C_new steps down once C_new is committed.
      this.becomeFollower(this.term, NONE);
      return;
    }
    if (this.leadTransferee !== NONE && !this.incoming.has(this.leadTransferee)) this.leadTransferee = NONE;
    this.maybeCommit();
    this.bcastAppend();
    // A smaller quorum may already have confirmed waiting reads (a group shrunk to one voter).
    this.releaseConfirmedReads();
  }

  private maybeAutoLeaveJoint(): void {
    if (this.role !== 'leader' || !isJoint(this.conf) || !this.conf.autoLeave) return;
    if (this.pendingConfIndex > this.log.applied || this.leadTransferee !== NONE) return;
    const leave = applyConfChange(this.conf, { changes: [] });
    assert(leave.ok, 'maybeAutoLeaveJoint: cannot leave the joint configuration');
    const index = this.appendLeaderEntries([{ type: 'conf', data: encodeConfChange({ changes: [] }, leave.conf) }]);
    this.pendingConfIndex = index;
  }

  private *voterIds(): Iterable<NodeId> {
    const seen = new Set<NodeId>();
    for (const id of this.incoming) {
      seen.add(id);
      yield id;
    }
    for (const id of this.outgoing) if (!seen.has(id)) yield id;
  }

  // ---------------------------------------------------------------- helpers

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private refuse(code: RaftErrorCode): ProposeResult {
    return { ok: false, code, leaderHint: this.lead === this.id ? NONE : this.lead };
  }

  private send(m: Message, now: boolean): void {
    assert(m.to !== this.id, 'send: message to self', { type: m.type });
    this.queued.push({ msg: m, now: now && this.role === 'leader' });
  }
}

function entry(term: number, index: number, type: 'normal' | 'conf', data: Uint8Array): Entry {
  return { term, index, type, data };
}

function appResp(from: NodeId, to: NodeId, term: number, index: number, reject: boolean, rejectHint: number, logTerm: number): AppRespMessage {
  return { type: 'appResp', from, to, term, index, reject, rejectHint, logTerm };
}

function snapshotResp(from: NodeId, to: NodeId, term: number, snapshotIndex: number, receivedBytes: number, reject: boolean): SnapshotRespMessage {
  return { type: 'snapshotResp', from, to, term, snapshotIndex, receivedBytes, reject };
}

function sameHard(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

