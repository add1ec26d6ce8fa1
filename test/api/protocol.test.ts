/**
 * The client protocol codec (src/api/protocol.ts): every request and response shape survives
 * encode → decode unchanged, a decoded request encodes back to the same bytes, and decoding
 * arbitrary or corrupted bytes either succeeds or throws ProtocolError, never anything else.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  ApiErrorCode,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  peekRequestId,
  ProtocolError,
  type Consistency,
  type ReadOutcome,
  type ReadReply,
  type ReadRequest,
  type Request,
  type Response,
} from '../../src/api/protocol.ts';
import type { Attr } from '../../src/master/commands.ts';
import { ERRNO, type ErrorCode } from '../../src/master/errors.ts';
import { maxNameBytes, maxSymlinkTargetBytes } from '../../src/master/limits.ts';

const numRuns = 300;

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const u53 = fc.oneof(fc.integer({ min: 0, max: 0xffff_ffff }), fc.constantFrom(0, 2 ** 32, Number.MAX_SAFE_INTEGER), fc.maxSafeNat());
/** Text of at most `maxBytes` UTF-8 bytes, any code points (surrogate pairs whole). */
const text = (maxBytes: number, minBytes = 0): fc.Arbitrary<string> =>
  fc
    .string({ unit: 'binary', maxLength: Math.min(maxBytes, 300) })
    .filter((s) => Buffer.byteLength(s, 'utf8') <= maxBytes && Buffer.byteLength(s, 'utf8') >= minBytes);
const nodeType = fc.integer({ min: 1, max: 7 }) as fc.Arbitrary<Attr['type']>;
const caller = fc.record({ uid: u32, gids: fc.array(u32, { minLength: 1, maxLength: 8 }) });
const consistency = fc.constantFrom(0, 1, 2) as fc.Arbitrary<Consistency>;

const attrOf = (inode: number): fc.Arbitrary<Attr> =>
  fc.record({
    inode: fc.constant(inode),
    type: nodeType,
    mode: u16,
    uid: u32,
    gid: u32,
    atimeSec: u32,
    mtimeSec: u32,
    ctimeSec: u32,
    nlink: u32,
    lengthBytes: u53,
    rdev: u32,
    goal: u8,
    trashTimeSec: u32,
  });

const readRequest: fc.Arbitrary<ReadRequest> = fc.oneof(
  fc.record({ kind: fc.constant('getattr' as const), inode: u32 }),
  fc.record({ kind: fc.constant('lookup' as const), parent: u32, name: text(maxNameBytes), caller }),
  fc.record({ kind: fc.constant('readdir' as const), inode: u32, caller, after: fc.option(text(maxNameBytes), { nil: null }), maxEntries: u32 }),
  fc.record({ kind: fc.constant('readlink' as const), inode: u32 }),
  fc.record({ kind: fc.constant('access' as const), inode: u32, caller, mask: u8 }),
  fc.record({ kind: fc.constant('statfs' as const) }),
  fc.record({ kind: fc.constant('readChunk' as const), inode: u32, index: u32 }),
);

const request: fc.Arbitrary<Request> = fc.oneof(
  fc.record({ op: fc.constant('hello' as const), id: u32, clientVersion: u16 }),
  fc.record({ op: fc.constant('write' as const), id: u32, command: fc.uint8Array({ maxLength: 200 }) }),
  fc.record({ op: fc.constant('read' as const), id: u32, consistency, read: readRequest }),
);

const statfsTotals = fc.record({
  inodes: u53,
  directories: u53,
  files: u53,
  symlinks: u53,
  otherNodes: u53,
  fileLengthBytes: u53,
  trashFiles: u53,
  trashLengthBytes: u53,
  sustainedFiles: u53,
  sustainedLengthBytes: u53,
  chunks: u53,
});

const readReply: fc.Arbitrary<ReadReply> = fc.oneof(
  u32.chain((inode) => fc.record({ kind: fc.constant('getattr' as const), attr: attrOf(inode) })),
  u32.chain((inode) => fc.record({ kind: fc.constant('lookup' as const), inode: fc.constant(inode), attr: attrOf(inode) })),
  fc.record({
    kind: fc.constant('readdir' as const),
    entries: fc.array(fc.record({ name: text(maxNameBytes, 1), inode: u32, type: nodeType }), { maxLength: 20 }),
    cursor: fc.option(text(maxNameBytes, 1), { nil: null }),
  }),
  fc.record({ kind: fc.constant('readlink' as const), target: text(maxSymlinkTargetBytes) }),
  fc.constant({ kind: 'access' as const }),
  fc.record({ kind: fc.constant('statfs' as const), totals: statfsTotals }),
  fc.record({ kind: fc.constant('readChunk' as const), chunk: fc.record({ chunkId: u53, version: u32, lengthBytes: u53 }) }),
);

const fsCode = fc.constantFrom(...(Object.keys(ERRNO) as ErrorCode[]));
const readOutcome: fc.Arbitrary<ReadOutcome> = fc.oneof(
  fc.record({ ok: fc.constant(true as const), reply: readReply }),
  fsCode.map((code) => ({ ok: false as const, code, errno: ERRNO[code] })),
);

const member = fc.record({ id: u32, learner: fc.boolean(), clientAddress: text(1024) });
const response: fc.Arbitrary<Response> = fc.oneof(
  fc.record({
    ok: fc.constant(true as const),
    id: u32,
    op: fc.constant('hello' as const),
    hello: fc.record({
      nodeId: u32,
      leaderId: u32,
      role: fc.constantFrom('follower' as const, 'preCandidate' as const, 'candidate' as const, 'leader' as const),
      members: fc.array(member, { maxLength: 7 }),
      clusterId: text(255),
    }),
  }),
  fc.record({ ok: fc.constant(true as const), id: u32, op: fc.constant('write' as const), result: fc.uint8Array({ maxLength: 200 }) }),
  fc.record({ ok: fc.constant(true as const), id: u32, op: fc.constant('read' as const), outcome: readOutcome }),
  fc.record({
    ok: fc.constant(false as const),
    id: u32,
    code: fc.constantFrom(...(Object.keys(ApiErrorCode) as ApiErrorCode[])),
    leaderHint: u32,
    leaderClientAddress: text(1024),
    message: text(4000),
  }),
);

/** fast-check builds records without a prototype; deepEqual compares prototypes, so compare plain clones. */
const plain = <T>(v: T): T => structuredClone(v);

describe('client protocol round trips', () => {
  it('every request decodes to what was encoded, and encodes back to the same bytes', () => {
    fc.assert(
      fc.property(request, (req) => {
        const bytes = encodeRequest(req);
        const back = decodeRequest(bytes);
        assert.deepEqual(plain(back), plain(req));
        assert.deepEqual(plain(encodeRequest(back)), plain(bytes));
        assert.equal(peekRequestId(bytes), req.id);
      }),
      { numRuns },
    );
  });

  it('every response decodes to what was encoded', () => {
    fc.assert(
      fc.property(response, (res) => {
        const back = decodeResponse(encodeResponse(res));
        assert.deepEqual(plain(back), plain(res));
      }),
      { numRuns },
    );
  });

  it('covers each read kind and response op (fixed examples)', () => {
    const attr: Attr = { inode: 7, type: 2, mode: 0o755, uid: 1, gid: 2, atimeSec: 3, mtimeSec: 4, ctimeSec: 5, nlink: 2, lengthBytes: 0, rdev: 0, goal: 2, trashTimeSec: 86_400 };
    const c = { uid: 1000, gids: [1000, 27] };
    const reads: ReadRequest[] = [
      { kind: 'getattr', inode: 1 },
      { kind: 'lookup', parent: 1, name: 'é✓𝄞', caller: c },
      { kind: 'readdir', inode: 1, caller: c, after: null, maxEntries: 1000 },
      { kind: 'readdir', inode: 1, caller: c, after: 'm', maxEntries: 1 },
      { kind: 'readlink', inode: 9 },
      { kind: 'access', inode: 9, caller: c, mask: 7 },
      { kind: 'statfs' },
      { kind: 'readChunk', inode: 9, index: 3 },
    ];
    for (const read of reads) {
      const req: Request = { op: 'read', id: 42, consistency: 0, read };
      assert.deepEqual(decodeRequest(encodeRequest(req)), req);
    }
    const replies: ReadReply[] = [
      { kind: 'getattr', attr },
      { kind: 'lookup', inode: 7, attr },
      { kind: 'readdir', entries: [{ name: 'a', inode: 8, type: 1 }], cursor: 'a' },
      { kind: 'readlink', target: '/x'.repeat(2000) },
      { kind: 'access' },
      { kind: 'readChunk', chunk: { chunkId: Number.MAX_SAFE_INTEGER, version: 0xffff_ffff, lengthBytes: 1 } },
    ];
    for (const reply of replies) {
      const res: Response = { ok: true, id: 1, op: 'read', outcome: { ok: true, reply } };
      assert.deepEqual(decodeResponse(encodeResponse(res)), res);
    }
    const failed: Response = { ok: true, id: 1, op: 'read', outcome: { ok: false, code: 'ENOENT', errno: 2 } };
    assert.deepEqual(decodeResponse(encodeResponse(failed)), failed);
  });

  it('refuses to encode what it could not decode', () => {
    const c = { uid: 0, gids: [] as number[] };
    assert.throws(() => encodeRequest({ op: 'read', id: 1, consistency: 0, read: { kind: 'lookup', parent: 1, name: 'x', caller: c } }), ProtocolError);
    assert.throws(() => encodeRequest({ op: 'read', id: 1, consistency: 0, read: { kind: 'lookup', parent: 1, name: 'x'.repeat(256), caller: { uid: 0, gids: [0] } } }), ProtocolError);
    assert.throws(() => encodeRequest({ op: 'hello', id: 2 ** 32, clientVersion: 1 }), ProtocolError);
    assert.throws(() => encodeRequest({ op: 'read', id: 1, consistency: 0, read: { kind: 'lookup', parent: 1, name: '\uD800', caller: { uid: 0, gids: [0] } } }), ProtocolError);
  });
});

describe('client protocol decoding of hostile input', () => {
  /** Decodes with `decode`; anything thrown must be a ProtocolError. */
  const onlyProtocolErrors = (decode: (b: Uint8Array) => unknown, bytes: Uint8Array): void => {
    try {
      decode(bytes);
    } catch (e) {
      if (!(e instanceof ProtocolError)) {
        assert.fail(`decoding ${Buffer.from(bytes).toString('hex')} threw ${String(e)} (${(e as Error)?.constructor?.name}), not a ProtocolError`);
      }
    }
  };

  /** Random bytes that start like a message (version 1, a plausible op or status) so that decoding gets past the header. */
  const headed = fc
    .tuple(fc.constantFrom(1, 1, 1, 0, 2), fc.constantFrom(0, 1, 2, 3, 4), u32, fc.uint8Array({ maxLength: 120 }))
    .map(([v, op, id, body]) => {
      const b = Buffer.alloc(6 + body.length);
      b[0] = v;
      b[1] = op;
      b.writeUInt32BE(id, 2);
      b.set(body, 6);
      return new Uint8Array(b);
    });

  it('random bytes', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), headed), (bytes) => {
        onlyProtocolErrors(decodeRequest, bytes);
        onlyProtocolErrors(decodeResponse, bytes);
      }),
      { numRuns: 2000 },
    );
  });

  type Mutation = { kind: 'flip'; at: number; value: number } | { kind: 'cut'; at: number } | { kind: 'insert'; at: number; value: number } | { kind: 'delete'; at: number };
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: u8 }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: u8 }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  );
  const mutate = (input: Uint8Array, ms: readonly Mutation[]): Uint8Array => {
    let b = [...input];
    for (const m of ms) {
      const at = b.length === 0 ? 0 : m.at % (b.length + (m.kind === 'insert' ? 1 : 0));
      if (m.kind === 'flip' && b.length > 0) b[at] = m.value;
      else if (m.kind === 'cut') b = b.slice(0, at);
      else if (m.kind === 'insert') b.splice(at, 0, m.value);
      else if (m.kind === 'delete') b.splice(at, 1);
    }
    return new Uint8Array(b);
  };

  it('mutated valid requests', () => {
    fc.assert(
      fc.property(request, fc.array(mutation, { minLength: 1, maxLength: 4 }), (req, ms) => onlyProtocolErrors(decodeRequest, mutate(encodeRequest(req), ms))),
      { numRuns: 2000 },
    );
  });

  it('mutated valid responses', () => {
    fc.assert(
      fc.property(response, fc.array(mutation, { minLength: 1, maxLength: 4 }), (res, ms) => onlyProtocolErrors(decodeResponse, mutate(encodeResponse(res), ms))),
      { numRuns: 2000 },
    );
  });

  it('every truncation of a valid message is refused with a ProtocolError', () => {
    fc.assert(
      fc.property(fc.oneof(request.map((r) => ({ bytes: encodeRequest(r), write: r.op === 'write' }))), ({ bytes, write }) => {
        // A write's command is the rest of the message: a shorter one is still a well-formed request.
        if (write) return;
        for (let n = 0; n < bytes.length; n++) assert.throws(() => decodeRequest(bytes.subarray(0, n)), ProtocolError);
      }),
      { numRuns: 200 },
    );
    fc.assert(
      fc.property(response, (res) => {
        if (res.ok && res.op === 'write') return;
        const bytes = encodeResponse(res);
        for (let n = 0; n < bytes.length; n++) assert.throws(() => decodeResponse(bytes.subarray(0, n)), ProtocolError);
      }),
      { numRuns: 200 },
    );
  });
});
