import { createHash } from 'node:crypto';
import { decodeCommand as decodeMetaCommand } from '../../src/master/codec.ts';
import type { CommandResult } from '../../src/master/mutations.ts';
import { MetadataState } from '../../src/master/state.ts';
import type { Entry } from '../../src/raft/types.ts';
import { chainHash, entryDigest, Hasher } from './hash.ts';
import { decodeEnvelope, type MetaEnvelope } from './meta-clients.ts';
import { restoreMeta, snapshotMeta } from './meta-snapshot.ts';

export type WriteKind = 'put' | 'append';

/** A client write as it travels through the log. (client, seq) identifies it uniquely. */
export interface KvCommand {
  readonly client: number;
  readonly seq: number;
  readonly op: WriteKind;
  readonly key: string;
  readonly value: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeCommand(c: KvCommand): Uint8Array {
  return enc.encode(JSON.stringify([c.client, c.seq, c.op, c.key, c.value]));
}

export function decodeCommand(b: Uint8Array): KvCommand | undefined {
  if (b.byteLength === 0 || decodeEnvelope(b) !== undefined) return undefined;
  const a = JSON.parse(dec.decode(b)) as unknown;
  if (!Array.isArray(a) || a.length !== 5) throw new Error(`malformed command ${dec.decode(b)}`);
  const [client, seq, op, key, value] = a as [number, number, WriteKind, string, string];
  return { client, seq, op, key, value };
}

/** What applying one entry did. */
export interface ApplyResult {
  readonly cmd: KvCommand | undefined;
  /** True when the command took effect (not a duplicate of an already applied one). */
  readonly fresh: boolean;
  /** A metadata command and what applying it answered. */
  readonly meta?: { readonly env: MetaEnvelope; readonly result: CommandResult; readonly inSession: boolean };
}

/** The metadata state every simulated node starts from (the options must be equal on every replica). */
export function newMetadataState(): MetadataState {
  return new MetadataState({ inodeReuseDelaySec: 30, initialInodeCapacity: 16, rootMode: 0o777, rootTimeSec: 1_700_000_000 });
}

/**
 * The replicated state machine of the simulated nodes: a key-value store, whose history the
 * linearizability checker judges, and the metadata state machine of the product, which
 * metadata clients drive with namespace commands (entries tagged by `decodeEnvelope`).
 * Key-value writes are deduplicated by a per-client session (highest applied seq), so retried
 * or duplicated proposals apply at most once.
 */
export class KvStateMachine {
  applied = 0;
  meta = newMetadataState();
  /** Chain hash over every entry applied so far (index, term, content). */
  seqHash = 0;
  private readonly kv = new Map<string, string>();
  /** client → [highest applied seq, index at which it applied] */
  private readonly sessions = new Map<number, [number, number]>();

  get(key: string): string | undefined {
    return this.kv.get(key);
  }

  /** The index at which the client's write `seq` took effect, if it did. */
  effectIndex(client: number, seq: number): number | undefined {
    const s = this.sessions.get(client);
    if (s === undefined || s[0] !== seq) return undefined;
    return s[1];
  }

  apply(e: Entry): ApplyResult {
    this.applied = e.index;
    this.seqHash = chainHash(this.seqHash, e.index, e.term, entryDigest(e));
    if (e.type !== 'normal') return { cmd: undefined, fresh: false };
    const env = decodeEnvelope(e.data);
    if (env !== undefined) {
      const command = decodeMetaCommand(env.command);
      const result = this.meta.apply(command, { index: e.index });
      return { cmd: undefined, fresh: false, meta: { env, result, inSession: command.session.id !== 0 } };
    }
    const cmd = decodeCommand(e.data);
    if (cmd === undefined) return { cmd: undefined, fresh: false };
    const s = this.sessions.get(cmd.client);
    if (s !== undefined && s[0] >= cmd.seq) return { cmd, fresh: false };
    this.sessions.set(cmd.client, [cmd.seq, e.index]);
    if (cmd.op === 'put') this.kv.set(cmd.key, cmd.value);
    else this.kv.set(cmd.key, (this.kv.get(cmd.key) ?? '') + cmd.value);
    return { cmd, fresh: true };
  }

  /** `u32 length | JSON of the key-value part | metadata snapshot`. */
  serialize(): Uint8Array {
    const kv = [...this.kv.entries()].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    const sessions = [...this.sessions.entries()].sort((x, y) => x[0] - y[0]);
    const json = enc.encode(JSON.stringify({ applied: this.applied, seqHash: this.seqHash, kv, sessions }));
    const meta = snapshotMeta(this.meta);
    const out = new Uint8Array(4 + json.byteLength + meta.byteLength);
    new DataView(out.buffer).setUint32(0, json.byteLength);
    out.set(json, 4);
    out.set(meta, 4 + json.byteLength);
    return out;
  }

  static restore(data: Uint8Array): KvStateMachine {
    const sm = new KvStateMachine();
    if (data.byteLength === 0) return sm;
    const jsonLength = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0);
    sm.meta = restoreMeta(data.subarray(4 + jsonLength));
    const o = JSON.parse(dec.decode(data.subarray(4, 4 + jsonLength))) as {
      applied: number;
      seqHash: number;
      kv: [string, string][];
      sessions: [number, [number, number]][];
    };
    sm.applied = o.applied;
    sm.seqHash = o.seqHash;
    for (const [k, v] of o.kv) sm.kv.set(k, v);
    for (const [c, s] of o.sessions) sm.sessions.set(c, s);
    return sm;
  }

  /** Fingerprint of the visible state (keys, values, sessions). */
  stateDigest(): number {
    const h = new Hasher();
    const keys = [...this.kv.keys()].sort();
    for (const k of keys) h.str(k).str(this.kv.get(k)!);
    const clients = [...this.sessions.keys()].sort((a, b) => a - b);
    for (const c of clients) {
      const s = this.sessions.get(c)!;
      h.num(c).num(s[0]).num(s[1]);
    }
    h.str(createHash('sha256').update(this.meta.dump()).digest('hex'));
    return h.digest();
  }

  describe(): string {
    const keys = [...this.kv.keys()].sort();
    return keys.map((k) => `${k}=${JSON.stringify(this.kv.get(k))}`).join(' ');
  }
}
