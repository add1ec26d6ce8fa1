import type { Message } from '../../src/raft/types.ts';
import { describeMessage } from '../../src/raft/raft.ts';

/** One line of the trace: an event, or a note about what an event did. */
export type TraceItem =
  | { readonly t: number; readonly stamp: number; readonly kind: 'msg'; readonly m: Message; readonly note: string }
  | { readonly t: number; readonly stamp: number; readonly kind: 'text'; readonly text: string };

/** A fixed-size ring of the latest trace items; formatted only when a run fails. */
export class TraceRing {
  private readonly items: (TraceItem | undefined)[];
  private next = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.items = new Array<TraceItem | undefined>(capacity);
  }

  push(item: TraceItem): void {
    this.items[this.next] = item;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }

  lines(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.count; i++) {
      const it = this.items[(this.next - this.count + i + this.capacity) % this.capacity]!;
      const head = `${(it.t / 1000).toFixed(3).padStart(9)}ms #${it.stamp}`;
      out.push(it.kind === 'msg' ? `${head} ${it.note}${describeMessage(it.m)}` : `${head} ${it.text}`);
    }
    return out;
  }
}
