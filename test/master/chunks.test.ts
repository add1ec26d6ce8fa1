import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ChunkList, ChunkTable } from '../../src/master/chunks.ts';
import { ERRNO, chunkLockSec, chunkSizeBytes, maxChunkIndex, rootInode, type CommandResult } from '../../src/master/index.ts';
import { Driver } from './helpers.ts';

const R = rootInode;
const MiB64 = chunkSizeBytes;

function chunkOf(r: CommandResult): { chunkId: number; version: number; lengthBytes: number } {
  if (!r.ok) assert.fail(`expected success, got ${r.code}`);
  if (r.chunk === undefined) assert.fail('result carries no chunk');
  return r.chunk;
}

describe('chunk table (open addressing)', () => {
  test('matches a Map under random inserts and removals, through growth and backward shifts', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }))), {
          maxLength: 400,
        }),
        (ops) => {
          const t = new ChunkTable(2);
          const model = new Map<number, number>();
          for (const [add, id] of ops) {
            if (add && !model.has(id)) {
              t.insert(id, id % 1000, 0, id % 77, id % 5);
              model.set(id, id % 1000);
            } else if (!add && model.has(id)) {
              t.remove(id);
              model.delete(id);
            }
          }
          assert.equal(t.size, model.size);
          assert.deepEqual(t.sortedIds(), [...model.keys()].sort((a, b) => a - b));
          for (const [id, version] of model) {
            const slot = t.find(id);
            assert.ok(slot >= 0, `chunk ${id} found`);
            assert.equal(t.version[slot], version);
            assert.equal(t.holderInode[slot], id % 77);
          }
          assert.equal(t.find(0), -1);
          assert.equal(t.find(-1), -1);
        },
      ),
      { seed: 3, numRuns: 300 },
    );
  });

  test('chunk lists stay sorted and cut from an index', () => {
    const l = new ChunkList();
    for (const [index, id] of [[5, 50], [1, 10], [9, 90], [3, 30], [7, 70]] as const) l.insert(index, id);
    assert.deepEqual([...l.indexes.subarray(0, l.count)], [1, 3, 5, 7, 9]);
    assert.equal(l.get(7), 70);
    assert.equal(l.get(4), 0);
    assert.throws(() => l.insert(5, 51), /hole/);
    assert.deepEqual(l.cutFrom(4), [50, 70, 90]);
    assert.deepEqual([...l.ids.subarray(0, l.count)], [10, 30]);
    assert.deepEqual(l.cutFrom(0), [10, 30]);
    assert.equal(l.count, 0);
  });
});

describe('writeChunk', () => {
  test('a hole gets a new chunk, version 1, locked; ids count up from 1 and are never reused', () => {
    const d = new Driver();
    const f = d.create(R, 'f');
    d.timeSec = 2_000;
    const a = chunkOf(d.run({ kind: 'writeChunk', inode: f, index: 0 }));
    assert.deepEqual(a, { chunkId: 1, version: 1, lengthBytes: 0 });
    assert.deepEqual(d.state.readChunk(f, 0, 2_000 + chunkLockSec), { ok: false, code: 'LOCKED', errno: ERRNO.LOCKED });
    assert.equal(ERRNO.LOCKED, 11, 'LOCKED reaches a FUSE caller as EAGAIN');
    assert.equal(d.state.readChunk(f, 0, 2_001 + chunkLockSec).ok, true, 'the lock ends after lockedTo');
    const b = chunkOf(d.run({ kind: 'writeChunk', inode: f, index: 2 }));
    assert.deepEqual(b, { chunkId: 2, version: 1, lengthBytes: 2 * MiB64 }, 'writing past the end reaches the start of the chunk');
    assert.equal(d.attr(f).mtimeSec, 2_000);
    assert.equal(d.attr(f).ctimeSec, 2_000);
    assert.equal(d.state.statfs().chunks, 2);
    d.ok({ kind: 'truncate', inode: f, lengthBytes: 0 });
    assert.equal(d.state.statfs().chunks, 0);
    assert.equal(chunkOf(d.run({ kind: 'writeChunk', inode: f, index: 0 })).chunkId, 3, 'id 1 is not handed out again');
  });

  test('an existing chunk: LOCKED while locked (lockedTo >= now), version + 1 after', () => {
    const d = new Driver();
    const f = d.create(R, 'f');
    d.timeSec = 5_000;
    const first = chunkOf(d.run({ kind: 'writeChunk', inode: f, index: 1 }));
    d.timeSec = 5_000 + chunkLockSec;
    const locked = d.run({ kind: 'writeChunk', inode: f, index: 1 });
    assert.deepEqual(locked, { ok: false, code: 'LOCKED', errno: 11 });
    d.timeSec = 5_001 + chunkLockSec;
    const again = chunkOf(d.run({ kind: 'writeChunk', inode: f, index: 1 }));
    assert.deepEqual(again, { chunkId: first.chunkId, version: 2, lengthBytes: MiB64 });
    d.ok({ kind: 'writeChunkEnd', inode: f, index: 1, chunkId: first.chunkId, lengthBytes: MiB64 + 10 });
    const third = chunkOf(d.run({ kind: 'writeChunk', inode: f, index: 1 }));
    assert.equal(third.version, 3, 'writeChunkEnd unlocked it: a new write goes at once');
  });

  test('errors: ENOENT, EPERM for non-files (MooseFS), EINVAL for a bad index, INDEXTOOBIG past the limit', () => {
    const d = new Driver();
    const f = d.create(R, 'f');
    const s = d.ok({ kind: 'symlink', parent: R, name: 's', target: 't' });
    const p = d.ok({ kind: 'mknod', parent: R, name: 'p', type: 'fifo', mode: 0o644, umask: 0, rdev: 0 });
    const w = (inode: number, index: number) => d.code({ kind: 'writeChunk', inode, index });
    assert.equal(w(99, 0), 'ENOENT');
    assert.equal(w(R, 0), 'EPERM');
    assert.equal(w(s, 0), 'EPERM');
    assert.equal(w(p, 0), 'EPERM');
    assert.equal(w(f, -1), 'EINVAL');
    assert.equal(w(f, 1.5), 'EINVAL');
    assert.equal(w(f, maxChunkIndex + 1), 'INDEXTOOBIG');
    assert.deepEqual(d.run({ kind: 'writeChunk', inode: f, index: maxChunkIndex + 1 }), { ok: false, code: 'INDEXTOOBIG', errno: ERRNO.EFBIG });
    assert.equal(w(f, maxChunkIndex), 'OK');
    assert.equal(d.attr(f).lengthBytes, maxChunkIndex * MiB64);
    assert.equal(d.state.statfs().chunks, 1, 'failed writes created nothing');
  });
});

describe('writeChunkEnd', () => {
  test('unlocks, grows the length (never shrinks it), sets mtime and ctime', () => {
    const d = new Driver();
    const f = d.create(R, 'f');
    const c = chunkOf(d.run({ kind: 'writeChunk', inode: f, index: 0 }));
    d.timeSec = 1_050;
    const r = chunkOf(d.run({ kind: 'writeChunkEnd', inode: f, index: 0, chunkId: c.chunkId, lengthBytes: 3 * MiB64 }));
    assert.deepEqual(r, { chunkId: c.chunkId, version: 1, lengthBytes: 3 * MiB64 }, 'a length past this chunk is taken: parallel writers');
    assert.equal(d.attr(f).mtimeSec, 1_050);
    assert.deepEqual(d.state.readChunk(f, 0, 1_050), { ok: true, chunkId: c.chunkId, version: 1, lengthBytes: 3 * MiB64 });
    d.timeSec = 1_060;
    d.ok({ kind: 'writeChunkEnd', inode: f, index: 0, chunkId: c.chunkId, lengthBytes: 5 });
    assert.equal(d.attr(f).lengthBytes, 3 * MiB64);
    assert.equal(d.attr(f).ctimeSec, 1_060);
    assert.equal(d.state.statfs().fileLengthBytes, 3 * MiB64);
  });

  test('errors: NOCHUNK for a hole or another chunk id, ENOENT, EPERM, EINVAL, EFBIG, INDEXTOOBIG', () => {
    const d = new Driver();
    const f = d.create(R, 'f');
    const c = chunkOf(d.run({ kind: 'writeChunk', inode: f, index: 0 }));
    const end = (inode: number, index: number, chunkId: number, lengthBytes = 1) =>
      d.code({ kind: 'writeChunkEnd', inode, index, chunkId, lengthBytes });
    assert.equal(end(f, 1, c.chunkId), 'NOCHUNK');
    assert.equal(end(f, 0, c.chunkId + 1), 'NOCHUNK');
    assert.equal(end(f, 0, 0), 'NOCHUNK');
    assert.deepEqual(d.run({ kind: 'writeChunkEnd', inode: f, index: 0, chunkId: 0, lengthBytes: 1 }), { ok: false, code: 'NOCHUNK', errno: ERRNO.EINVAL });
    assert.equal(end(99, 0, c.chunkId), 'ENOENT');
    assert.equal(end(R, 0, c.chunkId), 'EPERM');
    assert.equal(end(f, maxChunkIndex + 1, c.chunkId), 'INDEXTOOBIG');
    assert.equal(end(f, 0, c.chunkId, -1), 'EINVAL');
    assert.equal(end(f, 0, c.chunkId, Number.MAX_SAFE_INTEGER + 2), 'EFBIG');
    assert.deepEqual(d.state.readChunk(f, 0, d.timeSec), { ok: false, code: 'LOCKED', errno: 11 }, 'failures did not unlock');
  });
});

describe('readChunk', () => {
  test('a hole is chunk 0 version 0; errors ENOENT, EPERM, INDEXTOOBIG', () => {
    const d = new Driver();
    const f = d.create(R, 'f');
    d.ok({ kind: 'truncate', inode: f, lengthBytes: 10 });
    assert.deepEqual(d.state.readChunk(f, 4, d.timeSec), { ok: true, chunkId: 0, version: 0, lengthBytes: 10 });
    assert.equal(d.state.readChunk(99, 0, 0).ok ? 'OK' : 'ENOENT', 'ENOENT');
    const dirRead = d.state.readChunk(R, 0, 0);
    assert.equal(dirRead.ok ? 'OK' : dirRead.code, 'EPERM');
    const far = d.state.readChunk(f, maxChunkIndex + 1, 0);
    assert.equal(far.ok ? 'OK' : far.code, 'INDEXTOOBIG');
  });
});

describe('truncate and chunks', () => {
  function fileWithChunks(d: Driver, indexes: readonly number[]): { f: number; ids: number[] } {
    const f = d.create(R, 'f');
    const ids = indexes.map((index) => {
      const c = chunkOf(d.run({ kind: 'writeChunk', inode: f, index }));
      d.ok({ kind: 'writeChunkEnd', inode: f, index, chunkId: c.chunkId, lengthBytes: (index + 1) * MiB64 });
      return c.chunkId;
    });
    return { f, ids };
  }

  test('shrinking drops chunks wholly past the end and bumps the version of the chunk it cuts', () => {
    const d = new Driver();
    const { f, ids } = fileWithChunks(d, [0, 1, 2, 3]);
    d.ok({ kind: 'truncate', inode: f, lengthBytes: MiB64 + 7 });
    assert.deepEqual(d.state.readChunk(f, 0, d.timeSec), { ok: true, chunkId: ids[0], version: 1, lengthBytes: MiB64 + 7 });
    assert.deepEqual(d.state.readChunk(f, 1, d.timeSec), { ok: true, chunkId: ids[1], version: 2, lengthBytes: MiB64 + 7 });
    assert.deepEqual(d.state.readChunk(f, 2, d.timeSec), { ok: true, chunkId: 0, version: 0, lengthBytes: MiB64 + 7 });
    assert.equal(d.state.statfs().chunks, 2);
    d.ok({ kind: 'truncate', inode: f, lengthBytes: MiB64 });
    assert.equal(d.state.statfs().chunks, 1, 'a chunk-aligned end cuts nothing: chunk 1 is dropped whole');
    const c0 = d.state.readChunk(f, 0, d.timeSec);
    assert.ok(c0.ok);
    assert.equal(c0.version, 1);
  });

  test('growing adds no chunk; it bumps the chunk the new end falls in (MooseFS fs_try_setlength); same length changes nothing', () => {
    const d = new Driver();
    const { f, ids } = fileWithChunks(d, [0]);
    d.ok({ kind: 'truncate', inode: f, lengthBytes: 100 });
    d.ok({ kind: 'truncate', inode: f, lengthBytes: 200 });
    const c0 = d.state.readChunk(f, 0, d.timeSec);
    assert.deepEqual(c0, { ok: true, chunkId: ids[0], version: 3, lengthBytes: 200 });
    d.ok({ kind: 'truncate', inode: f, lengthBytes: 200 });
    d.ok({ kind: 'truncate', inode: f, lengthBytes: 5 * MiB64 + 1 });
    assert.equal(d.state.statfs().chunks, 1);
    const again = d.state.readChunk(f, 0, d.timeSec);
    assert.ok(again.ok);
    assert.equal(again.version, 3, 'an unchanged length and an end in a hole bump nothing');
  });

  test('chunks past the end (a write that never ended) are dropped by any truncate', () => {
    const d = new Driver();
    const f = d.create(R, 'f');
    d.run({ kind: 'writeChunk', inode: f, index: 0 });
    assert.equal(d.attr(f).lengthBytes, 0);
    d.timeSec += chunkLockSec + 1;
    d.ok({ kind: 'truncate', inode: f, lengthBytes: 0 });
    assert.equal(d.state.statfs().chunks, 0);
  });

  test('cutting a locked chunk gives LOCKED and changes nothing', () => {
    const d = new Driver();
    const { f, ids } = fileWithChunks(d, [0, 1]);
    d.timeSec += 10;
    d.run({ kind: 'writeChunk', inode: f, index: 1 });
    const before = d.state.dump();
    assert.equal(d.code({ kind: 'truncate', inode: f, lengthBytes: MiB64 + 1 }), 'LOCKED');
    assert.equal(d.state.dump().replace(/^applied \d+/, ''), before.replace(/^applied \d+/, ''));
    assert.equal(d.code({ kind: 'truncate', inode: f, lengthBytes: MiB64 }), 'OK', 'dropping a locked chunk whole is allowed (MooseFS)');
    assert.deepEqual(d.state.readChunk(f, 1, d.timeSec), { ok: true, chunkId: 0, version: 0, lengthBytes: MiB64 });
    assert.deepEqual(d.state.readChunk(f, 0, d.timeSec), { ok: true, chunkId: ids[0], version: 1, lengthBytes: MiB64 });
    assert.equal(d.state.statfs().chunks, 1);
  });

  test('freeing a file frees its chunks', () => {
    const d = new Driver({ rootTrashTimeSec: 0 });
    fileWithChunks(d, [0, 3]);
    assert.equal(d.state.statfs().chunks, 2);
    d.ok({ kind: 'unlink', parent: R, name: 'f' });
    assert.equal(d.state.statfs().chunks, 0);
  });
});

describe('goal and trash time', () => {
  test('root defaults are MooseFS 3.0s (goal 2, 86 400 s); options override; new inodes inherit from the parent', () => {
    const d = new Driver();
    assert.equal(d.attr(R).goal, 2);
    assert.equal(d.attr(R).trashTimeSec, 86_400);
    const o = new Driver({ rootGoal: 3, rootTrashTimeSec: 60 });
    const dir = o.mkdir(R, 'd');
    assert.deepEqual([o.attr(dir).goal, o.attr(dir).trashTimeSec], [3, 60]);
    o.ok({ kind: 'setGoal', inode: dir, goal: 5 });
    o.ok({ kind: 'setTrashTime', inode: dir, trashTimeSec: 7 });
    const f = o.create(dir, 'f');
    const s = o.ok({ kind: 'symlink', parent: dir, name: 's', target: 't' });
    const sub = o.mkdir(dir, 'sub');
    for (const i of [f, s, sub]) assert.deepEqual([o.attr(i).goal, o.attr(i).trashTimeSec], [5, 7]);
    assert.throws(() => new Driver({ rootGoal: 0 }), /rootGoal/);
    assert.throws(() => new Driver({ rootTrashTimeSec: -1 }), /rootTrashTimeSec/);
  });

  test('setGoal / setTrashTime: owner or root; ctime only when the value changes', () => {
    const d = new Driver();
    const alice = { uid: 100, gids: [100] };
    const pub = d.mkdir(R, 'pub', 0o777);
    const f = d.ok({ kind: 'create', parent: pub, name: 'f', mode: 0o666, umask: 0 }, alice);
    d.timeSec = 4_000;
    assert.equal(d.code({ kind: 'setGoal', inode: f, goal: 2 }, alice), 'OK');
    assert.equal(d.attr(f).ctimeSec, 1_000, 'same goal: no change');
    assert.equal(d.code({ kind: 'setGoal', inode: f, goal: 9 }, alice), 'OK');
    assert.equal(d.attr(f).goal, 9);
    assert.equal(d.attr(f).ctimeSec, 4_000);
    d.timeSec = 4_100;
    assert.equal(d.code({ kind: 'setTrashTime', inode: f, trashTimeSec: 0 }), 'OK', 'root');
    assert.equal(d.attr(f).trashTimeSec, 0);
    assert.equal(d.attr(f).ctimeSec, 4_100);
    assert.equal(d.code({ kind: 'setGoal', inode: f, goal: 3 }, { uid: 200, gids: [100] }), 'EPERM');
    assert.equal(d.code({ kind: 'setTrashTime', inode: f, trashTimeSec: 3 }, { uid: 200, gids: [100] }), 'EPERM');
  });

  test('errors: EINVAL out of range (checked first, as MooseFS), ENOENT', () => {
    const d = new Driver();
    for (const goal of [0, 10, 1.5, -1]) assert.equal(d.code({ kind: 'setGoal', inode: R, goal }), 'EINVAL');
    for (const t of [-1, 2 ** 32, 0.5]) assert.equal(d.code({ kind: 'setTrashTime', inode: R, trashTimeSec: t }), 'EINVAL');
    assert.equal(d.code({ kind: 'setGoal', inode: 99, goal: 0 }), 'EINVAL');
    assert.equal(d.code({ kind: 'setGoal', inode: 99, goal: 1 }), 'ENOENT');
    assert.equal(d.code({ kind: 'setTrashTime', inode: 99, trashTimeSec: 1 }), 'ENOENT');
    assert.equal(d.code({ kind: 'setTrashTime', inode: R, trashTimeSec: 2 ** 32 - 1 }), 'OK');
  });
});
