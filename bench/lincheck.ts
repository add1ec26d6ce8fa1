import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { check, kvModel, parseJepsenRegister, parseKvEdn, registerModel } from '../src/lincheck/index.ts';
import type { History, Model } from '../src/lincheck/index.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const corpus = path.resolve(repoRoot, '../shared/testdata/linearizability');
const reps = Number(process.env['LINCHECK_BENCH_REPS'] ?? 5);

interface Entry {
  readonly format: 'jepsen-register' | 'kv';
  readonly file: string;
  readonly text: string;
  readonly expected: string;
}

function loadCorpus(): Entry[] {
  const entries: Entry[] = [];
  const etcdDir = path.join(corpus, 'etcd-register');
  const verdicts = readFileSync(path.join(etcdDir, 'verdicts.tsv'), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => line.split('\t') as [string, string]);
  for (const [file, expected] of verdicts) {
    entries.push({ format: 'jepsen-register', file: `etcd-register/${file}`, text: readFileSync(path.join(etcdDir, file), 'utf8'), expected });
  }
  const kvDir = path.join(corpus, 'kv-append');
  for (const file of readdirSync(kvDir).sort()) {
    const expected = /-ok\.\w+$/.test(file) ? 'linearizable' : 'not-linearizable';
    entries.push({ format: 'kv', file: `kv-append/${file}`, text: readFileSync(path.join(kvDir, file), 'utf8'), expected });
  }
  return entries;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round = (x: number): number => Math.round(x * 100) / 100;

const entries = loadCorpus();
const totals: number[] = [];
const checkTotals: number[] = [];
const cpuTotals: number[] = [];
const perFile = new Map<string, number[]>();
const operations = new Map<string, number>();
let mismatches = 0;
let undecided = 0;
for (let rep = 0; rep < reps; rep++) {
  let total = 0;
  let checkTotal = 0;
  const cpuStart = process.cpuUsage();
  for (const entry of entries) {
    const t0 = performance.now();
    const history = entry.format === 'kv' ? parseKvEdn(entry.text) : parseJepsenRegister(entry.text);
    const t1 = performance.now();
    const result = check(
      (entry.format === 'kv' ? kvModel : registerModel) as Model<unknown, unknown, unknown>,
      history as History<unknown, unknown>,
      { timeBudgetMs: 10_000 },
    );
    const t2 = performance.now();
    total += t2 - t0;
    checkTotal += t2 - t1;
    const times = perFile.get(entry.file) ?? [];
    times.push(t2 - t0);
    perFile.set(entry.file, times);
    operations.set(entry.file, history.length);
    if (rep === 0) {
      if (result.verdict === 'unknown') undecided++;
      else if (result.verdict !== entry.expected) mismatches++;
    }
  }
  const cpu = process.cpuUsage(cpuStart);
  totals.push(total);
  checkTotals.push(checkTotal);
  cpuTotals.push((cpu.user + cpu.system) / 1000);
}

const perFormat: Record<string, { files: number; operations: number; ms: number; slowest: { file: string; ms: number } }> = {};
for (const entry of entries) {
  const ms = median(perFile.get(entry.file)!);
  const f = (perFormat[entry.format] ??= { files: 0, operations: 0, ms: 0, slowest: { file: '', ms: -1 } });
  f.files++;
  f.operations += operations.get(entry.file)!;
  f.ms += ms;
  if (ms > f.slowest.ms) f.slowest = { file: entry.file, ms };
}
for (const f of Object.values(perFormat)) {
  f.ms = round(f.ms);
  f.slowest.ms = round(f.slowest.ms);
}
const largest = entries.reduce((a, b) => (operations.get(b.file)! > operations.get(a.file)! ? b : a));

process.stdout.write(
  JSON.stringify({
    benchmark: 'lincheck',
    corpus: path.relative(repoRoot, corpus),
    node: process.version,
    repetitions: reps,
    files: entries.length,
    operations: [...operations.values()].reduce((a, b) => a + b, 0),
    totalMs: round(median(totals)),
    checkOnlyMs: round(median(checkTotals)),
    // Process CPU time (all threads, GC included): less sensitive than wall time to a busy machine.
    cpuMs: round(median(cpuTotals)),
    perFormat,
    largest: { file: largest.file, operations: operations.get(largest.file)!, ms: round(median(perFile.get(largest.file)!)) },
    verdictMismatches: mismatches,
    undecided,
  }) + '\n',
);
if (mismatches > 0 || undecided > 0) process.exitCode = 1;
