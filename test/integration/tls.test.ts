/**
 * Masters configured with [tls] talk to each other over mutual TLS (with the secret handshake
 * inside it); a master of the same cluster without TLS cannot join them.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rootInode } from '../../src/master/limits.ts';
import { Cluster, sleep } from './harness.ts';

const pki = mkdtempSync(join(tmpdir(), 'mooseng-it-tls-'));
const openssl = (...args: string[]): void => {
  execFileSync('openssl', args, { cwd: pki, stdio: ['ignore', 'ignore', 'pipe'] });
};

describe('masters over TLS', { timeout: 90_000 }, () => {
  let cluster: Cluster;

  before(async () => {
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=mooseng test CA');
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'master.key', '-out', 'master.csr', '-subj', '/CN=mooseng master');
    writeFileSync(join(pki, 'master.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
    openssl('x509', '-req', '-in', 'master.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'master.crt', '-days', '2', '-extfile', 'master.ext');
    cluster = await Cluster.create({
      voters: 3,
      tls: { certFile: join(pki, 'master.crt'), keyFile: join(pki, 'master.key'), caFile: join(pki, 'ca.crt') },
    });
    await cluster.bootstrap(3);
  });

  after(async () => {
    await cluster?.close();
    rmSync(pki, { recursive: true, force: true });
  });

  it('elects a leader and serves writes', async () => {
    const leader = await cluster.waitLeader();
    const c = await cluster.client();
    const dir = await c.mkdir(rootInode, 'tls');
    for (let i = 0; i < 50; i++) await c.create(dir.inode, `f${i}`);
    assert.equal((await c.readdir(dir.inode)).length, 50);
    const st = await leader.status();
    assert.ok(st.commit > 50);
  });

  it('refuses a master of the same cluster that speaks plaintext', async () => {
    // A follower is replaced (killing the leader would start an election, and a new term, by itself).
    const leaderBefore = await cluster.waitLeader();
    const victim = cluster.masters.find((m) => m.id !== leaderBefore.id)!;
    const before = await leaderBefore.status();
    await victim.kill9();
    const plain = await cluster.variant(victim.id, 'plaintext', (c) => ({ ...c, tls: undefined }));
    await plain.start();
    const c = await cluster.client();
    const dir = await c.mkdir(rootInode, 'while-plaintext');
    for (let i = 0; i < 20; i++) await c.create(dir.inode, `g${i}`);
    await sleep(1000);
    const leader = await cluster.waitLeader(10_000, cluster.masters.filter((m) => m.id !== victim.id));
    const st = await leader.status();
    assert.equal(st.term, before.term, 'the group kept its term');
    const own = await plain.status();
    assert.notEqual(own.role, 'leader', 'the plaintext master did not take over');
    assert.ok(own.applied < st.commit, `the plaintext master received nothing new (applied ${own.applied}, commit ${st.commit})`);
    assert.equal(leader.id, leaderBefore.id, 'the leader stayed');
    assert.ok(st.progress.find((p) => p.id === victim.id)!.match < st.commit, 'the leader replicated nothing to it');
    await plain.kill9();
  });
});
