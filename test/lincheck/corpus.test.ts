import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { check, kvModel, parseJepsenRegister, parseKvEdn, registerModel } from '../../src/lincheck/index.ts';
import { corpusDir } from './helpers.ts';

const BUDGET_MS = 10_000;

test('the corpus holds exactly the known sets of histories', () => {
  const dirs = readdirSync(corpusDir).filter((d) => statSync(path.join(corpusDir, d)).isDirectory()).sort();
  assert.deepEqual(dirs, ['etcd-register', 'kv-append'], 'a new corpus directory needs a parser and a test');
});

test('every Jepsen etcd register history gets the verdict of verdicts.tsv', () => {
  const dir = path.join(corpusDir, 'etcd-register');
  const verdicts = new Map(
    readFileSync(path.join(dir, 'verdicts.tsv'), 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => line.split('\t') as [string, string]),
  );
  const logs = readdirSync(dir).filter((f) => f.endsWith('.log')).sort();
  assert.deepEqual(logs, [...verdicts.keys()].sort(), 'verdicts.tsv lists every log');
  assert.ok(logs.length >= 80);
  const wrong: string[] = [];
  let linearizable = 0;
  for (const file of logs) {
    const history = parseJepsenRegister(readFileSync(path.join(dir, file), 'utf8'));
    const result = check(registerModel, history, { timeBudgetMs: BUDGET_MS });
    if (result.verdict !== verdicts.get(file)) wrong.push(`${file}: expected ${verdicts.get(file)}, got ${result.verdict} (${result.reason ?? ''})`);
    if (result.verdict === 'linearizable') linearizable++;
    if (result.verdict === 'not-linearizable') {
      assert.ok(result.report !== undefined && result.report.candidates.length > 0, `${file}: report`);
    }
  }
  assert.deepEqual(wrong, []);
  assert.ok(linearizable > 0 && linearizable < logs.length, 'both verdicts occur');
});

test('every key-value history is decided: -ok linearizable, -bad not', () => {
  const dir = path.join(corpusDir, 'kv-append');
  const files = readdirSync(dir).sort();
  assert.ok(files.length >= 6);
  for (const file of files) {
    const expected = /-ok\.\w+$/.test(file) ? 'linearizable' : /-bad\.\w+$/.test(file) ? 'not-linearizable' : undefined;
    assert.ok(expected !== undefined, `${file} is named -ok or -bad`);
    const history = parseKvEdn(readFileSync(path.join(dir, file), 'utf8'));
    const result = check(kvModel, history, { timeBudgetMs: BUDGET_MS });
    assert.equal(result.verdict, expected, `${file}: ${result.reason ?? ''}`);
    assert.ok(result.partitions.length > 1, `${file} is partitioned by key`);
    if (expected === 'not-linearizable') {
      const report = result.report!;
      assert.match(report.partition, /^"\d+"$/);
      assert.ok(report.candidates.some((c) => c.rejected));
    }
  }
});

test('a partition paused between rounds resumes where it stopped', () => {
  const history = parseKvEdn(readFileSync(path.join(corpusDir, 'kv-append', 'c50-ok.txt'), 'utf8'));
  const whole = check(kvModel, history, { timeBudgetMs: BUDGET_MS });
  assert.equal(whole.verdict, 'linearizable');
  assert.ok(whole.partitions.some((p) => p.steps > 100_000), 'some partition needs several rounds');
  for (const part of whole.partitions) {
    const alone = check(kvModel, history.filter((o) => JSON.stringify(o.input.key) === part.key), { timeBudgetMs: BUDGET_MS });
    assert.equal(alone.partitions.length, 1);
    assert.equal(alone.steps, part.steps, `partition ${part.key}: same search, paused or not`);
  }
});
