/**
 * Errors of the metadata state machine. A failed command or read is a value, never a thrown
 * exception: `{ ok: false, code, errno }`. The codes are stable strings; `errno` is the Linux
 * number for the same code, so a FUSE-facing front can answer without a table of its own.
 * Thrown exceptions are reserved for broken contracts (a bad encoding, a violated invariant).
 */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  EFBIG: 27,
  ENAMETOOLONG: 36,
  ENOTEMPTY: 39,
  ENOSPC: 28,
  /** The chunk is locked by a write in progress (MooseFS LOCKED); errno EAGAIN: retry later. */
  LOCKED: 11,
  /** The chunk id is not the one the file holds at that index (MooseFS NOCHUNK); errno EINVAL. */
  NOCHUNK: 22,
  /** The chunk index is past `maxChunkIndex` (MooseFS INDEXTOOBIG, which mfsmount maps to EFBIG). */
  INDEXTOOBIG: 27,
  /** No such session, or it was closed or expired (MooseFS BADSESSIONID; mfsmount's default EINVAL). */
  BADSESSIONID: 22,
  /** A retried command whose sequence is older than the session's retry window: its first result is gone, and running it
   * again could apply it twice. errno ETIMEDOUT. */
  RETRY_EXPIRED: 110,
} as const;

export type ErrorCode = keyof typeof ERRNO;

export interface Failure {
  readonly ok: false;
  readonly code: ErrorCode;
  readonly errno: number;
}

export type Result<T> = ({ readonly ok: true } & T) | Failure;

const failures = new Map<ErrorCode, Failure>(
  (Object.keys(ERRNO) as ErrorCode[]).map((code) => [code, Object.freeze({ ok: false, code, errno: ERRNO[code] })]),
);

export function fail(code: ErrorCode): Failure {
  const f = failures.get(code);
  if (f === undefined) throw new Error(`unknown error code ${code}`);
  return f;
}

/** Thrown when the state machine finds itself in a state its invariants forbid. */
export class MetadataInvariantError extends Error {
  override readonly name = 'MetadataInvariantError';
}

export function invariant(condition: boolean, what: string): asserts condition {
  if (!condition) throw new MetadataInvariantError(`invariant violated: ${what}`);
}
