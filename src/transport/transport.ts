import { randomInt } from 'node:crypto';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Message, NodeId, RandomSource } from '../raft/types.ts';
import { Connection } from './connection.ts';
import type { CloseLevel, ConnectionHooks, ConnectionOptions, Direction } from './connection.ts';
import { TransportError } from './errors.ts';
import { DEFAULT_MAX_FRAME_PAYLOAD_BYTES, FRAME_HEADER_BYTES, FrameType, MAX_FRAME_PAYLOAD_BYTES_LIMIT, encodeFrameHeader } from './frame.ts';
import { ClientHandshake, ServerHandshake, checkHandshakeConfig } from './handshake.ts';
import type { HandshakeConfig } from './handshake.ts';
import { encodeMessage } from './message-codec.ts';

/** A minimal logger, compatible with pino: `logger.warn({ peer: 2 }, 'connection closed')`. */
export interface TransportLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const silentLogger: TransportLogger = { info() {}, warn() {}, error() {} };

export interface PeerAddress {
  readonly id: NodeId;
  readonly host: string;
  readonly port: number;
}

/** PEM (or DER) material for mutual TLS: both ends present a certificate signed by `ca`. */
export interface TransportTlsOptions {
  readonly key: string | Buffer;
  readonly cert: string | Buffer;
  readonly ca: string | Buffer;
}

export type QueueFullPolicy = 'dropNewest' | 'dropOldest';

export interface TransportOptions {
  readonly nodeId: NodeId;
  /** Names the cluster; a peer with another cluster id is refused. */
  readonly clusterId: string;
  /** The shared secret (at least 16 bytes; a string is taken as UTF-8). It never crosses the wire. */
  readonly clusterSecret: string | Uint8Array;
  readonly listen: { readonly host: string; readonly port: number };
  readonly peers?: readonly PeerAddress[];
  /** Called for every message from an authenticated peer, in the order that peer sent them. */
  readonly onMessage: (from: NodeId, m: Message) => void;
  /**
   * An authenticated connection with `peer` was lost (not replaced by a newer one). An inbound
   * loss means the peer's process or host probably died: the Raft core's
   * `reportLeaderConnectionClosed(peer)` is meant for it.
   */
  readonly onPeerDisconnected?: (peer: NodeId, info: { readonly direction: Direction; readonly reason: string }) => void;
  /** A connection with `peer` completed its handshake. */
  readonly onPeerConnected?: (peer: NodeId, direction: Direction) => void;
  readonly logger?: TransportLogger;
  /** Mutual TLS under the handshake. Without it, frames after the handshake are not protected against an on-path attacker. */
  readonly tls?: TransportTlsOptions;
  /** For the reconnect jitter. Default: node:crypto. */
  readonly random?: RandomSource;
  /** Per peer; a message that does not fit is dropped (Raft retransmits). Default 4096. */
  readonly maxQueueMessages?: number;
  /** Per peer, counting frame headers and payloads. Default 64 MiB. */
  readonly maxQueueBytes?: number;
  /** Which message goes when a queue is full: the one being sent (default, like etcd) or the oldest. */
  readonly queueFullPolicy?: QueueFullPolicy;
  /** The largest Raft message accepted or sent, encoded. Default 16 MiB + 64 KiB. */
  readonly maxFramePayloadBytes?: number;
  /** From the dial (or accept) to an authenticated peer. Default 5000. */
  readonly handshakeTimeoutMs?: number;
  /** Reconnect delays: doubling from the base up to the max, each drawn in [d/2, d]. Defaults 50 and 5000. */
  readonly reconnectBaseMs?: number;
  readonly reconnectMaxMs?: number;
  /** Inbound connections still in their handshake; more are refused at once. Default 64. */
  readonly maxPendingHandshakes?: number;
  /** Nonces for the handshake (tests). Default: node:crypto. */
  readonly randomBytes?: (n: number) => Uint8Array;
}

export interface PeerStats {
  readonly id: NodeId;
  readonly address: string;
  /** Our outbound connection is authenticated (we can send). */
  readonly connectedOut: boolean;
  /** The peer's connection to us is authenticated (it can send). */
  readonly connectedIn: boolean;
  readonly queuedMessages: number;
  readonly queuedBytes: number;
  /** Bytes written to the outbound socket that the kernel has not taken yet (at most one frame past the socket's high-water mark). */
  readonly socketBufferedBytes: number;
  readonly sent: number;
  readonly received: number;
  readonly dropped: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  /** Write batches: each hands queued frames to the socket under one cork, so one writev. */
  readonly flushes: number;
  readonly dialAttempts: number;
  /** Outbound connections established after the first one. */
  readonly reconnects: number;
}

export interface TransportStats {
  readonly sent: number;
  readonly received: number;
  /** Messages dropped: full queue, too large, unknown destination. */
  readonly dropped: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  /** Write batches over all peers (see `PeerStats.flushes`). */
  readonly flushes: number;
  readonly reconnects: number;
  /** Connections closed for a failed handshake, a bad frame or a protocol error. */
  readonly rejectedConnections: number;
  readonly peers: readonly PeerStats[];
}

interface QueuedFrame {
  readonly header: Buffer;
  readonly payload: Uint8Array;
  readonly bytes: number;
}

/** A FIFO with O(1) push and shift: an array and a head index, compacted as the head advances. */
class FrameQueue {
  private items: QueuedFrame[] = [];
  private head = 0;
  bytes = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(f: QueuedFrame): void {
    this.items.push(f);
    this.bytes += f.bytes;
  }

  shift(): QueuedFrame | undefined {
    if (this.head >= this.items.length) return undefined;
    const f = this.items[this.head]!;
    this.items[this.head] = undefined as unknown as QueuedFrame;
    this.head++;
    this.bytes -= f.bytes;
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return f;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    this.bytes = 0;
  }
}

class PeerLink {
  readonly queue = new FrameQueue();
  outbound: Connection | undefined = undefined;
  inbound: Connection | undefined = undefined;
  reconnectTimer: NodeJS.Timeout | undefined = undefined;
  /** A flush of the queue is due at the end of the current synchronous run (a microtask). */
  flushScheduled = false;
  backoffAttempt = 0;
  everConnected = false;
  sent = 0;
  received = 0;
  dropped = 0;
  bytesSent = 0;
  bytesReceived = 0;
  flushes = 0;
  dialAttempts = 0;
  reconnects = 0;

  constructor(
    readonly id: NodeId,
    public address: PeerAddress,
  ) {}
}

/**
 * The delay before redial number `attempt` (0 for the first after a loss): exponential backoff
 * with jitter. The ceiling doubles per failed attempt up to `maxMs`; the delay is drawn in
 * [ceiling/2, ceiling], so that nodes restarting together do not dial in lockstep, and never
 * below half the ceiling, so that a dead peer is not dialed in a tight loop.
 */
export function reconnectDelayMs(attempt: number, baseMs: number, maxMs: number, random: RandomSource): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  const half = Math.floor(ceiling / 2);
  return ceiling - half + random.intBelow(half + 1);
}

function positiveInt(name: string, v: number | undefined, dflt: number, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < 1 || v > max) throw new TransportError('ERR_BAD_OPTIONS', `${name} = ${v}: write an integer in 1..${max}`);
  return v;
}

function checkPeers(self: NodeId, peers: readonly PeerAddress[]): void {
  const seen = new Set<NodeId>();
  for (const p of peers) {
    if (!Number.isSafeInteger(p.id) || p.id < 1) throw new TransportError('ERR_BAD_OPTIONS', `peer id ${p.id}: write a positive integer`);
    if (p.id === self) throw new TransportError('ERR_BAD_OPTIONS', `peer list holds this node's own id ${self}: list only the other members`);
    if (seen.has(p.id)) throw new TransportError('ERR_BAD_OPTIONS', `peer id ${p.id} appears twice in the peer list`);
    if (typeof p.host !== 'string' || p.host === '') throw new TransportError('ERR_BAD_OPTIONS', `peer ${p.id}: host must be a non-empty string`);
    if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) throw new TransportError('ERR_BAD_OPTIONS', `peer ${p.id}: port ${p.port} is not in 1..65535`);
    seen.add(p.id);
  }
}

/**
 * The peer transport: one listening socket, one outbound connection per peer, reconnect with
 * backoff, a bounded send queue per peer. Lifecycle: `new Transport(options)`, `await start()`,
 * then `send()`; `await close()` aborts everything at once (queued messages are dropped: Raft
 * retransmits) and leaves no socket or timer behind.
 *
 * Each node sends on the connection it dialed and receives on the connections peers dialed to
 * it, so a message never waits for a handshake in the other direction and a connection's two
 * ends never race to decide which of two crossing connections survives.
 */
export class Transport {
  private readonly nodeId: NodeId;
  private readonly logger: TransportLogger;
  private readonly random: RandomSource;
  private readonly maxQueueMessages: number;
  private readonly maxQueueBytes: number;
  private readonly queueFullPolicy: QueueFullPolicy;
  private readonly maxFramePayloadBytes: number;
  private readonly reconnectBaseMs: number;
  private readonly reconnectMaxMs: number;
  private readonly maxPendingHandshakes: number;
  private readonly handshakeConfig: HandshakeConfig;
  private readonly connOptions: ConnectionOptions;
  private readonly links = new Map<NodeId, PeerLink>();
  /** Inbound connections still in their handshake. */
  private readonly pending = new Set<Connection>();
  /** Every connection whose socket has not emitted 'close' yet: close() waits for them. */
  private readonly live = new Set<Connection>();
  private readonly server: net.Server;
  private state: 'new' | 'starting' | 'running' | 'closed' = 'new';
  private rejectedConnections = 0;
  private droppedUnrouted = 0;
  private closedPromise: Promise<void> | undefined = undefined;

  constructor(private readonly options: TransportOptions) {
    this.nodeId = options.nodeId;
    const secret = typeof options.clusterSecret === 'string' ? Buffer.from(options.clusterSecret, 'utf8') : options.clusterSecret;
    checkHandshakeConfig({ clusterId: options.clusterId, nodeId: options.nodeId, secret });
    if (typeof options.onMessage !== 'function') throw new TransportError('ERR_BAD_OPTIONS', 'onMessage must be a function (from, message) => void');
    this.logger = options.logger ?? silentLogger;
    this.random = options.random ?? { intBelow: (n) => randomInt(n) };
    this.maxQueueMessages = positiveInt('maxQueueMessages', options.maxQueueMessages, 4096);
    this.maxQueueBytes = positiveInt('maxQueueBytes', options.maxQueueBytes, 64 * 1024 * 1024);
    this.maxFramePayloadBytes = positiveInt('maxFramePayloadBytes', options.maxFramePayloadBytes, DEFAULT_MAX_FRAME_PAYLOAD_BYTES, MAX_FRAME_PAYLOAD_BYTES_LIMIT);
    const handshakeTimeoutMs = positiveInt('handshakeTimeoutMs', options.handshakeTimeoutMs, 5000);
    this.reconnectBaseMs = positiveInt('reconnectBaseMs', options.reconnectBaseMs, 50);
    this.reconnectMaxMs = positiveInt('reconnectMaxMs', options.reconnectMaxMs, 5000);
    if (this.reconnectMaxMs < this.reconnectBaseMs) throw new TransportError('ERR_BAD_OPTIONS', `reconnectMaxMs (${this.reconnectMaxMs}) must be at least reconnectBaseMs (${this.reconnectBaseMs})`);
    this.maxPendingHandshakes = positiveInt('maxPendingHandshakes', options.maxPendingHandshakes, 64);
    const policy = options.queueFullPolicy ?? 'dropNewest';
    if (policy !== 'dropNewest' && policy !== 'dropOldest') throw new TransportError('ERR_BAD_OPTIONS', `queueFullPolicy = ${String(policy)}: write 'dropNewest' or 'dropOldest'`);
    this.queueFullPolicy = policy;
    if (this.maxQueueBytes < FRAME_HEADER_BYTES + 64) throw new TransportError('ERR_BAD_OPTIONS', `maxQueueBytes = ${this.maxQueueBytes} cannot hold even a small message: write at least ${FRAME_HEADER_BYTES + 64}`);
    this.handshakeConfig = {
      clusterId: options.clusterId,
      nodeId: options.nodeId,
      secret,
      isPeer: (id) => this.links.has(id),
      ...(options.randomBytes === undefined ? {} : { randomBytes: options.randomBytes }),
    };
    this.connOptions = { localId: options.nodeId, maxFramePayloadBytes: this.maxFramePayloadBytes, handshakeTimeoutMs };
    const peers = options.peers ?? [];
    checkPeers(this.nodeId, peers);
    for (const p of peers) this.links.set(p.id, new PeerLink(p.id, p));
    if (options.tls !== undefined) {
      const { key, cert, ca } = options.tls;
      const server = tls.createServer({ key, cert, ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3', handshakeTimeout: handshakeTimeoutMs }, (s) => this.onAccept(s));
      server.on('tlsClientError', (e, s) => {
        this.rejectedConnections++;
        this.logger.warn({ node: this.nodeId, remote: `${s.remoteAddress ?? '?'}:${s.remotePort ?? '?'}`, err: e.message }, 'TLS handshake with an inbound connection failed');
      });
      this.server = server;
    } else {
      this.server = net.createServer((s) => this.onAccept(s));
    }
    this.server.on('error', (e) => this.logger.error({ node: this.nodeId, err: e.message }, 'listening socket error'));
  }

  /** Starts listening, then dials every peer. Rejects if the address cannot be bound. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new TransportError('ERR_BAD_OPTIONS', `start() called on a transport that is ${this.state}`);
    this.state = 'starting';
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error): void => reject(e);
      this.server.once('error', onError);
      this.server.listen(this.options.listen.port, this.options.listen.host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    if (this.state !== 'starting') return; // closed while binding
    this.state = 'running';
    const a = this.address();
    this.logger.info({ node: this.nodeId, host: a.host, port: a.port, tls: this.options.tls !== undefined }, 'transport listening');
    for (const link of this.links.values()) this.dial(link);
  }

  /** The bound address (the real port when listening on port 0). */
  address(): { host: string; port: number } {
    const a = this.server.address();
    if (a === null || typeof a === 'string') throw new TransportError('ERR_TRANSPORT_CLOSED', 'the transport is not listening');
    return { host: a.address, port: a.port };
  }

  /**
   * Replaces the peer list (membership changes, or addresses learned late). Removed peers lose
   * their connections and queue; a peer whose address changed is redialed at once.
   */
  setPeers(peers: readonly PeerAddress[]): void {
    this.assertOpen();
    checkPeers(this.nodeId, peers);
    const next = new Map(peers.map((p) => [p.id, p]));
    for (const link of [...this.links.values()]) {
      if (!next.has(link.id)) {
        this.links.delete(link.id);
        this.dropLink(link, 'peer removed from the configuration');
      }
    }
    for (const p of peers) {
      const link = this.links.get(p.id);
      if (link === undefined) {
        const fresh = new PeerLink(p.id, p);
        this.links.set(p.id, fresh);
        if (this.state === 'running') this.dial(fresh);
      } else if (link.address.host !== p.host || link.address.port !== p.port) {
        link.address = p;
        link.backoffAttempt = 0;
        link.outbound?.close('peer address changed', 'info', undefined);
        if (link.reconnectTimer !== undefined) {
          clearTimeout(link.reconnectTimer);
          link.reconnectTimer = undefined;
          if (this.state === 'running') this.dial(link);
        }
      }
    }
  }

  /**
   * Queues `m` for `m.to`. Returns false when it was dropped: an unknown destination, a message
   * larger than the frame limit, or a full queue under 'dropNewest'. Never blocks; Raft treats a
   * dropped message as a lost one and retransmits. The message is written when the current
   * synchronous run ends, together with every other message sent to the same peer meanwhile.
   */
  send(m: Message): boolean {
    this.assertOpen();
    const link = this.links.get(m.to);
    if (link === undefined) {
      this.droppedUnrouted++;
      this.logger.warn({ node: this.nodeId, to: m.to, type: m.type }, 'message to a node that is not a configured peer dropped');
      return false;
    }
    const payload = encodeMessage(m);
    if (payload.byteLength > this.maxFramePayloadBytes) {
      link.dropped++;
      this.logger.error({ node: this.nodeId, peer: m.to, type: m.type, bytes: payload.byteLength, max: this.maxFramePayloadBytes }, 'message larger than the frame limit dropped');
      return false;
    }
    const header = encodeFrameHeader(FrameType.Message, payload);
    const bytes = header.byteLength + payload.byteLength;
    const q = link.queue;
    if (bytes > this.maxQueueBytes) {
      link.dropped++;
      return false;
    }
    const full = (): boolean => q.length + 1 > this.maxQueueMessages || q.bytes + bytes > this.maxQueueBytes;
    if (full()) {
      if (this.queueFullPolicy === 'dropNewest') {
        link.dropped++;
        return false;
      }
      while (full() && q.shift() !== undefined) link.dropped++;
    }
    q.push({ header, payload, bytes });
    this.scheduleFlush(link);
    return true;
  }

  stats(): TransportStats {
    const peers: PeerStats[] = [];
    let sent = 0;
    let received = 0;
    let dropped = this.droppedUnrouted;
    let bytesSent = 0;
    let bytesReceived = 0;
    let flushes = 0;
    let reconnects = 0;
    for (const l of this.links.values()) {
      peers.push({
        id: l.id,
        address: `${l.address.host}:${l.address.port}`,
        connectedOut: l.outbound?.state === 'open',
        connectedIn: l.inbound?.state === 'open',
        queuedMessages: l.queue.length,
        queuedBytes: l.queue.bytes,
        socketBufferedBytes: l.outbound?.socket.writableLength ?? 0,
        sent: l.sent,
        received: l.received,
        dropped: l.dropped,
        bytesSent: l.bytesSent,
        bytesReceived: l.bytesReceived,
        flushes: l.flushes,
        dialAttempts: l.dialAttempts,
        reconnects: l.reconnects,
      });
      sent += l.sent;
      received += l.received;
      dropped += l.dropped;
      bytesSent += l.bytesSent;
      bytesReceived += l.bytesReceived;
      flushes += l.flushes;
      reconnects += l.reconnects;
    }
    return { sent, received, dropped, bytesSent, bytesReceived, flushes, reconnects, rejectedConnections: this.rejectedConnections, peers };
  }

  /** Stops listening, destroys every connection, cancels every timer. Queued messages are dropped. */
  close(): Promise<void> {
    if (this.closedPromise !== undefined) return this.closedPromise;
    const wasListening = this.state === 'running' || this.state === 'starting';
    this.state = 'closed';
    for (const link of this.links.values()) this.dropLink(link, 'transport closed');
    for (const c of [...this.pending]) c.close('transport closed', 'info', undefined);
    this.pending.clear();
    for (const c of [...this.live]) c.close('transport closed', 'info', undefined);
    const serverClosed = new Promise<void>((resolve) => {
      if (!wasListening || !this.server.listening) {
        resolve();
        return;
      }
      this.server.close(() => resolve());
    });
    this.closedPromise = Promise.all([serverClosed, ...[...this.live].map((c) => c.socketClosed)]).then(() => {
      this.logger.info({ node: this.nodeId }, 'transport closed');
    });
    return this.closedPromise;
  }

  private assertOpen(): void {
    if (this.state === 'closed') throw new TransportError('ERR_TRANSPORT_CLOSED', 'the transport is closed');
  }

  private dropLink(link: PeerLink, reason: string): void {
    if (link.reconnectTimer !== undefined) clearTimeout(link.reconnectTimer);
    link.reconnectTimer = undefined;
    link.queue.clear();
    const out = link.outbound;
    const inb = link.inbound;
    link.outbound = undefined;
    link.inbound = undefined;
    out?.close(reason, 'info', undefined);
    inb?.close(reason, 'info', undefined);
  }

  // ---------------------------------------------------------------- outbound

  private dial(link: PeerLink): void {
    if (this.state !== 'running' || this.links.get(link.id) !== link || link.outbound !== undefined) return;
    link.reconnectTimer = undefined;
    link.dialAttempts++;
    const { host, port } = link.address;
    const tlsOpts = this.options.tls;
    const socket: net.Socket =
      tlsOpts === undefined
        ? net.connect({ host, port })
        : tls.connect({ host, port, key: tlsOpts.key, cert: tlsOpts.cert, ca: tlsOpts.ca, minVersion: 'TLSv1.3' });
    const conn = new Connection(socket, 'outbound', new ClientHandshake(this.handshakeConfig, link.id), this.connOptions, this.hooks, link.id);
    this.track(conn);
    link.outbound = conn;
    socket.once(tlsOpts === undefined ? 'connect' : 'secureConnect', () => {
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 5000);
      conn.startHandshake();
    });
  }

  private track(conn: Connection): void {
    this.live.add(conn);
    void conn.socketClosed.then(() => this.live.delete(conn));
  }

  private scheduleReconnect(link: PeerLink): void {
    if (this.state !== 'running' || this.links.get(link.id) !== link || link.reconnectTimer !== undefined) return;
    const delayMs = reconnectDelayMs(link.backoffAttempt, this.reconnectBaseMs, this.reconnectMaxMs, this.random);
    link.backoffAttempt++;
    link.reconnectTimer = setTimeout(() => this.dial(link), delayMs);
  }

  /**
   * Arranges one flush of the link at the end of the current synchronous run. The Raft driver
   * sends all the messages of its Readies in one burst (inside a setImmediate, or a promise
   * callback once they are durable): a microtask queued by the first send runs right after that
   * burst, before any I/O, so the whole burst leaves in one batch and no later than it would
   * have unbatched. (A setImmediate queued from the driver's own setImmediate would wait for the
   * next loop iteration, behind a poll for I/O.) Nothing is scheduled while the connection is
   * down or waiting for 'drain': opening it and 'drain' flush the queue themselves.
   */
  private scheduleFlush(link: PeerLink): void {
    if (link.flushScheduled) return;
    const conn = link.outbound;
    if (conn === undefined || conn.state !== 'open' || conn.waitingDrain) return;
    link.flushScheduled = true;
    queueMicrotask(() => {
      link.flushScheduled = false;
      if (this.links.get(link.id) === link) this.flush(link);
    });
  }

  /**
   * Writes the queue to the socket in FIFO order, all under one cork (one writev), until it is
   * empty or the socket asks to wait for 'drain'.
   */
  private flush(link: PeerLink): void {
    const conn = link.outbound;
    if (conn === undefined || conn.state !== 'open' || conn.waitingDrain || link.queue.length === 0) return;
    link.flushes++;
    const drained = conn.batch(() => {
      for (let f = link.queue.shift(); f !== undefined; f = link.queue.shift()) {
        const ok = conn.writeEncoded(f.header, f.payload);
        link.sent++;
        link.bytesSent += f.bytes;
        if (!ok) return false;
      }
      return true;
    });
    if (drained) return;
    // Flow control: the socket holds this frame; nothing more until the kernel has taken it.
    // This is what bounds a snapshot stream to the speed of the slowest link.
    conn.waitingDrain = true;
    conn.socket.once('drain', () => {
      conn.waitingDrain = false;
      if (link.outbound === conn) this.flush(link);
    });
  }

  // ---------------------------------------------------------------- inbound

  private onAccept(socket: net.Socket): void {
    if (this.state !== 'running') {
      socket.destroy();
      return;
    }
    socket.on('error', () => {}); // until the Connection attaches its own handlers
    if (this.pending.size >= this.maxPendingHandshakes) {
      this.rejectedConnections++;
      this.logger.warn({ node: this.nodeId, remote: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`, max: this.maxPendingHandshakes }, 'too many connections in their handshake: refused');
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 5000);
    const conn = new Connection(socket, 'inbound', new ServerHandshake(this.handshakeConfig), this.connOptions, this.hooks);
    this.track(conn);
    this.pending.add(conn);
  }

  // ---------------------------------------------------------------- connection events

  private readonly hooks: ConnectionHooks = {
    onOpen: (conn) => this.onOpen(conn),
    onMessage: (conn, m) => {
      const link = this.links.get(conn.peer);
      if (link === undefined || link.inbound !== conn) return;
      link.received++;
      this.options.onMessage(conn.peer, m);
    },
    onClose: (conn, reason, level, code) => this.onConnectionClose(conn, reason, level, code),
    onBytesReceived: (conn, n) => {
      const link = this.links.get(conn.peer !== 0 ? conn.peer : conn.dialedPeer);
      if (link !== undefined && conn.state === 'open') link.bytesReceived += n;
    },
  };

  private onOpen(conn: Connection): void {
    const peer = conn.peer;
    const link = this.links.get(peer);
    if (conn.direction === 'outbound') {
      if (link === undefined || link.outbound !== conn) {
        conn.close('peer no longer configured', 'info', undefined);
        return;
      }
      link.backoffAttempt = 0;
      if (link.everConnected) link.reconnects++;
      link.everConnected = true;
      this.logger.info({ node: this.nodeId, peer, direction: 'outbound', remote: conn.remote }, 'peer connection established');
      this.options.onPeerConnected?.(peer, 'outbound');
      this.flush(link);
      return;
    }
    this.pending.delete(conn);
    if (link === undefined) {
      conn.close('peer no longer configured', 'info', undefined);
      return;
    }
    const old = link.inbound;
    link.inbound = conn;
    // A peer that restarted, or lost its side of the connection first, dials again: the newer
    // connection is the live one.
    old?.close('replaced by a newer connection from the same peer', 'info', undefined);
    this.logger.info({ node: this.nodeId, peer, direction: 'inbound', remote: conn.remote }, 'peer connection established');
    this.options.onPeerConnected?.(peer, 'inbound');
    // The peer is up again (it just proved it): a dial of ours waiting out its backoff goes now,
    // instead of leaving this direction silent for up to reconnectMaxMs.
    if (link.reconnectTimer !== undefined && link.outbound === undefined) {
      clearTimeout(link.reconnectTimer);
      link.reconnectTimer = undefined;
      link.backoffAttempt = 0;
      this.dial(link);
    }
  }

  private onConnectionClose(conn: Connection, reason: string, level: CloseLevel, code: string | undefined): void {
    this.pending.delete(conn);
    const peer = conn.peerForLog;
    const fields = { node: this.nodeId, peer, direction: conn.direction, remote: conn.remote, reason, ...(code === undefined ? {} : { code }) };
    const authenticated = conn.peer !== 0;
    if (level === 'warn') {
      this.rejectedConnections++;
      this.logger.warn(fields, authenticated ? 'peer connection closed' : 'peer connection refused');
    } else if (this.state !== 'closed') {
      this.logger.info(fields, authenticated ? 'peer connection closed' : 'peer connection failed');
    }
    const link = this.links.get(conn.direction === 'outbound' ? conn.dialedPeer : conn.peer);
    if (link === undefined) return;
    if (conn.direction === 'outbound') {
      if (link.outbound !== conn) return;
      link.outbound = undefined;
      if (this.state === 'running') this.scheduleReconnect(link);
    } else {
      if (link.inbound !== conn) return;
      link.inbound = undefined;
    }
    if (authenticated && this.state === 'running') this.options.onPeerDisconnected?.(conn.peer, { direction: conn.direction, reason });
  }
}
