import type { Entry, NodeId } from '../../../src/raft/types.ts';
import { entryDigest } from '../hash.ts';
import type { KvStateMachine } from '../kv-state-machine.ts';
import { type Checker, type HostInfo, Violation } from './types.ts';

/**
 * State machine safety: every node applies the same entry at each index. Each applied
 * index is recorded once for the whole run with the entry's term and content and the
 * hash of the whole applied sequence up to it; snapshots restored must match too.
 */
export class StateMachineSafety implements Checker {
  readonly name = 'state-machine-safety';
  private readonly applied = new Map<number, { term: number; digest: number; seqHash: number; node: NodeId }>();
  private readonly restored = new Map<number, { seqHash: number; node: NodeId }>();

  onApply(h: HostInfo, e: Entry, sm: KvStateMachine): void {
    const digest = entryDigest(e);
    const r = this.restored.get(e.index);
    if (r !== undefined && r.seqHash !== sm.seqHash) {
      throw new Violation(this.name, `n${h.id} applied up to ${e.index} a sequence that differs from the snapshot n${r.node} restored there`);
    }
    const prev = this.applied.get(e.index);
    if (prev === undefined) {
      this.applied.set(e.index, { term: e.term, digest, seqHash: sm.seqHash, node: h.id });
      return;
    }
    if (prev.term !== e.term || prev.digest !== digest) {
      throw new Violation(
        this.name,
        `n${h.id} applied entry ${e.index} term ${e.term}, but n${prev.node} applied a different entry there (term ${prev.term})`,
      );
    }
    if (prev.seqHash !== sm.seqHash) {
      throw new Violation(this.name, `n${h.id} applied a different sequence of entries than n${prev.node} up to index ${e.index}`);
    }
  }

  onRestore(h: HostInfo, sm: KvStateMachine): void {
    const prev = this.applied.get(sm.applied);
    if (prev !== undefined && prev.seqHash !== sm.seqHash) {
      throw new Violation(
        this.name,
        `n${h.id} restored a snapshot at ${sm.applied} whose applied sequence differs from what n${prev.node} applied`,
      );
    }
    const r = this.restored.get(sm.applied);
    if (r === undefined) this.restored.set(sm.applied, { seqHash: sm.seqHash, node: h.id });
    else if (r.seqHash !== sm.seqHash) {
      throw new Violation(this.name, `n${h.id} and n${r.node} restored different snapshots at index ${sm.applied}`);
    }
  }
}
