/**
 * Closing a client whose masters are all gone returns promptly: the session close is bounded
 * (the session expires on its own), instead of retrying for the client's whole deadline.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { MoosengClient } from '../../src/client/client.ts';
import { Cluster } from '../integration/harness.ts';

let cluster: Cluster | undefined;
after(async () => {
  await cluster?.close();
});

test('close() with every master down takes about 2 s, not the 15 s deadline', { timeout: 60_000 }, async () => {
  cluster = await Cluster.create({ voters: 3 });
  await cluster.bootstrap(3);
  await cluster.waitLeader();
  const c = await MoosengClient.connect({ masters: cluster.masters.map((m) => m.clientAddress), deadlineMs: 15_000 });
  await c.mkdir(1, 'before-close');
  await Promise.all(cluster.masters.map((m) => m.kill9()));
  const t = Date.now();
  await c.close();
  const ms = Date.now() - t;
  assert.ok(ms < 5_000, `close() took ${ms} ms`);
  await assert.rejects(c.getattr(1), /closed/);
});
