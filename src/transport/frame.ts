import { crc32 } from 'node:zlib';
import { TransportError, badFrame } from './errors.ts';

/**
 * Frames on a peer connection. Big-endian. A 20-byte header, then the payload:
 *
 *   u32 magic "MNGP" | u8 version (1) | u8 type | u16 reserved (0) | u32 payloadBytes
 *   | u32 payloadCrc (crc32 of the payload) | u32 headerCrc (crc32 of header bytes 0..16)
 *
 * The header has its own checksum so that a damaged length is refused at once, instead of the
 * decoder waiting for (or buffering) a payload that will never come. A length above the
 * decoder's limit is refused as soon as the header arrives, before any of the payload is buffered.
 * The version is checked before the header checksum, so a peer of another version gets a clear
 * reason rather than a checksum mismatch.
 */
export const FRAME_MAGIC = 0x4d4e4750;
export const FRAME_VERSION = 1;
export const FRAME_HEADER_BYTES = 20;

/** The largest Raft message: 16 MiB of entries or snapshot chunk, plus room for the message's own fields. */
export const DEFAULT_MAX_FRAME_PAYLOAD_BYTES = 16 * 1024 * 1024 + 64 * 1024;
/** No frame may be larger than this, whatever the configuration (the u32 length field allows 4 GiB). */
export const MAX_FRAME_PAYLOAD_BYTES_LIMIT = 1024 * 1024 * 1024;

export const FrameType = {
  /** Handshake, dialer to listener: who I am, whom I want, my nonce. */
  ClientHello: 1,
  /** Handshake, listener to dialer: who I am, my nonce, my proof. */
  ServerHello: 2,
  /** Handshake, dialer to listener: my proof. */
  ClientProof: 3,
  /** One encoded Raft message. */
  Message: 4,
  /** Client port: a request of the native client protocol (src/api/protocol.ts). */
  ClientRequest: 5,
  /** Client port: a response of the native client protocol. */
  ClientResponse: 6,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const frameTypes = new Set<number>(Object.values(FrameType));

export interface Frame {
  readonly type: FrameType;
  readonly payload: Uint8Array;
}

/** The header of a frame carrying `payload`; send it followed by the payload itself. */
export function encodeFrameHeader(type: FrameType, payload: Uint8Array): Buffer {
  if (!frameTypes.has(type)) throw new TransportError('ERR_PROTOCOL', `unknown frame type ${type}`);
  if (payload.byteLength > MAX_FRAME_PAYLOAD_BYTES_LIMIT) {
    throw new TransportError('ERR_FRAME_TOO_LARGE', `frame payload of ${payload.byteLength} bytes is above the hard limit of ${MAX_FRAME_PAYLOAD_BYTES_LIMIT}`);
  }
  const h = Buffer.alloc(FRAME_HEADER_BYTES);
  h.writeUInt32BE(FRAME_MAGIC, 0);
  h.writeUInt8(FRAME_VERSION, 4);
  h.writeUInt8(type, 5);
  h.writeUInt32BE(payload.byteLength, 8);
  h.writeUInt32BE(crc32(payload), 12);
  h.writeUInt32BE(crc32(h.subarray(0, 16)), 16);
  return h;
}

/** A whole frame in one buffer (a copy of the payload): for small frames and tests. */
export function encodeFrame(type: FrameType, payload: Uint8Array): Buffer {
  return Buffer.concat([encodeFrameHeader(type, payload), payload]);
}

interface PendingHeader {
  readonly type: FrameType;
  readonly payloadBytes: number;
  readonly payloadCrc: number;
}

/**
 * Reassembles frames from a byte stream cut anywhere (TCP delivers arbitrary fragments). Holds the
 * frame in progress and at most one pushed chunk beyond it, and never waits for a payload above
 * the limit: memory per connection is bounded by `maxPayloadBytes` plus one read. After a decoding error the
 * decoder is unusable: the stream has lost its framing and the connection must be closed.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private bufferedBytes = 0;
  private header: PendingHeader | undefined = undefined;
  private failed: TransportError | undefined = undefined;

  constructor(private maxPayloadBytes: number = DEFAULT_MAX_FRAME_PAYLOAD_BYTES) {
    checkMaxPayload(maxPayloadBytes);
  }

  /** Changes the limit for frames whose header has not arrived yet (raised after a handshake). */
  setMaxPayloadBytes(n: number): void {
    checkMaxPayload(n);
    this.maxPayloadBytes = n;
  }

  /** Bytes held for frames not yet complete. */
  get buffered(): number {
    return this.bufferedBytes;
  }

  /**
   * Buffers bytes from the stream. Call `next()` until it returns undefined after each push: the
   * caller may change the limit between frames (a handshake raises it), so frames are taken one
   * at a time.
   */
  push(chunk: Uint8Array): void {
    if (this.failed !== undefined) throw this.failed;
    if (chunk.byteLength === 0) return;
    this.chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.bufferedBytes += chunk.byteLength;
  }

  /** The next complete frame, or undefined until more bytes arrive. Throws a TransportError on bad input. */
  next(): Frame | undefined {
    if (this.failed !== undefined) throw this.failed;
    try {
      if (this.header === undefined) {
        if (this.bufferedBytes < FRAME_HEADER_BYTES) return undefined;
        this.header = this.parseHeader(this.take(FRAME_HEADER_BYTES));
      }
      const h = this.header;
      if (this.bufferedBytes < h.payloadBytes) return undefined;
      const payload = this.take(h.payloadBytes);
      if (crc32(payload) !== h.payloadCrc) throw badFrame(`payload checksum mismatch in a frame of type ${h.type} and ${h.payloadBytes} bytes`);
      this.header = undefined;
      return { type: h.type, payload };
    } catch (e) {
      this.failed = e instanceof TransportError ? e : badFrame(`frame decoder: ${String(e)}`);
      this.chunks = [];
      this.bufferedBytes = 0;
      throw this.failed;
    }
  }

  /** `push(chunk)`, then every frame it completes (for callers that never change the limit). */
  pushAll(chunk: Uint8Array): Frame[] {
    this.push(chunk);
    const out: Frame[] = [];
    for (let f = this.next(); f !== undefined; f = this.next()) out.push(f);
    return out;
  }

  private parseHeader(h: Buffer): PendingHeader {
    const magic = h.readUInt32BE(0);
    if (magic !== FRAME_MAGIC) throw badFrame(`bad frame magic 0x${magic.toString(16).padStart(8, '0')}`);
    const version = h.readUInt8(4);
    if (version !== FRAME_VERSION) throw badFrame(`unsupported frame version ${version} (this build speaks ${FRAME_VERSION})`);
    if (crc32(h.subarray(0, 16)) !== h.readUInt32BE(16)) throw badFrame('frame header checksum mismatch');
    const type = h.readUInt8(5);
    if (!frameTypes.has(type)) throw badFrame(`unknown frame type ${type}`);
    if (h.readUInt16BE(6) !== 0) throw badFrame('frame header reserved bytes are not zero');
    const payloadBytes = h.readUInt32BE(8);
    if (payloadBytes > this.maxPayloadBytes) {
      throw new TransportError('ERR_FRAME_TOO_LARGE', `frame of type ${type} announces ${payloadBytes} payload bytes, more than the limit of ${this.maxPayloadBytes}`);
    }
    return { type: type as FrameType, payloadBytes, payloadCrc: h.readUInt32BE(12) };
  }

  /** Removes the first `n` buffered bytes (the caller checked they are there). */
  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (first !== undefined && first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.bufferedBytes -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, k);
      filled += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.bufferedBytes -= n;
    return out;
  }
}

function checkMaxPayload(n: number): void {
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_FRAME_PAYLOAD_BYTES_LIMIT) {
    throw new TransportError('ERR_BAD_OPTIONS', `maxFramePayloadBytes = ${n}: write an integer in 1..${MAX_FRAME_PAYLOAD_BYTES_LIMIT}`);
  }
}
