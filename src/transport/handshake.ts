import { createHmac, randomBytes as cryptoRandomBytes, timingSafeEqual } from 'node:crypto';
import type { NodeId } from '../raft/types.ts';
import { TransportError, badFrame } from './errors.ts';
import { FrameType } from './frame.ts';
import type { Frame } from './frame.ts';

/**
 * The handshake that opens every peer connection: mutual authentication by challenge-response
 * over a shared cluster secret. The secret never crosses the wire; each side proves it knows the
 * secret with an HMAC-SHA256 over the whole transcript (both hellos, byte for byte: both node
 * ids, the cluster id, the version, both fresh nonces), keyed by the secret and prefixed with a
 * label naming the direction.
 *
 *   dialer -> listener  ClientHello  u16 version | u64 fromId | u64 toId | u8 n | clusterId (n bytes UTF-8) | nonce (32)
 *   listener -> dialer  ServerHello  u16 version | u64 fromId | u64 toId | u8 n | clusterId | nonce (32) | proof (32)
 *   dialer -> listener  ClientProof  proof (32)
 *
 *   serverProof = HMAC(secret, "mooseng peer v1 listener proof" | u32 len | ClientHello | u32 len | ServerHello without proof)
 *   clientProof = HMAC(secret, "mooseng peer v1 dialer proof"   | the same transcript)
 *
 * Why each part is there:
 *  - each side's nonce is fresh, so a proof recorded from an earlier session is worthless in a
 *    new one (replay), and the other side's nonce is in it too, so neither side can choose the
 *    whole transcript;
 *  - the direction label stops a reflection (sending a side's own proof back to it);
 *  - the ids and the cluster id are in the transcript, so a proof for one pair of nodes or one
 *    cluster does not authenticate another; each side also checks them in the clear first, to
 *    log a precise reason (wrong cluster, unknown node, a peer dialed at the wrong address);
 *  - proofs are compared in constant time;
 *  - the listener proves first, but only to a dialer that named the right cluster and a
 *    configured node id. A proof is an HMAC over data the dialer partly chose: safe with a
 *    high-entropy secret, which is why the secret must be at least 16 bytes.
 *
 * The handshake authenticates the ends of the connection. It does not protect the frames that
 * follow against an on-path attacker who can inject into the TCP stream: use TLS for that.
 */
export const HANDSHAKE_VERSION = 1;
export const NONCE_BYTES = 32;
export const PROOF_BYTES = 32;
export const MIN_SECRET_BYTES = 16;
export const MAX_CLUSTER_ID_BYTES = 128;
/** Frames before authentication are small; a larger one is refused before it is buffered. */
export const MAX_HANDSHAKE_PAYLOAD_BYTES = 2 + 8 + 8 + 1 + MAX_CLUSTER_ID_BYTES + NONCE_BYTES + PROOF_BYTES;

const LISTENER_LABEL = Buffer.from('mooseng peer v1 listener proof', 'utf8');
const DIALER_LABEL = Buffer.from('mooseng peer v1 dialer proof', 'utf8');

export interface HandshakeConfig {
  readonly clusterId: string;
  readonly nodeId: NodeId;
  readonly secret: Uint8Array;
  /** Whether `id` is a node this one accepts connections from. */
  readonly isPeer: (id: NodeId) => boolean;
  /** Source of nonces; tests inject a fixed one to replay transcripts. */
  readonly randomBytes?: (n: number) => Uint8Array;
}

export interface HandshakeStep {
  /** Frames to send now, in order. */
  readonly send: readonly Frame[];
  /** Set once the peer is authenticated: its node id. */
  readonly peer: NodeId | undefined;
}

interface Hello {
  readonly version: number;
  readonly fromId: NodeId;
  readonly toId: NodeId;
  readonly clusterId: string;
  readonly nonce: Uint8Array;
}

function handshakeError(reason: string): TransportError {
  return new TransportError('ERR_HANDSHAKE', reason);
}

/** Validates the handshake's options; throws ERR_BAD_OPTIONS with what to write instead. */
export function checkHandshakeConfig(cfg: Pick<HandshakeConfig, 'clusterId' | 'nodeId' | 'secret'>): void {
  const bad = (m: string): never => {
    throw new TransportError('ERR_BAD_OPTIONS', m);
  };
  if (typeof cfg.clusterId !== 'string' || cfg.clusterId.length === 0) bad('clusterId must be a non-empty string (the same on every node of the cluster)');
  if (Buffer.byteLength(cfg.clusterId, 'utf8') > MAX_CLUSTER_ID_BYTES) bad(`clusterId must be at most ${MAX_CLUSTER_ID_BYTES} bytes of UTF-8`);
  if (!Number.isSafeInteger(cfg.nodeId) || cfg.nodeId < 1) bad(`nodeId = ${cfg.nodeId}: write a positive integer (0 means "nobody" in Raft)`);
  if (!(cfg.secret instanceof Uint8Array) || cfg.secret.byteLength < MIN_SECRET_BYTES) {
    bad(`clusterSecret must be at least ${MIN_SECRET_BYTES} bytes; generate one with \`openssl rand -hex 32\``);
  }
}

function encodeHello(h: Hello, proof: Uint8Array | undefined): Buffer {
  const id = Buffer.from(h.clusterId, 'utf8');
  const out = Buffer.alloc(2 + 8 + 8 + 1 + id.length + NONCE_BYTES + (proof === undefined ? 0 : PROOF_BYTES));
  let p = out.writeUInt16BE(h.version, 0);
  p = out.writeBigUInt64BE(BigInt(h.fromId), p);
  p = out.writeBigUInt64BE(BigInt(h.toId), p);
  p = out.writeUInt8(id.length, p);
  p += id.copy(out, p);
  out.set(h.nonce, p);
  p += NONCE_BYTES;
  if (proof !== undefined) out.set(proof, p);
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses a hello; with `withProof`, also splits off the trailing proof. */
function decodeHello(b: Uint8Array, withProof: boolean): { hello: Hello; signed: Uint8Array; proof: Uint8Array | undefined } {
  const fixed = 2 + 8 + 8 + 1;
  if (b.byteLength < fixed) throw badFrame(`hello of ${b.byteLength} bytes is truncated`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const version = v.getUint16(0);
  if (version !== HANDSHAKE_VERSION) throw handshakeError(`peer speaks handshake version ${version}, this build speaks ${HANDSHAKE_VERSION}`);
  const fromId = v.getBigUint64(2);
  const toId = v.getBigUint64(10);
  if (fromId > BigInt(Number.MAX_SAFE_INTEGER) || toId > BigInt(Number.MAX_SAFE_INTEGER)) throw badFrame('hello node id does not fit in 53 bits');
  const idLen = v.getUint8(18);
  const expected = fixed + idLen + NONCE_BYTES + (withProof ? PROOF_BYTES : 0);
  if (b.byteLength !== expected) throw badFrame(`hello is ${b.byteLength} bytes, expected ${expected}`);
  let clusterId: string;
  try {
    clusterId = utf8.decode(b.subarray(fixed, fixed + idLen));
  } catch {
    throw badFrame('hello cluster id is not valid UTF-8');
  }
  const nonceAt = fixed + idLen;
  const signedEnd = nonceAt + NONCE_BYTES;
  return {
    hello: { version, fromId: Number(fromId), toId: Number(toId), clusterId, nonce: b.subarray(nonceAt, signedEnd) },
    signed: b.subarray(0, signedEnd),
    proof: withProof ? b.subarray(signedEnd, signedEnd + PROOF_BYTES) : undefined,
  };
}

/** HMAC-SHA256 over the label and both hellos (the listener's without its proof), length-prefixed. */
export function handshakeProof(secret: Uint8Array, label: 'listener' | 'dialer', clientHello: Uint8Array, serverHelloSigned: Uint8Array): Buffer {
  const len = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n, 0);
    return b;
  };
  return createHmac('sha256', secret)
    .update(label === 'listener' ? LISTENER_LABEL : DIALER_LABEL)
    .update(len(clientHello.byteLength))
    .update(clientHello)
    .update(len(serverHelloSigned.byteLength))
    .update(serverHelloSigned)
    .digest();
}

function proofsEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}

function expectFrame(f: Frame, type: FrameType, state: string): void {
  if (f.type === type) return;
  const what = f.type === FrameType.Message ? 'a Raft message' : `a frame of type ${f.type}`;
  throw new TransportError('ERR_PROTOCOL', `${what} ${state}, before the handshake completed`);
}

function checkClusterId(cfg: HandshakeConfig, theirs: string): void {
  if (theirs !== cfg.clusterId) throw handshakeError(`cluster id mismatch: peer is in cluster ${JSON.stringify(theirs)}, this node in ${JSON.stringify(cfg.clusterId)}`);
}

/** The dialer's side. `start()`, then `receive()` the listener's hello. */
export class ClientHandshake {
  private readonly nonce: Uint8Array;
  private clientHello: Buffer | undefined = undefined;
  private done = false;

  constructor(
    private readonly cfg: HandshakeConfig,
    /** The node the dialer means to reach at that address. */
    private readonly expectedPeer: NodeId,
  ) {
    this.nonce = (cfg.randomBytes ?? cryptoRandomBytes)(NONCE_BYTES);
    if (this.nonce.byteLength !== NONCE_BYTES) throw new TransportError('ERR_BAD_OPTIONS', `randomBytes returned ${this.nonce.byteLength} bytes, not ${NONCE_BYTES}`);
  }

  start(): Frame {
    if (this.clientHello !== undefined) throw new TransportError('ERR_PROTOCOL', 'handshake already started');
    this.clientHello = encodeHello({ version: HANDSHAKE_VERSION, fromId: this.cfg.nodeId, toId: this.expectedPeer, clusterId: this.cfg.clusterId, nonce: this.nonce }, undefined);
    return { type: FrameType.ClientHello, payload: this.clientHello };
  }

  receive(f: Frame): HandshakeStep {
    if (this.clientHello === undefined || this.done) throw new TransportError('ERR_PROTOCOL', `unexpected frame of type ${f.type} in the handshake`);
    expectFrame(f, FrameType.ServerHello, 'from the listener');
    const { hello, signed, proof } = decodeHello(f.payload, true);
    checkClusterId(this.cfg, hello.clusterId);
    if (hello.fromId !== this.expectedPeer) throw handshakeError(`dialed node ${this.expectedPeer} but node ${hello.fromId} answered (a wrong address in the peer list?)`);
    if (hello.toId !== this.cfg.nodeId) throw handshakeError(`listener addressed its hello to node ${hello.toId}, this is node ${this.cfg.nodeId}`);
    const expected = handshakeProof(this.cfg.secret, 'listener', this.clientHello, signed);
    if (!proofsEqual(expected, proof!)) throw handshakeError(`node ${hello.fromId} failed to prove the cluster secret (a different secret, or a mismatched transcript)`);
    this.done = true;
    const mine = handshakeProof(this.cfg.secret, 'dialer', this.clientHello, signed);
    return { send: [{ type: FrameType.ClientProof, payload: mine }], peer: hello.fromId };
  }
}

/** The listener's side: `receive()` the dialer's hello, then its proof. */
export class ServerHandshake {
  private readonly nonce: Uint8Array;
  private clientHello: Uint8Array | undefined = undefined;
  private serverSigned: Buffer | undefined = undefined;
  private claimedPeer: NodeId = 0;
  private done = false;

  constructor(private readonly cfg: HandshakeConfig) {
    this.nonce = (cfg.randomBytes ?? cryptoRandomBytes)(NONCE_BYTES);
    if (this.nonce.byteLength !== NONCE_BYTES) throw new TransportError('ERR_BAD_OPTIONS', `randomBytes returned ${this.nonce.byteLength} bytes, not ${NONCE_BYTES}`);
  }

  /** The node id the dialer claims (0 before its hello): for log lines about a failed handshake. */
  get claimedNodeId(): NodeId {
    return this.claimedPeer;
  }

  receive(f: Frame): HandshakeStep {
    if (this.done) throw new TransportError('ERR_PROTOCOL', `unexpected frame of type ${f.type} after the handshake`);
    if (this.clientHello === undefined) {
      expectFrame(f, FrameType.ClientHello, 'from the dialer');
      const { hello } = decodeHello(f.payload, false);
      checkClusterId(this.cfg, hello.clusterId);
      if (hello.toId !== this.cfg.nodeId) throw handshakeError(`node ${hello.fromId} dialed node ${hello.toId} but this is node ${this.cfg.nodeId} (a wrong address in its peer list?)`);
      if (hello.fromId === this.cfg.nodeId || !this.cfg.isPeer(hello.fromId)) throw handshakeError(`node id ${hello.fromId} is not a configured peer`);
      this.claimedPeer = hello.fromId;
      // Keep a copy: the frame's payload may be a view into a buffer the decoder reuses.
      this.clientHello = Uint8Array.from(f.payload);
      this.serverSigned = encodeHello({ version: HANDSHAKE_VERSION, fromId: this.cfg.nodeId, toId: hello.fromId, clusterId: this.cfg.clusterId, nonce: this.nonce }, undefined);
      const proof = handshakeProof(this.cfg.secret, 'listener', this.clientHello, this.serverSigned);
      return { send: [{ type: FrameType.ServerHello, payload: Buffer.concat([this.serverSigned, proof]) }], peer: undefined };
    }
    expectFrame(f, FrameType.ClientProof, 'from the dialer');
    if (f.payload.byteLength !== PROOF_BYTES) throw badFrame(`proof is ${f.payload.byteLength} bytes, not ${PROOF_BYTES}`);
    const expected = handshakeProof(this.cfg.secret, 'dialer', this.clientHello, this.serverSigned!);
    if (!proofsEqual(expected, f.payload)) throw handshakeError(`node ${this.claimedPeer} failed to prove the cluster secret (a different secret, or a replayed transcript)`);
    this.done = true;
    return { send: [], peer: this.claimedPeer };
  }
}
