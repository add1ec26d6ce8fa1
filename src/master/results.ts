import type { Attr, ChunkInfo } from './commands.ts';
import type { Failure, Result } from './errors.ts';
import type { Store } from './store.ts';

/**
 * What a successful command returns: the inode it acted on (0 for commands about sessions or the
 * trash as a whole) and its attributes, null once it is gone; plus what some commands add.
 */
export type CommandResult = Result<{
  readonly inode: number;
  readonly attr: Attr | null;
  /** writeChunk, writeChunkEnd: the chunk and the file's length after the command. */
  readonly chunk?: ChunkInfo;
  /** sessionOpen: the new session. */
  readonly sessionId?: number;
  /** expireTrash, expireSessions: how many entries the command processed. */
  readonly count?: number;
}>;

export function isFailure<T>(v: T | Failure): v is Failure {
  return typeof v === 'object' && v !== null && 'ok' in v && (v as { ok: unknown }).ok === false;
}

export function done(s: Store, inode: number): CommandResult {
  return { ok: true, inode, attr: s.exists(inode) ? s.attr(inode) : null };
}
