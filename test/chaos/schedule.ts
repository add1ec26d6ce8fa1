/**
 * The nemesis schedule: which faults, when, for how long, drawn from the seed before the run starts.
 *
 * The schedule is a pure function of (seed, duration, masters), so a seed names the same sequence of
 * faults on every machine. Targets that depend on the run ("the leader", "a random master") are
 * resolved when the fault is injected: `pick` is a fixed random number the executor uses to choose
 * among the candidates of that moment, in id order. Real timing is not deterministic (a fault starts
 * when the previous one is healed), which is fine: the schedule, not the interleaving, is replayable.
 */
import { Rng } from '../sim/prng.ts';

export const faultKinds = [
  /** SIGKILL the leader; restart it after the hold. */
  'kill-leader',
  /** SIGKILL a random member; restart it after the hold. */
  'kill-random',
  /** SIGSTOP the leader for longer than an election timeout, reads sent to it while it sleeps; SIGCONT. */
  'pause-leader',
  /** SIGSTOP a random member; SIGCONT. */
  'pause-random',
  /** Blackhole routes between the leader and every other master (clients still reach it). */
  'isolate-leader',
  /** The leader's switch port down: nobody reaches it, its sockets stay open. */
  'cut-leader',
  /** Masters split into a majority and a minority that cannot talk to each other. */
  'split',
  /** One master's packets to some peers are dropped, the other direction works. */
  'one-way',
  /** Add a spare master as a learner, promote it, remove a voter (the dead full-disk one if any). */
  'membership',
] as const;
export type FaultKind = (typeof faultKinds)[number];

export interface ScheduledFault {
  /** Seconds after the start of the chaos phase. */
  readonly atSec: number;
  readonly kind: FaultKind;
  /** How long the fault lasts before it is healed. */
  readonly holdSec: number;
  /** A random number in [0, 1) that picks the target(s) among the candidates at injection time. */
  readonly pick: number;
}

export interface ScheduleOptions {
  readonly seed: number;
  readonly durationSec: number;
  readonly masters: number;
  /** Spare masters available for membership changes. */
  readonly spares: number;
}

/** Relative weights of the faults drawn at random (membership changes are placed separately). */
const weights: Readonly<Record<Exclude<FaultKind, 'membership'>, number>> = {
  'kill-leader': 3,
  'kill-random': 2,
  'pause-leader': 3,
  'pause-random': 1,
  'isolate-leader': 2,
  'cut-leader': 1,
  split: 2,
  'one-way': 2,
};

/** Quiet time at the start (the workload warms up) and at the end (recovery before the checks). */
export const warmupSec = 3;
export const quietTailSec = 4;
/** Gaps between faults: the group recovers, the workload makes progress. */
const gapSecMin = 1;
const gapSecMax = 4;
const holdSecMin = 1;
const holdSecMax = 5;
/** Faults in one run, at most (a bound on the loop, far above what the durations allow). */
const faultsMax = 10_000;

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

/** The faults of a run, in time order. Membership changes, one per spare, at seeded points of the middle of the run. */
export function makeSchedule(o: ScheduleOptions): ScheduledFault[] {
  const rng = new Rng(o.seed, 0x6e656d);
  const kinds = Object.keys(weights) as Exclude<FaultKind, 'membership'>[];
  const w = kinds.map((k) => weights[k]);
  const end = o.durationSec - quietTailSec;
  const out: ScheduledFault[] = [];
  // Membership changes first, so the random faults do not shift them.
  const membershipAt: number[] = [];
  for (let i = 0; i < o.spares; i++) {
    const lo = (o.durationSec * (i + 1)) / (o.spares + 2);
    membershipAt.push(round1(lo + rng.float() * (o.durationSec / (o.spares + 2)) * 0.5));
  }
  let t = warmupSec;
  for (let i = 0; i < faultsMax; i++) {
    const hold = round1(holdSecMin + rng.float() * (holdSecMax - holdSecMin));
    const kind = kinds[rng.weighted(w)]!;
    const pick = rng.float();
    if (t + hold > end) break;
    out.push({ atSec: round1(t), kind, holdSec: hold, pick });
    t += hold + gapSecMin + rng.float() * (gapSecMax - gapSecMin);
  }
  for (const at of membershipAt) {
    if (at < end) out.push({ atSec: at, kind: 'membership', holdSec: 0, pick: rng.float() });
  }
  return out.sort((a, b) => a.atSec - b.atSec);
}

export function describeFault(f: ScheduledFault): string {
  return `t+${f.atSec.toFixed(1)}s ${f.kind}${f.holdSec > 0 ? ` for ${f.holdSec.toFixed(1)}s` : ''} (pick ${f.pick.toFixed(3)})`;
}

/** Picks one of `items` (already in a stable order) with the fault's random number. */
export function pickOne<T>(items: readonly T[], pick: number): T | undefined {
  if (items.length === 0) return undefined;
  return items[Math.min(items.length - 1, Math.floor(pick * items.length))];
}
