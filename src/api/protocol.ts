import { readAttr, Reader, writeAttr, Writer } from '../master/bytes.ts';
import { errorCodeNumber, errorCodeOfNumber } from '../master/codec.ts';
import type { Attr, ChunkInfo } from '../master/commands.ts';
import { ERRNO, type ErrorCode } from '../master/errors.ts';
import { maxGidsPerCommand, maxNameBytes, maxSymlinkTargetBytes } from '../master/limits.ts';
import type { Caller, DirEntry, StatfsTotals } from '../master/reads.ts';

/**
 * The native client protocol: the payloads of the frames on a master's client port. Big-endian.
 *
 *   request:  u8 version (1) | u8 op | u32 requestId | body
 *   response: u8 version (1) | u8 status (0 ok, 1 error) | u32 requestId | body
 *
 * Requests on one connection may be pipelined; responses carry the request id and may come back
 * in any order. Ops:
 *
 *   1 hello   → u32 nodeId | u32 leaderId | u8 role | u16 members × (u32 id | u8 learner | text2 client address)
 *               | text1 clusterId
 *   2 write   body: an encoded metadata command (src/master/codec.ts) → an encoded command result
 *   3 read    body: u8 consistency | u8 kind | args → u8 fsStatus (0 ok | 1 failed + u8 error code) | reply
 *
 * An error response (`status` 1) means the request was not carried out, or its outcome is unknown
 * (TIMEOUT): `u8 code | u32 leaderHint | text2 leaderClientAddress | text2 message`. A file-system
 * error (ENOENT...) is not a protocol error: it is a successful response whose result failed.
 */
export const protocolVersion = 1;

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly code = 'ERR_BAD_REQUEST';
}

const protocolError = (message: string): Error => new ProtocolError(message);

export const Op = { hello: 1, write: 2, read: 3 } as const;
export type Op = (typeof Op)[keyof typeof Op];

/** How a read is made linearizable (or not). */
export const Consistency = {
  /** ReadIndex: confirmed with a quorum by the leader, then served once the serving master has applied that far. */
  linearizable: 0,
  /** A leader lease, where the group runs in lease mode; elsewhere the same as `linearizable`. */
  lease: 1,
  /** The serving master's applied state, with no check: may be stale. For tools, never for clients that need fresh data. */
  local: 2,
} as const;
export type Consistency = (typeof Consistency)[keyof typeof Consistency];

export const ReadKind = { getattr: 1, lookup: 2, readdir: 3, readlink: 4, access: 5, statfs: 6, readChunk: 7 } as const;

export type ReadRequest =
  | { readonly kind: 'getattr'; readonly inode: number }
  | { readonly kind: 'lookup'; readonly parent: number; readonly name: string; readonly caller: Caller }
  | { readonly kind: 'readdir'; readonly inode: number; readonly caller: Caller; readonly after: string | null; readonly maxEntries: number }
  | { readonly kind: 'readlink'; readonly inode: number }
  | { readonly kind: 'access'; readonly inode: number; readonly caller: Caller; readonly mask: number }
  | { readonly kind: 'statfs' }
  | { readonly kind: 'readChunk'; readonly inode: number; readonly index: number };

export type ReadReply =
  | { readonly kind: 'getattr'; readonly attr: Attr }
  | { readonly kind: 'lookup'; readonly inode: number; readonly attr: Attr }
  | { readonly kind: 'readdir'; readonly entries: readonly DirEntry[]; readonly cursor: string | null }
  | { readonly kind: 'readlink'; readonly target: string }
  | { readonly kind: 'access' }
  | { readonly kind: 'statfs'; readonly totals: StatfsTotals }
  | { readonly kind: 'readChunk'; readonly chunk: ChunkInfo };

/** A read's outcome: the reply, or the file-system error it ended with. */
export type ReadOutcome = { readonly ok: true; readonly reply: ReadReply } | { readonly ok: false; readonly code: ErrorCode; readonly errno: number };

export type Request =
  | { readonly op: 'hello'; readonly id: number; readonly clientVersion: number }
  | { readonly op: 'write'; readonly id: number; readonly command: Uint8Array }
  | { readonly op: 'read'; readonly id: number; readonly consistency: Consistency; readonly read: ReadRequest };

export interface Member {
  readonly id: number;
  readonly learner: boolean;
  /** `host:port` of its client port; empty when unknown. */
  readonly clientAddress: string;
}

export interface HelloReply {
  readonly nodeId: number;
  readonly leaderId: number;
  readonly role: 'follower' | 'preCandidate' | 'candidate' | 'leader';
  readonly members: readonly Member[];
  readonly clusterId: string;
}

/** Why a request was not carried out. Every code but BAD_REQUEST and INTERNAL is worth a retry. */
export const ApiErrorCode = {
  /** This master does not lead (or no longer leads); try `leaderHint`. The request did not take effect here. */
  NOT_LEADER: 1,
  /** No leader is known, or the group cannot reach a quorum right now. */
  UNAVAILABLE: 2,
  /** No answer in time: the write may or may not have taken effect (retry with the same session and sequence). */
  TIMEOUT: 3,
  BAD_REQUEST: 4,
  /** The master is stopping. */
  SHUTTING_DOWN: 5,
  /** Too many requests in flight on this master. */
  BUSY: 6,
  INTERNAL: 7,
} as const;
export type ApiErrorCode = keyof typeof ApiErrorCode;
const apiCodeByNumber = new Map<number, ApiErrorCode>((Object.entries(ApiErrorCode) as [ApiErrorCode, number][]).map(([k, v]) => [v, k]));

export function isRetryable(code: ApiErrorCode): boolean {
  return code !== 'BAD_REQUEST' && code !== 'INTERNAL';
}

export interface ApiErrorBody {
  readonly code: ApiErrorCode;
  readonly leaderHint: number;
  readonly leaderClientAddress: string;
  readonly message: string;
}

export type Response =
  | { readonly ok: true; readonly id: number; readonly op: 'hello'; readonly hello: HelloReply }
  | { readonly ok: true; readonly id: number; readonly op: 'write'; readonly result: Uint8Array }
  | { readonly ok: true; readonly id: number; readonly op: 'read'; readonly outcome: ReadOutcome }
  | ({ readonly ok: false; readonly id: number } & ApiErrorBody);

const roles = ['follower', 'preCandidate', 'candidate', 'leader'] as const;

function writeCaller(w: Writer, c: Caller): void {
  w.u32(c.uid, 'uid');
  if (c.gids.length < 1 || c.gids.length > maxGidsPerCommand) throw protocolError(`a caller has 1..${maxGidsPerCommand} groups, not ${c.gids.length}`);
  w.u32(c.gids.length, 'gid count');
  for (const g of c.gids) w.u32(g, 'gid');
}

function readCaller(r: Reader): Caller {
  const uid = r.u32('uid');
  const n = r.u32('gid count');
  if (n < 1 || n > maxGidsPerCommand) throw protocolError(`a caller has 1..${maxGidsPerCommand} groups, not ${n}`);
  if (r.remaining() < n * 4) throw protocolError(`truncated input: ${n} gids`);
  const gids: number[] = [];
  for (let i = 0; i < n; i++) gids.push(r.u32('gid'));
  return { uid, gids };
}

export function encodeRequest(req: Request): Uint8Array {
  const w = new Writer(protocolError);
  w.u8(protocolVersion, 'version');
  w.u8(Op[req.op], 'op');
  w.u32(req.id, 'request id');
  switch (req.op) {
    case 'hello':
      w.u16(req.clientVersion, 'client version');
      break;
    case 'write':
      w.bytes(req.command);
      break;
    case 'read': {
      w.u8(req.consistency, 'consistency');
      const q = req.read;
      w.u8(ReadKind[q.kind], 'read kind');
      switch (q.kind) {
        case 'getattr':
        case 'readlink':
          w.u32(q.inode, 'inode');
          break;
        case 'lookup':
          w.u32(q.parent, 'parent');
          w.text(q.name, maxNameBytes, 1, 'name');
          writeCaller(w, q.caller);
          break;
        case 'readdir':
          w.u32(q.inode, 'inode');
          writeCaller(w, q.caller);
          w.u8(q.after === null ? 0 : 1, 'has cursor');
          if (q.after !== null) w.text(q.after, maxNameBytes, 1, 'cursor');
          w.u32(q.maxEntries, 'max entries');
          break;
        case 'access':
          w.u32(q.inode, 'inode');
          writeCaller(w, q.caller);
          w.u8(q.mask, 'mask');
          break;
        case 'statfs':
          break;
        case 'readChunk':
          w.u32(q.inode, 'inode');
          w.u32(q.index, 'index');
          break;
      }
      break;
    }
  }
  return w.done();
}

/** Decodes a request; throws ProtocolError on anything malformed. The request id is returned with the error when it could be read. */
export function decodeRequest(bytes: Uint8Array): Request {
  const r = new Reader(bytes, protocolError);
  const version = r.u8('version');
  if (version !== protocolVersion) throw protocolError(`protocol version ${version} is not supported (this master speaks ${protocolVersion})`);
  const op = r.u8('op');
  const id = r.u32('request id');
  switch (op) {
    case Op.hello: {
      const clientVersion = r.u16('client version');
      r.end();
      return { op: 'hello', id, clientVersion };
    }
    case Op.write:
      return { op: 'write', id, command: r.rest() };
    case Op.read: {
      const consistency = r.u8('consistency');
      if (consistency > 2) throw protocolError(`unknown consistency ${consistency}`);
      const kind = r.u8('read kind');
      let read: ReadRequest;
      switch (kind) {
        case ReadKind.getattr:
          read = { kind: 'getattr', inode: r.u32('inode') };
          break;
        case ReadKind.readlink:
          read = { kind: 'readlink', inode: r.u32('inode') };
          break;
        case ReadKind.lookup:
          read = { kind: 'lookup', parent: r.u32('parent'), name: r.text(1, 'name'), caller: readCaller(r) };
          break;
        case ReadKind.readdir: {
          const inode = r.u32('inode');
          const caller = readCaller(r);
          const has = r.u8('has cursor');
          if (has > 1) throw protocolError(`has cursor = ${has}`);
          const after = has === 1 ? r.text(1, 'cursor') : null;
          read = { kind: 'readdir', inode, caller, after, maxEntries: r.u32('max entries') };
          break;
        }
        case ReadKind.access:
          read = { kind: 'access', inode: r.u32('inode'), caller: readCaller(r), mask: r.u8('mask') };
          break;
        case ReadKind.statfs:
          read = { kind: 'statfs' };
          break;
        case ReadKind.readChunk:
          read = { kind: 'readChunk', inode: r.u32('inode'), index: r.u32('index') };
          break;
        default:
          throw protocolError(`unknown read kind ${kind}`);
      }
      r.end();
      return { op: 'read', id, consistency: consistency as Consistency, read };
    }
    default:
      throw protocolError(`unknown op ${op}`);
  }
}

/** The request id of a request that failed to decode, when its header is whole (so the error can be answered). */
export function peekRequestId(bytes: Uint8Array): number | undefined {
  if (bytes.byteLength < 6) return undefined;
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(2);
}

function writeReadReply(w: Writer, out: ReadOutcome): void {
  if (!out.ok) {
    w.u8(1, 'fs status');
    w.u8(errorCodeNumber(out.code), 'error code');
    return;
  }
  w.u8(0, 'fs status');
  const p = out.reply;
  w.u8(ReadKind[p.kind], 'read kind');
  switch (p.kind) {
    case 'getattr':
      w.u32(p.attr.inode, 'inode');
      writeAttr(w, p.attr);
      break;
    case 'lookup':
      w.u32(p.inode, 'inode');
      writeAttr(w, p.attr);
      break;
    case 'readdir':
      w.u32(p.entries.length, 'entry count');
      for (const e of p.entries) {
        w.text(e.name, maxNameBytes, 1, 'name');
        w.u32(e.inode, 'inode');
        w.u8(e.type, 'type');
      }
      w.u8(p.cursor === null ? 0 : 1, 'has cursor');
      if (p.cursor !== null) w.text(p.cursor, maxNameBytes, 1, 'cursor');
      break;
    case 'readlink':
      w.text(p.target, maxSymlinkTargetBytes, 2, 'target');
      break;
    case 'access':
      break;
    case 'statfs': {
      const t = p.totals;
      for (const k of statfsFields) w.u64(Math.min(t[k], Number.MAX_SAFE_INTEGER), k);
      break;
    }
    case 'readChunk':
      w.u64(p.chunk.chunkId, 'chunk id');
      w.u32(p.chunk.version, 'version');
      w.u64(p.chunk.lengthBytes, 'length');
      break;
  }
}

/** statfs totals in wire order; each a u64 (a sum beyond 2^53 − 1 saturates). */
const statfsFields = [
  'inodes',
  'directories',
  'files',
  'symlinks',
  'otherNodes',
  'fileLengthBytes',
  'trashFiles',
  'trashLengthBytes',
  'sustainedFiles',
  'sustainedLengthBytes',
  'chunks',
] as const satisfies readonly (keyof StatfsTotals)[];

function readReadReply(r: Reader): ReadOutcome {
  const status = r.u8('fs status');
  if (status === 1) {
    const n = r.u8('error code');
    const code = errorCodeOfNumber(n);
    if (code === undefined) throw protocolError(`unknown error code ${n}`);
    return { ok: false, code, errno: ERRNO[code] };
  }
  if (status !== 0) throw protocolError(`fs status = ${status}`);
  const kind = r.u8('read kind');
  switch (kind) {
    case ReadKind.getattr: {
      const inode = r.u32('inode');
      return { ok: true, reply: { kind: 'getattr', attr: readAttr(r, inode, protocolError) } };
    }
    case ReadKind.lookup: {
      const inode = r.u32('inode');
      return { ok: true, reply: { kind: 'lookup', inode, attr: readAttr(r, inode, protocolError) } };
    }
    case ReadKind.readdir: {
      const n = r.u32('entry count');
      if (n > r.remaining() / 6) throw protocolError(`truncated input: ${n} entries`);
      const entries: DirEntry[] = [];
      for (let i = 0; i < n; i++) {
        const name = r.text(1, 'name');
        const inode = r.u32('inode');
        const type = r.u8('type');
        if (type < 1 || type > 7) throw protocolError(`unknown node type ${type}`);
        entries.push({ name, inode, type: type as DirEntry['type'] });
      }
      const has = r.u8('has cursor');
      if (has > 1) throw protocolError(`has cursor = ${has}`);
      return { ok: true, reply: { kind: 'readdir', entries, cursor: has === 1 ? r.text(1, 'cursor') : null } };
    }
    case ReadKind.readlink:
      return { ok: true, reply: { kind: 'readlink', target: r.text(2, 'target') } };
    case ReadKind.access:
      return { ok: true, reply: { kind: 'access' } };
    case ReadKind.statfs: {
      const t: Record<string, number> = {};
      for (const k of statfsFields) t[k] = r.u64(k);
      return { ok: true, reply: { kind: 'statfs', totals: t as unknown as StatfsTotals } };
    }
    case ReadKind.readChunk: {
      const chunkId = r.u64('chunk id');
      const version = r.u32('version');
      return { ok: true, reply: { kind: 'readChunk', chunk: { chunkId, version, lengthBytes: r.u64('length') } } };
    }
    default:
      throw protocolError(`unknown read kind ${kind}`);
  }
}

export function encodeResponse(res: Response): Uint8Array {
  const w = new Writer(protocolError);
  w.u8(protocolVersion, 'version');
  w.u8(res.ok ? 0 : 1, 'status');
  w.u32(res.id, 'request id');
  if (!res.ok) {
    w.u8(ApiErrorCode[res.code], 'error code');
    w.u32(res.leaderHint, 'leader hint');
    w.text(res.leaderClientAddress, 1024, 2, 'leader address');
    w.text(res.message.length > 4000 ? res.message.slice(0, 4000) : res.message, 16_384, 2, 'message');
    return w.done();
  }
  w.u8(Op[res.op], 'op');
  switch (res.op) {
    case 'hello': {
      const h = res.hello;
      w.u32(h.nodeId, 'node id');
      w.u32(h.leaderId, 'leader id');
      w.u8(roles.indexOf(h.role), 'role');
      w.u16(h.members.length, 'member count');
      for (const m of h.members) {
        w.u32(m.id, 'member id');
        w.u8(m.learner ? 1 : 0, 'learner');
        w.text(m.clientAddress, 1024, 2, 'client address');
      }
      w.text(h.clusterId, 255, 1, 'cluster id');
      break;
    }
    case 'write':
      w.bytes(res.result);
      break;
    case 'read':
      writeReadReply(w, res.outcome);
      break;
  }
  return w.done();
}

export function decodeResponse(bytes: Uint8Array): Response {
  const r = new Reader(bytes, protocolError);
  const version = r.u8('version');
  if (version !== protocolVersion) throw protocolError(`protocol version ${version} is not supported`);
  const status = r.u8('status');
  const id = r.u32('request id');
  if (status === 1) {
    const n = r.u8('error code');
    const code = apiCodeByNumber.get(n);
    if (code === undefined) throw protocolError(`unknown error code ${n}`);
    const leaderHint = r.u32('leader hint');
    const leaderClientAddress = r.text(2, 'leader address');
    const message = r.text(2, 'message');
    r.end();
    return { ok: false, id, code, leaderHint, leaderClientAddress, message };
  }
  if (status !== 0) throw protocolError(`status = ${status}`);
  const op = r.u8('op');
  let res: Response;
  switch (op) {
    case Op.hello: {
      const nodeId = r.u32('node id');
      const leaderId = r.u32('leader id');
      const roleN = r.u8('role');
      const role = roles[roleN];
      if (role === undefined) throw protocolError(`unknown role ${roleN}`);
      const count = r.u16('member count');
      const members: Member[] = [];
      for (let i = 0; i < count; i++) {
        const mid = r.u32('member id');
        const learner = r.u8('learner');
        if (learner > 1) throw protocolError(`learner = ${learner}`);
        members.push({ id: mid, learner: learner === 1, clientAddress: r.text(2, 'client address') });
      }
      res = { ok: true, id, op: 'hello', hello: { nodeId, leaderId, role, members, clusterId: r.text(1, 'cluster id') } };
      break;
    }
    case Op.write:
      return { ok: true, id, op: 'write', result: r.rest() };
    case Op.read:
      res = { ok: true, id, op: 'read', outcome: readReadReply(r) };
      break;
    default:
      throw protocolError(`unknown op ${op}`);
  }
  r.end();
  return res;
}
