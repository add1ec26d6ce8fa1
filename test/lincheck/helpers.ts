import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UNKNOWN, isUnknown } from '../../src/lincheck/index.ts';
import type { History, Model, Operation, OpStatus, Unknown } from '../../src/lincheck/index.ts';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const corpusDir = path.resolve(repoRoot, '../shared/testdata/linearizability');

/** Shorthand for writing histories by hand. */
export function op<I, O>(
  id: number,
  process: number,
  input: I,
  output: O | Unknown,
  call: number,
  ret: number,
  status: OpStatus = isUnknown(output) && ret === Infinity ? 'unknown' : 'ok',
): Operation<I, O> {
  return { id, process, input, output, call, ret: status === 'unknown' ? Infinity : ret, status };
}

/** Builds a history from [process, input, output, call, ret, status?] rows. */
export function history<I, O>(rows: readonly (readonly [number, I, O | Unknown | 'unknown', number, number, OpStatus?])[]): History<I, O> {
  return rows.map(([process, input, output, call, ret, status], id) => {
    const out = output === 'unknown' ? UNKNOWN : output;
    return op<I, O>(id, process, input, out, call, ret, status ?? (output === 'unknown' ? 'unknown' : 'ok'));
  });
}

/**
 * Reference checker by plain enumeration of linearizations, memoized on (placed set, state); it
 * shares no code with the checker. An operation x may be placed next if no unplaced definite
 * operation y completed before x was invoked (y.ret < x.call). Unknown operations may be placed or
 * left out; failed ones are ignored. Exponential in the concurrency: for small histories, or longer
 * ones with few clients.
 */
export function bruteForce<S, I, O>(model: Model<S, I, O>, h: History<I, O>): boolean {
  const ops = h.filter((o) => o.status !== 'fail');
  const n = ops.length;
  const bit = ops.map((_, i) => 1n << BigInt(i));
  const definiteMask = ops.reduce((m, o, i) => (o.status === 'ok' ? m | bit[i]! : m), 0n);
  const seen = new Map<string, S[]>();
  const go = (placed: bigint, state: S): boolean => {
    if ((placed & definiteMask) === definiteMask) return true;
    const key = `${placed.toString(36)}|${model.hash(state)}`;
    const bucket = seen.get(key) ?? [];
    if (bucket.some((s) => model.equal(s, state))) return false;
    bucket.push(state);
    seen.set(key, bucket);
    let deadline = Infinity;
    for (let j = 0; j < n; j++) {
      if (!(placed & bit[j]!) && ops[j]!.status === 'ok') deadline = Math.min(deadline, ops[j]!.ret);
    }
    for (let i = 0; i < n; i++) {
      if (placed & bit[i]!) continue;
      const x = ops[i]!;
      // Placing x now would put it after every unplaced y; that needs not y.ret < x.call.
      if (x.call > deadline) continue;
      const r = model.step(state, x.input, x.output);
      if (r.ok && go(placed | bit[i]!, r.next)) return true;
    }
    return false;
  };
  return go(0n, model.init());
}

/** A small deterministic PRNG (mulberry32). */
export function prng(seed: number): { next(): number; int(lo: number, hi: number): number; pick<T>(xs: readonly T[]): T; chance(p: number): boolean } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (xs) => xs[Math.floor(next() * xs.length)]!,
    chance: (p) => next() < p,
  };
}
