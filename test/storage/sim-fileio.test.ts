import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimFileIO, seededRandom, SECTOR_BYTES } from '../../src/storage/index.ts';

const bytes = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff || 1);
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

async function setup(seed = 1) {
  const io = new SimFileIO(seededRandom(seed));
  await io.mkdir('/d');
  return io;
}

test('every operation resolves without timers', async () => {
  const io = await setup();
  let done = false;
  const h = await io.open('/d/a', 'w');
  void h.write(text('x'), 0).then(() => h.sync()).then(() => (done = true));
  for (let i = 0; i < 5; i++) await Promise.resolve();
  assert.ok(done, 'settled within a few microtasks');
});

test('a clean crash loses exactly the unsynced writes', async () => {
  const io = await setup();
  const h = await io.open('/d/a', 'w');
  await h.write(text('hello '), 0);
  await h.sync();
  await io.fsyncDir('/d');
  await h.write(text('world'), 6);
  await h.write(text('HE'), 0);
  assert.equal(Buffer.from(await io.readFile('/d/a')).toString(), 'HEllo world');
  io.crash('clean');
  assert.equal(Buffer.from(await io.readFile('/d/a')).toString(), 'hello ');
  await assert.rejects(h.write(text('z'), 0), /EBADF/, 'handles from before the crash are dead');
});

test('a truncate is a write like any other: lost unless synced', async () => {
  const io = await setup();
  const h = await io.open('/d/a', 'w');
  await h.write(text('abcdef'), 0);
  await h.sync();
  await io.fsyncDir('/d');
  await h.truncate(2);
  io.crash('clean');
  assert.equal(Buffer.from(await io.readFile('/d/a')).toString(), 'abcdef');
});

test('directory entries are durable only after fsyncDir: create, rename, unlink', async () => {
  const io = await setup();
  const a = await io.open('/d/a', 'w');
  await a.write(text('A'), 0);
  await a.sync();
  io.crash('clean');
  assert.equal(await io.stat('/d/a'), undefined, 'a synced file whose name was never made durable is gone');

  const b = await io.open('/d/b.tmp', 'w');
  await b.write(text('B'), 0);
  await b.sync();
  await io.rename('/d/b.tmp', '/d/b');
  await io.fsyncDir('/d');
  const c = await io.open('/d/c', 'w');
  await c.sync();
  await io.fsyncDir('/d');
  await io.rename('/d/b', '/d/b2');
  await io.unlink('/d/c');
  io.crash('clean');
  assert.deepEqual(await io.readdir('/d'), ['b', 'c'], 'the rename and the unlink were not durable');
  assert.equal(Buffer.from(await io.readFile('/d/b')).toString(), 'B');
});

test('a torn crash keeps a sector-aligned prefix of the unsynced writes', async () => {
  const seen = new Set<number>();
  for (let seed = 1; seed <= 200; seed++) {
    const io = await setup(seed);
    const h = await io.open('/d/a', 'w');
    await h.write(bytes(100, 0), 0);
    await h.sync();
    await io.fsyncDir('/d');
    const w1 = bytes(1000, 1);
    const w2 = bytes(2000, 2);
    await h.write(w1, 100);
    await h.write(w2, 1100);
    io.crash('torn');
    const got = await io.readFile('/d/a');
    const full = Buffer.concat([bytes(100, 0), w1, w2]);
    assert.ok(got.byteLength >= 100 && got.byteLength <= 3100);
    assert.ok(Buffer.from(got).equals(full.subarray(0, got.byteLength)), 'what survives is a prefix');
    // Survivors end at a sector boundary, or exactly where a whole write ended.
    assert.ok(got.byteLength % SECTOR_BYTES === 0 || got.byteLength === 100 || got.byteLength === 1100, `length ${got.byteLength}`);
    seen.add(got.byteLength);
  }
  assert.ok(seen.size > 4, 'various tears occur');
  assert.ok(!seen.has(3100), 'the last write never survives whole');
});

test('the same seed gives the same crash', async () => {
  const run = async (seed: number) => {
    const io = await setup(seed);
    const h = await io.open('/d/a', 'w');
    await io.fsyncDir('/d');
    for (let i = 0; i < 10; i++) await h.append(bytes(700, i));
    io.crash('random');
    return (await io.readFile('/d/a')).byteLength;
  };
  for (const seed of [3, 4, 5]) assert.equal(await run(seed), await run(seed));
});

test('EIO and ENOSPC injection', async () => {
  const io = await setup(9);
  const h = await io.open('/d/a', 'w');
  await io.fsyncDir('/d');
  await h.write(text('ok'), 0);
  io.failNext({ op: 'fsync', code: 'EIO' });
  await assert.rejects(h.sync(), (e: NodeJS.ErrnoException) => e.code === 'EIO');
  io.crash('clean');
  assert.equal((await io.readFile('/d/a')).byteLength, 0, 'a failed fsync made nothing durable');

  const g = await io.open('/d/a', 'r+');
  io.failNext({ op: 'write', code: 'ENOSPC', pathSuffix: '/a' });
  await assert.rejects(g.write(bytes(5000, 3), 0), (e: NodeJS.ErrnoException) => e.code === 'ENOSPC');
  const len = (await io.readFile('/d/a')).byteLength;
  assert.ok(len % SECTOR_BYTES === 0 && len < 5000, 'a failed write may leave a sector-aligned part');
  await g.write(text('fine'), 0);
  await g.sync();
  io.failNext({ op: 'write', code: 'EIO', pathSuffix: '/other' });
  await g.write(text('still fine'), 0);
});

test('flipBit changes one bit, durably', async () => {
  const io = await setup();
  const h = await io.open('/d/a', 'w');
  await h.write(new Uint8Array(16), 0);
  await h.sync();
  await io.fsyncDir('/d');
  io.flipBit('/d/a', 3, 5);
  io.crash('clean');
  const got = await io.readFile('/d/a');
  assert.equal(got[3], 1 << 5);
  assert.equal(got.reduce((a, b) => a + b, 0), 32);
});
