// WAL benchmark: durable appends on the real disk through FileLogStorage (fdatasync per group
// commit). For record sizes 100 B and 4 KiB and 1, 16 and 256 concurrent appenders (each keeps one
// single-entry append in flight), measures durable appends per second, MiB/s, fsyncs per second,
// entries per fsync and append-to-durable latency percentiles; then the time to reopen (recover)
// a log of 1 million entries.
//
//   node --import tsx bench/wal.ts [--quick] [--seconds S] [--dir PATH]
//
// Stdout carries exactly one JSON object; progress goes to stderr. Data lives in a temporary
// directory (under --dir, default the OS temp dir) removed afterwards.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Entry } from '../src/raft/index.ts';
import { FileLogStorage, NodeFileIO } from '../src/storage/index.ts';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const argValue = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const seconds = Number(argValue('--seconds') ?? (quick ? 0.5 : 4));
const reopenEntries = quick ? 50_000 : 1_000_000;
const baseDir = argValue('--dir') ?? os.tmpdir();
const SIZES = [100, 4096];
const CONCURRENCY = [1, 16, 256];

const progress = (s: string): void => void process.stderr.write(`${s}\n`);

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

async function appendRun(root: string, size: number, concurrency: number) {
  const dir = fs.mkdtempSync(path.join(root, `run-${size}-${concurrency}-`));
  const s = await FileLogStorage.open({ io: new NodeFileIO(), dir, logger: () => undefined });
  const data = new Uint8Array(size).fill(0x5a);
  let next = 1;
  const latencies: number[] = [];
  const start = performance.now();
  const deadline = start + seconds * 1000;
  const syncs0 = s.stats().walSyncs;
  const appender = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const e: Entry = { index: next++, term: 1, type: 'normal', data };
      const t0 = performance.now();
      await s.append([e]);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, appender));
  const elapsed = (performance.now() - start) / 1000;
  const st = s.stats();
  await s.close();
  fs.rmSync(dir, { recursive: true, force: true });
  const sorted = Float64Array.from(latencies).sort();
  const syncs = st.walSyncs - syncs0;
  const n = latencies.length;
  return {
    recordBytes: size,
    appenders: concurrency,
    appends: n,
    appendsPerSec: Math.round(n / elapsed),
    MiBPerSec: round((n * size) / elapsed / 1048576),
    fsyncsPerSec: Math.round(syncs / elapsed),
    entriesPerFsync: round(n / Math.max(1, syncs)),
    latencyMs: { p50: round(percentile(sorted, 50), 3), p99: round(percentile(sorted, 99), 3), max: round(sorted[sorted.length - 1] ?? 0, 3) },
  };
}

async function reopenRun(root: string) {
  const dir = fs.mkdtempSync(path.join(root, 'reopen-'));
  const s = await FileLogStorage.open({ io: new NodeFileIO(), dir, logger: () => undefined });
  const data = new Uint8Array(100).fill(7);
  const t0 = performance.now();
  const batch = 10_000;
  for (let i = 1; i <= reopenEntries; i += batch) {
    const es: Entry[] = [];
    for (let j = i; j < i + batch && j <= reopenEntries; j++) es.push({ index: j, term: 1 + Math.floor(j / 100_000), type: 'normal', data });
    await s.append(es);
  }
  const writeSec = (performance.now() - t0) / 1000;
  await s.close();
  let bytes = 0;
  for (const f of fs.readdirSync(dir)) bytes += fs.statSync(path.join(dir, f)).size;
  const t1 = performance.now();
  const r = await FileLogStorage.open({ io: new NodeFileIO(), dir, logger: () => undefined });
  const reopenMs = performance.now() - t1;
  if (r.lastIndex() !== reopenEntries) throw new Error(`reopen found ${r.lastIndex()} entries`);
  await r.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return { entries: reopenEntries, recordBytes: 100, walMiB: round(bytes / 1048576, 1), writeSec: round(writeSec), reopenMs: Math.round(reopenMs) };
}

async function main(): Promise<void> {
  const root = fs.mkdtempSync(path.join(baseDir, 'mooseng-bench-wal-'));
  try {
    const appends = [];
    for (const size of SIZES) {
      for (const c of CONCURRENCY) {
        progress(`append: ${size} B x ${c} appenders, ${seconds} s`);
        appends.push(await appendRun(root, size, c));
      }
    }
    progress(`reopen: ${reopenEntries} entries`);
    const reopen = await reopenRun(root);
    const out = {
      bench: 'wal',
      node: process.version,
      platform: `${os.platform()} ${os.arch()}`,
      cpus: os.cpus().length,
      dir: baseDir,
      sync: 'fdatasync per group commit',
      secondsPerRun: seconds,
      appends,
      reopen,
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
