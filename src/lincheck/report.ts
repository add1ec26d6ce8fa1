import type { CheckResult, ReportOperation } from './types.ts';

export interface FormatOptions {
  /** How many operations of the linearizable prefix to show, the last ones (default 30). */
  readonly prefixLimit?: number;
}

function time(t: number): string {
  return t === Infinity ? '∞' : Number.isInteger(t) ? String(t) : t.toFixed(3);
}

function opLine(r: ReportOperation<unknown, unknown>): string {
  const op = r.op;
  const proc = `p${String(op.process)}`;
  return `${proc.padEnd(5)} [${time(op.call)}, ${time(op.ret)}]`.padEnd(24) + ` ${r.description}`;
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}

/** A readable account of a check: the verdict and, for a violation, where the search got stuck. */
export function formatReport<I, O>(result: CheckResult<I, O>, options: FormatOptions = {}): string {
  const parts = result.partitions.length;
  const summary = `${result.verdict}: model ${result.model}, ${result.operations} operations in ${parts} partition${parts === 1 ? '' : 's'}, ${result.steps} steps, ${result.elapsedMs.toFixed(1)} ms`;
  if (result.verdict === 'unknown') return `${summary}\nundecided: ${result.reason ?? 'budget exhausted'}\n`;
  const report = result.report;
  if (result.verdict === 'linearizable' || report === undefined) return `${summary}\n`;

  const limit = options.prefixLimit ?? 30;
  const lines: string[] = [summary];
  lines.push(`failing partition: ${report.partition} (${report.partitionOperations} operations, ${report.definiteOperations} with a definite outcome)`);
  const placedDefinite = report.prefix.filter((p) => p.op.status === 'ok').length;
  lines.push(
    `longest linearizable prefix: ${report.prefix.length} operations (${placedDefinite} of ${report.definiteOperations} definite), from initial state ${clip(report.initialState, 100)}`,
  );
  const shown = limit >= report.prefix.length ? report.prefix : report.prefix.slice(report.prefix.length - limit);
  if (shown.length < report.prefix.length) lines.push(`  ... ${report.prefix.length - shown.length} earlier operations`);
  for (const p of shown) lines.push(`  ${opLine(p)}  => ${clip(p.stateAfter, 60)}`);
  lines.push(`state after the prefix: ${report.state}`);
  lines.push('none of these can be linearized next:');
  for (const c of report.candidates) {
    const why = c.rejected
      ? 'rejected by the model in this state'
      : c.stateAfter === report.state
        ? 'no effect in this state (does not help)'
        : `accepted (state ${clip(c.stateAfter ?? '?', 60)}) but every continuation fails`;
    lines.push(`  ${opLine(c)}  -- ${why}`);
  }
  if (report.blocking !== undefined) {
    const b = report.blocking;
    lines.push(`deadline: p${String(b.op.process)} ${b.description} completed at t=${time(b.op.ret)}, so it must be linearized before anything invoked later`);
  }
  return lines.join('\n') + '\n';
}
