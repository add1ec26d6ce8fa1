import { assert } from './assert.ts';

/**
 * The append messages sent to one follower and not yet acknowledged, as a ring
 * buffer bounded by a count and by bytes. Each slot holds the last index the
 * message carried, so an acknowledgement of index i frees every slot <= i.
 */
export class Inflights {
  private readonly lastIndexes: number[];
  private readonly sizes: number[];
  private start = 0;
  private count = 0;
  private bytes = 0;

  constructor(
    readonly maxMessages: number,
    readonly maxBytes: number,
  ) {
    assert(maxMessages > 0, 'Inflights: maxMessages must be positive');
    this.lastIndexes = new Array<number>(maxMessages).fill(0);
    this.sizes = new Array<number>(maxMessages).fill(0);
  }

  full(): boolean {
    return this.count === this.maxMessages || (this.maxBytes > 0 && this.bytes >= this.maxBytes);
  }

  get length(): number {
    return this.count;
  }

  add(lastIndex: number, sizeBytes: number): void {
    assert(!this.full(), 'Inflights.add: window is full');
    if (this.count > 0) {
      const prev = this.lastIndexes[(this.start + this.count - 1) % this.maxMessages]!;
      // invariant: messages go out in increasing index order.
      assert(lastIndex >= prev, 'Inflights.add: indexes must not go backwards', { lastIndex, prev });
    }
    const slot = (this.start + this.count) % this.maxMessages;
    this.lastIndexes[slot] = lastIndex;
    this.sizes[slot] = sizeBytes;
    this.count++;
    this.bytes += sizeBytes;
  }

  /** Frees every message whose last index is <= index. */
  freeLE(index: number): void {
    while (this.count > 0) {
      const slot = this.start;
      if (this.lastIndexes[slot]! > index) break;
      this.bytes -= this.sizes[slot]!;
      this.start = (this.start + 1) % this.maxMessages;
      this.count--;
    }
    if (this.count === 0) {
      this.start = 0;
      this.bytes = 0;
    }
  }

  /** Frees the oldest message (used when an answer for it may never come). */
  freeFirst(): void {
    if (this.count === 0) return;
    this.freeLE(this.lastIndexes[this.start]!);
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
    this.bytes = 0;
  }
}
