// Metadata state machine benchmark: the state machine alone, no log, no I/O.
// - apply throughput of mkdir, create, setattr, rename and unlink (median of --rounds rounds of
//   --ops commands each, commands built before the clock starts);
// - heap bytes per file for trees of --files and --big-files files of realistic shape: directories
//   of 10 to 10,000 entries (log-uniform), names of 8 to 24 bytes; measured as heapUsed +
//   arrayBuffers after global.gc(), before and after building, divided by the number of files;
// - snapshot write and read (restore with full validation) time and size for the --files tree.
//
//   npm run -s bench:metadata -- [--files N] [--big-files N (0 skips)] [--ops N] [--rounds N] [--seed N]
//
// Needs --expose-gc (the npm script passes it). Progress goes to stderr; the last line of stdout is
// one JSON object.
import { performance } from 'node:perf_hooks';
import { MetadataState, noSession, SetAttr, type Command } from '../src/master/index.ts';
import { SnapshotReader } from '../src/master/snapshot-reader.ts';
import { writeSnapshot } from '../src/master/snapshot.ts';
import { seededRandom } from '../src/raft/random.ts';
import type { RandomSource } from '../src/raft/types.ts';

const args = process.argv.slice(2);
const argNumber = (name: string, fallback: number): number => {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < 0) throw new Error(`${name} takes a non-negative integer, got ${args[i + 1]}`);
  return v;
};
const files = argNumber('--files', 1_000_000);
const bigFiles = argNumber('--big-files', 10_000_000);
const ops = argNumber('--ops', 200_000);
const rounds = argNumber('--rounds', 5);
const seed = argNumber('--seed', 1);

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc (npm run bench:metadata does)');
const progress = (s: string): void => void process.stderr.write(`${s}\n`);
const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};

/**
 * heapUsed + arrayBuffers once collection has settled: typed arrays' backing stores are freed by
 * a sweeper after the collection, so collect and yield to the event loop until two readings agree.
 */
async function heapBytes(): Promise<number> {
  let last = -1;
  for (let k = 0; k < 20; k++) {
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const m = process.memoryUsage();
    const now = m.heapUsed + m.arrayBuffers;
    if (Math.abs(now - last) < 64 * 1024) return now;
    last = now;
  }
  return last;
}

const header = { uid: 0, gids: [0] as readonly number[], session: noSession };
const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789_-.';

function randomName(r: RandomSource): string {
  const len = 8 + r.intBelow(17);
  let s = '';
  for (let i = 0; i < len; i++) s += alphabet[r.intBelow(alphabet.length)];
  return s;
}

class Applier {
  index = 0;
  constructor(readonly state: MetadataState) {}
  apply(c: Command): number {
    const r = this.state.apply(c, { index: ++this.index });
    return r.ok ? r.inode : 0;
  }
}

// ---- throughput ----

function throughputRound(r: RandomSource): Record<string, number> {
  // Trash time 0: unlink frees the file (with the default, it would go to the trash).
  const a = new Applier(new MetadataState({ rootTrashTimeSec: 0 }));
  const t = 1_000;
  const dirCount = Math.max(1, Math.floor(ops / 1000));
  const mkdirs: Command[] = [];
  for (let i = 0; i < ops; i++) mkdirs.push({ ...header, timeSec: t, kind: 'mkdir', parent: 1, name: `d${i}-${randomName(r)}`, mode: 0o755, umask: 0 });
  const rate = (cmds: readonly Command[]): number => {
    const start = performance.now();
    for (const c of cmds) a.apply(c);
    return cmds.length / ((performance.now() - start) / 1000);
  };
  const out: Record<string, number> = {};
  out.mkdir = rate(mkdirs);
  // Files go into the first dirCount directories (inodes 2..dirCount+1), about 1,000 per directory.
  const names: string[] = [];
  const parents: number[] = [];
  const creates: Command[] = [];
  for (let i = 0; i < ops; i++) {
    const parent = 2 + r.intBelow(dirCount);
    const name = `${randomName(r)}-${i}`;
    names.push(name);
    parents.push(parent);
    creates.push({ ...header, timeSec: t, kind: 'create', parent, name, mode: 0o644, umask: 0 });
  }
  out.create = rate(creates);
  const firstFile = ops + 2;
  const setattrs: Command[] = [];
  for (let i = 0; i < ops; i++) {
    setattrs.push({ ...header, timeSec: t + 1, kind: 'setattr', inode: firstFile + i, setMask: SetAttr.mode, mode: 0o600, newUid: 0, newGid: 0, atimeSec: 0, mtimeSec: 0 });
  }
  out.setattr = rate(setattrs);
  const renames: Command[] = [];
  for (let i = 0; i < ops; i++) {
    const dstParent = 2 + r.intBelow(dirCount);
    const dstName = `${names[i]}.moved`;
    renames.push({ ...header, timeSec: t + 2, kind: 'rename', srcParent: parents[i] ?? 1, srcName: names[i] ?? '', dstParent, dstName });
    parents[i] = dstParent;
    names[i] = dstName;
  }
  out.rename = rate(renames);
  const unlinks: Command[] = [];
  for (let i = 0; i < ops; i++) unlinks.push({ ...header, timeSec: t + 3, kind: 'unlink', parent: parents[i] ?? 1, name: names[i] ?? '' });
  out.unlink = rate(unlinks);
  const st = a.state.statfs();
  if (st.files !== 0 || st.directories !== ops + 1) throw new Error(`throughput round ended with ${st.files} files, ${st.directories} directories`);
  return out;
}

// ---- memory ----

interface Tree {
  readonly state: MetadataState;
  readonly directories: number;
  readonly buildMs: number;
}

/** A tree of `n` files: each new directory goes under a random existing one and gets 10..10,000 files (log-uniform). */
function buildTree(n: number, r: RandomSource): Tree {
  const a = new Applier(new MetadataState());
  const dirs = [1];
  let made = 0;
  let dirNo = 0;
  const start = performance.now();
  while (made < n) {
    const parent = dirs[r.intBelow(dirs.length)] ?? 1;
    const dir = a.apply({ ...header, timeSec: 1_000, kind: 'mkdir', parent, name: `${randomName(r)}${dirNo++}`, mode: 0o755, umask: 0 });
    if (dir === 0) continue;
    dirs.push(dir);
    const size = Math.min(n - made, Math.round(10 * Math.pow(1000, r.intBelow(1_000_001) / 1_000_000)));
    for (let k = 0; k < size; ) {
      if (a.apply({ ...header, timeSec: 1_000, kind: 'create', parent: dir, name: randomName(r), mode: 0o644, umask: 0 }) !== 0) k++;
    }
    made += size;
    if (n >= 1_000_000 && dirNo % 500 === 0) progress(`  ${made} / ${n} files`);
  }
  return { state: a.state, directories: dirs.length - 1, buildMs: performance.now() - start };
}

async function memoryRun(n: number, r: RandomSource): Promise<{ tree: Tree; result: Record<string, number> }> {
  const before = await heapBytes();
  const tree = buildTree(n, r);
  const after = await heapBytes();
  const st = tree.state.statfs();
  if (st.files !== n) throw new Error(`built ${st.files} files, wanted ${n}`);
  // Where the bytes are: the inode table (44 bytes per slot) and the entry table's typed arrays.
  const store = MetadataState.internals(tree.state).store;
  const inodeTableBytes = store.capacity * 44;
  const entryTableBytes = store.entries.heapBytes();
  return {
    tree,
    result: {
      files: n,
      directories: tree.directories,
      buildSeconds: round(tree.buildMs / 1000, 2),
      heapBytes: after - before,
      bytesPerFile: round((after - before) / n),
      inodeTableBytesPerFile: round(inodeTableBytes / n),
      entryTableBytesPerFile: round(entryTableBytes / n),
      namePoolBytesPerFile: round(store.entries.pool.byteLength / n),
    },
  };
}

// ---- snapshot ----

async function snapshotRun(state: MetadataState, files: number): Promise<Record<string, number | boolean>> {
  const chunks: Uint8Array[] = [];
  const times: number[] = [];
  let bytes = 0;
  for (let k = 0; k < 3; k++) {
    chunks.length = 0;
    bytes = 0;
    const start = performance.now();
    for (const c of writeSnapshot(state)) {
      chunks.push(c);
      bytes += c.length;
    }
    times.push(performance.now() - start);
  }
  const readTimes: number[] = [];
  let restored: MetadataState | null = null;
  let restoredBytesPerFile = 0;
  for (let k = 0; k < 3; k++) {
    restored = null;
    const before = await heapBytes();
    const start = performance.now();
    const reader = new SnapshotReader();
    for (const c of chunks) reader.push(c);
    restored = reader.finish();
    readTimes.push(performance.now() - start);
    if (k === 0) restoredBytesPerFile = ((await heapBytes()) - before) / files;
  }
  if (restored === null) throw new Error('no restore');
  // The restored state writes the same bytes: a whole-state comparison without a text dump.
  let same = true;
  let i = 0;
  for (const c of writeSnapshot(restored)) {
    const o = chunks[i++];
    if (o === undefined || !Buffer.from(c).equals(Buffer.from(o))) same = false;
  }
  return {
    writeMs: round(median(times)),
    readMs: round(median(readTimes)),
    sizeBytes: bytes,
    bytesPerFile: round(bytes / files),
    chunks: chunks.length,
    restoredHeapBytesPerFile: round(restoredBytesPerFile),
    restoredWritesIdenticalBytes: same && i === chunks.length,
  };
}

// ---- main ----

const r = seededRandom(seed);
const result: Record<string, unknown> = { node: process.version, files, bigFiles, ops, rounds, seed };

if (ops > 0 && rounds > 0) {
  progress(`throughput: ${rounds} rounds of ${ops} commands per kind`);
  throughputRound(r); // warm-up
  const perKind: Record<string, number[]> = {};
  for (let k = 0; k < rounds; k++) {
    for (const [kind, v] of Object.entries(throughputRound(r))) (perKind[kind] ??= []).push(v);
  }
  const table: Record<string, { median: number; min: number; max: number }> = {};
  for (const [kind, v] of Object.entries(perKind)) table[kind] = { median: Math.round(median(v)), min: Math.round(Math.min(...v)), max: Math.round(Math.max(...v)) };
  result.applyPerSecond = table;
  progress(JSON.stringify(table));
}

if (files > 0) {
  progress(`memory: ${files} files`);
  const { tree, result: mem } = await memoryRun(files, r);
  result.memory = [mem];
  progress(JSON.stringify(mem));
  progress('snapshot: write and read');
  result.snapshot = { files, ...(await snapshotRun(tree.state, files)) };
  progress(JSON.stringify(result.snapshot));
}

if (bigFiles > 0) {
  progress(`memory: ${bigFiles} files`);
  const { result: mem } = await memoryRun(bigFiles, r);
  (result.memory as unknown[] | undefined)?.push(mem) ?? (result.memory = [mem]);
  progress(JSON.stringify(mem));
}

process.stdout.write(`${JSON.stringify(result)}\n`);
