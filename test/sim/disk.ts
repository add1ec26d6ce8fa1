import type { FileHandle, FileIO, FileStat, OpenFlags, SimFileIO } from '../../src/storage/index.ts';
import { parseSegmentName, parseSnapshotName } from '../../src/storage/format.ts';

/**
 * Hooks of one incarnation of a node into the simulator: `gate()` resolves when the
 * simulator's fsync event for it fires (never, if the process died meanwhile), and
 * `beforeWrite()` may arm an injected fault on the next write.
 */
export interface DiskHooks {
  gate(): Promise<void>;
  beforeWrite(): void;
  /** Called once an fsync has completed on the disk; true if the machine dies before the process learns it. */
  afterSync(): boolean;
}

const NEVER = new Promise<never>(() => undefined);

/**
 * The FileIO one simulated process sees: its node's SimFileIO (through a `view()`, dead after
 * the next crash) with every fsync (file or directory) held until the simulator says the disk
 * has finished it. Writes land in the simulated page cache at once, so a crash while an fsync
 * is outstanding loses them, or tears them. Before `gated` is set (during open) fsyncs complete
 * at once.
 */
export class GatedFileIO implements FileIO {
  gated = false;

  constructor(
    private readonly inner: FileIO,
    private readonly hooks: DiskHooks,
  ) {}

  async sync(): Promise<void> {
    if (this.gated) await this.hooks.gate();
  }

  async synced(): Promise<void> {
    if (this.gated && this.hooks.afterSync()) await NEVER;
  }

  beforeWrite(): void {
    if (this.gated) this.hooks.beforeWrite();
  }

  async open(file: string, flags: OpenFlags): Promise<FileHandle> {
    return new GatedHandle(await this.inner.open(file, flags), this);
  }

  readFile(file: string): Promise<Uint8Array> {
    return this.inner.readFile(file);
  }

  readdir(dir: string): Promise<string[]> {
    return this.inner.readdir(dir);
  }

  rename(from: string, to: string): Promise<void> {
    return this.inner.rename(from, to);
  }

  unlink(file: string): Promise<void> {
    return this.inner.unlink(file);
  }

  mkdir(dir: string): Promise<void> {
    return this.inner.mkdir(dir);
  }

  stat(file: string): Promise<FileStat | undefined> {
    return this.inner.stat(file);
  }

  truncate(file: string, size: number): Promise<void> {
    return this.inner.truncate(file, size);
  }

  async fsyncDir(dir: string): Promise<void> {
    await this.sync();
    await this.inner.fsyncDir(dir);
    await this.synced();
  }
}

class GatedHandle implements FileHandle {
  constructor(
    private readonly inner: FileHandle,
    private readonly io: GatedFileIO,
  ) {}

  get path(): string {
    return this.inner.path;
  }

  read(buffer: Uint8Array, position: number): Promise<number> {
    return this.inner.read(buffer, position);
  }

  write(data: Uint8Array, position: number): Promise<void> {
    this.io.beforeWrite();
    return this.inner.write(data, position);
  }

  append(data: Uint8Array): Promise<void> {
    this.io.beforeWrite();
    return this.inner.append(data);
  }

  truncate(size: number): Promise<void> {
    return this.inner.truncate(size);
  }

  async sync(): Promise<void> {
    await this.io.sync();
    await this.inner.sync();
    await this.io.synced();
  }

  async datasync(): Promise<void> {
    await this.io.sync();
    await this.inner.datasync();
    await this.io.synced();
  }

  size(): Promise<number> {
    return this.inner.size();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * Files of a store at rest whose damage open() must report as corruption: the newest snapshot
 * and every segment of the run it replays except the last one (damage in the last segment may
 * legitimately pass for a torn tail). Reads the disk's durable state, so call it while the
 * node is down after a crash.
 */
export function rotTargets(io: SimFileIO, dir: string): { file: string; size: number }[] {
  const names = io
    .listAll()
    .filter((p) => p.startsWith(`${dir}/`))
    .map((p) => p.slice(dir.length + 1));
  const snaps = names
    .map((n) => ({ n, p: parseSnapshotName(n) }))
    .filter((x): x is { n: string; p: { index: number; term: number } } => x.p !== undefined)
    .sort((a, b) => b.p.index - a.p.index || b.p.term - a.p.term);
  const segs = names
    .map((n) => ({ n, seq: parseSegmentName(n) }))
    .filter((x): x is { n: string; seq: number } => x.seq !== undefined)
    .sort((a, b) => a.seq - b.seq);
  let from = segs.length - 1;
  while (from > 0 && segs[from - 1]!.seq === segs[from]!.seq - 1) from--;
  const files = [...(snaps[0] !== undefined ? [snaps[0].n] : []), ...segs.slice(Math.max(0, from), -1).map((s) => s.n)];
  const out: { file: string; size: number }[] = [];
  for (const n of files) {
    const file = `${dir}/${n}`;
    const size = io.durableContent(file)?.byteLength ?? 0;
    if (size > 0) out.push({ file, size });
  }
  return out;
}
