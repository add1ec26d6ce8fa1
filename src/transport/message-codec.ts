import type { ConfState, Entry, EntryType, Message, MessageType, SnapshotMetadata } from '../raft/types.ts';
import { TransportError, badFrame } from './errors.ts';

/**
 * Binary form of a Raft message on the wire. Big-endian; every integer field is a u64 that holds a
 * value below 2^53 (a JavaScript safe integer), except counts and lengths (u32) and flags (u8 0|1).
 *
 *   u8 codecVersion (1) | u8 type | u64 from | u64 to | u64 term | body
 *
 *   app            u64 index | u64 logTerm | u64 commit | entries
 *   appResp        u64 index | u8 reject | u64 rejectHint | u64 logTerm
 *   heartbeat      u64 commit | u64 readRound | u64 sentTick
 *   heartbeatResp  u64 readRound | u64 sentTick
 *   vote, preVote  u64 index | u64 logTerm | u8 force
 *   voteResp, preVoteResp  u8 reject
 *   snapshot       u64 metaIndex | u64 metaTerm | confState | u64 totalBytes | u64 offset | bytes chunk
 *   snapshotResp   u64 snapshotIndex | u64 receivedBytes | u8 reject
 *   timeoutNow     (empty)
 *   readIndex      bytes context
 *   readIndexResp  bytes context | u64 index
 *   prop           entries
 *
 *   entries   = u32 count | count * (u64 term | u64 index | u8 entryType (1 normal, 2 conf) | bytes data)
 *   bytes     = u32 length | length bytes
 *   confState = idList voters | idList votersOutgoing | idList learners | idList learnersNext | u8 autoLeave
 *   idList    = u32 count | count * u64 nodeId
 *
 * The encoding is canonical: the decoder accepts exactly the byte strings the encoder produces
 * (flags are 0 or 1, no trailing bytes, no integer above 2^53 - 1), so decode then encode gives
 * back the same bytes. A new field or message type means a new codec version.
 */
export const MESSAGE_CODEC_VERSION = 1;

/** `satisfies Record<MessageType, …>`: a new message type does not compile until it has a code. */
const typeCodes = {
  app: 1,
  appResp: 2,
  heartbeat: 3,
  heartbeatResp: 4,
  preVote: 5,
  preVoteResp: 6,
  vote: 7,
  voteResp: 8,
  snapshot: 9,
  snapshotResp: 10,
  timeoutNow: 11,
  readIndex: 12,
  readIndexResp: 13,
  prop: 14,
} as const satisfies Record<MessageType, number>;

const typeByCode = new Map<number, MessageType>((Object.entries(typeCodes) as [MessageType, number][]).map(([t, c]) => [c, t]));

const entryTypeCodes = { normal: 1, conf: 2 } as const satisfies Record<EntryType, number>;

const HEADER_BYTES = 2 + 3 * 8;
const ENTRY_HEADER_BYTES = 8 + 8 + 1 + 4;
const MAX_U32 = 0xffff_ffff;

function assertNever(x: never): never {
  throw new TransportError('ERR_PROTOCOL', `unknown message ${JSON.stringify(x)}`);
}

class Writer {
  private buf: Buffer;
  private pos = 0;

  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafeSlow(capacity);
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.pos++] = v;
  }

  bool(v: boolean, what: string): void {
    if (typeof v !== 'boolean') throw new TransportError('ERR_PROTOCOL', `cannot encode ${what}: not a boolean`);
    this.u8(v ? 1 : 0);
  }

  u32(v: number, what: string): void {
    if (!Number.isInteger(v) || v < 0 || v > MAX_U32) throw new TransportError('ERR_PROTOCOL', `cannot encode ${what} = ${v}: not a u32`);
    this.room(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }

  u64(v: number, what: string): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new TransportError('ERR_PROTOCOL', `cannot encode ${what} = ${v}: not a non-negative safe integer`);
    this.room(8);
    this.buf.writeUInt32BE(Math.floor(v / 0x1_0000_0000), this.pos);
    this.buf.writeUInt32BE(v >>> 0, this.pos + 4);
    this.pos += 8;
  }

  bytes(b: Uint8Array, what: string): void {
    this.u32(b.byteLength, `${what} length`);
    this.room(b.byteLength);
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
  }

  done(): Uint8Array {
    return new Uint8Array(this.buf.buffer, this.buf.byteOffset, this.pos);
  }
}

class Reader {
  private pos = 0;
  private readonly view: DataView;

  constructor(private readonly src: Uint8Array) {
    this.view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  }

  get remaining(): number {
    return this.src.byteLength - this.pos;
  }

  private need(n: number, what: string): number {
    const at = this.pos;
    if (n > this.src.byteLength - at) throw badFrame(`message truncated: ${what} at byte ${at}`);
    this.pos += n;
    return at;
  }

  u8(what: string): number {
    return this.view.getUint8(this.need(1, what));
  }

  bool(what: string): boolean {
    const v = this.u8(what);
    if (v > 1) throw badFrame(`${what} flag is ${v}, not 0 or 1`);
    return v === 1;
  }

  u32(what: string): number {
    return this.view.getUint32(this.need(4, what));
  }

  u64(what: string): number {
    const at = this.need(8, what);
    const hi = this.view.getUint32(at);
    // Values at or above 2^53 cannot be represented exactly: refused, not rounded.
    if (hi > 0x1f_ffff) throw badFrame(`${what} at byte ${at} does not fit in 53 bits`);
    return hi * 0x1_0000_0000 + this.view.getUint32(at + 4);
  }

  /** A count of items of at least `minItemBytes` each; refused before allocating when the rest cannot hold them. */
  count(minItemBytes: number, what: string): number {
    const n = this.u32(`${what} count`);
    if (n > Math.floor(this.remaining / minItemBytes)) throw badFrame(`${what} count ${n} does not fit in the ${this.remaining} bytes left`);
    return n;
  }

  /** A copy: the decoded message does not keep the frame's buffer alive. */
  bytes(what: string): Uint8Array {
    const n = this.u32(`${what} length`);
    const at = this.need(n, what);
    const out = new Uint8Array(n);
    out.set(this.src.subarray(at, at + n));
    return out;
  }

  end(): void {
    if (this.remaining !== 0) throw badFrame(`${this.remaining} trailing bytes after the message`);
  }
}

function encodeEntries(w: Writer, entries: readonly Entry[]): void {
  w.u32(entries.length, 'entry count');
  for (const e of entries) {
    w.u64(e.term, 'entry term');
    w.u64(e.index, 'entry index');
    const code = entryTypeCodes[e.type];
    if (code === undefined) throw new TransportError('ERR_PROTOCOL', `cannot encode entry type ${String(e.type)}`);
    w.u8(code);
    w.bytes(e.data, 'entry data');
  }
}

function decodeEntries(r: Reader): Entry[] {
  const n = r.count(ENTRY_HEADER_BYTES, 'entry');
  const out: Entry[] = [];
  for (let i = 0; i < n; i++) {
    const term = r.u64('entry term');
    const index = r.u64('entry index');
    const code = r.u8('entry type');
    const type: EntryType | undefined = code === entryTypeCodes.normal ? 'normal' : code === entryTypeCodes.conf ? 'conf' : undefined;
    if (type === undefined) throw badFrame(`unknown entry type ${code}`);
    out.push({ term, index, type, data: r.bytes('entry data') });
  }
  return out;
}

function encodeIds(w: Writer, ids: readonly number[], what: string): void {
  w.u32(ids.length, `${what} count`);
  for (const id of ids) w.u64(id, what);
}

function decodeIds(r: Reader, what: string): number[] {
  const n = r.count(8, what);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(r.u64(what));
  return out;
}

function encodeConfState(w: Writer, cs: ConfState): void {
  encodeIds(w, cs.voters, 'voter');
  encodeIds(w, cs.votersOutgoing, 'outgoing voter');
  encodeIds(w, cs.learners, 'learner');
  encodeIds(w, cs.learnersNext, 'next learner');
  w.bool(cs.autoLeave, 'autoLeave');
}

function decodeConfState(r: Reader): ConfState {
  const voters = decodeIds(r, 'voter');
  const votersOutgoing = decodeIds(r, 'outgoing voter');
  const learners = decodeIds(r, 'learner');
  const learnersNext = decodeIds(r, 'next learner');
  return { voters, votersOutgoing, learners, learnersNext, autoLeave: r.bool('autoLeave') };
}

function capacityHint(m: Message): number {
  switch (m.type) {
    case 'app':
    case 'prop': {
      let n = 64;
      for (const e of m.entries) n += ENTRY_HEADER_BYTES + e.data.byteLength;
      return n;
    }
    case 'snapshot': {
      const cs = m.metadata.confState;
      return 128 + m.chunk.byteLength + 8 * (cs.voters.length + cs.votersOutgoing.length + cs.learners.length + cs.learnersNext.length);
    }
    case 'readIndex':
    case 'readIndexResp':
      return 64 + m.context.byteLength;
    default:
      return 64;
  }
}

/**
 * Encodes a message. Throws a TransportError (ERR_PROTOCOL) for a message that breaks the types'
 * contract (a negative or fractional number, a snapshot chunk past the announced size): such a
 * message is a bug of the sender, and refusing it here keeps it off the wire.
 */
export function encodeMessage(m: Message): Uint8Array {
  const w = new Writer(capacityHint(m));
  w.u8(MESSAGE_CODEC_VERSION);
  const code = typeCodes[m.type];
  if (code === undefined) throw new TransportError('ERR_PROTOCOL', `cannot encode message type ${String(m.type)}`);
  w.u8(code);
  w.u64(m.from, 'from');
  w.u64(m.to, 'to');
  w.u64(m.term, 'term');
  switch (m.type) {
    case 'app':
      w.u64(m.index, 'index');
      w.u64(m.logTerm, 'logTerm');
      w.u64(m.commit, 'commit');
      encodeEntries(w, m.entries);
      break;
    case 'appResp':
      w.u64(m.index, 'index');
      w.bool(m.reject, 'reject');
      w.u64(m.rejectHint, 'rejectHint');
      w.u64(m.logTerm, 'logTerm');
      break;
    case 'heartbeat':
      w.u64(m.commit, 'commit');
      w.u64(m.readRound, 'readRound');
      w.u64(m.sentTick, 'sentTick');
      break;
    case 'heartbeatResp':
      w.u64(m.readRound, 'readRound');
      w.u64(m.sentTick, 'sentTick');
      break;
    case 'vote':
    case 'preVote':
      w.u64(m.index, 'index');
      w.u64(m.logTerm, 'logTerm');
      w.bool(m.force, 'force');
      break;
    case 'voteResp':
    case 'preVoteResp':
      w.bool(m.reject, 'reject');
      break;
    case 'snapshot':
      if (m.offset + m.chunk.byteLength > m.totalBytes) {
        throw new TransportError('ERR_PROTOCOL', `snapshot chunk ${m.offset}+${m.chunk.byteLength} runs past totalBytes ${m.totalBytes}`);
      }
      w.u64(m.metadata.index, 'snapshot index');
      w.u64(m.metadata.term, 'snapshot term');
      encodeConfState(w, m.metadata.confState);
      w.u64(m.totalBytes, 'totalBytes');
      w.u64(m.offset, 'offset');
      w.bytes(m.chunk, 'chunk');
      break;
    case 'snapshotResp':
      w.u64(m.snapshotIndex, 'snapshotIndex');
      w.u64(m.receivedBytes, 'receivedBytes');
      w.bool(m.reject, 'reject');
      break;
    case 'timeoutNow':
      break;
    case 'readIndex':
      w.bytes(m.context, 'context');
      break;
    case 'readIndexResp':
      w.bytes(m.context, 'context');
      w.u64(m.index, 'index');
      break;
    case 'prop':
      encodeEntries(w, m.entries);
      break;
    default:
      return assertNever(m);
  }
  return w.done();
}

/**
 * Decodes a message, validating every byte. Throws a TransportError with code ERR_BAD_FRAME on
 * any malformed input, and never anything else.
 */
export function decodeMessage(bytes: Uint8Array): Message {
  const r = new Reader(bytes);
  if (bytes.byteLength < HEADER_BYTES) throw badFrame(`message of ${bytes.byteLength} bytes is shorter than its ${HEADER_BYTES}-byte header`);
  const version = r.u8('codec version');
  if (version !== MESSAGE_CODEC_VERSION) throw badFrame(`unsupported message codec version ${version} (this build reads ${MESSAGE_CODEC_VERSION})`);
  const code = r.u8('message type');
  const type = typeByCode.get(code);
  if (type === undefined) throw badFrame(`unknown message type ${code}`);
  const from = r.u64('from');
  const to = r.u64('to');
  const term = r.u64('term');
  const base = { from, to, term };
  let m: Message;
  switch (type) {
    case 'app': {
      const index = r.u64('index');
      const logTerm = r.u64('logTerm');
      const commit = r.u64('commit');
      m = { ...base, type, index, logTerm, commit, entries: decodeEntries(r) };
      break;
    }
    case 'appResp': {
      const index = r.u64('index');
      const reject = r.bool('reject');
      const rejectHint = r.u64('rejectHint');
      m = { ...base, type, index, reject, rejectHint, logTerm: r.u64('logTerm') };
      break;
    }
    case 'heartbeat': {
      const commit = r.u64('commit');
      const readRound = r.u64('readRound');
      m = { ...base, type, commit, readRound, sentTick: r.u64('sentTick') };
      break;
    }
    case 'heartbeatResp': {
      const readRound = r.u64('readRound');
      m = { ...base, type, readRound, sentTick: r.u64('sentTick') };
      break;
    }
    case 'vote':
    case 'preVote': {
      const index = r.u64('index');
      const logTerm = r.u64('logTerm');
      m = { ...base, type, index, logTerm, force: r.bool('force') };
      break;
    }
    case 'voteResp':
    case 'preVoteResp':
      m = { ...base, type, reject: r.bool('reject') };
      break;
    case 'snapshot': {
      const index = r.u64('snapshot index');
      const snapTerm = r.u64('snapshot term');
      const metadata: SnapshotMetadata = { index, term: snapTerm, confState: decodeConfState(r) };
      const totalBytes = r.u64('totalBytes');
      const offset = r.u64('offset');
      const chunk = r.bytes('chunk');
      // The Raft core asserts that chunks never run past the announced size.
      if (offset + chunk.byteLength > totalBytes) throw badFrame(`snapshot chunk ${offset}+${chunk.byteLength} runs past totalBytes ${totalBytes}`);
      m = { ...base, type, metadata, totalBytes, offset, chunk };
      break;
    }
    case 'snapshotResp': {
      const snapshotIndex = r.u64('snapshotIndex');
      const receivedBytes = r.u64('receivedBytes');
      m = { ...base, type, snapshotIndex, receivedBytes, reject: r.bool('reject') };
      break;
    }
    case 'timeoutNow':
      m = { ...base, type };
      break;
    case 'readIndex':
      m = { ...base, type, context: r.bytes('context') };
      break;
    case 'readIndexResp': {
      const context = r.bytes('context');
      m = { ...base, type, context, index: r.u64('index') };
      break;
    }
    case 'prop':
      m = { ...base, type, entries: decodeEntries(r) };
      break;
    default:
      return assertNever(type);
  }
  r.end();
  return m;
}
