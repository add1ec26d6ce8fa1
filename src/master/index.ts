export * from './commands.ts';
export { ERRNO, MetadataInvariantError, type ErrorCode, type Failure, type Result } from './errors.ts';
export * from './limits.ts';
export { CommandCodecError, commandFormatVersion, decodeCommand, encodeCommand } from './codec.ts';
export type { CommandResult } from './mutations.ts';
export type { Caller, DirEntry, ReaddirPage, StatfsTotals } from './reads.ts';
export { MetadataState, type ApplyContext, type MetadataStateOptions } from './state.ts';
export {
  SnapshotError,
  defaultSnapshotChunkBytes,
  snapshotBytes,
  snapshotFormatVersion,
  writeSnapshot,
  type SnapshotErrorReason,
  type WriteSnapshotOptions,
} from './snapshot.ts';
export { SnapshotReader, restoreSnapshot, type SnapshotReaderOptions } from './snapshot-reader.ts';
