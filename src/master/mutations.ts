import {
  NodeType,
  SetAttr,
  setAttrKnownMask,
  type Command,
  type CreateCommand,
  type LinkCommand,
  type MkdirCommand,
  type MknodCommand,
  type RenameCommand,
  type RmdirCommand,
  type SetattrCommand,
  type SymlinkCommand,
  type TruncateCommand,
  type UnlinkCommand,
} from './commands.ts';
import { fail, invariant, type Failure } from './errors.ts';
import { setGoal, setTrashTime, truncateChunks, writeChunk, writeChunkEnd } from './files.ts';
import { maxFileLengthBytes, maxSymlinkTargetBytes } from './limits.ts';
import { checkEntryName, isDotName, utf8Length } from './names.ts';
import { done, isFailure, type CommandResult } from './results.ts';
import { acquire, expireSessions, release, sessionClose, sessionOpen, sessionRenew } from './sessions.ts';
import { MAY_EXEC, MAY_READ, MAY_WRITE, S_ISGID, S_ISUID, S_IXGRP, type DirEntries, type Store } from './store.ts';
import { expireTrash, lastNameGone, purgeTrash, undelete } from './trash.ts';

export type { CommandResult } from './results.ts';

function primaryGid(gids: readonly number[]): number {
  const g = gids[0];
  invariant(g !== undefined, 'a command carries at least one gid');
  return g;
}

export function applyCommand(s: Store, c: Command): CommandResult {
  switch (c.kind) {
    case 'mkdir':
      return mkdir(s, c);
    case 'mknod':
    case 'create':
      return mknod(s, c);
    case 'symlink':
      return symlink(s, c);
    case 'link':
      return link(s, c);
    case 'unlink':
      return unlink(s, c);
    case 'rmdir':
      return rmdir(s, c);
    case 'rename':
      return rename(s, c);
    case 'setattr':
      return setattr(s, c);
    case 'truncate':
      return truncate(s, c);
    case 'writeChunk':
      return writeChunk(s, c);
    case 'writeChunkEnd':
      return writeChunkEnd(s, c);
    case 'setGoal':
      return setGoal(s, c);
    case 'setTrashTime':
      return setTrashTime(s, c);
    case 'purgeTrash':
      return purgeTrash(s, c);
    case 'expireTrash':
      return expireTrash(s, c);
    case 'undelete':
      return undelete(s, c);
    case 'sessionOpen':
      return sessionOpen(s, c);
    case 'sessionRenew':
      return sessionRenew(s, c);
    case 'sessionClose':
      return sessionClose(s, c);
    case 'expireSessions':
      return expireSessions(s, c);
    case 'acquire':
      return acquire(s, c);
    case 'release':
      return release(s, c);
  }
}

/** The checks every new entry goes through, in the order Linux makes them (filename_create, may_create). */
function checkNewEntry(
  s: Store,
  parent: number,
  name: string,
  dotError: Failure,
  uid: number,
  gids: readonly number[],
): DirEntries | Failure {
  const d = s.dir(parent);
  if (isFailure(d)) return d;
  if (isDotName(name)) return dotError;
  const bad = checkEntryName(name);
  if (bad) return bad;
  if (d.has(name)) return fail('EEXIST');
  if (!s.mayAccess(parent, uid, gids, MAY_WRITE | MAY_EXEC)) return fail('EACCES');
  return d;
}

/** Owner and group of a new inode; a setgid directory passes on its group (inode_init_owner). */
function ownerOf(s: Store, parent: number, gids: readonly number[]): { gid: number; sgidDir: boolean } {
  if (((s.mode[parent] ?? 0) & S_ISGID) !== 0) return { gid: s.gid[parent] ?? 0, sgidDir: true };
  return { gid: primaryGid(gids), sgidDir: false };
}

function linkNew(s: Store, parent: number, name: string, inode: number, nowSec: number): void {
  s.addEntry(parent, name, inode);
  if (s.isDir(inode)) {
    s.parent[inode] = parent;
    s.nlink[parent] = (s.nlink[parent] ?? 0) + 1;
  }
  s.touchModify(parent, nowSec);
}

function mkdir(s: Store, c: MkdirCommand): CommandResult {
  const d = checkNewEntry(s, c.parent, c.name, fail('EEXIST'), c.uid, c.gids);
  if (isFailure(d)) return d;
  const inode = s.allocate(c.timeSec);
  if (isFailure(inode)) return inode;
  const owner = ownerOf(s, c.parent, c.gids);
  let mode = c.mode & ~c.umask & 0o1777;
  if (owner.sgidDir) mode |= S_ISGID;
  s.init(inode, NodeType.directory, mode, c.uid, owner.gid, c.timeSec, s.goal[c.parent] ?? 0, s.trashTimeSec[c.parent] ?? 0);
  linkNew(s, c.parent, c.name, inode, c.timeSec);
  return done(s, inode);
}

const mknodTypes = {
  file: NodeType.file,
  fifo: NodeType.fifo,
  socket: NodeType.socket,
  blockdev: NodeType.blockdev,
  chardev: NodeType.chardev,
} as const;

function mknod(s: Store, c: MknodCommand | CreateCommand): CommandResult {
  // Linux answers EEXIST for '.' and '..' both to mknod(2) and to open(O_CREAT|O_EXCL).
  const d = checkNewEntry(s, c.parent, c.name, fail('EEXIST'), c.uid, c.gids);
  if (isFailure(d)) return d;
  const type = c.kind === 'create' ? NodeType.file : mknodTypes[c.type];
  if ((type === NodeType.blockdev || type === NodeType.chardev) && c.uid !== 0) return fail('EPERM');
  const inode = s.allocate(c.timeSec);
  if (isFailure(inode)) return inode;
  const owner = ownerOf(s, c.parent, c.gids);
  let mode = c.mode & ~c.umask & 0o7777;
  if (owner.sgidDir && c.uid !== 0 && (mode & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP) && !c.gids.includes(owner.gid)) {
    mode &= ~S_ISGID;
  }
  s.init(inode, type, mode, c.uid, owner.gid, c.timeSec, s.goal[c.parent] ?? 0, s.trashTimeSec[c.parent] ?? 0);
  if (c.kind === 'mknod' && (type === NodeType.blockdev || type === NodeType.chardev)) s.rdev.set(inode, c.rdev);
  linkNew(s, c.parent, c.name, inode, c.timeSec);
  return done(s, inode);
}

function symlink(s: Store, c: SymlinkCommand): CommandResult {
  if (c.target.length === 0) return fail('ENOENT');
  if (c.target.includes('\0')) return fail('EINVAL');
  const targetBytes = utf8Length(c.target);
  if (targetBytes > maxSymlinkTargetBytes) return fail('ENAMETOOLONG');
  const d = checkNewEntry(s, c.parent, c.name, fail('EEXIST'), c.uid, c.gids);
  if (isFailure(d)) return d;
  const inode = s.allocate(c.timeSec);
  if (isFailure(inode)) return inode;
  const gid = ownerOf(s, c.parent, c.gids).gid;
  s.init(inode, NodeType.symlink, 0o777, c.uid, gid, c.timeSec, s.goal[c.parent] ?? 0, s.trashTimeSec[c.parent] ?? 0);
  s.symlinkTarget.set(inode, c.target);
  s.setLength(inode, targetBytes);
  linkNew(s, c.parent, c.name, inode, c.timeSec);
  return done(s, inode);
}

/** fs.protected_hardlinks: a non-owner links only a plain regular file it may read and write. */
function mayLinkAsNonOwner(s: Store, inode: number, uid: number, gids: readonly number[]): boolean {
  if (uid === 0 || uid === s.uid[inode]) return true;
  if (s.typeOf(inode) !== NodeType.file) return false;
  const mode = s.mode[inode] ?? 0;
  if ((mode & S_ISUID) !== 0) return false;
  if ((mode & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP)) return false;
  return s.mayAccess(inode, uid, gids, MAY_READ | MAY_WRITE);
}

function link(s: Store, c: LinkCommand): CommandResult {
  if (!s.exists(c.inode)) return fail('ENOENT');
  const d = s.dir(c.parent);
  if (isFailure(d)) return d;
  if (isDotName(c.name)) return fail('EEXIST');
  const bad = checkEntryName(c.name);
  if (bad) return bad;
  if (d.has(c.name)) return fail('EEXIST');
  if (!mayLinkAsNonOwner(s, c.inode, c.uid, c.gids)) return fail('EPERM');
  if (!s.mayAccess(c.parent, c.uid, c.gids, MAY_WRITE | MAY_EXEC)) return fail('EACCES');
  if (s.isDir(c.inode)) return fail('EPERM');
  // vfs_link: a file with no name left (trashed or sustained here) cannot get one back by link.
  if (s.nlink[c.inode] === 0) return fail('ENOENT');
  s.addEntry(c.parent, c.name, c.inode);
  s.nlink[c.inode] = (s.nlink[c.inode] ?? 0) + 1;
  s.ctimeSec[c.inode] = c.timeSec;
  s.touchModify(c.parent, c.timeSec);
  return done(s, c.inode);
}

/** may_delete: the checks before an entry is removed or replaced. */
function mayDelete(
  s: Store,
  dir: number,
  victim: number,
  wantDir: boolean,
  uid: number,
  gids: readonly number[],
): Failure | null {
  if (!s.mayAccess(dir, uid, gids, MAY_WRITE | MAY_EXEC)) return fail('EACCES');
  if (s.stickyForbids(dir, victim, uid)) return fail('EPERM');
  if (wantDir && !s.isDir(victim)) return fail('ENOTDIR');
  if (!wantDir && s.isDir(victim)) return fail('EISDIR');
  return null;
}

/**
 * Drops one name of `inode` (`dir`/`name`, already removed from its directory). A directory is
 * freed; any other inode is handed to `lastNameGone` (trash, sustained or freed) when none is left.
 */
function dropLink(s: Store, dir: number, name: string, inode: number, nowSec: number): void {
  if (s.isDir(inode)) {
    s.nlink[dir] = (s.nlink[dir] ?? 0) - 1;
    s.release(inode, nowSec);
    return;
  }
  const n = (s.nlink[inode] ?? 0) - 1;
  s.nlink[inode] = n;
  if (n === 0) lastNameGone(s, inode, dir, name, nowSec);
  else s.ctimeSec[inode] = nowSec;
}

function unlink(s: Store, c: UnlinkCommand): CommandResult {
  const d = s.dir(c.parent);
  if (isFailure(d)) return d;
  if (isDotName(c.name)) return fail('EISDIR');
  const bad = checkEntryName(c.name);
  if (bad) return bad;
  const victim = d.get(c.name);
  if (victim === undefined) return fail('ENOENT');
  const refused = mayDelete(s, c.parent, victim, false, c.uid, c.gids);
  if (refused) return refused;
  s.removeEntry(c.parent, c.name);
  s.touchModify(c.parent, c.timeSec);
  dropLink(s, c.parent, c.name, victim, c.timeSec);
  return done(s, victim);
}

function rmdir(s: Store, c: RmdirCommand): CommandResult {
  const d = s.dir(c.parent);
  if (isFailure(d)) return d;
  if (c.name === '.') return fail('EINVAL');
  if (c.name === '..') return fail('ENOTEMPTY');
  const bad = checkEntryName(c.name);
  if (bad) return bad;
  const victim = d.get(c.name);
  if (victim === undefined) return fail('ENOENT');
  const refused = mayDelete(s, c.parent, victim, true, c.uid, c.gids);
  if (refused) return refused;
  if (s.hasEntries(victim)) return fail('ENOTEMPTY');
  s.removeEntry(c.parent, c.name);
  s.touchModify(c.parent, c.timeSec);
  dropLink(s, c.parent, c.name, victim, c.timeSec);
  return done(s, victim);
}

/** rename(2) without flags, with the checks in the order of do_renameat2 and vfs_rename. */
function rename(s: Store, c: RenameCommand): CommandResult {
  const srcDir = s.dir(c.srcParent);
  if (isFailure(srcDir)) return srcDir;
  const dstDir = s.dir(c.dstParent);
  if (isFailure(dstDir)) return dstDir;
  if (isDotName(c.srcName) || isDotName(c.dstName)) return fail('EBUSY');
  const bad = checkEntryName(c.srcName) ?? checkEntryName(c.dstName);
  if (bad) return bad;
  const src = srcDir.get(c.srcName);
  if (src === undefined) return fail('ENOENT');
  const dst = dstDir.get(c.dstName);
  const srcIsDir = s.isDir(src);
  // A directory cannot move below itself; the target cannot be a directory above the source.
  if (srcIsDir && s.isAncestorOrSelf(src, c.dstParent)) return fail('EINVAL');
  if (dst !== undefined && s.isDir(dst) && s.isAncestorOrSelf(dst, c.srcParent)) return fail('ENOTEMPTY');
  // Two names of one inode: POSIX says rename does nothing and succeeds.
  if (dst === src) return done(s, src);
  const srcRefused = mayDelete(s, c.srcParent, src, srcIsDir, c.uid, c.gids);
  if (srcRefused) return srcRefused;
  if (dst !== undefined) {
    const dstRefused = mayDelete(s, c.dstParent, dst, srcIsDir, c.uid, c.gids);
    if (dstRefused) return dstRefused;
  } else if (!s.mayAccess(c.dstParent, c.uid, c.gids, MAY_WRITE | MAY_EXEC)) {
    return fail('EACCES');
  }
  // Moving a directory rewrites its '..', which needs write permission on it.
  if (srcIsDir && c.srcParent !== c.dstParent && !s.mayAccess(src, c.uid, c.gids, MAY_WRITE)) return fail('EACCES');
  if (dst !== undefined && s.hasEntries(dst)) return fail('ENOTEMPTY');

  s.removeEntry(c.srcParent, c.srcName);
  if (dst !== undefined) {
    s.removeEntry(c.dstParent, c.dstName);
    dropLink(s, c.dstParent, c.dstName, dst, c.timeSec);
  }
  s.addEntry(c.dstParent, c.dstName, src);
  if (srcIsDir && c.srcParent !== c.dstParent) {
    s.nlink[c.srcParent] = (s.nlink[c.srcParent] ?? 0) - 1;
    s.nlink[c.dstParent] = (s.nlink[c.dstParent] ?? 0) + 1;
    s.parent[src] = c.dstParent;
  }
  s.touchModify(c.srcParent, c.timeSec);
  s.touchModify(c.dstParent, c.timeSec);
  s.ctimeSec[src] = c.timeSec;
  return done(s, src);
}

/** setattr in the order of setattr_prepare: owner, group, mode, then times. */
function setattr(s: Store, c: SetattrCommand): CommandResult {
  const inode = c.inode;
  if (!s.exists(inode)) return fail('ENOENT');
  if ((c.setMask & ~setAttrKnownMask) !== 0 || (c.setMask & SetAttr.mode && c.mode !== (c.mode & 0o7777))) {
    return fail('EINVAL');
  }
  const isRoot = c.uid === 0;
  const isOwner = isRoot || c.uid === s.uid[inode];
  if (c.setMask & SetAttr.uid && !isRoot && c.newUid !== s.uid[inode]) return fail('EPERM');
  if (c.setMask & SetAttr.gid && !isRoot) {
    if (c.uid !== s.uid[inode] || (c.newGid !== s.gid[inode] && !c.gids.includes(c.newGid))) return fail('EPERM');
  }
  if (c.setMask & SetAttr.mode && !isOwner) return fail('EPERM');
  if (c.setMask & (SetAttr.atime | SetAttr.mtime) && !isOwner) return fail('EPERM');
  if (c.setMask & (SetAttr.atimeNow | SetAttr.mtimeNow) && !isOwner && !s.mayAccess(inode, c.uid, c.gids, MAY_WRITE)) {
    return fail('EACCES');
  }

  if (c.setMask & SetAttr.uid) s.uid[inode] = c.newUid;
  if (c.setMask & SetAttr.gid) s.gid[inode] = c.newGid;
  if (c.setMask & SetAttr.mode) {
    let mode = c.mode;
    // Only a member of the file's group keeps setgid through chmod.
    if (!isRoot && !c.gids.includes(s.gid[inode] ?? 0)) mode &= ~S_ISGID;
    s.mode[inode] = mode;
  } else if (c.setMask & (SetAttr.uid | SetAttr.gid) && !s.isDir(inode)) {
    s.mode[inode] = killSuid(s.mode[inode] ?? 0);
  }
  if (c.setMask & SetAttr.atime) s.atimeSec[inode] = c.atimeSec;
  if (c.setMask & SetAttr.atimeNow) s.atimeSec[inode] = c.timeSec;
  if (c.setMask & SetAttr.mtime) s.mtimeSec[inode] = c.mtimeSec;
  if (c.setMask & SetAttr.mtimeNow) s.mtimeSec[inode] = c.timeSec;
  s.ctimeSec[inode] = c.timeSec;
  return done(s, inode);
}

/** Drops setuid, and setgid when it means "setgid" rather than mandatory locking (group x set). */
function killSuid(mode: number): number {
  let m = mode & ~S_ISUID;
  if ((m & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP)) m &= ~S_ISGID;
  return m;
}

function truncate(s: Store, c: TruncateCommand): CommandResult {
  if (!Number.isInteger(c.lengthBytes) || c.lengthBytes < 0) return fail('EINVAL');
  const inode = c.inode;
  if (!s.exists(inode)) return fail('ENOENT');
  if (s.isDir(inode)) return fail('EISDIR');
  if (s.typeOf(inode) !== NodeType.file) return fail('EINVAL');
  if (!s.mayAccess(inode, c.uid, c.gids, MAY_WRITE)) return fail('EACCES');
  if (c.lengthBytes > maxFileLengthBytes) return fail('EFBIG');
  const cut = truncateChunks(s, inode, c.lengthBytes, c.timeSec);
  if (cut) return cut;
  s.setLength(inode, c.lengthBytes);
  if (c.uid !== 0) s.mode[inode] = killSuid(s.mode[inode] ?? 0);
  s.touchModify(inode, c.timeSec);
  return done(s, inode);
}
