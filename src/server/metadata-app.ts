import { decodeCommand } from '../master/codec.ts';
import type { CommandResult } from '../master/results.ts';
import { MetadataState, type MetadataStateOptions } from '../master/state.ts';
import { restoreSnapshot } from '../master/snapshot-reader.ts';
import { snapshotBytes } from '../master/snapshot.ts';
import type { Entry, NodeId, Snapshot } from '../raft/types.ts';
import type { Application } from './raft-driver.ts';

/**
 * What the masters replicate, around the metadata state machine: the log entries the server
 * proposes and the snapshot that holds the metadata together with the member directory.
 *
 * A normal entry's data:
 *   u8 kind = 1 | u32 origin | u64 request | an encoded metadata command
 *       `origin` is the master that proposed it and `request` that master's number for the
 *       client request waiting on it; when the origin applies it, the answer goes to that client.
 *   u8 kind = 2 | JSON of a MemberRecord
 *       the addresses of a member, proposed before it is added to the group, so that every
 *       master (and every later snapshot) knows where to reach it.
 *
 * A snapshot's data: `u8 format (1) | u32 length | JSON of the member directory | metadata snapshot`.
 */
export const EntryKind = { command: 1, member: 2 } as const;

/** Bytes before the command in a command entry: kind, origin, request. */
export const commandEntryHeaderBytes = 13;

export interface MemberRecord {
  readonly id: NodeId;
  /** `host:port` of its peer, client and admin ports; `removed` forgets the member. */
  readonly peer: string;
  readonly client: string;
  readonly admin: string;
  readonly removed?: boolean;
}

export function encodeCommandEntry(origin: NodeId, request: number, command: Uint8Array): Uint8Array {
  const out = new Uint8Array(commandEntryHeaderBytes + command.byteLength);
  const dv = new DataView(out.buffer);
  out[0] = EntryKind.command;
  dv.setUint32(1, origin);
  dv.setBigUint64(5, BigInt(request));
  out.set(command, commandEntryHeaderBytes);
  return out;
}

export function encodeMemberEntry(m: MemberRecord): Uint8Array {
  const json = Buffer.from(JSON.stringify(m), 'utf8');
  const out = new Uint8Array(1 + json.byteLength);
  out[0] = EntryKind.member;
  out.set(json, 1);
  return out;
}

export class AppDataError extends Error {
  override readonly name = 'AppDataError';
  readonly code = 'ERR_BAD_ENTRY';
}

const snapshotFormat = 1;

export interface MetadataAppHooks {
  /** A command this master proposed was applied (its client is waiting for `request`). */
  readonly onResult: (request: number, result: CommandResult) => void;
  /** The member directory changed (apply or restore). */
  readonly onMembers: (members: ReadonlyMap<NodeId, MemberRecord>) => void;
}

export class MetadataApp implements Application {
  state: MetadataState;
  readonly members = new Map<NodeId, MemberRecord>();
  /** Commands applied since start, for metrics. */
  applied = 0;

  constructor(
    private readonly self: NodeId,
    private readonly stateOptions: MetadataStateOptions,
    private readonly hooks: MetadataAppHooks,
    initialMembers: readonly MemberRecord[],
  ) {
    this.state = new MetadataState(stateOptions);
    for (const m of initialMembers) this.members.set(m.id, m);
  }

  applyEntry(e: Entry): void {
    if (e.type !== 'normal' || e.data.byteLength === 0) return;
    const kind = e.data[0];
    if (kind === EntryKind.command) {
      if (e.data.byteLength < commandEntryHeaderBytes) throw new AppDataError(`entry ${e.index}: a command entry of ${e.data.byteLength} bytes`);
      const dv = new DataView(e.data.buffer, e.data.byteOffset, e.data.byteLength);
      const origin = dv.getUint32(1);
      const request = Number(dv.getBigUint64(5));
      const result = this.state.apply(decodeCommand(e.data.subarray(commandEntryHeaderBytes)), { index: e.index });
      this.applied++;
      if (origin === this.self) this.hooks.onResult(request, result);
      return;
    }
    if (kind === EntryKind.member) {
      const m = JSON.parse(Buffer.from(e.data.subarray(1)).toString('utf8')) as MemberRecord;
      if (m.removed === true) this.members.delete(m.id);
      else this.members.set(m.id, m);
      this.hooks.onMembers(this.members);
      return;
    }
    throw new AppDataError(`entry ${e.index}: unknown kind ${kind}`);
  }

  snapshot(): Uint8Array {
    const members = Buffer.from(JSON.stringify([...this.members.values()].sort((a, b) => a.id - b.id)), 'utf8');
    const meta = snapshotBytes(this.state);
    const out = new Uint8Array(5 + members.byteLength + meta.byteLength);
    out[0] = snapshotFormat;
    new DataView(out.buffer).setUint32(1, members.byteLength);
    out.set(members, 5);
    out.set(meta, 5 + members.byteLength);
    return out;
  }

  restore(snap: Snapshot): void {
    const d = snap.data;
    if (d.byteLength === 0) {
      // The snapshot at index 0 of a new store: the empty namespace.
      this.state = new MetadataState(this.stateOptions);
      return;
    }
    if (d[0] !== snapshotFormat || d.byteLength < 5) throw new AppDataError(`snapshot ${snap.metadata.index}: unknown format ${d[0]}`);
    const n = new DataView(d.buffer, d.byteOffset, d.byteLength).getUint32(1);
    const members = JSON.parse(Buffer.from(d.subarray(5, 5 + n)).toString('utf8')) as MemberRecord[];
    this.state = restoreSnapshot([d.subarray(5 + n)], this.stateOptions);
    this.members.clear();
    for (const m of members) this.members.set(m.id, m);
    this.hooks.onMembers(this.members);
  }
}
