import type { NodeId } from '../../../src/raft/types.ts';
import type { RaftStatus } from '../../../src/raft/raft.ts';
import { type Checker, type HostInfo, Violation } from './types.ts';

interface CommitRecord {
  /** The term of the node that knew the entry was committed (>= the term it was committed in). */
  readonly term: number;
  readonly index: number;
  readonly hash: number;
  readonly node: NodeId;
}

/**
 * Leader completeness: an entry committed in term T is in the log of every leader of
 * every term > T. Commits are learned from each node's commit index; leaders are
 * checked when they take office and whenever a new commit becomes known.
 */
export class LeaderCompleteness implements Checker {
  readonly name = 'leader-completeness';
  /** Highest commit known per observer term. */
  private readonly commits = new Map<number, CommitRecord>();
  /** node → commit index last seen, per incarnation. */
  private readonly lastCommit = new Map<NodeId, [number, number]>();
  /** Current leaders: node → [incarnation, term]. */
  private readonly leaders = new Map<NodeId, { inc: number; term: number; host: HostInfo }>();

  private contains(h: HostInfo, rec: CommitRecord): boolean {
    const v = h.view;
    if (rec.index <= v.baseIndex) return true; // covered by its snapshot
    return v.hashAt(rec.index) === rec.hash;
  }

  private checkLeader(h: HostInfo, term: number, rec: CommitRecord): void {
    if (rec.term >= term) return;
    if (!this.contains(h, rec)) {
      throw new Violation(
        this.name,
        `leader n${h.id} of term ${term} lacks the entry at index ${rec.index} that n${rec.node} saw committed in term ${rec.term}; its log has term ${h.view.termAt(rec.index)} there (last index ${h.view.lastIndex})`,
      );
    }
  }

  onStatus(h: HostInfo, st: RaftStatus): void {
    const prev = this.lastCommit.get(h.id);
    if (prev === undefined || prev[0] !== h.inc || st.commit > prev[1]) {
      this.lastCommit.set(h.id, [h.inc, st.commit]);
      const hash = h.view.hashAt(st.commit);
      if (st.commit > 0 && hash !== undefined) {
        const old = this.commits.get(st.term);
        if (old === undefined || old.index < st.commit) {
          const rec: CommitRecord = { term: st.term, index: st.commit, hash, node: h.id };
          this.commits.set(st.term, rec);
          for (const l of this.leaders.values()) if (l.host.up && l.host.inc === l.inc) this.checkLeader(l.host, l.term, rec);
        }
      }
    }
    if (st.role === 'leader') {
      const l = this.leaders.get(h.id);
      if (l === undefined || l.inc !== h.inc || l.term !== st.term) {
        this.leaders.set(h.id, { inc: h.inc, term: st.term, host: h });
        for (const rec of this.commits.values()) this.checkLeader(h, st.term, rec);
      }
    } else {
      this.leaders.delete(h.id);
    }
  }
}
