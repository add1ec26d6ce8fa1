import type { Attr } from './commands.ts';

/**
 * Big-endian byte writer and reader shared by the binary formats of the metadata (commands,
 * results) and of the client protocol. Every value is range-checked on the way in and out; a
 * violation throws the error the format's owner supplies (`fail`), so a malformed input is always
 * a typed error of that format and never a crash or a silently wrong value.
 */
export type FailWith = (message: string) => Error;

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export class Writer {
  private buf = Buffer.allocUnsafe(64);
  private pos = 0;

  constructor(private readonly fail: FailWith) {}

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private uint(v: number, max: number, what: string): void {
    if (!Number.isInteger(v) || v < 0 || v > max) throw this.fail(`${what} = ${v} is not an integer in 0..${max}`);
  }

  u8(v: number, what: string): void {
    this.uint(v, 0xff, what);
    this.room(1);
    this.buf.writeUInt8(v, this.pos);
    this.pos += 1;
  }

  u16(v: number, what: string): void {
    this.uint(v, 0xffff, what);
    this.room(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }

  u32(v: number, what: string): void {
    this.uint(v, 0xffff_ffff, what);
    this.room(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }

  u64(v: number, what: string): void {
    this.uint(v, Number.MAX_SAFE_INTEGER, what);
    this.room(8);
    this.buf.writeBigUInt64BE(BigInt(v), this.pos);
    this.pos += 8;
  }

  text(s: string, maxBytes: number, lengthBytes: 1 | 2 | 4, what: string): void {
    if (loneSurrogate.test(s)) throw this.fail(`${what} is not valid Unicode`);
    const n = Buffer.byteLength(s, 'utf8');
    if (n > maxBytes) throw this.fail(`${what} is ${n} bytes, more than ${maxBytes}`);
    if (lengthBytes === 1) this.u8(n, what);
    else if (lengthBytes === 2) this.u16(n, what);
    else this.u32(n, what);
    this.room(n);
    this.buf.write(s, this.pos, 'utf8');
    this.pos += n;
  }

  bytes(b: Uint8Array): void {
    this.room(b.byteLength);
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
  }

  done(): Uint8Array {
    return new Uint8Array(this.buf.subarray(0, this.pos));
  }
}

export class Reader {
  private pos = 0;
  private readonly view: DataView;

  constructor(
    private readonly input: Uint8Array,
    private readonly fail: FailWith,
  ) {
    this.view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  }

  private need(n: number, what: string): number {
    const at = this.pos;
    if (at + n > this.input.length) throw this.fail(`truncated input: ${what} at byte ${at}`);
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
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.fail(`${what} = ${v} is beyond 2^53 - 1`);
    return Number(v);
  }
  text(lengthBytes: 1 | 2 | 4, what: string, maxBytes = Number.MAX_SAFE_INTEGER): string {
    const n = lengthBytes === 1 ? this.u8(what) : lengthBytes === 2 ? this.u16(what) : this.u32(what);
    if (n > maxBytes) throw this.fail(`${what} is ${n} bytes, more than ${maxBytes}`);
    const at = this.need(n, what);
    try {
      return utf8.decode(this.input.subarray(at, at + n));
    } catch {
      throw this.fail(`${what} is not valid UTF-8`);
    }
  }
  /** The rest of the input. */
  rest(): Uint8Array {
    const at = this.pos;
    this.pos = this.input.length;
    return this.input.subarray(at);
  }
  remaining(): number {
    return this.input.length - this.pos;
  }
  end(): void {
    if (this.pos !== this.input.length) throw this.fail(`${this.input.length - this.pos} trailing bytes`);
  }
}

/** `u8 type | u16 mode | u32 uid | u32 gid | u32 atime | u32 mtime | u32 ctime | u32 nlink | u64 length | u32 rdev | u8 goal | u32 trashTimeSec` (44 bytes). */
export function writeAttr(w: Writer, a: Attr): void {
  w.u8(a.type, 'type');
  w.u16(a.mode, 'mode');
  w.u32(a.uid, 'uid');
  w.u32(a.gid, 'gid');
  w.u32(a.atimeSec, 'atimeSec');
  w.u32(a.mtimeSec, 'mtimeSec');
  w.u32(a.ctimeSec, 'ctimeSec');
  w.u32(a.nlink, 'nlink');
  w.u64(a.lengthBytes, 'lengthBytes');
  w.u32(a.rdev, 'rdev');
  w.u8(a.goal, 'goal');
  w.u32(a.trashTimeSec, 'trashTimeSec');
}

export function readAttr(r: Reader, inode: number, fail: FailWith): Attr {
  const type = r.u8('type');
  if (type < 1 || type > 7) throw fail(`unknown node type ${type}`);
  return {
    inode,
    type: type as Attr['type'],
    mode: r.u16('mode'),
    uid: r.u32('uid'),
    gid: r.u32('gid'),
    atimeSec: r.u32('atimeSec'),
    mtimeSec: r.u32('mtimeSec'),
    ctimeSec: r.u32('ctimeSec'),
    nlink: r.u32('nlink'),
    lengthBytes: r.u64('lengthBytes'),
    rdev: r.u32('rdev'),
    goal: r.u8('goal'),
    trashTimeSec: r.u32('trashTimeSec'),
  };
}
