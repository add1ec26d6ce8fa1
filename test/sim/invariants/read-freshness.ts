import { type AckedWrite, type Checker, type ServedRead, Violation } from './types.ts';

/**
 * Read freshness: a read never misses a write acknowledged before the read began.
 * Writes are identified by the log index where they took effect; a read served from a
 * state machine at applied index a reflects exactly the writes at indexes <= a.
 */
export class ReadFreshness implements Checker {
  readonly name = 'read-freshness';
  /** Acknowledged writes in acknowledgement order, with the running max effect index. */
  private readonly rets: number[] = [];
  private readonly maxEffect: number[] = [];
  private readonly which: AckedWrite[] = [];

  onWriteAcked(w: AckedWrite): void {
    const last = this.rets[this.rets.length - 1];
    if (last !== undefined && w.ret < last) throw new Error('read-freshness: acknowledgements out of order');
    const prevMax = this.maxEffect[this.maxEffect.length - 1] ?? 0;
    this.rets.push(w.ret);
    if (w.effectIndex > prevMax) {
      this.maxEffect.push(w.effectIndex);
      this.which.push(w);
    } else {
      this.maxEffect.push(prevMax);
      this.which.push(this.which[this.which.length - 1]!);
    }
  }

  onReadServed(r: ServedRead): void {
    // Last write acknowledged before the read was invoked.
    let lo = 0;
    let hi = this.rets.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.rets[mid]! < r.call) lo = mid + 1;
      else hi = mid;
    }
    if (lo === 0) return;
    const max = this.maxEffect[lo - 1]!;
    if (max > r.appliedIndex) {
      const w = this.which[lo - 1]!;
      throw new Violation(
        this.name,
        `read of ${r.key} on n${r.node} (invoked at #${r.call}) was served at applied index ${r.appliedIndex}, missing a write applied at index ${max} and acknowledged at #${w.ret}`,
      );
    }
  }
}
