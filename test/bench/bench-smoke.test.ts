// The benchmarks must keep running: each prints one JSON object with its figures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

test('bench:raft --quick prints one JSON object with a positive rate for every run', () => {
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'bench/raft.ts', '--quick'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const result = JSON.parse(out) as { runs: { nodes: number; mode: string; entriesPerSec: { median: number } }[] };
  assert.equal(result.runs.length, 6);
  for (const r of result.runs) assert.ok(r.entriesPerSec.median > 0, `${r.nodes} nodes ${r.mode}`);
});
