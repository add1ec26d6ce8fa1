/**
 * A real group of `mooseng-master` processes on 127.0.0.1 for the CLI and SDK tests: temp
 * directory, free ports, secret and admin token (mode 600), cluster.json as `npm start` writes it.
 * Every process is tracked by PID; `close()` kills what still runs and removes the directory, so a
 * test registers it with `t.after` and nothing outlives a failing assertion.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main, type CliIo } from '../../src/cli/mooseng.ts';
import type { ClusterFile } from '../../src/cli/format.ts';
import { defaultLocalCluster, formatHostPort, renderConfig, type MasterConfig } from '../../src/server/config.ts';

import { freePortBase, waitUntil as waitFor } from '../support/wait.ts';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const tsxLoader = import.meta.resolve('tsx');
const masterCli = join(repoRoot, 'src/cli/master.ts');

const leaderTimeoutMs = 20_000;
const stopTimeoutMs = 10_000;

export { freePortBase, sleep, waitUntil as waitFor } from '../support/wait.ts';

/** Whether a process with this PID exists (and is not a zombie we could still reap). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // A zombie still answers kill(0); /proc tells it apart.
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

export interface Cluster {
  readonly dir: string;
  /** Configurations of masters 1..n (founders) and the spare ones after them (not initialised, not started). */
  readonly configs: readonly MasterConfig[];
  readonly configPaths: readonly string[];
  readonly clusterFile: string;
  readonly tokenFile: string;
  readonly procs: Map<number, ChildProcess>;
  /** Starts master `id` (founders are started by startCluster). */
  start(id: number): void;
  /** SIGKILL master `id` and waits for it to exit. */
  kill(id: number): Promise<void>;
  /** The id of the master that reports itself leader (highest term), waiting for one. */
  leader(timeoutMs?: number): Promise<number>;
  /** The end of master `id`'s log, for assertion messages. */
  logTail(id: number, lines?: number): string;
  close(): Promise<void>;
}

export async function startCluster(o: { voters: number; spares?: number }): Promise<Cluster> {
  const total = o.voters + (o.spares ?? 0);
  const dir = await mkdtemp(join(tmpdir(), 'mooseng-cli-'));
  const base = await freePortBase(3 * total);
  const secretFile = join(dir, 'secret');
  const tokenFile = join(dir, 'admin-token');
  await writeFile(secretFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  const token = randomBytes(32).toString('hex');
  await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
  const founders = defaultLocalCluster(dir, o.voters, base).map((c) => ({ ...c, adminTokenFile: tokenFile }));
  // A spare's file lists the founders and itself; it starts with an empty data directory and waits to be added.
  const spares = Array.from({ length: o.spares ?? 0 }, (_, k) => {
    const c = defaultLocalCluster(dir, o.voters + k + 1, base)[o.voters + k]!;
    return { ...c, adminTokenFile: tokenFile };
  });
  const configs = [...founders, ...spares];
  const configPaths = configs.map((c) => join(dir, `master-${c.nodeId}.toml`));
  for (const [i, c] of configs.entries()) await writeFile(configPaths[i]!, renderConfig(c));
  const file: ClusterFile = {
    clusterId: founders[0]!.clusterId,
    masters: founders.map((c) => ({ id: c.nodeId, peer: formatHostPort(c.listen.peer), client: formatHostPort(c.listen.client), admin: formatHostPort(c.listen.admin) })),
    adminToken: token,
    adminTokenFile: tokenFile,
  };
  const clusterFile = join(dir, 'cluster.json');
  await writeFile(clusterFile, JSON.stringify(file, null, 2), { mode: 0o600 });

  const procs = new Map<number, ChildProcess>();
  const logPath = (id: number): string => join(dir, `master-${id}.log`);
  const run = (args: string[], log: string): ChildProcess => {
    const fd = openSync(log, 'a');
    const child = spawn(process.execPath, ['--import', tsxLoader, masterCli, ...args], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    return child;
  };
  const exited = (c: ChildProcess): Promise<void> =>
    c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', () => r()));

  const cluster: Cluster = {
    dir,
    configs,
    configPaths,
    clusterFile,
    tokenFile,
    procs,
    start(id) {
      procs.set(id, run(['--config', configPaths[id - 1]!], logPath(id)));
    },
    async kill(id) {
      const c = procs.get(id);
      if (c === undefined) return;
      c.kill('SIGKILL');
      await exited(c);
    },
    async leader(timeoutMs = leaderTimeoutMs) {
      return waitFor('a leader', timeoutMs, async () => {
        let best: { id: number; term: number } | undefined;
        for (const c of configs) {
          const p = procs.get(c.nodeId);
          if (p === undefined || p.exitCode !== null || p.signalCode !== null) continue;
          try {
            const res = await fetch(`http://${formatHostPort(c.listen.admin)}/status`, { signal: AbortSignal.timeout(500) });
            const s = (await res.json()) as { node: number; role: string; term: number };
            if (s.role === 'leader' && (best === undefined || s.term > best.term)) best = { id: s.node, term: s.term };
          } catch {
            // Not up yet, or just killed.
          }
        }
        return best?.id;
      });
    },
    logTail(id, lines = 15) {
      try {
        return readFileSync(logPath(id), 'utf8').trim().split('\n').slice(-lines).join('\n');
      } catch {
        return '(no log)';
      }
    },
    async close() {
      await Promise.all(
        [...procs.values()].map(async (c) => {
          if (c.exitCode !== null || c.signalCode !== null) return;
          c.kill('SIGTERM');
          const timer = setTimeout(() => c.kill('SIGKILL'), stopTimeoutMs);
          await exited(c);
          clearTimeout(timer);
        }),
      );
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    // Founders: initialise each data directory, then start all of them.
    await Promise.all(
      founders.map(
        (_, i) =>
          new Promise<void>((resolveInit, rejectInit) => {
            const c = run(['init', '--config', configPaths[i]!], logPath(i + 1));
            c.once('exit', (code) => (code === 0 ? resolveInit() : rejectInit(new Error(`init of master ${i + 1} exited with ${code}`))));
          }),
      ),
    );
    for (const c of founders) cluster.start(c.nodeId);
    await cluster.leader();
  } catch (e) {
    await cluster.close();
    throw e;
  }
  return cluster;
}

export interface CliResult {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** Runs the mooseng CLI in this process against the cluster (its cluster.json), as a user would type `args`. */
export async function cli(cluster: Pick<Cluster, 'clusterFile' | 'dir'>, ...args: string[]): Promise<CliResult> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => (out += t), err: (t) => (err += t), isTTY: false, env: {}, cwd: cluster.dir };
  const code = await main(['--cluster', cluster.clusterFile, ...args], io);
  return { code, out, err };
}
