import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  CommandCodecError,
  MetadataState,
  NodeType,
  decodeCommand,
  decodeResult,
  encodeCommand,
  encodeResult,
  noSession,
  setCommandTime,
  type CommandResult,
  type ErrorCode,
  ERRNO,
} from '../../src/master/index.ts';
import { allKinds, commandArb, historyArb, u32 } from './helpers.ts';

function outcome(r: CommandResult): string {
  return r.ok ? 'OK' : r.code;
}

describe('command encoding', () => {
  test('decode(encode(c)) equals c for every kind', () => {
    fc.assert(
      fc.property(commandArb, (c) => {
        const bytes = encodeCommand(c);
        assert.deepEqual(decodeCommand(bytes), { ...c, gids: [...c.gids] });
        assert.deepEqual(encodeCommand(decodeCommand(bytes)), bytes);
      }),
      { seed: 20240611, numRuns: 2_000 },
    );
  });

  test('the generator covers every kind', () => {
    const kinds = new Set(fc.sample(commandArb, { seed: 1, numRuns: 3_000 }).map((c) => c.kind));
    assert.deepEqual([...kinds].sort(), [...allKinds].sort());
  });

  test('a known command has a stable byte layout (format version 2)', () => {
    const bytes = encodeCommand({ kind: 'unlink', timeSec: 0x01020304, uid: 7, gids: [8, 9], session: { id: 5, seq: 0x1_0000_0002 }, parent: 1, name: 'ab' });
    assert.equal(
      Buffer.from(bytes).toString('hex'),
      '02' + '06' + '01020304' + '00000007' + '00000002' + '00000008' + '00000009' + '00000005' + '0000000100000002' +
        '00000001' + '02' + '6162',
    );
    const write = encodeCommand({ kind: 'writeChunkEnd', timeSec: 1, uid: 0, gids: [0], session: noSession, inode: 3, index: 2, chunkId: 9, lengthBytes: 10 });
    assert.equal(
      Buffer.from(write).toString('hex'),
      '02' + '0c' + '00000001' + '00000000' + '00000001' + '00000000' + '00000000' + '0000000000000000' +
        '00000003' + '00000002' + '0000000000000009' + '000000000000000a',
    );
  });

  test('format version 1 commands are still read, as commands without a session', () => {
    const v1 = Buffer.from('01' + '06' + '01020304' + '00000007' + '00000002' + '00000008' + '00000009' + '00000001' + '02' + '6162', 'hex');
    assert.deepEqual(decodeCommand(v1), { kind: 'unlink', timeSec: 0x01020304, uid: 7, gids: [8, 9], session: noSession, parent: 1, name: 'ab' });
    const v1Truncate = Buffer.from('01' + '0a' + '00000001' + '00000000' + '00000001' + '00000000' + '00000004' + '0000000000000010', 'hex');
    assert.deepEqual(decodeCommand(v1Truncate), { kind: 'truncate', timeSec: 1, uid: 0, gids: [0], session: noSession, inode: 4, lengthBytes: 16 });
    // Kinds added with version 2 never appeared in version 1.
    const v1WriteChunk = Buffer.from('01' + '0b' + '00000001' + '00000000' + '00000001' + '00000000' + '00000004' + '00000000', 'hex');
    assert.throws(() => decodeCommand(v1WriteChunk), /kind 11 in format version 1/);
  });

  test('a session id and its sequence go together', () => {
    const base = { kind: 'purgeTrash', timeSec: 1, uid: 0, gids: [0], inode: 2 } as const;
    assert.throws(() => encodeCommand({ ...base, session: { id: 0, seq: 1 } }), /seq is 0 exactly when/);
    assert.throws(() => encodeCommand({ ...base, session: { id: 1, seq: 0 } }), /seq is 0 exactly when/);
    assert.throws(() => encodeCommand({ ...base, session: { id: 1, seq: 2 ** 53 } }), /session seq/);
    assert.throws(() => encodeCommand({ ...base, session: { id: 2 ** 32, seq: 1 } }), /session id/);
    const bytes = encodeCommand({ ...base, session: { id: 1, seq: 1 } });
    const seqZero = Uint8Array.from(bytes);
    seqZero[2 + 4 + 4 + 4 + 4 + 4 + 7] = 0; // last byte of the seq
    assert.throws(() => decodeCommand(seqZero), /seq is 0 exactly when/);
  });

  test('truncated, trailing, unknown-version and unknown-kind inputs are refused', () => {
    const bytes = encodeCommand({ kind: 'rename', timeSec: 1, uid: 0, gids: [0], session: noSession, srcParent: 1, srcName: 'x', dstParent: 1, dstName: 'y' });
    for (let n = 0; n < bytes.length; n++) assert.throws(() => decodeCommand(bytes.subarray(0, n)), CommandCodecError);
    assert.throws(() => decodeCommand(Uint8Array.from([...bytes, 0])), /trailing/);
    assert.throws(() => decodeCommand(Uint8Array.from([3, ...bytes.subarray(1)])), /version/);
    assert.throws(() => decodeCommand(Uint8Array.from([0, ...bytes.subarray(1)])), /version/);
    assert.throws(() => decodeCommand(Uint8Array.from([1, 99, ...bytes.subarray(2)])), /kind/);
    const badUtf8 = Uint8Array.from(bytes);
    badUtf8[bytes.length - 1] = 0xff;
    assert.throws(() => decodeCommand(badUtf8), /UTF-8/);
  });

  test('encode refuses what the format cannot carry', () => {
    const base = { kind: 'unlink', timeSec: 1, uid: 0, parent: 1, session: noSession } as const;
    assert.throws(() => encodeCommand({ ...base, gids: [], name: 'x' }), /gids/);
    assert.throws(() => encodeCommand({ ...base, gids: [0], name: 'x'.repeat(256) }), /bytes/);
    assert.throws(() => encodeCommand({ ...base, gids: [0], name: '\uD800' }), /Unicode/);
    assert.throws(() => encodeCommand({ ...base, gids: [-1], name: 'x' }), /gid/);
    assert.throws(() => encodeCommand({ kind: 'truncate', timeSec: 1, uid: 0, gids: [0], session: noSession, inode: 1, lengthBytes: 2 ** 53 }), /lengthBytes/);
    const h = { timeSec: 1, uid: 0, gids: [0], session: noSession } as const;
    assert.throws(() => encodeCommand({ ...h, kind: 'writeChunk', inode: 1, index: 2 ** 32 }), /index/);
    assert.throws(() => encodeCommand({ ...h, kind: 'writeChunkEnd', inode: 1, index: 0, chunkId: 2 ** 53, lengthBytes: 0 }), /chunkId/);
    assert.throws(() => encodeCommand({ ...h, kind: 'setGoal', inode: 1, goal: 256 }), /goal/);
    assert.throws(() => encodeCommand({ ...h, kind: 'setTrashTime', inode: 1, trashTimeSec: -1 }), /trashTimeSec/);
    assert.throws(() => encodeCommand({ ...h, kind: 'sessionOpen', rootInode: 1, flags: 256, timeoutSec: 1 }), /flags/);
    assert.throws(() => encodeCommand({ ...h, kind: 'expireTrash', maxCount: 1.5 }), /maxCount/);
  });
});

const attrArb = fc.record({
  inode: u32,
  type: fc.constantFrom(NodeType.file, NodeType.directory, NodeType.symlink, NodeType.fifo, NodeType.blockdev, NodeType.chardev, NodeType.socket),
  mode: fc.integer({ min: 0, max: 0o7777 }),
  uid: u32,
  gid: u32,
  atimeSec: u32,
  mtimeSec: u32,
  ctimeSec: u32,
  nlink: u32,
  lengthBytes: fc.oneof(fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER)),
  rdev: u32,
  goal: fc.integer({ min: 1, max: 9 }),
  trashTimeSec: u32,
});
const resultArb: fc.Arbitrary<CommandResult> = fc.oneof(
  fc.constantFrom(...(Object.keys(ERRNO) as ErrorCode[])).map((code): CommandResult => ({ ok: false, code, errno: ERRNO[code] })),
  fc
    .record(
      {
        inode: u32,
        attr: fc.option(attrArb, { nil: null }),
        chunk: fc
          .tuple(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), u32, fc.nat())
          .map(([chunkId, version, lengthBytes]) => ({ chunkId, version, lengthBytes })),
        sessionId: u32,
        count: u32,
      },
      { requiredKeys: ['inode', 'attr'] },
    )
    .map((r): CommandResult => ({ ok: true, ...r, attr: r.attr === null ? null : { ...r.attr, inode: r.inode } })),
);

test('setCommandTime changes the time of an encoded command and nothing else', () => {
  fc.assert(
    fc.property(commandArb, u32, (c, t) => {
      const bytes = encodeCommand(c);
      setCommandTime(bytes, t);
      assert.deepEqual(decodeCommand(bytes), { ...c, timeSec: t });
    }),
    { numRuns: 500 },
  );
  assert.throws(() => setCommandTime(encodeCommand({ kind: 'unlink', parent: 1, name: 'a', timeSec: 1, uid: 0, gids: [0], session: noSession }), 2 ** 32), CommandCodecError);
  assert.throws(() => setCommandTime(new Uint8Array([9, 1, 0, 0, 0, 0]), 5), CommandCodecError);
});

describe('result encoding', () => {
  test('decode(encode(r)) equals r for every error code and every combination of fields', () => {
    fc.assert(
      fc.property(resultArb, (r) => {
        const bytes = encodeResult(r);
        assert.deepEqual(decodeResult(bytes), r);
        assert.deepEqual(encodeResult(decodeResult(bytes)), bytes);
      }),
      { seed: 99, numRuns: 2_000 },
    );
  });

  test('a known result has a stable byte layout; bad input is refused', () => {
    assert.equal(Buffer.from(encodeResult({ ok: false, code: 'LOCKED', errno: ERRNO.LOCKED })).toString('hex'), '01' + '01' + '0d');
    const ok = encodeResult({ ok: true, inode: 7, attr: null, sessionId: 3 });
    assert.equal(Buffer.from(ok).toString('hex'), '01' + '00' + '00000007' + '04' + '00000003');
    for (let n = 0; n < ok.length; n++) assert.throws(() => decodeResult(ok.subarray(0, n)), CommandCodecError);
    assert.throws(() => decodeResult(Uint8Array.from([...ok, 0])), /trailing/);
    assert.throws(() => decodeResult(Uint8Array.from([2, 0])), /result format version/);
    assert.throws(() => decodeResult(Uint8Array.from([1, 1, 99])), /error code 99/);
    assert.throws(() => decodeResult(Uint8Array.from([1, 0, 0, 0, 0, 7, 0x10])), /result fields/);
  });
});

describe('replicated determinism', () => {
  test('the same command sequence gives identical state on two replicas, one fed through the codec', () => {
    fc.assert(
      fc.property(historyArb(60), (commands) => {
        const a = new MetadataState({ inodeReuseDelaySec: 10 });
        const b = new MetadataState({ inodeReuseDelaySec: 10, initialInodeCapacity: 2 });
        commands.forEach((c, i) => {
          const ra = a.apply(c, { index: i + 1 });
          const rb = b.apply(decodeCommand(encodeCommand(c)), { index: i + 1 });
          assert.deepEqual(rb, ra);
        });
        assert.deepEqual(a.checkInvariants(), []);
        assert.equal(b.dump(), a.dump());
      }),
      { seed: 7, numRuns: 300 },
    );
  });

  test('random sequences keep every invariant after every command', () => {
    const seen = new Map<string, number>();
    const note = (key: string): void => void seen.set(key, (seen.get(key) ?? 0) + 1);
    fc.assert(
      fc.property(historyArb(80), fc.constantFrom(0, 86_400), (commands, rootTrashTimeSec) => {
        const s = new MetadataState({ inodeReuseDelaySec: 0, rootTrashTimeSec });
        const answered = new Map<string, CommandResult>();
        commands.forEach((c, i) => {
          const before = s.dump();
          const r = s.apply(c, { index: i + 1 });
          assert.deepEqual(s.checkInvariants(), [], `after ${JSON.stringify(c)}`);
          note(`${c.kind} ${outcome(r)}`);
          const key = `${c.session.id}/${c.session.seq}`;
          const first = answered.get(key);
          if (c.session.id !== 0 && first !== undefined && r.ok === first.ok && (r.ok || r.code !== 'RETRY_EXPIRED')) {
            // A retry inside the window: the first answer again, and no change but the applied index.
            if (JSON.stringify(r) === JSON.stringify(first) && stripApplied(s.dump()) === stripApplied(before)) note('retry answered from the cache');
          }
          if (c.session.id !== 0 && r.ok) answered.set(key, r);
          const totals = s.statfs();
          if (totals.trashFiles > 0) note('trash non-empty');
          if (totals.sustainedFiles > 0) note('sustained non-empty');
          if (r.ok && r.count !== undefined && r.count > 0) note(`${c.kind} processed some`);
        });
      }),
      { seed: 11, numRuns: 300 },
    );
    // The generator must reach these states, or the invariants above are checked on too little.
    for (const key of [
      'writeChunk OK', 'writeChunk LOCKED', 'writeChunk INDEXTOOBIG', 'writeChunkEnd OK', 'writeChunkEnd NOCHUNK',
      'truncate OK', 'setGoal OK', 'setTrashTime OK', 'purgeTrash OK', 'undelete OK', 'expireTrash processed some',
      'sessionOpen OK', 'sessionClose OK', 'expireSessions processed some', 'acquire OK', 'release OK',
      'unlink OK', 'rename OK', 'trash non-empty', 'sustained non-empty', 'retry answered from the cache',
      'unlink BADSESSIONID', 'acquire RETRY_EXPIRED',
    ]) {
      assert.ok((seen.get(key) ?? 0) > 0, `never reached: ${key}; reached: ${[...seen.keys()].sort().join(', ')}`);
    }
  });
});

function stripApplied(dump: string): string {
  return dump.replace(/^applied \d+ /, '');
}
