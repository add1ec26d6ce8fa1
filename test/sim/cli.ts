import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BUG_NAMES, type BugName, describeConfig, PROFILES, type Profile, type SimOptions } from './config.ts';
import { formatFailure, runSeed } from './simulator.ts';

const USAGE = `usage: npm run sim -- [--seeds N] [--seed S] [--nodes K] [--lease | --no-lease]
                      [--disk | --memory] [--bug ${BUG_NAMES.join('|')}] [--profile ${PROFILES.join('|')}]
                      [--fault-ms MS] [--verbose] [--trace] [--keep-going]
Runs seeds S, S+1, ..., S+N-1 (default S=1, N=1 when --seed is given, else 100).
The configuration of each run (node count, read mode, storage mode, fault rates) is derived
from its seed unless fixed by the options. The last line is a JSON summary; the exit code is 1 on any failure.`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string' },
      seed: { type: 'string' },
      nodes: { type: 'string' },
      lease: { type: 'boolean' },
      'no-lease': { type: 'boolean' },
      disk: { type: 'boolean' },
      memory: { type: 'boolean' },
      bug: { type: 'string' },
      profile: { type: 'string' },
      'fault-ms': { type: 'string' },
      verbose: { type: 'boolean', short: 'v' },
      trace: { type: 'boolean' },
      'keep-going': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help === true) {
    console.log(USAGE);
    return 0;
  }
  const int = (name: string, v: string | undefined, dflt: number): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name}: not a non-negative integer: ${v}`);
    return n;
  };
  const first = int('seed', values.seed, 1);
  const count = int('seeds', values.seeds, values.seed !== undefined ? 1 : 100);
  const nodes = values.nodes === undefined ? undefined : int('nodes', values.nodes, 3);
  if (nodes !== undefined && nodes < 1) throw new Error('--nodes must be at least 1');
  if (values.bug !== undefined && !(BUG_NAMES as readonly string[]).includes(values.bug)) throw new Error(`unknown --bug ${values.bug}`);
  if (values.profile !== undefined && !(PROFILES as readonly string[]).includes(values.profile)) {
    throw new Error(`unknown --profile ${values.profile}`);
  }
  const lease = values.lease === true ? true : values['no-lease'] === true ? false : undefined;
  if (values.disk === true && values.memory === true) throw new Error('--disk and --memory exclude each other');
  const storage = values.disk === true ? 'disk' : values.memory === true ? 'memory' : undefined;
  const faultMs = values['fault-ms'] === undefined ? undefined : int('fault-ms', values['fault-ms'], 0);

  const started = performance.now();
  let failures = 0;
  let events = 0;
  let unknown = 0;
  let diskSeeds = 0;
  for (let i = 0; i < count; i++) {
    const seed = first + i;
    const opts: SimOptions = {
      seed,
      ...(nodes !== undefined ? { nodes } : {}),
      ...(lease !== undefined ? { lease } : {}),
      ...(values.bug !== undefined ? { bug: values.bug as BugName } : {}),
      ...(values.profile !== undefined ? { profile: values.profile as Profile } : {}),
      ...(faultMs !== undefined ? { faultMs } : {}),
      ...(storage !== undefined ? { storage } : {}),
    };
    const t0 = performance.now();
    const res = await runSeed(opts, values.trace === true ? (line) => console.log(`  ${line}`) : undefined);
    const wall = performance.now() - t0;
    events += res.events;
    if (res.config.storage.mode === 'disk') diskSeeds++;
    const save = (suffix: string, text: string): void => {
      try {
        mkdirSync('.sim-failures', { recursive: true });
        writeFileSync(`.sim-failures/seed-${seed}${suffix}`, text);
      } catch {
        // best effort
      }
    };
    if (res.lincheck?.verdict === 'unknown' || res.lincheck?.verdict === 'not-linearizable') {
      save('.history.jsonl', res.history.toJsonl());
    }
    if (res.lincheck?.verdict === 'unknown') {
      unknown++;
      console.log(`seed ${seed}: linearizability check undecided (not a failure): ${res.lincheck.report.split('\n').slice(0, 2).join(' / ')}`);
    }
    if (values.verbose === true) {
      const s = res.stats;
      const c = res.clients;
      console.log(
        `seed ${seed}: ${res.ok ? 'ok' : 'FAIL'} storage=${res.config.storage.mode} events=${res.events} virtual=${res.virtualMs.toFixed(0)}ms wall=${wall.toFixed(0)}ms ` +
          `ops=${c.ops} acked=${c.writesAcked} reads=${c.readsServed} ${JSON.stringify(c.readsByRole)} unknown=${c.unknown} ` +
          `crashes=${s.crashes} partitions=${s.partitions} terms=${s.maxTerm} oldTermCommits=${s.oldTermCommits} snapshots=${s.snapshotsTaken}/${s.snapshotsInstalled} ` +
          `conf=${s.confChangesApplied}/${s.confChangesProposed} ` +
          (res.config.storage.mode === 'disk'
            ? `disk: torn=${s.tornCrashes} late=${s.lateCrashes} tornCut=${s.tornTailsCut} ioFaults=${s.ioFaults} exits=${s.storageExits} rot=${s.rotInjected}/${s.corruptRefused} `
            : '') +
          `liveness=${s.livenessMs}ms lincheck=${res.lincheck?.verdict ?? '-'}/${res.lincheck?.operations ?? 0}ops/${res.lincheck?.elapsedMs.toFixed(0) ?? 0}ms`,
      );
      console.log(describeConfig(res.config).replace(/^/gm, '    '));
    }
    if (!res.ok) {
      failures++;
      const report = formatFailure(res);
      console.log(report);
      save('.txt', report + '\n');
      if (values['keep-going'] !== true && count > 1 && failures >= 10) {
        console.log('stopping after 10 failures (use --keep-going to run all seeds)');
        break;
      }
    }
  }
  const elapsedMs = Math.round(performance.now() - started);
  if (unknown > 0) console.log(`${unknown} seed(s) with an undecided linearizability check`);
  console.log(JSON.stringify({ seeds: count, diskSeeds, failures, events, elapsedMs }));
  return failures > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    console.error(USAGE);
    process.exitCode = 2;
  },
);
