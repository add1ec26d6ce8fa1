import { NodeType, type Attr } from './commands.ts';
import { fail, type Result } from './errors.ts';
import { maxReaddirEntries, rootInode } from './limits.ts';
import { encodeName, maxEncodedBytes } from './namebytes.ts';
import { checkEntryName } from './names.ts';
import { MAY_EXEC, MAY_READ, type Store } from './store.ts';

/** The caller of a read: reads need no timestamp, so they never go through the log. */
export interface Caller {
  readonly uid: number;
  readonly gids: readonly number[];
}

export interface DirEntry {
  readonly name: string;
  readonly inode: number;
  readonly type: Exclude<NodeType, 0>;
}

export interface ReaddirPage {
  readonly entries: readonly DirEntry[];
  /**
   * Resume point: the last name returned, or null once the directory is exhausted. Entries are
   * ordered by name, so a cursor stays valid whatever changes in between: an entry present for the
   * whole listing is returned exactly once; one added or removed meanwhile may or may not be.
   */
  readonly cursor: string | null;
}

export interface StatfsTotals {
  readonly inodes: number;
  readonly directories: number;
  readonly files: number;
  readonly symlinks: number;
  readonly otherNodes: number;
  /**
   * All regular files' lengths, trashed and sustained ones included (MooseFS counts them in its
   * totals too). Exact up to 2^53 − 1; a larger sum is rounded to the nearest number.
   */
  readonly fileLengthBytes: number;
  readonly trashFiles: number;
  readonly trashLengthBytes: number;
  readonly sustainedFiles: number;
  readonly sustainedLengthBytes: number;
  readonly chunks: number;
}

function isFail(v: unknown): v is { ok: false } {
  return typeof v === 'object' && v !== null && 'ok' in v && (v as { ok: unknown }).ok === false;
}

export function getattr(s: Store, inode: number): Result<{ attr: Attr }> {
  if (!s.exists(inode)) return fail('ENOENT');
  return { ok: true, attr: s.attr(inode) };
}

export function lookup(s: Store, parent: number, name: string, caller: Caller): Result<{ inode: number; attr: Attr }> {
  const d = s.dir(parent);
  if (isFail(d)) return d;
  if (!s.mayAccess(parent, caller.uid, caller.gids, MAY_EXEC)) return fail('EACCES');
  let inode: number | undefined;
  if (name === '.') inode = parent;
  else if (name === '..') inode = parent === rootInode ? rootInode : s.parent[parent];
  else {
    const bad = checkEntryName(name);
    if (bad) return bad;
    inode = d.get(name);
  }
  if (inode === undefined) return fail('ENOENT');
  return { ok: true, inode, attr: s.attr(inode) };
}

export function readlink(s: Store, inode: number): Result<{ target: string }> {
  if (!s.exists(inode)) return fail('ENOENT');
  const target = s.symlinkTarget.get(inode);
  if (target === undefined) return fail('EINVAL');
  return { ok: true, target };
}

export function readdir(
  s: Store,
  dir: number,
  caller: Caller,
  after: string | null,
  maxEntries: number,
): Result<ReaddirPage> {
  if (!Number.isInteger(maxEntries) || maxEntries < 1 || maxEntries > maxReaddirEntries) return fail('EINVAL');
  const d = s.dir(dir);
  if (isFail(d)) return d;
  if (!s.mayAccess(dir, caller.uid, caller.gids, MAY_READ)) return fail('EACCES');
  const table = s.entries;
  const order = table.sorted(d.dir);
  let lo = 0;
  if (after !== null) {
    // The cursor need not be a name still present (or a valid name at all): find the first name after it.
    const cursor = new Uint8Array(maxEncodedBytes(after.length));
    const cursorBytes = encodeName(after, cursor);
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (table.compareName(order[mid] ?? 0, cursor, 0, cursorBytes) <= 0) lo = mid + 1;
      else hi = mid;
    }
  }
  const end = Math.min(order.length, lo + maxEntries);
  const entries: DirEntry[] = [];
  for (let i = lo; i < end; i++) {
    const e = order[i] ?? 0;
    const inode = table.child(e);
    entries.push({ name: table.name(e), inode, type: s.typeOf(inode) as Exclude<NodeType, 0> });
  }
  const last = entries[entries.length - 1];
  return { ok: true, entries, cursor: end < order.length && last !== undefined ? last.name : null };
}

/** access(2): mask is a combination of R 4, W 2, X 1; 0 asks only whether the inode exists. */
export function access(s: Store, inode: number, caller: Caller, mask: number): Result<object> {
  if (!Number.isInteger(mask) || mask < 0 || mask > 7) return fail('EINVAL');
  if (!s.exists(inode)) return fail('ENOENT');
  if (!s.mayAccess(inode, caller.uid, caller.gids, mask)) return fail('EACCES');
  return { ok: true };
}

export function statfs(s: Store): StatfsTotals {
  const c = s.countByType;
  const directories = c[NodeType.directory] ?? 0;
  const files = c[NodeType.file] ?? 0;
  const symlinks = c[NodeType.symlink] ?? 0;
  let inodes = 0;
  for (let t = 1; t < c.length; t++) inodes += c[t] ?? 0;
  return {
    inodes,
    directories,
    files,
    symlinks,
    otherNodes: inodes - directories - files - symlinks,
    fileLengthBytes: Number(s.totalFileLengthBytes),
    trashFiles: s.trash.size,
    trashLengthBytes: Number(s.trashLengthBytes),
    sustainedFiles: s.sustained.size,
    sustainedLengthBytes: Number(s.sustainedLengthBytes),
    chunks: s.chunks.table.size,
  };
}
