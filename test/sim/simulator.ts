import { applyConfChange, decodeConfEntry, describeMessage, emptyConfState, isJoint, MemoryStorage, RaftNode } from '../../src/raft/index.ts';
import type { ConfState, Entry, LogStorage, Message, NodeId, Ready, ReadState, Role } from '../../src/raft/index.ts';
import { FileLogStorage, SimFileIO, StorageCorruptionError, StorageError } from '../../src/storage/index.ts';
import { ClientPool, type ClientPort } from './clients.ts';
import { ExactlyOnceViolation, MetaClientPool } from './meta-clients.ts';
import { deriveConfig, describeConfig, replayCommand, type SimConfig, type SimOptions } from './config.ts';
import { GatedFileIO, rotTargets } from './disk.ts';
import { EventQueue } from './event-queue.ts';
import { type AckedWrite, type Checker, type HostInfo, makeCheckers, type ReadyInfo, type ServedRead, Violation, type World } from './invariants/index.ts';
import type { LogMatching } from './invariants/log-matching.ts';
import { KvStateMachine } from './kv-state-machine.ts';
import type { KvHistory, LinResult } from './lincheck-adapter.ts';
import { LogView } from './log-view.ts';
import { Rng, Stream } from './prng.ts';
import { TraceRing } from './trace.ts';

type SimEvent =
  | { readonly k: 'tick'; readonly node: NodeId; readonly inc: number }
  | { readonly k: 'deliver'; readonly m: Message }
  | { readonly k: 'write'; readonly node: NodeId; readonly inc: number }
  | { readonly k: 'fsync'; readonly node: NodeId; readonly inc: number }
  | { readonly k: 'restart'; readonly node: NodeId }
  | { readonly k: 'crash'; readonly node: NodeId; readonly inc: number; readonly why: string }
  | { readonly k: 'isolate'; readonly node: NodeId; readonly inc: number }
  | { readonly k: 'connClosed'; readonly node: NodeId; readonly inc: number; readonly peer: NodeId }
  | { readonly k: 'nemesis' }
  | { readonly k: 'heal'; readonly partition: number }
  | { readonly k: 'operator' }
  | { readonly k: 'client'; readonly client: number; readonly opId: number; readonly token: number }
  | { readonly k: 'liveness' }
  | { readonly k: 'probe' };

interface PendingWrite {
  readonly rd: Ready;
  /** Memory mode: when the write is durable. */
  readonly doneAt: number;
  /** Disk mode: set once the store reports it durable. */
  done: boolean;
}

/** A bit flipped at rest in a node's files, which its next open() must report. */
interface Rot {
  readonly file: string;
  readonly offset: number;
  readonly bit: number;
}

/** A node's simulated disk (disk mode): its own SimFileIO, so that a crash touches only its files. */
class NodeDisk {
  readonly dir: string;
  store: FileLogStorage | undefined = undefined;
  /** open() in progress. */
  opening = false;
  /** Resolvers of outstanding fsyncs, in the order their 'fsync' events will fire. */
  gates: (() => void)[] = [];
  lastDoneAt = 0;
  snapshotting = false;
  armed: 'enospc' | 'eioWrite' | 'eioFsync' | undefined = undefined;
  /** The machine lost power while an fsync was finishing: it completes on the disk, then the disk crashes. */
  dieAfterSync = false;
  rot: Rot | undefined = undefined;

  constructor(
    id: NodeId,
    readonly io: SimFileIO,
  ) {
    this.dir = `/n${id}`;
  }
}

/** One simulated server: its disk (storage), and while up, its Raft node and state machine. */
class Host implements HostInfo {
  inc = 0;
  up = false;
  /** Shut down for good after it left the configuration (or its disk was found corrupt). */
  decommissioned = false;
  /** Its data was damaged at rest: it stays down for good (disk mode). */
  corrupted = false;
  /** What the node has made durable; in disk mode the store of its current incarnation. */
  storage: LogStorage;
  raft: RaftNode | undefined = undefined;
  sm = new KvStateMachine();
  /** The configuration as of the applied index (tracked from snapshots and applied conf entries). */
  conf: ConfState;
  readonly view = new LogView();
  role: Role = 'follower';
  term = 0;
  leader: NodeId = 0;
  writes: PendingWrite[] = [];
  lastDoneAt = 0;
  parked: ReadState[] = [];
  tickUs = 0;

  constructor(
    readonly id: NodeId,
    /** The membership a brand-new store starts with. */
    readonly initialConf: ConfState,
    /** Memory mode: the node's durable state. */
    readonly mem: MemoryStorage | undefined,
    /** Disk mode: the node's disk. */
    readonly disk: NodeDisk | undefined,
  ) {
    this.storage = mem ?? new MemoryStorage(initialConf);
    this.conf = initialConf;
  }
}

export interface SimFailure {
  readonly invariant: string;
  readonly message: string;
  readonly virtualMs: number;
  readonly event: number;
  readonly trace: readonly string[];
  readonly replay: string;
}

export interface RunStats {
  crashes: number;
  restarts: number;
  partitions: number;
  messagesSent: number;
  messagesDropped: number;
  snapshotsInstalled: number;
  snapshotsTaken: number;
  confChangesProposed: number;
  confChangesApplied: number;
  transfers: number;
  maxTerm: number;
  livenessMs: number;
  /** Times a leader's commit index advanced onto an entry of an earlier term (only legal together with a later one). */
  oldTermCommits: number;
  /** Times a node became leader. */
  elections: number;
  /** Disk mode: crashes that kept a torn part of the unsynced writes. */
  tornCrashes: number;
  /** Disk mode: crashes right after an outstanding fsync completed, before the process saw it. */
  lateCrashes: number;
  /** Disk mode: injected ENOSPC/EIO faults, and node exits because the store failed or refused a Ready. */
  ioFaults: number;
  storageExits: number;
  /** Disk mode: torn tails cut back at open. */
  tornTailsCut: number;
  /** Disk mode: nodes whose files were damaged at rest, and opens that refused them. */
  rotInjected: number;
  corruptRefused: number;
}

export interface RunResult {
  readonly seed: number;
  readonly config: SimConfig;
  readonly ok: boolean;
  readonly failure: SimFailure | undefined;
  readonly events: number;
  readonly virtualMs: number;
  readonly stats: RunStats;
  readonly clients: ClientPool['stats'];
  readonly metaClients: MetaClientPool['stats'];
  readonly lincheck: LinResult | undefined;
  readonly history: KvHistory;
}

const US = 1000;

/**
 * A deterministic simulation of a Raft group: N RaftNodes in one process on a virtual
 * clock, driven by one event queue, with a seeded schedule of network, disk and process
 * faults and membership changes, checked after every event.
 */
export class Simulator implements World, ClientPort {
  readonly cfg: SimConfig;
  private readonly queue = new EventQueue<SimEvent>();
  private nowUs = 0;
  private events = 0;
  private readonly hostMap = new Map<NodeId, Host>();
  private readonly checkers: Checker[];
  private readonly logMatching: LogMatching;
  private readonly netRng: Rng;
  private readonly nemRng: Rng;
  private readonly diskRng: Rng;
  private readonly opRng: Rng;
  private readonly blocked = new Set<number>();
  private partitionId = 0;
  /** The node the current partition isolates, if that is what it does. */
  private isolated: NodeId | undefined = undefined;
  private phase: 'fault' | 'liveness' | 'done' = 'fault';
  private livenessStart = 0;
  private nextNodeId: number;
  private readonly trace = new TraceRing(60);
  private touched: Host[] = [];
  private current: SimEvent | undefined = undefined;
  readonly pool: ClientPool;
  readonly metaPool: MetaClientPool;
  readonly stats: RunStats = {
    crashes: 0,
    restarts: 0,
    partitions: 0,
    messagesSent: 0,
    messagesDropped: 0,
    snapshotsInstalled: 0,
    snapshotsTaken: 0,
    confChangesProposed: 0,
    confChangesApplied: 0,
    transfers: 0,
    maxTerm: 0,
    livenessMs: 0,
    oldTermCommits: 0,
    elections: 0,
    tornCrashes: 0,
    lateCrashes: 0,
    ioFaults: 0,
    storageExits: 0,
    tornTailsCut: 0,
    rotInjected: 0,
    corruptRefused: 0,
  };
  private readonly leaderCommit = new Map<NodeId, number>();
  /** Nodes a committed configuration change removed; the operator shuts them down. */
  private readonly removed = new Set<NodeId>();
  private readonly diskMode: boolean;
  private readonly faultRng: Rng;
  /** Disk mode: asynchronous storage work was started or unblocked; settle() before the next event. */
  private kicked = false;
  /** An exception thrown inside a storage continuation, rethrown by settle(). */
  private asyncError: unknown = undefined;
  /** Conf changes the operator proposed (index): one not yet applied anywhere may still change the voters. */
  private readonly confProposals: number[] = [];

  constructor(
    readonly options: SimOptions,
    private readonly log?: (line: string) => void,
  ) {
    this.cfg = deriveConfig(options);
    const { all, logMatching } = makeCheckers();
    this.checkers = all;
    this.logMatching = logMatching;
    const seed = this.cfg.seed;
    this.netRng = new Rng(seed, Stream.network);
    this.nemRng = new Rng(seed, Stream.nemesis);
    this.diskRng = new Rng(seed, Stream.disk);
    this.opRng = new Rng(seed, Stream.operator);
    this.faultRng = new Rng(seed, Stream.diskFault);
    this.diskMode = this.cfg.storage.mode === 'disk';
    this.nextNodeId = this.cfg.nodes + 1;
    this.pool = new ClientPool(this.cfg, this);
    // Fewer metadata commands than key-value ones: each is heavier to check, and a few hundred per run cover the kinds.
    this.metaPool = new MetaClientPool(this.cfg.clients.metaCount, seed, this, { ...this.cfg.clients, thinkMaxMs: Math.max(20, 4 * this.cfg.clients.thinkMaxMs) });
  }

  // ------------------------------------------------------------------ World

  *hosts(): Iterable<HostInfo> {
    yield* this.hostMap.values();
  }

  host(id: NodeId): HostInfo | undefined {
    return this.hostMap.get(id);
  }

  now(): number {
    return this.nowUs;
  }

  // ------------------------------------------------------------------ ClientPort

  stamp(): number {
    return this.events;
  }

  nodeIds(): readonly NodeId[] {
    const out: NodeId[] = [];
    for (const h of this.hostMap.values()) if (!h.decommissioned) out.push(h.id);
    return out;
  }

  propose(node: NodeId, data: Uint8Array): ReturnType<ClientPort['propose']> {
    const h = this.hostMap.get(node);
    if (h === undefined || !h.up || h.raft === undefined) return undefined;
    const res = h.raft.propose(data);
    this.afterInput(h);
    return res;
  }

  readIndex(node: NodeId, context: Uint8Array): ReturnType<ClientPort['readIndex']> {
    const h = this.hostMap.get(node);
    if (h === undefined || !h.up || h.raft === undefined) return undefined;
    const res = h.raft.readIndex(context);
    this.afterInput(h);
    return res;
  }

  scheduleClient(delayMs: number, client: number, opId: number, token: number): void {
    this.at(this.nowUs + Math.round(delayMs * US), { k: 'client', client, opId, token });
  }

  accepting(): boolean {
    return this.phase === 'fault';
  }

  virtualMs(): number {
    return this.nowUs / US;
  }

  writeAcked(w: AckedWrite): void {
    for (const c of this.checkers) c.onWriteAcked?.(w);
  }

  readServed(r: ServedRead): void {
    for (const c of this.checkers) c.onReadServed?.(r);
  }

  // ------------------------------------------------------------------ run

  async run(): Promise<RunResult> {
    const cfg = this.cfg;
    let failure: SimFailure | undefined;
    let lincheck: LinResult | undefined;
    try {
      await this.setup();
      await this.loop();
    } catch (e) {
      failure = this.failureOf(e);
    }
    if (failure === undefined) {
      try {
        lincheck = this.pool.history.check(cfg.lincheckBudgetMs, 2_000_000);
      } catch (e) {
        failure = { ...this.failureOf(e), invariant: 'lincheck-error' };
      }
      if (lincheck?.verdict === 'not-linearizable') {
        failure = {
          invariant: 'linearizability',
          message: `client history is not linearizable\n${lincheck.report}`,
          virtualMs: this.nowUs / US,
          event: this.events,
          trace: this.trace.lines(),
          replay: replayCommand(this.options),
        };
      }
    }
    return {
      seed: cfg.seed,
      config: cfg,
      ok: failure === undefined,
      failure,
      events: this.events,
      virtualMs: this.nowUs / US,
      stats: this.stats,
      clients: this.pool.stats,
      metaClients: this.metaPool.stats,
      lincheck,
      history: this.pool.history,
    };
  }

  private failureOf(e: unknown): SimFailure {
    let invariant: string;
    let message: string;
    if (e instanceof Violation) {
      invariant = e.invariant;
      message = e.message;
    } else if (e instanceof Error) {
      invariant = e.name === 'InvariantError' ? 'core-assertion' : 'exception';
      message = e.stack ?? e.message;
    } else {
      invariant = 'exception';
      message = String(e);
    }
    const trace = this.trace.lines();
    const cur = this.current;
    if (cur !== undefined) trace.push(`  (during: ${describeEvent(cur)})`);
    return { invariant, message, virtualMs: this.nowUs / US, event: this.events, trace, replay: replayCommand(this.options) };
  }

  private async setup(): Promise<void> {
    const cfg = this.cfg;
    const voters = Array.from({ length: cfg.nodes }, (_, i) => i + 1);
    for (const id of voters) {
      const h = this.newHost(id, { voters, votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false });
      this.boot(h);
    }
    await this.settle();
    this.at(this.ms(this.nemRng.float() * cfg.nemesis.intervalMs), { k: 'nemesis' });
    if (cfg.membership.enabled) this.at(this.ms(cfg.membership.intervalMs), { k: 'operator' });
    this.at(this.ms(cfg.faultMs), { k: 'liveness' });
    this.pool.start();
    this.metaPool.start();
  }

  private async loop(): Promise<void> {
    const maxUs = this.ms(this.cfg.faultMs + this.cfg.livenessMs + 1000);
    while (this.phase !== 'done') {
      const item = this.queue.pop();
      if (item === undefined) throw new Violation('liveness', 'event queue ran dry');
      if (item.time > maxUs) throw new Violation('liveness', 'virtual time bound exceeded');
      if (this.events >= this.cfg.maxEvents) throw new Violation('liveness', `event budget of ${this.cfg.maxEvents} exhausted`);
      this.nowUs = item.time;
      this.events++;
      this.current = item.ev;
      this.dispatch(item.ev);
      if (this.kicked) await this.settle();
      this.afterEvent();
    }
  }

  /**
   * Disk mode: runs the storage work the last event started or unblocked until it is idle
   * again (done, or waiting for an fsync event). The simulated disk resolves its promises
   * without timers, so this is a pure microtask drain: deterministic, and before any other
   * event. Rethrows what a continuation threw.
   */
  private async settle(): Promise<void> {
    while (this.kicked) {
      this.kicked = false;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (this.asyncError !== undefined) throw this.asyncError;
  }

  /** Runs a storage continuation; an exception fails the run at the next settle(). */
  private guarded(fn: () => void): void {
    this.kicked = true;
    if (this.asyncError !== undefined) return;
    try {
      fn();
    } catch (e) {
      this.asyncError = e;
    }
  }

  private at(timeUs: number, ev: SimEvent): void {
    this.queue.push(Math.max(timeUs, this.nowUs), ev);
  }

  private ms(x: number): number {
    return Math.round(x * US);
  }

  private note(text: string): void {
    this.trace.push({ t: this.nowUs, stamp: this.events, kind: 'text', text });
    if (this.log !== undefined) this.log(`${(this.nowUs / US).toFixed(3)}ms ${text}`);
  }

  // ------------------------------------------------------------------ events

  private dispatch(ev: SimEvent): void {
    switch (ev.k) {
      case 'tick': {
        const h = this.hostMap.get(ev.node);
        if (h === undefined || !h.up || h.inc !== ev.inc || h.raft === undefined) return;
        h.raft.tick();
        this.afterInput(h);
        this.at(this.nowUs + h.tickUs, ev);
        return;
      }
      case 'deliver':
        this.deliver(ev.m);
        return;
      case 'write': {
        const h = this.hostMap.get(ev.node);
        if (h === undefined || !h.up || h.inc !== ev.inc) return;
        this.completeWrites(h);
        this.afterInput(h);
        return;
      }
      case 'crash': {
        const h = this.hostMap.get(ev.node);
        if (this.phase !== 'fault' || h === undefined || !h.up || h.inc !== ev.inc) return;
        this.crashAndRestart(h, ev.why);
        return;
      }
      case 'isolate': {
        const h = this.hostMap.get(ev.node);
        if (this.phase !== 'fault' || h === undefined || !h.up || h.inc !== ev.inc) return;
        this.isolate(h.id, 'leader just appended');
        return;
      }
      case 'fsync': {
        const h = this.hostMap.get(ev.node);
        if (h === undefined || !h.up || h.inc !== ev.inc || h.disk === undefined) return;
        this.fsyncDone(h, h.disk);
        return;
      }
      case 'restart': {
        const h = this.hostMap.get(ev.node);
        if (h === undefined || h.up || h.decommissioned) return;
        this.note(`restart n${h.id}`);
        this.boot(h);
        return;
      }
      case 'connClosed': {
        const h = this.hostMap.get(ev.node);
        if (h === undefined || !h.up || h.inc !== ev.inc || h.raft === undefined) return;
        this.note(`n${h.id} sees its connection to n${ev.peer} close`);
        h.raft.reportLeaderConnectionClosed(ev.peer);
        this.afterInput(h);
        return;
      }
      case 'nemesis':
        if (this.phase !== 'fault') return;
        this.nemesis();
        this.at(this.nowUs + this.ms(this.cfg.nemesis.intervalMs * (0.5 + this.nemRng.float())), ev);
        return;
      case 'heal':
        if (ev.partition === this.partitionId && this.blocked.size > 0) {
          this.note('heal partition');
          this.blocked.clear();
        }
        return;
      case 'operator':
        if (this.phase !== 'fault') return;
        this.operator();
        this.at(this.nowUs + this.ms(this.cfg.membership.intervalMs * (0.5 + this.opRng.float())), ev);
        return;
      case 'client':
        if (this.metaPool.owns(ev.client)) this.metaPool.onTimer(ev.client, ev.opId, ev.token);
        else this.pool.onTimer(ev.client, ev.opId, ev.token);
        return;
      case 'liveness':
        this.startLiveness();
        return;
      case 'probe':
        this.probe();
        return;
    }
  }

  private afterInput(h: Host): void {
    this.drain(h);
    if (!this.touched.includes(h)) this.touched.push(h);
  }

  private afterEvent(): void {
    for (const h of this.touched) {
      if (!h.up || h.raft === undefined) continue;
      const st = h.raft.status();
      if (st.role !== h.role || st.leader !== h.leader || st.term !== h.term) {
        throw new Violation(
          'ready-contract',
          `n${h.id}: status says ${st.role}/leader n${st.leader}/term ${st.term} but Readies said ${h.role}/n${h.leader}/${h.term}`,
        );
      }
      if (st.term > this.stats.maxTerm) this.stats.maxTerm = st.term;
      if (st.role === 'leader') {
        const prev = this.leaderCommit.get(h.id) ?? 0;
        if (st.commit > prev && (h.view.termAt(st.commit) ?? st.term) < st.term) this.stats.oldTermCommits++;
        this.leaderCommit.set(h.id, st.commit);
      }
      for (const c of this.checkers) c.onStatus?.(h, st);
    }
    this.touched = [];
    for (const c of this.checkers) c.afterEvent?.(this);
  }

  // ------------------------------------------------------------------ nodes

  private newHost(id: NodeId, initialConf: ConfState): Host {
    const disk = this.diskMode ? new NodeDisk(id, new SimFileIO(new Rng(this.cfg.seed, Stream.diskIo, id))) : undefined;
    const h = new Host(id, initialConf, disk === undefined ? new MemoryStorage(initialConf) : undefined, disk);
    this.hostMap.set(id, h);
    return h;
  }

  /** Starts a node process: at once on its MemoryStorage, or once its FileLogStorage has opened. */
  private boot(h: Host): void {
    if (h.disk === undefined) this.start(h);
    else this.openDisk(h, h.disk);
  }

  /**
   * Opens the node's store through a fresh view of its disk, then starts the node on it. A store
   * that open() finds corrupt keeps the node down for good: it takes no part in the group again.
   */
  private openDisk(h: Host, d: NodeDisk): void {
    if (d.opening || h.up || h.decommissioned) return;
    d.opening = true;
    const inc = h.inc + 1;
    const io = new GatedFileIO(d.io.view(), {
      gate: () => this.fsyncGate(h, d, inc),
      beforeWrite: () => this.beforeWrite(h, d),
      afterSync: () => {
        if (!d.dieAfterSync) return false;
        d.dieAfterSync = false;
        d.io.crash('clean');
        return true;
      },
    });
    this.kicked = true;
    FileLogStorage.open({
      io,
      dir: d.dir,
      segmentBytes: this.cfg.storage.segmentBytes,
      initialConfState: h.initialConf,
      random: new Rng(this.cfg.seed, Stream.diskIo, h.id, inc),
      logger: (event, fields) => {
        if (event === 'storage_torn_tail_cut') this.stats.tornTailsCut++;
        this.note(`n${h.id} ${event} ${JSON.stringify(fields)}`);
      },
    }).then(
      (store) =>
        this.guarded(() => {
          d.opening = false;
          if (d.rot !== undefined) {
            const r = d.rot;
            throw new Violation('storage-corruption', `n${h.id}: open() accepted ${r.file} with bit ${r.bit} of byte ${r.offset} flipped at rest`);
          }
          d.store = store;
          h.storage = store;
          io.gated = true;
          this.start(h);
        }),
      (e: unknown) =>
        this.guarded(() => {
          d.opening = false;
          if (e instanceof StorageCorruptionError && d.rot !== undefined) {
            this.stats.corruptRefused++;
            h.decommissioned = true;
            this.note(`n${h.id} refuses to start, stays down for good: ${e.message.split('. ')[0]}`);
            return;
          }
          const what = e instanceof Error ? e.message : String(e);
          throw new Violation('storage-recovery', `n${h.id}: open() failed after a crash${d.rot === undefined ? ' (no damage at rest)' : ''}: ${what}`);
        }),
    );
  }

  /** An fsync of incarnation `inc`: done when its 'fsync' event fires; never if the process died first. */
  private fsyncGate(h: Host, d: NodeDisk, inc: number): Promise<void> {
    return new Promise<void>((resolve) => {
      if (!h.up || h.inc !== inc) return;
      d.gates.push(resolve);
      d.lastDoneAt = Math.max(this.nowUs + this.fsyncDelay(true), d.lastDoneAt);
      this.at(d.lastDoneAt, { k: 'fsync', node: h.id, inc });
    });
  }

  private fsyncDone(h: Host, d: NodeDisk): void {
    const resolve = d.gates.shift();
    if (resolve === undefined) return;
    if (d.armed === 'eioFsync') {
      d.armed = undefined;
      d.io.failNext({ op: 'fsync', code: 'EIO' });
      this.note(`n${h.id}: injected EIO on fsync`);
    }
    this.kicked = true;
    resolve();
  }

  private beforeWrite(h: Host, d: NodeDisk): void {
    if (!h.up || (d.armed !== 'enospc' && d.armed !== 'eioWrite')) return;
    const code = d.armed === 'enospc' ? 'ENOSPC' : 'EIO';
    d.armed = undefined;
    d.io.failNext({ op: 'write', code });
    this.note(`n${h.id}: injected ${code} on a write`);
  }

  /**
   * A storage write of incarnation `inc` was rejected. A failed store (fsync or I/O error) means
   * the process must exit; a Ready refused for lack of space cannot be taken back from the core
   * (its messages must never go out), so the process exits too. A snapshot refused for lack of
   * space is only skipped. The machine may lose power with it: the crash draws clean or torn.
   */
  private storageError(h: Host, inc: number, e: unknown, what: 'persist' | 'snapshot' | 'compact'): void {
    const d = h.disk;
    if (!h.up || h.inc !== inc || d === undefined) return;
    const code = e instanceof StorageError ? e.code : undefined;
    const msg = e instanceof Error ? e.message : String(e);
    if (what !== 'persist' && (code === 'ERR_NO_SPACE' || code === 'ERR_BAD_ARGUMENT')) {
      this.note(`n${h.id} ${what} refused: ${msg}`);
      d.snapshotting = false;
      return;
    }
    if (code === 'ERR_FSYNC_FAILED' || code === 'ERR_IO_FAILED' || code === 'ERR_NO_SPACE' || code === 'ERR_LOG_GAP') {
      this.stats.storageExits++;
      this.crashAndRestart(h, `process exits: ${what} failed with ${code}`);
      return;
    }
    throw new Violation('storage-contract', `n${h.id}: ${what} rejected: ${msg}`);
  }

  private fsyncDelay(mustSync: boolean): number {
    if (!mustSync) return 0;
    const d = this.cfg.disk;
    let delay = d.minFsyncMs + this.diskRng.float() * (d.maxFsyncMs - d.minFsyncMs);
    if (this.diskRng.chance(d.slowFsync)) delay += 20 + this.diskRng.float() * 80;
    return this.ms(delay);
  }

  private start(h: Host): void {
    const cfg = this.cfg;
    h.inc++;
    if (h.inc > 1) this.stats.restarts++;
    h.up = true;
    const snap = h.storage.snapshot();
    h.sm = snap.metadata.index > 0 ? KvStateMachine.restore(snap.data) : new KvStateMachine();
    h.conf = snap.metadata.confState;
    const hs = h.storage.initialState().hardState;
    h.term = hs.term;
    h.role = 'follower';
    h.leader = 0;
    h.writes = [];
    h.parked = [];
    h.lastDoneAt = this.nowUs;
    // Rebuild the log view from what is on disk.
    const base = h.storage.firstIndex() - 1;
    h.view.reset(base, h.storage.term(base) ?? 0, this.logMatching);
    const last = h.storage.lastIndex();
    const { added } = h.view.append(last > base ? h.storage.entries(base + 1, last + 1, Number.POSITIVE_INFINITY) : []);
    const nodeRng = new Rng(cfg.seed, Stream.node, h.id, h.inc);
    h.tickUs = Math.round(cfg.tickMs * US * (1 + cfg.tickDrift * (2 * nodeRng.float() - 1)));
    h.raft = new RaftNode({
      id: h.id,
      storage: h.storage,
      random: nodeRng,
      electionTicks: cfg.raft.electionTicks,
      heartbeatTicks: cfg.raft.heartbeatTicks,
      preVote: cfg.raft.preVote,
      checkQuorum: cfg.raft.checkQuorum,
      readMode: cfg.raft.readMode,
      leaseDriftTicks: cfg.raft.leaseDriftTicks,
      maxEntriesPerMsg: cfg.raft.maxEntriesPerMsg,
      maxInflightMsgs: cfg.raft.maxInflightMsgs,
      maxSnapshotChunkBytes: cfg.raft.maxSnapshotChunkBytes,
      maxInflightSnapshotChunks: cfg.raft.maxInflightSnapshotChunks,
      maxCommittedBytesPerReady: cfg.raft.maxCommittedBytesPerReady,
      applied: snap.metadata.index,
      bugs: cfg.raft.bugs,
    });
    for (const c of this.checkers) c.onStart?.(h, h.sm);
    this.logMatching.check(h.id, added);
    this.at(this.nowUs + Math.round(nodeRng.float() * h.tickUs), { k: 'tick', node: h.id, inc: h.inc });
    this.afterInput(h);
  }

  /** `late`: a crash may let an outstanding fsync complete first (disk mode). */
  private crash(h: Host, why: string, late = true): void {
    if (!h.up) return;
    const d = h.disk;
    if (d !== undefined) {
      const pending = h.writes.filter((w) => !w.done).length;
      const gate = d.gates[0];
      if (late && gate !== undefined && this.faultRng.chance(0.3)) {
        // The outstanding fsync completes on the disk, but the process never learns it.
        this.stats.lateCrashes++;
        this.note(`crash n${h.id} (${why}; ${pending} Readies not durable; the outstanding fsync completes first)`);
        d.dieAfterSync = true;
        this.kicked = true;
        gate();
      } else {
        const torn = this.faultRng.chance(this.cfg.storage.torn);
        if (torn) this.stats.tornCrashes++;
        this.note(`crash n${h.id} (${why}; ${pending} Readies not durable; ${torn ? 'torn' : 'clean'})`);
        d.io.crash(torn ? 'torn' : 'clean');
      }
      d.store = undefined;
      d.gates = [];
      d.snapshotting = false;
      d.armed = undefined;
    } else {
      this.note(`crash n${h.id} (${why}; ${h.writes.length} unsynced writes lost)`);
    }
    this.stats.crashes++;
    h.up = false;
    h.raft = undefined;
    h.writes = [];
    h.parked = [];
    h.role = 'follower';
    h.leader = 0;
  }

  private drain(h: Host): void {
    for (let guard = 0; ; guard++) {
      const raft = h.raft;
      if (raft === undefined || !raft.hasReady()) return;
      if (guard > 10000) throw new Violation('ready-contract', `n${h.id}: hasReady() never settles`);
      this.takeReady(h, raft.ready());
    }
  }

  private takeReady(h: Host, rd: Ready): void {
    const roleBefore = h.role;
    const termBefore = h.term;
    const lastIndexBefore = h.view.lastIndex;
    if (rd.softState !== undefined) {
      if (rd.softState.role !== h.role) this.note(`n${h.id} becomes ${rd.softState.role} (term ${rd.hardState?.term ?? h.term})`);
      if (rd.softState.role === 'leader' && h.role !== 'leader') this.stats.elections++;
      h.role = rd.softState.role;
      h.leader = rd.softState.leader;
    }
    if (rd.hardState !== undefined) h.term = rd.hardState.term;
    if (rd.snapshot !== undefined) {
      const m = rd.snapshot.metadata;
      h.view.reset(m.index, m.term, this.logMatching);
    }
    const { added, truncated } = h.view.append(rd.entries);
    const info: ReadyInfo = { roleBefore, termBefore, lastIndexBefore, added, truncated };
    for (const c of this.checkers) c.onReady?.(h, rd, info);
    for (const m of rd.messagesNow) this.send(m);
    if (h.role === 'leader') {
      if (rd.entries.length > 0) {
        this.maybeCrashSoon(h, this.cfg.nemesis.crashOnAppend, 'leader just appended');
        const p = this.cfg.nemesis.isolateOnAppend;
        if (this.phase === 'fault' && p > 0 && this.nemRng.chance(p)) {
          this.at(this.nowUs + this.ms(this.nemRng.float() * 3), { k: 'isolate', node: h.id, inc: h.inc });
        }
      }
      if (rd.hardState !== undefined && rd.hardState.commit > (h.storage.initialState().hardState.commit)) {
        this.maybeCrashSoon(h, this.cfg.nemesis.crashOnCommit, 'leader just committed');
      }
    }
    const durable = rd.snapshot !== undefined || rd.entries.length > 0 || rd.hardState !== undefined;
    if (!durable && h.writes.length === 0) {
      this.completeReady(h, rd);
      return;
    }
    const store = h.disk?.store;
    if (store !== undefined) {
      // The store group-commits what arrives while its fsync is outstanding; the fsync ends with a simulator event.
      const w: PendingWrite = { rd, doneAt: 0, done: !durable };
      h.writes.push(w);
      if (!durable) return;
      const inc = h.inc;
      this.kicked = true;
      store.persistReady(rd).then(
        () =>
          this.guarded(() => {
            if (!h.up || h.inc !== inc) return;
            w.done = true;
            this.completeWrites(h);
            this.afterInput(h);
          }),
        (e: unknown) => this.guarded(() => this.storageError(h, inc, e, 'persist')),
      );
      return;
    }
    const doneAt = Math.max(this.nowUs + this.fsyncDelay(rd.mustSync), h.lastDoneAt);
    h.lastDoneAt = doneAt;
    h.writes.push({ rd, doneAt, done: false });
    this.at(doneAt, { k: 'write', node: h.id, inc: h.inc });
  }

  private completeWrites(h: Host): void {
    while (h.up) {
      const w = h.writes[0];
      if (w === undefined || (h.disk === undefined ? w.doneAt > this.nowUs : !w.done)) return;
      h.writes.shift();
      this.completeReady(h, w.rd);
      if (h.writes.length === 0) this.checkDiskMatchesView(h);
    }
  }

  /** With no write in flight, the disk holds exactly the log the core works with. */
  private checkDiskMatchesView(h: Host): void {
    const st = h.storage;
    const last = st.lastIndex();
    if (last !== h.view.lastIndex || st.term(last) !== h.view.termAt(last)) {
      throw new Violation(
        'log-matching',
        `n${h.id}: with all writes done, disk ends at ${st.term(last)}/${last} but the node's log ends at ${h.view.termAt(h.view.lastIndex)}/${h.view.lastIndex}`,
      );
    }
  }

  /** Everything of `rd` (and earlier Readies) is durable: persist, send, apply, advance. */
  private completeReady(h: Host, rd: Ready): void {
    const raft = h.raft!;
    const st = h.mem;
    if (st !== undefined) {
      if (rd.snapshot !== undefined) st.applySnapshot(rd.snapshot);
      if (rd.entries.length > 0) st.append(rd.entries);
      if (rd.hardState !== undefined) st.setHardState(rd.hardState);
    }
    for (const c of this.checkers) c.onPersisted?.(h);
    for (const m of rd.messages) this.send(m);
    if (rd.snapshot !== undefined) raft.snapshotPersisted(rd.snapshot.metadata.index);
    const last = rd.entries[rd.entries.length - 1];
    if (last !== undefined) raft.logPersisted(last.index, last.term);
    if (rd.snapshot !== undefined) {
      const snap = rd.snapshot;
      const sm = KvStateMachine.restore(snap.data);
      if (sm.applied !== snap.metadata.index) {
        throw new Violation('snapshot-integrity', `n${h.id} got snapshot ${snap.metadata.index} whose data is at ${sm.applied}`);
      }
      h.sm = sm;
      h.conf = snap.metadata.confState;
      this.stats.snapshotsInstalled++;
      this.note(`n${h.id} restores snapshot ${snap.metadata.term}/${snap.metadata.index}`);
      for (const c of this.checkers) c.onRestore?.(h, sm);
      this.pool.onRestore(sm);
    }
    for (const e of rd.committedEntries) this.apply(h, e);
    for (const rs of rd.readStates) h.parked.push(rs);
    this.serveReads(h);
    raft.advance(rd);
    if (h.writes.every((w) => w.rd.snapshot === undefined)) {
      const cs = raft.status().confState;
      if (!sameConf(cs, h.conf)) {
        throw new Violation(
          'membership-consistency',
          `n${h.id} core configuration ${JSON.stringify(cs)} differs from the one applied ${JSON.stringify(h.conf)} at ${h.sm.applied}`,
        );
      }
      this.maybeSnapshot(h);
    }
  }

  private apply(h: Host, e: Entry): void {
    const res = h.sm.apply(e);
    if (e.type === 'conf') {
      const { change, result } = decodeConfEntry(e.data);
      // A member that joined empty and replays the log from its start adopts the recorded result.
      const out = h.conf.voters.length === 0 && result !== undefined ? { ok: true as const, conf: result } : applyConfChange(h.conf, change);
      if (!out.ok) throw new Violation('membership-consistency', `n${h.id}: committed conf change ${e.index} is invalid: ${out.reason}`);
      if (!isJoint(out.conf)) {
        // A committed change that leaves a node out for good (ids are never reused).
        const after = members(out.conf);
        for (const id of members(h.conf)) if (!after.has(id)) this.removed.add(id);
      }
      h.conf = out.conf;
      this.stats.confChangesApplied++;
    }
    for (const c of this.checkers) c.onApply?.(h, e, h.sm);
    if (res.fresh && res.cmd !== undefined) this.pool.onApplied(res.cmd, e.index);
    if (res.meta !== undefined) {
      try {
        this.metaPool.onApplied(res.meta.env, res.meta.result, e.index, res.meta.inSession);
      } catch (err) {
        if (err instanceof ExactlyOnceViolation) throw new Violation('exactly-once', `n${h.id}: ${err.message}`);
        throw err;
      }
    }
  }

  private serveReads(h: Host): void {
    if (h.parked.length === 0) return;
    const keep: ReadState[] = [];
    for (const rs of h.parked) {
      if (rs.index === 0) this.pool.onReadRefused(rs.context);
      else if (rs.index <= h.sm.applied) {
        const role = h.role === 'leader' ? `leader-${this.cfg.raft.readMode}` : h.conf.learners.includes(h.id) ? 'learner' : 'follower';
        this.pool.onReadServed(rs.context, h.id, role, h.sm);
      } else keep.push(rs);
    }
    h.parked = keep;
  }

  private maybeSnapshot(h: Host): void {
    if (h.disk !== undefined) {
      this.maybeSnapshotOnDisk(h, h.disk);
      return;
    }
    const st = h.mem!;
    const snapIndex = st.snapshot().metadata.index;
    const applied = h.sm.applied;
    if (applied - snapIndex < this.cfg.snapshots.every || applied > st.lastIndex()) return;
    st.createSnapshot(applied, h.conf, h.sm.serialize());
    this.stats.snapshotsTaken++;
    const compactTo = applied - this.cfg.snapshots.keep;
    if (compactTo >= st.firstIndex()) st.compact(compactTo);
  }

  /** Disk mode: createSnapshot, then compact, through the store's write queue (one at a time per node). */
  private maybeSnapshotOnDisk(h: Host, d: NodeDisk): void {
    const st = d.store;
    if (st === undefined || d.snapshotting) return;
    const applied = h.sm.applied;
    if (applied - st.snapshot().metadata.index < this.cfg.snapshots.every || applied > st.lastIndex()) return;
    d.snapshotting = true;
    const inc = h.inc;
    this.kicked = true;
    const live = (): boolean => h.up && h.inc === inc;
    st.createSnapshot(applied, h.conf, h.sm.serialize()).then(
      () =>
        this.guarded(() => {
          if (!live()) return;
          this.stats.snapshotsTaken++;
          const compactTo = applied - this.cfg.snapshots.keep;
          if (compactTo < st.firstIndex()) {
            d.snapshotting = false;
            return;
          }
          st.compact(compactTo).then(
            () =>
              this.guarded(() => {
                if (live()) d.snapshotting = false;
              }),
            (e: unknown) => this.guarded(() => this.storageError(h, inc, e, 'compact')),
          );
        }),
      (e: unknown) => this.guarded(() => this.storageError(h, inc, e, 'snapshot')),
    );
  }

  // ------------------------------------------------------------------ network

  private linkKey(from: NodeId, to: NodeId): number {
    return from * 65536 + to;
  }

  private send(m: Message): void {
    this.stats.messagesSent++;
    if (this.blocked.has(this.linkKey(m.from, m.to))) {
      this.stats.messagesDropped++;
      return;
    }
    const net = this.cfg.net;
    const faulty = this.phase === 'fault';
    const r = this.netRng;
    if (faulty && r.chance(net.loss)) {
      this.stats.messagesDropped++;
      return;
    }
    const copies = faulty && r.chance(net.duplicate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      let delay = net.minDelayMs + r.float() * (net.maxDelayMs - net.minDelayMs);
      if (faulty && r.chance(net.longDelay)) delay += r.float() * net.longDelayMaxMs;
      this.at(this.nowUs + this.ms(delay), { k: 'deliver', m: cloneMessage(m) });
    }
  }

  private deliver(m: Message): void {
    const h = this.hostMap.get(m.to);
    let drop = '';
    if (this.blocked.has(this.linkKey(m.from, m.to))) drop = 'partitioned ';
    else if (h === undefined || !h.up || h.raft === undefined) drop = 'down ';
    if (m.type !== 'heartbeat' && m.type !== 'heartbeatResp') {
      this.trace.push({ t: this.nowUs, stamp: this.events, kind: 'msg', m, note: drop === '' ? '' : `drop(${drop.trim()}) ` });
    }
    if (drop !== '' || h === undefined || h.raft === undefined) {
      this.stats.messagesDropped++;
      return;
    }
    h.raft.step(m);
    this.afterInput(h);
  }

  // ------------------------------------------------------------------ faults

  private liveHosts(): Host[] {
    const out: Host[] = [];
    for (const h of this.hostMap.values()) if (h.up) out.push(h);
    return out;
  }

  private leaderHost(): Host | undefined {
    let best: Host | undefined;
    for (const h of this.hostMap.values()) {
      if (h.up && h.role === 'leader' && (best === undefined || h.term > best.term)) best = h;
    }
    return best;
  }

  private nemesis(): void {
    const c = this.cfg.nemesis;
    const r = this.nemRng;
    if (r.chance(c.crash)) {
      const live = this.liveHosts();
      const leader = this.leaderHost();
      const victim = leader !== undefined && r.chance(c.crashLeader) ? leader : live.length > 0 ? r.pick(live) : undefined;
      if (victim !== undefined) this.crashAndRestart(victim, victim === leader ? 'leader' : 'nemesis');
    }
    if (r.chance(c.partition)) {
      if (this.blocked.size > 0 && r.chance(0.4)) {
        this.note('heal partition');
        this.blocked.clear();
      } else this.partition();
    }
    if (r.chance(c.spuriousClose)) {
      const followers = this.liveHosts().filter((h) => h.role === 'follower' && h.leader !== 0);
      if (followers.length > 0) {
        const f = r.pick(followers);
        this.at(this.nowUs, { k: 'connClosed', node: f.id, inc: f.inc, peer: f.leader });
      }
    }
    if (r.chance(c.transfer)) {
      const l = this.leaderHost();
      if (l !== undefined && l.raft !== undefined) {
        const others = l.conf.voters.filter((v) => v !== l.id);
        if (others.length > 0) {
          const to = r.pick(others);
          this.note(`transfer leadership n${l.id} -> n${to}`);
          this.stats.transfers++;
          l.raft.transferLeadership(to);
          this.afterInput(l);
        }
      }
    }
    if (this.diskMode) this.diskNemesis();
  }

  /** Disk faults (own random stream): an I/O error armed on a live node's next write or fsync; bit rot at rest. */
  private diskNemesis(): void {
    const s = this.cfg.storage;
    const r = this.faultRng;
    if (r.chance(s.ioFault) && this.stats.ioFaults < s.maxIoFaults) {
      const live = this.liveHosts().filter((h) => h.disk !== undefined && h.disk.armed === undefined);
      if (live.length > 0) {
        const h = r.pick(live);
        const kind = r.pick(['enospc', 'eioWrite', 'eioFsync'] as const);
        h.disk!.armed = kind;
        this.stats.ioFaults++;
        this.note(`n${h.id}: ${kind} armed`);
      }
    }
    if (r.chance(s.rot) && this.stats.rotInjected < s.maxCorrupt) this.rot(r);
  }

  /**
   * Damages a node's files at rest (a bit in its snapshot or an older segment) after a crash;
   * its restart must refuse to open them, and it stays down for good. Only a member whose loss
   * leaves a healthy majority of voters even if a voter removal already in flight lands, with
   * no joint configuration and no other conf change pending.
   */
  private rot(r: Rng): void {
    const l = this.leaderHost();
    if (l === undefined || l.raft === undefined) return;
    const cs = l.raft.status().confState;
    if (isJoint(cs)) return;
    let maxApplied = 0;
    for (const h of this.hostMap.values()) maxApplied = Math.max(maxApplied, h.sm.applied);
    const inFlight = this.confProposals.some((i) => i > maxApplied);
    const candidates = [...cs.voters, ...cs.learners].filter((id) => {
      const h = this.hostMap.get(id);
      if (h === undefined || h.disk === undefined || h.corrupted || h.decommissioned || h.disk.opening) return false;
      const voters = cs.voters.filter((v) => v !== id);
      const sick = (v: NodeId): boolean => v === id || this.hostMap.get(v)?.corrupted === true;
      if (!this.healthyMajority(cs.voters, sick)) return false;
      // A removal of a healthy voter that is already under way must leave a healthy majority too.
      return !inFlight || voters.every((x) => this.healthyMajority(cs.voters.filter((v) => v !== x), sick));
    });
    if (candidates.length === 0) return;
    const h = this.hostMap.get(r.pick(candidates))!;
    const d = h.disk!;
    if (h.up) this.crashAndRestart(h, 'bit rot victim', false);
    const targets = rotTargets(d.io, d.dir);
    if (targets.length === 0) return;
    const t = r.pick(targets);
    const rot: Rot = { file: t.file, offset: r.intBelow(t.size), bit: r.intBelow(8) };
    d.io.flipBit(rot.file, rot.offset, rot.bit);
    d.rot = rot;
    h.corrupted = true;
    this.stats.rotInjected++;
    this.note(`n${h.id}: bit ${rot.bit} of byte ${rot.offset} of ${rot.file} flipped at rest`);
  }

  /** Whether the voters other than the `sick` ones are a majority. */
  private healthyMajority(voters: readonly NodeId[], sick: (id: NodeId) => boolean): boolean {
    return voters.filter((v) => !sick(v)).length >= Math.floor(voters.length / 2) + 1;
  }

  /** Crashes `h`, has its peers see the connections close, and schedules its restart. */
  private crashAndRestart(h: Host, why: string, late = true): void {
    const c = this.cfg.nemesis;
    const r = this.nemRng;
    this.crash(h, why, late);
    this.at(this.nowUs + this.ms(c.minDownMs + r.float() * (c.maxDownMs - c.minDownMs)), { k: 'restart', node: h.id });
    for (const p of this.liveHosts()) {
      this.at(this.nowUs + this.ms(0.5 + r.float() * 20), { k: 'connClosed', node: p.id, inc: p.inc, peer: h.id });
    }
  }

  /** Targeted faults: crash a leader at an interesting moment, a few ms from now. */
  private maybeCrashSoon(h: Host, p: number, why: string): void {
    if (this.phase !== 'fault' || p <= 0 || !this.nemRng.chance(p)) return;
    this.at(this.nowUs + this.ms(this.nemRng.float() * 3), { k: 'crash', node: h.id, inc: h.inc, why });
  }

  private partition(): void {
    const r = this.nemRng;
    const ids = [...this.hostMap.values()].filter((h) => !h.decommissioned).map((h) => h.id);
    if (ids.length < 2) return;
    this.blocked.clear();
    const block = (a: NodeId, b: NodeId): void => {
      if (a !== b) this.blocked.add(this.linkKey(a, b));
    };
    const kind = r.pick(['isolate', 'isolate-leader', 'split', 'one-way', 'random'] as const);
    if (kind === 'isolate' || kind === 'isolate-leader') {
      const l = this.leaderHost();
      this.isolate(kind === 'isolate-leader' && l !== undefined ? l.id : r.pick(ids), '');
      return;
    }
    let desc: string;
    switch (kind) {
      case 'split': {
        const shuffled = r.shuffle([...ids]);
        const cut = 1 + r.intBelow(shuffled.length - 1);
        const a = shuffled.slice(0, cut);
        const b = shuffled.slice(cut);
        for (const x of a) {
          for (const y of b) {
            block(x, y);
            block(y, x);
          }
        }
        desc = `split {${a.join(',')}} | {${b.join(',')}}`;
        break;
      }
      case 'one-way': {
        const x = r.pick(ids);
        const inbound = r.chance(0.5);
        for (const y of ids) {
          if (inbound) block(y, x);
          else block(x, y);
        }
        desc = `n${x} ${inbound ? 'cannot receive' : 'cannot send'}`;
        break;
      }
      case 'random': {
        const cut: string[] = [];
        for (const x of ids) {
          for (const y of ids) {
            if (x !== y && r.chance(0.25)) {
              block(x, y);
              cut.push(`${x}->${y}`);
            }
          }
        }
        desc = `cut links ${cut.join(' ')}`;
        break;
      }
    }
    this.partitioned(desc);
  }

  /** Cuts `x` off from every other node (replacing any current partition). */
  private isolate(x: NodeId, why: string): void {
    if (this.isolated === x && this.blocked.size > 0) return;
    this.blocked.clear();
    for (const h of this.hostMap.values()) {
      if (h.id === x) continue;
      this.blocked.add(this.linkKey(x, h.id));
      this.blocked.add(this.linkKey(h.id, x));
    }
    this.partitioned(`isolate n${x}${why === '' ? '' : ` (${why})`}`);
    this.isolated = x;
  }

  private partitioned(desc: string): void {
    const r = this.nemRng;
    this.isolated = undefined;
    this.partitionId++;
    this.stats.partitions++;
    this.note(`partition: ${desc}`);
    const c = this.cfg.nemesis;
    this.at(this.nowUs + this.ms(c.minPartitionMs + r.float() * (c.maxPartitionMs - c.minPartitionMs)), {
      k: 'heal',
      partition: this.partitionId,
    });
  }

  // ------------------------------------------------------------------ membership

  private operator(): void {
    const r = this.opRng;
    const l = this.leaderHost();
    if (l === undefined || l.raft === undefined) return;
    const st = l.raft.status();
    const cs = st.confState;
    for (const h of this.hostMap.values()) {
      if (this.removed.has(h.id) && !h.decommissioned) {
        this.crash(h, 'removed from the configuration');
        h.decommissioned = true;
      }
    }
    if (isJoint(cs) || st.leadTransferee !== 0) return;
    const learners = cs.learners.filter((id) => this.hostMap.get(id)?.up === true);
    const caughtUp = learners.filter((id) => {
      const p = st.progress.get(id);
      return p !== undefined && p.lag <= 3 && p.recentActive;
    });
    const voters = cs.voters;
    let canAdd = this.nextNodeId <= this.cfg.nodes + this.cfg.maxAddedNodes;
    const actions: [string, number][] = [
      ['addLearner', canAdd && learners.length === 0 ? 3 : 0],
      ['promote', caughtUp.length > 0 && voters.length < 5 ? 4 : 0],
      ['replace', caughtUp.length > 0 && voters.length >= 3 ? 2 : 0],
      ['remove', voters.length > 3 ? 2 : 0],
      ['demote', voters.length > 3 ? 1 : 0],
      ['removeLearner', cs.learners.length > 0 ? 0.5 : 0],
      ['none', 2],
    ];
    // Members whose disk was found corrupt are removed first (the operator procedure of docs/STORAGE.md).
    const corrupt = [...voters, ...cs.learners].filter((id) => this.hostMap.get(id)?.corrupted === true);
    if (corrupt.length > 0) actions.push(['removeCorrupted', 6]);
    const action = actions[r.weighted(actions.map((a) => a[1]))]![0];
    const pickVoter = (): NodeId => (r.chance(0.3) ? l.id : r.pick(voters));
    let changes: { op: 'addVoter' | 'addLearner' | 'remove'; nodeId: NodeId }[];
    switch (action) {
      case 'removeCorrupted':
        changes = [{ op: 'remove', nodeId: r.pick(corrupt) }];
        break;
      case 'addLearner': {
        const id = this.nextNodeId++;
        const h = this.newHost(id, emptyConfState());
        this.note(`new node n${id}`);
        this.boot(h);
        changes = [{ op: 'addLearner', nodeId: id }];
        break;
      }
      case 'promote':
        changes = [{ op: 'addVoter', nodeId: r.pick(caughtUp) }];
        break;
      case 'replace':
        changes = [
          { op: 'addVoter', nodeId: r.pick(caughtUp) },
          { op: 'remove', nodeId: pickVoter() },
        ];
        break;
      case 'remove':
        changes = [{ op: 'remove', nodeId: pickVoter() }];
        break;
      case 'demote':
        changes = [{ op: 'addLearner', nodeId: pickVoter() }];
        break;
      case 'removeLearner':
        changes = [{ op: 'remove', nodeId: r.pick(cs.learners) }];
        break;
      default:
        return;
    }
    if (corrupt.length > 0 || this.stats.rotInjected > 0) {
      // Never leave fewer healthy voters than a majority: a corrupted node is down for good.
      const next = new Set(voters);
      for (const c of changes) {
        if (c.op === 'addVoter') next.add(c.nodeId);
        else next.delete(c.nodeId);
      }
      if (!this.healthyMajority([...next], (id) => this.hostMap.get(id)?.corrupted === true)) return;
    }
    const res = l.raft.proposeConfChange({ changes });
    if (res.ok && 'index' in res) this.confProposals.push(res.index);
    this.stats.confChangesProposed++;
    this.note(`propose conf change on n${l.id}: ${changes.map((c) => `${c.op} n${c.nodeId}`).join(', ')} -> ${res.ok ? 'ok' : res.code}`);
    this.afterInput(l);
  }

  // ------------------------------------------------------------------ liveness

  private startLiveness(): void {
    this.phase = 'liveness';
    this.livenessStart = this.nowUs;
    this.note('liveness phase: heal everything, restart crashed nodes');
    this.blocked.clear();
    for (const h of this.hostMap.values()) {
      if (h.disk !== undefined) h.disk.armed = undefined;
      if (!h.up && !h.decommissioned) this.boot(h);
    }
    this.at(this.nowUs + this.ms(20), { k: 'probe' });
  }

  private probe(): void {
    const why = this.convergence();
    if (why === undefined) {
      this.stats.livenessMs = (this.nowUs - this.livenessStart) / US;
      this.phase = 'done';
      for (const h of this.hostMap.values()) {
        if (!h.up) continue;
        const bad = h.sm.meta.checkInvariants();
        if (bad.length > 0) throw new Violation('metadata-invariants', `n${h.id} at the end of the run: ${bad.slice(0, 5).join('; ')}`);
      }
      return;
    }
    if (this.nowUs - this.livenessStart > this.ms(this.cfg.livenessMs)) {
      throw new Violation('liveness', `no convergence within ${this.cfg.livenessMs}ms after healing: ${why}\n${this.describeNodes()}`);
    }
    this.at(this.nowUs + this.ms(20), { k: 'probe' });
  }

  /** undefined when converged, else why not. */
  private convergence(): string | undefined {
    const l = this.leaderHost();
    if (l === undefined || l.raft === undefined) return 'no leader';
    const st = l.raft.status();
    const cs = st.confState;
    if (isJoint(cs)) return 'configuration is joint';
    if (l.view.termAt(st.commit) !== st.term) return 'leader has not committed an entry of its term';
    if (st.commit < this.pool.maxAckedIndex) return `leader commit ${st.commit} below acknowledged write ${this.pool.maxAckedIndex}`;
    if (this.pool.outstanding() > 0) return 'client operations outstanding';
    if (this.metaPool.outstanding() > 0) return 'metadata client operations outstanding';
    if (l.sm.applied !== st.commit) return `leader n${l.id} has applied ${l.sm.applied} of ${st.commit}`;
    if (!this.healthyMajority(cs.voters, (id) => this.hostMap.get(id)?.corrupted === true)) {
      return `corrupted nodes leave no healthy majority of voters ${JSON.stringify(cs.voters)}`;
    }
    for (const id of [...cs.voters, ...cs.learners]) {
      const h = this.hostMap.get(id);
      // A node whose disk was found corrupt is down for good; the others must converge without it.
      if (h?.corrupted === true && h.decommissioned) continue;
      if (h === undefined || h.decommissioned) return `member n${id} does not exist`;
      if (!h.up || h.raft === undefined) return `member n${id} is down`;
      const ms = h.raft.status();
      if (ms.leader !== l.id || ms.term !== st.term) return `n${id} does not follow n${l.id}`;
      if (ms.commit !== st.commit || h.sm.applied !== st.commit) return `n${id} has applied ${h.sm.applied}/${ms.commit}, leader commit ${st.commit}`;
      if (h.sm.seqHash !== l.sm.seqHash || h.sm.stateDigest() !== l.sm.stateDigest()) {
        throw new Violation('state-machine-safety', `n${id} and leader n${l.id} applied up to ${st.commit} but their states differ`);
      }
    }
    return undefined;
  }

  describeNodes(): string {
    const lines: string[] = [];
    for (const h of this.hostMap.values()) {
      if (h.raft === undefined) {
        lines.push(`  n${h.id}: ${h.corrupted ? 'corrupt on disk, ' : ''}${h.decommissioned ? 'decommissioned' : 'down'}`);
        continue;
      }
      const s = h.raft.status();
      lines.push(
        `  n${h.id}: ${s.role} term=${s.term} lead=${s.leader} commit=${s.commit} applied=${s.applied} last=${s.lastIndex} first=${s.firstIndex} conf=${JSON.stringify(s.confState.voters)}${s.confState.votersOutgoing.length > 0 ? `&${JSON.stringify(s.confState.votersOutgoing)}` : ''} learners=${JSON.stringify(s.confState.learners)} writes=${h.writes.length}`,
      );
      for (const [id, p] of s.progress) {
        lines.push(`      progress n${id}: ${p.state} match=${p.match} next=${p.next} lag=${p.lag}${p.isLearner ? ' learner' : ''}${p.recentActive ? ' active' : ''}`);
      }
    }
    return lines.join('\n');
  }

  describeConfig(): string {
    return describeConfig(this.cfg);
  }
}

function describeEvent(ev: SimEvent): string {
  switch (ev.k) {
    case 'deliver':
      return `deliver ${describeMessage(ev.m)}`;
    case 'tick':
    case 'write':
    case 'fsync':
      return `${ev.k} n${ev.node}`;
    case 'crash':
    case 'isolate':
    case 'restart':
      return `${ev.k} n${ev.node}`;
    case 'connClosed':
      return `n${ev.node} sees its connection to n${ev.peer} close`;
    case 'client':
      return `client ${ev.client} op ${ev.opId}`;
    default:
      return ev.k;
  }
}

function members(cs: ConfState): Set<NodeId> {
  return new Set([...cs.voters, ...cs.votersOutgoing, ...cs.learners, ...cs.learnersNext]);
}

function sameConf(a: ConfState, b: ConfState): boolean {
  return (
    sameIds(a.voters, b.voters) &&
    sameIds(a.votersOutgoing, b.votersOutgoing) &&
    sameIds(a.learners, b.learners) &&
    sameIds(a.learnersNext, b.learnersNext) &&
    a.autoLeave === b.autoLeave
  );
}

function sameIds(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  if (a.length !== b.length) return false;
  const sa = [...a].sort((x, y) => x - y);
  const sb = [...b].sort((x, y) => x - y);
  return sa.every((x, i) => x === sb[i]);
}

function cloneEntry(e: Entry): Entry {
  return { term: e.term, index: e.index, type: e.type, data: e.data.slice() };
}

/** A deep copy, as if the message went over the wire: no buffers are shared between nodes. */
function cloneMessage(m: Message): Message {
  switch (m.type) {
    case 'app':
    case 'prop':
      return { ...m, entries: m.entries.map(cloneEntry) };
    case 'snapshot': {
      const cs = m.metadata.confState;
      return {
        ...m,
        metadata: {
          ...m.metadata,
          confState: {
            voters: [...cs.voters],
            votersOutgoing: [...cs.votersOutgoing],
            learners: [...cs.learners],
            learnersNext: [...cs.learnersNext],
            autoLeave: cs.autoLeave,
          },
        },
        chunk: m.chunk.slice(),
      };
    }
    case 'readIndex':
    case 'readIndexResp':
      return { ...m, context: m.context.slice() };
    default:
      return { ...m };
  }
}

/** Runs one seed. */
export function runSeed(options: SimOptions, log?: (line: string) => void): Promise<RunResult> {
  return new Simulator(options, log).run();
}

/** A failure report: seed, invariant, trace tail and the command that replays it. */
export function formatFailure(res: RunResult): string {
  const f = res.failure;
  if (f === undefined) return `seed ${res.seed}: ok`;
  return [
    `FAIL seed ${res.seed}: ${f.invariant} violated at ${f.virtualMs.toFixed(3)}ms (event #${f.event})`,
    f.message,
    describeConfig(res.config),
    `trace (last ${f.trace.length} events):`,
    ...f.trace.map((l) => `  ${l}`),
    `replay: ${f.replay}`,
  ].join('\n');
}
