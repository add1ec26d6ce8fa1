/**
 * kill -9 of the leader under a steady write load from the SDK: a new leader takes over, the
 * SDK's retries absorb the failover (no error reaches the caller), every acknowledged write is
 * still there, and retried creates run once (no EEXIST for a file created once, as many files
 * as acknowledged creates). Then the killed master restarts and catches up from the log.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Consistency } from '../../src/api/protocol.ts';
import type { MoosengClient } from '../../src/client/client.ts';
import { rootInode } from '../../src/master/limits.ts';
import { Cluster, rawRequest, sleep, waitUntil, type MasterProcess } from './harness.ts';

interface Load {
  readonly acked: Set<string>;
  readonly errors: string[];
  stop(): Promise<void>;
}

/** `workers` loops per client, each creating files with names unique to it, until stopped. */
function writeLoad(clients: readonly MoosengClient[], dir: number, prefix: string, workers: number): Load {
  const acked = new Set<string>();
  const errors: string[] = [];
  let running = true;
  const loops: Promise<void>[] = [];
  clients.forEach((c, ci) => {
    for (let w = 0; w < workers; w++) {
      loops.push(
        (async () => {
          for (let i = 0; running && i < 100_000; i++) {
            const name = `${prefix}-c${ci}-w${w}-${i}`;
            try {
              await c.create(dir, name);
              acked.add(name);
            } catch (e) {
              errors.push(`${name}: ${(e as Error & { code?: string }).code ?? ''} ${(e as Error).message}`);
            }
          }
        })(),
      );
    }
  });
  return {
    acked,
    errors,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

async function listAll(c: MoosengClient, dir: number): Promise<Set<string>> {
  return new Set((await c.readdir(dir, 1000)).map((e) => e.name));
}

describe('failover', { timeout: 90_000 }, () => {
  let cluster: Cluster;
  let clients: MoosengClient[];
  let dir: number;
  const killed: MasterProcess[] = [];

  before(async () => {
    cluster = await Cluster.create({ voters: 3 });
    await cluster.bootstrap(3);
    await cluster.waitLeader();
    clients = [await cluster.client(), await cluster.client()];
    dir = (await clients[0]!.mkdir(rootInode, 'load')).inode;
  });

  after(async () => {
    await cluster?.close();
  });

  it('kill -9 of the leader under load: a new leader, no error surfaces, every acknowledged create is there once', async (t) => {
    for (let round = 0; round < 2; round++) {
      const leader = await cluster.waitLeader();
      const termBefore = (await leader.status()).term;
      const load = writeLoad(clients, dir, `r${round}`, 8);
      await waitUntil('some acknowledged writes', 10_000, () => load.acked.size >= 300);
      const before = load.acked.size;
      const killedAt = Date.now();
      await leader.kill9();
      killed.push(leader);
      const next = await cluster.waitLeader(10_000);
      const electedMs = Date.now() - killedAt;
      assert.notEqual(next.id, leader.id);
      assert.ok((await next.status()).term > termBefore);
      // The load goes on through the new leader.
      await waitUntil('writes after the failover', 15_000, () => load.acked.size >= before + 300);
      await load.stop();
      t.diagnostic(`round ${round}: killed ${leader.id}, new leader ${next.id} seen after ${electedMs} ms; ${load.acked.size} creates acknowledged`);
      assert.deepEqual(load.errors, [], 'no error reached the caller');
      const listed = await listAll(clients[0]!, dir);
      const mine = [...listed].filter((n) => n.startsWith(`r${round}-`));
      const missing = [...load.acked].filter((n) => !listed.has(n));
      assert.deepEqual(missing, [], 'every acknowledged create is listed');
      // Every create was acknowledged (no errors), so the files are exactly the acknowledged ones: none ran twice, none is extra.
      assert.equal(mine.length, load.acked.size);
      // Restart the killed master before the next round, so that a quorum remains.
      await leader.start();
      const target = (await next.status()).commit;
      await waitUntil(`master ${leader.id} to catch up`, 20_000, async () => (await leader.status()).applied >= target);
    }
  });

  it('the restarted masters caught up from the log and hold the same metadata', async () => {
    const leader = await cluster.waitLeader();
    const total = (await listAll(clients[0]!, dir)).size;
    const commit = (await leader.status()).commit;
    for (const m of cluster.masters) {
      await waitUntil(`master ${m.id} to apply ${commit}`, 20_000, async () => (await m.status()).applied >= commit);
      const st = await m.status();
      // No snapshot was needed: the default thresholds are far above this test's writes.
      assert.equal(st.snapshotIndex, 0, `master ${m.id} snapshot index`);
      // A local read on that master alone sees every file.
      let count = 0;
      let after: string | null = null;
      for (let page = 0; page < 100; page++) {
        const res = await rawRequest(m.clientAddress, {
          op: 'read',
          id: page + 1,
          consistency: Consistency.local,
          read: { kind: 'readdir', inode: dir, caller: { uid: 0, gids: [0] }, after, maxEntries: 1000 },
        });
        assert.ok(res.ok && res.op === 'read' && res.outcome.ok && res.outcome.reply.kind === 'readdir', JSON.stringify(res));
        count += res.outcome.reply.entries.length;
        after = res.outcome.reply.cursor;
        if (after === null) break;
      }
      assert.equal(count, total, `master ${m.id} lists every file locally`);
    }
    assert.ok(killed.length >= 2);
    const restarted = killed[0]!;
    assert.ok(restarted.logLines().some((l) => l['msg'] === 'master started' && Number(l['lastIndex']) > 0), 'restarted from its own log');
  });

  it('a SIGTERM stop of the leader hands leadership over without an election timeout', async () => {
    const leader = await cluster.waitLeader();
    const c = clients[0]!;
    const t0 = Date.now();
    const stopped = leader.stop();
    const next = await cluster.waitLeader(5000, cluster.masters.filter((m) => m.id !== leader.id));
    assert.equal(await stopped, 0, 'clean exit');
    assert.ok(leader.logLines().some((l) => l['msg'] === 'stopping: transferring leadership'));
    await c.create(dir, 'after-sigterm');
    const ms = Date.now() - t0;
    assert.ok(ms < 5000, `write acknowledged ${ms} ms after the stop began`);
    assert.notEqual(next.id, leader.id);
    await leader.start();
    await sleep(100);
  });
});
