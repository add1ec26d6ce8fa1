import { connect, type Socket } from 'node:net';
import {
  Consistency,
  decodeResponse,
  encodeRequest,
  isRetryable,
  type ApiErrorCode,
  type HelloReply,
  type ReadOutcome,
  type ReadReply,
  type ReadRequest,
  type Request,
  type Response,
} from '../api/protocol.ts';
import { decodeResult, encodeCommand } from '../master/codec.ts';
import type { Attr, ChunkInfo, Command } from '../master/commands.ts';
import { ERRNO, type ErrorCode } from '../master/errors.ts';
import { maxReaddirEntries, retryWindow, rootInode } from '../master/limits.ts';
import type { DirEntry, StatfsTotals } from '../master/reads.ts';
import type { CommandResult } from '../master/results.ts';
import { FrameDecoder, FrameType, encodeFrame } from '../transport/frame.ts';

/** Errors the SDK throws: a file-system error from the metadata (`ENOENT`...), or a request that could not be completed. */
export class MoosengError extends Error {
  override readonly name = 'MoosengError';
  constructor(
    /** A file-system code (`ENOENT`, `EEXIST`...) or a request-level one (`TIMEOUT`, `UNAVAILABLE`, `BAD_REQUEST`...). */
    readonly code: ErrorCode | ApiErrorCode | 'CLOSED',
    message: string,
    /** Linux errno for file-system codes; 0 otherwise. */
    readonly errno: number = 0,
  ) {
    super(message);
  }
}

export interface ClientOptions {
  /** Client ports of masters (`host:port`); any one reachable master is enough to find the others. */
  readonly masters: readonly string[];
  /** How long an operation may take, retries included. Default 15 s. */
  readonly deadlineMs?: number;
  /** Where reads go: the leader only (default), or any member (followers and learners answer linearizable reads too). */
  readonly readFrom?: 'leader' | 'any';
  /** Read consistency; default linearizable. */
  readonly consistency?: 'linearizable' | 'lease' | 'local';
  /** The caller for permission checks. Default root. */
  readonly uid?: number;
  readonly gids?: readonly number[];
  /** Session timeout (renewed by the client while it is open). Default 60 s. */
  readonly sessionTimeoutSec?: number;
  /** Per-attempt timeout before trying another master. Default 3 s. */
  readonly attemptTimeoutMs?: number;
  /**
   * A request not answered within this time also goes to another master (a write with the same
   * session and sequence, so it runs at most once); the first good answer wins. Default 250 ms;
   * at least `attemptTimeoutMs` turns it off.
   */
  readonly hedgeAfterMs?: number;
}

interface Pending {
  readonly resolve: (r: Response) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** One TCP connection to a master's client port, with pipelined requests. */
class Connection {
  private readonly socket: Socket;
  private readonly pending = new Map<number, Pending>();
  private readonly decoder = new FrameDecoder(64 * 1024 * 1024);
  private nextId = 1;
  closed = false;

  constructor(readonly address: string) {
    const [host, port] = splitAddress(address);
    // Requests written before the connection is up wait in the socket; the attempt timer of
    // `call` covers the connect, so a master cut off without a reset (SYNs unanswered) costs one
    // attempt timeout, not the kernel's connect timeout.
    this.socket = connect({ host, port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => {
      try {
        this.decoder.push(chunk);
        for (let f = this.decoder.next(); f !== undefined; f = this.decoder.next()) {
          if (f.type !== FrameType.ClientResponse) throw new Error(`unexpected frame type ${f.type}`);
          const res = decodeResponse(f.payload);
          const p = this.pending.get(res.id);
          if (p === undefined) continue;
          this.pending.delete(res.id);
          clearTimeout(p.timer);
          p.resolve(res);
        }
      } catch (e) {
        this.fail(new MoosengError('UNAVAILABLE', `bad response from ${address}: ${(e as Error).message}`));
      }
    });
    this.socket.on('error', (e) => this.fail(new MoosengError('UNAVAILABLE', `${address}: ${e.message}`)));
    this.socket.on('close', () => this.fail(new MoosengError('UNAVAILABLE', `${address}: connection closed`)));
  }

  private fail(e: Error): void {
    this.closed = true;
    this.socket.destroy();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    this.pending.clear();
  }

  async call(make: (id: number) => Request, timeoutMs: number): Promise<Response> {
    if (this.closed) throw new MoosengError('UNAVAILABLE', `${this.address}: connection closed`);
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffff_ffff ? 1 : this.nextId + 1;
    return new Promise<Response>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new MoosengError('TIMEOUT', `${this.address}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.socket.write(encodeFrame(FrameType.ClientRequest, encodeRequest(make(id))));
    });
  }

  close(): void {
    this.fail(new MoosengError('CLOSED', 'the client was closed'));
  }

  /** Drops a connection that stopped answering: its other requests fail as retryable, and the next call dials afresh. */
  abandon(reason: string): void {
    this.fail(new MoosengError('UNAVAILABLE', `${this.address}: ${reason}`));
  }
}

function splitAddress(a: string): [string, number] {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(a);
  if (m === null) throw new MoosengError('BAD_REQUEST', `"${a}" is not host:port`);
  return [m[1] ?? '', Number(m[2])];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Options of a new node. */
export interface CreateOptions {
  readonly mode?: number;
  readonly umask?: number;
}

/**
 * The mooseng client: finds the leader among the given masters, follows redirects, and retries
 * retryable failures with backoff inside a deadline. Mutations run in a session and carry a
 * sequence number; a retry resends the same bytes, so the master's retry cache runs each mutation
 * exactly once even when the first attempt's answer was lost in a failover.
 */
export class MoosengClient {
  private readonly conns = new Map<string, Connection>();
  private readonly known: string[];
  private leaderAddress: string | undefined;
  /** The master that answered the last request (writes may be answered by a forwarding follower). */
  private lastGood: string | undefined;
  /** Masters that timed out or refused a connection, and until when they are tried last. */
  private readonly suspectUntil = new Map<string, number>();
  private members: HelloReply['members'] = [];
  private session = 0;
  private seq = 0;
  private inFlight = 0;
  /** Sequence numbers of the session's mutations in flight. */
  private readonly inFlightSeqs = new Set<number>();
  private readonly waitingForSlot: (() => void)[] = [];
  private renewTimer: NodeJS.Timeout | undefined;
  private readRobin = 0;
  private closed = false;
  private readonly deadlineMs: number;
  private readonly attemptTimeoutMs: number;
  private readonly hedgeAfterMs: number;
  /** Requests sent a second time to another master because the first had not answered in `hedgeAfterMs`. */
  hedges = 0;
  readonly uid: number;
  readonly gids: readonly number[];

  private constructor(private readonly o: ClientOptions) {
    if (o.masters.length === 0) throw new MoosengError('BAD_REQUEST', 'no master addresses given');
    for (const a of o.masters) splitAddress(a);
    this.known = [...o.masters];
    this.deadlineMs = o.deadlineMs ?? 15_000;
    this.attemptTimeoutMs = o.attemptTimeoutMs ?? 3_000;
    this.hedgeAfterMs = o.hedgeAfterMs ?? 250;
    this.uid = o.uid ?? 0;
    this.gids = o.gids ?? [0];
  }

  /** Connects, learns the members and the leader, and opens a session. */
  static async connect(o: ClientOptions): Promise<MoosengClient> {
    const c = new MoosengClient(o);
    try {
      await c.discover();
      const timeoutSec = o.sessionTimeoutSec ?? 60;
      const r = await c.mutate({ kind: 'sessionOpen', rootInode, flags: 0, timeoutSec }, false);
      c.session = r.sessionId ?? 0;
      if (c.session === 0) throw new MoosengError('INTERNAL', 'sessionOpen returned no session id');
      c.renewTimer = setInterval(() => {
        c.mutate({ kind: 'sessionRenew', sessionId: c.session }).catch(() => undefined);
      }, (timeoutSec * 1000) / 3);
      c.renewTimer.unref();
    } catch (e) {
      c.dropConnections();
      throw e;
    }
    return c;
  }

  get sessionId(): number {
    return this.session;
  }

  /** The master that answered last as leader, if known. */
  get leader(): string | undefined {
    return this.leaderAddress;
  }

  /** Asks the masters who they are; records the members' client addresses and the leader. */
  async discover(): Promise<HelloReply> {
    const deadline = Date.now() + this.deadlineMs;
    let last: unknown;
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      for (const a of this.candidates()) {
        try {
          const res = await this.conn(a).call((id) => ({ op: 'hello', id, clientVersion: 1 }), this.attemptTimeoutMs);
          if (!res.ok || res.op !== 'hello') continue;
          this.learn(res.hello);
          return res.hello;
        } catch (e) {
          last = e;
        }
      }
      await sleep(Math.min(500, 20 * 2 ** attempt));
    }
    throw new MoosengError('UNAVAILABLE', `no master answered: ${(last as Error | undefined)?.message ?? 'no address'}`);
  }

  private learn(h: HelloReply): void {
    this.members = h.members;
    for (const m of h.members) if (m.clientAddress !== '' && !this.known.includes(m.clientAddress)) this.known.push(m.clientAddress);
    const l = h.members.find((m) => m.id === h.leaderId);
    if (l !== undefined && l.clientAddress !== '') this.leaderAddress = l.clientAddress;
  }

  /**
   * Masters in the order to try them: the leader if known, then the master that answered last,
   * then the others; a master that timed out or refused connections recently goes last, so that
   * one cut off without a connection reset does not cost every request an attempt timeout.
   */
  private candidates(): string[] {
    const order: string[] = [];
    for (const a of [this.leaderAddress, this.lastGood, ...this.known]) if (a !== undefined && !order.includes(a)) order.push(a);
    const now = Date.now();
    const ok = order.filter((a) => (this.suspectUntil.get(a) ?? 0) <= now);
    return [...ok, ...order.filter((a) => !ok.includes(a))];
  }

  private suspect(address: string): void {
    this.suspectUntil.set(address, Date.now() + 2 * this.attemptTimeoutMs);
    if (this.leaderAddress === address) this.leaderAddress = undefined;
    if (this.lastGood === address) this.lastGood = undefined;
  }

  private conn(address: string): Connection {
    let c = this.conns.get(address);
    if (c === undefined || c.closed) {
      c = new Connection(address);
      this.conns.set(address, c);
    }
    return c;
  }

  /**
   * Sends a request built by `make` until it gets an answer that is not a retryable error, moving
   * to the leader it is told about or to the next master, with backoff, until the deadline.
   */
  private async send(make: (id: number) => Request, targets: () => string[], deadlineMs = this.deadlineMs): Promise<Extract<Response, { ok: true }>> {
    if (this.closed) throw new MoosengError('CLOSED', 'the client was closed');
    const deadline = Date.now() + deadlineMs;
    let last: MoosengError | undefined;
    // Masters tried in this call: each attempt goes to the first candidate not tried yet, so a
    // retry never returns straight to the master that just failed while others remain.
    const tried = new Set<string>();
    for (let attempt = 0; ; attempt++) {
      const list = targets();
      if (list.every((a) => tried.has(a))) tried.clear();
      const target = list.find((a) => !tried.has(a)) ?? this.known[0]!;
      tried.add(target);
      const timeout = Math.min(this.attemptTimeoutMs, Math.max(1, deadline - Date.now()));
      let answered = target;
      try {
        const first = this.conn(target).call(make, timeout);
        let res: Response;
        const hedge = list.find((a) => !tried.has(a));
        if (hedge === undefined || this.hedgeAfterMs >= timeout) res = await first;
        else {
          // No answer soon: the same request (same session and sequence for a write, so it runs at
          // most once) also goes to another master, and the first good answer wins. A leader that
          // is paused or cut off without a reset then costs the hedge delay, not an attempt timeout.
          const early = await Promise.race([first.then(() => true, () => true), sleep(this.hedgeAfterMs).then(() => false)]);
          if (early) res = await first;
          else {
            tried.add(hedge);
            this.hedges++;
            const won = await firstAnswer([first.then((r) => ({ r, from: target })), this.conn(hedge).call(make, timeout).then((r) => ({ r, from: hedge }))]);
            res = won.r;
            answered = won.from;
            // The first master let another answer before it: try it last for a while.
            if (answered !== target) this.suspect(target);
          }
        }
        if (res.ok) {
          this.lastGood = answered;
          this.suspectUntil.delete(answered);
          return res;
        }
        last = new MoosengError(res.code, `${answered}: ${res.message}`);
        if (!isRetryable(res.code)) throw last;
        if (res.code === 'NOT_LEADER' && res.leaderClientAddress !== '') {
          this.leaderAddress = res.leaderClientAddress;
          if (!this.known.includes(res.leaderClientAddress)) this.known.push(res.leaderClientAddress);
          tried.delete(res.leaderClientAddress);
          if (attempt < 3) continue;
        } else if (answered === this.leaderAddress) this.leaderAddress = undefined;
      } catch (e) {
        if (e instanceof MoosengError && !isRetryableClientError(e)) throw e;
        last = e instanceof MoosengError ? e : new MoosengError('UNAVAILABLE', String(e));
        this.suspect(target);
        // A connection that let a request time out may be dead without knowing it (a partition sends no reset).
        if (last.code === 'TIMEOUT') this.conns.get(target)?.abandon('no answer in time');
      }
      if (Date.now() >= deadline) break;
      await sleep(Math.min(Math.max(0, deadline - Date.now()), backoffMs(attempt)));
      if (this.closed) throw new MoosengError('CLOSED', 'the client was closed');
    }
    throw new MoosengError(
      last?.code === 'TIMEOUT' || last === undefined ? 'TIMEOUT' : last.code,
      `gave up after ${deadlineMs} ms: ${last?.message ?? 'no attempt'}`,
    );
  }

  /** Runs one mutation in the session (or none, for sessionOpen) and returns its successful result. */
  private async mutate(
    body: DistributiveOmit<Command, 'timeSec' | 'uid' | 'gids' | 'session'>,
    inSession = true,
    deadlineMs = this.deadlineMs,
  ): Promise<Extract<CommandResult, { ok: true }>> {
    const seq = await this.slot(inSession);
    try {
      const session = inSession ? { id: this.session, seq } : { id: 0, seq: 0 };
      // The master replaces the time with its own; the rest is fixed here, so every retry sends the same command.
      const command = encodeCommand({ ...body, timeSec: 0, uid: this.uid, gids: this.gids, session } as Command);
      const res = await this.send((id) => ({ op: 'write', id, command }), () => this.candidates(), deadlineMs);
      if (res.op !== 'write') throw new MoosengError('INTERNAL', `a write was answered with ${res.op}`);
      const result = decodeResult(res.result);
      if (!result.ok) throw new MoosengError(result.code, `${body.kind}: ${result.code}`, result.errno);
      return result;
    } finally {
      this.release(seq);
    }
  }

  /**
   * Waits until a mutation may start, and gives it its sequence number (0 outside the session).
   * The master keeps the answers of the last `retryWindow` sequence numbers of a session and
   * refuses older ones (RETRY_EXPIRED): a new number is handed out only while the oldest one in
   * flight stays within that window of it, so that every retry still finds its first answer.
   * Counting mutations in flight is not enough: one stuck in a failover while the others go on
   * would fall out of the window.
   */
  private async slot(inSession: boolean): Promise<number> {
    for (;;) {
      let oldest = Infinity;
      for (const s of this.inFlightSeqs) oldest = Math.min(oldest, s);
      const fits = this.inFlight < retryWindow && (!inSession || this.seq + 1 - oldest < retryWindow);
      if (fits) break;
      await new Promise<void>((resolve) => this.waitingForSlot.push(resolve));
    }
    this.inFlight++;
    if (!inSession) return 0;
    const seq = ++this.seq;
    this.inFlightSeqs.add(seq);
    return seq;
  }

  private release(seq: number): void {
    this.inFlight--;
    this.inFlightSeqs.delete(seq);
    // Every waiter checks again, in the order they came.
    for (const wake of this.waitingForSlot.splice(0)) wake();
  }

  private async read(read: ReadRequest): Promise<ReadReply> {
    const c = this.o.consistency ?? 'linearizable';
    const consistency = c === 'lease' ? Consistency.lease : c === 'local' ? Consistency.local : Consistency.linearizable;
    const targets = (): string[] => {
      if (this.o.readFrom !== 'any') return this.candidates();
      const all = this.members.map((m) => m.clientAddress).filter((a) => a !== '');
      if (all.length === 0) return this.candidates();
      const start = this.readRobin++ % all.length;
      return [...all.slice(start), ...all.slice(0, start)];
    };
    const res = await this.send((id) => ({ op: 'read', id, consistency, read }), targets);
    if (res.op !== 'read') throw new MoosengError('INTERNAL', `a read was answered with ${res.op}`);
    return unwrap(res.outcome, read.kind);
  }

  private caller(): { uid: number; gids: readonly number[] } {
    return { uid: this.uid, gids: this.gids };
  }

  // ------------------------------------------------------------------ API by inode

  async mkdir(parent: number, name: string, o: CreateOptions = {}): Promise<Attr> {
    return attrOf(await this.mutate({ kind: 'mkdir', parent, name, mode: o.mode ?? 0o755, umask: o.umask ?? 0o022 }));
  }

  async create(parent: number, name: string, o: CreateOptions = {}): Promise<Attr> {
    return attrOf(await this.mutate({ kind: 'create', parent, name, mode: o.mode ?? 0o644, umask: o.umask ?? 0o022 }));
  }

  async symlink(parent: number, name: string, target: string): Promise<Attr> {
    return attrOf(await this.mutate({ kind: 'symlink', parent, name, target }));
  }

  async link(inode: number, parent: number, name: string): Promise<Attr> {
    return attrOf(await this.mutate({ kind: 'link', inode, parent, name }));
  }

  async unlink(parent: number, name: string): Promise<void> {
    await this.mutate({ kind: 'unlink', parent, name });
  }

  async rmdir(parent: number, name: string): Promise<void> {
    await this.mutate({ kind: 'rmdir', parent, name });
  }

  async rename(srcParent: number, srcName: string, dstParent: number, dstName: string): Promise<Attr> {
    return attrOf(await this.mutate({ kind: 'rename', srcParent, srcName, dstParent, dstName }));
  }

  async chmod(inode: number, mode: number): Promise<Attr> {
    return attrOf(await this.mutate({ kind: 'setattr', inode, setMask: 0x02, mode, newUid: 0, newGid: 0, atimeSec: 0, mtimeSec: 0 }));
  }

  async chown(inode: number, uid: number, gid: number): Promise<Attr> {
    return attrOf(await this.mutate({ kind: 'setattr', inode, setMask: 0x04 | 0x08, mode: 0, newUid: uid, newGid: gid, atimeSec: 0, mtimeSec: 0 }));
  }

  async truncate(inode: number, lengthBytes: number): Promise<Attr> {
    return attrOf(await this.mutate({ kind: 'truncate', inode, lengthBytes }));
  }

  async writeChunk(inode: number, index: number): Promise<ChunkInfo> {
    const r = await this.mutate({ kind: 'writeChunk', inode, index });
    if (r.chunk === undefined) throw new MoosengError('INTERNAL', 'writeChunk returned no chunk');
    return r.chunk;
  }

  async writeChunkEnd(inode: number, index: number, chunkId: number, lengthBytes: number): Promise<void> {
    await this.mutate({ kind: 'writeChunkEnd', inode, index, chunkId, lengthBytes });
  }

  async getattr(inode: number): Promise<Attr> {
    const r = await this.read({ kind: 'getattr', inode });
    if (r.kind !== 'getattr') throw new MoosengError('INTERNAL', 'mismatched reply');
    return r.attr;
  }

  async lookup(parent: number, name: string): Promise<Attr> {
    const r = await this.read({ kind: 'lookup', parent, name, caller: this.caller() });
    if (r.kind !== 'lookup') throw new MoosengError('INTERNAL', 'mismatched reply');
    return r.attr;
  }

  /** Every entry of a directory, in name order, read page by page. */
  async readdir(inode: number, pageSize = 1000): Promise<DirEntry[]> {
    const out: DirEntry[] = [];
    let after: string | null = null;
    for (;;) {
      const r = await this.read({ kind: 'readdir', inode, caller: this.caller(), after, maxEntries: Math.min(pageSize, maxReaddirEntries) });
      if (r.kind !== 'readdir') throw new MoosengError('INTERNAL', 'mismatched reply');
      out.push(...r.entries);
      if (r.cursor === null) return out;
      after = r.cursor;
    }
  }

  async readlink(inode: number): Promise<string> {
    const r = await this.read({ kind: 'readlink', inode });
    if (r.kind !== 'readlink') throw new MoosengError('INTERNAL', 'mismatched reply');
    return r.target;
  }

  async statfs(): Promise<StatfsTotals> {
    const r = await this.read({ kind: 'statfs' });
    if (r.kind !== 'statfs') throw new MoosengError('INTERNAL', 'mismatched reply');
    return r.totals;
  }

  async readChunk(inode: number, index: number): Promise<ChunkInfo> {
    const r = await this.read({ kind: 'readChunk', inode, index });
    if (r.kind !== 'readChunk') throw new MoosengError('INTERNAL', 'mismatched reply');
    return r.chunk;
  }

  // ------------------------------------------------------------------ API by path

  /** The inode of an absolute path (`/` is the root). */
  async resolve(path: string): Promise<Attr> {
    let attr = await this.getattr(rootInode);
    for (const part of splitPath(path)) attr = await this.lookup(attr.inode, part);
    return attr;
  }

  /** The parent directory's inode and the last name of a path. */
  async resolveParent(path: string): Promise<{ parent: number; name: string }> {
    const parts = splitPath(path);
    const name = parts.pop();
    if (name === undefined) throw new MoosengError('EINVAL', `${path} has no last name`, ERRNO.EINVAL);
    let dir = rootInode;
    for (const p of parts) dir = (await this.lookup(dir, p)).inode;
    return { parent: dir, name };
  }

  /** Closes the session and the connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.renewTimer);
    if (this.session !== 0) {
      try {
        // Bounded: with no master reachable, closing must not wait out the whole deadline.
        await this.mutate({ kind: 'sessionClose', sessionId: this.session }, true, Math.min(this.deadlineMs, closeDeadlineMs));
      } catch {
        // The session expires on its own.
      }
    }
    this.closed = true;
    this.dropConnections();
  }

  private dropConnections(): void {
    for (const c of this.conns.values()) c.close();
    this.conns.clear();
  }
}

/** How long `close()` tries to close the session; the session expires on its own otherwise. */
const closeDeadlineMs = 2000;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * The first answer of several attempts, whatever it says (an ok response, or an error response
 * whose leader hint the caller follows at once); a failure only once every attempt has failed.
 */
function firstAnswer<T>(attempts: readonly Promise<T>[]): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let left = attempts.length;
    for (const a of attempts) {
      a.then(resolve, (e: unknown) => {
        if (--left === 0) reject(e);
      });
    }
  });
}

function isRetryableClientError(e: MoosengError): boolean {
  return e.code === 'UNAVAILABLE' || e.code === 'TIMEOUT' || e.code === 'NOT_LEADER' || e.code === 'SHUTTING_DOWN' || e.code === 'BUSY';
}

function backoffMs(attempt: number): number {
  const base = Math.min(500, 10 * 2 ** Math.min(attempt, 6));
  return base / 2 + Math.random() * (base / 2);
}

function attrOf(r: Extract<CommandResult, { ok: true }>): Attr {
  if (r.attr === null) throw new MoosengError('INTERNAL', `inode ${r.inode} has no attributes after the command`);
  return r.attr;
}

function unwrap(o: ReadOutcome, what: string): ReadReply {
  if (!o.ok) throw new MoosengError(o.code, `${what}: ${o.code}`, o.errno);
  return o.reply;
}

export function splitPath(path: string): string[] {
  if (!path.startsWith('/')) throw new MoosengError('EINVAL', `${JSON.stringify(path)} is not an absolute path`, ERRNO.EINVAL);
  return path.split('/').filter((p) => p !== '' && p !== '.');
}
