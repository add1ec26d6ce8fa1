/**
 * The short chaos run in `npm test`: 3 masters in their own network namespaces, 40 s of faults
 * from a fixed seed (the same as `npm run chaos:short`), then the checks of the harness. Asserts a
 * clean summary (no violation, no lost acknowledged write, both histories linearizable, the live
 * masters converged), faults of several kinds, and that nothing is left behind (namespaces,
 * mounts, processes).
 *
 * Needs root and iproute2 (`ip netns`): skipped with the reason otherwise, unless
 * MOOSENG_REQUIRE_NETNS is set, which turns the skip into a failure (for CI).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../integration/harness.ts';
import { netnsUnavailable, run } from '../integration/netns.ts';
import type { Summary } from './runner.ts';

const seed = 1;
const durationSec = 40;

interface CliResult {
  readonly code: number | null;
  readonly pid: number;
  readonly stdout: string;
  readonly stderr: string;
}

function runCli(args: readonly string[], timeoutMs: number): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/chaos/cli.ts'), ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    // The CLI cleans up on SIGTERM; the bound is only for a hung run.
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, pid: child.pid ?? 0, stdout, stderr });
    });
  });
}

describe('chaos (short run)', { timeout: 300_000 }, () => {
  it(`survives ${durationSec} s of faults from seed ${seed} with 3 masters: linearizable, nothing lost, converged`, async (t) => {
    const skip = await netnsUnavailable();
    if (skip !== undefined) {
      if (process.env['MOOSENG_REQUIRE_NETNS'] !== undefined) throw new Error(`MOOSENG_REQUIRE_NETNS is set but: ${skip}`);
      t.skip(skip);
      return;
    }
    const mountsBefore = await readFile('/proc/mounts', 'utf8');
    const r = await runCli(['--masters', '3', '--duration', String(durationSec), '--seed', String(seed)], 240_000);
    const lines = r.stdout.trim().split('\n');
    let summary: Summary & { cleanup: string[]; dir: string | null; runDir: string };
    try {
      summary = JSON.parse(lines.at(-1) ?? '') as typeof summary;
    } catch {
      assert.fail(`no JSON summary (exit ${r.code}):\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
    }
    const context = `${lines.slice(-60, -1).join('\n')}\n${r.stderr.slice(-3000)}\nsummary: ${JSON.stringify({ ...summary, faults: undefined })}`;
    t.diagnostic(
      `ops ${summary.operations} (ok ${summary.ok}, failed ${summary.failed}, unknown ${summary.unknown}), faults ${JSON.stringify(summary.faultsByKind)}, ` +
        `lincheck attr ${summary.lincheck.attr?.verdict} dir ${summary.lincheck.dir?.verdict}, converged at ${summary.converged?.applied}`,
    );

    assert.deepEqual(summary.violationList, [], context);
    assert.equal(summary.violations, 0);
    assert.equal(summary.lostAcknowledgedWrites, 0, context);
    assert.deepEqual(summary.inconclusive, [], context);
    assert.equal(summary.lincheck.attr?.verdict, 'linearizable', context);
    assert.equal(summary.lincheck.dir?.verdict, 'linearizable', context);
    assert.ok(summary.converged !== null && summary.converged.masters.length >= 2, context);
    assert.equal(r.code, 0, context);
    assert.ok(summary.operations > 1000, `a real workload ran (${summary.operations} operations)`);
    assert.ok(summary.ok > summary.operations / 2, 'most operations completed');
    const kinds = Object.keys(summary.faultsByKind);
    assert.ok(summary.faultsInjected >= 5 && kinds.length >= 4, `faults of several kinds were injected: ${JSON.stringify(summary.faultsByKind)}`);
    assert.ok(kinds.includes('membership') && kinds.includes('full-disk'), `membership change and full disk: ${kinds.join(', ')}`);

    // Nothing left behind: the run's namespaces, its tmpfs, its processes.
    assert.deepEqual(summary.cleanup, []);
    const netns = await run('ip', ['netns', 'list']);
    const ours = netns.stdout.split('\n').filter((l) => l.startsWith(`mng-${r.pid}-`) || l.startsWith(`mng-sw-${r.pid}`));
    assert.deepEqual(ours, [], 'no namespace of the run is left');
    const mountsAfter = await readFile('/proc/mounts', 'utf8');
    const chaosMounts = (text: string): string[] => text.split('\n').filter((l) => l.startsWith('mooseng-chaos '));
    assert.deepEqual(chaosMounts(mountsAfter), chaosMounts(mountsBefore), 'the tmpfs is unmounted');
    // From /proc rather than ps (procps is not on every clean machine).
    const leftovers: string[] = [];
    for (const pid of (await readdir('/proc')).filter((x) => /^\d+$/.test(x))) {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (cmdline.includes(summary.runDir)) leftovers.push(`${pid}: ${cmdline.replaceAll('\0', ' ')}`);
    }
    assert.deepEqual(leftovers, [], 'no process of the run is left');
  });
});
