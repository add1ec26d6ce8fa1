export * from './types.ts';
export { RaftNode, encodeConfChange, decodeConfChange, decodeConfEntry } from './raft.ts';
export type { RaftConfig, RaftStatus, ProgressStatus } from './raft.ts';
export { MemoryStorage, entrySizeBytes, emptyConfState } from './storage.ts';
export type { LogStorage } from './storage.ts';
export { describeMessage } from './describe.ts';
export { describeConfState, applyConfChange, isJoint } from './confchange.ts';
export { InvariantError } from './assert.ts';
export { seededRandom } from './random.ts';
