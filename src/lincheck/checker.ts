/**
 * Linearizability checking by depth-first search over linearization points (Wing & Gong, with
 * Lowe's just-in-time linearization and a cache of visited configurations).
 *
 * The operations of a partition become "entries" in a doubly linked list sorted by time: one call
 * entry per operation and one return entry per operation with a definite outcome (an operation of
 * unknown outcome never returns). The search walks the list from its head. A call entry is a
 * candidate for the next linearization point; if the model accepts it in the current state, it is
 * lifted out of the list (with its return entry) and the walk restarts from the head. Reaching a
 * return entry means that operation should already have been linearized: backtrack by unlifting
 * the last linearized operation and try the next candidate after it.
 *
 * A configuration is the set of linearized operations plus the model state. Configurations are
 * cached: one already visited is not explored again. The cache also uses a dominance rule for
 * operations of unknown outcome: since they can be left pending forever at no cost, a
 * configuration is not explored if one with the same definite operations, the same state and a
 * subset of its unknown operations has been visited. In particular, linearizing an unknown
 * operation that leaves the state unchanged is never explored.
 */
import type {
  CandidateOperation,
  CheckOptions,
  CheckResult,
  History,
  Model,
  Operation,
  PartitionResult,
  PartitionVerdict,
  PrefixOperation,
  ReportOperation,
  ViolationReport,
} from './types.ts';

export const DEFAULT_TIME_BUDGET_MS = 10_000;
const DEFAULT_CLOCK_INTERVAL = 1000;

type SearchVerdict = 'linearizable' | 'not-linearizable' | 'unknown';

interface SearchResult<S> {
  readonly verdict: SearchVerdict;
  readonly steps: number;
  /** Indices (into the search's operation array) of the deepest linearizable prefix found. */
  readonly prefix: readonly number[];
  readonly prefixState: S;
  readonly reason?: string;
}

interface Budget {
  readonly now: () => number;
  readonly deadline: number;
  readonly interval: number;
  /** Steps still allowed over the whole history. */
  stepsLeft: number;
}

function mix32(x: number): number {
  let h = (x + 0x9e3779b9) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

interface CacheEntry<S> {
  readonly bits: Uint32Array;
  readonly state: S;
}

/**
 * Searches for a linearization of `ops`, where `ops[0..definite-1]` have a definite outcome and the
 * rest an unknown one. No operation in `ops` has status `fail`.
 */
function search<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  definite: number,
  budget: Budget,
): SearchResult<S> {
  const n = ops.length;
  const init = model.init();
  if (definite === 0) {
    return { verdict: 'linearizable', steps: 0, prefix: [], prefixState: init };
  }

  // Entries: codes 0..n-1 are calls, n..n+definite-1 are returns of operations 0..definite-1.
  const entryCount = n + definite;
  const codes: number[] = new Array<number>(entryCount);
  for (let i = 0; i < entryCount; i++) codes[i] = i;
  const timeOf = (code: number): number => (code < n ? ops[code]!.call : ops[code - n]!.ret);
  codes.sort((a, b) => {
    const ta = timeOf(a);
    const tb = timeOf(b);
    if (ta < tb) return -1;
    if (ta > tb) return 1;
    const ca = a < n ? 0 : 1;
    const cb = b < n ? 0 : 1;
    if (ca !== cb) return ca - cb;
    return a - b;
  });

  // Nodes are positions in the sorted order; HEAD and TAIL are sentinels.
  const HEAD = entryCount;
  const TAIL = entryCount + 1;
  const next = new Int32Array(entryCount + 2);
  const prev = new Int32Array(entryCount + 2);
  const nodeOp = new Int32Array(entryCount + 2);
  const nodeIsCall = new Uint8Array(entryCount + 2);
  const returnNode = new Int32Array(n).fill(-1);
  for (let pos = 0; pos < entryCount; pos++) {
    const code = codes[pos]!;
    if (code < n) {
      nodeOp[pos] = code;
      nodeIsCall[pos] = 1;
    } else {
      nodeOp[pos] = code - n;
      returnNode[code - n] = pos;
    }
    next[pos] = pos + 1 === entryCount ? TAIL : pos + 1;
    prev[pos] = pos === 0 ? HEAD : pos - 1;
  }
  next[HEAD] = entryCount === 0 ? TAIL : 0;
  prev[TAIL] = entryCount === 0 ? HEAD : entryCount - 1;
  nodeOp[HEAD] = -1;
  nodeOp[TAIL] = -1;

  const lift = (node: number): void => {
    next[prev[node]!] = next[node]!;
    prev[next[node]!] = prev[node]!;
    const r = returnNode[nodeOp[node]!]!;
    if (r >= 0) {
      next[prev[r]!] = next[r]!;
      prev[next[r]!] = prev[r]!;
    }
  };
  const unlift = (node: number): void => {
    const r = returnNode[nodeOp[node]!]!;
    if (r >= 0) {
      next[prev[r]!] = r;
      prev[next[r]!] = r;
    }
    next[prev[node]!] = node;
    prev[next[node]!] = node;
  };

  // Linearized set: bit k for operation k; definite operations occupy the low indices.
  const words = (n + 31) >>> 5;
  const bits = new Uint32Array(words);
  const definiteMask = new Uint32Array(words);
  for (let k = 0; k < definite; k++) definiteMask[k >>> 5]! |= 1 << (k & 31);
  const opHash = new Uint32Array(definite);
  for (let k = 0; k < definite; k++) opHash[k] = mix32(k);

  const cache = new Map<string, CacheEntry<S>[]>();
  /** Adds the configuration (bits, state) unless it is dominated by a cached one. */
  const visit = (key: string, state: S): boolean => {
    const bucket = cache.get(key);
    if (bucket === undefined) {
      cache.set(key, [{ bits: bits.slice(), state }]);
      return true;
    }
    for (let e = 0; e < bucket.length; e++) {
      const entry = bucket[e]!;
      const cb = entry.bits;
      let dominated = true;
      for (let w = 0; w < words; w++) {
        const c = cb[w]!;
        const cur = bits[w]!;
        if (((c & ~cur) | ((c ^ cur) & definiteMask[w]!)) !== 0) {
          dominated = false;
          break;
        }
      }
      if (dominated && model.equal(entry.state, state)) return false;
    }
    // Drop the cached configurations the new one dominates, then add it.
    let kept = 0;
    for (let e = 0; e < bucket.length; e++) {
      const entry = bucket[e]!;
      const cb = entry.bits;
      let dominates = true;
      for (let w = 0; w < words; w++) {
        const c = cb[w]!;
        const cur = bits[w]!;
        if (((cur & ~c) | ((c ^ cur) & definiteMask[w]!)) !== 0) {
          dominates = false;
          break;
        }
      }
      if (!(dominates && model.equal(entry.state, state))) bucket[kept++] = entry;
    }
    bucket.length = kept;
    bucket.push({ bits: bits.slice(), state });
    return true;
  };

  const stackNode = new Int32Array(n);
  const stackState: S[] = new Array<S>(n);
  let depth = 0;
  let state = init;
  let hash = 0;
  let linearizedDefinite = 0;
  let steps = 0;
  let sinceClock = 0;
  let bestDefinite = -1;
  let bestPrefix: number[] = [];
  let bestState = init;
  const snapshot = (): void => {
    bestDefinite = linearizedDefinite;
    bestPrefix = new Array<number>(depth);
    for (let d = 0; d < depth; d++) bestPrefix[d] = nodeOp[stackNode[d]!]!;
    bestState = state;
  };
  snapshot();
  visit('0|' + model.hash(state), state);

  let node = next[HEAD]!;
  for (;;) {
    if (nodeIsCall[node] === 1) {
      const k = nodeOp[node]!;
      const op = ops[k]!;
      steps++;
      if (steps > budget.stepsLeft) {
        budget.stepsLeft = 0;
        return { verdict: 'unknown', steps, prefix: bestPrefix, prefixState: bestState, reason: 'step budget exhausted' };
      }
      if (++sinceClock >= budget.interval) {
        sinceClock = 0;
        if (budget.now() > budget.deadline) {
          budget.stepsLeft -= steps;
          return { verdict: 'unknown', steps, prefix: bestPrefix, prefixState: bestState, reason: 'time budget exhausted' };
        }
      }
      const result = model.step(state, op.input, op.output);
      if (result.ok) {
        const w = k >>> 5;
        const b = 1 << (k & 31);
        bits[w]! |= b;
        const nextHash = k < definite ? (hash ^ opHash[k]!) >>> 0 : hash;
        if (visit(nextHash + '|' + model.hash(result.next), result.next)) {
          stackNode[depth] = node;
          stackState[depth] = state;
          depth++;
          state = result.next;
          hash = nextHash;
          lift(node);
          if (k < definite) {
            linearizedDefinite++;
            if (linearizedDefinite === definite) {
              budget.stepsLeft -= steps;
              snapshot();
              return { verdict: 'linearizable', steps, prefix: bestPrefix, prefixState: bestState };
            }
            if (linearizedDefinite > bestDefinite) snapshot();
          }
          node = next[HEAD]!;
        } else {
          bits[w]! &= ~b;
          node = next[node]!;
        }
      } else {
        node = next[node]!;
      }
    } else {
      if (depth === 0) {
        budget.stepsLeft -= steps;
        return { verdict: 'not-linearizable', steps, prefix: bestPrefix, prefixState: bestState };
      }
      depth--;
      node = stackNode[depth]!;
      state = stackState[depth]!;
      const k = nodeOp[node]!;
      bits[k >>> 5]! &= ~(1 << (k & 31));
      if (k < definite) {
        hash = (hash ^ opHash[k]!) >>> 0;
        linearizedDefinite--;
      }
      unlift(node);
      node = next[node]!;
    }
  }
}

interface Part<I, O> {
  readonly key: string;
  readonly ops: Operation<I, O>[];
}

function splitHistory<S, I, O>(model: Model<S, I, O>, history: History<I, O>, partition: boolean): Part<I, O>[] {
  if (partition && model.partition !== undefined) {
    return model.partition(history).map((ops, i) => ({ key: `#${i}`, ops }));
  }
  if (partition && model.partitionKey !== undefined) {
    const groups = new Map<string, Operation<I, O>[]>();
    for (const op of history) {
      const key = model.partitionKey(op.input);
      let group = groups.get(key);
      if (group === undefined) {
        group = [];
        groups.set(key, group);
      }
      group.push(op);
    }
    return [...groups].map(([key, ops]) => ({ key, ops }));
  }
  return [{ key: '(all)', ops: [...history] }];
}

function validate<I, O>(history: History<I, O>): void {
  for (const op of history) {
    if (typeof op.call !== 'number' || Number.isNaN(op.call) || op.call === Infinity) {
      throw new RangeError(`operation ${op.id}: invalid invoke time ${String(op.call)}`);
    }
    if (op.status === 'ok' && !(op.ret >= op.call)) {
      throw new RangeError(`operation ${op.id}: completion time ${String(op.ret)} is before invoke time ${op.call}`);
    }
    if (op.status !== 'ok' && op.status !== 'fail' && op.status !== 'unknown') {
      throw new RangeError(`operation ${op.id}: invalid status ${String(op.status)}`);
    }
  }
}

/** Orders a partition for the search: definite operations first, then unknown ones, failed ones dropped. */
function searchOrder<I, O>(ops: readonly Operation<I, O>[]): { ops: Operation<I, O>[]; definite: number } {
  const definiteOps: Operation<I, O>[] = [];
  const unknownOps: Operation<I, O>[] = [];
  for (const op of ops) {
    if (op.status === 'ok') definiteOps.push(op);
    else if (op.status === 'unknown') unknownOps.push(unknownOpen(op));
  }
  return { ops: [...definiteOps, ...unknownOps], definite: definiteOps.length };
}

function unknownOpen<I, O>(op: Operation<I, O>): Operation<I, O> {
  return op.ret === Infinity ? op : { ...op, ret: Infinity };
}

function describe<S, I, O>(model: Model<S, I, O>, op: Operation<I, O>): ReportOperation<I, O> {
  return { op, description: model.describeOperation(op.input, op.output) };
}

function buildReport<S, I, O>(
  model: Model<S, I, O>,
  part: Part<I, O>,
  ops: readonly Operation<I, O>[],
  definite: number,
  result: SearchResult<S>,
): ViolationReport<I, O> {
  const prefix: PrefixOperation<I, O>[] = [];
  let state = model.init();
  const initialState = model.describeState(state);
  const inPrefix = new Uint8Array(ops.length);
  for (const k of result.prefix) {
    const op = ops[k]!;
    inPrefix[k] = 1;
    const stepped = model.step(state, op.input, op.output);
    if (stepped.ok) state = stepped.next;
    prefix.push({ ...describe(model, op), stateAfter: model.describeState(state) });
  }
  let blocking = -1;
  for (let k = 0; k < definite; k++) {
    if (inPrefix[k] === 0 && (blocking < 0 || ops[k]!.ret < ops[blocking]!.ret)) blocking = k;
  }
  const limit = blocking < 0 ? Infinity : ops[blocking]!.ret;
  const candidates: CandidateOperation<I, O>[] = [];
  for (let k = 0; k < ops.length; k++) {
    const op = ops[k]!;
    if (inPrefix[k] === 1 || op.call > limit) continue;
    const stepped = model.step(state, op.input, op.output);
    candidates.push(
      stepped.ok
        ? { ...describe(model, op), rejected: false, stateAfter: model.describeState(stepped.next) }
        : { ...describe(model, op), rejected: true },
    );
  }
  candidates.sort((a, b) => a.op.call - b.op.call || a.op.id - b.op.id);
  const report: ViolationReport<I, O> = {
    model: model.name,
    partition: part.key,
    partitionOperations: part.ops.length,
    definiteOperations: definite,
    prefix,
    initialState,
    state: model.describeState(state),
    candidates,
    ...(blocking >= 0 ? { blocking: describe(model, ops[blocking]!) } : {}),
  };
  return report;
}

/**
 * Checks whether `history` is linearizable with respect to `model`.
 *
 * Pure and synchronous; the only impure input is the clock, which can be injected with
 * `options.now` (or avoided altogether with `timeBudgetMs: Infinity` and `maxSteps`).
 * When a budget runs out the verdict is `unknown`, never a guess.
 */
export function check<S, I, O>(model: Model<S, I, O>, history: History<I, O>, options: CheckOptions = {}): CheckResult<I, O> {
  const now = options.now ?? ((): number => performance.now());
  const start = now();
  validate(history);
  const budget: Budget = {
    now,
    deadline: start + (options.timeBudgetMs ?? DEFAULT_TIME_BUDGET_MS),
    interval: Math.max(1, Math.floor(options.clockInterval ?? DEFAULT_CLOCK_INTERVAL)),
    stepsLeft: options.maxSteps ?? Infinity,
  };
  const parts = splitHistory(model, history, options.partition !== false);
  parts.sort((a, b) => a.ops.length - b.ops.length || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));

  const partitions: PartitionResult[] = [];
  let report: ViolationReport<I, O> | undefined;
  let reason: string | undefined;
  let anyUnknown = false;
  let totalSteps = 0;
  for (const part of parts) {
    if (report !== undefined && options.checkAllPartitions !== true) {
      partitions.push({ key: part.key, operations: part.ops.length, verdict: 'skipped', steps: 0, elapsedMs: 0 });
      continue;
    }
    const partStart = now();
    const { ops, definite } = searchOrder(part.ops);
    const result = search(model, ops, definite, budget);
    totalSteps += result.steps;
    const verdict: PartitionVerdict = result.verdict;
    partitions.push({ key: part.key, operations: part.ops.length, verdict, steps: result.steps, elapsedMs: now() - partStart });
    if (verdict === 'unknown') {
      anyUnknown = true;
      reason ??= `${result.reason ?? 'budget exhausted'} in partition ${part.key}`;
    } else if (verdict === 'not-linearizable' && report === undefined) {
      report = buildReport(model, part, ops, definite, result);
    }
  }
  const verdict = report !== undefined ? 'not-linearizable' : anyUnknown ? 'unknown' : 'linearizable';
  return {
    model: model.name,
    verdict,
    operations: history.length,
    partitions,
    ...(report !== undefined ? { report } : {}),
    ...(verdict === 'unknown' && reason !== undefined ? { reason } : {}),
    steps: totalSteps,
    elapsedMs: now() - start,
  };
}
