import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MemoryStorage } from '../../src/raft/index.ts';
import type { ConfState, Entry, HardState, LogStorage, Snapshot } from '../../src/raft/index.ts';
import { FileLogStorage, NodeFileIO, SimFileIO, seededRandom } from '../../src/storage/index.ts';
import type { FileIO } from '../../src/storage/index.ts';

export const CONF: ConfState = { voters: [1, 2, 3], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false };

/** Deterministic payload of an entry, so that any mix-up of index, term or bytes is visible. */
export function payload(index: number, term: number): Uint8Array {
  const len = (index * 7 + term * 13) % 61;
  const b = new Uint8Array(len + 8);
  const v = new DataView(b.buffer);
  v.setUint32(0, index, true);
  v.setUint32(4, term, true);
  for (let i = 0; i < len; i++) b[8 + i] = (index + term * 31 + i) & 0xff;
  return b;
}

export function ent(index: number, term: number): Entry {
  return { index, term, type: index % 5 === 0 ? 'conf' : 'normal', data: payload(index, term) };
}

export function ents(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(ent(i, term));
  return out;
}

/** Whether an entry carries exactly the payload its index and term call for. */
export function intact(e: Entry): boolean {
  const want = ent(e.index, e.term);
  return e.type === want.type && Buffer.from(e.data).equals(Buffer.from(want.data));
}

/** The write side shared by MemoryStorage (adapted) and FileLogStorage. */
export interface Store extends LogStorage {
  append(es: readonly Entry[]): Promise<unknown>;
  setHardState(hs: HardState): Promise<void>;
  compact(index: number): Promise<void>;
  applySnapshot(s: Snapshot): Promise<void>;
  createSnapshot(index: number, cs: ConfState, data: Uint8Array): Promise<Snapshot>;
  close(): Promise<void>;
}

export interface Harness {
  readonly name: string;
  readonly durable: boolean;
  /** A fresh, empty store. */
  fresh(): Promise<Store>;
  /** Closes the store and opens the same data again. */
  reopen(s: Store): Promise<Store>;
  cleanup(): Promise<void>;
}

class MemoryAdapter implements Store {
  constructor(readonly m: MemoryStorage) {}
  initialState() {
    return this.m.initialState();
  }
  firstIndex() {
    return this.m.firstIndex();
  }
  lastIndex() {
    return this.m.lastIndex();
  }
  term(i: number) {
    return this.m.term(i);
  }
  entries(lo: number, hi: number, max: number) {
    return this.m.entries(lo, hi, max);
  }
  snapshot() {
    return this.m.snapshot();
  }
  async append(es: readonly Entry[]) {
    this.m.append(es);
  }
  async setHardState(hs: HardState) {
    this.m.setHardState(hs);
  }
  async compact(i: number) {
    this.m.compact(i);
  }
  async applySnapshot(s: Snapshot) {
    this.m.applySnapshot(s);
  }
  async createSnapshot(i: number, cs: ConfState, d: Uint8Array) {
    return this.m.createSnapshot(i, cs, d);
  }
  async close() {}
}

export const memoryHarness = (): Harness => ({
  name: 'MemoryStorage',
  durable: false,
  fresh: async () => new MemoryAdapter(new MemoryStorage(CONF)),
  reopen: async (s) => s,
  cleanup: async () => undefined,
});

export const quietLogger = (): void => undefined;

export function simHarness(seed = 1, segmentBytes = 4096): Harness {
  let io = new SimFileIO(seededRandom(seed));
  let n = 0;
  let dir = '/data/0';
  const open = () => FileLogStorage.open({ io, dir, segmentBytes, initialConfState: CONF, logger: quietLogger, random: seededRandom(seed + 7) });
  return {
    name: 'FileLogStorage on SimFileIO',
    durable: true,
    fresh: async () => {
      io = new SimFileIO(seededRandom(seed));
      dir = `/data/${++n}`;
      return open();
    },
    reopen: async (s) => {
      await s.close();
      io.crash('clean');
      return open();
    },
    cleanup: async () => undefined,
  };
}

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function realHarness(segmentBytes = 8192): Harness {
  const root = tmpDir('mooseng-storage-');
  const io: FileIO = new NodeFileIO();
  let n = 0;
  let dir = '';
  const open = () => FileLogStorage.open({ io, dir, segmentBytes, initialConfState: CONF, logger: quietLogger });
  return {
    name: 'FileLogStorage on real files',
    durable: true,
    fresh: async () => {
      dir = path.join(root, String(++n));
      return open();
    },
    reopen: async (s) => {
      await s.close();
      return open();
    },
    cleanup: async () => fs.rmSync(root, { recursive: true, force: true }),
  };
}

/** Everything a reader can see of a store, for comparisons. */
export function image(s: LogStorage): unknown {
  const first = s.firstIndex();
  const last = s.lastIndex();
  const es = last >= first ? s.entries(first, last + 1, Infinity) : [];
  const snap = s.snapshot();
  return {
    first,
    last,
    dummyTerm: s.term(first - 1),
    entries: es.map((e) => [e.index, e.term, e.type, Buffer.from(e.data).toString('hex')]),
    hardState: s.initialState().hardState,
    snapshot: [snap.metadata.index, snap.metadata.term, snap.metadata.confState, Buffer.from(snap.data).toString('hex')],
  };
}

/** A simulated disk holding exactly `files` (durably), in directory `dir`. */
export async function diskWith(files: Map<string, Uint8Array>, dir: string, seed: number): Promise<SimFileIO> {
  const io = new SimFileIO(seededRandom(seed));
  await io.mkdir(dir);
  for (const [p, b] of files) {
    const h = await io.open(p, 'w');
    await h.write(b, 0);
    await h.sync();
  }
  await io.fsyncDir(dir);
  return io;
}
