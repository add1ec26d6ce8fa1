import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SimOptions } from './config.ts';
import { formatFailure, type RunResult, runSeed } from './simulator.ts';

/**
 * The deterministic simulator over many seeds. Every seed derives its own configuration
 * (3 or 5 nodes, read mode, fault rates, membership changes); a failure message carries
 * the command that replays it.
 */

function runBatch(name: string, seeds: readonly SimOptions[]): void {
  test(name, () => {
    const failures: RunResult[] = [];
    let events = 0;
    for (const opts of seeds) {
      const res = runSeed(opts);
      events += res.events;
      if (res.lincheck?.verdict === 'unknown') {
        console.log(`seed ${opts.seed}: linearizability check undecided (${res.lincheck.operations} operations); not a failure`);
      }
      if (!res.ok) failures.push(res);
    }
    if (failures.length > 0) {
      const shown = failures.slice(0, 3).map(formatFailure).join('\n\n');
      assert.fail(`${failures.length} of ${seeds.length} seeds failed (seeds ${failures.map((f) => f.seed).join(', ')})\n\n${shown}`);
    }
    assert.ok(events > 0);
  });
}

const range = (from: number, count: number, extra: Omit<SimOptions, 'seed'> = {}): SimOptions[] =>
  Array.from({ length: count }, (_, i) => ({ seed: from + i, ...extra }));

runBatch('seeds 1-100', range(1, 100));
runBatch('seeds 101-200', range(101, 100));
runBatch('seeds 201-300', range(201, 100));
runBatch('seeds 301-400', range(301, 100));
runBatch('seeds 401-450, 5 nodes', range(401, 50, { nodes: 5 }));
runBatch('seeds 451-475, lease reads', range(451, 25, { lease: true }));
runBatch('seeds 476-500, targeted fault profiles without bugs', [
  ...range(476, 13, { profile: 'figure8' }),
  ...range(489, 12, { profile: 'stale-vote' }),
]);

test('a seed replays exactly', () => {
  for (const seed of [3, 42]) {
    const a = runSeed({ seed });
    const b = runSeed({ seed });
    assert.equal(a.events, b.events);
    assert.equal(a.virtualMs, b.virtualMs);
    assert.deepEqual(a.stats, b.stats);
    assert.deepEqual(a.clients, b.clients);
    assert.equal(a.history.toJsonl(), b.history.toJsonl());
    assert.equal(a.failure?.message, b.failure?.message);
  }
});

test('spurious connection closes do not depose a live leader', () => {
  for (let seed = 1; seed <= 10; seed++) {
    const res = runSeed({ seed, profile: 'spurious-close' });
    assert.equal(res.failure, undefined, formatFailure(res));
    assert.equal(res.stats.elections, 1, `seed ${seed} (--profile spurious-close): ${res.stats.elections} elections`);
  }
});
