import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TransportTlsOptions } from '../../src/transport/transport.ts';
import { FrameType, encodeFrame } from '../../src/transport/frame.ts';
import { RawPeer, Signal, addressOf, closeAll, heartbeat, snapshotChunk, startNode } from './helpers.ts';
import type { TestNode } from './helpers.ts';

// Certificates are made here with the openssl CLI: a throw-away CA, a certificate it signs for
// 127.0.0.1 (used by every node, as both server and client), and a second CA with its own
// certificate for a node that is not part of the cluster's PKI.

const signal = new Signal();
let dir = '';
let good: TransportTlsOptions;
let rogue: TransportTlsOptions;

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makePki(name: string): TransportTlsOptions {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}-ca.key`, '-out', `${name}-ca.crt`, '-days', '2', '-subj', `/CN=${name} test CA`);
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name} node`);
  fs.writeFileSync(path.join(dir, `${name}.ext`), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${name}-ca.crt`, '-CAkey', `${name}-ca.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
  const read = (f: string): string => fs.readFileSync(path.join(dir, f), 'utf8');
  return { key: read(`${name}.key`), cert: read(`${name}.crt`), ca: read(`${name}-ca.crt`) };
}

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mooseng-tls-'));
  good = makePki('cluster');
  rogue = makePki('rogue');
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('transport over TLS', () => {
  let nodes: TestNode[] = [];
  after(() => closeAll(nodes));

  test('two nodes with certificates from the cluster CA exchange messages both ways', async () => {
    const a = await startNode(signal, 1, { tls: good });
    const b = await startNode(signal, 2, { tls: good });
    nodes.push(a, b);
    a.t.setPeers([addressOf(b)]);
    b.t.setPeers([addressOf(a)]);
    a.t.send(heartbeat(1, 2, 1));
    a.t.send(snapshotChunk(1, 2, 2 * 1024 * 1024, 5));
    a.t.send(heartbeat(1, 2, 2));
    b.t.send(heartbeat(2, 1, 7));
    await signal.until(() => b.inbox.length === 3 && a.inbox.length === 1, 'delivery over TLS');
    assert.deepEqual(b.inbox.map(({ m }) => m.type), ['heartbeat', 'snapshot', 'heartbeat']);
    assert.deepEqual(b.inbox[1]!.m, snapshotChunk(1, 2, 2 * 1024 * 1024, 5));
    assert.equal(a.inbox[0]!.m.type === 'heartbeat' && a.inbox[0]!.m.commit, 7);
    assert.ok(a.logger.entries.some((e) => e.msg === 'transport listening' && e.obj['tls'] === true));
  });

  test('a plaintext client on a TLS port is refused and delivers nothing', async () => {
    const a = await startNode(signal, 1, { tls: good, peers: [{ id: 2, host: '127.0.0.1', port: 1 }] });
    nodes.push(a);
    const raw = await RawPeer.connect(signal, a.port);
    raw.write(encodeFrame(FrameType.Message, Buffer.alloc(64)));
    await signal.until(() => raw.closed, 'the plaintext connection is closed');
    await signal.until(() => a.logger.find('warn', /TLS handshake with an inbound connection failed/) !== undefined, 'the refusal is logged');
    assert.equal(a.inbox.length, 0);
    assert.equal(a.t.stats().rejectedConnections, 1);
  });

  test('a node whose certificate another CA signed is refused, though it knows the secret', async () => {
    const a = await startNode(signal, 1, { tls: good });
    const intruder = await startNode(signal, 2, { tls: rogue });
    nodes.push(a, intruder);
    a.t.setPeers([addressOf(intruder)]);
    intruder.t.setPeers([addressOf(a)]);
    intruder.t.send(heartbeat(2, 1, 1));
    a.t.send(heartbeat(1, 2, 1));
    await signal.until(() => a.logger.find('warn', /TLS handshake with an inbound connection failed/) !== undefined, 'A refuses the intruder');
    await signal.until(() => intruder.logger.find('warn', /TLS handshake with an inbound connection failed/) !== undefined, 'the intruder refuses A');
    // The dialer's side: verifying the intruder's server certificate fails.
    await signal.until(() => a.logger.entries.some((e) => e.level === 'warn' && e.obj['peer'] === 2 && /CERT|SIGNATURE|SSL/.test(String(e.obj['code']))), 'A refuses the intruder as a server');
    assert.equal(a.inbox.length + intruder.inbox.length, 0);
    assert.equal(a.connected.length + intruder.connected.length, 0);
  });
});
