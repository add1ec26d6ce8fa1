/**
 * bench:compare — mooseng's 3-master cluster and a 3-member etcd cluster side by side, in one run on
 * one machine, both with durable writes (fsync per commit) on loopback.
 *
 *   npm run bench:compare -- [--seconds 5] [--reps 3] [--clients 1,16,64] [--attempt-timeout-ms 3000]
 *                            [--workloads mkdir,create,read-leader,read-any,put,get] [--profile DIR]
 *
 * Workloads, each run by closed-loop clients (own connections each) in one load agent per side (a
 * child process, so its CPU time is the side's client cost):
 *   - small writes: mooseng mkdir and create (one directory per client) against an etcd put of a
 *     100-byte value under a new key;
 *   - linearizable reads: mooseng getattr of the root, from the leader only (SDK default) and
 *     spread over all members (readFrom any), against an etcd get (linearizable, the etcd3
 *     client spreads its calls over all members).
 * For each: ops/s, p50 and p99 latency, client CPU per op (the agent's process.cpuUsage) and server
 * CPU per op (/proc/<pid>/stat of the three server processes), the median over `--reps`
 * repetitions whose phases alternate which side goes first; then our/etcd ratios.
 * Prints one JSON document (last line).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, type LoadOp, type LoadStats, type Target } from './lib/agent.ts';
import { EtcdCluster } from './lib/etcd.ts';
import { MoosengCluster } from './lib/mooseng.ts';
import { LoopbackNet } from './lib/net.ts';
import { machineNote, median, option, processCpuMs, round } from './lib/util.ts';

const seconds = Number(option('seconds', '5'));
const reps = Number(option('reps', '3'));
const clientCounts = option('clients', '1,16,64').split(',').map(Number);
const attemptTimeoutMs = Number(option('attempt-timeout-ms', '3000'));

type Workload = 'mkdir' | 'create' | 'read-leader' | 'read-any' | 'put' | 'get';
const wanted = option('workloads', 'mkdir,create,read-leader,read-any,put,get').split(',');
const ours = (['mkdir', 'create', 'read-leader', 'read-any'] as Workload[]).filter((w) => wanted.includes(w));
const theirs = (['put', 'get'] as Workload[]).filter((w) => wanted.includes(w));
/** With --profile DIR, the masters run with --cpu-prof and stop cleanly (SIGTERM) at the end, the leader last, writing their profiles. */
const profileDir = option('profile', '');

interface Sample {
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly clientCpuUsPerOp: number;
  readonly serverCpuUsPerOp: number;
  /** CPU time in cores (CPU seconds per second) of the client and of the servers. */
  readonly clientCores: number;
  readonly serverCores: number;
}

async function main(): Promise<void> {
  const net = new LoopbackNet();
  const dir = mkdtempSync(join(tmpdir(), 'mooseng-compare-'));
  const agents: Agent[] = [];
  let mooseng: MoosengCluster | undefined;
  let etcd: EtcdCluster | undefined;
  try {
    const agentOurs = await Agent.start(net);
    const agentEtcd = await Agent.start(net);
    agents.push(agentOurs, agentEtcd);
    mooseng = await MoosengCluster.create(net, dir, 3);
    if (profileDir !== '') mooseng.nodeArgs = ['--cpu-prof', '--cpu-prof-dir', profileDir];
    etcd = await EtcdCluster.create(net, dir, 3, undefined, 'etcd');
    await Promise.all([mooseng.start(), etcd.start()]);
    await Promise.all([mooseng.settled(agentOurs, [1, 2, 3]), etcd.settled(agentEtcd, [1, 2, 3])]);
    const m = mooseng;
    const e = etcd;
    const targets: Record<Workload, Target> = {
      mkdir: { kind: 'mooseng', masters: m.clientAddresses, readFrom: 'leader', attemptTimeoutMs },
      create: { kind: 'mooseng', masters: m.clientAddresses, readFrom: 'leader', attemptTimeoutMs },
      'read-leader': { kind: 'mooseng', masters: m.clientAddresses, readFrom: 'leader', attemptTimeoutMs },
      'read-any': { kind: 'mooseng', masters: m.clientAddresses, readFrom: 'any', attemptTimeoutMs },
      put: { kind: 'etcd', hosts: e.clientUrls, attemptTimeoutMs },
      get: { kind: 'etcd', hosts: e.clientUrls, attemptTimeoutMs },
    };
    const loadOp: Record<Workload, LoadOp> = { mkdir: 'mkdir', create: 'create', 'read-leader': 'getattr', 'read-any': 'getattr', put: 'put', get: 'get' };
    const serverPids = (w: Workload): number[] => (ours.includes(w) ? [1, 2, 3].map((i) => m.pid(i)) : [1, 2, 3].map((i) => e.pid(i)));
    const agentFor = (w: Workload): Agent => (ours.includes(w) ? agentOurs : agentEtcd);

    const phase = async (w: Workload, clients: number, secs: number): Promise<Sample> => {
      const a = agentFor(w);
      await a.connect(targets[w], clients);
      const pids = serverPids(w);
      const cpu0 = pids.reduce((s, p) => s + processCpuMs(p), 0);
      const st: LoadStats = await a.run(loadOp[w], clients, secs);
      const serverMs = pids.reduce((s, p) => s + processCpuMs(p), 0) - cpu0;
      const ops = Math.max(1, st.ops);
      const sample = {
        opsPerSec: st.opsPerSec,
        p50Ms: st.p50Ms,
        p99Ms: st.p99Ms,
        errors: st.errors,
        clientCpuUsPerOp: round((st.clientCpuMs * 1000) / ops),
        serverCpuUsPerOp: round((serverMs * 1000) / ops),
        clientCores: round(st.clientCpuMs / st.elapsedMs, 2),
        serverCores: round(serverMs / st.elapsedMs, 2),
      };
      process.stderr.write(
        `${w.padEnd(11)} c=${String(clients).padStart(2)} ${String(sample.opsPerSec).padStart(6)} ops/s p50 ${sample.p50Ms} p99 ${sample.p99Ms} ms  client ${sample.clientCpuUsPerOp} µs/op  servers ${sample.serverCpuUsPerOp} µs/op  errors ${sample.errors}\n`,
      );
      return sample;
    };

    // Warm-up: connections, JIT, first files of each store.
    for (const w of (['mkdir', 'put', 'read-leader', 'get'] as const).filter((x) => wanted.includes(x))) await phase(w, 4, 1);

    const samples = new Map<string, Sample[]>();
    for (const clients of clientCounts) {
      for (let r = 0; r < reps; r++) {
        // Alternate which side runs first, so that drift in the machine's load hits both alike.
        const order = r % 2 === 0 ? [...ours, ...theirs] : [...theirs, ...ours];
        for (const w of order) {
          const key = `${w}/${clients}`;
          samples.set(key, [...(samples.get(key) ?? []), await phase(w, clients, seconds)]);
        }
      }
    }

    const med = (w: Workload, clients: number): Sample => {
      const xs = samples.get(`${w}/${clients}`) ?? [];
      const f = (k: keyof Sample): number => round(median(xs.map((s) => s[k])), 2);
      return {
        opsPerSec: Math.round(median(xs.map((s) => s.opsPerSec))),
        p50Ms: f('p50Ms'),
        p99Ms: f('p99Ms'),
        errors: xs.reduce((s, x) => s + x.errors, 0),
        clientCpuUsPerOp: f('clientCpuUsPerOp'),
        serverCpuUsPerOp: f('serverCpuUsPerOp'),
        clientCores: f('clientCores'),
        serverCores: f('serverCores'),
      };
    };
    const rows = clientCounts.flatMap((clients) => [...ours, ...theirs].map((w) => ({ system: ours.includes(w) ? 'mooseng' : 'etcd', workload: w, clients, ...med(w, clients) })));
    const ratio = (a: Workload, b: Workload, clients: number) => {
      const x = med(a, clients);
      const y = med(b, clients);
      return {
        ours: a,
        etcd: b,
        clients,
        opsPerSec: round(x.opsPerSec / y.opsPerSec, 2),
        p50: round(x.p50Ms / y.p50Ms, 2),
        p99: round(x.p99Ms / y.p99Ms, 2),
        clientCpuPerOp: round(x.clientCpuUsPerOp / y.clientCpuUsPerOp, 2),
        serverCpuPerOp: round(x.serverCpuUsPerOp / y.serverCpuUsPerOp, 2),
      };
    };
    const pairs: [Workload, Workload][] = [['mkdir', 'put'], ['create', 'put'], ['read-leader', 'get'], ['read-any', 'get']];
    const ratios = clientCounts.flatMap((c) => pairs.filter(([a, b]) => wanted.includes(a) && wanted.includes(b)).map(([a, b]) => ratio(a, b, c)));
    for (const r of ratios) process.stderr.write(`ours/etcd ${r.ours}/${r.etcd} c=${r.clients}: ops/s ×${r.opsPerSec}  p50 ×${r.p50}  p99 ×${r.p99}\n`);
    const out = { bench: 'compare', seconds, reps, attemptTimeoutMs, etcdTiming: 'default', machine: machineNote(), rows, ratios };
    if (profileDir !== '') {
      const leader = await m.settled(agentOurs, [1, 2, 3]);
      for (const id of [1, 2, 3].filter((x) => x !== leader)) await m.stop(id);
      await m.stop(leader);
      process.stderr.write(`CPU profiles of the masters (leader: master ${leader}, pid ${m.member(leader).child?.pid}) in ${profileDir}\n`);
    }
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    for (const a of agents) await a.close();
    await mooseng?.close();
    await etcd?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
