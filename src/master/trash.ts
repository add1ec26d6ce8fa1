/**
 * Trash and sustained files, with MooseFS 3.0's rules (mfsmaster/filesystem.c fsnodes_unlink,
 * fsnodes_purge):
 * - only a regular file is ever kept after its last name goes; every other type is freed at once;
 * - a file whose trash time is > 0 goes to the trash, open or not, and keeps the name it had;
 * - otherwise a file some session holds open becomes sustained;
 * - otherwise it is freed, chunks included.
 * A trashed file that expires or is purged while held open becomes sustained. A sustained file is
 * freed when the last session holding it lets go (MooseFS frees it on its next EMPTYSUSTAINED pass).
 */
import { NodeType, type ExpireTrashCommand, type PurgeTrashCommand, type UndeleteCommand } from './commands.ts';
import { fail, invariant } from './errors.ts';
import { maxExpireBatch } from './limits.ts';
import { done, isFailure, type CommandResult } from './results.ts';
import type { Store } from './store.ts';

export interface TrashEntry {
  /** The file may be freed by expireTrash once `expiresAtSec <= timeSec`. */
  readonly expiresAtSec: number;
  /** Where the file's last name was, for undelete. The directory may be gone since. */
  readonly parent: number;
  readonly name: string;
}

/**
 * A binary min-heap of (expiresAtSec, inode), the order in which trashed files expire. It is an
 * index derived from `Store.trash`: an entry whose file has left the trash (purge, undelete) stays
 * until it reaches the top and is then skipped, and the heap is rebuilt when such entries pile up.
 * Expiry order depends only on the keys, so it is the same on every replica however the heap
 * is laid out.
 */
export class TrashQueue {
  private expires: number[] = [];
  private inodes: number[] = [];

  get size(): number {
    return this.expires.length;
  }

  private less(a: number, b: number): boolean {
    const ea = this.expires[a] ?? 0;
    const eb = this.expires[b] ?? 0;
    return ea < eb || (ea === eb && (this.inodes[a] ?? 0) < (this.inodes[b] ?? 0));
  }

  private swap(a: number, b: number): void {
    const e = this.expires[a] ?? 0;
    const i = this.inodes[a] ?? 0;
    this.expires[a] = this.expires[b] ?? 0;
    this.inodes[a] = this.inodes[b] ?? 0;
    this.expires[b] = e;
    this.inodes[b] = i;
  }

  push(expiresAtSec: number, inode: number): void {
    this.expires.push(expiresAtSec);
    this.inodes.push(inode);
    for (let k = this.expires.length - 1; k > 0; ) {
      const up = (k - 1) >> 1;
      if (!this.less(k, up)) break;
      this.swap(k, up);
      k = up;
    }
  }

  /** The earliest (expiresAtSec, inode), or null when empty. */
  peek(): { expiresAtSec: number; inode: number } | null {
    if (this.expires.length === 0) return null;
    return { expiresAtSec: this.expires[0] ?? 0, inode: this.inodes[0] ?? 0 };
  }

  pop(): void {
    const last = this.expires.length - 1;
    invariant(last >= 0, 'pop of a non-empty trash queue');
    this.swap(0, last);
    this.expires.pop();
    this.inodes.pop();
    for (let k = 0; ; ) {
      const l = 2 * k + 1;
      const r = l + 1;
      let m = k;
      if (l < this.expires.length && this.less(l, m)) m = l;
      if (r < this.expires.length && this.less(r, m)) m = r;
      if (m === k) break;
      this.swap(k, m);
      k = m;
    }
  }

  /** Whether the heap holds (expiresAtSec, inode); O(n), for the invariant checker. */
  has(expiresAtSec: number, inode: number): boolean {
    for (let k = 0; k < this.expires.length; k++) {
      if (this.expires[k] === expiresAtSec && this.inodes[k] === inode) return true;
    }
    return false;
  }

  rebuild(trash: ReadonlyMap<number, TrashEntry>): void {
    this.expires = [];
    this.inodes = [];
    for (const [inode, e] of trash) this.push(e.expiresAtSec, inode);
  }
}

/** The last name of non-directory `inode` went, from `parent`/`name` (unlink, rename over it). */
export function lastNameGone(s: Store, inode: number, parent: number, name: string, nowSec: number): void {
  invariant(s.nlink[inode] === 0 && !s.isDir(inode), `inode ${inode} has no name left`);
  if (s.typeOf(inode) !== NodeType.file) {
    s.release(inode, nowSec);
    return;
  }
  const trashTimeSec = s.trashTimeSec[inode] ?? 0;
  if (trashTimeSec > 0) {
    const entry: TrashEntry = { expiresAtSec: nowSec + trashTimeSec, parent, name };
    s.trash.set(inode, entry);
    s.trashQueue.push(entry.expiresAtSec, inode);
    s.trashLengthBytes += BigInt(s.lengthBytes[inode] ?? 0);
    s.ctimeSec[inode] = nowSec;
  } else if (s.openCount.has(inode)) {
    sustain(s, inode);
  } else {
    s.release(inode, nowSec);
  }
}

function sustain(s: Store, inode: number): void {
  s.sustained.add(inode);
  s.sustainedLengthBytes += BigInt(s.lengthBytes[inode] ?? 0);
}

function leaveTrash(s: Store, inode: number): void {
  invariant(s.trash.delete(inode), `inode ${inode} was in the trash`);
  s.trashLengthBytes -= BigInt(s.lengthBytes[inode] ?? 0);
  // Entries of files that left the trash early wait in the heap; bound them.
  if (s.trashQueue.size > 2 * s.trash.size + 1024) s.trashQueue.rebuild(s.trash);
}

/** A trashed file's time is up or it is purged: freed, or sustained while a session holds it. */
function purge(s: Store, inode: number, nowSec: number): void {
  leaveTrash(s, inode);
  if (s.openCount.has(inode)) sustain(s, inode);
  else s.release(inode, nowSec);
}

/** No session holds `inode` any more: a sustained file is freed now. */
export function lastHolderGone(s: Store, inode: number, nowSec: number): void {
  if (!s.sustained.delete(inode)) return;
  s.sustainedLengthBytes -= BigInt(s.lengthBytes[inode] ?? 0);
  s.release(inode, nowSec);
}

/** MooseFS PURGE: reserved to root here, as the trash is reached only through the admin's meta mount. */
export function purgeTrash(s: Store, c: PurgeTrashCommand): CommandResult {
  if (c.uid !== 0) return fail('EPERM');
  if (!s.trash.has(c.inode)) return fail('ENOENT');
  purge(s, c.inode, c.timeSec);
  return done(s, c.inode);
}

export function expireTrash(s: Store, c: ExpireTrashCommand): CommandResult {
  if (c.uid !== 0) return fail('EPERM');
  if (!Number.isInteger(c.maxCount) || c.maxCount < 1 || c.maxCount > maxExpireBatch) return fail('EINVAL');
  let count = 0;
  while (count < c.maxCount) {
    const top = s.trashQueue.peek();
    if (top === null || top.expiresAtSec > c.timeSec) break;
    s.trashQueue.pop();
    if (s.trash.get(top.inode)?.expiresAtSec !== top.expiresAtSec) continue;
    purge(s, top.inode, c.timeSec);
    count++;
  }
  return { ok: true, inode: 0, attr: null, count };
}

/**
 * MooseFS UNDEL, restricted: the file goes back under its old name in its old directory, which must
 * still be a directory (MooseFS recreates missing directories of the remembered path; we do not).
 */
export function undelete(s: Store, c: UndeleteCommand): CommandResult {
  if (c.uid !== 0) return fail('EPERM');
  const entry = s.trash.get(c.inode);
  if (entry === undefined) return fail('ENOENT');
  const d = s.dir(entry.parent);
  if (isFailure(d)) return fail('ENOENT');
  if (d.has(entry.name)) return fail('EEXIST');
  leaveTrash(s, c.inode);
  s.addEntry(entry.parent, entry.name, c.inode);
  s.nlink[c.inode] = 1;
  s.ctimeSec[c.inode] = c.timeSec;
  s.touchModify(entry.parent, c.timeSec);
  return done(s, c.inode);
}
