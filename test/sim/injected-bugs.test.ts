import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BugName, Profile } from './config.ts';
import { formatFailure, runSeed } from './simulator.ts';

/**
 * The simulator must catch a broken Raft core: with a rule deliberately broken (a test-only
 * switch in the core), some seed within a bounded number must violate a safety invariant.
 */

const SAFETY = new Set([
  'election-safety',
  'leader-append-only',
  'log-matching',
  'leader-completeness',
  'state-machine-safety',
  'commit-monotonicity',
  'read-freshness',
  'linearizability',
]);

const MAX_SEEDS = 300;

function catches(bug: BugName, profile: Profile): void {
  test(`catches ${bug} (profile ${profile})`, async () => {
    for (let seed = 1; seed <= MAX_SEEDS; seed++) {
      const res = await runSeed({ seed, bug, profile });
      const f = res.failure;
      if (f === undefined || !SAFETY.has(f.invariant)) continue;
      console.log(`${bug}: seed ${seed} violates ${f.invariant}: ${f.message.split('\n')[0]}`);
      assert.match(formatFailure(res), new RegExp(`replay: npm run sim -- --seed ${seed} --bug ${bug}`));
      // The failure replays exactly.
      const again = await runSeed({ seed, bug, profile });
      assert.equal(again.failure?.invariant, f.invariant);
      assert.equal(again.failure?.event, f.event);
      assert.equal(again.failure?.message, f.message);
      return;
    }
    assert.fail(`no safety violation in ${MAX_SEEDS} seeds with bug ${bug}`);
  });
}

catches('commitPreviousTermByCounting', 'figure8');
catches('skipUpToDateCheck', 'stale-vote');
