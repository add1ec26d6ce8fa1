import type { Snapshot, SnapshotMetadata } from '../raft/types.ts';
import { StorageCorruptionError, errnoCode } from './errors.ts';
import { joinPath } from './fileio.ts';
import type { FileHandle, FileIO } from './fileio.ts';
import { SNAPSHOT_HEADER_BYTES, crc32, decodeConfState, decodeSnapshotHeader, encodeSnapshotHeader, snapshotName } from './format.ts';

export type WriteOutcome = 'ok' | { readonly stage: 'write' | 'sync' | 'other'; readonly error: unknown };

/**
 * Writes a snapshot durably: `<name>.tmp`, fsync, rename to `<name>`, fsync the directory.
 * On a failed write the temp file is removed. Returns what failed, if anything.
 */
export async function writeSnapshotFile(io: FileIO, dir: string, snap: Snapshot): Promise<WriteOutcome> {
  const m = snap.metadata;
  const file = joinPath(dir, snapshotName(m.index, m.term));
  const tmp = `${file}.tmp`;
  const { header, conf } = encodeSnapshotHeader(m.index, m.term, m.confState, snap.data);
  let h: FileHandle;
  try {
    h = await io.open(tmp, 'w');
  } catch (error) {
    return { stage: errnoCode(error) === 'ENOSPC' ? 'write' : 'other', error };
  }
  try {
    await h.write(header, 0);
    await h.write(conf, SNAPSHOT_HEADER_BYTES);
    await h.write(snap.data, SNAPSHOT_HEADER_BYTES + conf.byteLength);
  } catch (error) {
    await h.close().catch(() => undefined);
    await io.unlink(tmp).catch(() => undefined);
    return { stage: 'write', error };
  }
  try {
    await h.sync();
  } catch (error) {
    return { stage: 'sync', error };
  } finally {
    await h.close().catch(() => undefined);
  }
  try {
    await io.rename(tmp, file);
  } catch (error) {
    return { stage: 'other', error };
  }
  try {
    await io.fsyncDir(dir);
  } catch (error) {
    return { stage: 'sync', error };
  }
  return 'ok';
}

/** Reads a snapshot file incrementally: metadata first, then the data in chunks, verified at the end. */
export class SnapshotReader {
  private constructor(
    private readonly h: FileHandle,
    readonly file: string,
    readonly metadata: SnapshotMetadata,
    readonly dataBytes: number,
    private crc: number,
    private readonly expectedCrc: number,
    private readonly dataOffset: number,
  ) {}

  static async open(io: FileIO, file: string): Promise<SnapshotReader> {
    const h = await io.open(file, 'r');
    try {
      const size = await h.size();
      const hb = new Uint8Array(SNAPSHOT_HEADER_BYTES);
      const n = await h.read(hb, 0);
      const hdr = decodeSnapshotHeader(hb.subarray(0, n));
      if (typeof hdr === 'string') throw new StorageCorruptionError(file, 0, hdr);
      const dataOffset = SNAPSHOT_HEADER_BYTES + hdr.confLen;
      if (size !== dataOffset + hdr.dataLen) {
        throw new StorageCorruptionError(file, Math.min(size, dataOffset + hdr.dataLen), `snapshot file is ${size} bytes, its header says ${dataOffset + hdr.dataLen}`);
      }
      const cb = new Uint8Array(hdr.confLen);
      await readFully(h, cb, SNAPSHOT_HEADER_BYTES);
      const crc = crc32(cb, hdr.headerCrc);
      const conf = decodeConfState(cb);
      if (typeof conf === 'string') {
        // Report a checksum failure if there is one: that is the likelier cause.
        throw new StorageCorruptionError(file, SNAPSHOT_HEADER_BYTES, conf);
      }
      return new SnapshotReader(h, file, { index: hdr.index, term: hdr.term, confState: conf }, hdr.dataLen, crc, hdr.crc, dataOffset);
    } catch (e) {
      await h.close().catch(() => undefined);
      throw e;
    }
  }

  /** The data in chunks of at most `chunkBytes`; throws StorageCorruptionError after the last chunk if the checksum fails. */
  async *chunks(chunkBytes: number): AsyncGenerator<Uint8Array> {
    try {
      let done = 0;
      while (done < this.dataBytes) {
        const b = new Uint8Array(Math.min(chunkBytes, this.dataBytes - done));
        await readFully(this.h, b, this.dataOffset + done);
        this.crc = crc32(b, this.crc);
        done += b.byteLength;
        if (done === this.dataBytes) this.verify();
        yield b;
      }
      this.verify();
    } finally {
      await this.h.close().catch(() => undefined);
    }
  }

  private verify(): void {
    if (this.crc !== this.expectedCrc) throw new StorageCorruptionError(this.file, 0, 'snapshot checksum mismatch');
  }
}

async function readFully(h: FileHandle, b: Uint8Array, pos: number): Promise<void> {
  let done = 0;
  while (done < b.byteLength) {
    const n = await h.read(b.subarray(done), pos + done);
    if (n <= 0) throw new StorageCorruptionError(h.path, pos + done, 'unexpected end of file');
    done += n;
  }
}

/** The data of a snapshot file in chunks; the stream throws ERR_STORAGE_CORRUPT (before its last chunk) if the checksum fails. */
export async function* readSnapshotStream(io: FileIO, file: string, chunkBytes: number): AsyncGenerator<Uint8Array> {
  const r = await SnapshotReader.open(io, file);
  yield* r.chunks(chunkBytes);
}

/** Reads and verifies a whole snapshot file; a string says why it is not valid. */
export async function readSnapshotFile(io: FileIO, file: string, chunkBytes = 1 << 20): Promise<Snapshot | string> {
  try {
    const r = await SnapshotReader.open(io, file);
    const data = new Uint8Array(r.dataBytes);
    let off = 0;
    for await (const c of r.chunks(chunkBytes)) {
      data.set(c, off);
      off += c.byteLength;
    }
    return { metadata: r.metadata, data };
  } catch (e) {
    if (e instanceof StorageCorruptionError) return e.reason;
    throw e;
  }
}
