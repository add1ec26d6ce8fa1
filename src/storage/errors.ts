/**
 * Errors of the storage layer. Every error carries a stable `code`:
 *
 *  - ERR_STORAGE_CORRUPT: open() found damage it cannot explain by a crash (a bad checksum in
 *    the middle of the log, a missing segment, a damaged snapshot). Nothing is read from the
 *    directory; the operator must wipe it and let the node rejoin as a new member.
 *  - ERR_FSYNC_FAILED: an fsync failed. The kernel may have dropped the written pages, so what is
 *    on disk is unknown: the store refuses every later write and the process must exit.
 *  - ERR_IO_FAILED: another I/O error (EIO on a write, a failed rename...). Fatal like the above.
 *  - ERR_NO_SPACE: the disk is full. The rejected write left nothing behind; the store keeps
 *    serving reads and accepts later writes once space is available.
 *  - ERR_LOG_GAP: an append would leave a hole in the log (it starts past lastIndex + 1), usually
 *    because an earlier append was rejected.
 *  - ERR_BAD_ARGUMENT: a call that breaks the contract (snapshot beyond the log, compaction beyond
 *    the snapshot...).
 *  - ERR_STORAGE_CLOSED: the store was closed.
 */
export type StorageErrorCode =
  | 'ERR_STORAGE_CORRUPT'
  | 'ERR_FSYNC_FAILED'
  | 'ERR_IO_FAILED'
  | 'ERR_NO_SPACE'
  | 'ERR_LOG_GAP'
  | 'ERR_BAD_ARGUMENT'
  | 'ERR_STORAGE_CLOSED';

export class StorageError extends Error {
  override readonly name: string = 'StorageError';
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${message}`, options);
  }
}

export const OPERATOR_ACTION =
  'The data directory cannot be trusted. Stop this node, move the data directory aside (or wipe it), ' +
  'remove the node from the group and add it back as a new member: it will receive a snapshot and ' +
  'the log from the leader. Do not edit or truncate the files by hand.';

export class StorageCorruptionError extends StorageError {
  override readonly name = 'StorageCorruptionError';
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super('ERR_STORAGE_CORRUPT', `${file} at byte offset ${offset}: ${reason}. ${OPERATOR_ACTION}`);
  }
}

/** The errno-style code of a thrown value ('ENOSPC', 'EIO'...), if any. */
export function errnoCode(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e) {
    const c = (e as { code: unknown }).code;
    if (typeof c === 'string') return c;
  }
  return undefined;
}
