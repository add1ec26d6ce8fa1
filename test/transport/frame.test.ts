import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { crc32 } from 'node:zlib';
import { FRAME_HEADER_BYTES, FrameDecoder, FrameType, encodeFrame } from '../../src/transport/frame.ts';
import type { Frame } from '../../src/transport/frame.ts';
import { TransportError } from '../../src/transport/errors.ts';

const frameArb = fc.record({
  type: fc.constantFrom(FrameType.ClientHello, FrameType.ServerHello, FrameType.ClientProof, FrameType.Message),
  payload: fc.uint8Array({ maxLength: 2000 }),
});

function concat(frames: readonly Frame[]): Buffer {
  return Buffer.concat(frames.map((f) => encodeFrame(f.type, f.payload)));
}

/** Cuts `b` at the given points (taken modulo its length). */
function cut(b: Buffer, points: readonly number[]): Buffer[] {
  const at = [...new Set(points.map((p) => (b.length === 0 ? 0 : p % b.length)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of at) {
    out.push(b.subarray(prev, p));
    prev = p;
  }
  out.push(b.subarray(prev));
  return out;
}

function rejects(fn: () => unknown, code: string, reason: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof TransportError && e.code === code && reason.test(e.message));
}

function header(bytes: Buffer): Buffer {
  return Buffer.from(bytes.subarray(0, FRAME_HEADER_BYTES));
}

describe('frames', () => {
  test('frames survive arbitrary fragmentation, in order', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 30 }), (frames, points) => {
        const d = new FrameDecoder(4096);
        const got: Frame[] = [];
        for (const piece of cut(concat(frames), points)) got.push(...d.pushAll(piece));
        assert.equal(got.length, frames.length);
        got.forEach((f, i) => {
          assert.equal(f.type, frames[i]!.type);
          assert.deepEqual(new Uint8Array(f.payload), frames[i]!.payload);
        });
        assert.equal(d.buffered, 0);
      }),
      { numRuns: 300 },
    );
  });

  test('byte-at-a-time delivery of a large frame', () => {
    const payload = Buffer.alloc(70_000, 7);
    const b = encodeFrame(FrameType.Message, payload);
    const d = new FrameDecoder();
    const got: Frame[] = [];
    for (let i = 0; i < b.length; i++) got.push(...d.pushAll(b.subarray(i, i + 1)));
    assert.equal(got.length, 1);
    assert.ok(Buffer.from(got[0]!.payload).equals(payload));
  });

  test('an oversized length is refused from the header alone, before the payload is buffered', () => {
    const d = new FrameDecoder(1000);
    const b = encodeFrame(FrameType.Message, Buffer.alloc(1001));
    rejects(() => d.pushAll(header(b)), 'ERR_FRAME_TOO_LARGE', /announces 1001 payload bytes, more than the limit of 1000/);
    assert.equal(d.buffered, 0);
    // The decoder stays failed: the stream has lost its framing.
    rejects(() => d.pushAll(b.subarray(FRAME_HEADER_BYTES)), 'ERR_FRAME_TOO_LARGE', /1001/);
    // At the limit exactly, the frame passes.
    assert.equal(new FrameDecoder(1000).pushAll(encodeFrame(FrameType.Message, Buffer.alloc(1000))).length, 1);
  });

  test('the limit can be raised between frames of one chunk', () => {
    const small = encodeFrame(FrameType.ClientProof, Buffer.alloc(10));
    const big = encodeFrame(FrameType.Message, Buffer.alloc(5000));
    const d = new FrameDecoder(100);
    d.push(Buffer.concat([small, big]));
    assert.equal(d.next()?.type, FrameType.ClientProof);
    d.setMaxPayloadBytes(10_000);
    assert.equal(d.next()?.payload.byteLength, 5000);
    assert.equal(d.next(), undefined);
  });

  test('damage is refused with a reason: magic, version, header crc, type, reserved, payload crc', () => {
    const good = encodeFrame(FrameType.Message, Buffer.from('hello'));
    const mutate = (at: number, value: number): Buffer => {
      const b = Buffer.from(good);
      b[at] = value;
      return b;
    };
    rejects(() => new FrameDecoder().pushAll(mutate(0, 0x00)), 'ERR_BAD_FRAME', /bad frame magic/);
    rejects(() => new FrameDecoder().pushAll(mutate(4, 2)), 'ERR_BAD_FRAME', /unsupported frame version 2/);
    rejects(() => new FrameDecoder().pushAll(mutate(9, 0xff)), 'ERR_BAD_FRAME', /header checksum mismatch/);
    rejects(() => new FrameDecoder().pushAll(mutate(good.length - 1, 0x00)), 'ERR_BAD_FRAME', /payload checksum mismatch/);
    // A well-checksummed header with an unknown type or non-zero reserved bytes.
    const reheader = (at: number, value: number): Buffer => {
      const b = Buffer.from(good);
      b[at] = value;
      b.writeUInt32BE(crc32(b.subarray(0, 16)), 16);
      return b;
    };
    rejects(() => new FrameDecoder().pushAll(reheader(5, 9)), 'ERR_BAD_FRAME', /unknown frame type 9/);
    rejects(() => new FrameDecoder().pushAll(reheader(7, 1)), 'ERR_BAD_FRAME', /reserved bytes/);
  });

  test('fuzz: random bytes and mutated streams throw only TransportErrors', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 3 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 5 }), (frames, muts, points) => {
        const b = concat(frames);
        for (const [at, v] of muts) b[at % b.length] = v;
        const d = new FrameDecoder(4096);
        try {
          for (const piece of cut(b, points)) d.pushAll(piece);
        } catch (e) {
          assert.ok(e instanceof TransportError, String(e));
          assert.ok(e.code === 'ERR_BAD_FRAME' || e.code === 'ERR_FRAME_TOO_LARGE', e.code);
        }
        assert.ok(d.buffered <= b.length);
      }),
      { numRuns: 1000 },
    );
  });
});
