/**
 * bench:failover — how long writes stop when the leader fails, for mooseng (3 masters, default
 * timing) and for a 3-member etcd cluster with its default timing and with timing close to ours.
 *
 *   npm run bench:failover -- [--trials 30] [--fault kill|pause|partition] [--net loopback|netns]
 *                             [--systems mooseng,etcd-default,etcd-tuned] [--clients 8] [--rate 400]
 *                             [--attempt-timeout-ms 500] [--svg docs/img] [--keep] [--log-level warn]
 *
 * Under a steady paced write load (`--clients` closed loops issuing `--rate` writes/s in all;
 * mooseng mkdir, etcd put of 100 bytes) from a separate agent process whose clients know every
 * member, each trial waits for a settled cluster, injects the fault on the leader and measures:
 *   - writeMs: from the fault to the first acknowledgement of a write issued after the fault;
 *   - leaderMs: from the fault to the first poll (every 5 ms) on which another member says it leads.
 * Faults: kill = SIGKILL of the leader (restarted after the trial); pause = SIGSTOP (SIGCONT after
 * the trial: no connection is reset); partition = the leader's host cut off at the switch of a
 * network-namespace lab (no iptables here; healed after the trial). Both clients get the same
 * per-attempt timeout (`--attempt-timeout-ms`: the SDK's attemptTimeoutMs, etcd3's call deadline).
 * A trial whose write or leader does not come within 20 s counts at 20 s (a lower bound) and is
 * reported with the survivors' state. Prints min, median, p90, p99, max per system as JSON (last
 * line); writes two SVG charts per fault into --svg ('' for none). --keep keeps the data and logs.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Agent, type LoadStats, type Target } from './lib/agent.ts';
import { EtcdCluster } from './lib/etcd.ts';
import { MoosengCluster } from './lib/mooseng.ts';
import { LoopbackNet, NamespaceNet, type Net } from './lib/net.ts';
import { distributionRows, throughputPanels } from './lib/svg.ts';
import { machineNote, median, option, repoRoot, round, sleep, summarize, wallMs, type Summary } from './lib/util.ts';

const trials = Number(option('trials', '30'));
const fault = option('fault', 'kill') as 'kill' | 'pause' | 'partition';
const netKind = option('net', fault === 'partition' ? 'netns' : 'loopback');
const systems = option('systems', 'mooseng,etcd-default,etcd-tuned').split(',') as SystemName[];
const clients = Number(option('clients', '8'));
const ratePerSec = Number(option('rate', '400'));
const attemptTimeoutMs = Number(option('attempt-timeout-ms', '500'));
const svgDir = option('svg', 'docs/img');
const keepDir = process.argv.includes('--keep');
const logLevel = option('log-level', 'warn');
/** Bound on one trial's wait for the first write and the new leader. */
const trialTimeoutMs = 20_000;
/** Steady load before each fault. */
const steadyMs = 1000;
const bucketMs = 50;
/** The throughput chart shows 1 s before the fault to this long after it. */
const chartAfterMs = 4000;

type SystemName = 'mooseng' | 'etcd-default' | 'etcd-tuned';
if (!['kill', 'pause', 'partition'].includes(fault)) throw new Error(`--fault must be kill, pause or partition (got ${fault})`);
if (!['loopback', 'netns'].includes(netKind)) throw new Error(`--net must be loopback or netns (got ${netKind})`);
if (fault === 'partition' && netKind !== 'netns') throw new Error('--fault partition needs --net netns');

/** What a trial needs from a system under test. */
interface SystemUnderTest {
  readonly target: Target;
  readonly writeOp: 'mkdir' | 'put';
  readonly kind: Target['kind'];
  readonly members: number[];
  /** The leader (member index) and the key watchLeader must not accept (its URL or member id). */
  settled(agent: Agent, members: number[]): Promise<{ index: number; key: string }>;
  /** Status URLs of the members for watchLeader. */
  statusUrl(index: number): string;
  pid(index: number): number;
  restart(index: number): Promise<void>;
  reap(index: number): Promise<void>;
  /** A one-line state of member `index` for a failed trial's report. */
  describe(agent: Agent, index: number): Promise<string>;
  close(): Promise<void>;
}

interface Trial {
  readonly leader: number;
  readonly faultAtMs: number;
  readonly writeMs: number;
  readonly leaderMs: number;
  /** Time the fault itself took to apply (the `ip` command of a partition). */
  readonly injectMs: number;
  /** From the fault to the start of the repair (restart, SIGCONT, heal), after both measurements. */
  readonly repairMs: number;
  /** Whether a measurement ran into the trial's bound; its time is then counted as trialTimeoutMs (a lower bound). */
  readonly timedOut: boolean;
}

interface SystemResult {
  readonly system: SystemName;
  readonly writeMs: Summary;
  readonly leaderMs: Summary;
  /** Trials in which a measurement ran into the bound (trialTimeoutMs); counted at the bound in the summaries. */
  readonly failedTrials: number;
  readonly failures: { trial: number; leader: number; faultAtMs: number; write: string; newLeader: string; survivors: string[] }[];
  readonly load: Omit<LoadStats, 'buckets' | 'startedAtMs' | 'bucketMs'>;
  readonly trials: Trial[];
}

async function startSystem(name: SystemName, net: Net, dir: string, agent: Agent): Promise<SystemUnderTest> {
  if (name === 'mooseng') {
    const c = await MoosengCluster.create(net, dir, 3, 0, logLevel);
    await c.start();
    await c.settled(agent, [1, 2, 3]);
    return {
      target: { kind: 'mooseng', masters: c.clientAddresses, readFrom: 'leader', attemptTimeoutMs },
      writeOp: 'mkdir',
      kind: 'mooseng',
      members: [1, 2, 3],
      settled: async (a, ms) => {
        const id = await c.settled(a, ms);
        return { index: id, key: c.member(id).adminUrl };
      },
      statusUrl: (i) => c.member(i).adminUrl,
      pid: (i) => c.pid(i),
      restart: (i) => c.startMember(i),
      reap: (i) => c.kill(i),
      describe: async (a, i) => {
        const s = await c.status(a, i);
        return `master ${i}: ${s.role} term ${s.term} leader ${s.leader} commit ${s.commit} applied ${s.applied} last ${s.lastIndex}`;
      },
      close: () => c.close(),
    };
  }
  const timing = name === 'etcd-tuned' ? { heartbeatMs: 50, electionMs: 250 } : undefined;
  const c = await EtcdCluster.create(net, dir, 3, timing, name);
  await c.start();
  await c.settled(agent, [1, 2, 3]);
  return {
    target: { kind: 'etcd', hosts: c.clientUrls, attemptTimeoutMs },
    writeOp: 'put',
    kind: 'etcd',
    members: [1, 2, 3],
    settled: async (a, ms) => {
      const l = await c.settled(a, ms);
      return { index: l.index, key: l.id };
    },
    statusUrl: (i) => c.member(i).clientUrl,
    pid: (i) => c.pid(i),
    restart: (i) => c.startMember(i),
    reap: (i) => c.kill(i),
    describe: async (a, i) => {
      const s = await c.status(a, i);
      return `member ${i} (${s.header.member_id}): leader ${s.leader} raftIndex ${s.raftIndex}`;
    },
    close: () => c.close(),
  };
}

async function runSystem(name: SystemName, net: Net): Promise<{ result: SystemResult; stats: LoadStats }> {
  const dir = mkdtempSync(join(tmpdir(), `mooseng-failover-${name}-`));
  const agent = await Agent.start(net);
  let sys: SystemUnderTest | undefined;
  let loadRunning = false;
  try {
    sys = await startSystem(name, net, dir, agent);
    await agent.connect(sys.target, clients);
    await agent.start(sys.writeOp, clients, bucketMs, ratePerSec);
    loadRunning = true;
    const done: Trial[] = [];
    let failed = 0;
    const failures: SystemResult['failures'] = [];
    for (let trial = 1; trial <= trials; trial++) {
      const lead = await sys.settled(agent, sys.members);
      await sleep(steadyMs);
      await agent.firstAck(wallMs(), 10_000); // writes are flowing
      const pid = sys.pid(lead.index);
      let faultAtMs: number;
      let injectMs = 0;
      if (fault === 'kill') {
        faultAtMs = wallMs();
        process.kill(pid, 'SIGKILL');
      } else if (fault === 'pause') {
        faultAtMs = wallMs();
        process.kill(pid, 'SIGSTOP');
      } else {
        // The cut is in force once `ip` returns; measuring from then can only flatter by less than injectMs.
        const t0 = wallMs();
        await net.isolate(lead.index);
        faultAtMs = wallMs();
        injectMs = faultAtMs - t0;
      }
      const survivors = sys.members.filter((i) => i !== lead.index).map((i) => sys!.statusUrl(i));
      const [ack, newLeader] = await Promise.allSettled([agent.firstAck(faultAtMs, trialTimeoutMs), agent.watchLeader(sys.kind, survivors, lead.key, trialTimeoutMs)]);
      if (ack.status === 'fulfilled' && newLeader.status === 'fulfilled') {
        const writeMs = ack.value - faultAtMs;
        const leaderMs = newLeader.value.atMs - faultAtMs;
        done.push({ leader: lead.index, faultAtMs, writeMs, leaderMs, injectMs, repairMs: wallMs() - faultAtMs, timedOut: false });
        process.stderr.write(`${name} ${fault} trial ${trial}: leader ${lead.index} write ${writeMs.toFixed(1)} ms, new leader ${leaderMs.toFixed(1)} ms\n`);
      } else {
        failed++;
        const what = (r: PromiseSettledResult<unknown>, ok: (v: never) => string): string => (r.status === 'fulfilled' ? ok(r.value as never) : (r.reason as Error).message);
        const states = await Promise.all(sys.members.filter((i) => i !== lead.index).map((i) => sys!.describe(agent, i).catch((e: unknown) => `member ${i}: ${String(e)}`)));
        failures.push({ trial, leader: lead.index, faultAtMs, write: what(ack, (v: number) => `${(v - faultAtMs).toFixed(1)} ms`), newLeader: what(newLeader, (v: { atMs: number }) => `${(v.atMs - faultAtMs).toFixed(1)} ms`), survivors: states });
        process.stderr.write(`${name} ${fault} trial ${trial} FAILED: ${JSON.stringify(failures.at(-1))}\n`);
        done.push({
          leader: lead.index,
          faultAtMs,
          writeMs: ack.status === 'fulfilled' ? ack.value - faultAtMs : trialTimeoutMs,
          leaderMs: newLeader.status === 'fulfilled' ? newLeader.value.atMs - faultAtMs : trialTimeoutMs,
          injectMs,
          repairMs: wallMs() - faultAtMs,
          timedOut: true,
        });
      }
      if (fault === 'kill') {
        await sys.reap(lead.index);
        await sys.restart(lead.index);
      } else if (fault === 'pause') process.kill(pid, 'SIGCONT');
      else await net.heal(lead.index);
    }
    const stats = await agent.stop();
    loadRunning = false;
    const { buckets: _b, startedAtMs: _s, bucketMs: _m, ...load } = stats;
    return {
      result: {
        system: name,
        writeMs: summarize(done.map((t) => t.writeMs)),
        leaderMs: summarize(done.map((t) => t.leaderMs)),
        failedTrials: failed,
        failures,
        load,
        trials: done.map((t) => ({ ...t, writeMs: round(t.writeMs), leaderMs: round(t.leaderMs), injectMs: round(t.injectMs), repairMs: round(t.repairMs) })),
      },
      stats,
    };
  } finally {
    if (loadRunning) await agent.stop().catch(() => undefined);
    await agent.close();
    await sys?.close();
    if (keepDir) process.stderr.write(`kept ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

/** The trial whose write time is the median one, and the load's throughput around its fault. */
function panelFor(name: SystemName, r: SystemResult, stats: LoadStats): { label: string; points: [number, number][]; markers: { x: number; label: string }[] } {
  const m = median(r.trials.map((t) => t.writeMs));
  const t = [...r.trials].sort((a, b) => Math.abs(a.writeMs - m) - Math.abs(b.writeMs - m))[0];
  if (t === undefined) return { label: name, points: [], markers: [] };
  const next = r.trials.find((x) => x.faultAtMs > t.faultAtMs);
  const repair = { kill: 'restarted', pause: 'SIGCONT', partition: 'healed' }[fault];
  const points: [number, number][] = stats.buckets.map((count, i) => [(stats.startedAtMs + i * stats.bucketMs - t.faultAtMs) / 1000, (count * 1000) / stats.bucketMs]);
  return {
    label: `${name}: trial with the median write time (${t.writeMs} ms)`,
    points,
    markers: [
      { x: t.leaderMs / 1000, label: `new leader +${Math.round(t.leaderMs)} ms` },
      { x: t.writeMs / 1000, label: `first write +${Math.round(t.writeMs)} ms` },
      { x: t.repairMs / 1000, label: `${repair} +${Math.round(t.repairMs)} ms` },
      ...(next !== undefined && next.faultAtMs - t.faultAtMs < chartAfterMs ? [{ x: (next.faultAtMs - t.faultAtMs) / 1000, label: 'next trial’s fault' }] : []),
    ],
  };
}

async function main(): Promise<void> {
  const net: Net = netKind === 'netns' ? await NamespaceNet.create(3) : new LoopbackNet();
  const results: SystemResult[] = [];
  const panels: ReturnType<typeof panelFor>[] = [];
  try {
    for (const s of systems) {
      const { result, stats } = await runSystem(s, net);
      results.push(result);
      panels.push(panelFor(s, result, stats));
    }
  } finally {
    await net.destroy();
  }
  const faultText = { kill: 'SIGKILL of the leader', pause: 'SIGSTOP of the leader', partition: 'leader cut off (netns)' }[fault];
  if (svgDir !== '') {
    const dir = resolve(repoRoot, svgDir);
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, `failover-${fault}-throughput.svg`),
      throughputPanels({ title: `Acknowledged writes/s around a failover (${faultText})`, xLabel: 'seconds from the fault', yLabel: 'writes/s (50 ms bins)', faultLabel: fault, panels, xMin: -1, xMax: chartAfterMs / 1000 }),
    );
    writeFileSync(
      join(dir, `failover-${fault}-distribution.svg`),
      distributionRows({
        title: `Fault to first acknowledged write, ${results[0]?.writeMs.n ?? 0} trials each (${faultText})`,
        xLabel: 'ms from the fault to the first acknowledged write (log scale)',
        rows: results.map((r) => ({ label: r.system, values: r.trials.map((t) => t.writeMs) })),
      }),
    );
  }
  for (const r of results) {
    const f = (s: Summary): string => `min ${s.min} median ${s.median} p90 ${s.p90} p99 ${s.p99} max ${s.max}`;
    process.stderr.write(`${r.system.padEnd(13)} write ms: ${f(r.writeMs)} | leader ms: ${f(r.leaderMs)} | failed ${r.failedTrials}\n`);
  }
  const out = { bench: 'failover', fault, net: netKind, trials, clients, ratePerSec, attemptTimeoutMs, trialTimeoutMs, machine: machineNote(), results };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

await main();
