import type { NodeId, Ready } from '../../../src/raft/types.ts';
import type { RaftStatus } from '../../../src/raft/raft.ts';
import { indexTermKey } from '../hash.ts';
import type { PrefixRegistry } from '../log-view.ts';
import { type Checker, type HostInfo, type ReadyInfo, Violation } from './types.ts';

/**
 * Log matching: if two logs hold an entry with the same index and term, they are
 * identical up to and including it. Every log (durable and unstable parts, on every
 * node) is fingerprinted with a prefix chain hash; the first hash seen for an
 * (index, term) pair is the reference for all later ones.
 */
export class LogMatching implements Checker, PrefixRegistry {
  readonly name = 'log-matching';
  private readonly seen = new Map<number, { hash: number; node: NodeId }>();

  prefixHash(index: number, term: number): number | undefined {
    return this.seen.get(indexTermKey(index, term))?.hash;
  }

  /** Records and checks entries newly appended to a node's log view. */
  check(node: NodeId, added: ReadyInfo['added']): void {
    for (const a of added) {
      if (a.hash === undefined) continue;
      const key = indexTermKey(a.index, a.term);
      const prev = this.seen.get(key);
      if (prev === undefined) this.seen.set(key, { hash: a.hash, node });
      else if (prev.hash !== a.hash) {
        throw new Violation(
          this.name,
          `n${node} and n${prev.node} both hold an entry at index ${a.index} term ${a.term} but their logs differ up to it`,
        );
      }
    }
  }

  onReady(h: HostInfo, rd: Ready, info: ReadyInfo): void {
    if (rd.snapshot !== undefined && h.view.baseHash === undefined) {
      const m = rd.snapshot.metadata;
      throw new Violation(this.name, `n${h.id} got a snapshot at index ${m.index} term ${m.term}, an entry no log ever held`);
    }
    this.check(h.id, info.added);
  }

  onStatus(h: HostInfo, st: RaftStatus): void {
    if (st.lastIndex !== h.view.lastIndex) {
      throw new Violation(this.name, `n${h.id} reports last index ${st.lastIndex} but its Readies add up to ${h.view.lastIndex}`);
    }
  }
}
