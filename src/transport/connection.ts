import type { Socket } from 'node:net';
import type { Message, NodeId } from '../raft/types.ts';
import { TransportError } from './errors.ts';
import { FRAME_HEADER_BYTES, FrameDecoder, FrameType, encodeFrameHeader } from './frame.ts';
import type { Frame } from './frame.ts';
import { ClientHandshake, MAX_HANDSHAKE_PAYLOAD_BYTES, ServerHandshake } from './handshake.ts';
import { decodeMessage } from './message-codec.ts';

/**
 * One peer connection: a socket, its frame decoder and its handshake. It turns bytes into
 * authenticated Raft messages and closes itself, with a reason, on anything else. It never
 * throws into the socket's event handlers: a peer's bytes cannot crash the process.
 *
 * Connections are one-way once open: the dialer sends Raft messages, the listener only receives
 * them (each node sends on the connection it dialed). So a listener that sees a frame from its
 * own side's peer after the handshake, or a dialer that receives anything, is a protocol error.
 */
export type Direction = 'inbound' | 'outbound';

export type CloseLevel = 'info' | 'warn';

export interface ConnectionHooks {
  /** The handshake completed: the peer is `conn.peer`. */
  onOpen(conn: Connection): void;
  onMessage(conn: Connection, m: Message): void;
  /** Called once, after the socket was destroyed. */
  onClose(conn: Connection, reason: string, level: CloseLevel, code: string | undefined): void;
  /**
   * A whole frame of `n` bytes (header and payload) arrived after the handshake, counted like
   * the sender's `bytesSent`, also when it came in the same chunk as the end of the handshake.
   */
  onBytesReceived(conn: Connection, n: number): void;
}

export interface ConnectionOptions {
  readonly localId: NodeId;
  readonly maxFramePayloadBytes: number;
  readonly handshakeTimeoutMs: number;
}

export class Connection {
  state: 'handshaking' | 'open' | 'closed' = 'handshaking';
  /** The authenticated peer (0 until the handshake completes). */
  peer: NodeId = 0;
  /** Set while a write returned false: nothing more is written until the socket drains. */
  waitingDrain = false;
  readonly remote: string;
  private readonly decoder = new FrameDecoder(MAX_HANDSHAKE_PAYLOAD_BYTES);
  private handshakeTimer: NodeJS.Timeout | undefined;
  /** Resolves once the socket has emitted 'close': its handle is released. */
  readonly socketClosed: Promise<void>;

  constructor(
    readonly socket: Socket,
    readonly direction: Direction,
    private readonly handshake: ClientHandshake | ServerHandshake,
    private readonly opts: ConnectionOptions,
    private readonly hooks: ConnectionHooks,
    /** For an outbound connection: the node it dials. */
    readonly dialedPeer: NodeId = 0,
  ) {
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.socketClosed = new Promise((resolve) => socket.once('close', () => resolve()));
    this.handshakeTimer = setTimeout(() => this.close(`handshake not completed within ${opts.handshakeTimeoutMs} ms`, 'warn', 'ERR_HANDSHAKE'), opts.handshakeTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e: Error) => {
      const code = (e as { code?: string }).code;
      // A peer that fails TLS verification is refused, not merely unreachable.
      const refused = code !== undefined && /CERT|SSL|SIGNATURE|TLS/.test(code);
      this.close(`socket error: ${e.message}`, refused ? 'warn' : 'info', code);
    });
    socket.on('close', () => this.close('connection closed by the peer', 'info', undefined));
  }

  /** The peer this connection is about, for log lines: authenticated, dialed, or claimed. */
  get peerForLog(): NodeId {
    if (this.peer !== 0) return this.peer;
    if (this.dialedPeer !== 0) return this.dialedPeer;
    return this.handshake instanceof ServerHandshake ? this.handshake.claimedNodeId : 0;
  }

  /** For an outbound connection, once the socket is connected (and TLS is up): send the hello. */
  startHandshake(): void {
    if (this.state !== 'handshaking' || !(this.handshake instanceof ClientHandshake)) return;
    this.writeFrame(this.handshake.start());
  }

  /** Writes one frame on its own; returns socket.write()'s verdict (false: wait for 'drain'). */
  writeFrame(f: Frame): boolean {
    const header = encodeFrameHeader(f.type, f.payload);
    return this.batch(() => this.writeEncoded(header, f.payload));
  }

  /**
   * Runs `write` with the socket corked: every frame it writes reaches the socket's write path
   * together when it returns, so the kernel sees one writev for the whole batch instead of one
   * per frame (per part of a frame, uncorked).
   */
  batch<T>(write: () => T): T {
    this.socket.cork();
    try {
      return write();
    } finally {
      this.socket.uncork();
    }
  }

  /**
   * Writes one frame, header then payload; returns socket.write()'s verdict (false: wait for
   * 'drain'). Call it inside `batch()`: uncorked, the header and the payload would each cost
   * a system call.
   */
  writeEncoded(header: Uint8Array, payload: Uint8Array): boolean {
    if (this.state === 'closed') return false;
    this.socket.write(header);
    return this.socket.write(payload);
  }

  close(reason: string, level: CloseLevel, code: string | undefined): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.handshakeTimer !== undefined) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    this.socket.destroy();
    this.hooks.onClose(this, reason, level, code);
  }

  /** A method, not a field test: handlers called in between may have closed the connection. */
  isClosed(): boolean {
    return this.state === 'closed';
  }

  private fail(e: unknown): void {
    if (e instanceof TransportError) this.close(e.message, 'warn', e.code);
    else this.close(`unexpected error: ${String(e)}`, 'warn', undefined);
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    try {
      this.decoder.push(chunk);
    } catch (e) {
      this.fail(e);
      return;
    }
    while (!this.isClosed()) {
      let f: Frame | undefined;
      try {
        f = this.decoder.next();
      } catch (e) {
        this.fail(e);
        return;
      }
      if (f === undefined) return;
      if (this.state === 'handshaking') this.onHandshakeFrame(f);
      else this.onOpenFrame(f);
    }
  }

  private onHandshakeFrame(f: Frame): void {
    let peer: NodeId | undefined;
    try {
      const step = this.handshake.receive(f);
      for (const out of step.send) this.writeFrame(out);
      peer = step.peer;
    } catch (e) {
      this.fail(e);
      return;
    }
    if (peer === undefined) return;
    this.state = 'open';
    this.peer = peer;
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    // Only now may a frame be as large as a Raft message.
    this.decoder.setMaxPayloadBytes(this.opts.maxFramePayloadBytes);
    this.hooks.onOpen(this);
  }

  private onOpenFrame(f: Frame): void {
    this.hooks.onBytesReceived(this, FRAME_HEADER_BYTES + f.payload.byteLength);
    if (this.direction === 'outbound') {
      this.close(`the listener sent a frame of type ${f.type} after the handshake (it must only receive)`, 'warn', 'ERR_PROTOCOL');
      return;
    }
    if (f.type !== FrameType.Message) {
      this.close(`a handshake frame of type ${f.type} after the handshake`, 'warn', 'ERR_PROTOCOL');
      return;
    }
    let m: Message;
    try {
      m = decodeMessage(f.payload);
    } catch (e) {
      this.fail(e);
      return;
    }
    if (m.from !== this.peer || m.to !== this.opts.localId) {
      this.close(`message ${m.from}->${m.to} on the connection of authenticated node ${this.peer} to node ${this.opts.localId}`, 'warn', 'ERR_PROTOCOL');
      return;
    }
    // Outside the try blocks: an exception from the handler is the caller's bug and propagates.
    this.hooks.onMessage(this, m);
  }
}
