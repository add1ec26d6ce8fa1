import { invariant } from './errors.ts';
import { maxNameBytes } from './limits.ts';
import { compareNameBytes, decodeName, encodeName, entryHash, maxEncodedBytes } from './namebytes.ts';

/** Initial slots of the entry table; it grows by half when full. */
export const initialEntryCapacity = 1024;
/** Entry ids are 32-bit and slot 0 is never used; typed arrays of Node 20 stop below 2^32 bytes. */
export const maxEntries = 2 ** 30 - 1;
/** Initial bytes of the name pool; it grows by half when full. */
export const initialNamePoolBytes = 16 * 1024;
/** Name offsets are 32-bit, and a Node 20 typed array holds less than 4 GiB anyway. */
export const maxNamePoolBytes = 2 ** 32 - 1;
/** The pool is compacted once its garbage exceeds its live bytes and the entry table's high-water mark. */
export const minCompactGarbageBytes = 64 * 1024;
/** Hash index slots per live entry, at most (power-of-two size, linear probing). */
export const maxIndexLoad = 0.7;
/** Directories with fewer entries are sorted on every readdir page; larger ones get a cached order. */
export const sortedCacheMinEntries = 256;
/** Entries held by all cached orders together (4 bytes each), not counting the directory being listed. */
export const sortedCacheMaxEntries = 1 << 22;

/**
 * The directory entries of the whole namespace in flat typed arrays, without one JavaScript
 * object per entry or per directory.
 *
 * - An entry is a slot `e` (1 ≤ e < highWater) of parallel arrays: `parentOf`, `childOf`,
 *   `nameOffset`/`nameLength` into the name pool, `hashOf` (hash of parent and name bytes), and
 *   `nextInDir`/`prevInDir`, a doubly linked list per directory starting at `dirHead[dir]`, so a
 *   directory's entries are enumerated and an entry unlinked in O(1). Free slots have
 *   `nameLength` 0 and are chained through `nextInDir` from `freeHead`. 25 bytes per slot.
 * - Names are WTF-8 bytes (see namebytes.ts) appended to one byte pool. A removed name becomes
 *   garbage; the pool is compacted into a fresh buffer once garbage exceeds both the live bytes
 *   and the table's high-water mark, so a compaction is paid for by the removals before it.
 * - `index` is one open-addressing table (linear probing, power-of-two size, load ≤ 0.7) of entry
 *   ids keyed by (parent, name bytes). Removal shifts the following run back (no tombstones).
 * - `sortedCache` holds, for recently listed large directories, their entry ids in name order.
 *   It is derived data, dropped whenever the directory changes, bounded by `sortedCacheMaxEntries`
 *   (least recently used first out), and not part of the replicated state.
 *
 * None of the layout (slot numbers, pool offsets, table size) is visible outside: every reader
 * sees names, and orders them with `compareNames`. Two replicas with different layouts hold the
 * same state when they hold the same (parent, name, child) triples.
 *
 * Invariants (checked by `checkLayout`): every live entry is on its directory's list exactly once
 * and in the index exactly once, reachable from its home slot; lists are consistent both ways;
 * names lie inside the used pool, do not overlap, are canonical WTF-8 and match their hash;
 * `liveNameBytes + garbageBytes === poolUsedBytes`; a cached order is the current order.
 */
export interface EntryTableLimits {
  readonly sortedCacheMinEntries: number;
  readonly sortedCacheMaxEntries: number;
  readonly minCompactGarbageBytes: number;
}

const defaultLimits: EntryTableLimits = { sortedCacheMinEntries, sortedCacheMaxEntries, minCompactGarbageBytes };

export class EntryTable {
  parentOf = new Uint32Array(initialEntryCapacity);
  childOf = new Uint32Array(initialEntryCapacity);
  nameOffset = new Uint32Array(initialEntryCapacity);
  nameLength = new Uint8Array(initialEntryCapacity);
  hashOf = new Uint32Array(initialEntryCapacity);
  nextInDir = new Uint32Array(initialEntryCapacity);
  prevInDir = new Uint32Array(initialEntryCapacity);
  /** First entry of each directory, indexed by inode; 0 for an empty directory or a non-directory. */
  dirHead = new Uint32Array(0);
  /** Next never-used entry slot. */
  highWater = 1;
  freeHead = 0;
  liveEntries = 0;

  pool = new Uint8Array(initialNamePoolBytes);
  poolUsedBytes = 0;
  garbageBytes = 0;
  liveNameBytes = 0;

  index = new Uint32Array(2048);
  indexMask = 2047;

  readonly sortedCache = new Map<number, Uint32Array>();
  sortedCacheEntries = 0;

  /** The last name encoded, kept because a command looks a name up and then adds it. */
  private scratch = new Uint8Array(maxEncodedBytes(maxNameBytes + 1));
  private scratchName: string | null = null;
  private scratchLength = 0;

  private readonly limits: EntryTableLimits;

  /** `limits` other than the defaults are for tests that need the cache or the compaction to kick in early. */
  constructor(limits: Partial<EntryTableLimits> = {}) {
    this.limits = { ...defaultLimits, ...limits };
    invariant(this.limits.sortedCacheMinEntries >= 1 && this.limits.minCompactGarbageBytes >= 0, 'entry table limits are sane');
  }

  get capacity(): number {
    return this.parentOf.length;
  }

  /** Encodes `name` into the scratch buffer (once per distinct name in a row) and returns its length. */
  private encode(name: string): number {
    if (name === this.scratchName) return this.scratchLength;
    if (this.scratch.length < maxEncodedBytes(name.length)) this.scratch = new Uint8Array(maxEncodedBytes(name.length));
    this.scratchLength = encodeName(name, this.scratch);
    this.scratchName = name;
    return this.scratchLength;
  }

  /**
   * Sizes an empty table for `entries` entries holding `nameBytes` name bytes, so that a restore
   * builds it without growth slack.
   */
  reserve(entries: number, nameBytes: number): void {
    invariant(this.liveEntries === 0 && this.highWater === 1, 'reserve on an empty entry table');
    invariant(entries <= maxEntries && nameBytes <= maxNamePoolBytes, 'reservation within the table limits');
    if (entries + 1 > this.capacity) this.growEntries(entries + 1);
    if (nameBytes > this.pool.length) this.pool = new Uint8Array(nameBytes);
    let size = this.indexMask + 1;
    while (entries + 1 > size * maxIndexLoad) size *= 2;
    if (size !== this.indexMask + 1) {
      this.index = new Uint32Array(size);
      this.indexMask = size - 1;
    }
  }

  /** The entry id for (dir, name bytes), or 0. */
  private findBytes(dir: number, buf: Uint8Array, off: number, len: number, hash: number): number {
    const index = this.index;
    const mask = this.indexMask;
    const pool = this.pool;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const e = index[slot] ?? 0;
      if (e === 0) return 0;
      if (this.hashOf[e] !== hash || this.parentOf[e] !== dir || this.nameLength[e] !== len) continue;
      const at = this.nameOffset[e] ?? 0;
      let i = 0;
      while (i < len && pool[at + i] === buf[off + i]) i++;
      if (i === len) return e;
    }
  }

  /** The entry id of `name` in `dir`, or 0. */
  find(dir: number, name: string): number {
    // More UTF-16 units than the byte limit means more bytes too: no such entry, and no big scratch buffer.
    if (name.length > maxNameBytes) return 0;
    const len = this.encode(name);
    if (len === 0 || len > maxNameBytes) return 0;
    return this.findBytes(dir, this.scratch, 0, len, entryHash(dir, this.scratch, 0, len));
  }

  /** The inode `name` names in `dir`, or 0. */
  lookup(dir: number, name: string): number {
    const e = this.find(dir, name);
    return e === 0 ? 0 : (this.childOf[e] ?? 0);
  }

  isEmpty(dir: number): boolean {
    return (this.dirHead[dir] ?? 0) === 0;
  }

  first(dir: number): number {
    return this.dirHead[dir] ?? 0;
  }

  next(e: number): number {
    return this.nextInDir[e] ?? 0;
  }

  child(e: number): number {
    return this.childOf[e] ?? 0;
  }

  name(e: number): string {
    const name = decodeName(this.pool, this.nameOffset[e] ?? 0, this.nameLength[e] ?? 0);
    invariant(name !== null, `entry ${e} holds a canonical name`);
    return name;
  }

  count(dir: number): number {
    let n = 0;
    for (let e = this.dirHead[dir] ?? 0; e !== 0; e = this.nextInDir[e] ?? 0) n++;
    return n;
  }

  /** Adds (dir, name) → child; the name must be a valid entry name not yet in `dir`. */
  add(dir: number, name: string, child: number): void {
    const len = this.encode(name);
    invariant(len >= 1 && len <= maxNameBytes, `entry name of ${len} bytes fits`);
    this.addBytes(dir, this.scratch, 0, len, child);
  }

  /** Adds (dir, name bytes) → child. `buf` must not be the pool (it may move). */
  addBytes(dir: number, buf: Uint8Array, off: number, len: number, child: number): number {
    const hash = entryHash(dir, buf, off, len);
    invariant(this.findBytes(dir, buf, off, len, hash) === 0, `entry is new in directory ${dir}`);
    // Grow before the new entry is written: growIndex re-inserts every live slot.
    if (this.liveEntries + 1 > (this.indexMask + 1) * maxIndexLoad) this.growIndex();
    const e = this.allocateSlot();
    const at = this.reservePool(len);
    this.pool.set(buf.subarray(off, off + len), at);
    this.poolUsedBytes = at + len;
    this.liveNameBytes += len;
    this.parentOf[e] = dir;
    this.childOf[e] = child;
    this.nameOffset[e] = at;
    this.nameLength[e] = len;
    this.hashOf[e] = hash;
    if (dir >= this.dirHead.length) this.growDirHead(dir + 1);
    const head = this.dirHead[dir] ?? 0;
    this.nextInDir[e] = head;
    this.prevInDir[e] = 0;
    if (head !== 0) this.prevInDir[head] = e;
    this.dirHead[dir] = e;
    this.liveEntries++;
    this.insertIndex(e, hash);
    this.dropSorted(dir);
    return e;
  }

  /** Removes (dir, name), which must exist, and returns the inode it named. */
  remove(dir: number, name: string): number {
    const e = this.find(dir, name);
    invariant(e !== 0, `entry ${name} existed in directory ${dir}`);
    const child = this.childOf[e] ?? 0;
    this.removeIndex(e);
    const next = this.nextInDir[e] ?? 0;
    const prev = this.prevInDir[e] ?? 0;
    if (prev === 0) this.dirHead[dir] = next;
    else this.nextInDir[prev] = next;
    if (next !== 0) this.prevInDir[next] = prev;
    const len = this.nameLength[e] ?? 0;
    this.garbageBytes += len;
    this.liveNameBytes -= len;
    this.parentOf[e] = 0;
    this.childOf[e] = 0;
    this.nameOffset[e] = 0;
    this.nameLength[e] = 0;
    this.hashOf[e] = 0;
    this.prevInDir[e] = 0;
    this.nextInDir[e] = this.freeHead;
    this.freeHead = e;
    this.liveEntries--;
    this.dropSorted(dir);
    if (this.compactionDue()) this.compact(0);
    return child;
  }

  /** A directory is going away: it must be empty; its cached order goes with it. */
  releaseDir(dir: number): void {
    invariant(this.isEmpty(dir), `released directory ${dir} is empty`);
    this.dropSorted(dir);
  }

  /**
   * The entry ids of `dir` in name order. A large directory's order is cached until it changes;
   * the returned array must not be kept across a change of the directory. `remember` false
   * leaves the cache as it is (for whole-state walks such as dumps and snapshots).
   */
  sorted(dir: number, remember = true): Uint32Array {
    const cached = this.sortedCache.get(dir);
    if (cached !== undefined) {
      if (remember) {
        this.sortedCache.delete(dir);
        this.sortedCache.set(dir, cached);
      }
      return cached;
    }
    const ids = this.computeOrder(dir);
    if (remember && ids.length >= this.limits.sortedCacheMinEntries) {
      for (const [d, order] of this.sortedCache) {
        if (this.sortedCacheEntries + ids.length <= this.limits.sortedCacheMaxEntries) break;
        this.sortedCache.delete(d);
        this.sortedCacheEntries -= order.length;
      }
      this.sortedCache.set(dir, ids);
      this.sortedCacheEntries += ids.length;
    }
    return ids;
  }

  private computeOrder(dir: number): Uint32Array {
    const ids = new Uint32Array(this.count(dir));
    let k = 0;
    for (let e = this.dirHead[dir] ?? 0; e !== 0; e = this.nextInDir[e] ?? 0) ids[k++] = e;
    const pool = this.pool;
    const off = this.nameOffset;
    const len = this.nameLength;
    return ids.sort((a, b) => compareNameBytes(pool, off[a] ?? 0, len[a] ?? 0, pool, off[b] ?? 0, len[b] ?? 0));
  }

  /** Compares the name of entry `e` with WTF-8 bytes, in `compareNames` order. */
  compareName(e: number, buf: Uint8Array, off: number, len: number): number {
    return compareNameBytes(this.pool, this.nameOffset[e] ?? 0, this.nameLength[e] ?? 0, buf, off, len);
  }

  private dropSorted(dir: number): void {
    const cached = this.sortedCache.get(dir);
    if (cached === undefined) return;
    this.sortedCache.delete(dir);
    this.sortedCacheEntries -= cached.length;
  }

  private allocateSlot(): number {
    let e = this.freeHead;
    if (e !== 0) {
      this.freeHead = this.nextInDir[e] ?? 0;
      return e;
    }
    e = this.highWater;
    invariant(e <= maxEntries, `at most ${maxEntries} directory entries`);
    if (e >= this.capacity) this.growEntries(Math.min(maxEntries + 1, Math.ceil(this.capacity * 1.5)));
    this.highWater = e + 1;
    return e;
  }

  private growEntries(cap: number): void {
    const grow = <T extends Uint8Array | Uint32Array>(old: T, make: (n: number) => T): T => {
      const next = make(cap);
      next.set(old);
      return next;
    };
    this.parentOf = grow(this.parentOf, (n) => new Uint32Array(n));
    this.childOf = grow(this.childOf, (n) => new Uint32Array(n));
    this.nameOffset = grow(this.nameOffset, (n) => new Uint32Array(n));
    this.nameLength = grow(this.nameLength, (n) => new Uint8Array(n));
    this.hashOf = grow(this.hashOf, (n) => new Uint32Array(n));
    this.nextInDir = grow(this.nextInDir, (n) => new Uint32Array(n));
    this.prevInDir = grow(this.prevInDir, (n) => new Uint32Array(n));
  }

  private growDirHead(min: number): void {
    const next = new Uint32Array(Math.max(min, Math.ceil(this.dirHead.length * 1.5), 1024));
    next.set(this.dirHead);
    this.dirHead = next;
  }

  /** The offset at which `len` more bytes fit, compacting or growing the pool first if needed. */
  private reservePool(len: number): number {
    if (this.poolUsedBytes + len <= this.pool.length) return this.poolUsedBytes;
    if (this.compactionDue()) {
      this.compact(len);
      if (this.poolUsedBytes + len <= this.pool.length) return this.poolUsedBytes;
    }
    const want = Math.max(this.poolUsedBytes + len, Math.ceil(this.pool.length * 1.5));
    invariant(this.poolUsedBytes + len <= maxNamePoolBytes, `names fit in ${maxNamePoolBytes} pool bytes`);
    const next = new Uint8Array(Math.min(want, maxNamePoolBytes));
    next.set(this.pool.subarray(0, this.poolUsedBytes));
    this.pool = next;
    return this.poolUsedBytes;
  }

  /**
   * A compaction costs O(highWater + live bytes); waiting until the garbage exceeds both makes
   * its cost at most that of the removals that produced the garbage (amortised O(1) per byte).
   */
  private compactionDue(): boolean {
    return this.garbageBytes >= this.limits.minCompactGarbageBytes && this.garbageBytes > this.liveNameBytes && this.garbageBytes > this.highWater;
  }

  /** Copies the live names into a fresh pool with room for `extra` bytes and a third more. */
  private compact(extra: number): void {
    const size = Math.min(maxNamePoolBytes, Math.max(initialNamePoolBytes, Math.ceil((this.liveNameBytes + extra) * 1.5)));
    const next = new Uint8Array(size);
    const old = this.pool;
    let at = 0;
    for (let e = 1; e < this.highWater; e++) {
      const len = this.nameLength[e] ?? 0;
      if (len === 0) continue;
      const from = this.nameOffset[e] ?? 0;
      next.set(old.subarray(from, from + len), at);
      this.nameOffset[e] = at;
      at += len;
    }
    invariant(at === this.liveNameBytes, `compaction moved ${at} of ${this.liveNameBytes} live name bytes`);
    this.pool = next;
    this.poolUsedBytes = at;
    this.garbageBytes = 0;
  }

  private insertIndex(e: number, hash: number): void {
    const index = this.index;
    const mask = this.indexMask;
    let slot = hash & mask;
    while ((index[slot] ?? 0) !== 0) slot = (slot + 1) & mask;
    index[slot] = e;
  }

  private growIndex(): void {
    const size = (this.indexMask + 1) * 2;
    this.index = new Uint32Array(size);
    this.indexMask = size - 1;
    for (let e = 1; e < this.highWater; e++) {
      if ((this.nameLength[e] ?? 0) !== 0) this.insertIndex(e, this.hashOf[e] ?? 0);
    }
  }

  /** Removes entry `e` from the index, shifting later members of its probe run back (Knuth 6.4, Algorithm R). */
  private removeIndex(e: number): void {
    const index = this.index;
    const mask = this.indexMask;
    let i = (this.hashOf[e] ?? 0) & mask;
    while ((index[i] ?? 0) !== e) {
      invariant((index[i] ?? 0) !== 0, `entry ${e} is in the index`);
      i = (i + 1) & mask;
    }
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const f = index[j] ?? 0;
      if (f === 0) break;
      const home = (this.hashOf[f] ?? 0) & mask;
      // f may move into the hole at i unless its home lies cyclically in (i, j].
      const stays = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!stays) {
        index[i] = f;
        i = j;
      }
    }
    index[i] = 0;
  }

  /** Bytes held by the typed arrays of this table (for the benchmark and docs). */
  heapBytes(): number {
    return (
      this.parentOf.byteLength +
      this.childOf.byteLength +
      this.nameOffset.byteLength +
      this.nameLength.byteLength +
      this.hashOf.byteLength +
      this.nextInDir.byteLength +
      this.prevInDir.byteLength +
      this.dirHead.byteLength +
      this.pool.byteLength +
      this.index.byteLength
    );
  }

  /**
   * Structural invariants of the layout, one line per violation. `isDir(inode)` tells which
   * inodes may have entries. O(entries + index + pool); meant for tests and the simulator.
   */
  checkLayout(isDir: (inode: number) => boolean): string[] {
    const bad: string[] = [];
    const seen = new Uint8Array(this.highWater);
    let listed = 0;
    let nameBytes = 0;
    for (let dir = 0; dir < this.dirHead.length; dir++) {
      let e = this.dirHead[dir] ?? 0;
      if (e === 0) continue;
      if (!isDir(dir)) bad.push(`inode ${dir} is not a directory but has entries`);
      let prev = 0;
      const names = new Set<string>();
      while (e !== 0) {
        if (e >= this.highWater || seen[e] !== 0) {
          bad.push(`directory ${dir}: list reaches entry ${e} twice or out of range`);
          break;
        }
        seen[e] = 1;
        listed++;
        if (this.parentOf[e] !== dir) bad.push(`entry ${e} on the list of ${dir} has parent ${this.parentOf[e]}`);
        if (this.prevInDir[e] !== prev) bad.push(`entry ${e} has prev ${this.prevInDir[e]}, expected ${prev}`);
        const off = this.nameOffset[e] ?? 0;
        const len = this.nameLength[e] ?? 0;
        if (len === 0 || off + len > this.poolUsedBytes) bad.push(`entry ${e} name [${off}, +${len}) is outside the used pool`);
        else {
          nameBytes += len;
          const name = decodeName(this.pool, off, len);
          if (name === null) bad.push(`entry ${e} name is not canonical WTF-8`);
          else if (names.has(name)) bad.push(`directory ${dir} holds ${JSON.stringify(name)} twice`);
          else names.add(name);
          if (this.hashOf[e] !== entryHash(dir, this.pool, off, len)) bad.push(`entry ${e} has a stale hash`);
          else if (this.findBytes(dir, this.pool, off, len, this.hashOf[e] ?? 0) !== e) bad.push(`entry ${e} is not found through the index`);
        }
        prev = e;
        e = this.nextInDir[e] ?? 0;
      }
    }
    if (listed !== this.liveEntries) bad.push(`${listed} entries on lists, ${this.liveEntries} counted live`);
    if (nameBytes !== this.liveNameBytes) bad.push(`${nameBytes} live name bytes, ${this.liveNameBytes} counted`);
    if (this.liveNameBytes + this.garbageBytes !== this.poolUsedBytes) {
      bad.push(`pool: live ${this.liveNameBytes} + garbage ${this.garbageBytes} != used ${this.poolUsedBytes}`);
    }
    for (let e = 1; e < this.highWater; e++) {
      if (seen[e] === 0 && (this.nameLength[e] ?? 0) !== 0) bad.push(`entry ${e} is live but on no directory list`);
    }
    let free = 0;
    for (let e = this.freeHead; e !== 0 && free <= this.highWater; e = this.nextInDir[e] ?? 0) {
      if (e >= this.highWater || seen[e] !== 0 || (this.nameLength[e] ?? 0) !== 0) {
        bad.push(`free list holds entry ${e}, which is live or out of range`);
        break;
      }
      free++;
    }
    if (free + this.liveEntries !== this.highWater - 1) bad.push(`${free} free + ${this.liveEntries} live slots != ${this.highWater - 1}`);
    let indexed = 0;
    for (let slot = 0; slot <= this.indexMask; slot++) {
      const e = this.index[slot] ?? 0;
      if (e === 0) continue;
      indexed++;
      if (e >= this.highWater || seen[e] === 0) bad.push(`index slot ${slot} holds entry ${e}, which is not live`);
    }
    if (indexed !== this.liveEntries) bad.push(`index holds ${indexed} entries, ${this.liveEntries} live`);
    if (this.index.length !== this.indexMask + 1 || (this.index.length & this.indexMask) !== 0) bad.push('index size is not a power of two');
    // Names do not overlap: sorted by offset, each ends before the next begins.
    const live: number[] = [];
    for (let e = 1; e < this.highWater; e++) if (seen[e] !== 0) live.push(e);
    live.sort((a, b) => (this.nameOffset[a] ?? 0) - (this.nameOffset[b] ?? 0));
    for (let k = 1; k < live.length; k++) {
      const a = live[k - 1] ?? 0;
      const b = live[k] ?? 0;
      if ((this.nameOffset[a] ?? 0) + (this.nameLength[a] ?? 0) > (this.nameOffset[b] ?? 0)) bad.push(`names of entries ${a} and ${b} overlap`);
    }
    let cached = 0;
    for (const [dir, order] of this.sortedCache) {
      cached += order.length;
      const fresh = this.computeOrder(dir);
      if (fresh.length !== order.length || fresh.some((e, k) => order[k] !== e)) bad.push(`directory ${dir} has a stale cached order`);
    }
    if (cached !== this.sortedCacheEntries) bad.push(`cached orders hold ${cached} entries, ${this.sortedCacheEntries} counted`);
    return bad;
  }
}
