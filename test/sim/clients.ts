import type { NodeId, ProposeResult, RaftErrorCode } from '../../src/raft/types.ts';
import type { AckedWrite, ServedRead } from './invariants/types.ts';
import { encodeCommand, type KvCommand, type KvStateMachine } from './kv-state-machine.ts';
import { KvHistory, type KvOp } from './lincheck-adapter.ts';
import type { SimConfig } from './config.ts';
import { Rng, Stream } from './prng.ts';

/** What the clients need from the simulator. */
export interface ClientPort {
  /** The current event's stamp (global order of events). */
  stamp(): number;
  /** Nodes a client may contact (all that exist and were not shut down). */
  nodeIds(): readonly NodeId[];
  /** undefined: the node is down (the client gets no answer). */
  propose(node: NodeId, data: Uint8Array): ProposeResult | undefined;
  readIndex(node: NodeId, context: Uint8Array): { ok: true } | { ok: false; code: RaftErrorCode; leaderHint: NodeId } | undefined;
  scheduleClient(delayMs: number, client: number, opId: number, token: number): void;
  /** Whether clients may start new operations. */
  accepting(): boolean;
  writeAcked(w: AckedWrite): void;
  readServed(r: ServedRead): void;
}

interface PendingOp {
  readonly opId: number;
  readonly histId: number;
  readonly op: KvOp;
  readonly seq: number;
  readonly call: number;
  readonly deadlineToken: number;
  /** Only the newest retry timer acts. */
  retryToken: number;
  attempts: number;
}

export interface ClientStats {
  ops: number;
  writesAcked: number;
  readsServed: number;
  readsByRole: Record<string, number>;
  unknown: number;
  readRetries: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

class Client {
  seq = 0;
  leaderHint: NodeId = 0;
  nextOpId = 1;
  pending: PendingOp | undefined = undefined;
  constructor(
    readonly id: number,
    readonly rng: Rng,
  ) {}
}

/**
 * Closed-loop clients: each has at most one operation outstanding, retries it (same
 * command id, so the state machine's sessions keep it at most once) through the leader
 * it was told about or any node, and gives up after a timeout (outcome unknown).
 */
export class ClientPool {
  readonly history = new KvHistory();
  readonly stats: ClientStats = { ops: 0, writesAcked: 0, readsServed: 0, readsByRole: {}, unknown: 0, readRetries: 0 };
  private readonly clients: Client[] = [];
  private readonly keys: string[];
  /** Highest log index of an acknowledged write. */
  maxAckedIndex = 0;

  constructor(
    private readonly cfg: SimConfig,
    private readonly port: ClientPort,
  ) {
    for (let i = 0; i < cfg.clients.count; i++) this.clients.push(new Client(i + 1, new Rng(cfg.seed, Stream.client, i + 1)));
    this.keys = Array.from({ length: cfg.clients.keys }, (_, i) => `k${i}`);
  }

  start(): void {
    for (const c of this.clients) this.port.scheduleClient(c.rng.float() * 20, c.id, 0, 0);
  }

  /** A client timer fired: opId 0 starts a new operation; token 0 on the current op is its deadline. */
  onTimer(clientId: number, opId: number, token: number): void {
    const c = this.clients[clientId - 1];
    if (c === undefined) return;
    if (opId === 0) {
      if (c.pending === undefined) this.startOp(c);
      return;
    }
    const p = c.pending;
    if (p === undefined || p.opId !== opId) return;
    if (token === p.deadlineToken) {
      if (p.op.f === 'get') this.history.abandonRead(p.histId, this.port.stamp());
      else this.history.unknown(p.histId);
      this.stats.unknown++;
      c.pending = undefined;
      this.scheduleNext(c);
      return;
    }
    if (token !== p.retryToken) return;
    this.attempt(c, p);
  }

  private startOp(c: Client): void {
    if (!this.port.accepting()) return;
    const r = c.rng;
    const key = r.pick(this.keys);
    let op: KvOp;
    let seq = 0;
    if (r.chance(this.cfg.clients.readRatio)) op = { f: 'get', key };
    else {
      seq = ++c.seq;
      op = r.chance(0.5) ? { f: 'put', key, value: `p${c.id}.${seq};` } : { f: 'append', key, value: `${c.id}.${seq};` };
    }
    const call = this.port.stamp();
    const histId = this.history.invoke(c.id, op, call);
    const opId = c.nextOpId++;
    const p: PendingOp = { opId, histId, op, seq, call, deadlineToken: -opId, retryToken: 1, attempts: 0 };
    c.pending = p;
    this.stats.ops++;
    this.port.scheduleClient(this.cfg.clients.opTimeoutMs, c.id, opId, p.deadlineToken);
    this.attempt(c, p);
  }

  private scheduleNext(c: Client): void {
    if (!this.port.accepting()) return;
    this.port.scheduleClient(c.rng.float() * this.cfg.clients.thinkMaxMs, c.id, 0, 0);
  }

  private retryIn(c: Client, p: PendingOp, ms: number): void {
    p.retryToken++;
    this.port.scheduleClient(ms, c.id, p.opId, p.retryToken);
  }

  private pickNode(c: Client): NodeId | undefined {
    const ids = this.port.nodeIds();
    if (ids.length === 0) return undefined;
    if (c.leaderHint !== 0 && ids.includes(c.leaderHint) && c.rng.chance(0.6)) return c.leaderHint;
    return c.rng.pick(ids);
  }

  private attempt(c: Client, p: PendingOp): void {
    p.attempts++;
    const node = this.pickNode(c);
    if (node === undefined) {
      this.retryIn(c, p, 5);
      return;
    }
    const r = c.rng;
    if (p.op.f === 'get') {
      const ctx = enc.encode(`${c.id}:${p.opId}:${p.attempts}`);
      if (p.attempts > 1) this.stats.readRetries++;
      const res = this.port.readIndex(node, ctx);
      if (res === undefined) this.retryIn(c, p, 1 + r.float() * 10);
      else if (!res.ok) {
        c.leaderHint = res.leaderHint;
        this.retryIn(c, p, 1 + r.float() * 10);
      } else this.retryIn(c, p, this.cfg.clients.retryMs * (0.5 + r.float()));
      return;
    }
    const cmd: KvCommand = { client: c.id, seq: p.seq, op: p.op.f, key: p.op.key, value: p.op.value };
    const res = this.port.propose(node, encodeCommand(cmd));
    if (res === undefined) this.retryIn(c, p, 1 + r.float() * 10);
    else if (!res.ok) {
      c.leaderHint = res.leaderHint;
      this.retryIn(c, p, res.code === 'ERR_PROPOSAL_DROPPED' ? 20 : 1 + r.float() * 10);
    } else {
      if ('forwarded' in res) c.leaderHint = res.to;
      else c.leaderHint = node;
      this.retryIn(c, p, this.cfg.clients.retryMs * (0.5 + r.float()));
    }
  }

  private completeWrite(c: Client, p: PendingOp, effectIndex: number): void {
    const ret = this.port.stamp();
    this.history.ok(p.histId, undefined, ret);
    c.pending = undefined;
    this.stats.writesAcked++;
    if (effectIndex > this.maxAckedIndex) this.maxAckedIndex = effectIndex;
    this.port.writeAcked({ call: p.call, ret, effectIndex });
    this.scheduleNext(c);
  }

  /** A command took effect (first application) at `index` on some node. */
  onApplied(cmd: KvCommand, index: number): void {
    const c = this.clients[cmd.client - 1];
    const p = c?.pending;
    if (c === undefined || p === undefined || p.op.f === 'get' || p.seq !== cmd.seq) return;
    this.completeWrite(c, p, index);
  }

  /** A node restored a snapshot: writes it covers are done. */
  onRestore(sm: KvStateMachine): void {
    for (const c of this.clients) {
      const p = c.pending;
      if (p === undefined || p.op.f === 'get') continue;
      const idx = sm.effectIndex(c.id, p.seq);
      if (idx !== undefined) this.completeWrite(c, p, idx);
    }
  }

  /** Decodes a read context: which client and operation it belongs to, if still waiting. */
  readOf(context: Uint8Array): { client: number; opId: number; key: string } | undefined {
    const parts = dec.decode(context).split(':');
    const client = Number(parts[0]);
    const opId = Number(parts[1]);
    const c = this.clients[client - 1];
    const p = c?.pending;
    if (p === undefined || p.opId !== opId || p.op.f !== 'get') return undefined;
    return { client, opId, key: p.op.key };
  }

  /** The read index came back as 0: retry soon. */
  onReadRefused(context: Uint8Array): void {
    const r = this.readOf(context);
    if (r === undefined) return;
    const c = this.clients[r.client - 1]!;
    this.retryIn(c, c.pending!, 1 + c.rng.float() * 5);
  }

  /** A read was served from `node`'s state machine. */
  onReadServed(context: Uint8Array, node: NodeId, role: string, sm: KvStateMachine): void {
    const r = this.readOf(context);
    if (r === undefined) return;
    const c = this.clients[r.client - 1]!;
    const p = c.pending!;
    const value = sm.get(r.key);
    const ret = this.port.stamp();
    this.history.ok(p.histId, value, ret);
    c.pending = undefined;
    this.stats.readsServed++;
    this.stats.readsByRole[role] = (this.stats.readsByRole[role] ?? 0) + 1;
    this.port.readServed({ node, key: r.key, call: p.call, ret, appliedIndex: sm.applied, value });
    this.scheduleNext(c);
  }

  outstanding(): number {
    let n = 0;
    for (const c of this.clients) if (c.pending !== undefined) n++;
    return n;
  }
}
