import { applyConfChange, decodeConfEntry, describeMessage, isJoint, MemoryStorage, RaftNode } from '../../src/raft/index.ts';
import type { ConfState, Entry, Message, NodeId, Ready, ReadState, Role } from '../../src/raft/index.ts';
import { ClientPool, type ClientPort } from './clients.ts';
import { deriveConfig, describeConfig, replayCommand, type SimConfig, type SimOptions } from './config.ts';
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
  readonly doneAt: number;
}

/** One simulated server: its disk (storage), and while up, its Raft node and state machine. */
class Host implements HostInfo {
  inc = 0;
  up = false;
  /** Shut down for good after it left the configuration. */
  decommissioned = false;
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
    readonly storage: MemoryStorage,
  ) {
    this.conf = storage.snapshot().metadata.confState;
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
  };
  private readonly leaderCommit = new Map<NodeId, number>();
  /** Nodes a committed configuration change removed; the operator shuts them down. */
  private readonly removed = new Set<NodeId>();

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
    this.nextNodeId = this.cfg.nodes + 1;
    this.pool = new ClientPool(this.cfg, this);
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

  writeAcked(w: AckedWrite): void {
    for (const c of this.checkers) c.onWriteAcked?.(w);
  }

  readServed(r: ServedRead): void {
    for (const c of this.checkers) c.onReadServed?.(r);
  }

  // ------------------------------------------------------------------ run

  run(): RunResult {
    const cfg = this.cfg;
    let failure: SimFailure | undefined;
    let lincheck: LinResult | undefined;
    try {
      this.setup();
      this.loop();
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

  private setup(): void {
    const cfg = this.cfg;
    const voters = Array.from({ length: cfg.nodes }, (_, i) => i + 1);
    for (const id of voters) {
      const storage = new MemoryStorage({ voters, votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false });
      const h = new Host(id, storage);
      this.hostMap.set(id, h);
      this.start(h);
    }
    this.at(this.ms(this.nemRng.float() * cfg.nemesis.intervalMs), { k: 'nemesis' });
    if (cfg.membership.enabled) this.at(this.ms(cfg.membership.intervalMs), { k: 'operator' });
    this.at(this.ms(cfg.faultMs), { k: 'liveness' });
    this.pool.start();
  }

  private loop(): void {
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
      this.afterEvent();
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
      case 'restart': {
        const h = this.hostMap.get(ev.node);
        if (h === undefined || h.up || h.decommissioned) return;
        this.note(`restart n${h.id}`);
        this.start(h);
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
        this.pool.onTimer(ev.client, ev.opId, ev.token);
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

  private crash(h: Host, why: string): void {
    if (!h.up) return;
    this.note(`crash n${h.id} (${why}; ${h.writes.length} unsynced writes lost)`);
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
    let doneAt = this.nowUs;
    if (rd.mustSync) {
      const d = this.cfg.disk;
      let delay = d.minFsyncMs + this.diskRng.float() * (d.maxFsyncMs - d.minFsyncMs);
      if (this.diskRng.chance(d.slowFsync)) delay += 20 + this.diskRng.float() * 80;
      doneAt += this.ms(delay);
    }
    doneAt = Math.max(doneAt, h.lastDoneAt);
    h.lastDoneAt = doneAt;
    h.writes.push({ rd, doneAt });
    this.at(doneAt, { k: 'write', node: h.id, inc: h.inc });
  }

  private completeWrites(h: Host): void {
    while (h.up) {
      const w = h.writes[0];
      if (w === undefined || w.doneAt > this.nowUs) return;
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
    const st = h.storage;
    if (rd.snapshot !== undefined) st.applySnapshot(rd.snapshot);
    if (rd.entries.length > 0) st.append(rd.entries);
    if (rd.hardState !== undefined) st.setHardState(rd.hardState);
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
    const st = h.storage;
    const snapIndex = st.snapshot().metadata.index;
    const applied = h.sm.applied;
    if (applied - snapIndex < this.cfg.snapshots.every || applied > st.lastIndex()) return;
    st.createSnapshot(applied, h.conf, h.sm.serialize());
    this.stats.snapshotsTaken++;
    const compactTo = applied - this.cfg.snapshots.keep;
    if (compactTo >= st.firstIndex()) st.compact(compactTo);
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
  }

  /** Crashes `h`, has its peers see the connections close, and schedules its restart. */
  private crashAndRestart(h: Host, why: string): void {
    const c = this.cfg.nemesis;
    const r = this.nemRng;
    this.crash(h, why);
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
    const action = actions[r.weighted(actions.map((a) => a[1]))]![0];
    const pickVoter = (): NodeId => (r.chance(0.3) ? l.id : r.pick(voters));
    let changes: { op: 'addVoter' | 'addLearner' | 'remove'; nodeId: NodeId }[];
    switch (action) {
      case 'addLearner': {
        const id = this.nextNodeId++;
        const h = new Host(id, new MemoryStorage());
        this.hostMap.set(id, h);
        this.note(`new node n${id}`);
        this.start(h);
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
    const res = l.raft.proposeConfChange({ changes });
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
    for (const h of this.hostMap.values()) if (!h.up && !h.decommissioned) this.start(h);
    this.at(this.nowUs + this.ms(20), { k: 'probe' });
  }

  private probe(): void {
    const why = this.convergence();
    if (why === undefined) {
      this.stats.livenessMs = (this.nowUs - this.livenessStart) / US;
      this.phase = 'done';
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
    if (l.sm.applied !== st.commit) return `leader n${l.id} has applied ${l.sm.applied} of ${st.commit}`;
    for (const id of [...cs.voters, ...cs.learners]) {
      const h = this.hostMap.get(id);
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
        lines.push(`  n${h.id}: ${h.decommissioned ? 'decommissioned' : 'down'}`);
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
export function runSeed(options: SimOptions, log?: (line: string) => void): RunResult {
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
