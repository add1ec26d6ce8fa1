import type { Entry } from '../../src/raft/types.ts';

/**
 * A 53-bit non-cryptographic hash (two 32-bit lanes), used to fingerprint entries,
 * log prefixes and applied sequences. Collisions are negligible at simulator scale.
 */
export class Hasher {
  private h1 = 0xdeadbeef;
  private h2 = 0x41c6ce57;

  u32(x: number): this {
    this.h1 = Math.imul(this.h1 ^ x, 2654435761);
    this.h2 = Math.imul(this.h2 ^ x, 1597334677);
    return this;
  }

  /** A non-negative integer up to 2^53. */
  num(x: number): this {
    this.u32(x >>> 0);
    this.u32(Math.floor(x / 4294967296) >>> 0);
    return this;
  }

  bytes(b: Uint8Array): this {
    this.u32(b.byteLength);
    for (let i = 0; i < b.byteLength; i++) {
      this.h1 = Math.imul(this.h1 ^ b[i]!, 2654435761);
      this.h2 = Math.imul(this.h2 ^ b[i]!, 1597334677);
    }
    return this;
  }

  str(s: string): this {
    this.u32(s.length);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      this.h1 = Math.imul(this.h1 ^ c, 2654435761);
      this.h2 = Math.imul(this.h2 ^ c, 1597334677);
    }
    return this;
  }

  digest(): number {
    let h1 = this.h1;
    let h2 = this.h2;
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
    h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
    h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    return 4294967296 * (2097151 & h2) + (h1 >>> 0);
  }
}

const entryDigests = new WeakMap<Entry, number>();

/** Fingerprint of an entry's content (type and data; index and term are chained separately). */
export function entryDigest(e: Entry): number {
  let d = entryDigests.get(e);
  if (d === undefined) {
    d = new Hasher().u32(e.type === 'conf' ? 2 : 1).bytes(e.data).digest();
    entryDigests.set(e, d);
  }
  return d;
}

/** Chain hash of a log prefix: H(prefix up to index-1) extended by the entry at `index`. */
export function chainHash(prev: number, index: number, term: number, digest: number): number {
  return new Hasher().num(prev).num(index).num(term).num(digest).digest();
}

/** Key for (index, term) pairs in maps. */
export function indexTermKey(index: number, term: number): number {
  if (term >= 1048576 || index >= 4294967296) throw new RangeError(`indexTermKey(${index}, ${term}) out of range`);
  return index * 1048576 + term;
}
