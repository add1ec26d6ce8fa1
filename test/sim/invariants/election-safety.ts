import type { NodeId, Ready } from '../../../src/raft/types.ts';
import type { RaftStatus } from '../../../src/raft/raft.ts';
import { type Checker, type HostInfo, Violation } from './types.ts';

/** At most one node is ever leader in a given term, over the whole run (restarts included). */
export class ElectionSafety implements Checker {
  readonly name = 'election-safety';
  private readonly leaders = new Map<number, NodeId>();

  private saw(node: NodeId, term: number): void {
    const prev = this.leaders.get(term);
    if (prev === undefined) this.leaders.set(term, node);
    else if (prev !== node) throw new Violation(this.name, `two leaders in term ${term}: n${prev} and n${node}`);
  }

  onReady(h: HostInfo, _rd: Ready): void {
    if (h.role === 'leader') this.saw(h.id, h.term);
  }

  onStatus(h: HostInfo, st: RaftStatus): void {
    if (st.role === 'leader') this.saw(h.id, st.term);
  }

  leaderOf(term: number): NodeId | undefined {
    return this.leaders.get(term);
  }
}
