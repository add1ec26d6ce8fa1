// A small synchronous cluster for scenario tests: nodes share one message pool,
// every Ready is persisted at once (unless a node's disk is held), and the test
// decides which messages are delivered, dropped or held back.
import { MemoryStorage, RaftNode, describeMessage, NONE } from '../../src/raft/index.ts';
import type { ConfState, Entry, Message, NodeId, RaftConfig, ReadState, Ready } from '../../src/raft/index.ts';

export function makeEntry(term: number, index: number, text = '', type: 'normal' | 'conf' = 'normal'): Entry {
  return { term, index, type, data: new TextEncoder().encode(text) };
}

export class SeqRandom {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 1;
  }
  intBelow(n: number): number {
    // xorshift32: deterministic and good enough for election jitter in tests.
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state % n;
  }
}

export interface PendingWrite {
  readonly rd: Ready;
}

export class TestNode {
  node: RaftNode;
  readonly storage: MemoryStorage;
  /** What the state machine applied, in order. */
  applied: Entry[] = [];
  readStates: ReadState[] = [];
  /** Ready writes not yet durable (only when the disk is held). */
  pendingWrites: Ready[] = [];
  holdDisk = false;
  appliedSnapshotIndex = 0;

  constructor(
    readonly id: NodeId,
    storage: MemoryStorage,
    private readonly makeConfig: (id: NodeId, storage: MemoryStorage) => RaftConfig,
  ) {
    this.storage = storage;
    this.node = new RaftNode(makeConfig(id, storage));
  }

  /** Simulates a crash and restart: volatile state and unsynced writes are lost. */
  restart(): void {
    this.pendingWrites = [];
    this.readStates = [];
    this.applied = [];
    this.node = new RaftNode(this.makeConfig(this.id, this.storage));
  }
}

export type NodeOptions = Partial<Omit<RaftConfig, 'id' | 'storage' | 'random'>>;

export interface ClusterOptions {
  readonly voters: readonly NodeId[];
  readonly learners?: readonly NodeId[];
  readonly config?: NodeOptions;
  /** Per-node settings, layered over `config`. */
  readonly nodeConfig?: (id: NodeId) => NodeOptions;
  readonly seed?: number;
}

export class Cluster {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Messages sent and not yet delivered, in send order. */
  inbox: Message[] = [];
  /** Links that drop messages: "from->to". */
  readonly cut = new Set<string>();
  readonly trace: string[] = [];
  /** Every message any node sent, in send order (also those dropped on the way). */
  readonly sent: Message[] = [];
  /** Messages for which this returns true are lost on the way (checked when sent). */
  dropIf: ((m: Message) => boolean) | undefined = undefined;
  /** The configuration the group was bootstrapped with. */
  readonly conf: ConfState;
  private readonly config: NodeOptions;
  private readonly nodeConfig: (id: NodeId) => NodeOptions;
  private readonly seed: number;

  constructor(opts: ClusterOptions) {
    this.conf = { voters: [...opts.voters], votersOutgoing: [], learners: [...(opts.learners ?? [])], learnersNext: [], autoLeave: false };
    this.config = opts.config ?? {};
    this.nodeConfig = opts.nodeConfig ?? (() => ({}));
    this.seed = opts.seed ?? 1;
    for (const id of [...opts.voters, ...(opts.learners ?? [])]) this.addNode(id, new MemoryStorage(this.conf));
  }

  /**
   * Adds (or replaces) node `id`. By default it starts from the bootstrap
   * configuration with an empty log, as a node joining the group would.
   */
  addNode(id: NodeId, storage: MemoryStorage = new MemoryStorage(this.conf), extra: NodeOptions = {}): TestNode {
    const make = (nid: NodeId, st: MemoryStorage): RaftConfig => ({
      electionTicks: 10,
      heartbeatTicks: 1,
      ...this.config,
      ...this.nodeConfig(nid),
      ...extra,
      id: nid,
      storage: st,
      random: new SeqRandom(this.seed * 7919 + nid),
    });
    const n = new TestNode(id, storage, make);
    this.nodes.set(id, n);
    return n;
  }

  get(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  raft(id: NodeId): RaftNode {
    return this.get(id).node;
  }

  /** Handles every pending Ready of every node (persist, send, apply, advance). */
  processReadies(): void {
    for (let round = 0; round < 1000; round++) {
      let any = false;
      for (const n of this.nodes.values()) {
        if (!n.node.hasReady()) continue;
        any = true;
        this.handleReady(n, n.node.ready());
      }
      if (!any) return;
    }
    throw new Error('processReadies: no quiescence after 1000 rounds');
  }

  private handleReady(n: TestNode, rd: Ready): void {
    for (const m of rd.messagesNow) this.enqueue(m);
    n.pendingWrites.push(rd);
    if (!n.holdDisk) this.flushDisk(n.id);
  }

  /** Makes every held write of node `id` durable, then sends what waited on it and applies. */
  flushDisk(id: NodeId): void {
    const n = this.get(id);
    const writes = n.pendingWrites;
    n.pendingWrites = [];
    for (const rd of writes) {
      if (rd.snapshot !== undefined) n.storage.applySnapshot(rd.snapshot);
      n.storage.append(rd.entries);
      if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
      for (const m of rd.messages) this.enqueue(m);
      if (rd.snapshot !== undefined) n.node.snapshotPersisted(rd.snapshot.metadata.index);
      const last = rd.entries[rd.entries.length - 1];
      if (last !== undefined) n.node.logPersisted(last.index, last.term);
      if (rd.snapshot !== undefined) {
        n.appliedSnapshotIndex = rd.snapshot.metadata.index;
        n.applied = n.applied.filter((e) => e.index <= rd.snapshot!.metadata.index);
      }
      for (const e of rd.committedEntries) n.applied.push(e);
      n.readStates.push(...rd.readStates);
      n.node.advance(rd);
    }
  }

  private enqueue(m: Message): void {
    this.sent.push(m);
    if (this.cut.has(`${m.from}->${m.to}`) || (this.dropIf !== undefined && this.dropIf(m))) {
      this.trace.push(`drop ${describeMessage(m)}`);
      return;
    }
    this.inbox.push(m);
  }

  /** Delivers messages until none are left (bounded). Returns how many were delivered. */
  deliverAll(filter: (m: Message) => boolean = () => true, maxRounds = 10_000): number {
    let delivered = 0;
    this.processReadies();
    for (let i = 0; i < maxRounds; i++) {
      const batch = this.inbox;
      this.inbox = [];
      const keep: Message[] = [];
      let any = false;
      for (const m of batch) {
        if (!filter(m)) {
          keep.push(m);
          continue;
        }
        const target = this.nodes.get(m.to);
        if (target === undefined || this.cut.has(`${m.from}->${m.to}`)) {
          this.trace.push(`drop ${describeMessage(m)}`);
          continue;
        }
        this.trace.push(describeMessage(m));
        target.node.step(m);
        delivered++;
        any = true;
      }
      this.inbox = keep.concat(this.inbox);
      this.processReadies();
      if (!any) return delivered;
    }
    throw new Error('deliverAll: still delivering after maxRounds');
  }

  /** Drops every undelivered message matching `filter`. */
  dropPending(filter: (m: Message) => boolean = () => true): number {
    const before = this.inbox.length;
    this.inbox = this.inbox.filter((m) => !filter(m));
    return before - this.inbox.length;
  }

  tick(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) this.raft(id).tick();
    this.processReadies();
  }

  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) for (const n of this.nodes.values()) n.node.tick();
    this.processReadies();
  }

  /** Cuts all links between the groups (symmetric partition). */
  partition(...groups: NodeId[][]): void {
    this.cut.clear();
    for (const a of groups) {
      for (const b of groups) {
        if (a === b) continue;
        for (const x of a) for (const y of b) this.cut.add(`${x}->${y}`);
      }
    }
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}->${other}`);
      this.cut.add(`${other}->${id}`);
    }
  }

  heal(): void {
    this.cut.clear();
  }

  /** Campaigns on `id` and delivers everything; returns the leader afterwards. */
  elect(id: NodeId): NodeId {
    this.raft(id).campaign();
    this.deliverAll();
    return this.leader();
  }

  leader(): NodeId {
    let lead: NodeId = NONE;
    let term = -1;
    for (const n of this.nodes.values()) {
      const s = n.node.status();
      if (s.role === 'leader' && s.term > term) {
        lead = s.id;
        term = s.term;
      }
    }
    return lead;
  }

  propose(id: NodeId, text: string): ReturnType<RaftNode['propose']> {
    const r = this.raft(id).propose(new TextEncoder().encode(text));
    this.processReadies();
    return r;
  }

  /**
   * Replaces node `id` by one whose durable log holds entries with the given terms
   * (indexes 1..n, payload "t<term>i<index>") and the given hard state, as if it
   * had crashed and restarted in that state.
   */
  setLog(
    id: NodeId,
    terms: readonly number[],
    hard: { term?: number; vote?: NodeId; commit?: number; payload?: (term: number, index: number) => string } = {},
    extra: NodeOptions = {},
  ): TestNode {
    const st = new MemoryStorage(this.conf);
    const payload = hard.payload ?? ((t: number, i: number) => `t${t}i${i}`);
    st.append(terms.map((t, i) => makeEntry(t, i + 1, payload(t, i + 1))));
    st.setHardState({ term: hard.term ?? Math.max(0, ...terms), vote: hard.vote ?? NONE, commit: hard.commit ?? 0 });
    return this.addNode(id, st, extra);
  }

  /** Ticks every node and delivers everything, `times` times. */
  tickAndDeliver(times = 1, filter?: (m: Message) => boolean): void {
    for (let i = 0; i < times; i++) {
      this.tickAll();
      this.deliverAll(filter);
    }
  }

  /** Ticks and delivers until `pred` holds; returns the ticks it took, or throws after `max`. */
  tickUntil(pred: () => boolean, max: number, ids?: readonly NodeId[]): number {
    for (let i = 0; i <= max; i++) {
      if (pred()) return i;
      if (ids === undefined) this.tickAll();
      else for (const id of ids) this.tick(id);
      this.deliverAll();
    }
    throw new Error(`tickUntil: condition not reached in ${max} ticks`);
  }

  /** Removes and returns the undelivered messages that match `pred`. */
  take(pred: (m: Message) => boolean = () => true): Message[] {
    this.processReadies();
    const out = this.inbox.filter(pred);
    this.inbox = this.inbox.filter((m) => !pred(m));
    return out;
  }

  /** Steps `m` into its target and handles the resulting Readies (nothing is delivered). */
  inject(m: Message): void {
    this.trace.push(`inject ${describeMessage(m)}`);
    this.raft(m.to).step(m);
    this.processReadies();
  }

  /** Messages sent so far that match `pred`. */
  sentWhere(pred: (m: Message) => boolean): Message[] {
    return this.sent.filter(pred);
  }

  /** Application payloads applied on node `id`, as text (no-ops omitted). */
  appliedData(id: NodeId): string[] {
    return this.get(id)
      .applied.filter((e) => e.type === 'normal' && e.data.byteLength > 0)
      .map((e) => new TextDecoder().decode(e.data));
  }
}
