import type { Command, MknodType } from './commands.ts';
import { maxGidsPerCommand, maxNameBytes, maxSymlinkTargetBytes } from './limits.ts';

/**
 * Binary form of a command, as it goes into the Raft log. Big-endian, like the MooseFS wire:
 *
 *   u8 formatVersion (1) | u8 kind | u32 timeSec | u32 uid | u32 gidCount | gidCount * u32 gid | body
 *
 * Names are `u8 length | UTF-8 bytes` (at most 255); a symlink target is `u16 length | bytes`.
 * Bodies per kind are listed in docs/METADATA.md. A new field or kind means a new format version;
 * a decoder keeps reading every version it ever wrote, because the log and snapshots outlive code.
 */
export const commandFormatVersion = 1;

export class CommandCodecError extends Error {
  override readonly name = 'CommandCodecError';
  readonly code = 'ERR_BAD_COMMAND';
}

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
} as const satisfies Record<Command['kind'], number>;

const mknodTypeCodes = { file: 1, fifo: 2, socket: 3, blockdev: 4, chardev: 5 } as const satisfies Record<MknodType, number>;
const mknodTypeByCode = new Map<number, MknodType>(
  (Object.entries(mknodTypeCodes) as [MknodType, number][]).map(([t, code]) => [code, t]),
);

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

class Writer {
  private buf = Buffer.allocUnsafe(64);
  private pos = 0;

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number, what: string): void {
    uint(v, 0xff, what);
    this.room(1);
    this.buf.writeUInt8(v, this.pos);
    this.pos += 1;
  }

  u16(v: number, what: string): void {
    uint(v, 0xffff, what);
    this.room(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }

  u32(v: number, what: string): void {
    uint(v, 0xffff_ffff, what);
    this.room(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }

  u64(v: number, what: string): void {
    uint(v, Number.MAX_SAFE_INTEGER, what);
    this.room(8);
    this.buf.writeBigUInt64BE(BigInt(v), this.pos);
    this.pos += 8;
  }

  text(s: string, maxBytes: number, lengthBytes: 1 | 2, what: string): void {
    if (loneSurrogate.test(s)) throw new CommandCodecError(`${what} is not valid Unicode`);
    const n = Buffer.byteLength(s, 'utf8');
    if (n > maxBytes) throw new CommandCodecError(`${what} is ${n} bytes, more than ${maxBytes}`);
    if (lengthBytes === 1) this.u8(n, what);
    else this.u16(n, what);
    this.room(n);
    this.buf.write(s, this.pos, 'utf8');
    this.pos += n;
  }

  done(): Uint8Array {
    return new Uint8Array(this.buf.subarray(0, this.pos));
  }
}

function uint(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new CommandCodecError(`${what} = ${v} is not an integer in 0..${max}`);
}

class Reader {
  private pos = 0;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private need(n: number, what: string): number {
    const at = this.pos;
    if (at + n > this.bytes.length) throw new CommandCodecError(`truncated command: ${what} at byte ${at}`);
    this.pos += n;
    return at;
  }

  u8(what: string): number {
    return this.view.getUint8(this.need(1, what));
  }
  u16(what: string): number {
    return this.view.getUint16(this.need(2, what));
  }
  u32(what: string): number {
    return this.view.getUint32(this.need(4, what));
  }
  u64(what: string): number {
    const v = this.view.getBigUint64(this.need(8, what));
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CommandCodecError(`${what} = ${v} is beyond 2^53 - 1`);
    return Number(v);
  }
  text(lengthBytes: 1 | 2, what: string): string {
    const n = lengthBytes === 1 ? this.u8(what) : this.u16(what);
    const at = this.need(n, what);
    try {
      return utf8.decode(this.bytes.subarray(at, at + n));
    } catch {
      throw new CommandCodecError(`${what} is not valid UTF-8`);
    }
  }
  end(): void {
    if (this.pos !== this.bytes.length) {
      throw new CommandCodecError(`${this.bytes.length - this.pos} trailing bytes after the command`);
    }
  }
}

export function encodeCommand(c: Command): Uint8Array {
  const w = new Writer();
  w.u8(commandFormatVersion, 'format version');
  w.u8(kindCodes[c.kind], 'kind');
  w.u32(c.timeSec, 'timeSec');
  w.u32(c.uid, 'uid');
  if (c.gids.length < 1 || c.gids.length > maxGidsPerCommand) {
    throw new CommandCodecError(`gids has ${c.gids.length} entries, must be 1..${maxGidsPerCommand}`);
  }
  w.u32(c.gids.length, 'gid count');
  for (const g of c.gids) w.u32(g, 'gid');
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
  }
  return w.done();
}

export function decodeCommand(bytes: Uint8Array): Command {
  const r = new Reader(bytes);
  const version = r.u8('format version');
  if (version !== commandFormatVersion) throw new CommandCodecError(`unknown command format version ${version}`);
  const kind = r.u8('kind');
  const timeSec = r.u32('timeSec');
  const uid = r.u32('uid');
  const gidCount = r.u32('gid count');
  if (gidCount < 1 || gidCount > maxGidsPerCommand) throw new CommandCodecError(`gid count ${gidCount} out of range`);
  const gids: number[] = [];
  for (let i = 0; i < gidCount; i++) gids.push(r.u32('gid'));
  const h = { timeSec, uid, gids };
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
    default:
      throw new CommandCodecError(`unknown command kind ${kind}`);
  }
  r.end();
  return c;
}
