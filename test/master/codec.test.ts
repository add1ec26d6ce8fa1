import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  CommandCodecError,
  MetadataState,
  decodeCommand,
  encodeCommand,
  type Command,
} from '../../src/master/index.ts';

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const smallInode = fc.integer({ min: 1, max: 24 });
const name = fc.oneof(fc.constantFrom('a', 'b', 'c', 'd', '.', '..'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }));
const header = {
  timeSec: fc.integer({ min: 1_000, max: 1_000_000 }),
  uid: fc.constantFrom(0, 0, 100, 200),
  gids: fc.array(fc.constantFrom(0, 100, 200, 300), { minLength: 1, maxLength: 3 }),
};
const mode = fc.integer({ min: 0, max: 0o7777 });

export const commandArb: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ kind: fc.constant('mkdir' as const), ...header, parent: smallInode, name, mode, umask: fc.constantFrom(0, 0o022) }),
  fc.record({ kind: fc.constant('create' as const), ...header, parent: smallInode, name, mode, umask: fc.constantFrom(0, 0o022) }),
  fc.record({
    kind: fc.constant('mknod' as const), ...header, parent: smallInode, name,
    type: fc.constantFrom('file' as const, 'fifo' as const, 'socket' as const, 'blockdev' as const, 'chardev' as const),
    mode, umask: fc.constant(0), rdev: u32,
  }),
  fc.record({ kind: fc.constant('symlink' as const), ...header, parent: smallInode, name, target: fc.string({ minLength: 1, maxLength: 30 }) }),
  fc.record({ kind: fc.constant('link' as const), ...header, inode: smallInode, parent: smallInode, name }),
  fc.record({ kind: fc.constant('unlink' as const), ...header, parent: smallInode, name }),
  fc.record({ kind: fc.constant('rmdir' as const), ...header, parent: smallInode, name }),
  fc.record({ kind: fc.constant('rename' as const), ...header, srcParent: smallInode, srcName: name, dstParent: smallInode, dstName: name }),
  fc.record({
    kind: fc.constant('setattr' as const), ...header, inode: smallInode, setMask: fc.integer({ min: 0, max: 0xff }),
    mode: fc.integer({ min: 0, max: 0xffff }), newUid: fc.constantFrom(0, 100, 200), newGid: fc.constantFrom(0, 100, 300),
    atimeSec: u32, mtimeSec: u32,
  }),
  fc.record({ kind: fc.constant('truncate' as const), ...header, inode: smallInode, lengthBytes: fc.oneof(fc.nat(1 << 20), fc.constant(Number.MAX_SAFE_INTEGER)) }),
);

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

  test('a known command has a stable byte layout', () => {
    const bytes = encodeCommand({ kind: 'unlink', timeSec: 0x01020304, uid: 7, gids: [8, 9], parent: 1, name: 'ab' });
    assert.equal(
      Buffer.from(bytes).toString('hex'),
      '01' + '06' + '01020304' + '00000007' + '00000002' + '00000008' + '00000009' + '00000001' + '02' + '6162',
    );
  });

  test('truncated, trailing, unknown-version and unknown-kind inputs are refused', () => {
    const bytes = encodeCommand({ kind: 'rename', timeSec: 1, uid: 0, gids: [0], srcParent: 1, srcName: 'x', dstParent: 1, dstName: 'y' });
    for (let n = 0; n < bytes.length; n++) assert.throws(() => decodeCommand(bytes.subarray(0, n)), CommandCodecError);
    assert.throws(() => decodeCommand(Uint8Array.from([...bytes, 0])), /trailing/);
    assert.throws(() => decodeCommand(Uint8Array.from([2, ...bytes.subarray(1)])), /version/);
    assert.throws(() => decodeCommand(Uint8Array.from([1, 99, ...bytes.subarray(2)])), /kind/);
    const badUtf8 = Uint8Array.from(bytes);
    badUtf8[bytes.length - 1] = 0xff;
    assert.throws(() => decodeCommand(badUtf8), /UTF-8/);
  });

  test('encode refuses what the format cannot carry', () => {
    const base = { kind: 'unlink', timeSec: 1, uid: 0, parent: 1 } as const;
    assert.throws(() => encodeCommand({ ...base, gids: [], name: 'x' }), /gids/);
    assert.throws(() => encodeCommand({ ...base, gids: [0], name: 'x'.repeat(256) }), /bytes/);
    assert.throws(() => encodeCommand({ ...base, gids: [0], name: '\uD800' }), /Unicode/);
    assert.throws(() => encodeCommand({ ...base, gids: [-1], name: 'x' }), /gid/);
    assert.throws(() => encodeCommand({ kind: 'truncate', timeSec: 1, uid: 0, gids: [0], inode: 1, lengthBytes: 2 ** 53 }), /lengthBytes/);
  });
});

describe('replicated determinism', () => {
  test('the same command sequence gives identical state on two replicas, one fed through the codec', () => {
    fc.assert(
      fc.property(fc.array(commandArb, { minLength: 1, maxLength: 60 }), (commands) => {
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
    fc.assert(
      fc.property(fc.array(commandArb, { minLength: 1, maxLength: 80 }), (commands) => {
        const s = new MetadataState({ inodeReuseDelaySec: 0 });
        commands.forEach((c, i) => {
          s.apply(c, { index: i + 1 });
          assert.deepEqual(s.checkInvariants(), [], `after ${JSON.stringify(c)}`);
        });
      }),
      { seed: 11, numRuns: 300 },
    );
  });
});
