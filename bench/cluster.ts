/**
 * bench:cluster — a local 3-master cluster (real processes, durable WAL on this machine's disk)
 * measured through the SDK: write throughput and latency (mkdir and create) at 1, 16 and 64
 * concurrent clients, and linearizable read throughput served by the leader and by followers.
 *
 *   npm run bench:cluster -- [--seconds 5] [--clients 1,16,64]
 *
 * Each client is its own SDK instance with its own session and connections, and runs closed-loop
 * (one operation at a time). Prints one JSON document (last line). The machine is shared: compare
 * figures from one run, not across runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MoosengClient } from '../src/client/client.ts';
import { defaultLocalCluster, renderConfig } from '../src/server/config.ts';
import { freePortBase, sleep, waitUntil } from '../test/support/wait.ts';

const args = process.argv.slice(2);
const opt = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? def) : def;
};
const seconds = Number(opt('seconds', '5'));
const clientCounts = opt('clients', '1,16,64').split(',').map(Number);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Phase {
  readonly op: string;
  readonly clients: number;
  readonly ops: number;
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mooseng-bench-'));
  const procs: ChildProcess[] = [];
  const clients: MoosengClient[] = [];
  try {
    const base = await freePortBase(9);
    const secret = join(dir, 'secret');
    writeFileSync(secret, `${'ab'.repeat(32)}\n`);
    chmodSync(secret, 0o600);
    const configs = defaultLocalCluster(dir, 3, base);
    for (const c of configs) {
      const file = join(dir, `master-${c.nodeId}.toml`);
      writeFileSync(file, renderConfig(c).replace('level = "info"', 'level = "warn"'));
      await run(['--import', 'tsx', 'src/cli/master.ts', 'init', '--config', file]);
      procs.push(spawn(process.execPath, ['--import', 'tsx', 'src/cli/master.ts', '--config', file], { stdio: ['ignore', 'ignore', 'inherit'] }));
    }
    const addrs = configs.map((c) => `127.0.0.1:${c.listen.client.port}`);
    const leaderAdmin = await waitLeader(configs.map((c) => c.listen.admin.port));
    const phases: Phase[] = [];
    for (const n of clientCounts) {
      while (clients.length < n) clients.push(await MoosengClient.connect({ masters: addrs }));
      for (const op of ['mkdir', 'create'] as const) {
        const dirAttr = await clients[0]!.mkdir(1, `bench-${op}-${n}-${Date.now()}`);
        phases.push(
          await measure(`${op}`, n, async (k, i) => {
            const c = clients[k]!;
            if (op === 'mkdir') await c.mkdir(dirAttr.inode, `d${k}-${i}`);
            else await c.create(dirAttr.inode, `f${k}-${i}`);
          }),
        );
      }
    }
    // Reads: each client served by the leader only, or by any member.
    const n = Math.max(...clientCounts);
    const readers = { leader: [] as MoosengClient[], any: [] as MoosengClient[] };
    for (const where of ['leader', 'any'] as const) {
      for (let k = 0; k < n; k++) readers[where].push(await MoosengClient.connect({ masters: addrs, readFrom: where }));
      clients.push(...readers[where]);
      phases.push(await measure(`read-${where}`, n, async (k) => void (await readers[where][k]!.getattr(1))));
    }
    const out = { bench: 'cluster', masters: 3, seconds, leaderAdminPort: leaderAdmin, phases };
    for (const p of phases) {
      process.stderr.write(`${p.op.padEnd(12)} clients=${String(p.clients).padStart(2)}  ${String(p.opsPerSec).padStart(7)} ops/s  p50 ${p.p50Ms} ms  p99 ${p.p99Ms} ms  errors ${p.errors}\n`);
    }
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    for (const p of procs) p.kill('SIGKILL');
    await sleep(200);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measure(op: string, clients: number, one: (client: number, i: number) => Promise<void>): Promise<Phase> {
  const lat: number[] = [];
  let errors = 0;
  const end = Date.now() + seconds * 1000;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, k) => {
      for (let i = 0; Date.now() < end; i++) {
        const t = process.hrtime.bigint();
        try {
          await one(k, i);
          lat.push(Number(process.hrtime.bigint() - t) / 1e6);
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = (Date.now() - started) / 1000;
  lat.sort((a, b) => a - b);
  const r = (x: number): number => Math.round(x * 100) / 100;
  return { op, clients, ops: lat.length, opsPerSec: Math.round(lat.length / elapsed), p50Ms: r(percentile(lat, 50)), p99Ms: r(percentile(lat, 99)), errors };
}

async function waitLeader(adminPorts: readonly number[]): Promise<number> {
  return waitUntil('a leader', 20_000, async () => {
    for (const p of adminPorts) {
      const res = await fetch(`http://127.0.0.1:${p}/leader`).catch(() => undefined);
      if (res?.status === 200) return p;
    }
    return undefined;
  }, 50);
}

function run(argv: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, argv, { stdio: ['ignore', 'ignore', 'inherit'] });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${argv.join(' ')} exited with ${code}`))));
  });
}

await main();
