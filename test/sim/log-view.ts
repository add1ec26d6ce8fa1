import type { Entry } from '../../src/raft/types.ts';
import { chainHash, entryDigest } from './hash.ts';

/** Where a view's chain hash of a snapshot base comes from (first seen in some log). */
export interface PrefixRegistry {
  prefixHash(index: number, term: number): number | undefined;
}

/**
 * The simulator's mirror of one node's log (storage plus unstable entries handed out
 * in Readies), with a chain hash per index so that whole prefixes compare in O(1).
 */
export class LogView {
  /** Index of the base (a snapshot or compaction point); its term and prefix hash. */
  baseIndex = 0;
  baseTerm = 0;
  /** undefined when the base's prefix hash could not be established. */
  baseHash: number | undefined = 0;
  private terms: number[] = [];
  private hashes: number[] = [];

  get lastIndex(): number {
    return this.baseIndex + this.terms.length;
  }

  termAt(i: number): number | undefined {
    if (i === this.baseIndex) return this.baseTerm;
    if (i < this.baseIndex || i > this.lastIndex) return undefined;
    return this.terms[i - this.baseIndex - 1];
  }

  /** The chain hash of the prefix ending at `i`, when known. */
  hashAt(i: number): number | undefined {
    if (i === this.baseIndex) return this.baseHash;
    if (i < this.baseIndex || i > this.lastIndex || this.baseHash === undefined) return undefined;
    return this.hashes[i - this.baseIndex - 1];
  }

  reset(baseIndex: number, baseTerm: number, registry: PrefixRegistry): void {
    this.baseIndex = baseIndex;
    this.baseTerm = baseTerm;
    this.baseHash = baseIndex === 0 ? 0 : registry.prefixHash(baseIndex, baseTerm);
    this.terms = [];
    this.hashes = [];
  }

  /**
   * Replaces the log from entries[0].index on (as storage does). Returns the
   * (index, term, hash) triples that were appended, and how many old entries were cut.
   */
  append(entries: readonly Entry[]): { added: { index: number; term: number; hash: number | undefined }[]; truncated: number } {
    const added: { index: number; term: number; hash: number | undefined }[] = [];
    if (entries.length === 0) return { added, truncated: 0 };
    const first = entries[0]!.index;
    if (first > this.lastIndex + 1) throw new Error(`LogView: hole (first ${first}, last ${this.lastIndex})`);
    let truncated = 0;
    for (const e of entries) {
      if (e.index <= this.baseIndex) continue;
      const pos = e.index - this.baseIndex - 1;
      if (pos < this.terms.length) {
        truncated += this.terms.length - pos;
        this.terms.length = pos;
        this.hashes.length = pos;
      }
      const prev = this.hashAt(e.index - 1);
      const h = prev === undefined ? undefined : chainHash(prev, e.index, e.term, entryDigest(e));
      this.terms.push(e.term);
      this.hashes.push(h ?? Number.NaN);
      added.push({ index: e.index, term: e.term, hash: h });
    }
    return { added, truncated };
  }
}
