import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { MetadataState, noSession, type Command } from '../../src/master/index.ts';
import { SnapshotReader, restoreSnapshot } from '../../src/master/snapshot-reader.ts';
import {
  SnapshotError,
  snapshotBytes,
  snapshotFrameHeaderBytes,
  snapshotHeaderBytes,
  writeSnapshot,
  type SnapshotErrorReason,
} from '../../src/master/snapshot.ts';
import { Driver } from './helpers.ts';

// ---- random states built by random command sequences ----

const inode = fc.integer({ min: 1, max: 14 });
const name = fc.constantFrom('a', 'b', 'c', 'dd', '\u00e9', '\u{1F600}', '\uFF01', 'long-name-0123456789');
const mode = fc.constantFrom(0o755, 0o644, 0o700, 0o1777, 0o2775, 0o4755);
const body = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('mkdir' as const), parent: inode, name, mode, umask: fc.constant(0) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('create' as const), parent: inode, name, mode, umask: fc.constant(0) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('mknod' as const),
      parent: inode,
      name,
      type: fc.constantFrom('fifo' as const, 'chardev' as const, 'blockdev' as const, 'socket' as const),
      mode,
      umask: fc.constant(0),
      rdev: fc.nat(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('symlink' as const), parent: inode, name, target: fc.constantFrom('x', '../y/\u00e9', 't'.repeat(300)) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('link' as const), inode, parent: inode, name }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('unlink' as const), parent: inode, name }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('rmdir' as const), parent: inode, name }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('rename' as const), srcParent: inode, srcName: name, dstParent: inode, dstName: name }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('setattr' as const),
      inode,
      setMask: fc.constantFrom(0x02, 0x04, 0x08, 0x20 | 0x40),
      mode,
      newUid: fc.constantFrom(0, 7),
      newGid: fc.constantFrom(0, 9),
      atimeSec: fc.nat(),
      mtimeSec: fc.nat(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), inode, lengthBytes: fc.constantFrom(0, 1, 4096, 2 ** 40) }) },
);
/** Commands with a clock that advances by 0..3 s, so freed inode numbers get reused (reuse delay 2 s). */
const commands = fc.array(fc.tuple(body, fc.integer({ min: 0, max: 3 })), { minLength: 1, maxLength: 70 }).map((seq) => {
  let t = 1_000;
  return seq.map(([b, dt]) => {
    t += dt;
    return { ...b, timeSec: t, uid: 0, gids: [0], session: noSession } as Command;
  });
});

const reuseDelaySec = 2;

function build(cmds: readonly Command[], initialInodeCapacity = 1024): MetadataState {
  const s = new MetadataState({ inodeReuseDelaySec: reuseDelaySec, initialInodeCapacity, rootTimeSec: 5 });
  cmds.forEach((c, i) => s.apply(c, { index: i + 1 }));
  return s;
}

function restored(bytes: Uint8Array, options = {}): MetadataState {
  const s = restoreSnapshot([bytes], options);
  assert.deepEqual(s.checkInvariants(), []);
  return s;
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

describe('snapshot: round trip and determinism', () => {
  test('restore(write(s)) has the same dump, sound invariants and the same bytes, and keeps applying like s', () => {
    fc.assert(
      fc.property(commands, commands, (cmds, more) => {
        const s = build(cmds);
        const bytes = snapshotBytes(s, { chunkBytes: 8192 });
        const r = restored(bytes);
        assert.equal(r.dump(), s.dump());
        assert.equal(r.lastAppliedIndex, s.lastAppliedIndex);
        assert.ok(same(snapshotBytes(r, { chunkBytes: 8192 }), bytes));
        // The restored state is a working replica: the same commands give the same results.
        more.forEach((c, i) => {
          const ctx = { index: s.lastAppliedIndex + 1 + i };
          assert.deepEqual(r.apply(c, ctx), s.apply(c, ctx));
        });
        assert.equal(r.dump(), s.dump());
        assert.deepEqual(r.checkInvariants(), []);
      }),
      { numRuns: 300 },
    );
  });

  test('replicas with different layout histories write identical bytes', () => {
    fc.assert(
      fc.property(commands, fc.nat(), (cmds, cutAt) => {
        const a = build(cmds, 1024);
        const b = build(cmds, 2);
        // c is restored from a snapshot in the middle of the sequence, then continues: compact pool, other slots and table sizes.
        const cut = cutAt % (cmds.length + 1);
        const c0 = build(cmds.slice(0, cut), 2);
        const c = restored(snapshotBytes(c0, { chunkBytes: 8192 }), { initialInodeCapacity: 3 });
        cmds.slice(cut).forEach((cmd, i) => c.apply(cmd, { index: cut + i + 1 }));
        const bytes = snapshotBytes(a);
        assert.ok(same(snapshotBytes(b), bytes), 'initial capacity does not show');
        assert.ok(same(snapshotBytes(c), bytes), 'a restore in the middle does not show');
        assert.equal(c.dump(), a.dump());
      }),
      { numRuns: 200 },
    );
  });

  test('the restored state does not depend on the chunk size or on how the stream is split', () => {
    fc.assert(
      fc.property(commands, fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 20 }), (cmds, cuts) => {
        const s = build(cmds);
        const small = snapshotBytes(s, { chunkBytes: 8192 });
        const large = snapshotBytes(s, { chunkBytes: 1 << 20 });
        const r = new SnapshotReader();
        let off = 0;
        for (let k = 0; off < small.length; k++) {
          const n = cuts[k % cuts.length] ?? 1;
          r.push(small.subarray(off, off + n));
          off += n;
        }
        const fromPieces = r.finish();
        assert.equal(fromPieces.dump(), s.dump());
        assert.equal(restored(large).dump(), s.dump());
      }),
      { numRuns: 100 },
    );
  });

  test('a big state spans many bounded chunks, and every chunk respects chunkBytes', () => {
    const s = bigState();
    const chunks = [...writeSnapshot(s, { chunkBytes: 8192 })];
    assert.ok(chunks.length > 10, `${chunks.length} chunks`);
    for (const c of chunks) assert.ok(c.length <= 8192);
    const r = new SnapshotReader();
    for (const c of chunks) r.push(c);
    const back = r.finish();
    assert.equal(back.dump(), s.dump());
    assert.deepEqual(back.checkInvariants(), []);
    assert.throws(() => r.finish(), /already/);
  });

  test('chunkBytes is validated, and the state must not change while a snapshot is written', () => {
    const s = bigState();
    assert.throws(() => [...writeSnapshot(s, { chunkBytes: 100 })], RangeError);
    assert.throws(() => [...writeSnapshot(s, { chunkBytes: 2 ** 30 })], RangeError);
    const it = writeSnapshot(s, { chunkBytes: 8192 });
    it.next();
    it.next();
    s.apply({ kind: 'mkdir', parent: 1, name: 'late', mode: 0o755, umask: 0, timeSec: 1, uid: 0, gids: [0], session: noSession }, { index: s.lastAppliedIndex + 1 });
    assert.throws(() => it.next(), /does not change/);
  });
});

// ---- corruption ----

let big: MetadataState | undefined;
/** Dirs, 2,000 files with non-ASCII names, symlinks, devices, hard links, and freed inodes waiting for reuse. */
function bigState(): MetadataState {
  if (big !== undefined) return big;
  const d = new Driver({ inodeReuseDelaySec: 1_000_000 });
  const dirs = [1];
  for (let i = 0; i < 20; i++) dirs.push(d.mkdir(dirs[i % dirs.length] ?? 1, `dir-${i}`));
  const files: [number, string][] = [];
  for (let i = 0; i < 2000; i++) {
    const parent = dirs[i % dirs.length] ?? 1;
    const n = `f${i}-\u00e9\u{1F600}`;
    d.create(parent, n);
    files.push([parent, n]);
  }
  d.ok({ kind: 'symlink', parent: 1, name: 'ln', target: 'dir-0/f0' });
  d.ok({ kind: 'mknod', parent: 1, name: 'tty', type: 'chardev', mode: 0o600, umask: 0, rdev: 0x0501 });
  d.ok({ kind: 'link', inode: d.create(1, 'orig'), parent: dirs[3] ?? 1, name: 'hard' });
  for (let i = 0; i < 300; i++) {
    const [parent, n] = files[i * 5] ?? [1, ''];
    d.ok({ kind: 'unlink', parent, name: n });
  }
  big = d.state;
  return big;
}

function reject(bytes: Uint8Array | readonly Uint8Array[], reason?: SnapshotErrorReason): SnapshotError {
  const r = new SnapshotReader();
  let err: unknown;
  try {
    for (const b of bytes instanceof Uint8Array ? [bytes] : bytes) r.push(b);
    r.finish();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof SnapshotError, `expected a SnapshotError, got ${String(err)}`);
  assert.equal(err.code, 'ERR_BAD_SNAPSHOT');
  if (reason !== undefined) assert.equal(err.reason, reason, err.message);
  // A failed reader stays failed.
  assert.throws(() => r.push(new Uint8Array(1)), SnapshotError);
  assert.throws(() => r.finish(), SnapshotError);
  return err;
}

interface Frames {
  header: Uint8Array;
  frames: { magic: number; sequence: number; payload: Uint8Array }[];
}

function splitFrames(bytes: Uint8Array): Frames {
  const header = bytes.slice(0, snapshotHeaderBytes);
  const frames: Frames['frames'] = [];
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let p = snapshotHeaderBytes; p < bytes.length; ) {
    const len = v.getUint32(p + 8, true);
    frames.push({ magic: v.getUint32(p, true), sequence: v.getUint32(p + 4, true), payload: bytes.slice(p + 16, p + 16 + len) });
    p += 16 + len;
  }
  return { header, frames };
}

/** Reassembles frames with correct checksums: for edits that only the semantic checks can catch. */
function joinFrames(f: Frames): Uint8Array {
  const seed = crc32(f.header.subarray(0, 24));
  const parts: Uint8Array[] = [f.header];
  for (const fr of f.frames) {
    const h = new Uint8Array(snapshotFrameHeaderBytes);
    const v = new DataView(h.buffer);
    v.setUint32(0, fr.magic, true);
    v.setUint32(4, fr.sequence, true);
    v.setUint32(8, fr.payload.length, true);
    v.setUint32(12, crc32(fr.payload, crc32(h.subarray(0, 12), seed)), true);
    parts.push(h, fr.payload);
  }
  return Buffer.concat(parts);
}

function edited(edit: (first: DataView, f: Frames) => void): Uint8Array {
  const f = splitFrames(snapshotBytes(bigState(), { chunkBytes: 8192 }));
  const first = f.frames[0];
  assert.ok(first !== undefined);
  edit(new DataView(first.payload.buffer, first.payload.byteOffset, first.payload.byteLength), f);
  return joinFrames(f);
}

// Offsets in the first frame's payload: meta section (12 + 56 bytes), inodes section header (12), then the root's record.
const meta = 12;
const rootRecord = 12 + 56 + 12;
const inodeRecordBytes = 43;

describe('snapshot: corruption is refused with ERR_BAD_SNAPSHOT', () => {
  const good = (): Uint8Array => snapshotBytes(bigState(), { chunkBytes: 8192 });

  test('the untouched stream and its reassembly restore (so the edits below are what fails)', () => {
    assert.equal(restored(good()).dump(), bigState().dump());
    assert.ok(same(joinFrames(splitFrames(good())), good()));
  });

  test('stream header: magic, version, checksum, chunk size', () => {
    const b = good();
    b[0] = (b[0] ?? 0) ^ 0x01;
    reject(b, 'magic');
    const v2 = good();
    new DataView(v2.buffer, v2.byteOffset).setUint32(8, 2, true);
    reject(v2, 'version');
    const crc = good();
    crc[25] = (crc[25] ?? 0) ^ 0x40;
    reject(crc, 'checksum');
    const chunk = good();
    const cv = new DataView(chunk.buffer, chunk.byteOffset);
    cv.setUint32(12, 1 << 30, true);
    cv.setUint32(24, crc32(chunk.subarray(0, 24)), true);
    reject(chunk, 'range');
  });

  test('a flipped bit anywhere is caught by a checksum (sampled over every frame)', () => {
    const b = good();
    for (let p = snapshotHeaderBytes; p < b.length; p += 61) {
      const c = b.slice();
      c[p] = (c[p] ?? 0) ^ (1 << p % 8);
      const err = reject(c);
      assert.ok(['checksum', 'magic', 'range'].includes(err.reason), `byte ${p}: ${err.message}`);
    }
  });

  test('truncation at any frame boundary or inside a frame, trailing bytes, reordered, dropped or foreign frames', () => {
    const b = good();
    const f = splitFrames(b);
    for (let end = snapshotHeaderBytes, k = 0; k < f.frames.length; k++) {
      reject(b.subarray(0, end), 'truncated');
      reject(b.subarray(0, end + 7), 'truncated');
      end += 16 + (f.frames[k]?.payload.length ?? 0);
    }
    reject(b.subarray(0, 5), 'truncated');
    reject(new Uint8Array(0), 'truncated');
    reject([b, new Uint8Array([0])], 'trailing');
    const swapped = splitFrames(b);
    const [x, y] = [swapped.frames[1], swapped.frames[2]];
    assert.ok(x !== undefined && y !== undefined);
    swapped.frames[1] = y;
    swapped.frames[2] = x;
    reject(joinFrames(swapped), 'sequence');
    const dropped = splitFrames(b);
    dropped.frames.splice(2, 1);
    reject(joinFrames(dropped), 'sequence');
    // Frames of another snapshot (another applied index, hence another header seed) in place of ours.
    const d = new Driver();
    d.mkdir(1, 'other');
    const other = splitFrames(snapshotBytes(d.state, { chunkBytes: 8192 }));
    const mixed = Buffer.concat([b.subarray(0, snapshotHeaderBytes), joinFrames(other).subarray(snapshotHeaderBytes)]);
    reject(mixed, 'checksum');
  });

  test('out-of-range values and broken structure behind valid checksums', () => {
    reject(edited((v) => v.setUint8(rootRecord + inodeRecordBytes + 4, 9)), 'range'); // inode type
    reject(edited((v) => v.setUint16(rootRecord + inodeRecordBytes + 5, 0o17777, true)), 'range'); // mode
    reject(edited((v) => v.setUint32(rootRecord + 39, 0, true)), 'namespace'); // root's parent
    reject(edited((v) => v.setUint32(rootRecord + inodeRecordBytes, 1, true)), 'order'); // second inode numbered 1
    reject(edited((v) => v.setUint32(rootRecord + 27, 99, true)), 'namespace'); // root nlink
    reject(edited((v) => v.setUint32(meta + 8, 5, true)), 'count'); // nextInode below the inodes
    reject(edited((v) => v.setUint32(meta + 52, 0x20_0000, true)), 'range'); // a u64 of 2^53 or more
    reject(edited((v) => v.setUint16(0, 2, true)), 'structure'); // first section is not meta
    reject(
      edited((_, f) => {
        const t = f.frames[f.frames.length - 1];
        assert.ok(t !== undefined);
        new DataView(t.payload.buffer, t.payload.byteOffset).setUint32(16, 1, true); // trailer inode total
      }),
      'count',
    );
  });

  test('entries: bad names, order, dangling children, and a corrupt free FIFO', () => {
    // Find the entries section in the logical stream and edit its first entries.
    const findEntries = (f: Frames): { frame: Uint8Array; at: number } => {
      for (const fr of f.frames) {
        const v = new DataView(fr.payload.buffer, fr.payload.byteOffset, fr.payload.byteLength);
        for (let p = 0; p + 12 <= fr.payload.length; p++) {
          // The section header: id 3, zero, 21 directories with entries (root and dir-0..19), then directory 1.
          if (v.getUint32(p, true) === 3 && v.getUint32(p + 4, true) === 21 && v.getUint32(p + 8, true) === 0 && v.getUint32(p + 12, true) === 1) {
            return { frame: fr.payload, at: p + 12 + 8 };
          }
        }
      }
      assert.fail('entries section not found');
    };
    const entryEdit = (edit: (payload: Uint8Array, entry: number) => void): Uint8Array =>
      edited((_, f) => {
        const { frame, at } = findEntries(f);
        edit(frame, at);
      });
    reject(entryEdit((b, e) => void (b[e + 5] = 0x2f)), 'range'); // '/' in a name
    reject(entryEdit((b, e) => void (b[e + 5] = 0xff)), 'range'); // not UTF-8
    reject(entryEdit((b, e) => void (b[e + 4] = 0)), 'range'); // empty name, then garbage
    reject(entryEdit((b, e) => new DataView(b.buffer, b.byteOffset).setUint32(e, 60_000, true)), 'namespace'); // names a free inode
    reject(
      entryEdit((b, e) => {
        // The second name of the root now starts with a space, which sorts before the first name.
        const second = e + 5 + (b[e + 4] ?? 0);
        b[second + 5] = 0x20;
      }),
      'order',
    );
    // The free FIFO is the last section: duplicate its first inode into its second slot.
    reject(
      edited((_, f) => {
        const last = f.frames[f.frames.length - 2];
        assert.ok(last !== undefined);
        const p = last.payload;
        const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
        const endHeader = p.length - 12;
        assert.equal(v.getUint16(endHeader, true), 0xffff);
        v.setUint32(endHeader - 8, v.getUint32(endHeader - 16, true), true);
      }),
      'namespace',
    );
  });

  test('random payload edits behind valid checksums never crash and never yield an unsound state', () => {
    const f0 = splitFrames(good());
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), (frameAt, byteAt, xor) => {
        const f = splitFrames(good());
        const k = frameAt % (f0.frames.length - 1);
        const fr = f.frames[k];
        assert.ok(fr !== undefined);
        const p = byteAt % fr.payload.length;
        fr.payload[p] = (fr.payload[p] ?? 0) ^ xor;
        const r = new SnapshotReader();
        try {
          r.push(joinFrames(f));
          const s = r.finish();
          // Some edits give another valid state (a uid, a time): it must be sound.
          assert.deepEqual(s.checkInvariants(), []);
        } catch (e) {
          if (!(e instanceof SnapshotError)) throw e;
        }
      }),
      { numRuns: 1500 },
    );
  });
});
