// Core types of the Raft state machine. Everything here is plain data: the core
// never performs I/O, never reads a clock, and draws randomness only from the
// generator its caller injects.

/** A member of the group. 0 means "nobody" (no vote, no known leader). */
export type NodeId = number;
export const NONE: NodeId = 0;

export type EntryType = 'normal' | 'conf';

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  /** For 'normal': the application's command (empty for a leader's no-op). For 'conf': an encoded ConfChange. */
  readonly data: Uint8Array;
}

/** What must be durable before any message of the same Ready is sent. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

/**
 * A membership configuration. In joint consensus (C_old,new) `votersOutgoing`
 * is non-empty and both majorities are needed for elections and commits.
 */
export interface ConfState {
  readonly voters: readonly NodeId[];
  /** C_old while joint; empty otherwise. */
  readonly votersOutgoing: readonly NodeId[];
  readonly learners: readonly NodeId[];
  /** Voters of C_old that become learners when the joint configuration is left. */
  readonly learnersNext: readonly NodeId[];
  /** Whether the leader leaves the joint configuration by itself once it is applied. */
  readonly autoLeave: boolean;
}

export interface SnapshotMetadata {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  readonly data: Uint8Array;
}

/** One step of a membership change. */
export interface ConfChangeSingle {
  readonly op: 'addVoter' | 'addLearner' | 'remove';
  readonly nodeId: NodeId;
}

/**
 * A membership change. A non-empty `changes` enters a joint configuration
 * (C_old,new); an empty `changes` leaves it (C_new). With `autoLeave` (the default)
 * the leader proposes the leave by itself once the joint configuration is applied.
 */
export interface ConfChange {
  readonly changes: readonly ConfChangeSingle[];
  readonly autoLeave?: boolean;
}

export type MessageType =
  | 'app' // AppendEntries
  | 'appResp'
  | 'heartbeat'
  | 'heartbeatResp'
  | 'preVote'
  | 'preVoteResp'
  | 'vote'
  | 'voteResp'
  | 'snapshot' // one chunk of an InstallSnapshot
  | 'snapshotResp'
  | 'timeoutNow'
  | 'readIndex' // a follower asking the leader for a read index
  | 'readIndexResp'
  | 'prop'; // a proposal forwarded by a follower

interface MessageBase {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

export interface AppMessage extends MessageBase {
  readonly type: 'app';
  /** Index and term of the entry that precedes `entries` (prevLogIndex, prevLogTerm). */
  readonly index: number;
  readonly logTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}

export interface AppRespMessage extends MessageBase {
  readonly type: 'appResp';
  /** On success: the highest index now durable and matching on the follower. On reject: the rejected prevLogIndex. */
  readonly index: number;
  readonly reject: boolean;
  /** On reject: the follower's guess of the highest index that may match, and its term (fast backtracking). */
  readonly rejectHint: number;
  readonly logTerm: number;
}

export interface HeartbeatMessage extends MessageBase {
  readonly type: 'heartbeat';
  readonly commit: number;
  /** Read-index round this heartbeat confirms leadership for (0 if none). */
  readonly readRound: number;
  /** The leader's tick when it sent this heartbeat; echoed back, it dates a lease. */
  readonly sentTick: number;
}

export interface HeartbeatRespMessage extends MessageBase {
  readonly type: 'heartbeatResp';
  readonly readRound: number;
  readonly sentTick: number;
}

export interface VoteMessage extends MessageBase {
  readonly type: 'vote' | 'preVote';
  /** The candidate's last log index and term. */
  readonly index: number;
  readonly logTerm: number;
  /** Set on a campaign started by a leadership transfer: voters ignore their lease. */
  readonly force: boolean;
}

export interface VoteRespMessage extends MessageBase {
  readonly type: 'voteResp' | 'preVoteResp';
  readonly reject: boolean;
}

export interface SnapshotMessage extends MessageBase {
  readonly type: 'snapshot';
  readonly metadata: SnapshotMetadata;
  /** Total size of the snapshot data and this chunk's place in it. */
  readonly totalBytes: number;
  readonly offset: number;
  readonly chunk: Uint8Array;
}

export interface SnapshotRespMessage extends MessageBase {
  readonly type: 'snapshotResp';
  readonly snapshotIndex: number;
  /** Bytes of the snapshot received so far, in order: where the next chunk must start. */
  readonly receivedBytes: number;
  /** The follower cannot use this snapshot (it is older than its commit index). */
  readonly reject: boolean;
}

export interface TimeoutNowMessage extends MessageBase {
  readonly type: 'timeoutNow';
}

export interface ReadIndexMessage extends MessageBase {
  readonly type: 'readIndex';
  readonly context: Uint8Array;
}

export interface ReadIndexRespMessage extends MessageBase {
  readonly type: 'readIndexResp';
  readonly context: Uint8Array;
  /** The read index, or 0 when the leader could not serve it (then the read must be retried). */
  readonly index: number;
}

export interface PropMessage extends MessageBase {
  readonly type: 'prop';
  readonly entries: readonly Entry[];
}

export type Message =
  | AppMessage
  | AppRespMessage
  | HeartbeatMessage
  | HeartbeatRespMessage
  | VoteMessage
  | VoteRespMessage
  | SnapshotMessage
  | SnapshotRespMessage
  | TimeoutNowMessage
  | ReadIndexMessage
  | ReadIndexRespMessage
  | PropMessage;

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

export interface SoftState {
  readonly leader: NodeId;
  readonly role: Role;
}

/** A linearizable read point: once the state machine has applied `index`, the read with `context` may be served. */
export interface ReadState {
  readonly index: number;
  readonly context: Uint8Array;
}

/**
 * What the core hands to its caller. The caller must, in this order:
 *  1. send `messagesNow` at once (they depend on nothing in this Ready: a leader's
 *     appends and heartbeats, sent while its own disk write is in flight);
 *  2. make `snapshot`, then `entries` (which replace any stored entries from
 *     `entries[0].index` on), then `hardState` durable — in the order of Readies;
 *  3. once everything of this Ready and all earlier ones is durable: send
 *     `messages`, and report `snapshotPersisted(snapshot.metadata.index)` first,
 *     then `logPersisted(lastEntry.index, lastEntry.term)`, with no other input
 *     to the node in between;
 *  4. apply `committedEntries` (all of them are durable locally) and restore
 *     `snapshot` into the state machine, serve `readStates` once applied far
 *     enough, then call `advance(ready)`.
 */
export interface Ready {
  readonly softState: SoftState | undefined;
  readonly hardState: HardState | undefined;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | undefined;
  readonly committedEntries: readonly Entry[];
  readonly messagesNow: readonly Message[];
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
  /** Set when hard state or entries changed: the write needs an fsync before `messages` go out. */
  readonly mustSync: boolean;
}

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export type ProposeResult =
  | { readonly ok: true; readonly index: number; readonly term: number }
  | { readonly ok: true; readonly forwarded: true; readonly to: NodeId }
  | { readonly ok: false; readonly code: RaftErrorCode; readonly leaderHint: NodeId };

export type RaftErrorCode =
  | 'ERR_NOT_LEADER' // this node does not lead; retry on `leaderHint` (0 when unknown)
  | 'ERR_TRANSFERRING' // leadership is being transferred; retry shortly
  | 'ERR_PROPOSAL_DROPPED' // too many uncommitted bytes; retry later
  | 'ERR_CONF_CHANGE_PENDING' // a membership change is still in progress
  | 'ERR_BAD_CONF_CHANGE'; // the change is not valid for the current configuration

/** Injected randomness: a uniform integer in [0, n). */
export interface RandomSource {
  intBelow(n: number): number;
}
