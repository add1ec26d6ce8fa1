import { noSession, type Attr, type Command, type MknodType, type SessionRef } from './commands.ts';
import { ERRNO, fail, type ErrorCode } from './errors.ts';
import { maxGidsPerCommand, maxNameBytes, maxSymlinkTargetBytes } from './limits.ts';
import { readAttr, Reader, writeAttr, Writer } from './bytes.ts';
import type { CommandResult } from './results.ts';

/**
 * Binary form of a command, as it goes into the Raft log. Big-endian, like the MooseFS wire:
 *
 *   v2: u8 formatVersion (2) | u8 kind | u32 timeSec | u32 uid | u32 gidCount | gidCount * u32 gid
 *       | u32 sessionId | u64 seq | body
 *   v1: the same without sessionId and seq (read as "no session"); kinds 1..10 only.
 *
 * Names are `u8 length | UTF-8 bytes` (at most 255); a symlink target is `u16 length | bytes`.
 * Bodies per kind are listed in docs/METADATA.md. A new field or kind means a new format version;
 * a decoder keeps reading every version it ever wrote, because the log and snapshots outlive code.
 */
export const commandFormatVersion = 2;
/** Kinds a version 1 command may carry: those that existed when version 1 was written. */
const maxKindCodeV1 = 10;

export class CommandCodecError extends Error {
  override readonly name = 'CommandCodecError';
  readonly code = 'ERR_BAD_COMMAND';
}

const codecError = (message: string): Error => new CommandCodecError(message);

const kindCodes = {
  mkdir: 1,
  mknod: 2,
  create: 3,
  symlink: 4,
  link: 5,
  unlink: 6,
  rmdir: 7,
  rename: 8,
  setattr: 9,
  truncate: 10,
  writeChunk: 11,
  writeChunkEnd: 12,
  setGoal: 13,
  setTrashTime: 14,
  purgeTrash: 15,
  expireTrash: 16,
  undelete: 17,
  sessionOpen: 18,
  sessionRenew: 19,
  sessionClose: 20,
  expireSessions: 21,
  acquire: 22,
  release: 23,
} as const satisfies Record<Command['kind'], number>;

const mknodTypeCodes = { file: 1, fifo: 2, socket: 3, blockdev: 4, chardev: 5 } as const satisfies Record<MknodType, number>;
const mknodTypeByCode = new Map<number, MknodType>(
  (Object.entries(mknodTypeCodes) as [MknodType, number][]).map(([t, code]) => [code, t]),
);

/** Session 0 carries seq 0; any other session a seq of 1 or more. */
function checkSessionRef(id: number, seq: number): void {
  if ((id === 0) !== (seq === 0)) throw new CommandCodecError(`session ${id} with seq ${seq}: seq is 0 exactly when the session is 0`);
}

export function encodeCommand(c: Command): Uint8Array {
  const w = new Writer(codecError);
  w.u8(commandFormatVersion, 'format version');
  w.u8(kindCodes[c.kind], 'kind');
  w.u32(c.timeSec, 'timeSec');
  w.u32(c.uid, 'uid');
  if (c.gids.length < 1 || c.gids.length > maxGidsPerCommand) {
    throw new CommandCodecError(`gids has ${c.gids.length} entries, must be 1..${maxGidsPerCommand}`);
  }
  w.u32(c.gids.length, 'gid count');
  for (const g of c.gids) w.u32(g, 'gid');
  w.u32(c.session.id, 'session id');
  w.u64(c.session.seq, 'session seq');
  checkSessionRef(c.session.id, c.session.seq);
  const name = (s: string, what = 'name'): void => w.text(s, maxNameBytes, 1, what);
  switch (c.kind) {
    case 'mkdir':
    case 'create':
      w.u32(c.parent, 'parent');
      name(c.name);
      w.u16(c.mode, 'mode');
      w.u16(c.umask, 'umask');
      break;
    case 'mknod':
      w.u32(c.parent, 'parent');
      name(c.name);
      w.u8(mknodTypeCodes[c.type], 'type');
      w.u16(c.mode, 'mode');
      w.u16(c.umask, 'umask');
      w.u32(c.rdev, 'rdev');
      break;
    case 'symlink':
      w.u32(c.parent, 'parent');
      name(c.name);
      w.text(c.target, maxSymlinkTargetBytes, 2, 'target');
      break;
    case 'link':
      w.u32(c.inode, 'inode');
      w.u32(c.parent, 'parent');
      name(c.name);
      break;
    case 'unlink':
    case 'rmdir':
      w.u32(c.parent, 'parent');
      name(c.name);
      break;
    case 'rename':
      w.u32(c.srcParent, 'srcParent');
      name(c.srcName, 'srcName');
      w.u32(c.dstParent, 'dstParent');
      name(c.dstName, 'dstName');
      break;
    case 'setattr':
      w.u32(c.inode, 'inode');
      w.u8(c.setMask, 'setMask');
      w.u16(c.mode, 'mode');
      w.u32(c.newUid, 'newUid');
      w.u32(c.newGid, 'newGid');
      w.u32(c.atimeSec, 'atimeSec');
      w.u32(c.mtimeSec, 'mtimeSec');
      break;
    case 'truncate':
      w.u32(c.inode, 'inode');
      w.u64(c.lengthBytes, 'lengthBytes');
      break;
    case 'writeChunk':
      w.u32(c.inode, 'inode');
      w.u32(c.index, 'index');
      break;
    case 'writeChunkEnd':
      w.u32(c.inode, 'inode');
      w.u32(c.index, 'index');
      w.u64(c.chunkId, 'chunkId');
      w.u64(c.lengthBytes, 'lengthBytes');
      break;
    case 'setGoal':
      w.u32(c.inode, 'inode');
      w.u8(c.goal, 'goal');
      break;
    case 'setTrashTime':
      w.u32(c.inode, 'inode');
      w.u32(c.trashTimeSec, 'trashTimeSec');
      break;
    case 'purgeTrash':
    case 'undelete':
      w.u32(c.inode, 'inode');
      break;
    case 'expireTrash':
    case 'expireSessions':
      w.u32(c.maxCount, 'maxCount');
      break;
    case 'sessionOpen':
      w.u32(c.rootInode, 'rootInode');
      w.u8(c.flags, 'flags');
      w.u32(c.timeoutSec, 'timeoutSec');
      break;
    case 'sessionRenew':
    case 'sessionClose':
      w.u32(c.sessionId, 'sessionId');
      break;
    case 'acquire':
    case 'release':
      w.u32(c.sessionId, 'sessionId');
      w.u32(c.inode, 'inode');
      break;
  }
  return w.done();
}

/**
 * Sets the time of an encoded command in place: every format version keeps `u32 timeSec` at byte
 * 2. For a leader stamping a validated command with its clock without encoding it again.
 */
export function setCommandTime(bytes: Uint8Array, timeSec: number): void {
  const version = bytes[0];
  if (bytes.byteLength < 6 || (version !== 1 && version !== 2)) throw new CommandCodecError('not an encoded command');
  if (!Number.isInteger(timeSec) || timeSec < 0 || timeSec > 0xffff_ffff) throw new CommandCodecError(`timeSec = ${timeSec} is not a u32`);
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(2, timeSec);
}

export function decodeCommand(bytes: Uint8Array): Command {
  const r = new Reader(bytes, codecError);
  const version = r.u8('format version');
  if (version !== 1 && version !== 2) throw new CommandCodecError(`unknown command format version ${version}`);
  const kind = r.u8('kind');
  if (version === 1 && kind > maxKindCodeV1) throw new CommandCodecError(`unknown command kind ${kind} in format version 1`);
  const timeSec = r.u32('timeSec');
  const uid = r.u32('uid');
  const gidCount = r.u32('gid count');
  if (gidCount < 1 || gidCount > maxGidsPerCommand) throw new CommandCodecError(`gid count ${gidCount} out of range`);
  const gids: number[] = [];
  for (let i = 0; i < gidCount; i++) gids.push(r.u32('gid'));
  let session: SessionRef = noSession;
  if (version >= 2) {
    const id = r.u32('session id');
    const seq = r.u64('session seq');
    checkSessionRef(id, seq);
    session = id === 0 ? noSession : { id, seq };
  }
  const h = { timeSec, uid, gids, session };
  let c: Command;
  switch (kind) {
    case kindCodes.mkdir:
    case kindCodes.create: {
      const parent = r.u32('parent');
      const name = r.text(1, 'name');
      c = { kind: kind === kindCodes.mkdir ? 'mkdir' : 'create', ...h, parent, name, mode: r.u16('mode'), umask: r.u16('umask') };
      break;
    }
    case kindCodes.mknod: {
      const parent = r.u32('parent');
      const name = r.text(1, 'name');
      const typeCode = r.u8('type');
      const type = mknodTypeByCode.get(typeCode);
      if (type === undefined) throw new CommandCodecError(`unknown mknod type ${typeCode}`);
      c = { kind: 'mknod', ...h, parent, name, type, mode: r.u16('mode'), umask: r.u16('umask'), rdev: r.u32('rdev') };
      break;
    }
    case kindCodes.symlink: {
      const parent = r.u32('parent');
      const name = r.text(1, 'name');
      c = { kind: 'symlink', ...h, parent, name, target: r.text(2, 'target') };
      break;
    }
    case kindCodes.link: {
      const inode = r.u32('inode');
      const parent = r.u32('parent');
      c = { kind: 'link', ...h, inode, parent, name: r.text(1, 'name') };
      break;
    }
    case kindCodes.unlink:
    case kindCodes.rmdir: {
      const parent = r.u32('parent');
      c = { kind: kind === kindCodes.unlink ? 'unlink' : 'rmdir', ...h, parent, name: r.text(1, 'name') };
      break;
    }
    case kindCodes.rename: {
      const srcParent = r.u32('srcParent');
      const srcName = r.text(1, 'srcName');
      const dstParent = r.u32('dstParent');
      c = { kind: 'rename', ...h, srcParent, srcName, dstParent, dstName: r.text(1, 'dstName') };
      break;
    }
    case kindCodes.setattr: {
      const inode = r.u32('inode');
      const setMask = r.u8('setMask');
      const mode = r.u16('mode');
      const newUid = r.u32('newUid');
      const newGid = r.u32('newGid');
      const atimeSec = r.u32('atimeSec');
      c = { kind: 'setattr', ...h, inode, setMask, mode, newUid, newGid, atimeSec, mtimeSec: r.u32('mtimeSec') };
      break;
    }
    case kindCodes.truncate: {
      const inode = r.u32('inode');
      c = { kind: 'truncate', ...h, inode, lengthBytes: r.u64('lengthBytes') };
      break;
    }
    case kindCodes.writeChunk: {
      const inode = r.u32('inode');
      c = { kind: 'writeChunk', ...h, inode, index: r.u32('index') };
      break;
    }
    case kindCodes.writeChunkEnd: {
      const inode = r.u32('inode');
      const index = r.u32('index');
      const chunkId = r.u64('chunkId');
      c = { kind: 'writeChunkEnd', ...h, inode, index, chunkId, lengthBytes: r.u64('lengthBytes') };
      break;
    }
    case kindCodes.setGoal: {
      const inode = r.u32('inode');
      c = { kind: 'setGoal', ...h, inode, goal: r.u8('goal') };
      break;
    }
    case kindCodes.setTrashTime: {
      const inode = r.u32('inode');
      c = { kind: 'setTrashTime', ...h, inode, trashTimeSec: r.u32('trashTimeSec') };
      break;
    }
    case kindCodes.purgeTrash:
      c = { kind: 'purgeTrash', ...h, inode: r.u32('inode') };
      break;
    case kindCodes.undelete:
      c = { kind: 'undelete', ...h, inode: r.u32('inode') };
      break;
    case kindCodes.expireTrash:
      c = { kind: 'expireTrash', ...h, maxCount: r.u32('maxCount') };
      break;
    case kindCodes.expireSessions:
      c = { kind: 'expireSessions', ...h, maxCount: r.u32('maxCount') };
      break;
    case kindCodes.sessionOpen: {
      const rootInode = r.u32('rootInode');
      const flags = r.u8('flags');
      c = { kind: 'sessionOpen', ...h, rootInode, flags, timeoutSec: r.u32('timeoutSec') };
      break;
    }
    case kindCodes.sessionRenew:
      c = { kind: 'sessionRenew', ...h, sessionId: r.u32('sessionId') };
      break;
    case kindCodes.sessionClose:
      c = { kind: 'sessionClose', ...h, sessionId: r.u32('sessionId') };
      break;
    case kindCodes.acquire:
    case kindCodes.release: {
      const sessionId = r.u32('sessionId');
      c = { kind: kind === kindCodes.acquire ? 'acquire' : 'release', ...h, sessionId, inode: r.u32('inode') };
      break;
    }
    default:
      throw new CommandCodecError(`unknown command kind ${kind}`);
  }
  r.end();
  return c;
}

/**
 * Binary form of a command result, as the retry cache keeps it (and snapshots will). Big-endian:
 *
 *   u8 resultFormatVersion (1) | u8 status: 0 ok, 1 failure
 *   failure: u8 error code (`errorCodes`; errno follows from the code)
 *   ok:      u32 inode | u8 present (1 attr, 2 chunk, 4 sessionId, 8 count) | [attr] | [chunk]
 *            | [u32 sessionId] | [u32 count]
 *   attr:    u8 type | u16 mode | u32 uid | u32 gid | u32 atime | u32 mtime | u32 ctime | u32 nlink
 *            | u64 lengthBytes | u32 rdev | u8 goal | u32 trashTimeSec
 *   chunk:   u64 chunkId | u32 version | u64 lengthBytes
 */
export const resultFormatVersion = 1;

/** Stable numbers of the error codes in encoded results. Append only; never renumber. */
const errorCodes = {
  EPERM: 1,
  ENOENT: 2,
  EACCES: 3,
  EBUSY: 4,
  EEXIST: 5,
  ENOTDIR: 6,
  EISDIR: 7,
  EINVAL: 8,
  EFBIG: 9,
  ENAMETOOLONG: 10,
  ENOTEMPTY: 11,
  ENOSPC: 12,
  LOCKED: 13,
  NOCHUNK: 14,
  INDEXTOOBIG: 15,
  BADSESSIONID: 16,
  RETRY_EXPIRED: 17,
} as const satisfies Record<ErrorCode, number>;
const errorCodeByNumber = new Map<number, ErrorCode>(
  (Object.entries(errorCodes) as [ErrorCode, number][]).map(([code, n]) => [n, code]),
);

/** The stable number of an error code, for every binary format that carries one. */
export function errorCodeNumber(code: ErrorCode): number {
  return errorCodes[code];
}

/** The error code of a stable number, or undefined for a number no code has. */
export function errorCodeOfNumber(n: number): ErrorCode | undefined {
  return errorCodeByNumber.get(n);
}

const present = { attr: 1, chunk: 2, sessionId: 4, count: 8 } as const;

export function encodeResult(result: CommandResult): Uint8Array {
  const w = new Writer(codecError);
  w.u8(resultFormatVersion, 'result format version');
  if (!result.ok) {
    w.u8(1, 'status');
    w.u8(errorCodes[result.code], 'error code');
    return w.done();
  }
  w.u8(0, 'status');
  w.u32(result.inode, 'inode');
  let flags = 0;
  if (result.attr !== null) flags |= present.attr;
  if (result.chunk !== undefined) flags |= present.chunk;
  if (result.sessionId !== undefined) flags |= present.sessionId;
  if (result.count !== undefined) flags |= present.count;
  w.u8(flags, 'present');
  if (result.attr !== null) writeAttr(w, result.attr);
  if (result.chunk !== undefined) {
    w.u64(result.chunk.chunkId, 'chunkId');
    w.u32(result.chunk.version, 'version');
    w.u64(result.chunk.lengthBytes, 'chunk lengthBytes');
  }
  if (result.sessionId !== undefined) w.u32(result.sessionId, 'sessionId');
  if (result.count !== undefined) w.u32(result.count, 'count');
  return w.done();
}

export function decodeResult(bytes: Uint8Array): CommandResult {
  const r = new Reader(bytes, codecError);
  const version = r.u8('result format version');
  if (version !== resultFormatVersion) throw new CommandCodecError(`unknown result format version ${version}`);
  const status = r.u8('status');
  if (status === 1) {
    const n = r.u8('error code');
    const code = errorCodeByNumber.get(n);
    if (code === undefined) throw new CommandCodecError(`unknown error code ${n}`);
    r.end();
    return fail(code);
  }
  if (status !== 0) throw new CommandCodecError(`unknown result status ${status}`);
  const inode = r.u32('inode');
  const flags = r.u8('present');
  if ((flags & ~0x0f) !== 0) throw new CommandCodecError(`unknown result fields ${flags}`);
  let attr: Attr | null = null;
  if (flags & present.attr) attr = readAttr(r, inode, codecError);
  let result: CommandResult = { ok: true, inode, attr };
  if (flags & present.chunk) {
    const chunkId = r.u64('chunkId');
    const version = r.u32('version');
    result = { ...result, chunk: { chunkId, version, lengthBytes: r.u64('chunk lengthBytes') } };
  }
  if (flags & present.sessionId) result = { ...result, sessionId: r.u32('sessionId') };
  if (flags & present.count) result = { ...result, count: r.u32('count') };
  r.end();
  return result;
}

/** Keeps `ERRNO` and the result code table in step: a code without a number cannot be stored. */
for (const code of Object.keys(ERRNO) as ErrorCode[]) {
  if (errorCodeByNumber.get(errorCodes[code]) !== code) throw new Error(`error code ${code} has no stable number`);
}
