import { restoreSnapshot } from '../../src/master/snapshot-reader.ts';
import { snapshotBytes } from '../../src/master/snapshot.ts';
import type { MetadataState } from '../../src/master/state.ts';

/** The metadata part of a simulated node's snapshot: the product's snapshot stream, in small chunks so that multi-frame streams are exercised. */
export function snapshotMeta(meta: MetadataState): Uint8Array {
  return snapshotBytes(meta, { chunkBytes: 8192 });
}

export function restoreMeta(data: Uint8Array): MetadataState {
  return restoreSnapshot([data], { initialInodeCapacity: 16 });
}
