import { NodeType, type Attr, type Command } from './commands.ts';
import { invariant, type Result } from './errors.ts';
import { checkInvariants, dumpState } from './invariants.ts';
import { defaultInodeReuseDelaySec, initialInodeCapacity, rootInode } from './limits.ts';
import { applyCommand, type CommandResult } from './mutations.ts';
import * as reads from './reads.ts';
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
    this.store = new Store(delay, options.initialInodeCapacity ?? initialInodeCapacity);
    this.store.init(rootInode, NodeType.directory, options.rootMode ?? 0o755, 0, 0, options.rootTimeSec ?? 0);
    this.store.parent[rootInode] = rootInode;
  }

  get lastAppliedIndex(): number {
    return this.appliedIndex;
  }

  apply(command: Command, ctx: ApplyContext): CommandResult {
    invariant(Number.isInteger(ctx.index) && ctx.index > this.appliedIndex, `apply index ${ctx.index} follows ${this.appliedIndex}`);
    this.appliedIndex = ctx.index;
    return applyCommand(this.store, command);
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

  statfs(): reads.StatfsTotals {
    return reads.statfs(this.store);
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
