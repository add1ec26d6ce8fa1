/**
 * npm run chaos -- [--masters 5] [--duration 60] [--seed S] [--clients N] [--spares N] [--disk-mb N] [--keep] [--stale-probes]
 *
 * A chaos run against real masters on separate "hosts" (network namespaces): this process, in the
 * root namespace, builds the lab (a switch namespace with a bridge, one namespace per master and
 * spare at 192.0.2.11, .12, ..., a client namespace at 192.0.2.100), mounts a small tmpfs as the
 * data directory of one minority master, and runs runner.ts inside the client namespace, which
 * starts the masters, drives the workload and the nemesis and checks the result. Whatever happens
 * to the runner, this process then kills every process left in the lab's namespaces (by PID),
 * deletes the namespaces, unmounts the tmpfs and removes the run directory (kept with --keep or when
 * something was found). The last line on stdout is the JSON summary; the exit status is 0 for a
 * clean run, 1 for violations, 2 for an inconclusive or failed run.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../integration/harness.ts';
import { NetnsLab, netnsUnavailable, removeStaleNamespaces, run } from '../integration/netns.ts';
import { Rng } from '../sim/prng.ts';
import type { LabHost } from './network.ts';
import type { Plan, Summary } from './runner.ts';

const runnerFile = fileURLToPath(new URL('./runner.ts', import.meta.url));

interface Args {
  masters: number;
  durationSec: number;
  seed: number;
  clients: number | undefined;
  spares: number;
  diskMb: number | undefined;
  keep: boolean;
  staleProbes: boolean;
}

function usage(problem: string): never {
  process.stderr.write(`${problem}\nusage: npm run chaos -- [--masters 3..7] [--duration SECONDS] [--seed N] [--clients N] [--spares N] [--disk-mb N] [--keep] [--stale-probes]\n`);
  process.exit(2);
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { masters: 5, durationSec: 60, seed: Date.now() % 1_000_000_007, clients: undefined, spares: 2, diskMb: undefined, keep: false, staleProbes: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    if (k === '--keep') {
      a.keep = true;
      continue;
    }
    if (k === '--stale-probes') {
      a.staleProbes = true;
      continue;
    }
    const v = argv[++i];
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < 0) usage(`${k} needs a non-negative integer`);
    switch (k) {
      case '--masters':
        if (n < 3 || n > 7) usage('--masters must be 3 to 7');
        a.masters = n;
        break;
      case '--duration':
        if (n < 20) usage('--duration must be at least 20 seconds');
        a.durationSec = n;
        break;
      case '--seed':
        a.seed = n;
        break;
      case '--clients':
        if (n < 1) usage('--clients must be at least 1');
        a.clients = n;
        break;
      case '--spares':
        a.spares = n;
        break;
      case '--disk-mb':
        if (n < 1) usage('--disk-mb must be at least 1');
        a.diskMb = n;
        break;
      default:
        usage(`unknown option ${k}`);
    }
  }
  return a;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const unavailable = await netnsUnavailable();
  if (unavailable !== undefined) {
    process.stderr.write(`chaos: cannot run: ${unavailable}\n`);
    return 2;
  }
  await removeStaleNamespaces();
  const total = args.masters + args.spares;
  // The full-disk master: a founder picked by the seed. Its tmpfs fills up around the middle of the run.
  const smallDiskId = 1 + new Rng(args.seed, 0x6469736b).intBelow(args.masters);
  const diskMb = args.diskMb ?? Math.max(1, Math.round(args.durationSec / 40));
  const dir = await mkdtemp(join(tmpdir(), 'mooseng-chaos-'));
  let lab: NetnsLab | undefined;
  let mounted: string | undefined;
  let runnerPid: number | undefined;
  let interrupted = false;
  const problems: string[] = [];

  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> => (cleaning ??= cleanupOnce());
  const cleanupOnce = async (): Promise<void> => {
    if (runnerPid !== undefined) {
      try {
        process.kill(runnerPid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    if (lab !== undefined) {
      // Every process still in one of the lab's namespaces (masters, the runner): by PID.
      for (const h of lab.hosts) {
        const pids = await run('ip', ['netns', 'pids', h.ns]);
        for (const p of pids.stdout.split('\n').map(Number).filter((x) => Number.isInteger(x) && x > 0)) {
          try {
            process.kill(p, 'SIGCONT');
            process.kill(p, 'SIGKILL');
          } catch {
            // Already gone.
          }
        }
      }
      problems.push(...(await lab.destroy()));
      const left = await lab.leftovers().catch(() => []);
      if (left.length > 0) problems.push(`namespaces left behind: ${left.join(', ')}`);
    }
    if (mounted !== undefined) {
      let r = await run('umount', [mounted]);
      for (let i = 0; i < 20 && r.code !== 0; i++) {
        await new Promise((res) => setTimeout(res, 250));
        r = await run('umount', [mounted]);
      }
      if (r.code !== 0) problems.push(`umount ${mounted}: ${r.stderr.trim()}`);
      else mounted = undefined;
    }
  };

  // An interrupt stops the runner; the main flow then cleans up and reports as usual.
  const onSignal = (): void => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write('chaos: interrupted, cleaning up\n');
    if (runnerPid !== undefined) {
      try {
        process.kill(runnerPid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let summary: (Summary & { cleanup: string[]; dir: string | null; runDir: string }) | undefined;
  let runnerCode: number | null = null;
  try {
    lab = await NetnsLab.create(total);
    const hosts: LabHost[] = Array.from({ length: total }, (_, k) => {
      const h = lab!.host(k + 1);
      return { id: k + 1, ns: h.ns, address: h.address, port: h.port };
    });
    const diskDir = join(dir, `master-${smallDiskId}`);
    await mkdir(diskDir);
    const m = await run('mount', ['-t', 'tmpfs', '-o', `size=${diskMb}m,mode=0700`, 'mooseng-chaos', diskDir]);
    if (m.code !== 0) throw new Error(`mount tmpfs on ${diskDir}: ${m.stderr.trim()}`);
    mounted = diskDir;
    const plan: Plan = {
      seed: args.seed,
      masters: args.masters,
      spares: args.spares,
      durationSec: args.durationSec,
      clients: args.clients ?? 2 * args.masters,
      dir,
      switchNs: lab.switchNs,
      hosts,
      smallDiskId,
      diskMb,
      checkBudgetMs: 120_000,
      staleProbes: args.staleProbes,
    };
    if (interrupted) throw new Error('interrupted');
    const planFile = join(dir, 'plan.json');
    await writeFile(planFile, JSON.stringify(plan, null, 2));
    const child = spawn('ip', ['netns', 'exec', lab.host('c').ns, process.execPath, '--import', 'tsx', runnerFile, planFile], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    runnerPid = child.pid;
    createInterface({ input: child.stdout }).on('line', (l) => process.stdout.write(l + '\n'));
    createInterface({ input: child.stderr }).on('line', (l) => process.stderr.write(l + '\n'));
    runnerCode = await new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    runnerPid = undefined;
    const text = await readFile(join(dir, 'summary.json'), 'utf8').catch(() => undefined);
    if (text !== undefined) summary = { ...(JSON.parse(text) as Summary), cleanup: [], dir: null, runDir: dir };
  } catch (e) {
    problems.push(`setup: ${(e as Error).message}`);
  } finally {
    await cleanup();
  }
  const found = summary === undefined || summary.violations > 0 || summary.inconclusive.length > 0 || problems.length > 0;
  const keep = args.keep || found;
  if (!keep) await rm(dir, { recursive: true, force: true });
  if (summary === undefined) {
    const error = interrupted ? 'interrupted' : `the runner exited with ${runnerCode} and wrote no summary`;
    process.stdout.write(JSON.stringify({ seed: args.seed, error, cleanup: problems, dir }) + '\n');
    return interrupted ? 130 : 2;
  }
  summary.cleanup.push(...problems);
  summary.dir = keep ? dir : null;
  process.stdout.write(JSON.stringify(summary) + '\n');
  if (summary.violations > 0) return 1;
  return summary.inconclusive.length > 0 || problems.length > 0 ? 2 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`chaos: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(2);
  },
);
