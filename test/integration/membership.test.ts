/**
 * Membership changes on a running group, with writes going on: a fourth master started from a
 * configuration that lists the group and itself, never initialised, waits with no membership
 * until the leader adds it as a learner; it catches up, is promoted to voter, and a voter is
 * removed and stopped. /status `conf` is checked on every master at each step.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Consistency } from '../../src/api/protocol.ts';
import type { MoosengClient } from '../../src/client/client.ts';
import { rootInode } from '../../src/master/limits.ts';
import { Cluster, rawRequest, waitUntil, type MasterProcess } from './harness.ts';

function sorted(a: readonly number[]): number[] {
  return [...a].sort((x, y) => x - y);
}

async function confEverywhere(masters: readonly MasterProcess[], voters: number[], learners: number[]): Promise<void> {
  await waitUntil(`every master to see voters ${voters} and learners ${learners}`, 10_000, async () => {
    const st = await Promise.all(masters.map((m) => m.status()));
    return st.every(
      (s) => sorted(s.conf.voters).join() === voters.join() && sorted(s.conf.learners).join() === learners.join() && s.conf.votersOutgoing.length === 0,
    );
  });
}

describe('membership changes', { timeout: 90_000 }, () => {
  let cluster: Cluster;
  let c: MoosengClient;
  let dir: number;
  let written = 0;
  let running = true;
  let load: Promise<void>;
  const errors: string[] = [];

  before(async () => {
    cluster = await Cluster.create({ voters: 3, spares: 1 });
    await cluster.bootstrap(3);
    await cluster.waitLeader();
    c = await cluster.client();
    dir = (await c.mkdir(rootInode, 'members')).inode;
    // A steady trickle of writes through every change.
    load = (async () => {
      for (let i = 0; running && i < 100_000; i++) {
        try {
          await c.create(dir, `f${i}`);
          written++;
        } catch (e) {
          errors.push(`f${i}: ${(e as Error).message}`);
        }
      }
    })();
  });

  after(async () => {
    running = false;
    await load;
    await cluster?.close();
  });

  async function writesGoOn(): Promise<void> {
    const from = written;
    await waitUntil('writes to go on', 10_000, () => written >= from + 20);
    assert.deepEqual(errors, []);
  }

  it('a master that was never initialised starts with no membership and waits', async () => {
    const m4 = cluster.master(4);
    await m4.start();
    const st = await m4.status();
    assert.deepEqual(st.conf.voters, []);
    assert.deepEqual(st.conf.learners, []);
    assert.equal(st.role, 'follower');
    assert.equal(st.lastIndex, 0);
    assert.ok(m4.logLines().some((l) => l['msg'] === 'master started with no membership: waiting to be added to a group'));
    const h = await fetch(`${m4.adminUrl}/health`);
    assert.equal(h.status, 503);
    // It does not disturb the group: the leader and its term stay.
    const leader = await cluster.waitLeader(5000, cluster.masters.slice(0, 3));
    const term = (await leader.status()).term;
    await writesGoOn();
    assert.equal((await leader.status()).term, term);
    assert.equal(await leader.isLeader(), true);
  });

  it('is added as a learner, catches up and serves reads', async () => {
    const leader = await cluster.waitLeader(5000, cluster.masters.slice(0, 3));
    const m4 = cluster.master(4);
    const follower = cluster.masters.find((m) => m.id !== leader.id && m.id !== 4)!;
    // Refused without the token, with a wrong one, and on a follower (with the leader's admin address).
    assert.equal((await leader.admin('add-learner', m4.addresses(), undefined)).status, 401);
    assert.equal((await leader.admin('add-learner', m4.addresses(), 'x'.repeat(64))).status, 401);
    const wrong = await follower.admin('add-learner', m4.addresses(), cluster.adminToken);
    assert.equal(wrong.status, 421);
    assert.equal(wrong.body['leaderAdmin'], leader.addresses().admin);
    assert.equal((await leader.admin('add-learner', { id: 4 }, cluster.adminToken)).status, 400);

    const res = await leader.admin('add-learner', m4.addresses(), cluster.adminToken);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await confEverywhere(cluster.masters, [1, 2, 3], [4]);
    const target = (await leader.status()).commit;
    await waitUntil('the learner to catch up', 20_000, async () => (await m4.status()).applied >= target);
    const st = await m4.status();
    assert.equal(st.leader, leader.id);
    assert.equal(st.members.length, 4, 'the learner knows every member');
    const p = (await leader.status()).progress.find((x) => x.id === 4);
    assert.ok(p !== undefined && p.match > 0);
    await writesGoOn();
    // A linearizable read on the learner sees a write acknowledged just before it.
    const a = await c.create(dir, 'seen-on-learner');
    const r = await rawRequest(m4.clientAddress, {
      op: 'read',
      id: 1,
      consistency: Consistency.linearizable,
      read: { kind: 'lookup', parent: dir, name: 'seen-on-learner', caller: { uid: 0, gids: [0] } },
    });
    assert.ok(r.ok && r.op === 'read' && r.outcome.ok && r.outcome.reply.kind === 'lookup' && r.outcome.reply.inode === a.inode, JSON.stringify(r));
    // Writes sent to the learner are forwarded to the leader.
    const viaLearner = await rawRequest(m4.clientAddress, { op: 'hello', id: 2, clientVersion: 1 });
    assert.ok(viaLearner.ok && viaLearner.op === 'hello' && viaLearner.hello.leaderId === leader.id);
  });

  it('is promoted to voter', async () => {
    const leader = await cluster.waitLeader(5000, cluster.masters.slice(0, 3));
    assert.equal((await leader.admin('promote', { id: 7 }, cluster.adminToken)).status, 409, 'not a learner');
    const res = await leader.admin('promote', { id: 4 }, cluster.adminToken);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await confEverywhere(cluster.masters, [1, 2, 3, 4], []);
    const again = await leader.admin('add-learner', cluster.master(4).addresses(), cluster.adminToken);
    assert.equal(again.status, 409, JSON.stringify(again.body));
    assert.equal(again.body['error'], 'ERR_ALREADY_MEMBER');
    await confEverywhere(cluster.masters, [1, 2, 3, 4], []);
    await writesGoOn();
  });

  it('a voter is removed, stopped, and the group goes on with the others', async () => {
    const leader = await cluster.waitLeader();
    const gone = cluster.masters.find((m) => m.id !== leader.id && m.id !== 4)!;
    const res = await leader.admin('remove', { id: gone.id }, cluster.adminToken);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const rest = cluster.masters.filter((m) => m !== gone);
    const voters = rest.map((m) => m.id).sort((x, y) => x - y);
    await confEverywhere(rest, voters, []);
    const st = await leader.status();
    assert.ok(!st.members.some((m) => m.id === gone.id), 'the removed member left the directory');
    await gone.stop();
    await writesGoOn();
    // The remaining three tolerate one more failure: kill the leader, the other two elect one.
    const l = await cluster.waitLeader(5000, rest);
    await l.kill9();
    const next = await cluster.waitLeader(10_000, rest.filter((m) => m !== l));
    assert.ok(voters.includes(next.id));
    await writesGoOn();
    await l.start();
    assert.deepEqual(errors, []);
  });

  it('every acknowledged write is there', async () => {
    running = false;
    await load;
    const names = new Set((await c.readdir(dir)).map((e) => e.name));
    for (let i = 0; i < written; i++) assert.ok(names.has(`f${i}`), `f${i}`);
    assert.equal(names.size, written + 1);
  });
});
