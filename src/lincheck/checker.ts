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
 * operation that leaves the state unchanged is never explored. The search succeeds as soon as
 * every definite operation is linearized.
 *
 * A second reduction uses the model's `readOnly`: when a pure observation (a read) can be
 * linearized without changing the state, it is linearized first and no alternative to it is
 * explored, since any linearization can be rearranged to place it there.
 *
 * Step results are memoized per configuration, so going back to a configuration after exploring
 * one of its children does not call the model again for the candidates already tried.
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
  StepResult,
  ViolationReport,
} from './types.ts';

export const DEFAULT_TIME_BUDGET_MS = 10_000;
const DEFAULT_CLOCK_INTERVAL = 1000;
const FIRST_ROUND_STEPS = 50_000;
const ROUND_GROWTH = 4;

type SearchVerdict = 'linearizable' | 'not-linearizable' | 'unknown';

interface SearchResult<S> {
  readonly verdict: SearchVerdict;
  /** Steps taken in this run. */
  readonly steps: number;
  /** Indices (into the search's operation array) of the deepest linearizable prefix found. */
  readonly prefix: readonly number[];
  readonly prefixState: S;
  /** Which limit stopped an undecided search. */
  readonly stoppedBy?: 'steps' | 'time';
}

interface Limits {
  readonly now: () => number;
  readonly deadline: number;
  readonly interval: number;
  /** Steps allowed in this run. */
  readonly maxSteps: number;
}

/** A search that can be paused (when a run's limits are reached) and resumed where it stopped. */
interface Searcher<S> {
  run(limits: Limits): SearchResult<S>;
}

function mix32(x: number): number {
  let h = (x + 0x9e3779b9) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

interface CacheEntry<S> {
  /** Offset of the entry's linearized set in the arena. */
  readonly offset: number;
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
  setHash: (k: number) => number,
): Searcher<S> {
  const n = ops.length;
  const init = model.init();
  if (definite === 0) {
    return { run: () => ({ verdict: 'linearizable', steps: 0, prefix: [], prefixState: init }) };
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

  // The linearized set, as two bitsets: definite operations (sorted by invoke time) and unknown
  // ones. The definite part has an incremental hash.
  const definiteWords = (definite + 31) >>> 5;
  const unknownCount = n - definite;
  const unknownWords = (unknownCount + 31) >>> 5;
  const dbits = new Uint32Array(definiteWords);
  const ubits = new Uint32Array(unknownWords);
  const opHash = new Uint32Array(definite);
  for (let k = 0; k < definite; k++) opHash[k] = setHash(k);
  const isSet = (k: number): boolean => (dbits[k >>> 5]! & (1 << (k & 31))) !== 0;

  // `low` is the first definite operation not linearized: all before it are. Any linearized
  // definite operation after it was invoked before `low` returned (or `low` would have had to come
  // first), so it is at most reach[low]. The definite part of a set is thus stored compactly as
  // `low` plus the bitset words from low's word to the last non-empty one.
  let low = 0;
  const reach = new Int32Array(definite);
  for (let k = 0, j = 0; k < definite; k++) {
    const ret = ops[k]!.ret;
    if (j < k) j = k;
    while (j + 1 < definite && ops[j + 1]!.call <= ret) j++;
    reach[k] = j;
  }
  let sliceStart = 0;
  let sliceLength = 0;
  const measureSlice = (): void => {
    if (low >= definite) {
      sliceStart = definiteWords;
      sliceLength = 0;
      return;
    }
    sliceStart = low >>> 5;
    let last = reach[low]! >>> 5;
    while (last > sliceStart && dbits[last] === 0) last--;
    sliceLength = last - sliceStart + 1;
  };

  // Keyed by the hash of the definite part of the linearized set, then by the state's hash.
  // A cached set is stored in the arena as [low, sliceLength, ...slice, ...unknown words].
  const cache = new Map<number, Map<string, CacheEntry<S>[]>>();
  let arena = new Int32Array(1 << 16);
  let arenaUsed = 0;
  const store = (): number => {
    const size = 2 + sliceLength + unknownWords;
    if (arenaUsed + size > arena.length) {
      const bigger = new Int32Array(Math.max(arena.length * 2, arenaUsed + size));
      bigger.set(arena);
      arena = bigger;
    }
    const offset = arenaUsed;
    arena[offset] = low;
    arena[offset + 1] = sliceLength;
    for (let w = 0; w < sliceLength; w++) arena[offset + 2 + w] = dbits[sliceStart + w]! | 0;
    const u = offset + 2 + sliceLength;
    for (let w = 0; w < unknownWords; w++) arena[u + w] = ubits[w]! | 0;
    arenaUsed += size;
    return offset;
  };
  /** Same definite operations as the current set? Then the offset of the unknown words, else -1. */
  const sameDefinite = (offset: number): number => {
    if (arena[offset] !== low || arena[offset + 1] !== sliceLength) return -1;
    for (let w = 0; w < sliceLength; w++) if (arena[offset + 2 + w] !== (dbits[sliceStart + w]! | 0)) return -1;
    return offset + 2 + sliceLength;
  };
  /** Adds the current configuration unless it is dominated by a cached one. */
  const visit = (setHash: number, state: S): boolean => {
    measureSlice();
    const stateHash = model.hash(state);
    let byState = cache.get(setHash);
    if (byState === undefined) {
      byState = new Map();
      cache.set(setHash, byState);
    }
    const bucket = byState.get(stateHash);
    if (bucket === undefined) {
      byState.set(stateHash, [{ offset: store(), state }]);
      return true;
    }
    for (let e = 0; e < bucket.length; e++) {
      const entry = bucket[e]!;
      const u = sameDefinite(entry.offset);
      if (u < 0) continue;
      let subset = true;
      for (let w = 0; w < unknownWords; w++) {
        if ((arena[u + w]! & ~ubits[w]!) !== 0) {
          subset = false;
          break;
        }
      }
      if (subset && model.equal(entry.state, state)) return false;
    }
    // Drop the cached configurations the new one dominates, then add it.
    let kept = 0;
    for (let e = 0; e < bucket.length; e++) {
      const entry = bucket[e]!;
      const u = sameDefinite(entry.offset);
      let superset = u >= 0;
      for (let w = 0; superset && w < unknownWords; w++) {
        if ((ubits[w]! & ~arena[u + w]!) !== 0) superset = false;
      }
      if (!(superset && model.equal(entry.state, state))) bucket[kept++] = entry;
    }
    bucket.length = kept;
    bucket.push({ offset: store(), state });
    return true;
  };

  const setBit = (k: number): void => {
    if (k < definite) {
      dbits[k >>> 5]! |= 1 << (k & 31);
      if (k === low) {
        low++;
        while (low < definite && isSet(low)) low++;
      }
    } else {
      const j = k - definite;
      ubits[j >>> 5]! |= 1 << (j & 31);
    }
  };
  const clearBit = (k: number): void => {
    if (k < definite) {
      dbits[k >>> 5]! &= ~(1 << (k & 31));
      if (k < low) low = k;
    } else {
      const j = k - definite;
      ubits[j >>> 5]! &= ~(1 << (j & 31));
    }
  };

  // Definite operations that can never change the state (see Model.readOnly).
  const readOnly = new Uint8Array(n);
  if (model.readOnly !== undefined) {
    for (let k = 0; k < definite; k++) readOnly[k] = model.readOnly(ops[k]!.input, ops[k]!.output) ? 1 : 0;
  }

  const stackNode = new Int32Array(n);
  const stackState: S[] = new Array<S>(n);
  const stackForced = new Uint8Array(n);
  const stackConfig = new Int32Array(n);
  let depth = 0;
  let state = init;
  let hash = 0;
  let linearizedDefinite = 0;
  let steps = 0;
  let lastClock = 0;
  let bestDefinite = -1;
  let bestPrefix: number[] = [];
  let bestState = init;
  /** Records the current prefix, up to its last definite operation, as the deepest one. */
  const snapshot = (): void => {
    let d = depth;
    while (d > 0 && nodeOp[stackNode[d - 1]!]! >= definite) d--;
    bestDefinite = linearizedDefinite;
    bestPrefix = new Array<number>(d);
    for (let i = 0; i < d; i++) bestPrefix[i] = nodeOp[stackNode[i]!]!;
    bestState = d === depth ? state : stackState[d]!;
  };
  snapshot();
  visit(0, state);

  // Step results are memoized per configuration: `config` identifies the current one.
  let configCount = 0;
  let config = 0;
  const memoConfig = new Int32Array(entryCount + 2).fill(-1);
  const memoResult: (StepResult<S> | undefined)[] = new Array<StepResult<S> | undefined>(entryCount + 2);
  const evaluate = (node: number): StepResult<S> => {
    if (memoConfig[node] === config) return memoResult[node]!;
    steps++;
    const op = ops[nodeOp[node]!]!;
    const result = model.step(state, op.input, op.output);
    memoConfig[node] = config;
    memoResult[node] = result;
    return result;
  };

  /** Linearizes the operation of call entry `node`; false if the configuration it leads to was visited. */
  const push = (node: number, next: S, forced: boolean): boolean => {
    const k = nodeOp[node]!;
    setBit(k);
    const nextHash = k < definite ? (hash ^ opHash[k]!) >>> 0 : hash;
    if (!visit(nextHash, next)) {
      clearBit(k);
      return false;
    }
    stackNode[depth] = node;
    stackState[depth] = state;
    stackForced[depth] = forced ? 1 : 0;
    stackConfig[depth] = config;
    depth++;
    state = next;
    hash = nextHash;
    config = ++configCount;
    lift(node);
    if (k < definite) linearizedDefinite++;
    return true;
  };

  const ENTER = 0;
  const SCAN = 1;
  const BACKTRACK = 2;
  let mode = ENTER;
  let node = HEAD;
  let outcome: SearchResult<S> | undefined;
  let runStart = 0;
  const finish = (verdict: SearchVerdict, stoppedBy?: 'steps' | 'time'): SearchResult<S> => {
    const result: SearchResult<S> = {
      verdict,
      steps: steps - runStart,
      prefix: bestPrefix,
      prefixState: bestState,
      ...(stoppedBy !== undefined ? { stoppedBy } : {}),
    };
    if (verdict !== 'unknown') outcome = { ...result, steps: 0 };
    return result;
  };
  const run = (limits: Limits): SearchResult<S> => {
    if (outcome !== undefined) return outcome;
    runStart = steps;
    lastClock = steps;
    for (;;) {
      if (steps - runStart >= limits.maxSteps) return finish('unknown', 'steps');
      if (steps - lastClock >= limits.interval) {
        lastClock = steps;
        if (limits.now() > limits.deadline) return finish('unknown', 'time');
      }
      if (mode === ENTER) {
        if (linearizedDefinite === definite) return finish('linearizable');
        // A read-only candidate that the model accepts without any change to the state can be
        // linearized first: any linearization from here can be rearranged to start with it (moving
        // a pure observation earlier changes no other step). Then the other candidates need not be
        // explored from this configuration at all.
        let forcedNode = -1;
        let forcedNext = state;
        for (let c = next[HEAD]!; nodeIsCall[c] === 1; c = next[c]!) {
          if (readOnly[nodeOp[c]!] !== 1) continue;
          const result = evaluate(c);
          if (result.ok && (result.next === state || model.equal(result.next, state))) {
            forcedNode = c;
            forcedNext = result.next;
            break;
          }
        }
        if (forcedNode >= 0) {
          mode = push(forcedNode, forcedNext, true) ? ENTER : BACKTRACK;
          continue;
        }
        node = next[HEAD]!;
        mode = SCAN;
        continue;
      }
      if (mode === SCAN) {
        if (nodeIsCall[node] !== 1) {
          mode = BACKTRACK;
          continue;
        }
        const result = evaluate(node);
        if (result.ok && push(node, result.next, false)) {
          mode = ENTER;
          continue;
        }
        node = next[node]!;
        continue;
      }
      // Backtrack: undo the last linearization point, and the forced ones before it. The deepest
      // prefix is recorded when the search is about to leave it.
      if (linearizedDefinite > bestDefinite) snapshot();
      for (;;) {
        if (depth === 0) return finish('not-linearizable');
        depth--;
        node = stackNode[depth]!;
        state = stackState[depth]!;
        config = stackConfig[depth]!;
        const k = nodeOp[node]!;
        clearBit(k);
        if (k < definite) {
          hash = (hash ^ opHash[k]!) >>> 0;
          linearizedDefinite--;
        }
        unlift(node);
        if (stackForced[depth] === 0) break;
      }
      node = next[node]!;
      mode = SCAN;
    }
  };
  return { run };
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

/**
 * Orders a partition for the search: definite operations first, then unknown ones, each by invoke
 * time; failed ones are dropped.
 */
function searchOrder<I, O>(ops: readonly Operation<I, O>[]): { ops: Operation<I, O>[]; definite: number } {
  const definiteOps: Operation<I, O>[] = [];
  const unknownOps: Operation<I, O>[] = [];
  for (const op of ops) {
    if (op.status === 'ok') definiteOps.push(op);
    else if (op.status === 'unknown') unknownOps.push(unknownOpen(op));
  }
  const byCall = (a: Operation<I, O>, b: Operation<I, O>): number => a.call - b.call || a.id - b.id;
  definiteOps.sort(byCall);
  unknownOps.sort(byCall);
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
  return checkWithSetHash(model, history, options, mix32);
}

/**
 * `check` with a given hash for the linearized sets. Only for tests: with a constant hash every
 * set collides with every other, so the search has to rely on the exact comparison alone.
 */
export function checkWithSetHash<S, I, O>(
  model: Model<S, I, O>,
  history: History<I, O>,
  options: CheckOptions,
  opHash: (k: number) => number,
): CheckResult<I, O> {
  const now = options.now ?? ((): number => performance.now());
  const start = now();
  validate(history);
  const budgetMs = options.timeBudgetMs ?? DEFAULT_TIME_BUDGET_MS;
  const deadline = start + budgetMs;
  const interval = Math.max(1, Math.floor(options.clockInterval ?? DEFAULT_CLOCK_INTERVAL));
  const maxSteps = options.maxSteps ?? Infinity;
  const parts = splitHistory(model, history, options.partition !== false);
  parts.sort((a, b) => a.ops.length - b.ops.length || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));

  interface Slot {
    readonly part: Part<I, O>;
    readonly ops: Operation<I, O>[];
    readonly definite: number;
    verdict: PartitionVerdict;
    tried: boolean;
    steps: number;
    elapsedMs: number;
    searcher?: Searcher<S> | undefined;
  }
  const slots: Slot[] = parts.map((part) => ({ part, ...searchOrder(part.ops), verdict: 'unknown', tried: false, steps: 0, elapsedMs: 0 }));

  // Partitions are searched smallest first, in rounds of growing step caps, so that one hard
  // partition cannot use up the whole budget before a violation elsewhere is found. A search
  // stopped by its round's cap resumes where it stopped in the next round.
  let report: ViolationReport<I, O> | undefined;
  let stoppedBy: 'steps' | 'time' | undefined;
  let totalSteps = 0;
  let cap = slots.length > 1 ? FIRST_ROUND_STEPS : Infinity;
  rounds: for (;;) {
    let capped = false;
    for (const slot of slots) {
      if (slot.verdict !== 'unknown') continue;
      if (report !== undefined && options.checkAllPartitions !== true) break rounds;
      const remaining = maxSteps - totalSteps;
      if (remaining <= 0) {
        stoppedBy = 'steps';
        break rounds;
      }
      const partStart = now();
      slot.searcher ??= search(model, slot.ops, slot.definite, opHash);
      const result = slot.searcher.run({ now, deadline, interval, maxSteps: Math.min(cap, remaining) });
      slot.tried = true;
      slot.steps += result.steps;
      slot.elapsedMs += now() - partStart;
      totalSteps += result.steps;
      if (result.verdict !== 'unknown') {
        slot.verdict = result.verdict;
        slot.searcher = undefined;
        if (result.verdict === 'not-linearizable') report ??= buildReport(model, slot.part, slot.ops, slot.definite, result);
      } else if (result.stoppedBy === 'time') {
        stoppedBy = 'time';
        break rounds;
      } else if (result.steps >= remaining) {
        stoppedBy = 'steps';
        break rounds;
      } else {
        capped = true;
      }
    }
    if (!capped) break;
    cap *= ROUND_GROWTH;
  }

  const partitions: PartitionResult[] = slots.map((slot) => ({
    key: slot.part.key,
    operations: slot.part.ops.length,
    verdict:
      slot.verdict === 'unknown' && (!slot.tried || (report !== undefined && options.checkAllPartitions !== true))
        ? 'skipped'
        : slot.verdict,
    steps: slot.steps,
    elapsedMs: slot.elapsedMs,
  }));
  const decided = slots.filter((slot) => slot.verdict !== 'unknown').length;
  const verdict = report !== undefined ? 'not-linearizable' : decided === slots.length ? 'linearizable' : 'unknown';
  const reason =
    verdict !== 'unknown'
      ? undefined
      : `${stoppedBy === 'steps' ? `step budget of ${maxSteps} steps` : `time budget of ${budgetMs} ms`} exhausted with ${decided} of ${slots.length} partitions decided`;
  return {
    model: model.name,
    verdict,
    operations: history.length,
    partitions,
    ...(report !== undefined ? { report } : {}),
    ...(reason !== undefined ? { reason } : {}),
    steps: totalSteps,
    elapsedMs: now() - start,
  };
}
