import { NodeType, type Attr } from './commands.ts';
import { EntryTable } from './entries.ts';
import { fail, invariant, type Failure } from './errors.ts';
import { initialInodeCapacity, maxInode, rootInode } from './limits.ts';

export const S_ISUID = 0o4000;
export const S_ISGID = 0o2000;
export const S_ISVTX = 0o1000;
export const S_IXGRP = 0o010;
export const MAY_READ = 4;
export const MAY_WRITE = 2;
export const MAY_EXEC = 1;

/**
 * The namespace, laid out for memory: one slot per inode number in parallel typed arrays
 * (39 bytes per slot), grown by doubling. Directory entries live in one flat `EntryTable`
 * (entries.ts): typed arrays, a name byte pool and a hash index. What only some other inodes
 * have lives in sparse maps keyed by inode: symlink targets, device numbers.
 *
 * Invariants (checked by `checkInvariants`):
 * - slot 0 is never used; `type[i] === 0` marks a free slot;
 * - `parent[d]` is the directory holding directory d (the root is its own parent), 0 otherwise;
 * - `nlink[d]` is 2 + subdirectories for a directory, the number of entries naming it otherwise.
 */
export class Store {
  capacity: number;
  type: Uint8Array;
  mode: Uint16Array;
  uid: Uint32Array;
  gid: Uint32Array;
  atimeSec: Uint32Array;
  mtimeSec: Uint32Array;
  ctimeSec: Uint32Array;
  nlink: Uint32Array;
  lengthBytes: Float64Array;
  parent: Uint32Array;

  readonly entries = new EntryTable();
  readonly symlinkTarget = new Map<number, string>();
  readonly rdev = new Map<number, number>();

  /** Next never-used inode number. */
  nextInode = rootInode + 1;
  /** Freed inode numbers in the order they were freed, with the time they were freed. */
  freedInodes: number[] = [];
  freedAtSec: number[] = [];
  freedHead = 0;

  readonly countByType = new Float64Array(8);
  totalFileLengthBytes = 0;

  constructor(
    readonly inodeReuseDelaySec: number,
    capacity = initialInodeCapacity,
  ) {
    invariant(Number.isInteger(capacity) && capacity >= 2, 'inode capacity is an integer >= 2');
    this.capacity = capacity;
    this.type = new Uint8Array(capacity);
    this.mode = new Uint16Array(capacity);
    this.uid = new Uint32Array(capacity);
    this.gid = new Uint32Array(capacity);
    this.atimeSec = new Uint32Array(capacity);
    this.mtimeSec = new Uint32Array(capacity);
    this.ctimeSec = new Uint32Array(capacity);
    this.nlink = new Uint32Array(capacity);
    this.lengthBytes = new Float64Array(capacity);
    this.parent = new Uint32Array(capacity);
  }

  exists(inode: number): boolean {
    return Number.isInteger(inode) && inode > 0 && inode < this.capacity && this.type[inode] !== NodeType.free;
  }

  typeOf(inode: number): NodeType {
    return (this.type[inode] ?? 0) as NodeType;
  }

  isDir(inode: number): boolean {
    return this.type[inode] === NodeType.directory;
  }

  /** The entries of an existing directory, or the error a path walk reports. */
  dir(inode: number): DirEntries | Failure {
    if (!this.exists(inode)) return fail('ENOENT');
    if (!this.isDir(inode)) return fail('ENOTDIR');
    return new DirEntries(this.entries, inode);
  }

  /** Does the directory hold any entry? */
  hasEntries(dir: number): boolean {
    return !this.entries.isEmpty(dir);
  }

  private grow(minCapacity: number): void {
    let cap = this.capacity;
    while (cap < minCapacity) cap *= 2;
    const grow = <T extends Uint8Array | Uint16Array | Uint32Array | Float64Array>(old: T, make: (n: number) => T): T => {
      const next = make(cap);
      next.set(old);
      return next;
    };
    this.type = grow(this.type, (n) => new Uint8Array(n));
    this.mode = grow(this.mode, (n) => new Uint16Array(n));
    this.uid = grow(this.uid, (n) => new Uint32Array(n));
    this.gid = grow(this.gid, (n) => new Uint32Array(n));
    this.atimeSec = grow(this.atimeSec, (n) => new Uint32Array(n));
    this.mtimeSec = grow(this.mtimeSec, (n) => new Uint32Array(n));
    this.ctimeSec = grow(this.ctimeSec, (n) => new Uint32Array(n));
    this.nlink = grow(this.nlink, (n) => new Uint32Array(n));
    this.lengthBytes = grow(this.lengthBytes, (n) => new Float64Array(n));
    this.parent = grow(this.parent, (n) => new Uint32Array(n));
    this.capacity = cap;
  }

  /**
   * The inode number for a new node. Deterministic from the state and the command's time: the
   * oldest freed number once it has rested `inodeReuseDelaySec` (so a client holding the old
   * number cannot reach a new file through it), else the next never-used number.
   */
  allocate(nowSec: number): number | Failure {
    let inode: number;
    const head = this.freedHead;
    const freedAt = this.freedAtSec[head];
    if (freedAt !== undefined && freedAt + this.inodeReuseDelaySec < nowSec) {
      inode = this.freedInodes[head] ?? 0;
      this.freedHead = head + 1;
      if (this.freedHead >= 1024 && this.freedHead * 2 >= this.freedInodes.length) {
        this.freedInodes = this.freedInodes.slice(this.freedHead);
        this.freedAtSec = this.freedAtSec.slice(this.freedHead);
        this.freedHead = 0;
      }
    } else {
      if (this.nextInode > maxInode) return fail('ENOSPC');
      inode = this.nextInode++;
    }
    invariant(inode >= this.capacity || this.type[inode] === NodeType.free, `allocated slot ${inode} is free`);
    if (inode >= this.capacity) this.grow(inode + 1);
    return inode;
  }

  /** Fills a freshly allocated slot. */
  init(inode: number, type: Exclude<NodeType, 0>, mode: number, uid: number, gid: number, nowSec: number): void {
    invariant(this.type[inode] === NodeType.free, `slot ${inode} is free before init`);
    this.type[inode] = type;
    this.mode[inode] = mode & 0o7777;
    this.uid[inode] = uid;
    this.gid[inode] = gid;
    this.atimeSec[inode] = nowSec;
    this.mtimeSec[inode] = nowSec;
    this.ctimeSec[inode] = nowSec;
    this.nlink[inode] = type === NodeType.directory ? 2 : 1;
    this.lengthBytes[inode] = 0;
    this.parent[inode] = 0;
    this.countByType[type] = (this.countByType[type] ?? 0) + 1;
    invariant(this.entries.isEmpty(inode), `new inode ${inode} has no entries`);
  }

  release(inode: number, nowSec: number): void {
    const t = this.typeOf(inode);
    invariant(t !== NodeType.free && inode !== rootInode, `release of a live non-root inode ${inode}`);
    if (t === NodeType.directory) this.entries.releaseDir(inode);
    if (t === NodeType.file) this.totalFileLengthBytes -= this.lengthBytes[inode] ?? 0;
    this.symlinkTarget.delete(inode);
    this.rdev.delete(inode);
    this.countByType[t] = (this.countByType[t] ?? 0) - 1;
    this.type[inode] = NodeType.free;
    this.mode[inode] = 0;
    this.uid[inode] = 0;
    this.gid[inode] = 0;
    this.atimeSec[inode] = 0;
    this.mtimeSec[inode] = 0;
    this.ctimeSec[inode] = 0;
    this.nlink[inode] = 0;
    this.lengthBytes[inode] = 0;
    this.parent[inode] = 0;
    this.freedInodes.push(inode);
    this.freedAtSec.push(nowSec);
  }

  setLength(inode: number, lengthBytes: number): void {
    if (this.type[inode] === NodeType.file) {
      this.totalFileLengthBytes += lengthBytes - (this.lengthBytes[inode] ?? 0);
    }
    this.lengthBytes[inode] = lengthBytes;
  }

  addEntry(dir: number, name: string, inode: number): void {
    invariant(this.isDir(dir), `entry ${name} is added to directory ${dir}`);
    this.entries.add(dir, name, inode);
  }

  removeEntry(dir: number, name: string): void {
    this.entries.remove(dir, name);
  }

  touchModify(inode: number, nowSec: number): void {
    this.mtimeSec[inode] = nowSec;
    this.ctimeSec[inode] = nowSec;
  }

  /** Is `ancestor` the directory `dir` itself or one of the directories above it? */
  isAncestorOrSelf(ancestor: number, dir: number): boolean {
    let d = dir;
    for (;;) {
      if (d === ancestor) return true;
      if (d === rootInode) return false;
      const up = this.parent[d] ?? 0;
      invariant(up !== 0, `directory ${d} has a parent`);
      d = up;
    }
  }

  /** Permission check from the mode bits; uid 0 may do anything but execute a file with no x bit. */
  mayAccess(inode: number, uid: number, gids: readonly number[], mask: number): boolean {
    const mode = this.mode[inode] ?? 0;
    if (uid === 0) {
      return (mask & MAY_EXEC) === 0 || this.isDir(inode) || (mode & 0o111) !== 0;
    }
    let bits: number;
    if (uid === this.uid[inode]) bits = (mode >> 6) & 7;
    else if (gids.includes(this.gid[inode] ?? 0)) bits = (mode >> 3) & 7;
    else bits = mode & 7;
    return (bits & mask) === mask;
  }

  /** The sticky-directory rule: in a sticky directory only the owner of the entry or of the directory removes it. */
  stickyForbids(dir: number, victim: number, uid: number): boolean {
    return (
      uid !== 0 && ((this.mode[dir] ?? 0) & S_ISVTX) !== 0 && uid !== this.uid[dir] && uid !== this.uid[victim]
    );
  }

  attr(inode: number): Attr {
    const type = this.typeOf(inode);
    invariant(type !== NodeType.free, `attr of live inode ${inode}`);
    return {
      inode,
      type,
      mode: this.mode[inode] ?? 0,
      uid: this.uid[inode] ?? 0,
      gid: this.gid[inode] ?? 0,
      atimeSec: this.atimeSec[inode] ?? 0,
      mtimeSec: this.mtimeSec[inode] ?? 0,
      ctimeSec: this.ctimeSec[inode] ?? 0,
      nlink: this.nlink[inode] ?? 0,
      lengthBytes: this.lengthBytes[inode] ?? 0,
      rdev: this.rdev.get(inode) ?? 0,
    };
  }
}

/** The entries of one directory, as the commands look names up in it. */
export class DirEntries {
  constructor(
    private readonly table: EntryTable,
    readonly dir: number,
  ) {}

  has(name: string): boolean {
    return this.table.find(this.dir, name) !== 0;
  }

  /** The inode `name` names, or undefined. */
  get(name: string): number | undefined {
    const inode = this.table.lookup(this.dir, name);
    return inode === 0 ? undefined : inode;
  }
}

/** Entry order for readdir: by UTF-16 code units, identical on every replica. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
