/**
 * Small helpers shared by the cluster benchmarks: options, clocks, statistics, free ports, CPU
 * time of a process from /proc.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export { sleep, waitUntil as waitFor } from '../../test/support/wait.ts';

/** Wall-clock milliseconds with sub-millisecond resolution, comparable between processes on one machine. */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/** `--name value` from argv, or `def`. */
export function option(name: string, def: string): string {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? def) : def;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const round = (x: number, digits = 1): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

export interface Summary {
  readonly n: number;
  readonly min: number;
  readonly median: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

/** min, median, p90, p99, max of `xs` (p99 of fewer than 100 samples is the largest but one or the max). */
export function summarize(xs: readonly number[]): Summary {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, min: round(s[0] ?? NaN), median: round(median(s)), p90: round(percentile(s, 90)), p99: round(percentile(s, 99)), max: round(s.at(-1) ?? NaN) };
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A base port from which `count` consecutive ports on 127.0.0.1 are free right now. */
export async function freePortBase(count: number, from = 31_000): Promise<number> {
  for (let base = from; base < from + 20_000; base += count) {
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error(`no ${count} free consecutive ports from ${from}`);
}

const clockTicksPerSec = 100; // USER_HZ on Linux

/** User + system CPU time of process `pid` so far, in ms (from /proc/<pid>/stat; 10 ms resolution). */
export function processCpuMs(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; the fields after its closing parenthesis are fixed.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / clockTicksPerSec;
}

/** The 1-minute load average and the core count, to print with results taken on a shared machine. */
export function machineNote(): { loadAverage1m: number; cores: number } {
  const la = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  return { loadAverage1m: la, cores: availableParallelism() };
}
