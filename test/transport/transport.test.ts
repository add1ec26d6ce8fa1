import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { Transport, reconnectDelayMs } from '../../src/transport/transport.ts';
import { TransportError } from '../../src/transport/errors.ts';
import { FrameType, encodeFrame } from '../../src/transport/frame.ts';
import { encodeMessage } from '../../src/transport/message-codec.ts';
import { CLUSTER, HOST, RawPeer, SECRET, Signal, StalledListener, addressOf, closeAll, deadPort, heartbeat, snapshotChunk, startCluster, startNode, turn } from './helpers.ts';
import type { TestNode } from './helpers.ts';

const signal = new Signal();
let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});
function track(nodes: TestNode[]): TestNode[] {
  cleanups.push(() => closeAll(nodes));
  return nodes;
}

function inboxFrom(n: TestNode, from: number): number[] {
  return n.inbox.filter((x) => x.from === from && x.m.type === 'heartbeat').map((x) => (x.m.type === 'heartbeat' ? x.m.commit : -1));
}

describe('transport', () => {
  test('delivers both ways among three nodes, in order per peer', async () => {
    const nodes = track(await startCluster(signal, 3));
    const PER_PAIR = 50;
    for (let seq = 1; seq <= PER_PAIR; seq++) {
      for (const a of nodes) for (const b of nodes) if (a !== b) assert.equal(a.t.send(heartbeat(a.id, b.id, seq)), true);
    }
    await signal.until(() => nodes.every((n) => n.inbox.length === 2 * PER_PAIR), 'every message delivered');
    const expected = Array.from({ length: PER_PAIR }, (_, i) => i + 1);
    for (const n of nodes) {
      for (const p of nodes) if (p !== n) assert.deepEqual(inboxFrom(n, p.id), expected, `${p.id} -> ${n.id}`);
      for (const { from, m } of n.inbox) {
        assert.equal(m.from, from);
        assert.equal(m.to, n.id);
      }
      const s = n.t.stats();
      assert.equal(s.sent, 2 * PER_PAIR);
      assert.equal(s.received, 2 * PER_PAIR);
      assert.equal(s.dropped, 0);
      assert.ok(s.bytesSent > 0 && s.bytesReceived > 0);
      assert.ok(s.peers.every((p) => p.connectedOut && p.connectedIn && p.queuedMessages === 0));
      // One outbound and one inbound connection per peer.
      assert.equal(n.connected.filter((c) => c.direction === 'outbound').length, 2);
      assert.equal(n.connected.filter((c) => c.direction === 'inbound').length, 2);
    }
  });

  test('multi-MiB snapshot chunks and many small messages keep their order', async () => {
    const [a, b, c] = track(await startCluster(signal, 3));
    const sent: string[] = [];
    const sizes = [6 * 1024 * 1024, 3 * 1024 * 1024 + 17, 8 * 1024 * 1024];
    let seq = 0;
    for (let round = 0; round < sizes.length; round++) {
      for (let i = 0; i < 300; i++) {
        seq++;
        a!.t.send(heartbeat(1, 2, seq));
        a!.t.send(heartbeat(1, 3, seq));
        sent.push(`hb${seq}`);
      }
      a!.t.send(snapshotChunk(1, 2, sizes[round]!, round));
      sent.push(`snap${round}`);
    }
    await signal.until(() => b!.inbox.length === sent.length && c!.inbox.length === seq, 'all delivered', 20_000);
    const got = b!.inbox.map(({ m }) => (m.type === 'heartbeat' ? `hb${m.commit}` : m.type === 'snapshot' ? `snap${m.chunk[m.chunk.length - 1]}` : m.type));
    assert.deepEqual(got, sent);
    for (const { m } of b!.inbox) {
      if (m.type !== 'snapshot') continue;
      const round = m.chunk[m.chunk.length - 1]!;
      assert.deepEqual(m, snapshotChunk(1, 2, sizes[round]!, round));
    }
    assert.deepEqual(inboxFrom(c!, 1), Array.from({ length: seq }, (_, i) => i + 1));
  });

  test('reconnects after the remote restarts; messages queued meanwhile are delivered', async () => {
    const [a, b] = await startCluster(signal, 2);
    const nodes = [a!, b!];
    cleanups.push(() => closeAll(nodes));
    a!.t.send(heartbeat(1, 2, 1));
    await signal.until(() => b!.inbox.length === 1, 'first delivery');
    const port = b!.port;
    await b!.t.close();
    await signal.until(() => a!.disconnected.some((d) => d.peer === 2 && d.direction === 'outbound'), 'A sees its connection to B lost');
    // The hook for fast failover: B's own connection to A closed with B's process.
    await signal.until(() => a!.disconnected.some((d) => d.peer === 2 && d.direction === 'inbound'), 'A sees B\'s connection to it lost');
    // Sent while B is down: queued (bounded), then delivered to the restarted B.
    a!.t.send(heartbeat(1, 2, 2));
    const b2 = await startNode(signal, 2, { listen: { host: HOST, port } });
    nodes[1] = b2;
    b2.t.setPeers([addressOf(a!)]);
    a!.t.send(heartbeat(1, 2, 3));
    await signal.until(() => b2.inbox.length === 2, 'delivery to the restarted node');
    assert.deepEqual(inboxFrom(b2, 1), [2, 3]);
    const peer = a!.t.stats().peers[0]!;
    assert.equal(peer.reconnects, 1);
    assert.ok(peer.dialAttempts >= 2);
    // And the restarted node's messages reach A over its new connection.
    b2.t.send(heartbeat(2, 1, 9));
    await signal.until(() => inboxFrom(a!, 2).includes(9), 'delivery from the restarted node');
  });

  test('a restarted peer that dials in cuts short our backoff: we dial it back at once', async () => {
    // Backoff long enough that only the inbound connection can explain a prompt redial.
    const slow = { reconnectBaseMs: 60_000, reconnectMaxMs: 60_000 };
    const [a, b] = await startCluster(signal, 2, slow);
    const nodes = [a!, b!];
    cleanups.push(() => closeAll(nodes));
    a!.t.send(heartbeat(1, 2, 1));
    await signal.until(() => b!.inbox.length === 1, 'first delivery');
    const port = b!.port;
    await b!.t.close();
    await signal.until(() => a!.disconnected.some((d) => d.peer === 2 && d.direction === 'outbound'), 'A sees its connection to B lost');
    // A's link now waits 30-60 s before dialling B again.
    const attempts = a!.t.stats().peers[0]!.dialAttempts;
    assert.equal(attempts, 1);
    const b2 = await startNode(signal, 2, { ...slow, listen: { host: HOST, port } });
    nodes[1] = b2;
    b2.t.setPeers([addressOf(a!)]);
    b2.t.send(heartbeat(2, 1, 7));
    await signal.until(() => inboxFrom(a!, 2).includes(7), 'B2 reaches A');
    a!.t.send(heartbeat(1, 2, 8));
    await signal.until(() => inboxFrom(b2, 1).includes(8), 'A reaches B2 without waiting out its backoff', 5_000);
    assert.equal(a!.t.stats().peers[0]!.dialAttempts, attempts + 1);
  });

  test('reconnects after the remote drops the connection without restarting', async () => {
    const [a, b] = track(await startCluster(signal, 2));
    await signal.until(() => a!.t.stats().peers[0]!.connectedOut && b!.t.stats().peers[0]!.connectedIn, 'connected');
    // B removes A and adds it back: every connection between them is dropped.
    b!.t.setPeers([]);
    await signal.until(() => a!.disconnected.length >= 1, 'A sees the drop');
    b!.t.setPeers([addressOf(a!)]);
    await signal.until(() => a!.t.stats().reconnects >= 1, 'A reconnects');
    a!.t.send(heartbeat(1, 2, 5));
    await signal.until(() => inboxFrom(b!, 1).includes(5), 'delivery after the reconnect');
  });

  test('a newer inbound connection from the same peer replaces the older one', async () => {
    const a = await startNode(signal, 1, { peers: [{ id: 2, host: HOST, port: await deadPort() }] });
    track([a]);
    const first = await RawPeer.connect(signal, a.port);
    await first.authenticate(2, 1);
    await signal.until(() => a.connected.some((c) => c.peer === 2 && c.direction === 'inbound'), 'first accepted');
    first.write(encodeFrame(FrameType.Message, encodeMessage(heartbeat(2, 1, 1))));
    await signal.until(() => a.inbox.length === 1, 'delivery on the first connection');
    const second = await RawPeer.connect(signal, a.port);
    cleanups.push(() => {
      first.destroy();
      second.destroy();
    });
    await second.authenticate(2, 1);
    await signal.until(() => first.closed, 'the first connection is closed');
    assert.ok(a.logger.find('info', /replaced by a newer connection/));
    assert.equal(a.disconnected.length, 0, 'a replacement is not a lost peer');
    second.write(encodeFrame(FrameType.Message, encodeMessage(heartbeat(2, 1, 2))));
    await signal.until(() => a.inbox.length === 2, 'delivery on the second connection');
  });

  test('a synchronous burst to a peer leaves in one write batch: one cork, one writev, order kept', async () => {
    const [a, b] = track(await startCluster(signal, 2));
    // Connected and idle: nothing of the handshake is still in the socket.
    await signal.until(() => {
      const p = a!.t.stats().peers[0]!;
      return p.connectedOut && p.socketBufferedBytes === 0;
    }, 'connected');
    const before = a!.t.stats().peers[0]!;
    // Count what reaches A's outbound socket (the only socket whose remote port is B's listener).
    const proto = net.Socket.prototype;
    const orig = { cork: proto.cork, uncork: proto.uncork, write: proto._write, writev: proto._writev! };
    const calls = { cork: 0, uncork: 0, write: 0, writev: 0, writevChunks: 0 };
    const mine = (s: net.Socket): boolean => s.remotePort === b!.port;
    proto.cork = function (this: net.Socket) {
      if (mine(this)) calls.cork++;
      orig.cork.call(this);
    };
    proto.uncork = function (this: net.Socket) {
      if (mine(this)) calls.uncork++;
      orig.uncork.call(this);
    };
    proto._write = function (this: net.Socket, ...args: Parameters<typeof orig.write>) {
      if (mine(this)) calls.write++;
      orig.write.apply(this, args);
    };
    proto._writev = function (this: net.Socket, ...args: Parameters<typeof orig.writev>) {
      if (mine(this)) {
        calls.writev++;
        calls.writevChunks += args[0].length;
      }
      orig.writev.apply(this, args);
    };
    const N = 100; // ~7 KiB of frames: under the socket's 16 KiB high-water mark, so no 'drain' wait
    try {
      for (let seq = 1; seq <= N; seq++) assert.equal(a!.t.send(heartbeat(1, 2, seq)), true);
      // Queued, not written yet: the flush runs once the synchronous burst is over.
      let p = a!.t.stats().peers[0]!;
      assert.equal(p.queuedMessages, N);
      assert.equal(p.sent, before.sent);
      assert.equal(p.flushes, before.flushes);
      assert.equal(calls.cork, 0);
      await Promise.resolve();
      p = a!.t.stats().peers[0]!;
      assert.equal(p.queuedMessages, 0);
      assert.equal(p.sent, before.sent + N);
      assert.equal(p.flushes, before.flushes + 1);
      assert.deepEqual(calls, { cork: 1, uncork: 1, write: 0, writev: 1, writevChunks: 2 * N });
    } finally {
      Object.assign(proto, { cork: orig.cork, uncork: orig.uncork, _write: orig.write, _writev: orig.writev });
    }
    await signal.until(() => b!.inbox.length === N, 'the burst delivered');
    assert.deepEqual(inboxFrom(b!, 1), Array.from({ length: N }, (_, i) => i + 1));
    assert.equal(a!.t.stats().flushes, before.flushes + 1);
    assert.equal(b!.t.stats().peers[0]!.bytesReceived, a!.t.stats().peers[0]!.bytesSent);
  });

  test('one flush per peer per event-loop turn, however the sends to peers interleave', async () => {
    const [a, b, c] = track(await startCluster(signal, 3));
    await signal.until(() => a!.t.stats().peers.every((p) => p.connectedOut && p.socketBufferedBytes === 0), 'connected');
    const flushes = (): number[] => a!.t.stats().peers.map((p) => p.flushes);
    const before = flushes();
    const TURNS = 5;
    const PER_TURN = 20;
    let seq = 0;
    for (let t = 0; t < TURNS; t++) {
      for (let i = 0; i < PER_TURN; i++) {
        seq++;
        a!.t.send(heartbeat(1, 2, seq));
        a!.t.send(heartbeat(1, 3, seq));
      }
      await turn();
    }
    assert.deepEqual(flushes(), before.map((f) => f + TURNS));
    await signal.until(() => b!.inbox.length === seq && c!.inbox.length === seq, 'all delivered');
    const expected = Array.from({ length: seq }, (_, i) => i + 1);
    assert.deepEqual(inboxFrom(b!, 1), expected);
    assert.deepEqual(inboxFrom(c!, 1), expected);
    assert.equal(a!.t.stats().sent, 2 * seq);
  });

  test('a burst to a connected peer is bounded at enqueue time, under either policy', async () => {
    for (const policy of ['dropNewest', 'dropOldest'] as const) {
      const [a, b] = await startCluster(signal, 2, { maxQueueMessages: 10, queueFullPolicy: policy });
      track([a!, b!]);
      await signal.until(() => a!.t.stats().peers[0]!.connectedOut, 'connected');
      let accepted = 0;
      for (let seq = 1; seq <= 25; seq++) if (a!.t.send(heartbeat(1, 2, seq))) accepted++;
      assert.equal(accepted, policy === 'dropNewest' ? 10 : 25);
      assert.equal(a!.t.stats().peers[0]!.dropped, 15);
      await signal.until(() => b!.inbox.length === 10, `${policy}: delivered`);
      assert.deepEqual(inboxFrom(b!, 1), policy === 'dropOldest' ? [16, 17, 18, 19, 20, 21, 22, 23, 24, 25] : [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      const p = a!.t.stats().peers[0]!;
      assert.equal(p.sent, 10);
      assert.equal(p.sent + p.dropped, 25);
      await closeAll([a!, b!]);
    }
  });

  test('close() with a flush pending writes nothing and leaves nothing scheduled', async () => {
    const [a, b] = await startCluster(signal, 2);
    track([b!]);
    await signal.until(() => a!.t.stats().peers[0]!.connectedOut, 'connected');
    const sentBefore = a!.t.stats().sent;
    for (let seq = 1; seq <= 10; seq++) a!.t.send(heartbeat(1, 2, seq));
    const closed = a!.t.close();
    await turn();
    const s = a!.t.stats();
    assert.equal(s.sent, sentBefore);
    assert.equal(s.peers[0]!.queuedMessages, 0);
    await closed;
    assert.equal(b!.inbox.length, 0);
  });

  test('a peer that stops reading: the queue stays bounded and drops are counted', async () => {
    const stalled = new StalledListener(signal, 2);
    await stalled.start();
    cleanups.push(() => stalled.close());
    const MAX_QUEUE = 1024 * 1024;
    const a = await startNode(signal, 1, { peers: [{ id: 2, host: HOST, port: stalled.port }], maxQueueBytes: MAX_QUEUE, maxQueueMessages: 100_000 });
    track([a]);
    await signal.until(() => stalled.authenticated === 1 && a.t.stats().peers[0]!.connectedOut, 'authenticated');
    const CHUNK = 64 * 1024;
    const msg = snapshotChunk(1, 2, CHUNK, 1);
    let offered = 0;
    let accepted = 0;
    // ~128 MiB offered over many event-loop turns, so the socket can drain what the kernel takes.
    for (let round = 0; round < 64; round++) {
      for (let i = 0; i < 32; i++) {
        offered++;
        if (a.t.send(msg)) accepted++;
      }
      await turn();
      const p = a.t.stats().peers[0]!;
      assert.ok(p.queuedBytes <= MAX_QUEUE, `queue ${p.queuedBytes} over its limit`);
      assert.ok(p.socketBufferedBytes <= CHUNK + 1024 + 16 * 1024, `socket buffer ${p.socketBufferedBytes}`);
    }
    const p = a.t.stats().peers[0]!;
    assert.ok(p.dropped > 0);
    assert.equal(p.dropped, offered - accepted);
    assert.equal(p.sent + p.queuedMessages + p.dropped, offered);
    // What left the process is bounded by the kernel's socket buffers, far below what was offered.
    assert.ok(p.bytesSent < 48 * 1024 * 1024, `sent ${p.bytesSent} bytes to a peer that reads nothing`);
    assert.ok(p.queuedMessages > 0 && p.queuedMessages <= Math.floor(MAX_QUEUE / CHUNK));
  });

  test('dropOldest keeps the newest messages; dropNewest keeps the oldest', async () => {
    for (const policy of ['dropOldest', 'dropNewest'] as const) {
      const port = await deadPort();
      const a = await startNode(signal, 1, { peers: [{ id: 2, host: HOST, port }], maxQueueMessages: 10, queueFullPolicy: policy });
      track([a]);
      for (let seq = 1; seq <= 25; seq++) a.t.send(heartbeat(1, 2, seq));
      const p = a.t.stats().peers[0]!;
      assert.equal(p.queuedMessages, 10);
      assert.equal(p.dropped, 15);
      // Now bring up node 2 at that port: what was queued is delivered, and only that.
      const b = await startNode(signal, 2, { listen: { host: HOST, port }, peers: [addressOf(a)] });
      track([b]);
      await signal.until(() => b.inbox.length === 10, `${policy}: the queue delivered`);
      const expected = policy === 'dropOldest' ? [16, 17, 18, 19, 20, 21, 22, 23, 24, 25] : [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
      assert.deepEqual(inboxFrom(b, 1), expected);
      await closeAll([a, b]);
    }
  });

  test('a stopped peer: the queue is bounded while dials fail and back off', async () => {
    const a = await startNode(signal, 1, { peers: [{ id: 2, host: HOST, port: await deadPort() }], maxQueueMessages: 8, maxQueueBytes: 4096 });
    track([a]);
    for (let seq = 1; seq <= 100; seq++) a.t.send(heartbeat(1, 2, seq));
    assert.equal(a.t.send(snapshotChunk(1, 2, 8192, 0)), false, 'a message larger than the whole queue is dropped');
    await signal.until(() => a.t.stats().peers[0]!.dialAttempts >= 3, 'repeated dial attempts');
    const p = a.t.stats().peers[0]!;
    assert.equal(p.queuedMessages, 8);
    assert.equal(p.dropped, 93);
    assert.equal(p.sent, 0);
  });

  test('a wrong secret is refused both ways and delivers nothing', async () => {
    const a = await startNode(signal, 1);
    const bad = await startNode(signal, 2, { clusterSecret: 'a different secret, long enough' });
    track([a, bad]);
    a.t.setPeers([addressOf(bad)]);
    bad.t.setPeers([addressOf(a)]);
    a.t.send(heartbeat(1, 2, 1));
    bad.t.send(heartbeat(2, 1, 1));
    await signal.until(() => a.logger.find('warn', /node 2 failed to prove the cluster secret/) !== undefined, 'A refuses B');
    await signal.until(() => bad.logger.find('warn', /node 1 failed to prove the cluster secret/) !== undefined, 'B refuses A');
    assert.equal(a.inbox.length + bad.inbox.length, 0);
    assert.equal(a.connected.length + bad.connected.length, 0);
    assert.equal(a.t.stats().sent + bad.t.stats().sent, 0);
  });

  test('a wrong cluster id and an unknown node id are refused by the listener', async () => {
    const a = await startNode(signal, 1);
    const other = await startNode(signal, 2, { clusterId: 'another-cluster' });
    const stranger = await startNode(signal, 9);
    track([a, other, stranger]);
    a.t.setPeers([addressOf(other)]);
    other.t.setPeers([addressOf(a)]);
    stranger.t.setPeers([addressOf(a)]);
    other.t.send(heartbeat(2, 1, 1));
    stranger.t.send(heartbeat(9, 1, 1));
    await signal.until(() => a.logger.find('warn', /cluster id mismatch: peer is in cluster "another-cluster", this node in "test-cluster"/) !== undefined, 'cluster id refused');
    await signal.until(() => a.logger.find('warn', /node id 9 is not a configured peer/) !== undefined, 'unknown node refused');
    assert.equal(a.inbox.length, 0);
    assert.ok(a.t.stats().rejectedConnections >= 2);
  });

  const hostile: [string, (raw: RawPeer) => Promise<void> | void, RegExp, string][] = [
    ['garbage bytes', (raw) => raw.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), /bad frame magic/, 'ERR_BAD_FRAME'],
    [
      'an oversized length before the handshake',
      (raw) => raw.write(encodeFrame(FrameType.ClientHello, Buffer.alloc(4096)).subarray(0, 20)),
      /announces 4096 payload bytes, more than the limit/,
      'ERR_FRAME_TOO_LARGE',
    ],
    [
      'a bad checksum',
      (raw) => {
        const f = encodeFrame(FrameType.ClientHello, Buffer.alloc(60, 1));
        f[f.length - 1]! ^= 0xff;
        raw.write(f);
      },
      /payload checksum mismatch/,
      'ERR_BAD_FRAME',
    ],
    ['a Raft message before the handshake', (raw) => raw.write(encodeFrame(FrameType.Message, encodeMessage(heartbeat(2, 1, 1)))), /a Raft message from the dialer, before the handshake/, 'ERR_PROTOCOL'],
    [
      'an oversized frame after the handshake',
      async (raw) => {
        await raw.authenticate(4, 1);
        raw.write(encodeFrame(FrameType.Message, Buffer.alloc(70_000)).subarray(0, 20));
      },
      /announces 70000 payload bytes, more than the limit of 65536/,
      'ERR_FRAME_TOO_LARGE',
    ],
    [
      'a malformed message after the handshake',
      async (raw) => {
        await raw.authenticate(4, 1);
        raw.write(encodeFrame(FrameType.Message, Buffer.from([1, 3, 0, 0])));
      },
      /message of 4 bytes is shorter than its 26-byte header/,
      'ERR_BAD_FRAME',
    ],
    [
      'a message that claims another sender',
      async (raw) => {
        await raw.authenticate(4, 1);
        raw.write(encodeFrame(FrameType.Message, encodeMessage(heartbeat(3, 1, 1))));
      },
      /message 3->1 on the connection of authenticated node 4/,
      'ERR_PROTOCOL',
    ],
    ['silence (handshake timeout)', () => {}, /handshake not completed within 300 ms/, 'ERR_HANDSHAKE'],
  ];

  for (const [name, act, reason, code] of hostile) {
    test(`${name}: the connection is closed with a logged reason; others are still served`, async () => {
      const [a, b, c] = track(await startCluster(signal, 3, { handshakeTimeoutMs: 300, maxFramePayloadBytes: 65_536 }));
      // The raw socket authenticates as node 4, configured on A but not running (so no real node races it).
      a!.t.setPeers([addressOf(b!), addressOf(c!), { id: 4, host: HOST, port: await deadPort() }]);
      const raw = await RawPeer.connect(signal, a!.port);
      cleanups.push(() => raw.destroy());
      await act(raw);
      await signal.until(() => raw.closed, 'the hostile connection is closed', 3000);
      const entry = a!.logger.find('warn', reason);
      assert.ok(entry, `no warning matching ${reason} in ${JSON.stringify(a!.logger.entries.map((e) => [e.msg, e.obj['reason']]))}`);
      assert.equal(entry.obj['code'], code);
      assert.equal(a!.inbox.length, 0, 'nothing from the hostile connection was delivered');
      // Only real peers' messages were delivered, and the node keeps serving them.
      b!.t.send(heartbeat(2, 1, 42));
      c!.t.send(heartbeat(3, 1, 43));
      await signal.until(() => inboxFrom(a!, 2).includes(42) && inboxFrom(a!, 3).includes(43), 'delivery after the hostile connection');
      assert.ok(a!.inbox.every(({ from, m }) => m.from === from && (from === 2 || from === 3)));
    });
  }

  test('the dialer refuses anything the listener sends after the handshake', async () => {
    const stalled = new StalledListener(signal, 2);
    await stalled.start();
    cleanups.push(() => stalled.close());
    const a = await startNode(signal, 1, { peers: [{ id: 2, host: HOST, port: stalled.port }] });
    track([a]);
    await signal.until(() => stalled.authenticated === 1 && a.t.stats().peers[0]!.connectedOut, 'authenticated');
    stalled.sockets[0]!.write(encodeFrame(FrameType.Message, encodeMessage(heartbeat(2, 1, 1))));
    await signal.until(() => a.logger.find('warn', /the listener sent a frame of type 4 after the handshake/) !== undefined, 'refused');
    assert.equal(a.inbox.length, 0);
    await signal.until(() => stalled.authenticated === 2, 'the dialer reconnects');
  });

  test('reconnect delays double up to the cap, jittered within [ceiling/2, ceiling]', () => {
    const low = { intBelow: () => 0 };
    const high = { intBelow: (n: number) => n - 1 };
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 40].map((k) => reconnectDelayMs(k, 50, 1000, low)), [25, 50, 100, 200, 400, 500, 500, 500]);
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 40].map((k) => reconnectDelayMs(k, 50, 1000, high)), [50, 100, 200, 400, 800, 1000, 1000, 1000]);
    const seen = new Set<number>();
    let x = 0;
    const spread = { intBelow: (n: number) => x++ % n };
    for (let i = 0; i < 201; i++) seen.add(reconnectDelayMs(3, 50, 1000, spread));
    assert.ok(seen.size > 100 && Math.min(...seen) === 200 && Math.max(...seen) === 400);
  });

  test('options are validated when given', () => {
    const base = { nodeId: 1, clusterId: CLUSTER, clusterSecret: SECRET, listen: { host: HOST, port: 0 }, onMessage: () => {} };
    const bad = (over: object, re: RegExp): void =>
      assert.throws(() => new Transport({ ...base, ...over }), (e: unknown) => e instanceof TransportError && e.code === 'ERR_BAD_OPTIONS' && re.test(e.message));
    bad({ clusterSecret: 'short' }, /at least 16 bytes/);
    bad({ peers: [{ id: 1, host: HOST, port: 1 }] }, /own id 1/);
    bad({ peers: [{ id: 2, host: HOST, port: 1 }, { id: 2, host: HOST, port: 2 }] }, /appears twice/);
    bad({ peers: [{ id: 2, host: HOST, port: 70000 }] }, /port 70000/);
    bad({ maxQueueBytes: 0 }, /maxQueueBytes = 0/);
    bad({ reconnectBaseMs: 100, reconnectMaxMs: 10 }, /reconnectMaxMs/);
    bad({ queueFullPolicy: 'dropRandom' }, /'dropNewest' or 'dropOldest'/);
  });

  test('close() leaves no socket or timer behind, and later calls fail clearly', async () => {
    const count = (kind: string, list: readonly string[]): number => list.filter((r) => r === kind).length;
    const baseline = process.getActiveResourcesInfo();
    const nodes = await startCluster(signal, 3, { peers: [] });
    const dead = await startNode(signal, 4, { peers: [{ id: 5, host: HOST, port: await deadPort() }] }); // a pending reconnect timer
    for (const n of nodes) n.t.send(heartbeat(n.id, (n.id % 3) + 1, 1));
    await signal.until(() => nodes.every((n) => n.inbox.length === 1), 'delivered');
    await signal.until(() => dead.t.stats().peers[0]!.dialAttempts >= 2, 'a reconnect timer has run');
    await closeAll([...nodes, dead]);
    const after = process.getActiveResourcesInfo();
    for (const kind of ['TCPSocketWrap', 'TCPServerWrap', 'Timeout']) {
      assert.ok(count(kind, after) <= count(kind, baseline), `${kind}: ${count(kind, after)} after close, ${count(kind, baseline)} before`);
    }
    assert.throws(() => nodes[0]!.t.send(heartbeat(1, 2, 2)), (e: unknown) => e instanceof TransportError && e.code === 'ERR_TRANSPORT_CLOSED');
    await nodes[0]!.t.close(); // idempotent
  });
});
