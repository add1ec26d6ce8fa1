import type { RandomSource } from '../raft/types.ts';
import { dirName } from './fileio.ts';
import type { FileHandle, FileIO, FileStat, OpenFlags } from './fileio.ts';

export const SECTOR_BYTES = 512;

/** A growable byte buffer. */
class Bytes {
  buf = new Uint8Array(0);
  size = 0;

  clone(): Bytes {
    const b = new Bytes();
    b.buf = this.buf.slice(0, this.size);
    b.size = this.size;
    return b;
  }

  write(data: Uint8Array, pos: number): void {
    const end = pos + data.byteLength;
    this.reserve(end);
    if (pos > this.size) this.buf.fill(0, this.size, pos);
    this.buf.set(data, pos);
    if (end > this.size) this.size = end;
  }

  truncate(size: number): void {
    if (size > this.size) {
      this.reserve(size);
      this.buf.fill(0, this.size, size);
    }
    this.size = size;
  }

  view(): Uint8Array {
    return this.buf.subarray(0, this.size);
  }

  private reserve(n: number): void {
    if (n <= this.buf.byteLength) return;
    const next = new Uint8Array(Math.max(n, this.buf.byteLength * 2, 4096));
    next.set(this.buf.subarray(0, this.size));
    this.buf = next;
  }
}

type PendingOp = { readonly k: 'write'; readonly pos: number; readonly data: Uint8Array } | { readonly k: 'trunc'; readonly size: number };

/** A file's content: what the disk holds for sure, what the page cache shows, and the writes in between. */
class Inode {
  durable = new Bytes();
  current = new Bytes();
  pending: PendingOp[] = [];
}

export type SimFaultOp = 'write' | 'fsync';
export type SimFaultCode = 'EIO' | 'ENOSPC';

export interface SimFault {
  readonly op: SimFaultOp;
  readonly code: SimFaultCode;
  /** Only a path ending with this string triggers it (any path if absent). */
  readonly pathSuffix?: string;
}

export type CrashMode =
  /** Every unsynced write and every unsynced directory change is lost. */
  | 'clean'
  /** Per file, a prefix of its unsynced writes reached the disk, the last of them torn at a sector boundary. */
  | 'torn'
  /** 'clean' or 'torn', drawn from the generator. */
  | 'random';

export interface SimStats {
  writes: number;
  fsyncs: number;
  dirFsyncs: number;
  crashes: number;
}

function simError(code: string, message: string): Error {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

/**
 * A simulated disk in memory, for the deterministic simulator and the tests. Every operation
 * completes in an already-resolved promise (no timers, no real I/O). The disk keeps, per file,
 * its durable content and the writes made since the last fsync, and per directory the durable
 * set of names; `crash()` reverts to what is durable (optionally keeping a torn part of the
 * unsynced writes). Faults (EIO, ENOSPC on the next write or fsync) and bit rot are injected on
 * request; the only randomness is drawn from the generator passed in.
 */
export class SimFileIO implements FileIO {
  private names = new Map<string, Inode>();
  private durableNames = new Map<string, Inode>();
  private dirs = new Set<string>(['/', '.']);
  private faults: SimFault[] = [];
  /** Handles opened before a crash stop working. */
  private generation = 0;
  readonly stats: SimStats = { writes: 0, fsyncs: 0, dirFsyncs: 0, crashes: 0 };

  constructor(private readonly random: RandomSource) {}

  // ------------------------------------------------------------ fault injection

  /** The next matching operation fails with `code`. A failed write leaves a sector-aligned prefix of its data (possibly none). */
  failNext(fault: SimFault): void {
    this.faults.push(fault);
  }

  /** Flips one bit of a file's content, durable and cached alike (bit rot). */
  flipBit(file: string, byteOffset: number, bit: number): void {
    const ino = this.names.get(file) ?? this.durableNames.get(file);
    if (ino === undefined) throw simError('ENOENT', file);
    for (const b of [ino.durable, ino.current]) {
      if (byteOffset < b.size) b.buf[byteOffset] = b.buf[byteOffset]! ^ (1 << bit);
    }
  }

  /** The machine loses power: unsynced data and directory changes are lost (see CrashMode). */
  crash(mode: CrashMode = 'random'): void {
    this.stats.crashes++;
    this.generation++;
    const inodes = new Set<Inode>([...this.names.values(), ...this.durableNames.values()]);
    for (const ino of inodes) {
      const m = mode === 'random' ? (this.random.intBelow(2) === 0 ? 'clean' : 'torn') : mode;
      if (m === 'torn' && ino.pending.length > 0) {
        const keep = this.random.intBelow(ino.pending.length);
        for (let i = 0; i < keep; i++) applyOp(ino.durable, ino.pending[i]!);
        const last = ino.pending[keep]!;
        if (last.k === 'write') {
          const cut = this.sectorCut(last.pos, last.data.byteLength);
          if (cut > 0) ino.durable.write(last.data.subarray(0, cut), last.pos);
        }
      }
      ino.pending = [];
      ino.current = ino.durable.clone();
    }
    this.names = new Map(this.durableNames);
  }

  /** Durable content of a file (what a crash would leave without tearing), for tests. */
  durableContent(file: string): Uint8Array | undefined {
    return this.durableNames.get(file)?.durable.view().slice();
  }

  /** Paths that exist now (not necessarily durably). */
  listAll(): string[] {
    return [...this.names.keys()].sort();
  }

  /**
   * A FileIO for one simulated process: it works like this SimFileIO until the next crash(), after
   * which every call through it fails with ECRASHED (a dead process touches the disk no more, even
   * if its promises are still being run by the simulator).
   */
  view(): FileIO {
    const gen = this.generation;
    const check = (): void => {
      if (gen !== this.generation) throw simError('ECRASHED', 'this process crashed');
    };
    return {
      open: async (f, flags) => (check(), this.open(f, flags)),
      readFile: async (f) => (check(), this.readFile(f)),
      readdir: async (d) => (check(), this.readdir(d)),
      rename: async (a, b) => (check(), this.rename(a, b)),
      unlink: async (f) => (check(), this.unlink(f)),
      mkdir: async (d) => (check(), this.mkdir(d)),
      stat: async (f) => (check(), this.stat(f)),
      truncate: async (f, n) => (check(), this.truncate(f, n)),
      fsyncDir: async (d) => (check(), this.fsyncDir(d)),
    };
  }

  // ------------------------------------------------------------ FileIO

  async open(file: string, flags: OpenFlags): Promise<FileHandle> {
    let ino = this.names.get(file);
    if (flags === 'r' || flags === 'r+') {
      if (ino === undefined) throw simError('ENOENT', file);
    } else {
      if (flags === 'wx' && ino !== undefined) throw simError('EEXIST', file);
      if (!this.dirs.has(dirName(file))) throw simError('ENOENT', `directory of ${file}`);
      if (ino === undefined) {
        ino = new Inode();
        this.names.set(file, ino);
      } else if (ino.current.size > 0) {
        this.doTruncate(ino, 0);
      }
    }
    return new SimHandle(this, file, ino, flags === 'r', this.generation);
  }

  async readFile(file: string): Promise<Uint8Array> {
    const ino = this.names.get(file);
    if (ino === undefined) throw simError('ENOENT', file);
    return ino.current.view().slice();
  }

  async readdir(dir: string): Promise<string[]> {
    if (!this.dirs.has(dir)) throw simError('ENOENT', dir);
    const out: string[] = [];
    for (const p of this.names.keys()) if (dirName(p) === dir) out.push(p.slice(dir.length + (dir.endsWith('/') ? 0 : 1)));
    return out.sort();
  }

  async rename(from: string, to: string): Promise<void> {
    const ino = this.names.get(from);
    if (ino === undefined) throw simError('ENOENT', from);
    this.names.delete(from);
    this.names.set(to, ino);
  }

  async unlink(file: string): Promise<void> {
    if (!this.names.delete(file)) throw simError('ENOENT', file);
  }

  async mkdir(dir: string): Promise<void> {
    // Directories themselves are modelled as always durable.
    let d = dir;
    while (!this.dirs.has(d)) {
      this.dirs.add(d);
      d = dirName(d);
    }
  }

  async stat(file: string): Promise<FileStat | undefined> {
    if (this.dirs.has(file)) return { size: 0, isDirectory: true };
    const ino = this.names.get(file);
    return ino === undefined ? undefined : { size: ino.current.size, isDirectory: false };
  }

  async truncate(file: string, size: number): Promise<void> {
    const ino = this.names.get(file);
    if (ino === undefined) throw simError('ENOENT', file);
    this.doTruncate(ino, size);
  }

  async fsyncDir(dir: string): Promise<void> {
    if (!this.dirs.has(dir)) throw simError('ENOENT', dir);
    this.takeFault('fsync', dir);
    this.stats.dirFsyncs++;
    for (const p of [...this.durableNames.keys()]) if (dirName(p) === dir && !this.names.has(p)) this.durableNames.delete(p);
    for (const [p, ino] of this.names) if (dirName(p) === dir) this.durableNames.set(p, ino);
  }

  // ------------------------------------------------------------ used by handles

  checkGeneration(gen: number, file: string): void {
    if (gen !== this.generation) throw simError('EBADF', `${file} was opened before a crash`);
  }

  doWrite(file: string, ino: Inode, data: Uint8Array, pos: number): void {
    const fault = this.takeFault('write', file);
    if (fault !== undefined) {
      // A failed write may have stored a sector-aligned part of its data.
      const cut = this.sectorCut(pos, data.byteLength);
      if (cut > 0) this.recordWrite(ino, data.subarray(0, cut), pos);
      throw simError(fault.code, `write to ${file}`);
    }
    this.stats.writes++;
    this.recordWrite(ino, data, pos);
  }

  doTruncate(ino: Inode, size: number): void {
    ino.current.truncate(size);
    ino.pending.push({ k: 'trunc', size });
  }

  doSync(file: string, ino: Inode): void {
    const fault = this.takeFault('fsync', file);
    // A failed fsync leaves the writes unsynced: a crash may still lose them.
    if (fault !== undefined) throw simError(fault.code, `fsync of ${file}`);
    this.stats.fsyncs++;
    for (const op of ino.pending) applyOp(ino.durable, op);
    ino.pending = [];
  }

  private recordWrite(ino: Inode, data: Uint8Array, pos: number): void {
    const copy = data.slice();
    ino.current.write(copy, pos);
    ino.pending.push({ k: 'write', pos, data: copy });
  }

  /** How many leading bytes of a write [pos, pos+len) end at a sector boundary; drawn at random among them (0 included). */
  private sectorCut(pos: number, len: number): number {
    const cuts: number[] = [0];
    for (let b = (Math.floor(pos / SECTOR_BYTES) + 1) * SECTOR_BYTES; b < pos + len; b += SECTOR_BYTES) cuts.push(b - pos);
    return cuts[this.random.intBelow(cuts.length)]!;
  }

  private takeFault(op: SimFaultOp, file: string): SimFault | undefined {
    const i = this.faults.findIndex((f) => f.op === op && (f.pathSuffix === undefined || file.endsWith(f.pathSuffix)));
    if (i < 0) return undefined;
    return this.faults.splice(i, 1)[0];
  }
}

function applyOp(b: Bytes, op: PendingOp): void {
  if (op.k === 'write') b.write(op.data, op.pos);
  else b.truncate(op.size);
}

class SimHandle implements FileHandle {
  private closed = false;

  constructor(
    private readonly io: SimFileIO,
    readonly path: string,
    private readonly ino: Inode,
    private readonly readOnly: boolean,
    private readonly gen: number,
  ) {}

  private check(write: boolean): void {
    if (this.closed) throw simError('EBADF', `${this.path} is closed`);
    this.io.checkGeneration(this.gen, this.path);
    if (write && this.readOnly) throw simError('EBADF', `${this.path} is read-only`);
  }

  async read(buffer: Uint8Array, position: number): Promise<number> {
    this.check(false);
    const src = this.ino.current.view();
    if (position >= src.byteLength) return 0;
    const n = Math.min(buffer.byteLength, src.byteLength - position);
    buffer.set(src.subarray(position, position + n));
    return n;
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    this.check(true);
    this.io.doWrite(this.path, this.ino, data, position);
  }

  async append(data: Uint8Array): Promise<void> {
    this.check(true);
    this.io.doWrite(this.path, this.ino, data, this.ino.current.size);
  }

  async truncate(size: number): Promise<void> {
    this.check(true);
    this.io.doTruncate(this.ino, size);
  }

  async sync(): Promise<void> {
    this.check(false);
    this.io.doSync(this.path, this.ino);
  }

  async datasync(): Promise<void> {
    await this.sync();
  }

  async size(): Promise<number> {
    this.check(false);
    return this.ino.current.size;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
