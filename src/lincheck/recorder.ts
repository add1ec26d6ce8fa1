import type { History, OpStatus, Operation, Process, Unknown } from './types.ts';
import { UNKNOWN } from './types.ts';

export interface RecorderOptions {
  /**
   * The logical clock stamping every event (e.g. the simulator's virtual time). Events with equal
   * times are taken as concurrent. Default: an internal counter that increments on every event,
   * so the order of the calls is the real-time order.
   */
  readonly clock?: () => number;
}

interface MutableOp<I, O> {
  id: number;
  process: Process;
  input: I;
  status: OpStatus | 'open';
  output: O | Unknown;
  call: number;
  ret: number;
}

/**
 * Records a history as it happens. Each process (client) has at most one operation open at a
 * time; an operation still open when the history is taken has an unknown outcome.
 */
export class HistoryRecorder<I, O> {
  readonly #ops: MutableOp<I, O>[] = [];
  readonly #open = new Map<Process, number>();
  readonly #clock: (() => number) | undefined;
  #counter = 0;

  constructor(options: RecorderOptions = {}) {
    this.#clock = options.clock;
  }

  #time(explicit: number | undefined): number {
    if (explicit !== undefined) return explicit;
    if (this.#clock !== undefined) return this.#clock();
    return ++this.#counter;
  }

  /** Starts an operation; returns its id. `time` overrides the clock for this event. */
  invoke(process: Process, input: I, time?: number): number {
    const open = this.#open.get(process);
    if (open !== undefined) {
      throw new Error(`process ${String(process)} invokes an operation while operation ${open} is still open`);
    }
    const call = this.#time(time);
    if (typeof call !== 'number' || !Number.isFinite(call)) throw new RangeError(`invalid invoke time ${String(call)}`);
    const id = this.#ops.length;
    this.#ops.push({ id, process, input, status: 'open', output: UNKNOWN, call, ret: Infinity });
    this.#open.set(process, id);
    return id;
  }

  /** The operation completed and `output` was observed (errors that reflect the state included). */
  complete(opId: number, output: O, time?: number): void {
    this.#finish(opId, 'ok', output, time);
  }

  /** The operation definitely did not take effect and observed nothing. */
  fail(opId: number, time?: number): void {
    this.#finish(opId, 'fail', UNKNOWN, time);
  }

  /**
   * The outcome is unknown (e.g. the client timed out): the operation may take effect at any time
   * after its invoke, or never. It stays open until the end of the history; the process may
   * invoke further operations.
   */
  timeout(opId: number): void {
    this.#finish(opId, 'unknown', UNKNOWN, undefined);
  }

  #finish(opId: number, status: OpStatus, output: O | Unknown, time: number | undefined): void {
    const op = this.#ops[opId];
    if (op === undefined) throw new RangeError(`no operation ${opId}`);
    if (op.status !== 'open') throw new Error(`operation ${opId} is already completed (${op.status})`);
    if (status !== 'unknown') {
      const ret = this.#time(time);
      if (typeof ret !== 'number' || Number.isNaN(ret) || ret < op.call) {
        throw new RangeError(`operation ${opId}: completion time ${String(ret)} is before its invoke time ${op.call}`);
      }
      op.ret = ret;
    }
    op.status = status;
    op.output = output;
    this.#open.delete(op.process);
  }

  /** The id of the operation `process` has open, if any. */
  openOperation(process: Process): number | undefined {
    return this.#open.get(process);
  }

  /** The input of operation `opId`. */
  inputOf(opId: number): I {
    const op = this.#ops[opId];
    if (op === undefined) throw new RangeError(`no operation ${opId}`);
    return op.input;
  }

  get length(): number {
    return this.#ops.length;
  }

  /** A snapshot of the history; operations still open have an unknown outcome. */
  history(): History<I, O> {
    return this.#ops.map(
      (op): Operation<I, O> => ({
        id: op.id,
        process: op.process,
        input: op.input,
        status: op.status === 'open' ? 'unknown' : op.status,
        output: op.status === 'ok' ? op.output : UNKNOWN,
        call: op.call,
        ret: op.status === 'ok' || op.status === 'fail' ? op.ret : Infinity,
      }),
    );
  }
}
