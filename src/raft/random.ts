import type { RandomSource } from './types.ts';

/** A small seeded generator (mulberry32) for callers that need a deterministic RandomSource (tests, simulators, benchmarks). */
export function seededRandom(seed: number): RandomSource {
  let a = seed >>> 0;
  return {
    intBelow(n: number): number {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      const x = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      return Math.floor(x * n);
    },
  };
}
