import type { LogStorage } from '../../../src/raft/storage.ts';
import type { Entry, NodeId, Ready, Role } from '../../../src/raft/types.ts';
import type { RaftStatus } from '../../../src/raft/raft.ts';
import type { KvStateMachine } from '../kv-state-machine.ts';
import type { LogView } from '../log-view.ts';

/** A broken safety or liveness property, found by the simulator. */
export class Violation extends Error {
  override readonly name = 'Violation';
  constructor(
    readonly invariant: string,
    message: string,
  ) {
    super(`[${invariant}] ${message}`);
  }
}

/** What the checkers may look at of one simulated node. */
export interface HostInfo {
  readonly id: NodeId;
  /** Incarnation: bumped on every restart. */
  readonly inc: number;
  readonly up: boolean;
  /** The node's log as the core sees it: durable storage plus entries handed out in Readies. */
  readonly view: LogView;
  /** What the node has made durable (MemoryStorage, or the FileLogStorage of its current incarnation). */
  readonly storage: LogStorage;
  /** Role and term as last reported through Ready.softState / Ready.hardState. */
  readonly role: Role;
  readonly term: number;
}

export interface World {
  hosts(): Iterable<HostInfo>;
  host(id: NodeId): HostInfo | undefined;
  /** Virtual time in microseconds. */
  now(): number;
}

/** Facts about one Ready, computed by the simulator as it took it. */
export interface ReadyInfo {
  readonly roleBefore: Role;
  readonly termBefore: number;
  readonly lastIndexBefore: number;
  /** Entries appended to the log view, with their chain hashes (undefined if the prefix is unknown). */
  readonly added: readonly { readonly index: number; readonly term: number; readonly hash: number | undefined }[];
  /** How many entries of the previous log view the Ready replaced. */
  readonly truncated: number;
}

/** A write acknowledged to its client. Stamps are global event numbers (a total order). */
export interface AckedWrite {
  readonly call: number;
  readonly ret: number;
  readonly effectIndex: number;
}

export interface ServedRead {
  readonly node: NodeId;
  readonly key: string;
  readonly call: number;
  readonly ret: number;
  /** Applied index of the state machine the read was served from. */
  readonly appliedIndex: number;
  readonly value: string | undefined;
}

/**
 * An invariant checker. The simulator calls the hooks as things happen and
 * afterEvent() after every event; any hook may throw a Violation.
 */
export interface Checker {
  readonly name: string;
  onStart?(h: HostInfo, sm: KvStateMachine): void;
  onReady?(h: HostInfo, rd: Ready, info: ReadyInfo): void;
  onPersisted?(h: HostInfo): void;
  onApply?(h: HostInfo, e: Entry, sm: KvStateMachine): void;
  onRestore?(h: HostInfo, sm: KvStateMachine): void;
  onStatus?(h: HostInfo, st: RaftStatus): void;
  onWriteAcked?(w: AckedWrite): void;
  onReadServed?(r: ServedRead): void;
  afterEvent?(w: World): void;
}
