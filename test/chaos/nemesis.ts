/**
 * The nemesis: injects the scheduled faults one at a time (inject, hold, heal, let the group
 * recover), resolving each fault's target at that moment. It never takes out more voters than the
 * group can lose (at most (V-1)/2, counting those already down), and replaces a full-disk master
 * that died by a spare (learner, promoted, then the dead one removed), so the group keeps a working
 * majority through the run.
 */
import { sleep } from '../integration/harness.ts';
import { Rng } from '../sim/prng.ts';
import { findLeader, type ChaosMaster } from './masters.ts';
import type { Network } from './network.ts';
import { describeFault, pickOne, type FaultKind, type ScheduledFault } from './schedule.ts';
import type { Workload } from './workload.ts';

export interface FaultRecord {
  /** Seconds after the start of the chaos phase, when it was injected. */
  readonly atSec: number;
  readonly kind: FaultKind;
  readonly targets: readonly number[];
  readonly holdSec: number;
  readonly injected: boolean;
  readonly note?: string;
}

export interface NemesisContext {
  readonly seed: number;
  readonly masters: readonly ChaosMaster[];
  readonly network: Network;
  readonly workload: Workload;
  readonly adminToken: string;
  readonly log: (line: string) => void;
  /** ms since the run started. */
  readonly clock: () => number;
  /** Rewrites a master's configuration with these members in `[[peers]]` (plus itself). */
  readonly writeConfig: (id: number, peerIds: readonly number[]) => Promise<void>;
}

const leaderWaitMs = 10_000;
const membershipStepMs = 30_000;
/** A learner is promoted once the leader streams entries to it and it is this close behind. */
const promoteLagEntries = 200;

export class Nemesis {
  readonly faults: FaultRecord[] = [];
  /** Ids in the group (voters or learners) as far as the nemesis knows; founders at first. */
  private readonly members = new Set<number>();
  private voters = new Set<number>();
  private chaosStartMs = 0;

  constructor(private readonly c: NemesisContext) {
    for (const m of c.masters) if (m.founder) {
      this.members.add(m.id);
      this.voters.add(m.id);
    }
  }

  private master(id: number): ChaosMaster {
    return this.c.masters.find((m) => m.id === id)!;
  }

  private now(): number {
    return (this.c.clock() - this.chaosStartMs) / 1000;
  }

  /** The full-disk master once it has exited on its own (it is not restarted). */
  private diskDead(m: ChaosMaster): boolean {
    return m.smallDisk && !m.running && m.unexpectedExits().length > 0;
  }

  /** Members that may be restarted (not removed, not dead of a full disk). */
  restartable(): ChaosMaster[] {
    return this.c.masters.filter((m) => this.members.has(m.id) && !m.removed && !this.diskDead(m));
  }

  /** Voters that are not up right now. */
  private impairedVoters(): number {
    return [...this.voters].filter((id) => !this.master(id).up).length;
  }

  /** How many more voters may be taken out now. */
  private allowance(): number {
    return Math.floor((this.voters.size - 1) / 2) - this.impairedVoters();
  }

  private record(f: ScheduledFault, targets: number[], injected: boolean, note?: string, atSec = this.now()): void {
    const r: FaultRecord = { atSec: Math.round(atSec * 10) / 10, kind: f.kind, targets, holdSec: f.holdSec, injected, ...(note === undefined ? {} : { note }) };
    this.faults.push(r);
    this.c.log(`nemesis: ${injected ? '' : 'skipped '}${f.kind} ${targets.length > 0 ? `on ${targets.join(',')} ` : ''}at t+${r.atSec}s${note === undefined ? '' : ` (${note})`}`);
  }

  private async leader(): Promise<ChaosMaster | undefined> {
    const deadline = Date.now() + leaderWaitMs;
    while (Date.now() < deadline) {
      const l = await findLeader(this.c.masters);
      if (l !== undefined) {
        this.voters = new Set(l.status.conf.voters);
        return l.leader;
      }
      await sleep(100);
    }
    return undefined;
  }

  /** Runs the schedule until `endSec` (seconds after `startMs`); every step bounded in time. */
  async run(schedule: readonly ScheduledFault[], startMs: number, endSec: number): Promise<void> {
    this.chaosStartMs = startMs;
    for (const f of schedule) {
      if (f.atSec >= endSec) break;
      const wait = f.atSec - this.now();
      if (wait > 0) await sleep(wait * 1000);
      if (this.now() >= endSec) break;
      await this.replaceDeadDisk(f);
      if (this.now() + f.holdSec >= endSec) break;
      try {
        await this.inject(f);
      } catch (e) {
        this.record(f, [], false, `error: ${(e as Error).message}`);
      }
      await this.healAll();
      await this.leader();
    }
  }

  /** Before a fault: a full-disk voter that died is replaced by a spare, if one is left. */
  private async replaceDeadDisk(f: ScheduledFault): Promise<void> {
    const dead = this.c.masters.find((m) => this.diskDead(m) && this.voters.has(m.id));
    if (dead === undefined || f.kind === 'membership') return;
    if (!this.c.masters.some((m) => !m.founder && !this.members.has(m.id))) return;
    await this.membership({ ...f, kind: 'membership', holdSec: 0 });
  }

  private async inject(f: ScheduledFault): Promise<void> {
    this.c.log(`nemesis: ${describeFault(f)}`);
    switch (f.kind) {
      case 'kill-leader':
      case 'kill-random': {
        const target = f.kind === 'kill-leader' ? await this.leader() : pickOne(this.restartable().filter((m) => m.up), f.pick);
        if (target === undefined) return this.record(f, [], false, 'no target');
        if (this.voters.has(target.id) && this.allowance() < 1) return this.record(f, [target.id], false, 'would leave no majority');
        await target.kill9();
        this.record(f, [target.id], true);
        await sleep(f.holdSec * 1000);
        await this.restart(target);
        return;
      }
      case 'pause-leader':
      case 'pause-random': {
        const target = f.kind === 'pause-leader' ? await this.leader() : pickOne(this.restartable().filter((m) => m.up), f.pick);
        if (target === undefined) return this.record(f, [], false, 'no target');
        if (this.voters.has(target.id) && this.allowance() < 1) return this.record(f, [target.id], false, 'would leave no majority');
        target.pause();
        this.record(f, [target.id], true);
        // Reads sent to the sleeping master halfway (queued in its socket, served when it wakes) and right after it resumes.
        await sleep((f.holdSec * 1000) / 2);
        const probes = this.c.workload.probe(target.clientAddress, f.holdSec * 1000 + 5000);
        await sleep((f.holdSec * 1000) / 2);
        target.resume();
        probes.push(...this.c.workload.probe(target.clientAddress, 5000));
        await Promise.all(probes);
        return;
      }
      case 'isolate-leader':
      case 'cut-leader': {
        const target = await this.leader();
        if (target === undefined) return this.record(f, [], false, 'no target');
        if (this.allowance() < 1) return this.record(f, [target.id], false, 'would leave no majority');
        const others = this.restartable()
          .filter((m) => m.id !== target.id)
          .map((m) => m.id);
        if (f.kind === 'isolate-leader') await this.c.network.split([target.id], others);
        else await this.c.network.cut(target.id);
        this.record(f, [target.id], true);
        await sleep((f.holdSec * 1000) / 2);
        // The cut-off leader still hears from clients (isolate-leader): it must not answer reads from its own state.
        const probes = f.kind === 'isolate-leader' ? this.c.workload.probe(target.clientAddress, 3000) : [];
        await sleep((f.holdSec * 1000) / 2);
        await Promise.all(probes);
        return;
      }
      case 'split': {
        const allowed = this.allowance();
        if (allowed < 1) return this.record(f, [], false, 'would leave no majority');
        const rng = new Rng(this.c.seed, Math.floor(f.pick * 2 ** 32));
        const voters = rng.shuffle(this.restartable().filter((m) => this.voters.has(m.id) && m.up).map((m) => m.id).sort((a, b) => a - b));
        const minority = voters.slice(0, 1 + rng.intBelow(allowed));
        const majority = this.restartable()
          .map((m) => m.id)
          .filter((id) => !minority.includes(id));
        await this.c.network.split(minority, majority);
        this.record(f, minority, true, `minority ${minority.join(',')} | majority ${majority.join(',')}`);
        await sleep(f.holdSec * 1000);
        return;
      }
      case 'one-way': {
        const up = this.restartable().filter((m) => m.up);
        const from = pickOne(up, f.pick);
        if (from === undefined) return this.record(f, [], false, 'no target');
        if (this.voters.has(from.id) && this.allowance() < 1) return this.record(f, [from.id], false, 'would leave no majority');
        const rng = new Rng(this.c.seed, Math.floor(f.pick * 2 ** 32));
        const peers = rng.shuffle(up.filter((m) => m !== from).map((m) => m.id));
        const to = peers.slice(0, Math.max(1, Math.ceil(peers.length / 2)));
        for (const id of to) await this.c.network.dropOneWay(from.id, id);
        this.record(f, [from.id], true, `packets from ${from.id} to ${to.join(',')} dropped`);
        await sleep(f.holdSec * 1000);
        return;
      }
      case 'membership':
        return this.membership(f);
    }
  }

  private async restart(m: ChaosMaster): Promise<void> {
    if (m.removed || m.running) return;
    try {
      await m.start();
    } catch (e) {
      this.c.log(`nemesis: master ${m.id} did not restart: ${(e as Error).message.slice(0, 300)}`);
    }
  }

  /** SIGCONT, networks healed, every member that should run restarted. */
  async healAll(): Promise<string[]> {
    for (const m of this.c.masters) m.resume();
    const problems = await this.c.network.healAll();
    for (const m of this.restartable()) if (!m.running) await this.restart(m);
    return problems;
  }

  /** An admin operation on the leader, retried (another change in progress, a leader change) until `deadline`. */
  private async adminOnLeader(op: string, body: Record<string, unknown>, deadline: number, done: (status: number, reply: Record<string, unknown>) => boolean): Promise<string | undefined> {
    let last = '';
    while (Date.now() < deadline) {
      const leader = await this.leader();
      if (leader !== undefined) {
        const r = await leader.admin(op, body, this.c.adminToken).catch((e: unknown) => ({ status: 0, body: { error: String(e) } as Record<string, unknown> }));
        if (r.status === 200 || done(r.status, r.body)) return undefined;
        last = `${r.status} ${String(r.body['error'] ?? '')} ${String(r.body['message'] ?? '')}`;
      }
      await sleep(300);
    }
    return `${op}: ${last}`;
  }

  /** A spare joins as a learner, catches up, is promoted; then a voter leaves (the dead full-disk one, or one picked). */
  private async membership(f: ScheduledFault): Promise<void> {
    const spare = this.c.masters.find((m) => !m.founder && !this.members.has(m.id) && !m.removed);
    if (spare === undefined) return this.record(f, [], false, 'no spare left');
    const startedAt = this.now();
    const leader0 = await findLeader(this.c.masters);
    const deadline = Date.now() + membershipStepMs;
    try {
      // As an operator would: the new master's configuration lists the current members and itself.
      await this.c.writeConfig(spare.id, leader0?.status.members.map((m) => m.id) ?? [...this.members]);
      await spare.start();
    } catch (e) {
      return this.record(f, [spare.id], false, `spare did not start: ${(e as Error).message.slice(0, 200)}`, startedAt);
    }
    const addErr = await this.adminOnLeader('add-learner', spare.addresses(), deadline, (_s, b) => b['error'] === 'ERR_ALREADY_MEMBER');
    if (addErr !== undefined) {
      await spare.kill9();
      return this.record(f, [spare.id], false, `add-learner failed: ${addErr}`, startedAt);
    }
    this.members.add(spare.id);
    // Caught up: the leader replicates to it and it is close behind.
    const caughtUp = await (async () => {
      while (Date.now() < deadline + membershipStepMs) {
        const l = await findLeader(this.c.masters);
        const p = l?.status.progress.find((x) => x.id === spare.id);
        if (p !== undefined && p.state === 'replicate' && p.lag <= promoteLagEntries) return true;
        await sleep(200);
      }
      return false;
    })();
    if (!caughtUp) return this.record(f, [spare.id], true, `learner ${spare.id} added but did not catch up`, startedAt);
    const promoteErr = await this.adminOnLeader('promote', { id: spare.id }, Date.now() + membershipStepMs, (_s, b) => b['error'] === 'ERR_NOT_LEARNER');
    if (promoteErr !== undefined) return this.record(f, [spare.id], true, `learner ${spare.id} added, promote failed: ${promoteErr}`, startedAt);
    this.voters.add(spare.id);
    const leader = await this.leader();
    const dead = this.c.masters.find((m) => this.diskDead(m) && this.voters.has(m.id));
    // The full-disk master stays (its disk is to fill up) unless it died of it.
    const candidates = [...this.voters].filter((id) => id !== spare.id && id !== leader?.id && !this.master(id).smallDisk).sort((a, b) => a - b);
    const victim = dead?.id ?? pickOne(candidates, f.pick);
    if (victim === undefined) return this.record(f, [spare.id], true, `learner ${spare.id} promoted, no voter to remove`, startedAt);
    const removeErr = await this.adminOnLeader('remove', { id: victim }, Date.now() + membershipStepMs, () => false);
    if (removeErr !== undefined) return this.record(f, [spare.id, victim], true, `${spare.id} promoted, remove ${victim} failed: ${removeErr}`, startedAt);
    const v = this.master(victim);
    v.removed = true;
    this.members.delete(victim);
    this.voters.delete(victim);
    await v.kill9();
    this.record(f, [spare.id, victim], true, `${spare.id} added and promoted, ${victim} removed${dead !== undefined ? ' (its disk was full)' : ''}`, startedAt);
  }

  /** Members the run ends with (for the convergence checks). */
  finalMembers(): ChaosMaster[] {
    return this.restartable();
  }
}
