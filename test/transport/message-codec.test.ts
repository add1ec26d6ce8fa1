import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Message, MessageType } from '../../src/raft/types.ts';
import { MESSAGE_CODEC_VERSION, decodeMessage, encodeMessage } from '../../src/transport/message-codec.ts';
import { TransportError } from '../../src/transport/errors.ts';
import { anyMessage, byType } from './arbitraries.ts';

/** Decodes, and fails the test if anything but ERR_BAD_FRAME is thrown. */
function decodeOrBadFrame(b: Uint8Array): Message | TransportError {
  try {
    return decodeMessage(b);
  } catch (e) {
    assert.ok(e instanceof TransportError, `decode threw a non-TransportError: ${String(e)}`);
    assert.equal(e.code, 'ERR_BAD_FRAME');
    return e;
  }
}

function badFrame(b: Uint8Array, reason: RegExp): void {
  assert.throws(() => decodeMessage(b), (e: unknown) => e instanceof TransportError && e.code === 'ERR_BAD_FRAME' && reason.test(e.message));
}

const hb: Message = { type: 'heartbeat', from: 1, to: 2, term: 3, commit: 4, readRound: 5, sentTick: 6 };

describe('message codec', () => {
  for (const [type, arb] of Object.entries(byType) as [MessageType, fc.Arbitrary<Message>][]) {
    test(`round trip: ${type}`, () => {
      fc.assert(
        fc.property(arb, (m) => {
          const b = encodeMessage(m);
          assert.equal(b[0], MESSAGE_CODEC_VERSION);
          const back = decodeMessage(b);
          assert.deepEqual(back, m);
          // Canonical: encoding the decoded message gives back the same bytes.
          assert.deepEqual(encodeMessage(back), b);
        }),
        { numRuns: 200 },
      );
    });
  }

  test('decoded byte fields are copies, not views into the frame', () => {
    const m: Message = { type: 'readIndex', from: 1, to: 2, term: 1, context: Uint8Array.of(1, 2, 3) };
    const b = encodeMessage(m);
    const back = decodeMessage(b);
    assert.equal(back.type, 'readIndex');
    b.fill(0);
    assert.deepEqual(back.type === 'readIndex' && [...back.context], [1, 2, 3]);
  });

  test('fuzz: random bytes never throw anything but ERR_BAD_FRAME', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat({ max: 13 }), (b, t) => {
        // Half of the inputs get a valid version and type so the fuzzer reaches the bodies.
        if (b.length >= 2 && t % 2 === 0) {
          b[0] = MESSAGE_CODEC_VERSION;
          b[1] = 1 + (t % 14);
        }
        decodeOrBadFrame(b);
      }),
      { numRuns: 5000 },
    );
  });

  test('fuzz: mutations of valid encodings decode canonically or throw ERR_BAD_FRAME', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
    );
    let decodedAfterMutation = 0;
    let refused = 0;
    fc.assert(
      fc.property(anyMessage, fc.array(mutation, { minLength: 1, maxLength: 4 }), (m, muts) => {
        let b = Uint8Array.from(encodeMessage(m));
        for (const mu of muts) {
          if (b.length === 0) break;
          const at = mu.at % b.length;
          if (mu.kind === 'flip') b[at]! ^= 1 << mu.bit;
          else if (mu.kind === 'set') b[at] = mu.value;
          else if (mu.kind === 'truncate') b = b.subarray(0, at);
          else if (mu.kind === 'insert') b = Uint8Array.from([...b.subarray(0, at), mu.value, ...b.subarray(at)]);
          else b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + 1)]);
        }
        const r = decodeOrBadFrame(b);
        if (r instanceof TransportError) {
          refused++;
        } else {
          decodedAfterMutation++;
          // Whatever decodes is canonical: it re-encodes to exactly the input.
          assert.deepEqual(encodeMessage(r), b);
        }
      }),
      { numRuns: 3000 },
    );
    // Both outcomes must occur, or the fuzzer is not exercising the decoder.
    assert.ok(refused > 100 && decodedAfterMutation > 100, `refused ${refused}, decoded ${decodedAfterMutation}`);
  });

  test('every strict prefix of an encoding is refused as truncated', () => {
    fc.assert(
      fc.property(anyMessage, (m) => {
        const b = encodeMessage(m);
        for (let n = 0; n < b.length; n++) decodeOrBadFrame(b.subarray(0, n)) instanceof TransportError || assert.fail(`prefix ${n} of ${b.length} decoded`);
      }),
      { numRuns: 100 },
    );
  });

  test('specific malformed inputs are refused with a reason', () => {
    const b = encodeMessage(hb);
    badFrame(Uint8Array.from([2, ...b.subarray(1)]), /unsupported message codec version 2/);
    badFrame(Uint8Array.from([1, 99, ...b.subarray(2)]), /unknown message type 99/);
    badFrame(Uint8Array.from([...b, 0]), /1 trailing bytes/);
    const big = Uint8Array.from(b);
    big[2] = 0x00;
    big[3] = 0x20; // from >= 2^53
    badFrame(big, /does not fit in 53 bits/);
    const vote = Uint8Array.from(encodeMessage({ type: 'vote', from: 1, to: 2, term: 3, index: 4, logTerm: 5, force: true }));
    vote[vote.length - 1] = 2;
    badFrame(vote, /force flag is 2/);
    // An entry count that cannot fit in the bytes left is refused before any allocation.
    const app = Uint8Array.from(encodeMessage({ type: 'app', from: 1, to: 2, term: 3, index: 0, logTerm: 0, commit: 0, entries: [] }));
    new DataView(app.buffer).setUint32(app.length - 4, 0xffff_ffff);
    badFrame(app, /entry count 4294967295 does not fit/);
    const e = Uint8Array.from(encodeMessage({ type: 'prop', from: 1, to: 2, term: 3, entries: [{ term: 1, index: 1, type: 'normal', data: new Uint8Array(0) }] }));
    e[26 + 4 + 16] = 3;
    badFrame(e, /unknown entry type 3/);
  });

  test('a snapshot chunk that runs past totalBytes is refused on both sides', () => {
    const conf = { voters: [1], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false };
    const m: Message = { type: 'snapshot', from: 1, to: 2, term: 1, metadata: { index: 5, term: 1, confState: conf }, totalBytes: 10, offset: 8, chunk: new Uint8Array(2) };
    const b = Uint8Array.from(encodeMessage(m));
    assert.throws(() => encodeMessage({ ...m, offset: 9 }), (e: unknown) => e instanceof TransportError && e.code === 'ERR_PROTOCOL');
    // totalBytes sits 8 + 8 + 4 bytes before the end (then offset, then the chunk length and chunk).
    const v = new DataView(b.buffer);
    const totalAt = b.length - 2 - 4 - 8 - 8;
    assert.equal(v.getUint32(totalAt + 4), 10);
    v.setUint32(totalAt + 4, 9);
    badFrame(b, /runs past totalBytes 9/);
  });

  test('the encoder refuses values the wire cannot carry', () => {
    const bad = (m: Message): void => assert.throws(() => encodeMessage(m), (e: unknown) => e instanceof TransportError && e.code === 'ERR_PROTOCOL');
    bad({ ...hb, term: -1 });
    bad({ ...hb, term: 1.5 });
    bad({ ...hb, commit: 2 ** 53 });
    bad({ ...hb, from: Number.NaN });
    assert.throws(() => encodeMessage({ ...hb, type: 'nonsense' } as unknown as Message), (e: unknown) => e instanceof TransportError);
  });
});
