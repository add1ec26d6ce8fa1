import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { check } from '../../src/lincheck/index.ts';
import { checkWithSetHash } from '../../src/lincheck/checker.ts';
import type { History } from '../../src/lincheck/index.ts';
import { ALL_SPECS, corruptOneRead, generate, scramble } from './generators.ts';
import type { Spec } from './generators.ts';
import { bruteForce } from './helpers.ts';

const SEED = 20240611;

const plan = fc.record({
  seed: fc.integer(),
  ops: fc.integer({ min: 1, max: 40 }),
  clients: fc.integer({ min: 1, max: 6 }),
  timeoutRate: fc.constantFrom(0, 0.2, 0.5),
  phantoms: fc.integer({ min: 0, max: 3 }),
  failures: fc.integer({ min: 0, max: 2 }),
});

/**
 * Models whose initial state is fully known: corrupting a read almost always contradicts
 * something. With unknown initial contents, a corrupted first observation is often just another
 * possible initial state, so fewer corruptions can be caught.
 */
const minimumFlagged = (spec: Spec<unknown, unknown, unknown>): number => (spec.name.includes('unknown') || spec.name === 'attr' ? 0.6 : 0.8);

for (const spec of ALL_SPECS) {
  describe(`${spec.name}: generated histories`, () => {
    test('a sequential schedule with stretched intervals is always linearizable', () => {
      fc.assert(
        fc.property(plan, (p) => {
          const h = generate(spec, p.seed, p);
          const result = check(spec.model, h, { timeBudgetMs: 5000 });
          assert.equal(result.verdict, 'linearizable', result.report === undefined ? result.reason : JSON.stringify(result.report.prefix.length));
        }),
        { seed: SEED, numRuns: 150 },
      );
    });

    test('with one read corrupted, most histories are flagged, and the checker never fails', (t) => {
      const samples = fc.sample(plan, { seed: SEED + 1, numRuns: 200 });
      let corrupted = 0;
      let flagged = 0;
      for (const p of samples) {
        const h = corruptOneRead(spec, generate(spec, p.seed, p), p.seed);
        if (h === undefined) continue;
        corrupted++;
        const result = check(spec.model, h, { timeBudgetMs: 5000 });
        assert.notEqual(result.verdict, 'unknown');
        if (result.verdict === 'not-linearizable') {
          flagged++;
          assert.ok(result.report !== undefined);
        }
      }
      assert.ok(corrupted >= 150, `enough histories have a read (${corrupted})`);
      const rate = flagged / corrupted;
      t.diagnostic(`${flagged} of ${corrupted} corrupted histories flagged (${(100 * rate).toFixed(0)}%)`);
      assert.ok(rate >= minimumFlagged(spec), `${flagged} of ${corrupted} corrupted histories flagged`);
    });

    test('agrees with brute-force enumeration on small histories with wrong outputs', (t) => {
      const small = fc.record({
        seed: fc.integer(),
        ops: fc.integer({ min: 1, max: 8 }),
        clients: fc.integer({ min: 1, max: 4 }),
        timeoutRate: fc.constantFrom(0, 0.3, 0.6),
        phantoms: fc.integer({ min: 0, max: 2 }),
        failures: fc.integer({ min: 0, max: 1 }),
        rate: fc.constantFrom(0.1, 0.3, 0.6),
      });
      let linearizable = 0;
      let violations = 0;
      fc.assert(
        fc.property(small, (p) => {
          const h = scramble(spec, generate(spec, p.seed, p), p.seed, p.rate) as History<unknown, unknown>;
          const expected = bruteForce(spec.model, h);
          const result = check(spec.model, h, { timeBudgetMs: 5000 });
          assert.equal(result.verdict, expected ? 'linearizable' : 'not-linearizable');
          if (expected) linearizable++;
          else violations++;
          if (!expected) {
            // The reported prefix is a real linearizable prefix.
            let state = spec.model.init();
            for (const { op } of result.report!.prefix) {
              const r = spec.model.step(state, op.input, op.output);
              assert.ok(r.ok);
              state = r.next;
            }
          }
        }),
        { seed: SEED + 2, numRuns: 250 },
      );
      t.diagnostic(`${linearizable} linearizable, ${violations} not`);
      assert.ok(linearizable >= 25 && violations >= 25, `both verdicts are exercised (${linearizable}/${violations})`);
    });

    test('agrees with the reference on longer histories spanning several bitset words', () => {
      const medium = fc.record({
        seed: fc.integer(),
        ops: fc.integer({ min: 30, max: 90 }),
        clients: fc.integer({ min: 1, max: 3 }),
        timeoutRate: fc.constantFrom(0, 0.5),
        phantoms: fc.integer({ min: 0, max: 2 }),
        failures: fc.integer({ min: 0, max: 2 }),
        rate: fc.constantFrom(0, 0.02, 0.05),
      });
      fc.assert(
        fc.property(medium, (p) => {
          const h = scramble(spec, generate(spec, p.seed, p), p.seed, p.rate) as History<unknown, unknown>;
          const expected = bruteForce(spec.model, h) ? 'linearizable' : 'not-linearizable';
          assert.equal(check(spec.model, h, { timeBudgetMs: 5000, partition: false }).verdict, expected);
          // With every linearized set hashing alike, only the exact set comparison tells them apart.
          assert.equal(checkWithSetHash(spec.model, h, { timeBudgetMs: 5000, partition: false }, () => 0).verdict, expected);
        }),
        { seed: SEED + 3, numRuns: 40 },
      );
    });
  });
}
