export * from './commands.ts';
export { ERRNO, MetadataInvariantError, type ErrorCode, type Failure, type Result } from './errors.ts';
export * from './limits.ts';
export {
  CommandCodecError,
  commandFormatVersion,
  decodeCommand,
  setCommandTime,
  decodeResult,
  encodeCommand,
  encodeResult,
  resultFormatVersion,
} from './codec.ts';
export type { CommandResult } from './results.ts';
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
