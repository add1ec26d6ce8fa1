/**
 * Regular files' chunks and per-inode goal and trash time. The chunk rules are MooseFS 3.0's
 * (mfsmaster/filesystem.c fs_writechunk, fs_writeend, fs_readchunk, fs_try_setlength,
 * fsnodes_setlength; chunks.c chunk_multi_modify, chunk_read_check). What happens on the
 * chunkservers (create, set version, truncate) is the leader's follow-up to the committed state.
 */
import {
  NodeType,
  type ChunkInfo,
  type SetGoalCommand,
  type SetTrashTimeCommand,
  type WriteChunkCommand,
  type WriteChunkEndCommand,
} from './commands.ts';
import { fail, invariant, type Failure, type Result } from './errors.ts';
import {
  chunkLockSec,
  chunkSizeBytes,
  maxChunkId,
  maxChunkIndex,
  maxChunkVersion,
  maxFileLengthBytes,
  maxGoal,
  maxTrashTimeSec,
  minGoal,
} from './limits.ts';
import { done, type CommandResult } from './results.ts';
import type { Store } from './store.ts';

/** A chunk is locked while `lockedToSec >= timeSec` (chunks.c); 0 means unlocked. */
function isLocked(lockedToSec: number, nowSec: number): boolean {
  return lockedToSec !== 0 && lockedToSec >= nowSec;
}

/** The checks of every chunk operation on (inode, index), in MooseFS order. */
function checkChunkAddress(s: Store, inode: number, index: number): Failure | null {
  if (!s.exists(inode)) return fail('ENOENT');
  if (s.typeOf(inode) !== NodeType.file) return fail('EPERM');
  if (!Number.isInteger(index) || index < 0) return fail('EINVAL');
  if (index > maxChunkIndex) return fail('INDEXTOOBIG');
  return null;
}

function chunkResult(s: Store, inode: number, chunkId: number, version: number): CommandResult {
  return { ok: true, inode, attr: s.attr(inode), chunk: { chunkId, version, lengthBytes: s.lengthBytes[inode] ?? 0 } };
}

/**
 * WRITE_CHUNK: a hole gets a new chunk (version 1); an existing chunk that is not locked gets
 * version + 1 (the state of record for the chunkservers' SET_VERSION). Either way the chunk is
 * locked for `chunkLockSec`. A write past the end makes the file reach the start of that chunk, as
 * MooseFS does, so the hole before it reads as zeros.
 */
export function writeChunk(s: Store, c: WriteChunkCommand): CommandResult {
  const bad = checkChunkAddress(s, c.inode, c.index);
  if (bad) return bad;
  const lockedToSec = Math.min(c.timeSec + chunkLockSec, 0xffff_ffff);
  let chunkId = s.chunks.at(c.inode, c.index);
  let version: number;
  if (chunkId === 0) {
    if (s.chunks.nextChunkId > maxChunkId) return fail('ENOSPC');
    version = 1;
    chunkId = s.chunks.create(c.inode, c.index, version, lockedToSec);
  } else {
    const t = s.chunks.table;
    const slot = t.find(chunkId);
    invariant(slot >= 0, `chunk ${chunkId} of inode ${c.inode} is in the table`);
    if (isLocked(t.lockedToSec[slot] ?? 0, c.timeSec)) return fail('LOCKED');
    version = (t.version[slot] ?? 0) + 1;
    // Four billion writes to one chunk: refuse rather than wrap, so a version never repeats.
    if (version > maxChunkVersion) return fail('ENOSPC');
    t.version[slot] = version;
    t.lockedToSec[slot] = lockedToSec;
  }
  const chunkStart = c.index * chunkSizeBytes;
  if (chunkStart > (s.lengthBytes[c.inode] ?? 0)) s.setLength(c.inode, chunkStart);
  s.touchModify(c.inode, c.timeSec);
  return chunkResult(s, c.inode, chunkId, version);
}

/**
 * WRITE_CHUNK_END: unlocks the chunk and grows the file to `lengthBytes` if it is longer. The
 * length may reach past this chunk: a client writing several chunks at once sends the largest
 * length it has written.
 */
export function writeChunkEnd(s: Store, c: WriteChunkEndCommand): CommandResult {
  const bad = checkChunkAddress(s, c.inode, c.index);
  if (bad) return bad;
  if (!Number.isInteger(c.lengthBytes) || c.lengthBytes < 0) return fail('EINVAL');
  if (c.lengthBytes > maxFileLengthBytes) return fail('EFBIG');
  const chunkId = s.chunks.at(c.inode, c.index);
  if (chunkId === 0 || chunkId !== c.chunkId) return fail('NOCHUNK');
  const t = s.chunks.table;
  const slot = t.find(chunkId);
  invariant(slot >= 0, `chunk ${chunkId} of inode ${c.inode} is in the table`);
  t.lockedToSec[slot] = 0;
  if (c.lengthBytes > (s.lengthBytes[c.inode] ?? 0)) s.setLength(c.inode, c.lengthBytes);
  s.touchModify(c.inode, c.timeSec);
  return chunkResult(s, c.inode, chunkId, t.version[slot] ?? 0);
}

/** READ_CHUNK: the chunk at `index` (0 for a hole) and the file's length; a locked chunk gives LOCKED. */
export function readChunk(s: Store, inode: number, index: number, nowSec: number): Result<ChunkInfo> {
  const bad = checkChunkAddress(s, inode, index);
  if (bad) return bad;
  const lengthBytes = s.lengthBytes[inode] ?? 0;
  const chunkId = s.chunks.at(inode, index);
  if (chunkId === 0) return { ok: true, chunkId: 0, version: 0, lengthBytes };
  const t = s.chunks.table;
  const slot = t.find(chunkId);
  invariant(slot >= 0, `chunk ${chunkId} of inode ${inode} is in the table`);
  if (isLocked(t.lockedToSec[slot] ?? 0, nowSec)) return fail('LOCKED');
  return { ok: true, chunkId, version: t.version[slot] ?? 0, lengthBytes };
}

/**
 * The chunk side of setting file `inode` to `lengthBytes` (fs_try_setlength, fsnodes_setlength):
 * - when the length changes and the new end falls inside a chunk that exists, that chunk is cut
 *   on the chunkservers: its version goes up (LOCKED if a write holds it);
 * - chunks wholly past the new end are dropped, whether the file shrinks or not (a chunk can lie
 *   past the end after a write that never reached WRITE_CHUNK_END).
 * Returns the failure before changing anything, or null once done.
 */
export function truncateChunks(s: Store, inode: number, lengthBytes: number, nowSec: number): Failure | null {
  const t = s.chunks.table;
  let cutId = 0;
  if (lengthBytes !== s.lengthBytes[inode] && lengthBytes % chunkSizeBytes !== 0) {
    cutId = s.chunks.at(inode, Math.floor(lengthBytes / chunkSizeBytes));
    if (cutId !== 0) {
      const slot = t.find(cutId);
      invariant(slot >= 0, `chunk ${cutId} of inode ${inode} is in the table`);
      if (isLocked(t.lockedToSec[slot] ?? 0, nowSec)) return fail('LOCKED');
      if ((t.version[slot] ?? 0) >= maxChunkVersion) return fail('ENOSPC');
    }
  }
  s.chunks.cutFrom(inode, Math.ceil(lengthBytes / chunkSizeBytes));
  if (cutId !== 0) {
    // Found again: removing the dropped chunks may have shifted its slot.
    const slot = t.find(cutId);
    t.version[slot] = (t.version[slot] ?? 0) + 1;
  }
  return null;
}

function mayChangeOwnSettings(s: Store, inode: number, uid: number): boolean {
  return uid === 0 || uid === s.uid[inode];
}

/**
 * SETGOAL for one inode. The range is checked first, as MooseFS checks it before looking the inode
 * up; only the owner or root may change it. ctime changes only when the value does (MooseFS).
 */
export function setGoal(s: Store, c: SetGoalCommand): CommandResult {
  if (!Number.isInteger(c.goal) || c.goal < minGoal || c.goal > maxGoal) return fail('EINVAL');
  if (!s.exists(c.inode)) return fail('ENOENT');
  if (!mayChangeOwnSettings(s, c.inode, c.uid)) return fail('EPERM');
  if (s.goal[c.inode] !== c.goal) {
    s.goal[c.inode] = c.goal;
    s.ctimeSec[c.inode] = c.timeSec;
  }
  return done(s, c.inode);
}

/** SETTRASHTIME for one inode, with the rules of setGoal. A file already in the trash keeps its expiry. */
export function setTrashTime(s: Store, c: SetTrashTimeCommand): CommandResult {
  if (!Number.isInteger(c.trashTimeSec) || c.trashTimeSec < 0 || c.trashTimeSec > maxTrashTimeSec) return fail('EINVAL');
  if (!s.exists(c.inode)) return fail('ENOENT');
  if (!mayChangeOwnSettings(s, c.inode, c.uid)) return fail('EPERM');
  if (s.trashTimeSec[c.inode] !== c.trashTimeSec) {
    s.trashTimeSec[c.inode] = c.trashTimeSec;
    s.ctimeSec[c.inode] = c.timeSec;
  }
  return done(s, c.inode);
}
