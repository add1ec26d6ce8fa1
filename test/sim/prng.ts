import type { RandomSource } from '../../src/raft/types.ts';

/** splitmix32 step: a good 32-bit mixer used to seed and to derive streams. */
function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Folds a list of integers (each up to 2^53) into one 32-bit value. */
function foldLabels(labels: readonly number[]): number {
  let h = 0x243f6a88;
  for (const l of labels) {
    const lo = l >>> 0;
    const hi = Math.floor(l / 4294967296) >>> 0;
    h = splitmix32(h ^ lo);
    h = splitmix32(h ^ hi);
  }
  return h;
}

/**
 * xoshiro128** seeded through splitmix32. Fully deterministic: the same labels give
 * the same stream on every run and platform.
 */
export class Rng implements RandomSource {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** A stream identified by `labels` (e.g. [seed, purpose, nodeId, incarnation]). */
  constructor(...labels: number[]) {
    let s = foldLabels(labels);
    s = splitmix32(s);
    this.a = s;
    s = splitmix32(s);
    this.b = s;
    s = splitmix32(s);
    this.c = s;
    s = splitmix32(s);
    this.d = s;
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 bits of precision. */
  float(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform integer in [0, n), unbiased (rejection sampling). */
  intBelow(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 4294967296) throw new RangeError(`intBelow(${n})`);
    if (n === 1) return 0;
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  range(lo: number, hi: number): number {
    if (hi < lo) return lo;
    return lo + this.intBelow(hi - lo + 1);
  }

  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[this.intBelow(items.length)]!;
  }

  /** Picks an index according to non-negative weights (at least one positive). */
  weighted(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += Math.max(0, w);
    if (total <= 0) throw new RangeError('weighted: no positive weight');
    let x = this.float() * total;
    for (let i = 0; i < weights.length; i++) {
      const w = Math.max(0, weights[i]!);
      if (x < w) return i;
      x -= w;
    }
    return weights.length - 1;
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.intBelow(i + 1);
      const t = items[i]!;
      items[i] = items[j]!;
      items[j] = t;
    }
    return items;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Purposes of the independent random streams derived from one seed. */
export const Stream = {
  config: 1,
  node: 2,
  network: 3,
  nemesis: 4,
  client: 5,
  operator: 6,
  disk: 7,
  storage: 8,
  diskFault: 9,
  diskIo: 10,
  metaClient: 11,
} as const;
