/** The nemesis schedule is a pure function of the seed, inside the run's bounds. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { faultKinds, makeSchedule, pickOne, quietTailSec, warmupSec } from './schedule.ts';

describe('chaos schedule', () => {
  it('is the same for the same seed and differs between seeds', () => {
    const o = { seed: 42, durationSec: 300, masters: 5, spares: 2 };
    assert.deepEqual(makeSchedule(o), makeSchedule(o));
    assert.notDeepEqual(makeSchedule(o), makeSchedule({ ...o, seed: 43 }));
  });

  it('keeps faults inside the chaos window, one at a time, with every kind over a long run', () => {
    for (let seed = 0; seed < 50; seed++) {
      const s = makeSchedule({ seed, durationSec: 300, masters: 3, spares: 2 });
      const random = s.filter((f) => f.kind !== 'membership');
      for (const f of s) {
        assert.ok(f.atSec >= warmupSec && f.atSec + f.holdSec <= 300 - quietTailSec, JSON.stringify(f));
        assert.ok(f.pick >= 0 && f.pick < 1);
      }
      for (let i = 1; i < random.length; i++) assert.ok(random[i]!.atSec >= random[i - 1]!.atSec + random[i - 1]!.holdSec, 'no overlap');
      assert.equal(s.filter((f) => f.kind === 'membership').length, 2, 'one membership change per spare');
    }
    const kinds = new Set(Array.from({ length: 20 }, (_, seed) => makeSchedule({ seed, durationSec: 300, masters: 5, spares: 2 }).map((f) => f.kind)).flat());
    assert.deepEqual([...kinds].sort(), [...faultKinds].sort());
  });

  it('picks targets by the fault random number, in the given order', () => {
    assert.equal(pickOne([1, 2, 3], 0), 1);
    assert.equal(pickOne([1, 2, 3], 0.999), 3);
    assert.equal(pickOne([], 0.5), undefined);
  });
});
