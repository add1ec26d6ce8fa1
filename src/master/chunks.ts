import { invariant } from './errors.ts';
import { chunkTableMaxLoad, initialChunkTableCapacity, maxChunkId } from './limits.ts';

/**
 * The chunk table: one record per live chunk, keyed by chunk id, in parallel typed arrays
 * (24 bytes per slot: id, version, lock, holder inode and index) with open addressing and linear
 * probing. Deletion shifts the following run back, so there are no tombstones and a lookup stops at
 * the first empty slot. Chunk ids start at 1, so id 0 marks an empty slot.
 *
 * Invariant: every stored id is held by exactly one file at exactly one index (`holderInode`,
 * `holderIndex`), and that file's chunk list names it there. Copy locations are soft state and
 * live outside the log.
 */
export class ChunkTable {
  private ids: Float64Array;
  version: Uint32Array;
  /** The write lock: writes and reads are refused while `lockedToSec >= timeSec`; 0 = unlocked. */
  lockedToSec: Uint32Array;
  holderInode: Uint32Array;
  holderIndex: Uint32Array;
  private mask: number;
  size = 0;

  constructor(capacity = initialChunkTableCapacity) {
    invariant(capacity >= 2 && (capacity & (capacity - 1)) === 0, 'chunk table capacity is a power of two');
    this.ids = new Float64Array(capacity);
    this.version = new Uint32Array(capacity);
    this.lockedToSec = new Uint32Array(capacity);
    this.holderInode = new Uint32Array(capacity);
    this.holderIndex = new Uint32Array(capacity);
    this.mask = capacity - 1;
  }

  get capacity(): number {
    return this.mask + 1;
  }

  private home(id: number): number {
    // Mixes both halves of the (up to 53-bit) id; `>>> 0` takes the low 32 bits exactly.
    return (Math.imul((id >>> 0) ^ Math.floor(id / 0x1_0000_0000), 0x9e37_79b1) >>> 0) & this.mask;
  }

  /** The slot holding `id`, or -1. */
  find(id: number): number {
    if (!Number.isInteger(id) || id < 1 || id > maxChunkId) return -1;
    for (let i = this.home(id); ; i = (i + 1) & this.mask) {
      const at = this.ids[i] ?? 0;
      if (at === id) return i;
      if (at === 0) return -1;
    }
  }

  /** Adds a chunk that is not in the table yet and returns its slot. */
  insert(id: number, version: number, lockedToSec: number, inode: number, index: number): number {
    invariant(Number.isInteger(id) && id >= 1 && id <= maxChunkId, `chunk id ${id} is valid`);
    if ((this.size + 1) > this.capacity * chunkTableMaxLoad) this.rehash(this.capacity * 2);
    let i = this.home(id);
    for (; (this.ids[i] ?? 0) !== 0; i = (i + 1) & this.mask) invariant(this.ids[i] !== id, `chunk ${id} is new`);
    this.ids[i] = id;
    this.version[i] = version;
    this.lockedToSec[i] = lockedToSec;
    this.holderInode[i] = inode;
    this.holderIndex[i] = index;
    this.size++;
    return i;
  }

  remove(id: number): void {
    let hole = this.find(id);
    invariant(hole >= 0, `chunk ${id} is in the table`);
    // Backward-shift deletion: move up every later entry of the run whose home is not in (hole, j].
    for (let j = (hole + 1) & this.mask; ; j = (j + 1) & this.mask) {
      const at = this.ids[j] ?? 0;
      if (at === 0) break;
      const h = this.home(at);
      const stays = hole <= j ? hole < h && h <= j : hole < h || h <= j;
      if (stays) continue;
      this.move(j, hole);
      hole = j;
    }
    this.ids[hole] = 0;
    this.version[hole] = 0;
    this.lockedToSec[hole] = 0;
    this.holderInode[hole] = 0;
    this.holderIndex[hole] = 0;
    this.size--;
  }

  private move(from: number, to: number): void {
    this.ids[to] = this.ids[from] ?? 0;
    this.version[to] = this.version[from] ?? 0;
    this.lockedToSec[to] = this.lockedToSec[from] ?? 0;
    this.holderInode[to] = this.holderInode[from] ?? 0;
    this.holderIndex[to] = this.holderIndex[from] ?? 0;
  }

  private rehash(capacity: number): void {
    const old = { ids: this.ids, version: this.version, lockedToSec: this.lockedToSec, inode: this.holderInode, index: this.holderIndex };
    this.ids = new Float64Array(capacity);
    this.version = new Uint32Array(capacity);
    this.lockedToSec = new Uint32Array(capacity);
    this.holderInode = new Uint32Array(capacity);
    this.holderIndex = new Uint32Array(capacity);
    this.mask = capacity - 1;
    this.size = 0;
    for (let i = 0; i < old.ids.length; i++) {
      const id = old.ids[i] ?? 0;
      if (id !== 0) this.insert(id, old.version[i] ?? 0, old.lockedToSec[i] ?? 0, old.inode[i] ?? 0, old.index[i] ?? 0);
    }
  }

  /** Every chunk id in the table, ascending (for the invariant checker and the dump). */
  sortedIds(): number[] {
    const out: number[] = [];
    for (const id of this.ids) if (id !== 0) out.push(id);
    return out.sort((a, b) => a - b);
  }
}

/**
 * A file's chunks: the indexes that hold a chunk, ascending, with the chunk id at each. Sparse, so
 * a file written only at a high index costs two slots, not one per index below it (MooseFS keeps a
 * dense `chunktab`). 12 bytes per chunk plus spare capacity; a file with no chunk has no list.
 */
export class ChunkList {
  indexes = new Uint32Array(4);
  ids = new Float64Array(4);
  count = 0;

  /** Position of `index` if present, else -(insertion point) - 1. */
  search(index: number): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const at = this.indexes[mid] ?? 0;
      if (at === index) return mid;
      if (at < index) lo = mid + 1;
      else hi = mid;
    }
    return -lo - 1;
  }

  get(index: number): number {
    const p = this.search(index);
    return p >= 0 ? (this.ids[p] ?? 0) : 0;
  }

  /** Adds a chunk at an index that holds none. */
  insert(index: number, id: number): void {
    const p = this.search(index);
    invariant(p < 0, `chunk index ${index} is a hole`);
    const at = -p - 1;
    if (this.count === this.indexes.length) {
      const indexes = new Uint32Array(this.count * 2);
      const ids = new Float64Array(this.count * 2);
      indexes.set(this.indexes);
      ids.set(this.ids);
      this.indexes = indexes;
      this.ids = ids;
    }
    this.indexes.copyWithin(at + 1, at, this.count);
    this.ids.copyWithin(at + 1, at, this.count);
    this.indexes[at] = index;
    this.ids[at] = id;
    this.count++;
  }

  /** Removes every chunk at `firstIndex` or above and returns their ids, ascending by index. */
  cutFrom(firstIndex: number): number[] {
    const p = this.search(firstIndex);
    const from = p >= 0 ? p : -p - 1;
    const dropped = Array.from(this.ids.subarray(from, this.count));
    this.ids.fill(0, from, this.count);
    this.indexes.fill(0, from, this.count);
    this.count = from;
    return dropped;
  }
}

/** The chunk state of the whole namespace: the table, every file's list, and the id counter. */
export class FileChunks {
  readonly table = new ChunkTable();
  readonly lists = new Map<number, ChunkList>();
  /** The next chunk id to hand out; ids start at 1 and are never reused. */
  nextChunkId = 1;

  /** The chunk id at (inode, index), 0 for a hole. */
  at(inode: number, index: number): number {
    return this.lists.get(inode)?.get(index) ?? 0;
  }

  /** Creates a chunk in a hole; the caller checked `nextChunkId <= maxChunkId`. */
  create(inode: number, index: number, version: number, lockedToSec: number): number {
    const id = this.nextChunkId++;
    let list = this.lists.get(inode);
    if (list === undefined) {
      list = new ChunkList();
      this.lists.set(inode, list);
    }
    list.insert(index, id);
    this.table.insert(id, version, lockedToSec, inode, index);
    return id;
  }

  /** Drops the file's chunks at `firstIndex` and above; returns how many went. */
  cutFrom(inode: number, firstIndex: number): number {
    const list = this.lists.get(inode);
    if (list === undefined) return 0;
    const dropped = list.cutFrom(firstIndex);
    for (const id of dropped) this.table.remove(id);
    if (list.count === 0) this.lists.delete(inode);
    return dropped.length;
  }

  freeFile(inode: number): void {
    this.cutFrom(inode, 0);
  }
}
