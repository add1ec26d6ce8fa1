/**
 * `npm start` (src/cli/start.ts) as a user runs it: in an empty working directory it creates
 * ./data, starts three masters and prints the leader; the CLI works against it through
 * ./data/cluster.json; SIGINT stops every child. A second run reuses ./data, and a run on busy
 * ports fails with a clear message.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { main } from '../../src/cli/mooseng.ts';
import { alive, freePortBase, repoRoot, tsxLoader, waitFor } from './cluster.ts';

const startScript = join(repoRoot, 'src/cli/start.ts');

interface Run {
  readonly proc: ChildProcess;
  output(): string;
  exited(): Promise<number | null>;
}

function runStart(cwd: string, basePort: number): Run {
  const proc = spawn(process.execPath, ['--import', tsxLoader, startScript, '--base-port', String(basePort)], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const done = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, output: () => out, exited: () => done };
}

async function cliIn(cwd: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (t) => (out += t), err: (t) => (err += t), isTTY: false, env: {}, cwd });
  return { code, out, err };
}

const pidsIn = (text: string): number[] => [...text.matchAll(/^ {2}master \d+ {2}pid (\d+)/gm)].map((m) => Number(m[1]));

it('npm start: a local 3-master group under ./data, the CLI against it, a clean stop on SIGINT', { timeout: 60_000 }, async (t) => {
  const cwd = await mkdtemp(join(tmpdir(), 'mooseng-start-'));
  const runs: Run[] = [];
  const children: number[] = [];
  t.after(async () => {
    for (const r of runs) if (r.proc.exitCode === null && r.proc.signalCode === null) r.proc.kill('SIGKILL');
    for (const pid of children) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await rm(cwd, { recursive: true, force: true });
  });
  const base = await freePortBase(9);

  const first = runStart(cwd, base);
  runs.push(first);
  const leaderLine = await waitFor('the leader line', 30_000, () => {
    if (first.proc.exitCode !== null) throw new Error(`start.ts exited: ${first.output()}`);
    return /^leader: master (\d) \(pid (\d+)\), term \d+$/m.exec(first.output()) ?? undefined;
  });
  children.push(...pidsIn(first.output()));
  assert.equal(children.length, 3, first.output());
  assert.ok(children.includes(Number(leaderLine[2])), 'the leader pid is one of the children');
  assert.match(first.output(), /data in data\/ \(created now\)/);
  assert.match(first.output(), new RegExp(`client 127\\.0\\.0\\.1:${base + 1} `));
  assert.match(first.output(), /npx mooseng status/);
  for (const f of ['secret', 'admin-token', 'cluster.json']) assert.equal(statSync(join(cwd, 'data', f)).mode & 0o777, 0o600, `data/${f} has mode 600`);
  const cluster = JSON.parse(await readFile(join(cwd, 'data/cluster.json'), 'utf8')) as { masters: { client: string }[] };
  assert.deepEqual(cluster.masters.map((m) => m.client), [1, 4, 7].map((k) => `127.0.0.1:${base + k}`));

  // The CLI finds the group through ./data/cluster.json in its working directory.
  assert.deepEqual(await cliIn(cwd, 'mkdir', '/smoke'), { code: 0, out: '', err: '' });
  assert.equal((await cliIn(cwd, 'ls', '/')).out, 'smoke\n');

  // A second start on the same ports refuses before touching anything.
  const busy = runStart(cwd, base);
  runs.push(busy);
  assert.equal(await busy.exited(), 1);
  assert.match(busy.output(), /ports are not free:\n {2}127\.0\.0\.1:\d+ \(peer port of master 1\): in use/);

  first.proc.kill('SIGINT');
  assert.equal(await first.exited(), 0, first.output());
  await waitFor('the masters to exit', 5_000, () => children.every((pid) => !alive(pid)));
  assert.match(first.output(), /SIGINT: stopping the masters/);

  // Started again, it reuses ./data: the directory made before is still there.
  const second = runStart(cwd, base);
  runs.push(second);
  await waitFor('the leader line of the second run', 30_000, () => {
    if (second.proc.exitCode !== null) throw new Error(`start.ts exited: ${second.output()}`);
    return /^leader: master \d/m.test(second.output());
  });
  children.push(...pidsIn(second.output()));
  assert.match(second.output(), /\(reused\)/);
  assert.equal((await cliIn(cwd, 'ls', '/')).out, 'smoke\n');
  second.proc.kill('SIGTERM');
  assert.equal(await second.exited(), 0, second.output());
  await waitFor('the masters to exit', 5_000, () => children.every((pid) => !alive(pid)));
});
