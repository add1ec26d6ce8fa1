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

test(`SIGKILL at random moments (${KILLS} times): every entry reported durable survives intact and the log is a clean prefix`, async () => {
  const dir = path.join(tmpDir('mooseng-crash-'), 'data');
  const rnd = seededRandom(Date.now() % 100000);
  /** index -> term, of everything known durable. */
  let expected = new Map<number, number>();
  let reported = 0;
  let cuts = 0;
  try {
    for (let run = 1; run <= KILLS; run++) {
      const { lines } = await runAndKill(dir, run, 20 + rnd.intBelow(400));
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
      const s = await FileLogStorage.open({ io: new NodeFileIO(), dir, logger: () => undefined });
      const first = s.firstIndex();
      const last = s.lastIndex();
      for (const [i, t] of expected) {
        if (i < first) {
          assert.ok(i <= s.snapshot().metadata.index, `run ${run}: entry ${i} compacted only under a snapshot`);
          continue;
        }
        assert.ok(i <= last, `run ${run}: durable entry ${i} missing (last ${last})`);
        const got = s.term(i);
        const overwritten = overwriteFrom !== undefined && i >= overwriteFrom && got === run;
        assert.ok(got === t || overwritten, `run ${run}: entry ${i} has term ${String(got)}, reported durable with ${t}`);
      }
      let prev = s.term(first - 1)!;
      const all = last >= first ? s.entries(first, last + 1, Infinity) : [];
      for (const e of all) {
        assert.ok(intact(e), `run ${run}: entry ${e.index} intact`);
        assert.ok(e.term >= prev, `run ${run}: terms never decrease`);
        prev = e.term;
      }
      await s.close();
      // What is durable now is the truth the next run builds on.
      expected = new Map(all.map((e) => [e.index, e.term]));
    }
    assert.ok(reported > KILLS, `appends were reported durable (${reported})`);
    void cuts;
  } finally {
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  }
});
