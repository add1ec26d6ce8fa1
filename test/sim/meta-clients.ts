import { noSession, type Command, type CommandHeader } from '../../src/master/commands.ts';
import { decodeCommand, encodeCommand, encodeResult } from '../../src/master/codec.ts';
import { retryWindow } from '../../src/master/limits.ts';
import type { CommandResult } from '../../src/master/mutations.ts';
import type { NodeId, ProposeResult } from '../../src/raft/types.ts';
import { Rng, Stream } from './prng.ts';

/**
 * Metadata clients: closed-loop clients that drive the metadata state machine through the log
 * with a random namespace workload, next to the key-value clients that the linearizability
 * checker watches. They make the nodes apply real metadata commands (so that snapshots,
 * restores and replays carry a real namespace); the simulator then compares the namespaces of
 * the nodes and runs the metadata invariant checker on each of them.
 *
 * A log entry of theirs is `'M' | u32 client | u32 op | command`; (client, op) names the
 * proposal so that the client learns its result from the first application.
 *
 * Each client opens a session first and sends every later command in it with a new sequence
 * number; a retry (after a timeout, a lost answer or a leader change) resends the same bytes,
 * so the log may hold a command several times. The pool checks exactly-once execution: every
 * application of one proposal, on every node and at every index it landed at, must give the
 * same result bytes (the retry cache answers the later copies with the first reply).
 */
export const META_TAG = 0x4d;
/** Metadata clients' ids start here, so their timers share the simulator's client events. */
export const META_CLIENT_BASE = 1000;

export interface MetaPort {
  nodeIds(): readonly NodeId[];
  propose(node: NodeId, data: Uint8Array): ProposeResult | undefined;
  scheduleClient(delayMs: number, client: number, opId: number, token: number): void;
  accepting(): boolean;
  /** Virtual time in milliseconds; the leader's clock for command times. */
  virtualMs(): number;
}

export interface MetaEnvelope {
  readonly client: number;
  readonly op: number;
  readonly command: Uint8Array;
}

export function encodeEnvelope(client: number, op: number, command: Uint8Array): Uint8Array {
  const out = new Uint8Array(9 + command.byteLength);
  const dv = new DataView(out.buffer);
  out[0] = META_TAG;
  dv.setUint32(1, client);
  dv.setUint32(5, op);
  out.set(command, 9);
  return out;
}

export function decodeEnvelope(data: Uint8Array): MetaEnvelope | undefined {
  if (data.byteLength < 9 || data[0] !== META_TAG) return undefined;
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return { client: dv.getUint32(1), op: dv.getUint32(5), command: data.subarray(9) };
}

/** The metadata clock starts here and runs 100 times faster than virtual time, so trash and session expiry happen within a run. */
const baseTimeSec = 1_700_000_000;
export const metaTimeSec = (virtualMs: number): number => baseTimeSec + Math.floor(virtualMs / 10);

const names = ['a', 'b', 'c', 'd', 'e', 'f'];

export interface MetaClientStats {
  proposed: number;
  applied: number;
  failed: number;
  gaveUp: number;
  /** Applications of a proposal at a second log index (retries that reached the log twice), answered from the retry cache. */
  duplicates: number;
  /** Copies applied after their client had moved a whole retry window on: refused with RETRY_EXPIRED, not executed. */
  expiredDuplicates: number;
}

/** A proposal applied twice with different answers: the retry cache failed. */
export class ExactlyOnceViolation extends Error {
  override readonly name = 'ExactlyOnceViolation';
}

interface Pending {
  readonly opId: number;
  readonly data: Uint8Array;
  /** A writeChunk's index, to remember the chunk it gets. */
  readonly chunkIndex: number | undefined;
  retryToken: number;
  readonly deadlineToken: number;
}

class MetaClient {
  nextOp = 1;
  session = 0;
  seq = 0;
  /** Chunks it was given by writeChunk and has not ended yet: [inode, index, chunkId]. */
  readonly writing: [number, number, number][] = [];
  leaderHint: NodeId = 0;
  pending: Pending | undefined = undefined;
  readonly dirs: number[] = [1];
  readonly files: number[] = [];
  constructor(
    readonly id: number,
    readonly rng: Rng,
  ) {}
}

export class MetaClientPool {
  readonly stats: MetaClientStats = { proposed: 0, applied: 0, failed: 0, gaveUp: 0, duplicates: 0, expiredDuplicates: 0 };
  private readonly clients: MetaClient[] = [];
  /** First answer of each proposal made in a session: `client:op` → index and result bytes. */
  private readonly answers = new Map<string, { index: number; bytes: string }>();

  constructor(
    count: number,
    seed: number,
    private readonly port: MetaPort,
    private readonly timing: { readonly opTimeoutMs: number; readonly retryMs: number; readonly thinkMaxMs: number },
  ) {
    for (let i = 0; i < count; i++) this.clients.push(new MetaClient(META_CLIENT_BASE + i + 1, new Rng(seed, Stream.metaClient, i + 1)));
  }

  owns(clientId: number): boolean {
    return clientId > META_CLIENT_BASE && clientId <= META_CLIENT_BASE + this.clients.length;
  }

  start(): void {
    for (const c of this.clients) this.port.scheduleClient(c.rng.float() * 20, c.id, 0, 0);
  }

  outstanding(): number {
    let n = 0;
    for (const c of this.clients) if (c.pending !== undefined) n++;
    return n;
  }

  onTimer(clientId: number, opId: number, token: number): void {
    const c = this.clients[clientId - META_CLIENT_BASE - 1];
    if (c === undefined) return;
    if (opId === 0) {
      if (c.pending === undefined) this.startOp(c);
      return;
    }
    const p = c.pending;
    if (p === undefined || p.opId !== opId) return;
    if (token === p.deadlineToken) {
      this.stats.gaveUp++;
      c.pending = undefined;
      this.scheduleNext(c);
      return;
    }
    if (token === p.retryToken) this.attempt(c, p);
  }

  /**
   * A metadata entry was applied at `index` on some node. Every application of a proposal sent
   * in a session must answer the same; the first one answers its client.
   */
  onApplied(env: MetaEnvelope, result: CommandResult, index: number, inSession: boolean): void {
    if (inSession) {
      const key = `${env.client}:${env.op}`;
      const bytes = Buffer.from(encodeResult(result)).toString('hex');
      const first = this.answers.get(key);
      if (first === undefined) this.answers.set(key, { index, bytes });
      else if (first.bytes !== bytes) {
        // A copy that lands after its client has moved a whole retry window on is refused unexecuted.
        const c = this.clients[env.client - META_CLIENT_BASE - 1];
        const seq = decodeCommand(env.command).session.seq;
        const expiredLegitimately = !result.ok && result.code === 'RETRY_EXPIRED' && c !== undefined && c.seq >= seq + retryWindow;
        if (!expiredLegitimately) {
          throw new ExactlyOnceViolation(
            `proposal ${key} (seq ${seq}) answered ${JSON.stringify(result)} at index ${index}, but ${first.bytes} at index ${first.index}`,
          );
        }
        this.stats.expiredDuplicates++;
      } else if (first.index !== index) this.stats.duplicates++;
    }
    const c = this.clients[env.client - META_CLIENT_BASE - 1];
    const p = c?.pending;
    if (c === undefined || p === undefined || p.opId !== env.op) return;
    c.pending = undefined;
    this.stats.applied++;
    if (!result.ok) this.stats.failed++;
    else {
      if (result.sessionId !== undefined && c.session === 0) c.session = result.sessionId;
      if (result.chunk !== undefined && result.attr !== null && p.chunkIndex !== undefined && c.writing.length < 8) {
        c.writing.push([result.inode, p.chunkIndex, result.chunk.chunkId]);
      }
      if (result.attr !== null) {
        const t = result.attr.type;
        const list = t === 2 ? c.dirs : c.files;
        if (!list.includes(result.inode) && list.length < 64) list.push(result.inode);
      }
    }
    this.scheduleNext(c);
  }

  private scheduleNext(c: MetaClient): void {
    if (!this.port.accepting()) return;
    this.port.scheduleClient(c.rng.float() * this.timing.thinkMaxMs, c.id, 0, 0);
  }

  private startOp(c: MetaClient): void {
    if (!this.port.accepting()) return;
    const opId = c.nextOp++;
    const command = this.generate(c);
    const p: Pending = {
      opId,
      data: encodeEnvelope(c.id, opId, encodeCommand(command)),
      chunkIndex: command.kind === 'writeChunk' ? command.index : undefined,
      retryToken: 1,
      deadlineToken: -opId,
    };
    c.pending = p;
    this.stats.proposed++;
    this.port.scheduleClient(this.timing.opTimeoutMs, c.id, opId, p.deadlineToken);
    this.attempt(c, p);
  }

  private attempt(c: MetaClient, p: Pending): void {
    const ids = this.port.nodeIds();
    const r = c.rng;
    const retry = (ms: number): void => {
      p.retryToken++;
      this.port.scheduleClient(ms, c.id, p.opId, p.retryToken);
    };
    if (ids.length === 0) return retry(5);
    const node = c.leaderHint !== 0 && ids.includes(c.leaderHint) && r.chance(0.7) ? c.leaderHint : r.pick(ids);
    const res = this.port.propose(node, p.data);
    if (res === undefined) return retry(1 + r.float() * 10);
    if (!res.ok) {
      c.leaderHint = res.leaderHint;
      return retry(1 + r.float() * 10);
    }
    c.leaderHint = 'forwarded' in res ? res.to : node;
    retry(this.timing.retryMs * (0.5 + r.float()));
  }

  private generate(c: MetaClient): Command {
    const r = c.rng;
    const root = r.chance(0.8);
    const timeSec = metaTimeSec(this.port.virtualMs());
    const ids = { timeSec, uid: root ? 0 : 1000, gids: root ? [0] : [1000, 100] };
    if (c.session === 0) {
      // Not deduplicated (there is no session yet): a retry may open a second session, which expires unused.
      return { ...ids, session: noSession, kind: 'sessionOpen', rootInode: 1, flags: 0, timeoutSec: sessionTimeoutSec };
    }
    const header: CommandHeader = { ...ids, session: { id: c.session, seq: ++c.seq } };
    const dir = (): number => r.pick(c.dirs);
    const file = (): number => (c.files.length > 0 ? r.pick(c.files) : dir());
    const anyInode = (): number => (r.chance(0.7) ? file() : dir());
    const name = (): string => r.pick(names);
    const mode = (): number => r.pick([0o755, 0o700, 0o777, 0o1777, 0o644, 0o2775]);
    const w = r.float();
    if (w < 0.1) return { ...header, kind: 'mkdir', parent: dir(), name: name(), mode: mode(), umask: 0o022 };
    if (w < 0.24) return { ...header, kind: 'create', parent: dir(), name: name(), mode: mode(), umask: 0o022 };
    if (w < 0.27) return { ...header, kind: 'symlink', parent: dir(), name: name(), target: r.pick(['a', '../b', '/x/y']) };
    if (w < 0.3) return { ...header, kind: 'link', inode: anyInode(), parent: dir(), name: name() };
    if (w < 0.4) return { ...header, kind: 'unlink', parent: dir(), name: name() };
    if (w < 0.45) return { ...header, kind: 'rmdir', parent: dir(), name: name() };
    if (w < 0.54) return { ...header, kind: 'rename', srcParent: dir(), srcName: name(), dstParent: dir(), dstName: name() };
    if (w < 0.59) {
      return {
        ...header,
        kind: 'setattr',
        inode: anyInode(),
        setMask: r.pick([0x02, 0x04 | 0x08, 0x20 | 0x40, 0x10]),
        mode: mode(),
        newUid: r.pick([0, 1000, 1001]),
        newGid: r.pick([0, 100, 1000]),
        atimeSec: timeSec - 5,
        mtimeSec: timeSec - 3,
      };
    }
    if (w < 0.63) return { ...header, kind: 'truncate', inode: file(), lengthBytes: r.pick([0, 1, 4096, 100 << 20, 200 << 20]) };
    if (w < 0.71) return { ...header, kind: 'writeChunk', inode: file(), index: r.pick([0, 0, 1, 2, 5]) };
    if (w < 0.77 && c.writing.length > 0) {
      const [inode, index, chunkId] = c.writing.splice(r.intBelow(c.writing.length), 1)[0]!;
      return { ...header, kind: 'writeChunkEnd', inode, index, chunkId, lengthBytes: index * 64 * 1024 * 1024 + r.pick([1, 4096, 1 << 20]) };
    }
    if (w < 0.83) return { ...header, kind: r.chance(0.6) ? 'acquire' : 'release', sessionId: c.session, inode: file() };
    if (w < 0.86) return { ...header, kind: 'setTrashTime', inode: anyInode(), trashTimeSec: r.pick([0, 3, 30, 86_400]) };
    if (w < 0.88) return { ...header, kind: 'setGoal', inode: anyInode(), goal: r.pick([1, 2, 3, 10]) };
    if (w < 0.91) return { ...header, kind: r.chance(0.5) ? 'purgeTrash' : 'undelete', inode: file() };
    if (w < 0.95) return { ...header, kind: 'expireTrash', maxCount: r.pick([1, 4, 100]) };
    if (w < 0.97) return { ...header, kind: 'sessionRenew', sessionId: c.session };
    if (w < 0.99) return { ...header, kind: 'expireSessions', maxCount: 10 };
    // A short-lived second session that holds a file and is left to expire.
    return { ...ids, session: noSession, kind: 'sessionOpen', rootInode: 1, flags: 0, timeoutSec: 2 };
  }
}

/** Long enough that a client's own session never expires within a run (metadata seconds). */
const sessionTimeoutSec = 100_000;
