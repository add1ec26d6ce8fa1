import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import {
  ApiErrorCode,
  Consistency,
  decodeRequest,
  encodeResponse,
  peekRequestId,
  type HelloReply,
  type ReadOutcome,
  type ReadRequest,
  type Request,
  type Response,
} from '../api/protocol.ts';
import { CommandCodecError, decodeCommand, encodeResult, setCommandTime } from '../master/codec.ts';
import { maxReaddirEntries } from '../master/limits.ts';
import type { CommandResult } from '../master/results.ts';
import type { RaftNode } from '../raft/raft.ts';
import type { ReadState } from '../raft/types.ts';
import { FrameDecoder, FrameType, encodeFrame } from '../transport/frame.ts';
import type { MasterConfig } from './config.ts';
import { commandEntryHeaderBytes, encodeCommandEntry, type MetadataApp } from './metadata-app.ts';
import type { MasterMetrics } from './metrics.ts';
import type { RaftDriver } from './raft-driver.ts';

/** What the client service uses of its master. */
export interface ClientServiceHost {
  readonly cfg: MasterConfig;
  readonly log: Logger;
  readonly metrics: MasterMetrics;
  readonly raft: RaftNode;
  readonly driver: RaftDriver;
  readonly app: MetadataApp;
  /** Client requests not answered within this time get TIMEOUT. */
  readonly requestTimeoutMs: number;
}

interface WriteWaiter {
  readonly reply: (r: Response) => void;
  readonly id: number;
  readonly started: bigint;
  readonly timer: NodeJS.Timeout;
}

interface ReadWaiter {
  readonly reply: (r: Response) => void;
  readonly id: number;
  readonly read: ReadRequest;
  readonly consistency: Consistency;
  readonly started: bigint;
}

interface ReadBatch {
  readonly waiters: ReadWaiter[];
  /** The read index, once known. */
  index: number;
  readonly timer: NodeJS.Timeout;
}

/**
 * The client port of a master: connections speaking the native protocol (src/api/protocol.ts),
 * the writes waiting for their command to be applied here, and the reads waiting for their read
 * index. See docs/ARCHITECTURE.md, "The master daemon".
 */
export class ClientService {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private closing = false;
  private nextRequest = 1;
  private readonly writeWaiters = new Map<number, WriteWaiter>();
  private pendingProposals: Uint8Array[] = [];
  private pendingReads: ReadWaiter[] = [];
  private readonly readBatches = new Map<string, ReadBatch>();
  private nextReadBatch = 1;
  private flushScheduled = false;

  constructor(private readonly h: ClientServiceHost) {}

  get requestTimeoutMs(): number {
    return this.h.requestTimeoutMs;
  }

  get waiting(): { writes: number; readBatches: number } {
    return { writes: this.writeWaiters.size, readBatches: this.readBatches.size };
  }

  onResult(request: number, result: CommandResult): void {
    const w = this.writeWaiters.get(request);
    if (w === undefined) return;
    this.writeWaiters.delete(request);
    clearTimeout(w.timer);
    this.h.metrics.proposals.inc({ outcome: result.ok ? 'ok' : 'failed' });
    this.h.metrics.requestLatency.observe({ kind: 'write' }, Number(process.hrtime.bigint() - w.started) / 1e9);
    w.reply({ ok: true, id: w.id, op: 'write', result: encodeResult(result) });
  }

  onReadState(rs: ReadState): void {
    const key = Buffer.from(rs.context).toString('hex');
    const b = this.readBatches.get(key);
    if (b === undefined) return;
    if (rs.index === 0) {
      this.readBatches.delete(key);
      clearTimeout(b.timer);
      for (const w of b.waiters) this.replyError(w.reply, w.id, 'UNAVAILABLE', 'the leader could not confirm its leadership; retry');
      return;
    }
    b.index = rs.index;
    this.onApplied(this.h.driver.applied);
  }

  onApplied(index: number): void {
    for (const [key, b] of this.readBatches) {
      if (b.index === 0 || b.index > index) continue;
      this.readBatches.delete(key);
      clearTimeout(b.timer);
      for (const w of b.waiters) this.serveRead(w);
    }
  }

    async listen(): Promise<void> {
    const server = createServer((socket) => this.acceptClient(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.h.cfg.listen.client.port, this.h.cfg.listen.client.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  private acceptClient(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    this.sockets.add(socket);
    const decoder = new FrameDecoder(this.h.cfg.client.maxRequestBytes);
    const peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    const reply = (r: Response): void => {
      if (socket.destroyed) return;
      socket.write(encodeFrame(FrameType.ClientResponse, encodeResponse(r)));
    };
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk);
        for (let f = decoder.next(); f !== undefined; f = decoder.next()) {
          if (f.type !== FrameType.ClientRequest) {
            this.h.log.warn({ client: peer, type: f.type }, 'client sent a frame that is not a request: closing');
            socket.destroy();
            return;
          }
          this.onRequest(f.payload, reply);
        }
      } catch (e) {
        this.h.log.warn({ client: peer, err: (e as Error).message }, 'bad frame from a client: closing');
        socket.destroy();
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.sockets.delete(socket));
  }

  private onRequest(payload: Uint8Array, reply: (r: Response) => void): void {
    let req: Request;
    try {
      req = decodeRequest(payload);
    } catch (e) {
      const id = peekRequestId(payload) ?? 0;
      this.replyError(reply, id, 'BAD_REQUEST', (e as Error).message);
      return;
    }
    if (this.closing) {
      this.replyError(reply, req.id, 'SHUTTING_DOWN', 'this master is stopping');
      return;
    }
    switch (req.op) {
      case 'hello':
        reply({ ok: true, id: req.id, op: 'hello', hello: this.hello() });
        return;
      case 'write':
        this.onWrite(req.id, req.command, reply);
        return;
      case 'read':
        this.onRead({ reply, id: req.id, read: req.read, consistency: req.consistency, started: process.hrtime.bigint() });
        return;
    }
  }

  hello(): HelloReply {
    const conf = this.h.raft.status().confState;
    const learners = new Set([...conf.learners, ...conf.learnersNext]);
    const ids = new Set([...conf.voters, ...conf.votersOutgoing, ...conf.learners, ...conf.learnersNext]);
    const members = [...ids].sort((a, b) => a - b).map((id) => ({
      id,
      learner: learners.has(id),
      clientAddress: this.h.app.members.get(id)?.client ?? '',
    }));
    return { nodeId: this.h.cfg.nodeId, leaderId: this.h.driver.leaderId, role: this.h.driver.currentRole, members, clusterId: this.h.cfg.clusterId };
  }

  private leaderClientAddress(): string {
    const l = this.h.driver.leaderId;
    return l === 0 ? '' : (this.h.app.members.get(l)?.client ?? '');
  }

  private replyError(reply: (r: Response) => void, id: number, code: ApiErrorCode, message: string): void {
    reply({ ok: false, id, code, leaderHint: this.h.driver.leaderId, leaderClientAddress: this.leaderClientAddress(), message });
  }

  private onWrite(id: number, commandBytes: Uint8Array, reply: (r: Response) => void): void {
    if (!this.h.driver.isLeader && (this.h.cfg.client.followerWrites === 'redirect' || this.h.driver.leaderId === 0)) {
      const leader = this.h.driver.leaderId;
      this.replyError(reply, id, leader === 0 ? 'UNAVAILABLE' : 'NOT_LEADER', leader === 0 ? 'no leader is known; retry' : `writes go to the leader, master ${leader}`);
      return;
    }
    let data: Uint8Array;
    const request = this.nextRequest++;
    try {
      // The time of a command is the proposing master's, carried in the command: apply never reads a clock.
      // Decoding refuses a malformed command; the entry then carries the client's bytes with the time set.
      decodeCommand(commandBytes);
      data = encodeCommandEntry(this.h.cfg.nodeId, request, commandBytes);
      setCommandTime(data.subarray(commandEntryHeaderBytes), Math.floor(Date.now() / 1000));
    } catch (e) {
      if (e instanceof CommandCodecError) {
        this.replyError(reply, id, 'BAD_REQUEST', e.message);
        return;
      }
      throw e;
    }
    const timer = setTimeout(() => {
      if (this.writeWaiters.delete(request)) {
        this.h.metrics.proposals.inc({ outcome: 'timeout' });
        this.replyError(reply, id, 'TIMEOUT', `no answer within ${this.requestTimeoutMs} ms; the write may or may not have taken effect: retry it with the same session and sequence`);
      }
    }, this.requestTimeoutMs);
    this.writeWaiters.set(request, { reply, id, started: process.hrtime.bigint(), timer });
    this.pendingProposals.push(data);
    this.scheduleFlush();
  }

  private onRead(w: ReadWaiter): void {
    if (w.consistency === Consistency.local) {
      this.serveRead(w);
      return;
    }
    this.pendingReads.push(w);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Proposes the writes and starts one ReadIndex round for the reads that arrived in this turn. */
  private flush(): void {
    const proposals = this.pendingProposals;
    if (proposals.length > 0) {
      this.pendingProposals = [];
      const res = this.h.raft.proposeBatch(proposals);
      if (!res.ok) {
        const code: ApiErrorCode = res.code === 'ERR_PROPOSAL_DROPPED' ? 'BUSY' : res.leaderHint === 0 ? 'UNAVAILABLE' : 'NOT_LEADER';
        for (const data of proposals) {
          const request = Number(new DataView(data.buffer, data.byteOffset).getBigUint64(5));
          const w = this.writeWaiters.get(request);
          if (w === undefined) continue;
          this.writeWaiters.delete(request);
          clearTimeout(w.timer);
          this.h.metrics.proposals.inc({ outcome: 'refused' });
          this.replyError(w.reply, w.id, code, `the write was not accepted (${res.code}); retry`);
        }
      }
    }
    const reads = this.pendingReads;
    if (reads.length > 0) {
      this.pendingReads = [];
      const ctx = Buffer.alloc(12);
      ctx.writeUInt32BE(this.h.cfg.nodeId, 0);
      ctx.writeBigUInt64BE(BigInt(this.nextReadBatch++), 4);
      const res = this.h.raft.readIndex(ctx);
      if (!res.ok) {
        for (const w of reads) this.replyError(w.reply, w.id, res.leaderHint === 0 ? 'UNAVAILABLE' : 'NOT_LEADER', `the read could not start (${res.code}); retry`);
      } else {
        const key = ctx.toString('hex');
        const timer = setTimeout(() => {
          const b = this.readBatches.get(key);
          if (b === undefined) return;
          this.readBatches.delete(key);
          for (const w of b.waiters) this.replyError(w.reply, w.id, 'TIMEOUT', `no read index within ${this.requestTimeoutMs} ms; retry`);
        }, this.requestTimeoutMs);
        this.readBatches.set(key, { waiters: reads, index: 0, timer });
      }
    }
    this.h.driver.kick();
  }

  private serveRead(w: ReadWaiter): void {
    const s = this.h.app.state;
    const q = w.read;
    let outcome: ReadOutcome;
    switch (q.kind) {
      case 'getattr': {
        const r = s.getattr(q.inode);
        outcome = r.ok ? { ok: true, reply: { kind: 'getattr', attr: r.attr } } : r;
        break;
      }
      case 'lookup': {
        const r = s.lookup(q.parent, q.name, q.caller);
        outcome = r.ok ? { ok: true, reply: { kind: 'lookup', inode: r.inode, attr: r.attr } } : r;
        break;
      }
      case 'readdir': {
        const r = s.readdir(q.inode, q.caller, q.after, Math.min(Math.max(q.maxEntries, 1), maxReaddirEntries));
        outcome = r.ok ? { ok: true, reply: { kind: 'readdir', entries: r.entries, cursor: r.cursor } } : r;
        break;
      }
      case 'readlink': {
        const r = s.readlink(q.inode);
        outcome = r.ok ? { ok: true, reply: { kind: 'readlink', target: r.target } } : r;
        break;
      }
      case 'access': {
        const r = s.access(q.inode, q.caller, q.mask);
        outcome = r.ok ? { ok: true, reply: { kind: 'access' } } : r;
        break;
      }
      case 'statfs':
        outcome = { ok: true, reply: { kind: 'statfs', totals: s.statfs() } };
        break;
      case 'readChunk': {
        const r = s.readChunk(q.inode, q.index, Math.floor(Date.now() / 1000));
        outcome = r.ok ? { ok: true, reply: { kind: 'readChunk', chunk: { chunkId: r.chunkId, version: r.version, lengthBytes: r.lengthBytes } } } : r;
        break;
      }
    }
    const consistency = w.consistency === Consistency.local ? 'local' : this.h.driver.isLeader ? 'leader' : 'follower';
    this.h.metrics.reads.inc({ consistency });
    this.h.metrics.requestLatency.observe({ kind: 'read' }, Number(process.hrtime.bigint() - w.started) / 1e9);
    w.reply({ ok: true, id: w.id, op: 'read', outcome });
  }

  failWrites(code: ApiErrorCode, message: string): void {
    for (const [request, w] of this.writeWaiters) {
      this.writeWaiters.delete(request);
      clearTimeout(w.timer);
      this.h.metrics.proposals.inc({ outcome: 'interrupted' });
      this.replyError(w.reply, w.id, code, message);
    }
  }

  failReads(code: ApiErrorCode, message: string): void {
    for (const [key, b] of this.readBatches) {
      this.readBatches.delete(key);
      clearTimeout(b.timer);
      for (const w of b.waiters) this.replyError(w.reply, w.id, code, message);
    }
  }

  /** Stops accepting, answers everything waiting with SHUTTING_DOWN and closes the connections. */
  async close(): Promise<void> {
    this.closing = true;
    this.failWrites('SHUTTING_DOWN', 'this master is stopping; retry on another');
    this.failReads('SHUTTING_DOWN', 'this master is stopping; retry on another');
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server === undefined ? resolve() : this.server.close(() => resolve())));
  }
}
