/**
 * The chaos workload: concurrent SDK clients on two kinds of objects, every operation recorded
 * with its invoke and completion time (monotonic, one clock: everything runs in this process) and
 * its outcome, in the shapes of the project's linearizability checker:
 *
 * - attribute registers (model `attr`, partitioned per inode): files whose mode is written with
 *   chmod and whose owner with chown (a unique uid/gid per write), read with getattr; the reply of a
 *   write carries the record after it, checked like a read;
 * - name sets (model `dir`, partitioned per directory): create adds a unique name, unlink removes
 *   one, readdir (one page: atomic) reads the whole set. A directory takes a bounded number of
 *   names, then the workload moves on to a new one (a mkdir recorded as a create in their parent),
 *   which keeps every set small enough to check.
 *
 * Outcomes: `ok` (answered, including EEXIST/ENOENT that reflect the state); `failed` for a read
 * that did not complete (no effect); `unknown` for a mutation that did not complete (TIMEOUT,
 * connection lost, gave up): it may take effect later, or never.
 */
import { performance } from 'node:perf_hooks';
import { Consistency, type ReadReply, type Response } from '../../src/api/protocol.ts';
import { MoosengClient } from '../../src/client/client.ts';
import { HistoryRecorder, type AttrInput, type AttrOutput, type AttrRecord, type DirInput, type DirOutput } from '../../src/lincheck/index.ts';
import type { Attr } from '../../src/master/commands.ts';
import { maxReaddirEntries, rootInode } from '../../src/master/limits.ts';
import { rawRequest, sleep } from '../integration/harness.ts';
import { Rng } from '../sim/prng.ts';

/** The fields of an attribute record the checker follows (times change on every write and are left out). */
export const attrFields = ['mode', 'uid', 'gid'] as const;

export interface WorkloadOptions {
  readonly seed: number;
  readonly masters: () => readonly string[];
  readonly clients: number;
  readonly files: number;
  /** Directories written at the same time. */
  readonly dirSlots: number;
  /** Names per directory before the workload moves on to a new one. */
  readonly namesPerDir: number;
  /** Pause between two operations of a client, up to this (keeps the history checkable). */
  readonly thinkMsMax: number;
  readonly attemptTimeoutMs: number;
  /** Deadlines of the clients' operations, one per client in turn: short ones end in unknown outcomes during faults. */
  readonly deadlinesMs: readonly number[];
  /**
   * Probes read with `local` consistency (the master's own state, no leader check): stale reads on
   * purpose, to see the checker catch them. Only for testing the harness.
   */
  readonly staleProbes: boolean;
}

export interface OutcomeCounts {
  operations: number;
  ok: number;
  failed: number;
  unknown: number;
  /** Error codes seen (for failed and unknown operations, and observed errors). */
  readonly codes: Record<string, number>;
}

interface DirSlot {
  inode: number;
  issued: number;
  generation: number;
  rotating: boolean;
}

type Outcome<O> = { readonly kind: 'ok'; readonly output: O } | { readonly kind: 'failed' | 'unknown'; readonly code: string };

function codeOf(e: unknown): string {
  const c = (e as { code?: unknown }).code;
  return typeof c === 'string' ? c : e instanceof Error ? e.message.slice(0, 80) : String(e);
}

export function pickAttrs(a: Attr): AttrRecord {
  return { mode: a.mode, uid: a.uid, gid: a.gid };
}

export class Workload {
  readonly attr = new HistoryRecorder<AttrInput, AttrOutput>();
  readonly dir = new HistoryRecorder<DirInput, DirOutput>();
  readonly counts: OutcomeCounts = { operations: 0, ok: 0, failed: 0, unknown: 0, codes: {} };
  /** The file inodes (attribute registers). */
  files: number[] = [];
  /** The parent of the name-set directories (itself a name set of directories). */
  setsDir = 0;
  /** Every name-set directory created, in order. */
  readonly dirs: number[] = [];
  private readonly slots: DirSlot[] = [];
  private readonly clients: MoosengClient[] = [];
  private running = false;
  private loops: Promise<void>[] = [];
  private probeCount = 0;
  private readonly t0 = performance.now();

  constructor(private readonly o: WorkloadOptions) {}

  /** ms since the workload was made: the clock of every history. */
  now(): number {
    return performance.now() - this.t0;
  }

  private note(kind: 'ok' | 'failed' | 'unknown', code?: string): void {
    this.counts.operations++;
    this.counts[kind]++;
    if (code !== undefined) this.counts.codes[code] = (this.counts.codes[code] ?? 0) + 1;
  }

  /**
   * Runs one operation and records it. `observed` are the error codes that are answers of the
   * state machine about the state (EEXIST of a create), recorded as outputs.
   */
  private async record<I, O>(
    rec: HistoryRecorder<I, O>,
    process: string,
    input: I,
    mutation: boolean,
    run: () => Promise<O>,
    observed: readonly string[] = [],
  ): Promise<Outcome<O>> {
    const id = rec.invoke(process, input, this.now());
    try {
      const output = await run();
      rec.complete(id, output, this.now());
      this.note('ok');
      return { kind: 'ok', output };
    } catch (e) {
      const code = codeOf(e);
      if (observed.includes(code)) {
        const output = { error: code } as O;
        rec.complete(id, output, this.now());
        this.note('ok', code);
        return { kind: 'ok', output };
      }
      if (!mutation) {
        rec.fail(id, this.now());
        this.note('failed', code);
        return { kind: 'failed', code };
      }
      // Any other end of a mutation (timeout, lost connection, an expired session whose first
      // attempt may have run) leaves its effect open.
      rec.timeout(id);
      this.note('unknown', code);
      return { kind: 'unknown', code };
    }
  }

  private connect(readFrom: 'leader' | 'any', deadlineMs = Math.max(...this.o.deadlinesMs)): Promise<MoosengClient> {
    return MoosengClient.connect({
      masters: this.o.masters(),
      readFrom,
      attemptTimeoutMs: this.o.attemptTimeoutMs,
      deadlineMs,
    });
  }

  /** Creates the files and the first directories (before any fault), recorded in the histories. */
  async setup(): Promise<void> {
    const c = await this.connect('leader');
    try {
      const top = await c.mkdir(rootInode, 'chaos');
      const filesDir = await c.mkdir(top.inode, 'files');
      for (let i = 0; i < this.o.files; i++) this.files.push((await c.create(filesDir.inode, `f${i}`)).inode);
      this.setsDir = (await c.mkdir(top.inode, 'sets')).inode;
      for (let s = 0; s < this.o.dirSlots; s++) {
        const name = `d${s}-0`;
        const r = await this.record(this.dir, 'setup', { f: 'create', dir: this.setsDir, name }, true, async () => {
          const a = await c.mkdir(this.setsDir, name);
          this.dirs.push(a.inode);
          this.slots.push({ inode: a.inode, issued: 0, generation: 0, rotating: false });
          return {};
        });
        if (r.kind !== 'ok') throw new Error(`setup: mkdir ${name} failed: ${r.code}`);
      }
    } finally {
      await c.close();
    }
  }

  start(): void {
    this.running = true;
    for (let k = 0; k < this.o.clients; k++) this.loops.push(this.clientLoop(k));
  }

  /** Stops issuing operations and waits for those in flight (each bounded by the SDK deadline). */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.loops = [];
    await Promise.all(this.clients.splice(0).map((c) => Promise.race([c.close(), sleep(3000)]).catch(() => undefined)));
  }

  private async clientLoop(k: number): Promise<void> {
    const rng = new Rng(this.o.seed, 0x776f726b, k);
    const proc = `c${k}`;
    // Half the clients read from any member (followers and learners too), half from the leader.
    let client: MoosengClient | undefined;
    while (this.running && client === undefined) {
      client = await this.connect(k % 2 === 0 ? 'any' : 'leader', this.o.deadlinesMs[k % this.o.deadlinesMs.length]).catch(() => undefined);
      if (client === undefined) await sleep(500);
    }
    if (client === undefined) return;
    this.clients.push(client);
    const c = client;
    /** Names this client created (acknowledged) per directory, candidates for unlink. */
    const mine = new Map<number, string[]>();
    let n = 0;
    while (this.running) {
      n++;
      const roll = rng.float();
      if (roll < 0.3) {
        const inode = rng.pick(this.files);
        await this.record(this.attr, proc, { f: 'getattr', inode }, false, async () => ({ attrs: pickAttrs(await c.getattr(inode)) }));
      } else if (roll < 0.4) {
        const inode = rng.pick(this.files);
        // Permission bits and sticky only: chown drops setuid/setgid, which would make the mode depend on the order.
        const mode = rng.intBelow(0o2000);
        await this.record(this.attr, proc, { f: 'setattr', inode, attrs: { mode } }, true, async () => ({ attrs: pickAttrs(await c.chmod(inode, mode)) }));
      } else if (roll < 0.5) {
        const inode = rng.pick(this.files);
        const owner = 1000 + k * 1_000_000 + n;
        await this.record(this.attr, proc, { f: 'setattr', inode, attrs: { uid: owner, gid: owner } }, true, async () => ({
          attrs: pickAttrs(await c.chown(inode, owner, owner)),
        }));
      } else if (roll < 0.75) {
        const slot = rng.pick(this.slots);
        if (slot.issued >= this.o.namesPerDir && !slot.rotating) {
          await this.rotate(c, proc, slot);
          continue;
        }
        const dir = slot.inode;
        slot.issued++;
        const name = `c${k}-${n}`;
        const r = await this.record<DirInput, DirOutput>(this.dir, proc, { f: 'create', dir, name }, true, async () => (await c.create(dir, name), {}), ['EEXIST']);
        if (r.kind === 'ok' && r.output.error === undefined) mine.set(dir, [...(mine.get(dir) ?? []), name]);
      } else if (roll < 0.8) {
        const dirs = [...mine.keys()];
        if (dirs.length === 0) continue;
        const dir = rng.pick(dirs);
        const names = mine.get(dir)!;
        if (names.length === 0) continue;
        const name = names.splice(rng.intBelow(names.length), 1)[0]!;
        await this.record(this.dir, proc, { f: 'remove', dir, name }, true, async () => (await c.unlink(dir, name), {}), ['ENOENT']);
      } else if (roll < 0.97) {
        const dir = rng.pick(this.slots).inode;
        await this.record(this.dir, proc, { f: 'readdir', dir }, false, async () => ({ names: (await c.readdir(dir, maxReaddirEntries)).map((e) => e.name) }));
      } else {
        const dir = this.setsDir;
        await this.record(this.dir, proc, { f: 'readdir', dir }, false, async () => ({ names: (await c.readdir(dir, maxReaddirEntries)).map((e) => e.name) }));
      }
      if (this.o.thinkMsMax > 0) await sleep(rng.intBelow(this.o.thinkMsMax + 1));
    }
  }

  /** A new directory for a slot that has taken its share of names; the old one stays readable. */
  private async rotate(c: MoosengClient, proc: string, slot: DirSlot): Promise<void> {
    slot.rotating = true;
    slot.generation++;
    const name = `d${this.slots.indexOf(slot)}-${slot.generation}`;
    let inode = 0;
    const r = await this.record<DirInput, DirOutput>(this.dir, proc, { f: 'create', dir: this.setsDir, name }, true, async () => ((inode = (await c.mkdir(this.setsDir, name)).inode), {}), ['EEXIST']);
    if (r.kind === 'ok' && r.output.error === undefined) {
      this.dirs.push(inode);
      slot.inode = inode;
      slot.issued = 0;
    }
    slot.rotating = false;
  }

  /**
   * Reads sent straight to one master (no SDK, no redirect, one attempt): the probes of a paused
   * leader. Each on its own connection and as its own process; a read that gets no answer failed.
   */
  probe(address: string, timeoutMs: number): Promise<void>[] {
    const out: Promise<void>[] = [];
    const inode = this.files[this.probeCount % this.files.length]!;
    const consistency = this.o.staleProbes ? Consistency.local : Consistency.linearizable;
    const dir = this.slots[this.probeCount % this.slots.length]?.inode ?? this.setsDir;
    const p1 = `probe${this.probeCount++}`;
    out.push(
      this.record(this.attr, p1, { f: 'getattr', inode }, false, async () => {
        const r = await rawRequest(address, { op: 'read', id: 1, consistency, read: { kind: 'getattr', inode } }, timeoutMs);
        const reply = readReply(r);
        if (reply.kind !== 'getattr') throw new Error('mismatched reply');
        return { attrs: pickAttrs(reply.attr) };
      }).then(() => undefined),
    );
    const p2 = `probe${this.probeCount++}`;
    out.push(
      this.record(this.dir, p2, { f: 'readdir', dir }, false, async () => {
        const r = await rawRequest(
          address,
          { op: 'read', id: 1, consistency, read: { kind: 'readdir', inode: dir, caller: { uid: 0, gids: [0] }, after: null, maxEntries: maxReaddirEntries } },
          timeoutMs,
        );
        const reply = readReply(r);
        if (reply.kind !== 'readdir') throw new Error('mismatched reply');
        return { names: reply.entries.map((e) => e.name) };
      }).then(() => undefined),
    );
    return out;
  }

  /** After the chaos: every file and directory read once through the leader, recorded (they close the histories). */
  async finalReads(): Promise<string[]> {
    const problems: string[] = [];
    let c: MoosengClient | undefined;
    for (let attempt = 0; attempt < 5 && c === undefined; attempt++) c = await this.connect('leader').catch(() => undefined);
    if (c === undefined) return ['final reads: no client could connect'];
    const cl = c;
    try {
      for (const inode of this.files) {
        const r = await this.record(this.attr, 'final', { f: 'getattr', inode }, false, async () => ({ attrs: pickAttrs(await cl.getattr(inode)) }));
        if (r.kind !== 'ok') problems.push(`final getattr ${inode}: ${r.code}`);
      }
      for (const dir of [this.setsDir, ...this.dirs]) {
        const r = await this.record(this.dir, 'final', { f: 'readdir', dir }, false, async () => ({ names: (await cl.readdir(dir, maxReaddirEntries)).map((e) => e.name) }));
        if (r.kind !== 'ok') problems.push(`final readdir ${dir}: ${r.code}`);
      }
    } finally {
      await Promise.race([cl.close(), sleep(3000)]).catch(() => undefined);
    }
    return problems;
  }
}

function readReply(r: Response): ReadReply {
  if (!r.ok) throw Object.assign(new Error(r.message), { code: r.code });
  if (r.op !== 'read') throw new Error(`a read answered with ${r.op}`);
  if (!r.outcome.ok) throw Object.assign(new Error(r.outcome.code), { code: r.outcome.code });
  return r.outcome.reply;
}

/** One directory read from exactly one master's applied state (no leader involved): for the end-of-run comparison. */
export async function localReaddir(address: string, dir: number): Promise<string[]> {
  const r = await rawRequest(
    address,
    { op: 'read', id: 1, consistency: Consistency.local, read: { kind: 'readdir', inode: dir, caller: { uid: 0, gids: [0] }, after: null, maxEntries: maxReaddirEntries } },
    10_000,
  );
  const reply = readReply(r);
  if (reply.kind !== 'readdir') throw new Error('mismatched reply');
  return reply.entries.map((e) => e.name);
}
