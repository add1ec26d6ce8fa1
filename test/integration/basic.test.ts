/**
 * A 3-master group of real processes: bootstrap, writes and reads through the SDK, leadership
 * transfer through the admin endpoint, and follower reads that see the write acknowledged just
 * before them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MoosengClient } from '../../src/client/client.ts';
import { rootInode } from '../../src/master/limits.ts';
import { Consistency } from '../../src/api/protocol.ts';
import { Cluster, rawRequest, waitUntil } from './harness.ts';

describe('a 3-master group', { timeout: 90_000 }, () => {
  let cluster: Cluster;

  before(async () => {
    cluster = await Cluster.create({ voters: 3 });
    await cluster.bootstrap(3);
  });

  after(async () => {
    await cluster?.close();
  });

  it('elects one leader that every master knows', async () => {
    const leader = await cluster.waitLeader();
    const st = await Promise.all(cluster.masters.map((m) => m.status()));
    for (const s of st) {
      assert.equal(s.leader, leader.id, `master ${s.node} follows ${s.leader}`);
      assert.deepEqual(s.conf.voters, [1, 2, 3]);
      assert.deepEqual(s.conf.learners, []);
    }
    assert.equal(new Set(st.map((s) => s.term)).size, 1, 'one term');
  });

  it('serves writes and reads through the SDK', async () => {
    const c = await cluster.client();
    const dir = await c.mkdir(rootInode, 'basic');
    const n = 300;
    const created = await Promise.all(Array.from({ length: n }, (_, i) => c.create(dir.inode, `f${String(i).padStart(4, '0')}`)));
    assert.equal(new Set(created.map((a) => a.inode)).size, n, 'distinct inodes');
    const entries = await c.readdir(dir.inode, 64);
    assert.deepEqual(
      entries.map((e) => e.name),
      Array.from({ length: n }, (_, i) => `f${String(i).padStart(4, '0')}`),
    );
    const a = await c.lookup(dir.inode, 'f0042');
    assert.equal(a.inode, created[42]!.inode);
    assert.equal((await c.resolve('/basic/f0299')).inode, created[299]!.inode);
    await assert.rejects(c.create(dir.inode, 'f0001'), { code: 'EEXIST' });
    await assert.rejects(c.lookup(dir.inode, 'nope'), { code: 'ENOENT' });
    await c.rename(dir.inode, 'f0000', dir.inode, 'renamed');
    await c.unlink(dir.inode, 'f0001');
    const after2 = await c.readdir(dir.inode);
    assert.equal(after2.length, n - 1);
    assert.ok(after2.some((e) => e.name === 'renamed'));
    // Every master applied the same writes.
    const leader = await cluster.waitLeader();
    const commit = (await leader.status()).commit;
    await waitUntil('every master to apply the writes', 10_000, async () => {
      const st = await Promise.all(cluster.masters.map((m) => m.status()));
      return st.every((s) => s.applied >= commit);
    });
    const ns = await Promise.all(cluster.masters.map(async (m) => (await m.status()).namespace));
    assert.deepEqual(ns[1], ns[0]);
    assert.deepEqual(ns[2], ns[0]);
    // Byte for byte: the same snapshot stream at the same applied index, and a sound namespace on each.
    // (A background entry, such as a session renewal, may land between the calls: ask again until all agree on the index.)
    const checks = await waitUntil('every master at the same applied index', 10_000, async () => {
      const cs = await Promise.all(cluster.masters.map((m) => m.stateCheck()));
      return cs.every((c) => c.applied === cs[0]!.applied) ? cs : undefined;
    });
    for (const [i, c] of checks.entries()) {
      assert.deepEqual(c.invariants, [], `master ${i + 1} passes the metadata invariant checker`);
      assert.equal(c.digest, checks[0]!.digest, `master ${i + 1} holds the same metadata as master 1 at index ${c.applied}`);
    }
  });

  it('transfers leadership on request, to each other master in turn', async () => {
    const c = await cluster.client();
    const dir = await c.mkdir(rootInode, 'transfer');
    for (let round = 0; round < 3; round++) {
      const leader = await cluster.waitLeader();
      const to = cluster.masters.find((m) => m.id !== leader.id && (round % 2 === 0 ? m.id > leader.id : m.id < leader.id)) ?? cluster.masters.find((m) => m.id !== leader.id)!;
      const termBefore = (await leader.status()).term;
      // Refused without the token, and on a follower.
      assert.equal((await leader.admin('transfer-leader', { id: to.id }, undefined)).status, 401);
      const onFollower = await to.admin('transfer-leader', { id: to.id }, cluster.adminToken);
      assert.equal(onFollower.status, 421);
      assert.equal(onFollower.body['leader'], leader.id);
      const res = await leader.admin('transfer-leader', { id: to.id }, cluster.adminToken);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const now = await cluster.waitLeader();
      assert.equal(now.id, to.id);
      assert.ok((await now.status()).term > termBefore);
      await c.create(dir.inode, `after-${round}`);
    }
    assert.equal((await c.readdir(dir.inode)).length, 3);
  });

  it('follower reads see the write acknowledged just before them', async () => {
    const leader = await cluster.waitLeader();
    const followers = cluster.masters.filter((m) => m.id !== leader.id);
    const writer = await MoosengClient.connect({ masters: [leader.clientAddress] });
    const anyReader = await MoosengClient.connect({ masters: cluster.masters.map((m) => m.clientAddress), readFrom: 'any' });
    try {
      const dir = await writer.mkdir(rootInode, 'follower-reads');
      for (let i = 0; i < 300; i++) {
        const a = await writer.create(dir.inode, `r${i}`);
        // Straight to one follower, no redirect: the follower gets a read index from the leader and serves the read itself.
        const follower = followers[i % followers.length]!;
        const res = await rawRequest(follower.clientAddress, {
          op: 'read',
          id: i + 1,
          consistency: Consistency.linearizable,
          read: { kind: 'lookup', parent: dir.inode, name: `r${i}`, caller: { uid: 0, gids: [0] } },
        });
        assert.ok(res.ok && res.op === 'read', `read ${i} on master ${follower.id}: ${JSON.stringify(res)}`);
        assert.ok(res.outcome.ok && res.outcome.reply.kind === 'lookup', `read ${i} on master ${follower.id}: ${JSON.stringify(res.outcome)}`);
        assert.equal(res.outcome.reply.inode, a.inode);
        // And through the SDK spreading its reads over every member.
        const b = await writer.create(dir.inode, `s${i}`);
        assert.equal((await anyReader.lookup(dir.inode, `s${i}`)).inode, b.inode, `SDK read ${i} with readFrom any`);
      }
      for (const f of followers) {
        const text = await (await fetch(`${f.adminUrl}/metrics`)).text();
        const m = /mooseng_reads_total\{consistency="follower"\} (\d+)/.exec(text);
        assert.ok(m !== null && Number(m[1]) >= 150, `master ${f.id} served follower reads: ${m?.[0]}`);
      }
    } finally {
      await writer.close();
      await anyReader.close();
    }
  });
});
