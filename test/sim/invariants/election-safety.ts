import type { NodeId, Ready } from '../../../src/raft/types.ts';
import type { RaftStatus } from '../../../src/raft/raft.ts';
import { type Checker, type HostInfo, Violation } from './types.ts';

/**
 * Election safety: at most one node is ever leader in a given term, over the whole
 * run (restarts included). Its precondition is checked too: a node's term never goes
 * back and it never votes for two candidates in one term, neither in the hard states
 * it hands out nor in what it made durable (which is all a restarted node remembers).
 */
export class ElectionSafety implements Checker {
  readonly name = 'election-safety';
  private readonly leaders = new Map<number, NodeId>();
  private readonly volatileVote = new Map<NodeId, { inc: number; term: number; vote: NodeId }>();
  private readonly durableVote = new Map<NodeId, { term: number; vote: NodeId }>();

  private saw(node: NodeId, term: number): void {
    const prev = this.leaders.get(term);
    if (prev === undefined) this.leaders.set(term, node);
    else if (prev !== node) throw new Violation(this.name, `two leaders in term ${term}: n${prev} and n${node}`);
  }

  private checkVote(what: string, node: NodeId, prev: { term: number; vote: NodeId } | undefined, term: number, vote: NodeId): void {
    if (prev === undefined) return;
    if (term < prev.term) throw new Violation(this.name, `n${node}: ${what} term went from ${prev.term} to ${term}`);
    if (term === prev.term && prev.vote !== 0 && vote !== prev.vote) {
      throw new Violation(this.name, `n${node}: ${what} vote in term ${term} changed from n${prev.vote} to n${vote}`);
    }
  }

  onStart(h: HostInfo): void {
    const hs = h.storage.initialState().hardState;
    this.volatileVote.set(h.id, { inc: h.inc, term: hs.term, vote: hs.vote });
  }

  onReady(h: HostInfo, rd: Ready): void {
    if (rd.hardState !== undefined) {
      const { term, vote } = rd.hardState;
      const prev = this.volatileVote.get(h.id);
      this.checkVote('hard state', h.id, prev !== undefined && prev.inc === h.inc ? prev : undefined, term, vote);
      this.volatileVote.set(h.id, { inc: h.inc, term, vote });
    }
    if (h.role === 'leader') this.saw(h.id, h.term);
  }

  onPersisted(h: HostInfo): void {
    const { term, vote } = h.storage.initialState().hardState;
    this.checkVote('durable', h.id, this.durableVote.get(h.id), term, vote);
    this.durableVote.set(h.id, { term, vote });
  }

  onStatus(h: HostInfo, st: RaftStatus): void {
    if (st.role === 'leader') this.saw(h.id, st.term);
  }
}
