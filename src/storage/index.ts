export { FileLogStorage } from './file-log-storage.ts';
export type { DurableMark, FileLogStorageOptions, PersistResult, StorageLogger, StorageStats } from './file-log-storage.ts';
export { StorageCorruptionError, StorageError, OPERATOR_ACTION } from './errors.ts';
export type { StorageErrorCode } from './errors.ts';
export { NodeFileIO, joinPath, dirName } from './fileio.ts';
export type { FileHandle, FileIO, FileStat, OpenFlags } from './fileio.ts';
export { SimFileIO, SECTOR_BYTES, seededRandom } from './sim-fileio.ts';
export type { CrashMode, SimFault, SimFaultCode, SimFaultOp, SimStats } from './sim-fileio.ts';
export { SnapshotReader, readSnapshotFile } from './snapshot-file.ts';
