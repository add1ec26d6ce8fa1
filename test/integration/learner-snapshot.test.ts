/**
 * Regression (found by the chaos harness, seed 1 of `npm run chaos:short`): a new master added as a
 * learner by a leader that itself joined the group after the leader's latest snapshot. The
 * learner installs that snapshot, whose member directory knows neither the learner nor its leader;
 * the learner used to replace its transport's peers with that directory, drop the leader, refuse
 * its connections ("node id N is not a configured peer") and stay at the snapshot's index for good.
 * A master not yet in the directory now keeps the peers of its configuration file (which, as
 * OPERATIONS.md says, lists the current members).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MoosengClient } from '../../src/client/client.ts';
import { rootInode } from '../../src/master/limits.ts';
import { Cluster, waitUntil } from './harness.ts';

describe('a learner whose first snapshot predates its leader', { timeout: 120_000 }, () => {
  let cluster: Cluster;
  let c: MoosengClient;
  let dir: number;

  before(async () => {
    // Snapshots every 100 entries, keeping only 5: a new learner always starts from a snapshot.
    cluster = await Cluster.create({ voters: 3, spares: 2, snapshot: { everyEntries: 100, keepEntries: 5 } });
    await cluster.bootstrap(3);
    await cluster.waitLeader();
    c = await cluster.client();
    dir = (await c.mkdir(rootInode, 'd')).inode;
  });

  after(async () => {
    await c?.close();
    await cluster?.close();
  });

  it('catches up from the snapshot and follows the leader', async (t) => {
    for (let i = 0; i < 150; i++) await c.create(dir, `a${i}`);
    const founder = await cluster.waitLeader();
    // Master 4 joins from a snapshot, is promoted and takes over.
    const m4 = cluster.master(4);
    await m4.start();
    const add4 = await founder.admin('add-learner', m4.addresses(), cluster.adminToken);
    assert.equal(add4.status, 200, JSON.stringify(add4.body));
    await waitUntil('master 4 to catch up', 20_000, async () => (await m4.status()).applied >= (await founder.status()).commit);
    const promote = await founder.admin('promote', { id: 4 }, cluster.adminToken);
    assert.equal(promote.status, 200, JSON.stringify(promote.body));
    const transfer = await founder.admin('transfer-leader', { id: 4 }, cluster.adminToken);
    assert.equal(transfer.status, 200, JSON.stringify(transfer.body));
    const leader = await cluster.waitLeader();
    assert.equal(leader.id, 4);
    const st4 = await m4.status();
    // Its latest snapshot is the one it installed, from before its own member record.
    assert.ok(st4.snapshotIndex > 0 && st4.snapshotIndex < st4.commit, JSON.stringify({ snapshotIndex: st4.snapshotIndex, commit: st4.commit }));

    // Master 5, configured with the current members (1-4) and itself, as an operator would.
    const peer4 = m4.config.peers.find((p) => p.id === 4)!;
    const m5 = await cluster.variant(5, 'current', (cfg) => ({ ...cfg, peers: [...cfg.peers.filter((p) => p.id !== 5), peer4, cfg.peers.find((p) => p.id === 5)!] }));
    await m5.start();
    const add5 = await leader.admin('add-learner', m5.addresses(), cluster.adminToken);
    assert.equal(add5.status, 200, JSON.stringify(add5.body));
    await c.create(dir, 'after-5');
    const target = (await leader.status()).commit;
    try {
      await waitUntil(`master 5 to apply ${target}`, 20_000, async () => (await m5.status()).applied >= target);
    } catch (e) {
      t.diagnostic(cluster.logTails(2000));
      throw e;
    }
    const st5 = await m5.status();
    assert.equal(st5.leader, 4);
    assert.ok(st5.snapshotIndex > 0, 'master 5 started from a snapshot');
    assert.deepEqual(
      st5.members.map((m) => m.id),
      [1, 2, 3, 4, 5],
      'it learnt the whole directory from the log after the snapshot',
    );
  });
});
