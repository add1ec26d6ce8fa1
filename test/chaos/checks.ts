/**
 * The end-of-run checks on the recorded histories: linearizability with the project's checker
 * (attribute registers per inode, name sets per directory), and acknowledged writes that the
 * final reads do not show.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  check,
  createAttrModel,
  createDirModel,
  formatJsonl,
  formatReport,
  type AttrInput,
  type AttrOutput,
  type CheckResult,
  type DirInput,
  type DirOutput,
  type History,
  type Verdict,
} from '../../src/lincheck/index.ts';
import { attrFields } from './workload.ts';

export interface LincheckSummary {
  readonly verdict: Verdict;
  readonly operations: number;
  readonly partitions: number;
  readonly elapsedMs: number;
  /** The violation report or why the verdict is unknown. */
  readonly detail?: string;
}

export function checkAttr(history: History<AttrInput, AttrOutput>, timeBudgetMs: number): LincheckSummary {
  const r = check(createAttrModel({ fields: attrFields }), history, { timeBudgetMs });
  return summarize(r);
}

export function checkDir(history: History<DirInput, DirOutput>, timeBudgetMs: number): LincheckSummary {
  const r = check(createDirModel({ initial: 'empty' }), history, { timeBudgetMs });
  return summarize(r);
}

function summarize<I, O>(r: CheckResult<I, O>): LincheckSummary {
  const base = { verdict: r.verdict, operations: r.operations, partitions: r.partitions.length, elapsedMs: Math.round(r.elapsedMs) };
  if (r.verdict === 'linearizable') return base;
  return { ...base, detail: r.verdict === 'not-linearizable' ? formatReport(r) : (r.reason ?? 'unknown') };
}

/** Both histories as JSONL files (`npm run lincheck -- FILE` checks them again). */
export async function saveHistories(dir: string, attr: History<AttrInput, AttrOutput>, dirs: History<DirInput, DirOutput>): Promise<string[]> {
  const a = join(dir, 'history-attr.jsonl');
  const d = join(dir, 'history-dir.jsonl');
  await writeFile(a, formatJsonl({ model: 'attr', history: attr, fields: attrFields }));
  await writeFile(d, formatJsonl({ model: 'dir', history: dirs, initial: 'empty' }));
  return [a, d];
}

/**
 * Acknowledged creates missing from the final readdir of their directory (names never removed),
 * and attribute writes whose effect is gone: the final value of a field must come from a write
 * that could be linearized after the last acknowledged one (not one that completed before it was
 * invoked). The final reads are the operations of process `final`.
 */
export function lostWrites(attr: History<AttrInput, AttrOutput>, dirs: History<DirInput, DirOutput>): string[] {
  const lost: string[] = [];

  const finalNames = new Map<number, Set<string>>();
  for (const op of dirs) {
    if (op.process !== 'final' || op.status !== 'ok' || op.input.f !== 'readdir' || typeof op.output === 'symbol') continue;
    finalNames.set(op.input.dir, new Set(op.output.names ?? []));
  }
  const removed = new Set<string>();
  for (const op of dirs) if (op.input.f === 'remove' && op.status !== 'fail') removed.add(`${op.input.dir}/${op.input.name}`);
  for (const op of dirs) {
    if (op.input.f !== 'create' || op.status !== 'ok' || typeof op.output === 'symbol' || op.output.error !== undefined) continue;
    const key = `${op.input.dir}/${op.input.name}`;
    if (removed.has(key)) continue;
    const names = finalNames.get(op.input.dir);
    if (names === undefined) lost.push(`create ${key} (acknowledged at ${op.ret.toFixed(1)} ms): its directory was not read at the end`);
    else if (!names.has(op.input.name)) lost.push(`create ${key} acknowledged at ${op.ret.toFixed(1)} ms is missing at the end`);
  }

  const finalAttrs = new Map<number, Readonly<Record<string, unknown>>>();
  for (const op of attr) {
    if (op.process !== 'final' || op.status !== 'ok' || op.input.f !== 'getattr' || typeof op.output === 'symbol' || op.output.attrs === undefined) continue;
    finalAttrs.set(op.input.inode, op.output.attrs);
  }
  for (const [inode, final] of finalAttrs) {
    for (const field of ['mode', 'uid'] as const) {
      const writes = attr.filter((op) => op.input.f === 'setattr' && op.input.inode === inode && op.status !== 'fail' && op.input.attrs[field] !== undefined);
      const acked = writes.filter((op) => op.status === 'ok');
      if (acked.length === 0) continue;
      const lastInvoke = Math.max(...acked.map((op) => op.call));
      const from = writes.filter((op) => op.input.f === 'setattr' && op.input.attrs[field] === final[field] && op.ret >= lastInvoke);
      if (from.length === 0) {
        const last = acked.reduce((a, b) => (b.call > a.call ? b : a));
        lost.push(
          `inode ${inode}: final ${field} ${String(final[field])} is not written by any write that may follow the acknowledged ${field} write ` +
            `invoked at ${last.call.toFixed(1)} ms (${last.input.f === 'setattr' ? JSON.stringify(last.input.attrs) : ''})`,
        );
      }
    }
  }
  return lost;
}
