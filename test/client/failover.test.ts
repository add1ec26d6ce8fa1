/**
 * The SDK against a real 3-master group while the leader is killed with SIGKILL mid-load: every
 * create the SDK acknowledged is in the namespace afterwards, none fails (retries after the
 * failover are deduplicated by the session, so none comes back EEXIST), and writes resume within
 * a few seconds.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { MoosengClient } from '../../src/client/client.ts';
import { formatHostPort } from '../../src/server/config.ts';
import { sleep, startCluster } from '../cli/cluster.ts';

const workers = 4;
const beforeKillMs = 500;
const afterKillMs = 2_000;
/** How long writes may stall across the failover. */
const stallMaxMs = 5_000;

it('acknowledged creates survive kill -9 of the leader, and writes resume', { timeout: 60_000 }, async (t) => {
  const cluster = await startCluster({ voters: 3 });
  const clients: MoosengClient[] = [];
  // Clients first (closing a session needs the masters), then the masters.
  t.after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await cluster.close();
  });
  const masters = cluster.configs.map((c) => formatHostPort(c.listen.client));
  const client = await MoosengClient.connect({ masters, deadlineMs: 15_000, attemptTimeoutMs: 1_000 });
  clients.push(client);
  const dir = await client.mkdir(1, 'load');

  const acked: string[] = [];
  const failed: { name: string; error: string }[] = [];
  let stop = false;
  let killedAt = 0;
  let firstAckAfterKill = 0;
  const work = async (w: number): Promise<void> => {
    // Bounded: stops once `stop` is set, which happens after a fixed time below.
    for (let k = 0; !stop; k++) {
      const name = `w${w}-${k}`;
      try {
        await client.create(dir.inode, name);
        acked.push(name);
        if (killedAt !== 0 && firstAckAfterKill === 0) firstAckAfterKill = Date.now();
      } catch (e) {
        failed.push({ name, error: String(e) });
      }
    }
  };
  const running = Array.from({ length: workers }, (_, w) => work(w));
  await sleep(beforeKillMs);
  const before = acked.length;
  const leader = await cluster.leader();
  await cluster.kill(leader);
  killedAt = Date.now();
  await sleep(afterKillMs);
  // Writes may still be stalled here on a slow machine: give them the bound before stopping.
  for (let waited = 0; firstAckAfterKill === 0 && waited < stallMaxMs; waited += 100) await sleep(100);
  stop = true;
  await Promise.all(running);

  assert.deepEqual(failed, [], 'no create failed across the failover');
  assert.ok(before > 0, 'creates were acknowledged before the kill');
  assert.ok(firstAckAfterKill !== 0, `no create was acknowledged within ${afterKillMs + stallMaxMs} ms of the kill`);
  assert.ok(firstAckAfterKill - killedAt < stallMaxMs, `writes stalled ${firstAckAfterKill - killedAt} ms after the kill`);
  const newLeader = await cluster.leader();
  assert.notEqual(newLeader, leader);

  // A fresh client (new connections, new session) sees exactly the acknowledged names.
  const reader = await MoosengClient.connect({ masters, deadlineMs: 10_000 });
  clients.push(reader);
  const listed = (await reader.readdir(dir.inode)).map((e) => e.name).sort();
  assert.deepEqual(listed, [...acked].sort());
  t.diagnostic(`${acked.length} creates (${before} before the kill); first ack ${firstAckAfterKill - killedAt} ms after it; leader ${leader} -> ${newLeader}`);
});
