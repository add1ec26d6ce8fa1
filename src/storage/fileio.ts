import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { errnoCode } from './errors.ts';

/**
 * All file access of the storage layer goes through this interface, so that the same code runs
 * on a real disk (`NodeFileIO`) and on the simulated one (`SimFileIO`).
 *
 * Paths are plain strings joined with '/'. Nothing is durable until `sync()`/`datasync()` of the
 * file (its content) and `fsyncDir()` of its directory (its name: create, rename, unlink).
 */
export interface FileHandle {
  readonly path: string;
  /** Reads up to `buffer.byteLength` bytes at `position`; returns how many were read (0 at the end). */
  read(buffer: Uint8Array, position: number): Promise<number>;
  /** Writes all of `data` at `position` (retrying short writes). */
  write(data: Uint8Array, position: number): Promise<void>;
  /** Writes all of `data` at the current end of the file. */
  append(data: Uint8Array): Promise<void>;
  truncate(size: number): Promise<void>;
  /** fsync(2): content and metadata. */
  sync(): Promise<void>;
  /** fdatasync(2): content and the metadata needed to read it back (the size). */
  datasync(): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

export type OpenFlags =
  | 'r' // read only; the file must exist
  | 'r+' // read and write; the file must exist
  | 'w' // read and write; created or truncated
  | 'wx'; // read and write; created, must not exist

export interface FileStat {
  readonly size: number;
  readonly isDirectory: boolean;
}

export interface FileIO {
  open(file: string, flags: OpenFlags): Promise<FileHandle>;
  readFile(file: string): Promise<Uint8Array>;
  /** Names (not paths) of the entries of a directory. */
  readdir(dir: string): Promise<string[]>;
  rename(from: string, to: string): Promise<void>;
  unlink(file: string): Promise<void>;
  /** Creates a directory and its parents; no error if it exists. */
  mkdir(dir: string): Promise<void>;
  /** undefined when the path does not exist. */
  stat(file: string): Promise<FileStat | undefined>;
  truncate(file: string, size: number): Promise<void>;
  /** Makes the directory's entries (creations, renames, removals) durable. */
  fsyncDir(dir: string): Promise<void>;
}

export function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

export function dirName(file: string): string {
  const i = file.lastIndexOf('/');
  if (i < 0) return '.';
  if (i === 0) return '/';
  return file.slice(0, i);
}

class NodeFileHandle implements FileHandle {
  constructor(
    readonly path: string,
    private readonly fh: fsp.FileHandle,
  ) {}

  async read(buffer: Uint8Array, position: number): Promise<number> {
    const { bytesRead } = await this.fh.read(buffer, 0, buffer.byteLength, position);
    return bytesRead;
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < data.byteLength) {
      const { bytesWritten } = await this.fh.write(data, done, data.byteLength - done, position + done);
      if (bytesWritten <= 0) throw Object.assign(new Error(`short write to ${this.path}`), { code: 'EIO' });
      done += bytesWritten;
    }
  }

  async append(data: Uint8Array): Promise<void> {
    await this.write(data, await this.size());
  }

  async truncate(size: number): Promise<void> {
    await this.fh.truncate(size);
  }

  async sync(): Promise<void> {
    await this.fh.sync();
  }

  async datasync(): Promise<void> {
    await this.fh.datasync();
  }

  async size(): Promise<number> {
    return (await this.fh.stat()).size;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** FileIO on the real file system (`node:fs/promises`). */
export class NodeFileIO implements FileIO {
  async open(file: string, flags: OpenFlags): Promise<FileHandle> {
    const mode = flags === 'w' ? 'w+' : flags === 'wx' ? 'wx+' : flags;
    return new NodeFileHandle(file, await fsp.open(file, mode, 0o644));
  }

  async readFile(file: string): Promise<Uint8Array> {
    const b = await fsp.readFile(file);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }

  async readdir(dir: string): Promise<string[]> {
    return fsp.readdir(dir);
  }

  async rename(from: string, to: string): Promise<void> {
    await fsp.rename(from, to);
  }

  async unlink(file: string): Promise<void> {
    await fsp.unlink(file);
  }

  async mkdir(dir: string): Promise<void> {
    await fsp.mkdir(dir, { recursive: true });
  }

  async stat(file: string): Promise<FileStat | undefined> {
    try {
      const s = await fsp.stat(file);
      return { size: s.size, isDirectory: s.isDirectory() };
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') return undefined;
      throw e;
    }
  }

  async truncate(file: string, size: number): Promise<void> {
    await fsp.truncate(file, size);
  }

  async fsyncDir(dir: string): Promise<void> {
    const fh = await fsp.open(path.resolve(dir), 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}
