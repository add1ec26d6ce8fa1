import type { RaftConfig } from '../../src/raft/raft.ts';
import { Rng, Stream } from './prng.ts';

export type BugName = 'commitPreviousTermByCounting' | 'skipUpToDateCheck';
export const BUG_NAMES: readonly BugName[] = ['commitPreviousTermByCounting', 'skipUpToDateCheck'];

/** Fault-schedule flavours. 'default' mixes everything; the others are tuned to provoke one kind of bug. */
export type Profile = 'default' | 'figure8' | 'stale-vote' | 'spurious-close';
export const PROFILES: readonly Profile[] = ['default', 'figure8', 'stale-vote', 'spurious-close'];

/** Where nodes keep their log: MemoryStorage, or FileLogStorage on a simulated faulty disk. */
export type StorageMode = 'memory' | 'disk';

/** What the user chose; everything else is derived from the seed. */
export interface SimOptions {
  readonly seed: number;
  readonly nodes?: number;
  readonly lease?: boolean;
  readonly bug?: BugName;
  readonly profile?: Profile;
  /** Override the length of the fault phase (virtual ms). */
  readonly faultMs?: number;
  /** Force the storage mode (else drawn from the seed: disk for about one seed in three). */
  readonly storage?: StorageMode;
}

/** The complete, derived configuration of one run. Times are virtual milliseconds. */
export interface SimConfig {
  readonly seed: number;
  readonly options: SimOptions;
  readonly profile: Profile;
  readonly nodes: number;
  /** Extra nodes the membership operator may add over the run. */
  readonly maxAddedNodes: number;
  readonly raft: {
    readonly electionTicks: number;
    readonly heartbeatTicks: number;
    readonly preVote: boolean;
    readonly checkQuorum: boolean;
    readonly readMode: 'readIndex' | 'lease';
    readonly leaseDriftTicks: number;
    readonly maxEntriesPerMsg: number;
    readonly maxInflightMsgs: number;
    readonly maxSnapshotChunkBytes: number;
    readonly maxInflightSnapshotChunks: number;
    readonly maxCommittedBytesPerReady: number;
    readonly bugs: NonNullable<RaftConfig['bugs']>;
  };
  readonly tickMs: number;
  /** Max relative clock drift of a node's tick interval. */
  readonly tickDrift: number;
  readonly faultMs: number;
  /** Bound on the liveness phase after everything is healed. */
  readonly livenessMs: number;
  /** A guard against runaway runs (message storms, loops): far above what a healthy run needs. */
  readonly maxEvents: number;
  readonly net: {
    readonly minDelayMs: number;
    readonly maxDelayMs: number;
    readonly loss: number;
    readonly duplicate: number;
    /** Probability of a long delay (reorders messages heavily). */
    readonly longDelay: number;
    readonly longDelayMaxMs: number;
  };
  readonly disk: { readonly minFsyncMs: number; readonly maxFsyncMs: number; readonly slowFsync: number };
  /** Durable storage and the faults of the simulated disk (disk mode only). */
  readonly storage: {
    readonly mode: StorageMode;
    readonly segmentBytes: number;
    /** Chance that a crash keeps a torn part of the unsynced writes (else it loses them all). */
    readonly torn: number;
    /** Chance per nemesis round to arm an I/O fault (ENOSPC or EIO on a write, EIO on an fsync) on a live node. */
    readonly ioFault: number;
    readonly maxIoFaults: number;
    /** Chance per nemesis round to flip a bit at rest in a node's older segment or snapshot (then it restarts). */
    readonly rot: number;
    /** Nodes that may be corrupted over the run: at most a minority of the initial voters. */
    readonly maxCorrupt: number;
  };
  readonly nemesis: {
    /** Mean interval between fault actions. */
    readonly intervalMs: number;
    readonly crash: number;
    readonly crashLeader: number;
    readonly partition: number;
    readonly spuriousClose: number;
    readonly transfer: number;
    /** Chance to crash a leader within a few ms of it appending new entries (before they replicate). */
    readonly crashOnAppend: number;
    /** Chance to crash a leader within a few ms of its commit index advancing. */
    readonly crashOnCommit: number;
    /** Chance to cut a leader off from everyone within a few ms of it appending new entries. */
    readonly isolateOnAppend: number;
    readonly minDownMs: number;
    readonly maxDownMs: number;
    readonly minPartitionMs: number;
    readonly maxPartitionMs: number;
  };
  readonly membership: { readonly intervalMs: number; readonly enabled: boolean };
  readonly snapshots: { readonly every: number; readonly keep: number };
  readonly clients: {
    readonly count: number;
    readonly keys: number;
    readonly thinkMaxMs: number;
    readonly opTimeoutMs: number;
    readonly retryMs: number;
    readonly readRatio: number;
    /** Metadata clients (namespace commands through the log), besides the key-value ones. */
    readonly metaCount: number;
  };
  readonly lincheckBudgetMs: number;
}

export function deriveConfig(opts: SimOptions): SimConfig {
  const r = new Rng(opts.seed, Stream.config);
  const profile = opts.profile ?? 'default';
  const nodes = opts.nodes ?? (r.chance(0.6) || opts.profile === 'figure8' ? 3 : 5);
  const lease = opts.lease ?? r.chance(0.3);
  const bugs: NonNullable<RaftConfig['bugs']> = opts.bug === undefined ? {} : { [opts.bug]: true };
  const electionTicks = r.pick([8, 10, 10, 12]);
  const heartbeatTicks = r.chance(0.7) ? 1 : 2;
  const checkQuorum = lease ? true : r.chance(0.85);
  const base: Omit<SimConfig, 'storage'> = {
    seed: opts.seed,
    options: opts,
    profile,
    nodes,
    maxAddedNodes: r.range(1, 3),
    raft: {
      electionTicks,
      heartbeatTicks,
      preVote: r.chance(0.8),
      checkQuorum,
      readMode: lease ? 'lease' : 'readIndex',
      leaseDriftTicks: 2,
      maxEntriesPerMsg: r.pick([1, 2, 4, 16, 64]),
      maxInflightMsgs: r.pick([1, 2, 4, 16]),
      maxSnapshotChunkBytes: r.pick([512, 1024, 2048, 4096]),
      maxInflightSnapshotChunks: r.pick([1, 2, 4]),
      maxCommittedBytesPerReady: r.pick([256, 4096, 1 << 20]),
      bugs,
    },
    tickMs: 10,
    tickDrift: r.pick([0, 0.005, 0.01, 0.02]),
    faultMs: opts.faultMs ?? r.pick([4000, 8000, 15000, 25000]),
    livenessMs: 10000,
    maxEvents: 0,
    net: {
      minDelayMs: 0.2,
      maxDelayMs: r.pick([1, 2, 5]),
      loss: r.pick([0, 0.01, 0.03, 0.08]),
      duplicate: r.pick([0, 0.01, 0.03]),
      longDelay: r.pick([0, 0.005, 0.02]),
      longDelayMaxMs: r.pick([50, 200, 600]),
    },
    disk: { minFsyncMs: 0.1, maxFsyncMs: r.pick([1, 3, 8]), slowFsync: r.pick([0, 0.02]) },
    nemesis: {
      intervalMs: r.pick([100, 200, 400]),
      crash: r.pick([0.1, 0.2, 0.3]),
      crashLeader: 0.5,
      partition: r.pick([0.1, 0.25, 0.4]),
      spuriousClose: 0.1,
      transfer: r.pick([0, 0.05, 0.1]),
      crashOnAppend: r.pick([0, 0, 0.002, 0.01]),
      crashOnCommit: r.pick([0, 0, 0.002, 0.01]),
      isolateOnAppend: r.pick([0, 0, 0.002, 0.01]),
      minDownMs: 20,
      maxDownMs: r.pick([300, 1000, 2000]),
      minPartitionMs: 50,
      maxPartitionMs: r.pick([300, 1000, 2000]),
    },
    membership: { intervalMs: r.pick([150, 300, 600]), enabled: r.chance(0.75) },
    snapshots: { every: r.pick([8, 16, 32]), keep: r.pick([0, 2, 8]) },
    clients: {
      count: r.range(2, 5),
      keys: r.range(2, 4),
      thinkMaxMs: r.pick([2, 10, 30]),
      opTimeoutMs: r.pick([300, 800, 2000]),
      retryMs: r.pick([50, 150, 300]),
      readRatio: r.pick([0.3, 0.5, 0.6]),
      // Not drawn from the configuration stream, so adding them left every other parameter of a seed as it was.
      metaCount: 2,
    },
    lincheckBudgetMs: 2000,
  };
  const c = applyProfile({ ...base, storage: deriveStorage(opts, nodes) }, r);
  return { ...c, maxEvents: Math.round((c.faultMs + c.livenessMs) * 20 * (c.nodes + c.maxAddedNodes)) };
}

/** Storage mode and disk faults, from their own stream (so memory-mode runs are unaffected by it). */
function deriveStorage(opts: SimOptions, nodes: number): SimConfig['storage'] {
  const r = new Rng(opts.seed, Stream.storage);
  const drawn: StorageMode = r.chance(1 / 3) ? 'disk' : 'memory';
  const mode = opts.storage ?? drawn;
  const faulty = r.chance(0.8);
  return {
    mode,
    segmentBytes: r.pick([1024, 4096, 16384]),
    torn: r.pick([0.3, 0.5, 0.8]),
    ioFault: faulty ? r.pick([0.01, 0.03, 0.06]) : 0,
    maxIoFaults: r.range(1, 4),
    rot: faulty ? r.pick([0.005, 0.02, 0.05]) : 0,
    maxCorrupt: faulty ? r.range(0, Math.floor((nodes - 1) / 2)) : 0,
  };
}

function applyProfile(c: SimConfig, r: Rng): SimConfig {
  switch (c.profile) {
    case 'default':
      return c;
    case 'figure8':
      // Raft paper, figure 8. Leaders are cut off right after appending (so their entries
      // stay on their own disk) and crash right after their commit index moves; entries go
      // one per message. A leader then catches a follower up on entries of an earlier term
      // one at a time, and a node holding a later-term entry at the same index can still win
      // an election unless the leader waits for an entry of its own term.
      return {
        ...c,
        raft: { ...c.raft, maxEntriesPerMsg: 1, maxInflightMsgs: r.pick([1, 2]), preVote: r.chance(0.3), checkQuorum: false, readMode: 'readIndex' },
        net: { ...c.net, loss: r.pick([0, 0.02]), duplicate: 0, maxDelayMs: r.pick([2, 3]), longDelay: 0 },
        disk: { minFsyncMs: 0.1, maxFsyncMs: r.pick([1, 2]), slowFsync: 0 },
        nemesis: {
          ...c.nemesis,
          intervalMs: 50,
          crash: 0.05,
          crashLeader: 0.8,
          partition: 0.1,
          spuriousClose: 0,
          crashOnAppend: 0,
          crashOnCommit: r.pick([0.3, 0.5]),
          isolateOnAppend: r.pick([0.3, 0.5]),
          minDownMs: 10,
          maxDownMs: 150,
          maxPartitionMs: 200,
          transfer: 0,
        },
        membership: { ...c.membership, enabled: false },
        snapshots: { every: 1000, keep: 0 },
        clients: { ...c.clients, count: 4, thinkMaxMs: 2, readRatio: 0.2 },
      };
    case 'spurious-close':
      // A healthy group whose followers keep being told that the leader's connection
      // closed although the leader is fine: it must stay leader (pre-vote, check-quorum).
      return {
        ...c,
        raft: { ...c.raft, preVote: true, checkQuorum: true },
        net: { ...c.net, loss: 0, duplicate: 0, longDelay: 0 },
        disk: { ...c.disk, slowFsync: 0 },
        nemesis: { ...c.nemesis, intervalMs: 30, crash: 0, partition: 0, spuriousClose: 1, transfer: 0, crashOnAppend: 0, crashOnCommit: 0, isolateOnAppend: 0 },
        membership: { ...c.membership, enabled: false },
        storage: { ...c.storage, ioFault: 0, rot: 0, maxCorrupt: 0 },
      };
    case 'stale-vote':
      // Nodes miss entries while partitioned, then stand for election when it heals.
      return {
        ...c,
        raft: { ...c.raft, preVote: r.chance(0.3), checkQuorum: false, readMode: 'readIndex' },
        nemesis: { ...c.nemesis, intervalMs: 100, crash: 0.2, crashLeader: 0.7, partition: 0.6, minDownMs: 10, maxDownMs: 300, maxPartitionMs: 500, transfer: 0 },
        membership: { ...c.membership, enabled: false },
        clients: { ...c.clients, count: 4, thinkMaxMs: 2, readRatio: 0.2 },
      };
  }
}

/** The command line that replays this run exactly. */
export function replayCommand(opts: SimOptions): string {
  const parts = ['npm run sim --', '--seed', String(opts.seed)];
  if (opts.nodes !== undefined) parts.push('--nodes', String(opts.nodes));
  if (opts.lease === true) parts.push('--lease');
  if (opts.lease === false) parts.push('--no-lease');
  if (opts.bug !== undefined) parts.push('--bug', opts.bug);
  if (opts.profile !== undefined && opts.profile !== 'default') parts.push('--profile', opts.profile);
  if (opts.faultMs !== undefined) parts.push('--fault-ms', String(opts.faultMs));
  if (opts.storage !== undefined) parts.push(`--${opts.storage}`);
  return parts.join(' ');
}

export function describeConfig(c: SimConfig): string {
  const r = c.raft;
  return [
    `seed=${c.seed} storage=${c.storage.mode} profile=${c.profile} nodes=${c.nodes} readMode=${r.readMode} preVote=${r.preVote} checkQuorum=${r.checkQuorum}`,
    `election=${r.electionTicks} heartbeat=${r.heartbeatTicks} entriesPerMsg=${r.maxEntriesPerMsg} inflight=${r.maxInflightMsgs} chunk=${r.maxSnapshotChunkBytes}`,
    `loss=${c.net.loss} dup=${c.net.duplicate} longDelay=${c.net.longDelay} crash=${c.nemesis.crash} partition=${c.nemesis.partition} membership=${c.membership.enabled}`,
    ...(c.storage.mode === 'disk'
      ? [
          `segmentBytes=${c.storage.segmentBytes} torn=${c.storage.torn} ioFault=${c.storage.ioFault}x${c.storage.maxIoFaults} rot=${c.storage.rot} maxCorrupt=${c.storage.maxCorrupt}`,
        ]
      : []),
    `snapshotEvery=${c.snapshots.every} keep=${c.snapshots.keep} clients=${c.clients.count} keys=${c.clients.keys}${Object.keys(r.bugs).length > 0 ? ` bugs=${Object.keys(r.bugs).join(',')}` : ''}`,
  ].join('\n');
}
