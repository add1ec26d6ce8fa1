import * as net from 'node:net';
import type { Message, NodeId } from '../../src/raft/types.ts';
import { Transport } from '../../src/transport/transport.ts';
import type { PeerAddress, TransportLogger, TransportOptions } from '../../src/transport/transport.ts';
import { FrameDecoder, encodeFrame } from '../../src/transport/frame.ts';
import type { Frame } from '../../src/transport/frame.ts';
import { ClientHandshake, MAX_HANDSHAKE_PAYLOAD_BYTES, ServerHandshake } from '../../src/transport/handshake.ts';
import type { HandshakeConfig } from '../../src/transport/handshake.ts';
import { seededRandom } from '../../src/raft/random.ts';

export const SECRET = 'test-secret-0123456789abcdef-0123';
export const CLUSTER = 'test-cluster';
export const HOST = '127.0.0.1';

/**
 * Wakes waiters when something they watch may have changed. Tests wait on conditions over
 * inboxes, logs and stats, re-checked on every event: no fixed sleeps.
 */
export class Signal {
  private waiters = new Set<() => void>();

  notify(): void {
    for (const w of [...this.waiters]) w();
  }

  until(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!pred()) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }
}

export interface LogEntry {
  readonly level: 'info' | 'warn' | 'error';
  readonly obj: Record<string, unknown>;
  readonly msg: string;
}

export class RecordingLogger implements TransportLogger {
  readonly entries: LogEntry[] = [];
  constructor(private readonly signal: Signal) {}
  info(obj: object, msg: string): void {
    this.add('info', obj, msg);
  }
  warn(obj: object, msg: string): void {
    this.add('warn', obj, msg);
  }
  error(obj: object, msg: string): void {
    this.add('error', obj, msg);
  }
  private add(level: LogEntry['level'], obj: object, msg: string): void {
    this.entries.push({ level, obj: obj as Record<string, unknown>, msg });
    this.signal.notify();
  }
  find(level: LogEntry['level'], reason: RegExp): LogEntry | undefined {
    return this.entries.find((e) => e.level === level && reason.test(`${e.msg} ${String(e.obj['reason'] ?? e.obj['err'] ?? '')}`));
  }
}

export interface TestNode {
  readonly id: NodeId;
  readonly t: Transport;
  readonly inbox: { from: NodeId; m: Message }[];
  readonly connected: { peer: NodeId; direction: string }[];
  readonly disconnected: { peer: NodeId; direction: string; reason: string }[];
  readonly logger: RecordingLogger;
  port: number;
}

export type NodeOptions = Partial<Omit<TransportOptions, 'nodeId' | 'onMessage' | 'onPeerConnected' | 'onPeerDisconnected' | 'logger'>>;

export async function startNode(signal: Signal, id: NodeId, opts: NodeOptions = {}): Promise<TestNode> {
  const logger = new RecordingLogger(signal);
  const node: Omit<TestNode, 't'> & { t?: Transport } = { id, inbox: [], connected: [], disconnected: [], logger, port: 0 };
  const t = new Transport({
    nodeId: id,
    clusterId: CLUSTER,
    clusterSecret: SECRET,
    listen: { host: HOST, port: 0 },
    reconnectBaseMs: 10,
    reconnectMaxMs: 100,
    random: seededRandom(id),
    ...opts,
    logger,
    onMessage: (from, m) => {
      node.inbox.push({ from, m });
      signal.notify();
    },
    onPeerConnected: (peer, direction) => {
      node.connected.push({ peer, direction });
      signal.notify();
    },
    onPeerDisconnected: (peer, info) => {
      node.disconnected.push({ peer, ...info });
      signal.notify();
    },
  });
  node.t = t;
  await t.start();
  node.port = t.address().port;
  return node as TestNode;
}

export function addressOf(n: TestNode): PeerAddress {
  return { id: n.id, host: HOST, port: n.port };
}

/** Starts nodes 1..count and makes every node a peer of every other. */
export async function startCluster(signal: Signal, count: number, opts: NodeOptions = {}): Promise<TestNode[]> {
  const nodes: TestNode[] = [];
  for (let id = 1; id <= count; id++) nodes.push(await startNode(signal, id, opts));
  for (const n of nodes) n.t.setPeers(nodes.filter((p) => p !== n).map(addressOf));
  return nodes;
}

export async function closeAll(nodes: readonly TestNode[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.t.close()));
}

export function heartbeat(from: NodeId, to: NodeId, seq: number): Message {
  return { type: 'heartbeat', from, to, term: 1, commit: seq, readRound: 0, sentTick: seq };
}

export function snapshotChunk(from: NodeId, to: NodeId, sizeBytes: number, fill: number): Message {
  const chunk = new Uint8Array(sizeBytes);
  for (let i = 0; i < sizeBytes; i += 4096) chunk[i] = (fill + i / 4096) & 0xff;
  chunk[sizeBytes - 1] = fill;
  return {
    type: 'snapshot',
    from,
    to,
    term: 1,
    metadata: { index: 100, term: 1, confState: { voters: [1, 2, 3], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false } },
    totalBytes: sizeBytes * 4,
    offset: 0,
    chunk,
  };
}

export function handshakeConfig(nodeId: NodeId, over: Partial<HandshakeConfig> = {}): HandshakeConfig {
  return { clusterId: CLUSTER, nodeId, secret: Buffer.from(SECRET), isPeer: () => true, ...over };
}

/** A raw socket to a transport, with the frames it receives decoded, and a record of its closing. */
export class RawPeer {
  readonly socket: net.Socket;
  readonly frames: Frame[] = [];
  closed = false;
  private readonly decoder = new FrameDecoder(MAX_HANDSHAKE_PAYLOAD_BYTES);

  private constructor(socket: net.Socket, private readonly signal: Signal) {
    this.socket = socket;
    socket.on('data', (b: Buffer) => {
      try {
        this.frames.push(...this.decoder.pushAll(b));
      } catch {
        socket.destroy();
      }
      signal.notify();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      signal.notify();
    });
  }

  static connect(signal: Signal, port: number): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: HOST, port }, () => {
        s.off('error', reject);
        resolve(new RawPeer(s, signal));
      });
      s.once('error', reject);
    });
  }

  write(b: Uint8Array): void {
    this.socket.write(b);
  }

  /** Runs the dialer's side of the handshake as node `as` towards node `to`. */
  async authenticate(as: NodeId, to: NodeId, over: Partial<HandshakeConfig> = {}): Promise<void> {
    const hs = new ClientHandshake(handshakeConfig(as, over), to);
    const hello = hs.start();
    this.write(encodeFrame(hello.type, hello.payload));
    await this.signal.until(() => this.frames.length >= 1 || this.closed, 'the listener hello');
    if (this.closed) throw new Error('closed during the handshake');
    const step = hs.receive(this.frames.shift()!);
    for (const f of step.send) this.write(encodeFrame(f.type, f.payload));
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/**
 * A listener that authenticates a transport's dialer as node `id`, then reads nothing more
 * (a peer whose process stopped reading: its kernel buffers fill and writes stop draining).
 */
export class StalledListener {
  readonly server: net.Server;
  readonly sockets: net.Socket[] = [];
  authenticated = 0;
  port = 0;

  constructor(private readonly signal: Signal, readonly id: NodeId) {
    this.server = net.createServer((s) => this.accept(s));
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, HOST, resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  private accept(s: net.Socket): void {
    this.sockets.push(s);
    s.on('error', () => {});
    const decoder = new FrameDecoder(MAX_HANDSHAKE_PAYLOAD_BYTES);
    const hs = new ServerHandshake(handshakeConfig(this.id));
    const onData = (b: Buffer): void => {
      decoder.push(b);
      for (let f = decoder.next(); f !== undefined; f = decoder.next()) {
        const step = hs.receive(f);
        for (const out of step.send) s.write(encodeFrame(out.type, out.payload));
        if (step.peer !== undefined) {
          // Authenticated: stop reading for good.
          s.off('data', onData);
          s.pause();
          this.authenticated++;
          this.signal.notify();
          return;
        }
      }
    };
    s.on('data', onData);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A port with nothing listening on it (bound, then released). */
export async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, HOST, resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
