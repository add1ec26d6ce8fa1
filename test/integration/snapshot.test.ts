/**
 * Catch-up by snapshot: with small snapshot thresholds, a follower is stopped while the leader
 * writes enough to compact its log past the follower's last entry; restarted, the follower
 * receives a snapshot, installs it and serves the data locally. Also the `snapshot` admin
 * operation, taken under load, gives a snapshot a restarted master can start from.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Consistency } from '../../src/api/protocol.ts';
import type { MoosengClient } from '../../src/client/client.ts';
import { rootInode } from '../../src/master/limits.ts';
import { Cluster, rawRequest, waitUntil, type MasterProcess } from './harness.ts';

async function localCount(m: MasterProcess, dir: number): Promise<number> {
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
    if (after === null) return count;
  }
  throw new Error('too many pages');
}

async function metric(m: MasterProcess, name: string): Promise<number> {
  const text = await (await fetch(`${m.adminUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? NaN : Number(line.split(' ')[1]);
}

describe('catch-up by snapshot', { timeout: 90_000 }, () => {
  let cluster: Cluster;
  let c: MoosengClient;
  let dir: number;

  before(async () => {
    cluster = await Cluster.create({ voters: 3, snapshot: { everyEntries: 200, keepEntries: 50 } });
    await cluster.bootstrap(3);
    await cluster.waitLeader();
    c = await cluster.client();
    dir = (await c.mkdir(rootInode, 'snap')).inode;
  });

  after(async () => {
    await cluster?.close();
  });

  it('a follower stopped while the log was compacted past it catches up by snapshot', async () => {
    for (let i = 0; i < 100; i++) await c.create(dir, `before-${i}`);
    const leader = await cluster.waitLeader();
    const follower = cluster.masters.find((m) => m.id !== leader.id)!;
    await waitUntil('the follower to apply', 10_000, async () => (await follower.status()).applied >= (await leader.status()).commit);
    const stoppedAt = await follower.status();
    assert.equal(await follower.stop(), 0);

    await Promise.all(Array.from({ length: 10 }, (_, w) => (async () => {
      for (let i = 0; i < 100; i++) await c.create(dir, `while-${w}-${i}`);
    })()));
    const ls = await waitUntil('the leader to compact past the stopped follower', 20_000, async () => {
      const s = await leader.status();
      return s.firstIndex > stoppedAt.lastIndex + 1 ? s : undefined;
    });
    assert.ok(ls.snapshotIndex > stoppedAt.lastIndex, `leader snapshot ${ls.snapshotIndex} past ${stoppedAt.lastIndex}`);
    assert.ok(await metric(leader, 'mooseng_snapshots_taken_total') >= 1, 'the leader counts its snapshots');

    await follower.start();
    const target = (await leader.status()).commit;
    const fs = await waitUntil('the follower to catch up', 30_000, async () => {
      const s = await follower.status();
      return s.applied >= target ? s : undefined;
    });
    assert.ok(fs.snapshotIndex > stoppedAt.lastIndex, `follower installed a snapshot (index ${fs.snapshotIndex}, it stopped at ${stoppedAt.lastIndex})`);
    assert.ok(fs.firstIndex > stoppedAt.lastIndex, `the follower's log starts after the snapshot (first ${fs.firstIndex})`);
    assert.ok(await metric(follower, 'mooseng_snapshots_installed_total') >= 1, 'the follower counts the installed snapshot');
    assert.ok(await metric(leader, 'mooseng_snapshot_chunks_sent_total') >= 1, 'the leader counts the snapshot chunks it sent');
    assert.deepEqual(fs.conf.voters, [1, 2, 3]);
    assert.equal(fs.members.length, 3, 'the member directory came with the snapshot');
    assert.equal(await localCount(follower, dir), 1100, 'a local read on the follower sees every file');

    // It goes on following from the log after the snapshot.
    for (let i = 0; i < 20; i++) await c.create(dir, `after-${i}`);
    const t2 = (await leader.status()).commit;
    await waitUntil('the follower to apply new entries', 10_000, async () => (await follower.status()).applied >= t2);
    assert.equal(await localCount(follower, dir), 1120);
  });

  it('the snapshot admin operation under load writes a snapshot consistent with the applied index', async () => {
    const leader = await cluster.waitLeader();
    const follower = cluster.masters.find((m) => m.id !== leader.id)!;
    let running = true;
    const load = Promise.all(Array.from({ length: 8 }, (_, w) => (async () => {
      for (let i = 0; running && i < 10_000; i++) await c.create(dir, `adm-${w}-${i}`);
    })()));
    const taken: number[] = [];
    try {
      for (let k = 0; k < 5; k++) {
        const res = await follower.admin('snapshot', {}, cluster.adminToken);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        taken.push(Number(res.body['index']));
      }
    } finally {
      running = false;
      await load;
    }
    // Restarted from that snapshot (and its log), the follower has exactly the group's files.
    await follower.kill9();
    await follower.start();
    const target = (await leader.status()).commit;
    await waitUntil('the follower to catch up', 20_000, async () => (await follower.status()).applied >= target);
    const expected = await localCount(leader, dir);
    assert.equal(await localCount(follower, dir), expected);
    const st = await follower.status();
    assert.ok(st.snapshotIndex >= Math.max(...taken), `snapshot ${st.snapshotIndex} after the admin ones ${taken.join(',')}`);
    assert.deepEqual(st.namespace, (await leader.status()).namespace);
  });
});
