import { NodeType, type Attr } from './commands.ts';
import { EntryTable } from './entries.ts';
import { fail, invariant, type Failure } from './errors.ts';
import { FileChunks } from './chunks.ts';
import { initialInodeCapacity, maxInode, rootInode } from './limits.ts';
import type { Session } from './sessions.ts';
import { TrashQueue, type TrashEntry } from './trash.ts';

export const S_ISUID = 0o4000;
export const S_ISGID = 0o2000;
export const S_ISVTX = 0o1000;
export const S_IXGRP = 0o010;
export const MAY_READ = 4;
export const MAY_WRITE = 2;
export const MAY_EXEC = 1;

/**
 * The namespace, laid out for memory: one slot per inode number in parallel typed arrays
 * (44 bytes per slot), grown by doubling. Directory entries live in one flat `EntryTable`
 * (entries.ts): typed arrays, a name byte pool and a hash index. What only some other inodes
 * have lives in sparse maps keyed by inode: symlink targets, device numbers, chunk lists.
 *
 * Invariants (checked by `checkInvariants`):
 * - slot 0 is never used; `type[i] === 0` marks a free slot;
 * - `parent[d]` is the directory holding directory d (the root is its own parent), 0 otherwise;
 * - `nlink[d]` is 2 + subdirectories for a directory, the number of entries naming it otherwise;
 * - a file with no name is in `trash` or in `sustained` (never both) and has nlink 0;
 * - `openCount[i]` is the number of sessions holding i; a sustained file has one at least.
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
  /** 1..9 for live inodes, 0 for free slots. */
  goal: Uint8Array;
  trashTimeSec: Uint32Array;

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
  /**
   * Sums of file lengths, exact as bigints: a few files near 2^53 bytes would push a number sum past
   * the range where it is exact, and the invariant checker compares these sums exactly.
   */
  totalFileLengthBytes = 0n;

  /** Chunks of regular files: the chunk table, per-file chunk lists, `nextChunkId`. */
  readonly chunks = new FileChunks();
  /** Files whose last name went while their trash time was > 0, until they expire or are purged. */
  readonly trash = new Map<number, TrashEntry>();
  /** Derived index over `trash` by expiry; not part of the replicated state's canonical form. */
  readonly trashQueue = new TrashQueue();
  trashLengthBytes = 0n;
  /** Files with no name kept because a session holds them open. */
  readonly sustained = new Set<number>();
  sustainedLengthBytes = 0n;
  /** Sessions holding each inode; only inodes held by one session at least appear. */
  readonly openCount = new Map<number, number>();
  readonly sessions = new Map<number, Session>();
  /** The next session id to hand out; ids start at 1 and are never reused. */
  nextSessionId = 1;

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
    this.goal = new Uint8Array(capacity);
    this.trashTimeSec = new Uint32Array(capacity);
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
    this.goal = grow(this.goal, (n) => new Uint8Array(n));
    this.trashTimeSec = grow(this.trashTimeSec, (n) => new Uint32Array(n));
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

  /** Fills a freshly allocated slot; goal and trash time come from the parent directory. */
  init(
    inode: number,
    type: Exclude<NodeType, 0>,
    mode: number,
    uid: number,
    gid: number,
    nowSec: number,
    goal: number,
    trashTimeSec: number,
  ): void {
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
    this.goal[inode] = goal;
    this.trashTimeSec[inode] = trashTimeSec;
    this.countByType[type] = (this.countByType[type] ?? 0) + 1;
    invariant(this.entries.isEmpty(inode), `new inode ${inode} has no entries`);
  }

  release(inode: number, nowSec: number): void {
    const t = this.typeOf(inode);
    invariant(t !== NodeType.free && inode !== rootInode, `release of a live non-root inode ${inode}`);
    invariant(!this.trash.has(inode) && !this.sustained.has(inode), `released inode ${inode} left trash and sustained`);
    invariant(!this.openCount.has(inode), `released inode ${inode} is held by no session`);
    if (t === NodeType.file) this.chunks.freeFile(inode);
    if (t === NodeType.directory) this.entries.releaseDir(inode);
    if (t === NodeType.file) this.totalFileLengthBytes -= BigInt(this.lengthBytes[inode] ?? 0);
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
    this.goal[inode] = 0;
    this.trashTimeSec[inode] = 0;
    this.freedInodes.push(inode);
    this.freedAtSec.push(nowSec);
  }

  setLength(inode: number, lengthBytes: number): void {
    if (this.type[inode] === NodeType.file) {
      const delta = BigInt(lengthBytes) - BigInt(this.lengthBytes[inode] ?? 0);
      this.totalFileLengthBytes += delta;
      if (this.trash.has(inode)) this.trashLengthBytes += delta;
      else if (this.sustained.has(inode)) this.sustainedLengthBytes += delta;
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
      goal: this.goal[inode] ?? 0,
      trashTimeSec: this.trashTimeSec[inode] ?? 0,
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
