import { check, formatJsonl, formatReport, HistoryRecorder, kvModel } from '../../src/lincheck/index.ts';
import type { KvInput, KvOutput } from '../../src/lincheck/index.ts';

/** The simulator's view of the project's linearizability checker (KV model, partitioned by key). */
export type KvOp =
  | { readonly f: 'get'; readonly key: string }
  | { readonly f: 'put' | 'append'; readonly key: string; readonly value: string };

export type LinVerdict = 'linearizable' | 'not-linearizable' | 'unknown';

export interface LinResult {
  readonly verdict: LinVerdict;
  readonly operations: number;
  readonly elapsedMs: number;
  /** Readable report for a violation, or why the check was undecided. */
  readonly report: string;
}

/** Records client operations; times are the simulator's event stamps (a total order). */
export class KvHistory {
  private readonly rec = new HistoryRecorder<KvInput, KvOutput>();

  invoke(client: number, op: KvOp, time: number): number {
    const input: KvInput = op.f === 'get' ? { f: 'get', key: op.key } : { f: op.f, key: op.key, value: op.value };
    return this.rec.invoke(client, input, time);
  }

  /** A write was acknowledged, or a read returned `value` (undefined: key never written). */
  ok(id: number, value: string | undefined, time: number): void {
    const input = this.rec.inputOf(id);
    this.rec.complete(id, input.f === 'get' ? { value: value ?? '' } : {}, time);
  }

  /** The client gave up waiting: the outcome is unknown. */
  unknown(id: number): void {
    this.rec.timeout(id);
  }

  /** A read the client gave up on: it observed nothing and changed nothing, so it is dropped. */
  abandonRead(id: number, time: number): void {
    if (this.rec.inputOf(id).f !== 'get') throw new Error('abandonRead: not a read');
    this.rec.fail(id, time);
  }

  get length(): number {
    return this.rec.length;
  }

  history(): KvHistoryOps {
    return this.rec.history();
  }

  /** The history in the project's JSONL format (`npm run lincheck -- FILE` checks it). */
  toJsonl(): string {
    return formatJsonl({ model: 'kv', history: this.rec.history() });
  }

  check(timeBudgetMs: number, maxSteps: number): LinResult {
    const result = check(kvModel, withoutUnobservedUnknownWrites(this.rec.history()), { timeBudgetMs, maxSteps });
    return {
      verdict: result.verdict,
      operations: result.operations,
      elapsedMs: result.elapsedMs,
      report: result.verdict === 'linearizable' ? '' : formatReport(result, { prefixLimit: 20 }),
    };
  }
}

type KvHistoryOps = ReturnType<HistoryRecorder<KvInput, KvOutput>['history']>;

/**
 * Drops writes with an unknown outcome whose value no completed read ever returned. The
 * simulator's values are unique tokens ending in ';' (a put's token starts with 'p'). If such
 * a write took effect, no read saw the state between it and the next put (every such read
 * would contain the token), so taking it out of any linearization leaves every read valid,
 * and leaving it out of the search cannot change the verdict. Without this, histories with
 * many timed-out writes make the search exponential.
 */
export function withoutUnobservedUnknownWrites(history: KvHistoryOps): KvHistoryOps {
  const seen = new Set<string>();
  for (const op of history) {
    if (op.status !== 'ok' || op.input.f !== 'get') continue;
    const out = op.output as KvOutput & { value?: string };
    for (const token of (out.value ?? '').split(';')) if (token !== '') seen.add(`${op.input.key}\u0000${token}`);
  }
  return history.filter((op) => {
    if (op.status !== 'unknown' || op.input.f === 'get') return true;
    const token = op.input.value.endsWith(';') ? op.input.value.slice(0, -1) : op.input.value;
    return seen.has(`${op.input.key}\u0000${token}`);
  });
}
