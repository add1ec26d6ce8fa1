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
