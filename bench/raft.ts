// Raft core benchmark: a 3-node and a 5-node cluster driven through the core alone
// (MemoryStorage, in-memory message passing, one process, every Ready persisted at
// once, no faults; the leader ticks only to settle the end of a repetition). Measures
// committed entries per second and process CPU time per committed entry for single
// proposals, batches and a pipeline.
//
//   node --import tsx bench/raft.ts [--quick] [--reps R] [--entries N]
//
// Stdout carries exactly one JSON object (or, with --help, the usage); progress lines
// and errors go to stderr. Exit status: 0 ok, 1 failed run, 2 bad arguments.
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { MemoryStorage, RaftNode, seededRandom } from '../src/raft/index.ts';
import type { ConfState, Message, NodeId, Ready } from '../src/raft/index.ts';

// ---------------------------------------------------------------- parameters

type Mode = 'single' | 'batch' | 'pipelined';

const MODES: readonly Mode[] = ['single', 'batch', 'pipelined'];
const CLUSTER_SIZES: readonly number[] = [3, 5];
const ENTRY_BYTES = 128;
const BATCH_SIZE = 64;
const PIPELINE_DEPTH = 256;

interface Settings {
  readonly quick: boolean;
  readonly reps: number;
  /** Entries per repetition, per mode. */
  readonly entries: Readonly<Record<Mode, number>>;
  readonly warmupEntries: number;
  readonly snapshotEvery: number;
}

const DEFAULTS = {
  reps: 5,
  entries: { single: 50_000, batch: 50_000, pipelined: 50_000 },
  warmupEntries: 10_000,
  snapshotEvery: 10_000,
} as const;

// A smoke run: small enough for a test, but it still takes snapshots and compacts.
const QUICK = {
  reps: 3,
  entries: { single: 200, batch: 1_000, pipelined: 1_000 },
  warmupEntries: 200,
  snapshotEvery: 500,
} as const;

const MAX_SETTLE_TICKS = 3;
const MAX_REPS = 1_000;
const MAX_ENTRIES = 10_000_000;

const USAGE = `usage: node --import tsx bench/raft.ts [--quick] [--reps R] [--entries N]
  --quick      small smoke run (${QUICK.reps} repetitions, ${QUICK.entries.single}/${QUICK.entries.batch}/${QUICK.entries.pipelined} entries for single/batch/pipelined)
  --reps R     repetitions per run, 1..${MAX_REPS} (default ${DEFAULTS.reps})
  --entries N  entries per repetition for every mode, 1..${MAX_ENTRIES}
               (default ${DEFAULTS.entries.single} for single, ${DEFAULTS.entries.batch} for batch and pipelined)
  --help       print this text`;

class UsageError extends Error {}

function parsePositiveInt(flag: string, raw: string | undefined, max: number): number {
  if (raw === undefined || raw === '' || raw.startsWith('--')) throw new UsageError(`${flag} needs a value`);
  if (!/^[0-9]+$/.test(raw)) throw new UsageError(`${flag} must be a positive integer, got '${raw}'`);
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1 || n > max) throw new UsageError(`${flag} must be between 1 and ${max}, got ${raw}`);
  return n;
}

/** Returns undefined when --help was asked for. */
function parseArgs(argv: readonly string[]): Settings | undefined {
  let quick = false;
  let reps: number | undefined;
  let entries: number | undefined;
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith('--') && eq > 0 ? arg.slice(eq + 1) : undefined;
    if (flag === '--help' || flag === '-h') return undefined;
    if (seen.has(flag)) throw new UsageError(`${flag} given more than once`);
    switch (flag) {
      case '--quick':
        if (inline !== undefined) throw new UsageError('--quick takes no value');
        quick = true;
        break;
      case '--reps':
        reps = parsePositiveInt('--reps', inline ?? argv[++i], MAX_REPS);
        break;
      case '--entries':
        entries = parsePositiveInt('--entries', inline ?? argv[++i], MAX_ENTRIES);
        break;
      default:
        throw new UsageError(`unknown argument '${arg}'`);
    }
    seen.add(flag);
  }
  const base = quick ? QUICK : DEFAULTS;
  return {
    quick,
    reps: reps ?? base.reps,
    entries: entries === undefined ? { ...base.entries } : { single: entries, batch: entries, pipelined: entries },
    warmupEntries: base.warmupEntries,
    snapshotEvery: base.snapshotEvery,
  };
}

// ---------------------------------------------------------------- cluster driver

const EMPTY = new Uint8Array(0);

/** A payload of ENTRY_BYTES bytes whose first four bytes are its sequence number. */
function payload(seq: number): Uint8Array {
  const data = new Uint8Array(ENTRY_BYTES);
  for (let i = 4; i < ENTRY_BYTES; i++) data[i] = (seq + i) & 0xff;
  new DataView(data.buffer).setUint32(0, seq, true);
  return data;
}

function payloadSeq(data: Uint8Array): number {
  return (data[0]! | (data[1]! << 8) | (data[2]! << 16) | (data[3]! << 24)) >>> 0;
}

class BenchNode {
  readonly node: RaftNode;
  readonly storage: MemoryStorage;
  /** Application entries applied (the leader's no-op is not counted). */
  appliedCount = 0;
  appliedIndex = 0;
  snapshotIndex = 0;
  compactions = 0;

  constructor(
    readonly id: NodeId,
    private readonly conf: ConfState,
    private readonly snapshotEvery: number,
  ) {
    this.storage = new MemoryStorage(conf);
    this.node = new RaftNode({ id, storage: this.storage, random: seededRandom(0x9e3779b9 ^ id) });
  }

  /** Persists, sends, applies and advances one Ready (the contract of types.ts, with a disk that is instantly durable). */
  handleReady(rd: Ready, send: (m: Message) => void): void {
    if (rd.snapshot !== undefined) {
      // A fault-free run never needs one, and entries it covers would be missing from the count.
      throw new Error(`node ${this.id} was sent a snapshot at index ${rd.snapshot.metadata.index}`);
    }
    for (const m of rd.messagesNow) send(m);
    this.storage.append(rd.entries);
    if (rd.hardState !== undefined) this.storage.setHardState(rd.hardState);
    for (const m of rd.messages) send(m);
    const last = rd.entries[rd.entries.length - 1];
    if (last !== undefined) this.node.logPersisted(last.index, last.term);
    for (const e of rd.committedEntries) {
      if (e.index !== this.appliedIndex + 1) {
        throw new Error(`node ${this.id} applied index ${e.index} after ${this.appliedIndex}`);
      }
      this.appliedIndex = e.index;
      if (e.type !== 'normal' || e.data.byteLength === 0) continue;
      const seq = payloadSeq(e.data);
      if (seq !== this.appliedCount) throw new Error(`node ${this.id} applied proposal ${seq}, expected ${this.appliedCount}`);
      this.appliedCount++;
    }
    this.node.advance(rd);
    if (this.appliedIndex - this.snapshotIndex >= this.snapshotEvery) this.compact();
  }

  /** Takes an (empty) state-machine snapshot at the applied index and drops the log before it. */
  private compact(): void {
    const index = this.appliedIndex;
    this.storage.createSnapshot(index, this.conf, EMPTY);
    this.storage.compact(index);
    this.snapshotIndex = index;
    this.compactions++;
  }
}

class BenchCluster {
  readonly nodes: BenchNode[] = [];
  private readonly byId = new Map<NodeId, BenchNode>();
  private queue: Message[] = [];
  private spare: Message[] = [];
  messages = 0;
  readies = 0;
  private readonly send = (m: Message): void => {
    this.queue.push(m);
    this.messages++;
  };

  constructor(size: number, snapshotEvery: number) {
    const voters = Array.from({ length: size }, (_, i) => i + 1);
    const conf: ConfState = { voters, votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false };
    for (const id of voters) {
      const n = new BenchNode(id, conf, snapshotEvery);
      this.nodes.push(n);
      this.byId.set(id, n);
    }
  }

  /**
   * One round: handle every pending Ready, then deliver every message queued so far.
   * Returns false when there was nothing to do.
   */
  pump(): boolean {
    let any = false;
    for (const n of this.nodes) {
      if (!n.node.hasReady()) continue;
      any = true;
      this.readies++;
      n.handleReady(n.node.ready(), this.send);
    }
    if (this.queue.length === 0) return any;
    const batch = this.queue;
    this.queue = this.spare;
    for (const m of batch) {
      const target = this.byId.get(m.to);
      if (target === undefined) throw new Error(`message to unknown node ${m.to}`);
      target.node.step(m);
    }
    batch.length = 0;
    this.spare = batch;
    return true;
  }

  runUntil(done: () => boolean, what: string): void {
    while (!done()) {
      if (!this.pump()) throw new Error(`cluster went quiet before ${what}`);
    }
  }

  drain(): void {
    for (let i = 0; this.pump(); i++) {
      if (i > 1_000_000) throw new Error('cluster does not quiesce');
    }
  }

  /**
   * Drains, then lets the leader send heartbeats until every follower has applied what
   * the leader applied. A follower whose in-flight window was full when the commit index
   * last advanced learns the new commit index only from the next append or heartbeat.
   * Returns the number of leader ticks needed (bounded; checkConsistent judges the result).
   */
  settle(leader: BenchNode): number {
    this.drain();
    let ticks = 0;
    while (ticks < MAX_SETTLE_TICKS && this.nodes.some((n) => n.appliedIndex !== leader.appliedIndex)) {
      leader.node.tick();
      ticks++;
      this.drain();
    }
    return ticks;
  }

  elect(id: NodeId): BenchNode {
    const leader = this.byId.get(id);
    if (leader === undefined) throw new Error(`no node ${id}`);
    leader.node.campaign();
    this.drain();
    for (const n of this.nodes) {
      const s = n.node.status();
      if (s.leader !== id) throw new Error(`after the election node ${n.id} follows ${s.leader}, not ${id}`);
    }
    if (leader.node.status().role !== 'leader') throw new Error(`node ${id} did not become leader`);
    return leader;
  }

  /** Every node applied exactly `expected` application entries and the same log prefix. */
  checkConsistent(expected: number): void {
    const counts = this.nodes.map((n) => n.appliedCount);
    const indexes = this.nodes.map((n) => n.appliedIndex);
    if (counts.some((c) => c !== expected) || indexes.some((x) => x !== indexes[0])) {
      throw new Error(
        `nodes disagree: expected ${expected} applied entries each, got counts [${counts.join(', ')}] at indexes [${indexes.join(', ')}]`,
      );
    }
  }
}

// ---------------------------------------------------------------- workloads

function proposeOn(leader: BenchNode, data: Uint8Array | readonly Uint8Array[]): void {
  const r = data instanceof Uint8Array ? leader.node.propose(data) : leader.node.proposeBatch(data);
  if (!r.ok) throw new Error(`proposal refused: ${r.code}`);
  if ('forwarded' in r) throw new Error('proposal was forwarded: the leader changed');
}

/** Proposes payloads[0..] in the given mode until all are applied on the leader. */
function runWorkload(cluster: BenchCluster, leader: BenchNode, mode: Mode, payloads: readonly Uint8Array[]): void {
  const base = leader.appliedCount;
  const total = payloads.length;
  let proposed = 0;
  const appliedOnLeader = (): number => leader.appliedCount - base;
  switch (mode) {
    case 'single':
      while (proposed < total) {
        proposeOn(leader, payloads[proposed]!);
        proposed++;
        cluster.runUntil(() => appliedOnLeader() >= proposed, `proposal ${proposed} was applied`);
      }
      return;
    case 'batch':
      while (proposed < total) {
        const end = Math.min(total, proposed + BATCH_SIZE);
        // One proposeBatch: the batch is appended at once and travels in the same appends.
        proposeOn(leader, payloads.slice(proposed, end));
        proposed = end;
        cluster.runUntil(() => appliedOnLeader() >= proposed, `batch ending at ${proposed} was applied`);
      }
      return;
    case 'pipelined':
      while (appliedOnLeader() < total) {
        while (proposed < total && proposed - appliedOnLeader() < PIPELINE_DEPTH) proposeOn(leader, payloads[proposed++]!);
        if (!cluster.pump()) throw new Error(`cluster went quiet with ${proposed - appliedOnLeader()} proposals outstanding`);
      }
      return;
  }
}

function makePayloads(firstSeq: number, count: number): Uint8Array[] {
  const out: Uint8Array[] = new Array<Uint8Array>(count);
  for (let i = 0; i < count; i++) out[i] = payload(firstSeq + i);
  return out;
}

// ---------------------------------------------------------------- statistics

interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

function summarize(values: readonly number[], digits: number): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  const round = (x: number): number => Number(x.toFixed(digits));
  return { median: round(median), min: round(sorted[0]!), max: round(sorted[sorted.length - 1]!) };
}

interface RunResult {
  readonly nodes: number;
  readonly mode: Mode;
  readonly entriesPerSec: Summary;
  readonly cpuUsPerEntry: Summary;
  /** Process CPU time over wall time (1 = one core busy). */
  readonly cpuUtilization: Summary;
  readonly messagesPerEntry: Summary;
  readonly readiesPerEntry: Summary;
  readonly entries: number;
  readonly repetitions: number;
  readonly warmupEntries: number;
  /** Snapshots taken (and log compactions) per node over the whole run, warm-up included. */
  readonly compactionsPerNode: number;
  /** Leader heartbeat ticks that were needed to bring lagging followers' commit index up to date (see settle). */
  readonly settleTicks: number;
}

function benchRun(size: number, mode: Mode, settings: Settings): RunResult {
  const entries = settings.entries[mode];
  const cluster = new BenchCluster(size, settings.snapshotEvery);
  const leader = cluster.elect(1);
  let seq = 0;

  runWorkload(cluster, leader, mode, makePayloads(seq, settings.warmupEntries));
  seq += settings.warmupEntries;
  let settleTicks = cluster.settle(leader);
  cluster.checkConsistent(seq);

  const rates: number[] = [];
  const cpuPerEntry: number[] = [];
  const utilization: number[] = [];
  const msgsPerEntry: number[] = [];
  const readiesPerEntry: number[] = [];
  for (let r = 0; r < settings.reps; r++) {
    const payloads = makePayloads(seq, entries);
    const msgs0 = cluster.messages;
    const readies0 = cluster.readies;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    runWorkload(cluster, leader, mode, payloads);
    settleTicks += cluster.settle(leader); // the timed work ends with every entry applied on every node
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    seq += entries;
    cluster.checkConsistent(seq);
    const cpuUs = cpu.user + cpu.system;
    rates.push(entries / (wallMs / 1000));
    cpuPerEntry.push(cpuUs / entries);
    utilization.push(cpuUs / 1000 / wallMs);
    msgsPerEntry.push((cluster.messages - msgs0) / entries);
    readiesPerEntry.push((cluster.readies - readies0) / entries);
  }

  const status = leader.node.status();
  if (status.role !== 'leader') throw new Error(`node ${leader.id} lost leadership during the run`);
  const compactions = cluster.nodes.map((n) => n.compactions);
  return {
    nodes: size,
    mode,
    entriesPerSec: summarize(rates, 0),
    cpuUsPerEntry: summarize(cpuPerEntry, 2),
    cpuUtilization: summarize(utilization, 2),
    messagesPerEntry: summarize(msgsPerEntry, 2),
    readiesPerEntry: summarize(readiesPerEntry, 2),
    entries,
    repetitions: settings.reps,
    warmupEntries: settings.warmupEntries,
    compactionsPerNode: Math.min(...compactions),
    settleTicks,
  };
}

// ---------------------------------------------------------------- main

function main(): void {
  let settings: Settings | undefined;
  try {
    settings = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`bench/raft: ${err.message}\n${USAGE}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
  if (settings === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }

  const started = performance.now();
  const runs: RunResult[] = [];
  for (const size of CLUSTER_SIZES) {
    for (const mode of MODES) {
      const run = benchRun(size, mode, settings);
      runs.push(run);
      process.stderr.write(
        `raft-core ${size} nodes ${mode.padEnd(9)} ${run.entriesPerSec.median} entries/s, ${run.cpuUsPerEntry.median} µs CPU/entry` +
          ` (median of ${run.repetitions} x ${run.entries})\n`,
      );
    }
  }
  const cpus = os.cpus();
  const result = {
    bench: 'raft-core',
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpu: { model: cpus[0]?.model.trim() ?? 'unknown', count: cpus.length },
    quick: settings.quick,
    config: {
      entryBytes: ENTRY_BYTES,
      batchSize: BATCH_SIZE,
      pipelineDepth: PIPELINE_DEPTH,
      warmupEntries: settings.warmupEntries,
      snapshotEvery: settings.snapshotEvery,
      storage: 'MemoryStorage',
      ticks: 'leader heartbeats only when a repetition ends with a follower behind',
    },
    runs,
    totalSeconds: Number(((performance.now() - started) / 1000).toFixed(1)),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

try {
  main();
} catch (err) {
  process.stderr.write(`bench/raft: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
}
