import { NodeType, type Attr, type ChunkInfo, type Command } from './commands.ts';
import { invariant, type Result } from './errors.ts';
import { readChunk } from './files.ts';
import { checkInvariants, dumpState } from './invariants.ts';
import {
  defaultInodeReuseDelaySec,
  defaultRootGoal,
  defaultRootTrashTimeSec,
  initialInodeCapacity,
  maxGoal,
  maxTrashTimeSec,
  minGoal,
  rootInode,
} from './limits.ts';
import { applyCommand, type CommandResult } from './mutations.ts';
import * as reads from './reads.ts';
import { applyWithRetryCache } from './sessions.ts';
import { Store } from './store.ts';

export interface ApplyContext {
  /** The Raft log index of the command; strictly increasing from one apply to the next. */
  readonly index: number;
}

export interface MetadataStateOptions {
  /** Must be equal on every replica of a group. */
  readonly inodeReuseDelaySec?: number;
  readonly initialInodeCapacity?: number;
  /** Attributes of the root directory created with the state. */
  readonly rootMode?: number;
  readonly rootTimeSec?: number;
  /** The root's goal, inherited by what is created below it; MooseFS 3.0 default 2. */
  readonly rootGoal?: number;
  /** The root's trash time, inherited likewise; MooseFS 3.0 default 86 400 s (24 h). */
  readonly rootTrashTimeSec?: number;
}

/**
 * The metadata state machine. `apply` is the only way to change it and is deterministic:
 * no clock, no randomness, no I/O. Reads (`lookup`, `getattr`, `readdir`...) never change it.
 */
export class MetadataState {
  private readonly store: Store;
  private appliedIndex = 0;

  /** `restored` is for snapshot.ts only: a store it built and checked, and the applied index it carried. */
  constructor(options: MetadataStateOptions = {}, restored?: { readonly store: Store; readonly appliedIndex: number }) {
    if (restored !== undefined) {
      this.store = restored.store;
      this.appliedIndex = restored.appliedIndex;
      return;
    }
    const delay = options.inodeReuseDelaySec ?? defaultInodeReuseDelaySec;
    invariant(Number.isInteger(delay) && delay >= 0, 'inodeReuseDelaySec is a non-negative integer');
    const goal = options.rootGoal ?? defaultRootGoal;
    invariant(Number.isInteger(goal) && goal >= minGoal && goal <= maxGoal, `rootGoal is an integer in ${minGoal}..${maxGoal}`);
    const trashTimeSec = options.rootTrashTimeSec ?? defaultRootTrashTimeSec;
    invariant(
      Number.isInteger(trashTimeSec) && trashTimeSec >= 0 && trashTimeSec <= maxTrashTimeSec,
      `rootTrashTimeSec is an integer in 0..${maxTrashTimeSec}`,
    );
    this.store = new Store(delay, options.initialInodeCapacity ?? initialInodeCapacity);
    this.store.init(rootInode, NodeType.directory, options.rootMode ?? 0o755, 0, 0, options.rootTimeSec ?? 0, goal, trashTimeSec);
    this.store.parent[rootInode] = rootInode;
  }

  get lastAppliedIndex(): number {
    return this.appliedIndex;
  }

  /**
   * Applies one committed command. A command carrying a session and sequence the state already
   * answered returns that answer and changes nothing but the applied index.
   */
  apply(command: Command, ctx: ApplyContext): CommandResult {
    invariant(Number.isInteger(ctx.index) && ctx.index > this.appliedIndex, `apply index ${ctx.index} follows ${this.appliedIndex}`);
    this.appliedIndex = ctx.index;
    return applyWithRetryCache(this.store, command, () => applyCommand(this.store, command));
  }

  getattr(inode: number): Result<{ attr: Attr }> {
    return reads.getattr(this.store, inode);
  }

  lookup(parent: number, name: string, caller: reads.Caller): Result<{ inode: number; attr: Attr }> {
    return reads.lookup(this.store, parent, name, caller);
  }

  readlink(inode: number): Result<{ target: string }> {
    return reads.readlink(this.store, inode);
  }

  readdir(dir: number, caller: reads.Caller, after: string | null, maxEntries: number): Result<reads.ReaddirPage> {
    return reads.readdir(this.store, dir, caller, after, maxEntries);
  }

  access(inode: number, caller: reads.Caller, mask: number): Result<object> {
    return reads.access(this.store, inode, caller, mask);
  }

  /**
   * READ_CHUNK as of `nowSec` (the leader's clock: a read does not go through the log): the chunk at
   * `index` (0 for a hole) and the file's length; LOCKED while a write holds the chunk.
   */
  readChunk(inode: number, index: number, nowSec: number): Result<ChunkInfo> {
    return readChunk(this.store, inode, index, nowSec);
  }

  statfs(): reads.StatfsTotals {
    return reads.statfs(this.store);
  }

  /**
   * Whether `expireSessions` or `expireTrash` proposed at `nowSec` would do something: the leader
   * asks before proposing them, so an idle group writes nothing. O(sessions) plus O(1) for the trash.
   */
  dueWork(nowSec: number): { readonly sessions: boolean; readonly trash: boolean } {
    let sessions = false;
    for (const x of this.store.sessions.values()) {
      if (x.expiresAtSec < nowSec) {
        sessions = true;
        break;
      }
    }
    const top = this.store.trashQueue.peek();
    return { sessions, trash: top !== null && top.expiresAtSec <= nowSec };
  }

  /** Violated invariants, one line each; empty when the namespace is sound. */
  checkInvariants(): string[] {
    return checkInvariants(this.store);
  }

  /** Canonical text of the replicated state, for comparing replicas. */
  dump(): string {
    return dumpState(this.store, this.appliedIndex);
  }

  /** For snapshot.ts: the store and the applied index, to be read and not changed. */
  static internals(state: MetadataState): { readonly store: Store; readonly appliedIndex: number } {
    return { store: state.store, appliedIndex: state.appliedIndex };
  }
}
