/**
 * Masters that must not get in: a member restarted with a wrong secret or a wrong cluster id, and
 * strangers that believe they belong to the group, cannot join or disturb it (the leader and
 * its term stay, their connections are refused, the logs say why). Then garbage on every port of
 * every master (random bytes, huge length headers, half frames, HTTP junk) leaves every process
 * serving.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import type { MoosengClient } from '../../src/client/client.ts';
import { rootInode } from '../../src/master/limits.ts';
import { decodeResponse } from '../../src/api/protocol.ts';
import { FRAME_HEADER_BYTES, FrameDecoder, FrameType, encodeFrameHeader } from '../../src/transport/frame.ts';
import { Cluster, sleep, waitUntil, type MasterProcess } from './harness.ts';

/** Sends `chunks` on a fresh connection (pausing between them), then waits for the server to close it or for `holdMs`. */
async function poke(port: number, chunks: readonly Uint8Array[], holdMs = 300): Promise<{ received: Buffer; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const received: Buffer[] = [];
    let closedByServer = false;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve({ received: Buffer.concat(received), closedByServer });
    };
    socket.on('data', (b: Buffer) => received.push(b));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closedByServer = true;
      finish();
    });
    socket.on('connect', async () => {
      for (const c of chunks) {
        if (socket.destroyed) break;
        socket.write(c);
        await sleep(20);
      }
      setTimeout(finish, holdMs);
    });
  });
}

/** A frame header announcing `lengthBytes` of payload, with a valid header checksum. */
function header(type: FrameType, lengthBytes: number): Buffer {
  const h = encodeFrameHeader(type, new Uint8Array(0));
  h.writeUInt32BE(lengthBytes, 8);
  h.writeUInt32BE(crc32(h.subarray(0, 16)), 16);
  return h;
}

async function logSays(m: MasterProcess, pattern: RegExp): Promise<boolean> {
  return m.logLines().some((l) => pattern.test(JSON.stringify(l)));
}

describe('hostile masters and garbage', { timeout: 90_000 }, () => {
  let cluster: Cluster;
  let c: MoosengClient;
  let dir: number;

  before(async () => {
    cluster = await Cluster.create({ voters: 3, spares: 2 });
    await cluster.bootstrap(3);
    await cluster.waitLeader();
    c = await cluster.client();
    dir = (await c.mkdir(rootInode, 'hostile')).inode;
  });

  after(async () => {
    await cluster?.close();
  });

  async function expectUndisturbed(leaderId: number, term: number, during: () => Promise<void>): Promise<void> {
    await during();
    const st = await Promise.all(cluster.masters.filter((m) => m.running && m.id <= 3).map((m) => m.status()));
    for (const s of st) {
      assert.equal(s.leader, leaderId, `master ${s.node} still follows ${leaderId}`);
      assert.equal(s.term, term, `master ${s.node} term unchanged`);
    }
    await c.create(dir, `ok-${Date.now()}`);
  }

  it('a member restarted with a wrong secret is refused and does not disturb the group', async () => {
    const leader = await cluster.waitLeader();
    const { term } = await leader.status();
    const victim = cluster.masters.find((m) => m.id !== leader.id && m.id <= 3)!;
    const others = cluster.masters.filter((m) => m.id <= 3 && m !== victim);
    const wrongSecret = join(cluster.dir, 'wrong-secret');
    await writeFile(wrongSecret, randomBytes(32).toString('hex'), { mode: 0o600 });
    await chmod(wrongSecret, 0o600);
    const impostor = await cluster.variant(victim.id, 'wrong-secret', (cfg) => ({ ...cfg, secretFile: wrongSecret }));
    await victim.stop();
    await impostor.start();
    await expectUndisturbed(leader.id, term, async () => {
      // Several election timeouts: the impostor cannot hear the leader and would campaign.
      for (let i = 0; i < 20; i++) await c.create(dir, `s${i}`).then(() => sleep(100));
    });
    assert.ok(impostor.running);
    const ist = await impostor.status();
    assert.notEqual(ist.role, 'leader');
    assert.equal(ist.leader, 0, 'the impostor knows no leader');
    for (const m of others) {
      assert.ok(await logSays(m, /failed to prove the cluster secret/), `master ${m.id} logs the refused secret`);
    }
    assert.ok(await logSays(impostor, /failed to prove the cluster secret|peer connection (refused|failed|closed)/), 'the impostor logs the refusal');
    await impostor.stop();
    // With the right secret it rejoins and catches up.
    await victim.start();
    const target = (await leader.status()).commit;
    await waitUntil('the member to rejoin', 15_000, async () => {
      const s = await victim.status();
      return s.leader === leader.id && s.applied >= target;
    });
  });

  it('a member restarted with a wrong cluster id is refused and does not disturb the group', async () => {
    const leader = await cluster.waitLeader();
    const { term } = await leader.status();
    const victim = cluster.masters.find((m) => m.id !== leader.id && m.id <= 3)!;
    const others = cluster.masters.filter((m) => m.id <= 3 && m !== victim);
    const impostor = await cluster.variant(victim.id, 'wrong-cluster', (cfg) => ({ ...cfg, clusterId: 'another-cluster' }));
    await victim.stop();
    await impostor.start();
    await expectUndisturbed(leader.id, term, async () => {
      for (let i = 0; i < 20; i++) await c.create(dir, `c${i}`).then(() => sleep(100));
    });
    assert.notEqual((await impostor.status()).role, 'leader');
    for (const m of others) assert.ok(await logSays(m, /cluster id mismatch/), `master ${m.id} logs the cluster id mismatch`);
    assert.ok(await logSays(impostor, /cluster id mismatch/), 'the impostor logs the mismatch');
    await impostor.stop();
    await victim.start();
    await waitUntil('the member to rejoin', 15_000, async () => (await victim.status()).leader === leader.id);
  });

  it('strangers initialised as members of their own group (right secret, unknown ids) are refused', async () => {
    const leader = await cluster.waitLeader();
    const { term } = await leader.status();
    // Masters 4 and 5 list the group and themselves as voters: initialised, they campaign for a group of four.
    const strangers = [cluster.master(4), cluster.master(5)];
    for (const s of strangers) {
      await s.init();
      await s.start();
    }
    await expectUndisturbed(leader.id, term, async () => {
      for (let i = 0; i < 20; i++) await c.create(dir, `x${i}`).then(() => sleep(100));
    });
    for (const s of strangers) {
      const st = await s.status();
      assert.notEqual(st.role, 'leader');
      assert.equal(st.lastIndex, 0, `master ${s.id} received no entries`);
    }
    assert.ok(await logSays(leader, /node id [45] is not a configured peer/), 'the leader logs the unknown peer');
    for (const s of strangers) await s.stop();
  });

  it('garbage on every port of every master leaves every process serving', async () => {
    const leader = await cluster.waitLeader();
    const { term } = await leader.status();
    const members = cluster.masters.filter((m) => m.id <= 3);
    const half = header(FrameType.ClientRequest, 64 * 1024);
    const httpJunk = [
      Buffer.from('GARBAGE / HTTP/1.1\r\n\r\n'),
      Buffer.from('GET /status HTTP/9.9\r\nHost: x\r\n\r\n'),
      Buffer.from(`GET /${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`),
      Buffer.from(`GET /status HTTP/1.1\r\nX-Big: ${'b'.repeat(200_000)}\r\n\r\n`),
      Buffer.from(`POST /admin/snapshot HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${cluster.adminToken}\r\nContent-Length: 999999999\r\n\r\n{"a":`),
      Buffer.from(`POST /admin/snapshot HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${cluster.adminToken}\r\nContent-Length: 9\r\n\r\n{not json`),
      Buffer.from(`POST /admin/add-learner HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${cluster.adminToken}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`),
    ];
    for (let round = 0; round < 2; round++) {
      for (const m of members) {
        for (const port of [m.peerPort, m.clientPort, m.adminPort]) {
          await poke(port, [randomBytes(4096)]);
          await poke(port, [randomBytes(7)], 50);
          await poke(port, [header(FrameType.ClientRequest, 0xffff_ffff)]);
          await poke(port, [header(FrameType.ClientHello, 0xffff_ffff)]);
          await poke(port, [header(FrameType.Message, 0x7fff_ffff), randomBytes(1000)]);
          await poke(port, [half, randomBytes(30_000)], 50);
          await poke(port, [half.subarray(0, FRAME_HEADER_BYTES / 2)], 50);
          await poke(port, [Buffer.concat([header(FrameType.ClientRequest, 10), randomBytes(10)])]);
          await poke(port, [Buffer.concat([encodeFrameHeader(FrameType.ClientRequest, Buffer.from([1, 3, 0, 0, 0, 9, 0, 7])), Buffer.from([1, 3, 0, 0, 0, 9, 0, 7])])]);
          for (const j of httpJunk) await poke(port, [j], 100);
        }
        // Many connections at once on the peer port: each is closed, none takes the process down.
        await Promise.all(Array.from({ length: 50 }, () => poke(m.peerPort, [randomBytes(64)], 200)));
        await Promise.all(Array.from({ length: 50 }, () => poke(m.clientPort, [header(FrameType.ClientRequest, 1 << 30)], 200)));
      }
      for (const m of members) assert.ok(m.running, `master ${m.id} is alive`);
      await c.create(dir, `after-garbage-${round}`);
    }
    await expectUndisturbed(leader.id, term, async () => undefined);
    for (const m of members) {
      const h = await fetch(`${m.adminUrl}/health`);
      assert.equal(h.status, 200, `master ${m.id} healthy`);
    }
    // The client port answers a malformed request with BAD_REQUEST (keeping the request id), and the admin endpoint with 400.
    const truncated = Buffer.from([1, 3, 0, 0, 0, 9, 0, 7]);
    const answer = await poke(members[0]!.clientPort, [Buffer.concat([encodeFrameHeader(FrameType.ClientRequest, truncated), truncated])], 300);
    const decoder = new FrameDecoder(1 << 20);
    decoder.push(answer.received);
    const f = decoder.next();
    assert.ok(f !== undefined && f.type === FrameType.ClientResponse, 'an answer to the malformed request');
    const res = decodeResponse(f.payload);
    assert.ok(!res.ok && res.code === 'BAD_REQUEST' && res.id === 9, JSON.stringify(res));
    const bad = await cluster.masters[0]!.admin('snapshot', [] as unknown as Record<string, unknown>, cluster.adminToken);
    assert.equal(bad.status, 400);
  });
});
