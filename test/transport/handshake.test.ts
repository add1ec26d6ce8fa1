import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientHandshake, ServerHandshake, checkHandshakeConfig } from '../../src/transport/handshake.ts';
import type { HandshakeConfig } from '../../src/transport/handshake.ts';
import { FrameType } from '../../src/transport/frame.ts';
import type { Frame } from '../../src/transport/frame.ts';
import { TransportError } from '../../src/transport/errors.ts';

const SECRET = Buffer.from('0123456789abcdef0123456789abcdef');

function cfg(nodeId: number, over: Partial<HandshakeConfig> = {}): HandshakeConfig {
  return { clusterId: 'c1', nodeId, secret: SECRET, isPeer: (id) => id >= 1 && id <= 3, ...over };
}

function fails(fn: () => unknown, code: string, reason: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof TransportError && e.code === code && reason.test(e.message), `expected ${code} ${reason}`);
}

/** Runs the three-frame exchange; returns every frame that crossed and both results. */
function run(client: ClientHandshake, server: ServerHandshake): { wire: Frame[]; clientPeer: number | undefined; serverPeer: number | undefined } {
  const hello = client.start();
  const s1 = server.receive(hello);
  assert.equal(s1.peer, undefined);
  assert.equal(s1.send.length, 1);
  const c1 = client.receive(s1.send[0]!);
  const s2 = server.receive(c1.send[0]!);
  assert.equal(s2.send.length, 0);
  return { wire: [hello, s1.send[0]!, c1.send[0]!], clientPeer: c1.peer, serverPeer: s2.peer };
}

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(hay).indexOf(Buffer.from(needle)) >= 0;
}

describe('handshake', () => {
  test('both ends authenticate each other; the secret never crosses the wire', () => {
    const r = run(new ClientHandshake(cfg(1), 2), new ServerHandshake(cfg(2)));
    assert.equal(r.clientPeer, 2);
    assert.equal(r.serverPeer, 1);
    assert.deepEqual(r.wire.map((f) => f.type), [FrameType.ClientHello, FrameType.ServerHello, FrameType.ClientProof]);
    for (const f of r.wire) {
      assert.ok(!contains(f.payload, SECRET), 'secret on the wire');
      assert.ok(!contains(f.payload, SECRET.subarray(0, 8)), 'part of the secret on the wire');
    }
  });

  test('a different secret fails on the dialer, which never sends its proof', () => {
    const client = new ClientHandshake(cfg(1, { secret: Buffer.from('another secret of 32 bytes......') }), 2);
    const server = new ServerHandshake(cfg(2));
    const s1 = server.receive(client.start());
    fails(() => client.receive(s1.send[0]!), 'ERR_HANDSHAKE', /node 2 failed to prove the cluster secret/);
  });

  test('a different secret on the dialer alone is caught by the listener', () => {
    // A dialer that skips its own check (or an attacker that relays a genuine listener hello).
    const server = new ServerHandshake(cfg(2));
    const liar = new ClientHandshake(cfg(1, { secret: Buffer.from('another secret of 32 bytes......') }), 2);
    server.receive(liar.start());
    fails(() => server.receive({ type: FrameType.ClientProof, payload: Buffer.alloc(32, 1) }), 'ERR_HANDSHAKE', /node 1 failed to prove/);
  });

  test('a different cluster id is refused before any proof is sent', () => {
    const client = new ClientHandshake(cfg(1, { clusterId: 'other' }), 2);
    const server = new ServerHandshake(cfg(2));
    fails(() => server.receive(client.start()), 'ERR_HANDSHAKE', /cluster id mismatch: peer is in cluster "other", this node in "c1"/);
  });

  test('a node id that is not a configured peer is refused', () => {
    fails(() => new ServerHandshake(cfg(2)).receive(new ClientHandshake(cfg(7), 2).start()), 'ERR_HANDSHAKE', /node id 7 is not a configured peer/);
    // Nor may a dialer claim the listener's own id.
    fails(() => new ServerHandshake(cfg(2)).receive(new ClientHandshake(cfg(2), 2).start()), 'ERR_HANDSHAKE', /node id 2 is not a configured peer/);
  });

  test('a dialer that reaches the wrong node is told so, and tells so', () => {
    fails(() => new ServerHandshake(cfg(3)).receive(new ClientHandshake(cfg(1), 2).start()), 'ERR_HANDSHAKE', /node 1 dialed node 2 but this is node 3/);
    // A listener that answers as another node than the one dialed.
    const client = new ClientHandshake(cfg(1), 3);
    const server = new ServerHandshake(cfg(2));
    const hello = client.start();
    const rewritten = Buffer.from(hello.payload);
    rewritten.writeBigUInt64BE(2n, 10); // toId 3 -> 2, so this listener accepts it
    const s1 = server.receive({ type: FrameType.ClientHello, payload: rewritten });
    fails(() => client.receive(s1.send[0]!), 'ERR_HANDSHAKE', /dialed node 3 but node 2 answered/);
  });

  test('a replayed dialer proof fails against a fresh listener nonce', () => {
    const fixedNonce = (): Uint8Array => Buffer.alloc(32, 0xaa);
    const recorded = run(new ClientHandshake(cfg(1, { randomBytes: fixedNonce }), 2), new ServerHandshake(cfg(2)));
    assert.equal(recorded.serverPeer, 1);
    // The attacker replays the recorded hello and proof; the listener draws a new nonce.
    const server = new ServerHandshake(cfg(2));
    server.receive(recorded.wire[0]!);
    fails(() => server.receive(recorded.wire[2]!), 'ERR_HANDSHAKE', /node 1 failed to prove the cluster secret/);
  });

  test('a listener proof reflected back as a dialer proof fails (direction label)', () => {
    const server = new ServerHandshake(cfg(2));
    const s1 = server.receive(new ClientHandshake(cfg(1), 2).start());
    const listenerProof = s1.send[0]!.payload.subarray(s1.send[0]!.payload.byteLength - 32);
    fails(() => server.receive({ type: FrameType.ClientProof, payload: listenerProof }), 'ERR_HANDSHAKE', /failed to prove/);
  });

  test('a tampered transcript fails: the dialer checks the listener proof over what it received', () => {
    const client = new ClientHandshake(cfg(1), 2);
    const server = new ServerHandshake(cfg(2));
    const s1 = server.receive(client.start());
    const tampered = Buffer.from(s1.send[0]!.payload);
    tampered[tampered.length - 40]! ^= 1; // inside the listener's nonce
    fails(() => client.receive({ type: FrameType.ServerHello, payload: tampered }), 'ERR_HANDSHAKE', /failed to prove/);
  });

  test('frames out of order or malformed are refused', () => {
    fails(() => new ServerHandshake(cfg(2)).receive({ type: FrameType.Message, payload: Buffer.alloc(30) }), 'ERR_PROTOCOL', /a Raft message from the dialer, before the handshake completed/);
    fails(() => new ServerHandshake(cfg(2)).receive({ type: FrameType.ClientHello, payload: Buffer.alloc(5) }), 'ERR_BAD_FRAME', /truncated/);
    const hello = new ClientHandshake(cfg(1), 2).start();
    fails(() => new ServerHandshake(cfg(2)).receive({ type: FrameType.ClientHello, payload: Buffer.concat([hello.payload, Buffer.alloc(1)]) }), 'ERR_BAD_FRAME', /expected/);
    const v2 = Buffer.from(hello.payload);
    v2.writeUInt16BE(2, 0);
    fails(() => new ServerHandshake(cfg(2)).receive({ type: FrameType.ClientHello, payload: v2 }), 'ERR_HANDSHAKE', /handshake version 2/);
    const server = new ServerHandshake(cfg(2));
    server.receive(hello);
    fails(() => server.receive(hello), 'ERR_PROTOCOL', /a frame of type 1 from the dialer/);
    fails(() => server.receive({ type: FrameType.ClientProof, payload: Buffer.alloc(31) }), 'ERR_BAD_FRAME', /proof is 31 bytes/);
  });

  test('options are validated with a message that says what to write', () => {
    const bad = (c: Partial<HandshakeConfig>, re: RegExp): void =>
      assert.throws(() => checkHandshakeConfig({ ...cfg(1), ...c }), (e: unknown) => e instanceof TransportError && e.code === 'ERR_BAD_OPTIONS' && re.test(e.message));
    bad({ secret: Buffer.from('short') }, /at least 16 bytes; generate one with `openssl rand -hex 32`/);
    bad({ clusterId: '' }, /non-empty/);
    bad({ clusterId: 'x'.repeat(129) }, /at most 128 bytes/);
    bad({ nodeId: 0 }, /positive integer/);
  });
});
