/**
 * Core types of the linearizability checker.
 *
 * A history is a list of operations. Each operation has an input (what the client asked), an
 * output (what it observed), an invoke time and a completion time. Times are plain numbers on any
 * scale; only their order matters. Two operations whose intervals touch (one invoked at the very
 * time the other completed) are treated as concurrent.
 */

/** Marker for an output that was not observed (the operation timed out). */
export const UNKNOWN: unique symbol = Symbol.for('mooseng.lincheck.unknown');
export type Unknown = typeof UNKNOWN;

export function isUnknown(value: unknown): value is Unknown {
  return value === UNKNOWN;
}

/**
 * - `ok`: the operation completed and its output was observed (an error that reflects the state,
 *   such as EEXIST or a compare-and-set that did not apply, is an observed output too);
 * - `fail`: the operation definitely did not take effect and observed nothing; it is dropped;
 * - `unknown`: the operation may have taken effect at any time after its invoke, or never; it is
 *   open until the end of the history and its output is unconstrained.
 */
export type OpStatus = 'ok' | 'fail' | 'unknown';

export type Process = number | string;

export interface Operation<I, O> {
  /** Unique within the history; used in reports. */
  readonly id: number;
  readonly process: Process;
  readonly input: I;
  readonly status: OpStatus;
  /** The observed output; `UNKNOWN` unless `status` is `ok`. */
  readonly output: O | Unknown;
  /** Invoke time. */
  readonly call: number;
  /** Completion time; `Infinity` for an operation of unknown outcome. */
  readonly ret: number;
}

export type History<I, O> = readonly Operation<I, O>[];

export type StepResult<S> = { readonly ok: true; readonly next: S } | { readonly ok: false };

/**
 * A sequential specification.
 *
 * `step` must be a pure function: it may not mutate `state`. Given an `UNKNOWN` output it must
 * accept (return `ok: true`) in every state, with the state the operation would leave if it took
 * effect then; the checker relies on this to let an operation of unknown outcome "never happen"
 * (it may always be placed at the very end, where its effect is invisible).
 *
 * `hash` must return equal strings for states that `equal` considers equal.
 */
export interface Model<S, I, O> {
  readonly name: string;
  init(): S;
  step(state: S, input: I, output: O | Unknown): StepResult<S>;
  equal(a: S, b: S): boolean;
  hash(state: S): string;
  /**
   * P-compositionality: operations with different keys act on independent parts of the state, so
   * each key's sub-history can be checked on its own.
   */
  partitionKey?(input: I): string;
  /** A custom split of a history into independent sub-histories; takes precedence over `partitionKey`. */
  partition?(ops: History<I, O>): Operation<I, O>[][];
  /**
   * Optional search optimization: true if the operation, with this output, can never change the
   * state of the system (a read, a failed create observing EEXIST, a compare-and-set that did not
   * apply): a pure observation. Such an operation is linearized as soon as the model accepts it
   * without a state change, without exploring alternatives. Answer false when unsure: an
   * operation that merely happens to leave the current state unchanged (writing the value
   * already there) is not read-only.
   */
  readOnly?(input: I, output: O | Unknown): boolean;
  describeOperation(input: I, output: O | Unknown): string;
  describeState(state: S): string;
}

export type Verdict = 'linearizable' | 'not-linearizable' | 'unknown';
export type PartitionVerdict = Verdict | 'skipped';

export interface CheckOptions {
  /** Wall-clock budget for the whole history, in ms (default 10 000; `Infinity` for none). */
  readonly timeBudgetMs?: number;
  /** Clock used for the budget and for `elapsedMs` (default `performance.now`). */
  readonly now?: () => number;
  /** Deterministic budget: maximum number of search steps over the whole history (default none). */
  readonly maxSteps?: number;
  /** Number of search steps between two readings of the clock (default 1000). */
  readonly clockInterval?: number;
  /** Split the history with the model's partitioning (default true). */
  readonly partition?: boolean;
  /** Keep checking the remaining partitions after a violation is found (default false). */
  readonly checkAllPartitions?: boolean;
}

export interface PartitionResult {
  readonly key: string;
  /** Operations in the partition, failed ones included. */
  readonly operations: number;
  readonly verdict: PartitionVerdict;
  readonly steps: number;
  readonly elapsedMs: number;
}

export interface ReportOperation<I, O> {
  readonly op: Operation<I, O>;
  readonly description: string;
}

export interface PrefixOperation<I, O> extends ReportOperation<I, O> {
  /** The model state right after this operation. */
  readonly stateAfter: string;
}

export interface CandidateOperation<I, O> extends ReportOperation<I, O> {
  /** True if the model rejects the operation in the state after the prefix. */
  readonly rejected: boolean;
  /** The state the operation would lead to, when the model accepts it. */
  readonly stateAfter?: string;
}

export interface ViolationReport<I, O> {
  readonly model: string;
  /**
   * Key of the failing partition: the first violation found, partitions being searched smallest
   * first (with growing step caps, so a small but hard partition may be passed by a larger one).
   */
  readonly partition: string;
  readonly partitionOperations: number;
  /** Operations of the partition with a definite outcome (the ones that must all be placed). */
  readonly definiteOperations: number;
  /** The longest linearizable prefix found by the search, in linearization order. */
  readonly prefix: readonly PrefixOperation<I, O>[];
  readonly initialState: string;
  /** State after the prefix. */
  readonly state: string;
  /** The operations that could have been linearized next, none of which leads to a full linearization. */
  readonly candidates: readonly CandidateOperation<I, O>[];
  /**
   * The earliest-completing operation not in the prefix: it has to be linearized before any
   * operation invoked after it completed.
   */
  readonly blocking?: ReportOperation<I, O>;
}

export interface CheckResult<I, O> {
  readonly model: string;
  readonly verdict: Verdict;
  /** Operations in the history, failed ones included. */
  readonly operations: number;
  /** Smallest first. `skipped`: not searched, or abandoned once a violation was found elsewhere. */
  readonly partitions: readonly PartitionResult[];
  /** Present when the verdict is `not-linearizable`. */
  readonly report?: ViolationReport<I, O>;
  /** Why the verdict is `unknown`. */
  readonly reason?: string;
  readonly steps: number;
  readonly elapsedMs: number;
}
