/**
 * Client sessions, the files they hold open, and the retry cache: all replicated, so a new leader
 * knows every session, keeps unlinked-but-open files alive, and answers a retried mutation with
 * its first result (MooseFS journals sessions and ACQUIRE/RELEASE too, but deduplicates nothing).
 */
import {
  NodeType,
  type AcquireCommand,
  type Command,
  type ExpireSessionsCommand,
  type ReleaseCommand,
  type SessionCloseCommand,
  type SessionOpenCommand,
  type SessionRenewCommand,
} from './commands.ts';
import { decodeResult, encodeResult } from './codec.ts';
import { fail, invariant } from './errors.ts';
import { maxExpireBatch, maxSequence, maxSessionId, maxSessionTimeoutSec, retryWindow } from './limits.ts';
import { done, isFailure, type CommandResult } from './results.ts';
import type { Store } from './store.ts';
import { lastHolderGone } from './trash.ts';

export interface Session {
  readonly id: number;
  readonly rootInode: number;
  readonly flags: number;
  readonly timeoutSec: number;
  /** expireSessions closes the session once `expiresAtSec < timeSec`; renew moves it. */
  expiresAtSec: number;
  /** Inodes (regular files) the session holds open. */
  readonly open: Set<number>;
  /**
   * The retry window: the highest sequence run so far, and the encoded results of the sequences
   * run in (highestSeq − retryWindow, highestSeq], in slot `seq % retryWindow`. A slot holds seq 0
   * and no result when empty. Sequences may arrive out of order within the window.
   */
  highestSeq: number;
  readonly windowSeq: Float64Array;
  readonly windowResult: (Uint8Array | undefined)[];
}

/**
 * Runs `execute` unless the command's (session, seq) was already answered:
 * - session 0: no deduplication;
 * - an unknown (closed, expired, never opened) session: BADSESSIONID, nothing runs;
 * - seq at or below `highestSeq − retryWindow`: RETRY_EXPIRED, nothing runs;
 * - seq in the window with a stored result: that result, and nothing changes;
 * - otherwise the command runs, and its result (failures too) is stored if the session still
 *   exists afterwards (sessionClose of the sender's own session stores nothing).
 */
export function applyWithRetryCache(s: Store, c: Command, execute: () => CommandResult): CommandResult {
  const ref = c.session;
  if (ref.id === 0) return execute();
  const session = s.sessions.get(ref.id);
  if (session === undefined) return fail('BADSESSIONID');
  if (!Number.isInteger(ref.seq) || ref.seq < 1 || ref.seq > maxSequence) return fail('EINVAL');
  if (ref.seq <= session.highestSeq - retryWindow) return fail('RETRY_EXPIRED');
  const slot = ref.seq % retryWindow;
  const stored = session.windowResult[slot];
  if (session.windowSeq[slot] === ref.seq && stored !== undefined) return decodeResult(stored);
  const result = execute();
  if (s.sessions.get(ref.id) === session) remember(session, ref.seq, result);
  return result;
}

function remember(session: Session, seq: number, result: CommandResult): void {
  if (seq > session.highestSeq) {
    session.highestSeq = seq;
    // Slots that fell out of the window are cleared, so the window has one canonical content.
    for (let k = 0; k < retryWindow; k++) {
      const old = session.windowSeq[k] ?? 0;
      if (old !== 0 && old <= seq - retryWindow) {
        session.windowSeq[k] = 0;
        session.windowResult[k] = undefined;
      }
    }
  }
  const slot = seq % retryWindow;
  invariant(session.windowSeq[slot] === 0, `retry slot of seq ${seq} is free`);
  session.windowSeq[slot] = seq;
  session.windowResult[slot] = encodeResult(result);
}

function validTimeout(timeoutSec: number): boolean {
  return Number.isInteger(timeoutSec) && timeoutSec >= 1 && timeoutSec <= maxSessionTimeoutSec;
}

export function sessionOpen(s: Store, c: SessionOpenCommand): CommandResult {
  if (!Number.isInteger(c.flags) || c.flags < 0 || c.flags > 0xff || !validTimeout(c.timeoutSec)) return fail('EINVAL');
  const root = s.dir(c.rootInode);
  if (isFailure(root)) return root;
  if (s.nextSessionId > maxSessionId) return fail('ENOSPC');
  const id = s.nextSessionId++;
  s.sessions.set(id, {
    id,
    rootInode: c.rootInode,
    flags: c.flags,
    timeoutSec: c.timeoutSec,
    expiresAtSec: c.timeSec + c.timeoutSec,
    open: new Set(),
    highestSeq: 0,
    windowSeq: new Float64Array(retryWindow),
    windowResult: new Array<Uint8Array | undefined>(retryWindow).fill(undefined),
  });
  return { ok: true, inode: 0, attr: null, sessionId: id };
}

export function sessionRenew(s: Store, c: SessionRenewCommand): CommandResult {
  const session = s.sessions.get(c.sessionId);
  if (session === undefined) return fail('BADSESSIONID');
  session.expiresAtSec = c.timeSec + session.timeoutSec;
  return { ok: true, inode: 0, attr: null };
}

/** Lets go of every inode the session holds, in ascending order (it decides the free-inode order). */
function close(s: Store, session: Session, nowSec: number): void {
  for (const inode of [...session.open].sort((a, b) => a - b)) letGo(s, session, inode, nowSec);
  s.sessions.delete(session.id);
}

function letGo(s: Store, session: Session, inode: number, nowSec: number): void {
  invariant(session.open.delete(inode), `session ${session.id} held inode ${inode}`);
  const n = (s.openCount.get(inode) ?? 0) - 1;
  invariant(n >= 0, `open count of inode ${inode} stays non-negative`);
  if (n > 0) {
    s.openCount.set(inode, n);
    return;
  }
  s.openCount.delete(inode);
  lastHolderGone(s, inode, nowSec);
}

export function sessionClose(s: Store, c: SessionCloseCommand): CommandResult {
  const session = s.sessions.get(c.sessionId);
  if (session === undefined) return fail('BADSESSIONID');
  close(s, session, c.timeSec);
  return { ok: true, inode: 0, attr: null };
}

/** Closes the sessions with `expiresAtSec < timeSec`, earliest expiry first, then lowest id. */
export function expireSessions(s: Store, c: ExpireSessionsCommand): CommandResult {
  if (c.uid !== 0) return fail('EPERM');
  if (!Number.isInteger(c.maxCount) || c.maxCount < 1 || c.maxCount > maxExpireBatch) return fail('EINVAL');
  const expired = [...s.sessions.values()].filter((x) => x.expiresAtSec < c.timeSec);
  expired.sort((a, b) => a.expiresAtSec - b.expiresAtSec || a.id - b.id);
  const closing = expired.slice(0, c.maxCount);
  for (const session of closing) close(s, session, c.timeSec);
  return { ok: true, inode: 0, attr: null, count: closing.length };
}

/**
 * ACQUIRE: the session holds a regular file open (trashed and sustained files included, as MooseFS
 * serves them by inode). Other types are never kept after their last name, so holding them means
 * nothing: EPERM, the answer MooseFS gives for chunk operations on them.
 */
export function acquire(s: Store, c: AcquireCommand): CommandResult {
  const session = s.sessions.get(c.sessionId);
  if (session === undefined) return fail('BADSESSIONID');
  if (!s.exists(c.inode)) return fail('ENOENT');
  if (s.typeOf(c.inode) !== NodeType.file) return fail('EPERM');
  if (!session.open.has(c.inode)) {
    session.open.add(c.inode);
    s.openCount.set(c.inode, (s.openCount.get(c.inode) ?? 0) + 1);
  }
  return done(s, c.inode);
}

/** RELEASE: releasing an inode the session does not hold succeeds and changes nothing (a set, as in MooseFS). */
export function release(s: Store, c: ReleaseCommand): CommandResult {
  const session = s.sessions.get(c.sessionId);
  if (session === undefined) return fail('BADSESSIONID');
  if (session.open.has(c.inode)) letGo(s, session, c.inode, c.timeSec);
  return done(s, c.inode);
}
