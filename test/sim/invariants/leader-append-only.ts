import type { Ready } from '../../../src/raft/types.ts';
import type { RaftStatus } from '../../../src/raft/raft.ts';
import { type Checker, type HostInfo, type ReadyInfo, Violation } from './types.ts';

/**
 * A leader never overwrites or deletes entries in its own log during its term:
 * it only appends, entries of its own term, right after its last entry.
 */
export class LeaderAppendOnly implements Checker {
  readonly name = 'leader-append-only';
  /** node → [incarnation, term, lastIndex] while it leads. */
  private readonly leading = new Map<number, [number, number, number]>();

  onReady(h: HostInfo, rd: Ready, info: ReadyInfo): void {
    const leadingThroughout = info.roleBefore === 'leader' && h.role === 'leader' && info.termBefore === h.term;
    if (!leadingThroughout) return;
    if (rd.snapshot !== undefined) {
      throw new Violation(this.name, `leader n${h.id} (term ${h.term}) installed a snapshot at ${rd.snapshot.metadata.index}`);
    }
    if (info.truncated > 0) {
      throw new Violation(
        this.name,
        `leader n${h.id} (term ${h.term}) replaced ${info.truncated} entries of its log from index ${rd.entries[0]?.index}`,
      );
    }
    const first = rd.entries[0];
    if (first !== undefined && first.index !== info.lastIndexBefore + 1) {
      throw new Violation(this.name, `leader n${h.id} appended at ${first.index} after last index ${info.lastIndexBefore}`);
    }
    for (const e of rd.entries) {
      if (e.term !== h.term) {
        throw new Violation(this.name, `leader n${h.id} of term ${h.term} appended entry ${e.index} of term ${e.term}`);
      }
    }
  }

  onStatus(h: HostInfo, st: RaftStatus): void {
    if (st.role !== 'leader') {
      this.leading.delete(h.id);
      return;
    }
    const prev = this.leading.get(h.id);
    if (prev !== undefined && prev[0] === h.inc && prev[1] === st.term && st.lastIndex < prev[2]) {
      throw new Violation(this.name, `leader n${h.id} (term ${st.term}) last index went from ${prev[2]} to ${st.lastIndex}`);
    }
    this.leading.set(h.id, [h.inc, st.term, st.lastIndex]);
  }
}
