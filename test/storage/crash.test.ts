import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileLogStorage, NodeFileIO, seededRandom } from '../../src/storage/index.ts';
import { intact, tmpDir } from './helpers.ts';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'crash-child.ts');
const KILLS = 20;
const DEFAULT_SEED = 20_611;

/** The seed of the kill delays: MOOSENG_CRASH_SEED when set (to replay a failure), else a fixed one. */
function crashSeed(): number {
  const env = process.env['MOOSENG_CRASH_SEED'];
  if (env === undefined || env === '') return DEFAULT_SEED;
  const n = Number(env);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`MOOSENG_CRASH_SEED must be a non-negative integer, got ${JSON.stringify(env)}`);
  return n;
}
const SEED = crashSeed();

interface RunResult {
  lines: string[];
  stderr: string;
}

/** Runs the child until `killAfterMs` after it reports the store open, then SIGKILLs it. */
function runAndKill(dir: string, term: number, killAfterMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, String(term)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    let stderr = '';
    const lines: string[] = [];
    let timer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        if (line.startsWith('open ') && timer === undefined) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const guard = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('error', reject);
    child.on('exit', (_code, signal) => {
      clearTimeout(guard);
      if (timer !== undefined) clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`child exited by itself (${String(_code)}): ${stderr}`));
      else resolve({ lines, stderr });
    });
  });
}

test(`SIGKILL at seeded random moments (${KILLS} times, seed ${SEED}): every entry reported durable survives intact and the log is a clean prefix`, async () => {
  const dir = path.join(tmpDir('mooseng-crash-'), 'data');
  const rnd = seededRandom(SEED);
  /** Names the seed in every failure, so that the kill schedule can be replayed. */
  const at = (run: number): string => `seed ${SEED} (replay with MOOSENG_CRASH_SEED=${SEED}), run ${run}`;
  /** index -> term, of everything known durable. */
  let expected = new Map<number, number>();
  let reported = 0;
  let cuts = 0;
  try {
    for (let run = 1; run <= KILLS; run++) {
      const killAfterMs = 20 + rnd.intBelow(400);
      const { lines } = await runAndKill(dir, run, killAfterMs).catch((e: unknown) => {
        throw new Error(`${at(run)}, kill after ${killAfterMs} ms: ${String(e)}`, { cause: e });
      });
      let overwriteFrom: number | undefined;
      for (const line of lines) {
        const [kind, a, b, c] = line.split(' ');
        if (kind === 'ow') overwriteFrom = Number(a);
        else if (kind === 'd') {
          const from = Number(a);
          const to = Number(b);
          for (const k of [...expected.keys()]) if (k >= from) expected.delete(k);
          for (let i = from; i <= to; i++) expected.set(i, Number(c));
          reported++;
        } else if (kind === 'log' && a === 'storage_torn_tail_cut') cuts++;
      }
      const s = await FileLogStorage.open({ io: new NodeFileIO(), dir, logger: () => undefined }).catch((e: unknown) => {
        throw new Error(`${at(run)}: reopen after the kill failed: ${String(e)}`, { cause: e });
      });
      const first = s.firstIndex();
      const last = s.lastIndex();
      for (const [i, t] of expected) {
        if (i < first) {
          assert.ok(i <= s.snapshot().metadata.index, `${at(run)}: entry ${i} compacted only under a snapshot`);
          continue;
        }
        assert.ok(i <= last, `${at(run)}: durable entry ${i} missing (last ${last})`);
        const got = s.term(i);
        const overwritten = overwriteFrom !== undefined && i >= overwriteFrom && got === run;
        assert.ok(got === t || overwritten, `${at(run)}: entry ${i} has term ${String(got)}, reported durable with ${t}`);
      }
      let prev = s.term(first - 1)!;
      const all = last >= first ? s.entries(first, last + 1, Infinity) : [];
      for (const e of all) {
        assert.ok(intact(e), `${at(run)}: entry ${e.index} intact`);
        assert.ok(e.term >= prev, `${at(run)}: terms never decrease`);
        prev = e.term;
      }
      await s.close();
      // What is durable now is the truth the next run builds on.
      expected = new Map(all.map((e) => [e.index, e.term]));
    }
    assert.ok(reported > KILLS, `seed ${SEED}: appends were reported durable (${reported})`);
    void cuts;
  } finally {
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  }
});
