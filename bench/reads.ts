/**
 * bench:reads — read scaling: 3 voters and 2 learners (added with POST /admin/add-learner), with
 * linearizable reads (getattr of the root) served by the leader only, or spread over all five
 * members (SDK readFrom any: round robin; a follower or learner asks the leader for its commit
 * index, waits to apply it, and answers from its own state).
 *
 *   npm run bench:reads -- [--seconds 5] [--reps 3] [--clients 32] [--profile DIR]
 *
 * Per phase: total reads/s; reads served by each member (mooseng_reads_total); the leader's CPU
 * time (/proc/<pid>/stat) net of its idle CPU (measured in an idle phase of the same length: the
 * heartbeats of a 5-member group). From the leader-only phase, the leader's CPU per read it
 * serves (a); from the spread phase, the leader's CPU per read a follower served:
 *   b = (leader CPU - a × reads the leader served) / reads the followers and learners served.
 * On a machine with fewer cores than members, the total is bounded by the cores, not by the leader;
 * b/a is the cost that spreading removes from the leader. Medians of `--reps` repetitions; one
 * JSON document (last line).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from './lib/agent.ts';
import { MoosengCluster } from './lib/mooseng.ts';
import { LoopbackNet } from './lib/net.ts';
import { machineNote, median, option, processCpuMs, round, sleep } from './lib/util.ts';

const seconds = Number(option('seconds', '5'));
const reps = Number(option('reps', '3'));
const clients = Number(option('clients', '32'));
const members = [1, 2, 3, 4, 5];
/** With --profile DIR: every master runs with --cpu-prof; only the spread phase runs, then the leader stops cleanly and writes its profile. */
const profileDir = option('profile', '');

interface Phase {
  readonly readsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Reads served by the leader and by the others in the phase. */
  readonly leaderServed: number;
  readonly othersServed: number;
  /** CPU ms of the leader, of all members, of the load agent, during the phase. */
  readonly leaderCpuMs: number;
  readonly allCpuMs: number;
  readonly clientCpuMs: number;
  readonly elapsedMs: number;
  /** Peer messages the leader sent and received. */
  readonly leaderMessages: number;
}

/** Reads served so far (mooseng_reads_total) and peer messages sent + received (mooseng_transport_messages) by master `id`. */
async function counters(agent: Agent, c: MoosengCluster, id: number): Promise<{ reads: number; messages: number }> {
  const r = await agent.fetch(`${c.member(id).adminUrl}/metrics`);
  let reads = 0;
  let messages = 0;
  for (const line of r.body.split('\n')) {
    const value = Number(line.split(' ').at(-1));
    if (line.startsWith('mooseng_reads_total')) reads += value;
    else if (line.startsWith('mooseng_transport_messages{direction="sent"}') || line.startsWith('mooseng_transport_messages{direction="received"}')) messages += value;
  }
  return { reads, messages };
}

async function main(): Promise<void> {
  const net = new LoopbackNet();
  const dir = mkdtempSync(join(tmpdir(), 'mooseng-reads-'));
  let agent: Agent | undefined;
  let cluster: MoosengCluster | undefined;
  try {
    agent = await Agent.start(net);
    const a = agent;
    const c = (cluster = await MoosengCluster.create(net, dir, 3, 2));
    if (profileDir !== '') c.nodeArgs = ['--cpu-prof', '--cpu-prof-dir', profileDir];
    await c.start();
    await c.addLearners(a);
    const leader = await c.settled(a, members);
    const st = await c.status(a, leader);
    const cpuAll = (): number => members.reduce((s, id) => s + processCpuMs(c.pid(id)), 0);

    const measure = async (where: 'leader' | 'any' | 'idle'): Promise<Phase> => {
      const before = await Promise.all(members.map((id) => counters(a, c, id)));
      const l0 = processCpuMs(c.pid(leader));
      const all0 = cpuAll();
      let stats = { opsPerSec: 0, p50Ms: 0, p99Ms: 0, clientCpuMs: 0, elapsedMs: seconds * 1000 };
      if (where === 'idle') await sleep(seconds * 1000);
      else {
        await a.connect({ kind: 'mooseng', masters: c.clientAddresses, readFrom: where, attemptTimeoutMs: 3000 }, clients);
        stats = await a.run('getattr', clients, seconds);
      }
      const leaderCpuMs = processCpuMs(c.pid(leader)) - l0;
      const allCpuMs = cpuAll() - all0;
      const after = await Promise.all(members.map((id) => counters(a, c, id)));
      const served = after.map((x, k) => x.reads - before[k]!.reads);
      const leaderMessages = after[leader - 1]!.messages - before[leader - 1]!.messages;
      const leaderServed = served[leader - 1]!;
      const othersServed = served.reduce((s, x) => s + x, 0) - leaderServed;
      const p: Phase = { readsPerSec: stats.opsPerSec, p50Ms: stats.p50Ms, p99Ms: stats.p99Ms, leaderServed, othersServed, leaderCpuMs, allCpuMs, clientCpuMs: stats.clientCpuMs, elapsedMs: stats.elapsedMs, leaderMessages };
      process.stderr.write(`${where.padEnd(6)} ${p.readsPerSec} reads/s p50 ${p.p50Ms} p99 ${p.p99Ms} ms; served by leader ${leaderServed}, others ${othersServed} (${served.join('/')}); leader CPU ${leaderCpuMs} ms, ${leaderMessages} peer messages; all members ${allCpuMs} ms, client ${p.clientCpuMs} ms\n`);
      return p;
    };

    await measure('any'); // warm-up: connections, JIT on every member
    if (profileDir !== '') {
      await measure('any');
      await c.stop(leader);
      process.stderr.write(`the leader (master ${leader}, pid ${c.member(leader).child?.pid}) wrote its CPU profile to ${profileDir}\n`);
      return;
    }
    const runs: { idle: Phase; leader: Phase; any: Phase }[] = [];
    for (let r = 0; r < reps; r++) {
      const idle = await measure('idle');
      const [first, second] = r % 2 === 0 ? (['leader', 'any'] as const) : (['any', 'leader'] as const);
      const x = await measure(first);
      const y = await measure(second);
      runs.push({ idle, leader: first === 'leader' ? x : y, any: first === 'any' ? x : y });
    }

    const derived = runs.map(({ idle, leader: L, any: A }) => {
      const idleRate = idle.leaderCpuMs / idle.elapsedMs; // leader CPU ms per ms with no reads
      const netL = Math.max(0, L.leaderCpuMs - idleRate * L.elapsedMs);
      const netA = Math.max(0, A.leaderCpuMs - idleRate * A.elapsedMs);
      const perLeaderServedUs = (netL * 1000) / Math.max(1, L.leaderServed);
      const perFollowerServedUs = ((netA - (perLeaderServedUs / 1000) * A.leaderServed) * 1000) / Math.max(1, A.othersServed);
      return {
        leaderOnly: { readsPerSec: L.readsPerSec, p50Ms: L.p50Ms, p99Ms: L.p99Ms, leaderCpuUsPerRead: perLeaderServedUs, leaderMessagesPerRead: (L.leaderMessages - (idle.leaderMessages / idle.elapsedMs) * L.elapsedMs) / Math.max(1, L.leaderServed), leaderCores: netL / L.elapsedMs, allMembersCpuUsPerRead: (L.allCpuMs * 1000) / Math.max(1, L.leaderServed + L.othersServed), clientCpuUsPerRead: (L.clientCpuMs * 1000) / Math.max(1, L.leaderServed + L.othersServed) },
        spread: {
          readsPerSec: A.readsPerSec,
          p50Ms: A.p50Ms,
          p99Ms: A.p99Ms,
          leaderServedShare: A.leaderServed / Math.max(1, A.leaderServed + A.othersServed),
          leaderCpuUsPerRead: (netA * 1000) / Math.max(1, A.leaderServed + A.othersServed),
          leaderCpuUsPerFollowerServedRead: perFollowerServedUs,
          /** Peer messages at the leader (sent + received, net of idle heartbeats) per read a follower or learner served. */
          leaderMessagesPerFollowerServedRead: (A.leaderMessages - (idle.leaderMessages / idle.elapsedMs) * A.elapsedMs) / Math.max(1, A.othersServed),
          leaderCores: netA / A.elapsedMs,
          allMembersCpuUsPerRead: (A.allCpuMs * 1000) / Math.max(1, A.leaderServed + A.othersServed),
          clientCpuUsPerRead: (A.clientCpuMs * 1000) / Math.max(1, A.leaderServed + A.othersServed),
        },
        idleLeaderCores: idleRate,
        followerToLeaderCostRatio: perFollowerServedUs / perLeaderServedUs,
      };
    });
    const medOf = <T extends Record<string, number>>(pick: (d: (typeof derived)[number]) => T): T => {
      const keys = Object.keys(pick(derived[0]!)) as (keyof T)[];
      return Object.fromEntries(keys.map((k) => [k, round(median(derived.map((d) => pick(d)[k] as number)), 3)])) as T;
    };
    const out = {
      bench: 'reads',
      voters: 3,
      learners: 2,
      leader,
      term: (st as unknown as { term?: number }).term,
      clients,
      seconds,
      reps,
      machine: machineNote(),
      leaderOnly: medOf((d) => d.leaderOnly),
      spread: medOf((d) => d.spread),
      idleLeaderCores: round(median(derived.map((d) => d.idleLeaderCores)), 3),
      followerToLeaderCostRatio: round(median(derived.map((d) => d.followerToLeaderCostRatio)), 3),
      perRep: derived,
    };
    process.stderr.write(
      `leader-only ${out.leaderOnly.readsPerSec} reads/s, leader ${out.leaderOnly.leaderCpuUsPerRead} µs/read; spread ${out.spread.readsPerSec} reads/s, leader ${out.spread.leaderCpuUsPerFollowerServedRead} µs per follower-served read; ratio ${out.followerToLeaderCostRatio}\n`,
    );
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    await agent?.close();
    await cluster?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
