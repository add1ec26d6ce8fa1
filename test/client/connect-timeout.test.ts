/**
 * A master that is cut off without a reset (its SYNs unanswered) costs a client one attempt
 * timeout per try, and the client's deadline bounds the whole call: the attempt timer covers the
 * TCP connect too. The client runs in a network namespace whose only link leads to a namespace
 * that swallows every packet (a permanent neighbour entry, so not even ARP fails): a connect there
 * would wait for the kernel's SYN retries, about two minutes.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

const ns = `mng-bh-${process.pid}`;
const sink = `mng-bhs-${process.pid}`;
const probe = fileURLToPath(new URL('./blackhole-probe.ts', import.meta.url));
const ip = (...args: string[]): void => {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};

function netnsUsable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  if (spawnSync('ip', ['netns', 'list']).status !== 0) return '`ip netns` is not available';
  return undefined;
}

after(() => {
  spawnSync('ip', ['netns', 'del', ns]);
  spawnSync('ip', ['netns', 'del', sink]);
});

test('connect() to a master that never answers gives up within the deadline', { timeout: 60_000 }, (t) => {
  const why = netnsUsable();
  if (why !== undefined && process.env['MOOSENG_REQUIRE_NETNS'] === undefined) {
    t.skip(why);
    return;
  }
  ip('netns', 'add', ns);
  ip('netns', 'add', sink);
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  ip('link', 'add', 'bh0', 'netns', ns, 'type', 'veth', 'peer', 'name', 'bh1', 'netns', sink);
  ip('-n', ns, 'addr', 'add', '198.51.100.1/24', 'dev', 'bh0');
  ip('-n', ns, 'link', 'set', 'bh0', 'up');
  ip('-n', sink, 'link', 'set', 'bh1', 'up');
  ip('-n', ns, 'neigh', 'add', '198.51.100.2', 'lladdr', '02:00:00:00:00:02', 'dev', 'bh0', 'nud', 'permanent');
  const out = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', probe], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(out.status, 0, `probe failed: ${out.stderr}`);
  const r = JSON.parse(out.stdout.trim().split('\n').at(-1) ?? '{}') as { ok: boolean; code: string; ms: number };
  assert.equal(r.ok, false);
  assert.ok(['TIMEOUT', 'UNAVAILABLE'].includes(r.code), `gave up with ${r.code}`);
  assert.ok(r.ms < 3000, `gave up after ${r.ms} ms (deadline 1000 ms)`);
});
