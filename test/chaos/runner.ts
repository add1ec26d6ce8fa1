/**
 * One chaos run, executed inside the client namespace of a lab prepared by cli.ts (which owns the
 * namespaces, the tmpfs and the cleanup): writes the masters' configurations, initialises and
 * starts the founders, runs the workload and the nemesis for the duration, heals everything, and
 * checks:
 *  - both histories are linearizable (attr per inode, name sets per directory);
 *  - every acknowledged mutation is there at the end (the final reads, and every live master's
 *    own state for the directories);
 *  - every live member converges to the same state (same applied index, same digest of the
 *    snapshot stream) and passes the invariant checker;
 *  - no master exited on its own, except the full-disk one with ERR_NO_SPACE.
 * The summary goes to `<dir>/summary.json`; the lines on stdout are for people.
 *
 * Usage (by cli.ts): ip netns exec <client-ns> node --import tsx test/chaos/runner.ts PLAN.json
 */
import { randomBytes } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { stringify as stringifyToml } from 'smol-toml';
import { parseConfig } from '../../src/server/config.ts';
import { sleep } from '../integration/harness.ts';
import { ports } from '../integration/netns.ts';
import { checkAttr, checkDir, lostWrites, saveHistories, type LincheckSummary } from './checks.ts';
import { ChaosMaster, findLeader } from './masters.ts';
import { Nemesis, type FaultRecord } from './nemesis.ts';
import { Network, type LabHost } from './network.ts';
import { describeFault, makeSchedule, quietTailSec } from './schedule.ts';
import { localReaddir, Workload } from './workload.ts';

export interface Plan {
  readonly seed: number;
  readonly masters: number;
  readonly spares: number;
  readonly durationSec: number;
  readonly clients: number;
  readonly dir: string;
  readonly switchNs: string;
  /** Masters 1..masters+spares. */
  readonly hosts: readonly LabHost[];
  /** The founder whose data directory is a small tmpfs (0: none). */
  readonly smallDiskId: number;
  readonly diskMb: number;
  readonly checkBudgetMs: number;
  /** Self-check of the harness: the nemesis' probes read stale state on purpose (see Workload). */
  readonly staleProbes: boolean;
}

export interface Summary {
  readonly seed: number;
  readonly masters: number;
  readonly durationSec: number;
  readonly elapsedSec: number;
  readonly operations: number;
  readonly ok: number;
  readonly failed: number;
  readonly unknown: number;
  readonly codes: Record<string, number>;
  readonly faultsInjected: number;
  readonly faultsByKind: Record<string, number>;
  readonly faultsSkipped: number;
  readonly fullDisk: { readonly master: number; readonly sizeMb: number; readonly exited: boolean; readonly noSpaceLogged: boolean };
  readonly membership: readonly string[];
  readonly lincheck: { readonly attr: LincheckSummary | null; readonly dir: LincheckSummary | null };
  readonly converged: { readonly masters: readonly number[]; readonly applied: number; readonly digest: string } | null;
  readonly lostAcknowledgedWrites: number;
  readonly violations: number;
  readonly violationList: readonly string[];
  /** Reasons the run could not decide (checker budget); not violations, but not a pass either. */
  readonly inconclusive: readonly string[];
  readonly faults: readonly FaultRecord[];
}

const t0 = performance.now();
const clock = (): number => performance.now() - t0;
const log = (line: string): void => {
  process.stdout.write(`[chaos ${(clock() / 1000).toFixed(1).padStart(6)}s] ${line}\n`);
};

/** Writes the secret, the admin token and every master's configuration; spares get theirs again when they join. */
async function writeConfigs(plan: Plan, adminToken: string): Promise<{ masters: ChaosMaster[]; writeConfig: (id: number, peerIds: readonly number[]) => Promise<void> }> {
  const secretFile = join(plan.dir, 'secret');
  await writeFile(secretFile, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
  await chmod(secretFile, 0o600);
  const tokenFile = join(plan.dir, 'admin-token');
  await writeFile(tokenFile, adminToken + '\n', { mode: 0o600 });
  await chmod(tokenFile, 0o600);
  const host = (id: number): LabHost => plan.hosts.find((h) => h.id === id)!;
  const peer = (h: LabHost): Record<string, unknown> => ({
    id: h.id,
    peer: `${h.address}:${ports.peer}`,
    client: `${h.address}:${ports.client}`,
    admin: `${h.address}:${ports.admin}`,
  });
  const file = (id: number): string => join(plan.dir, `master-${id}.toml`);
  /** `peerIds`: the members it is told about (as an operator lists the current members, plus the new master itself). */
  const writeConfig = async (id: number, peerIds: readonly number[]): Promise<void> => {
    const ids = [...new Set([...peerIds, id])].sort((a, b) => a - b);
    const text = stringifyToml({
      node_id: id,
      cluster_id: 'chaos',
      data_dir: join(plan.dir, `master-${id}`),
      secret_file: secretFile,
      admin_token_file: tokenFile,
      log: { level: 'info' },
      // Snapshots every few thousand entries: restarts, lagging followers and new learners go through them.
      snapshot: { every_entries: 5000, keep_entries: 1000 },
      peers: ids.map((x) => peer(host(x))),
    });
    parseConfig(text, file(id));
    await writeFile(file(id), text);
  };
  const founderIds = plan.hosts.filter((h) => h.id <= plan.masters).map((h) => h.id);
  const masters: ChaosMaster[] = [];
  for (const h of plan.hosts) {
    const founder = h.id <= plan.masters;
    await writeConfig(h.id, founderIds);
    masters.push(new ChaosMaster(h.id, h, file(h.id), join(plan.dir, `master-${h.id}.log`), founder, h.id === plan.smallDiskId, clock));
  }
  return { masters, writeConfig };
}

async function waitLeader(masters: readonly ChaosMaster[], timeoutMs: number): Promise<ChaosMaster | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const l = await findLeader(masters);
    if (l !== undefined) return l.leader;
    await sleep(100);
  }
  return undefined;
}

/** Waits until every master in `live` has the same applied index, then compares their digests and invariants. */
async function convergence(live: readonly ChaosMaster[], violations: string[]): Promise<Summary['converged']> {
  const deadline = Date.now() + 60_000;
  let last = '';
  while (Date.now() < deadline) {
    const st = await Promise.all(live.map((m) => m.stateCheck().then((s) => ({ m, s })).catch(() => undefined)));
    if (st.every((x) => x !== undefined)) {
      const all = st as { m: ChaosMaster; s: { applied: number; digest: string; invariants: readonly string[] } }[];
      last = all.map((x) => `${x.m.id}@${x.s.applied}`).join(' ');
      if (all.every((x) => x.s.applied === all[0]!.s.applied)) {
        for (const x of all) for (const inv of x.s.invariants) violations.push(`master ${x.m.id}: invariant: ${inv}`);
        const digests = new Set(all.map((x) => x.s.digest));
        if (digests.size !== 1) {
          violations.push(`masters diverge at applied ${all[0]!.s.applied}: ${all.map((x) => `${x.m.id}=${x.s.digest.slice(0, 16)}`).join(' ')}`);
        }
        return { masters: all.map((x) => x.m.id), applied: all[0]!.s.applied, digest: all[0]!.s.digest };
      }
    }
    await sleep(300);
  }
  violations.push(`live masters did not reach the same applied index within 60 s (${last})`);
  return null;
}

async function main(planFile: string): Promise<void> {
  const plan = JSON.parse(await readFile(planFile, 'utf8')) as Plan;
  const adminToken = randomBytes(32).toString('hex');
  const { masters, writeConfig } = await writeConfigs(plan, adminToken);
  const byId = new Map(plan.hosts.map((h) => [h.id, h]));
  const network = new Network(plan.switchNs, byId);
  const violations: string[] = [];
  const inconclusive: string[] = [];
  const schedule = makeSchedule({ seed: plan.seed, durationSec: plan.durationSec, masters: plan.masters, spares: plan.spares });
  log(`seed ${plan.seed}, ${plan.masters} masters (+${plan.spares} spare), ${plan.durationSec} s, ${plan.clients} clients; master ${plan.smallDiskId} on a ${plan.diskMb} MiB tmpfs`);
  log(`schedule (${schedule.length} faults):`);
  for (const f of schedule) log(`  ${describeFault(f)}`);

  const founders = masters.filter((m) => m.founder);
  const addresses = (): string[] => masters.filter((m) => !m.removed).map((m) => m.clientAddress);
  const workload = new Workload({
    seed: plan.seed,
    masters: addresses,
    clients: plan.clients,
    files: 12,
    dirSlots: 4,
    namesPerDir: 200,
    thinkMsMax: 4,
    attemptTimeoutMs: 1000,
    deadlinesMs: [8000, 2000, 8000, 4000],
    staleProbes: plan.staleProbes,
  });
  const nemesis = new Nemesis({ seed: plan.seed, masters, network, workload, adminToken, log, clock, writeConfig });
  let stopping = false;
  const onSignal = (): void => {
    if (stopping) return;
    stopping = true;
    log('interrupted: killing the masters');
    void Promise.all(masters.map((m) => m.kill9())).then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    await Promise.all(founders.map((m) => m.init()));
    await Promise.all(founders.map((m) => m.start()));
    const first = await waitLeader(founders, 30_000);
    if (first === undefined) throw new Error('no leader elected at start');
    log(`masters ${founders.map((m) => `${m.id} (pid ${m.pid})`).join(', ')} up; leader ${first.id}`);
    await workload.setup();
    workload.start();
    const chaosStart = clock();
    log('workload started; chaos begins');
    await nemesis.run(schedule, chaosStart, plan.durationSec - quietTailSec);
    const healProblems = await nemesis.healAll();
    for (const p of healProblems) violations.push(`heal: ${p}`);
    const quietLeft = plan.durationSec * 1000 - (clock() - chaosStart);
    log(`chaos over; every fault healed; quiet for ${(Math.max(quietLeft, 2000) / 1000).toFixed(1)} s`);
    await sleep(Math.max(quietLeft, 2000));
    await workload.stop();
    log(`workload stopped: ${workload.counts.operations} operations`);
    const leader = await waitLeader(nemesis.finalMembers(), 30_000);
    if (leader === undefined) violations.push('no leader after the faults were healed');
    for (const p of await workload.finalReads()) violations.push(p);

    // Every master the run ends with, alive: same state, invariants hold, acknowledged names present.
    const live = nemesis.finalMembers().filter((m) => m.running);
    const converged = await convergence(live, violations);
    const acked = new Map<number, Set<string>>();
    const removed = new Set<string>();
    const dirHistory = workload.dir.history();
    for (const op of dirHistory) if (op.input.f === 'remove' && op.status !== 'fail') removed.add(`${op.input.dir}/${op.input.name}`);
    for (const op of dirHistory) {
      if (op.input.f !== 'create' || op.status !== 'ok' || typeof op.output === 'symbol' || op.output.error !== undefined) continue;
      if (removed.has(`${op.input.dir}/${op.input.name}`)) continue;
      const s = acked.get(op.input.dir) ?? new Set<string>();
      s.add(op.input.name);
      acked.set(op.input.dir, s);
    }
    let replicaMissing = 0;
    for (const m of live) {
      for (const [dir, names] of acked) {
        const local = new Set(await localReaddir(m.clientAddress, dir).catch(() => [] as string[]));
        const missing = [...names].filter((n) => !local.has(n));
        replicaMissing += missing.length;
        if (missing.length > 0) violations.push(`master ${m.id}: ${missing.length} acknowledged names missing in directory ${dir} (e.g. ${missing.slice(0, 3).join(', ')})`);
      }
    }

    // Masters that exited on their own.
    const small = masters.find((m) => m.smallDisk);
    for (const m of masters) {
      for (const e of m.unexpectedExits()) {
        if (m.smallDisk && m.sawNoSpace()) continue;
        violations.push(`master ${m.id} exited on its own (code ${e.code}, signal ${e.signal}) at ${(e.atMs / 1000).toFixed(1)} s; log: ${m.logFile}`);
      }
    }

    const attrHistory = workload.attr.history();
    const lost = lostWrites(attrHistory, dirHistory);
    for (const l of lost.slice(0, 20)) violations.push(`lost: ${l}`);
    log(`checking linearizability: ${attrHistory.length} attribute operations, ${dirHistory.length} directory operations`);
    const attrCheck = checkAttr(attrHistory, plan.checkBudgetMs);
    const dirCheck = checkDir(dirHistory, plan.checkBudgetMs);
    for (const [name, r] of [['attr', attrCheck], ['dir', dirCheck]] as const) {
      log(`lincheck ${name}: ${r.verdict} (${r.operations} operations, ${r.partitions} partitions, ${r.elapsedMs} ms)`);
      if (r.verdict === 'not-linearizable') violations.push(`${name} history is not linearizable:\n${r.detail}`);
      if (r.verdict === 'unknown') inconclusive.push(`${name} history: checker gave up (${r.detail})`);
    }
    const files = await saveHistories(plan.dir, attrHistory, dirHistory);
    log(`histories: ${files.join(' ')}`);

    const byKind: Record<string, number> = {};
    for (const f of nemesis.faults) if (f.injected) byKind[f.kind] = (byKind[f.kind] ?? 0) + 1;
    if (small !== undefined) byKind['full-disk'] = 1;
    const summary: Summary = {
      seed: plan.seed,
      masters: plan.masters,
      durationSec: plan.durationSec,
      elapsedSec: Math.round(clock() / 100) / 10,
      operations: workload.counts.operations,
      ok: workload.counts.ok,
      failed: workload.counts.failed,
      unknown: workload.counts.unknown,
      codes: workload.counts.codes,
      faultsInjected: Object.values(byKind).reduce((a, b) => a + b, 0),
      faultsByKind: byKind,
      faultsSkipped: nemesis.faults.filter((f) => !f.injected).length,
      fullDisk: {
        master: small?.id ?? 0,
        sizeMb: plan.diskMb,
        exited: small !== undefined && small.unexpectedExits().length > 0,
        noSpaceLogged: small?.sawNoSpace() ?? false,
      },
      membership: nemesis.faults.filter((f) => f.kind === 'membership').map((f) => `${f.injected ? '' : 'skipped: '}${f.note ?? ''}`),
      lincheck: { attr: attrCheck, dir: dirCheck },
      converged,
      lostAcknowledgedWrites: lost.length + replicaMissing,
      violations: violations.length,
      violationList: violations,
      inconclusive,
      faults: nemesis.faults,
    };
    await writeFile(join(plan.dir, 'summary.json'), JSON.stringify(summary) + '\n');
  } finally {
    await Promise.all(masters.map((m) => m.kill9()));
  }
}

const planFile = process.argv[2];
if (planFile === undefined) {
  process.stderr.write('usage: runner.ts PLAN.json (run by test/chaos/cli.ts)\n');
  process.exit(2);
}
main(planFile).then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`chaos runner failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
