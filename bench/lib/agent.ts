/**
 * The load agent: a separate process that runs a benchmark's clients (the mooseng SDK or the
 * etcd3 client), so that their CPU time is measured apart from the servers' and the benchmark's,
 * and so that they can run on the client host of a network-namespace lab. The benchmark drives it
 * with JSON lines on stdin and reads JSON lines on stdout (`Agent` below is that side).
 *
 * Each client is its own client instance (its own connections) and runs closed-loop: one
 * operation at a time, the next issued when the last one returned. An operation that failed is
 * counted as an error and the loop goes on after `errorPauseMs` (both clients retry internally
 * first: the SDK within its deadline, etcd3 with its default retry policy).
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { MoosengClient } from '../../src/client/client.ts';
import type { Net } from './net.ts';
import { percentile, round, sleep, wallMs } from './util.ts';

export type Target =
  | { readonly kind: 'mooseng'; readonly masters: readonly string[]; readonly readFrom: 'leader' | 'any'; readonly attemptTimeoutMs: number }
  | { readonly kind: 'etcd'; readonly hosts: readonly string[]; readonly attemptTimeoutMs: number };

/** mooseng: mkdir, create, getattr (linearizable); etcd: put (about 100 bytes), get (linearizable). */
export type LoadOp = 'mkdir' | 'create' | 'getattr' | 'put' | 'get';

export interface LoadStats {
  readonly op: LoadOp;
  readonly clients: number;
  readonly ops: number;
  readonly errors: number;
  /** Failed operations by error code (the SDK's MoosengError code, gRPC status for etcd3) and message start. */
  readonly errorKinds: Record<string, number>;
  readonly elapsedMs: number;
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** CPU time of the agent process (user + system) while the load ran. */
  readonly clientCpuMs: number;
  /** Acknowledged operations per bucket from `startedAtMs`. */
  readonly startedAtMs: number;
  readonly bucketMs: number;
  readonly buckets: number[];
}

type Request =
  | { op: 'fetch'; url: string; method?: string; body?: string; headers?: Record<string, string>; timeoutMs: number }
  | { op: 'connect'; target: Target; count: number }
  | { op: 'start'; load: LoadOp; clients: number; bucketMs: number; ratePerSec: number }
  | { op: 'stop' }
  | { op: 'firstAck'; afterMs: number; timeoutMs: number }
  | { op: 'watchLeader'; kind: Target['kind']; urls: string[]; notLeader: string; timeoutMs: number; pollMs: number };

const errorPauseMs = 2;
const etcdValueBytes = 100;
const agentFile = fileURLToPath(import.meta.url);

// ------------------------------------------------------------------ the benchmark's side

export class Agent {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private stderr = '';

  private constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let msg: { id: number; ok: boolean; result?: unknown; error?: string };
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        return;
      }
      const p = this.pending.get(msg.id);
      if (p === undefined) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(msg.error ?? 'agent error'));
    });
    child.stderr!.on('data', (b: Buffer) => (this.stderr = (this.stderr + b.toString()).slice(-5000)));
    child.once('exit', (code, signal) => {
      for (const p of this.pending.values()) p.reject(new Error(`the load agent exited (${signal ?? code}): ${this.stderr}`));
      this.pending.clear();
    });
  }

  /** Starts an agent on the client host of `net`. */
  static async start(net: Net): Promise<Agent> {
    const child = await net.spawn('c', process.execPath, ['--import', 'tsx', agentFile, '--agent'], ['pipe', 'pipe', 'pipe']);
    const a = new Agent(child);
    await a.call({ op: 'fetch', url: 'http://127.0.0.1:1/', timeoutMs: 1 }).catch(() => undefined); // loaded and answering
    return a;
  }

  get pid(): number {
    return this.child.pid!;
  }

  private call<T>(req: Request): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return reject(new Error(`the load agent has exited: ${this.stderr}`));
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.stdin!.write(JSON.stringify({ id, ...req }) + '\n');
    });
  }

  /** An HTTP request from the client host. */
  fetch(url: string, o: { method?: string; body?: string; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<{ status: number; body: string }> {
    return this.call({ op: 'fetch', url, timeoutMs: o.timeoutMs ?? 2000, ...(o.method === undefined ? {} : { method: o.method }), ...(o.body === undefined ? {} : { body: o.body }), ...(o.headers === undefined ? {} : { headers: o.headers }) });
  }
  /** Makes sure `count` clients of `target` are connected. */
  connect(target: Target, count: number): Promise<void> {
    return this.call({ op: 'connect', target, count });
  }
  /** Starts `clients` closed loops of `load`; with `ratePerSec` > 0 they issue at most that many operations per second in all. */
  start(load: LoadOp, clients: number, bucketMs = 50, ratePerSec = 0): Promise<void> {
    return this.call({ op: 'start', load, clients, bucketMs, ratePerSec });
  }
  stop(): Promise<LoadStats> {
    return this.call({ op: 'stop' });
  }
  async run(load: LoadOp, clients: number, seconds: number): Promise<LoadStats> {
    await this.start(load, clients, 1000);
    await sleep(seconds * 1000);
    return this.stop();
  }
  /** Wall-clock time of the first acknowledgement of an operation issued at or after `afterMs`. */
  firstAck(afterMs: number, timeoutMs: number): Promise<number> {
    return this.call({ op: 'firstAck', afterMs, timeoutMs });
  }
  /** Polls the status endpoints `urls` until one of them (not `notLeader`) is leader; its wall-clock time and the leader's id. */
  watchLeader(kind: Target['kind'], urls: string[], notLeader: string, timeoutMs: number, pollMs = 5): Promise<{ atMs: number; leader: string }> {
    return this.call({ op: 'watchLeader', kind, urls, notLeader, timeoutMs, pollMs });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.stdin!.end();
    const exited = new Promise((r) => this.child.once('exit', r));
    await Promise.race([exited, sleep(3000)]);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

// ------------------------------------------------------------------ the agent process

interface LoadClient {
  mkdir(parent: number, name: string): Promise<unknown>;
  create(parent: number, name: string): Promise<unknown>;
  getattr(inode: number): Promise<unknown>;
  put(key: string, value: Buffer): Promise<unknown>;
  get(key: string): Promise<unknown>;
  close(): Promise<void>;
}

async function connectClient(t: Target): Promise<LoadClient> {
  if (t.kind === 'mooseng') {
    const c = await MoosengClient.connect({ masters: t.masters, readFrom: t.readFrom, attemptTimeoutMs: t.attemptTimeoutMs });
    const no = (): Promise<never> => Promise.reject(new Error('not an etcd client'));
    return { mkdir: (p, n) => c.mkdir(p, n), create: (p, n) => c.create(p, n), getattr: (i) => c.getattr(i), put: no, get: no, close: () => c.close() };
  }
  const { Etcd3 } = await import('etcd3');
  const e = new Etcd3({
    hosts: [...t.hosts],
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + t.attemptTimeoutMs }),
  });
  const no = (): Promise<never> => Promise.reject(new Error('not a mooseng client'));
  return {
    mkdir: no,
    create: no,
    getattr: no,
    put: (k, v) => e.put(k).value(v).exec(),
    get: (k) => e.get(k).string(), // linearizable unless .serializable() is asked for
    close: async () => e.close(),
  };
}

class LoadRun {
  running = true;
  ops = 0;
  errors = 0;
  readonly errorKinds: Record<string, number> = {};
  latencies: number[] = [];
  buckets: number[] = [];
  readonly startedAtMs = wallMs();
  readonly cpu0 = process.cpuUsage();
  private watchers: { afterMs: number; resolve: (t: number) => void }[] = [];
  readonly loops: Promise<void>[] = [];

  constructor(readonly op: LoadOp, readonly clients: number, readonly bucketMs: number) {}

  acked(issuedMs: number, ackMs: number): void {
    this.ops++;
    this.latencies.push(ackMs - issuedMs);
    const b = Math.floor((ackMs - this.startedAtMs) / this.bucketMs);
    while (this.buckets.length <= b) this.buckets.push(0);
    this.buckets[b]!++;
    if (this.watchers.length > 0) {
      const left: typeof this.watchers = [];
      for (const w of this.watchers) (issuedMs >= w.afterMs ? w.resolve(ackMs) : left.push(w));
      this.watchers = left;
    }
  }

  waitAck(afterMs: number, timeoutMs: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no write issued after the fault was acknowledged within ${timeoutMs} ms`)), timeoutMs);
      this.watchers.push({ afterMs, resolve: (t) => (clearTimeout(timer), resolve(t)) });
    });
  }
}

async function agentMain(): Promise<void> {
  const pool = new Map<string, LoadClient[]>();
  let current: LoadClient[] = [];
  let run: LoadRun | undefined;
  const out = (msg: object): void => void process.stdout.write(JSON.stringify(msg) + '\n');

  async function handle(req: Request): Promise<unknown> {
    switch (req.op) {
      case 'fetch': {
        const init: RequestInit = { method: req.method ?? 'GET', signal: AbortSignal.timeout(req.timeoutMs) };
        if (req.body !== undefined) init.body = req.body;
        if (req.headers !== undefined) init.headers = req.headers;
        const res = await fetch(req.url, init);
        return { status: res.status, body: await res.text() };
      }
      case 'connect': {
        const key = JSON.stringify(req.target);
        const list = pool.get(key) ?? [];
        pool.set(key, list);
        const missing = Math.max(0, req.count - list.length);
        list.push(...(await Promise.all(Array.from({ length: missing }, () => connectClient(req.target)))));
        current = list;
        return null;
      }
      case 'start': {
        if (run !== undefined) throw new Error('a load is running already');
        if (current.length < req.clients) throw new Error(`only ${current.length} clients connected; ${req.clients} wanted`);
        const clients = current.slice(0, req.clients);
        const tag = `${req.load}-${Date.now()}-${randomBytes(3).toString('hex')}`;
        const value = randomBytes(etcdValueBytes / 2).toString('hex');
        // Writes go into one directory per client (mooseng) or one key prefix per client (etcd).
        const dirs = req.load === 'mkdir' || req.load === 'create' ? await Promise.all(clients.map(async (c, k) => ((await c.mkdir(1, `${tag}-${k}`)) as { inode: number }).inode)) : [];
        if (req.load === 'get') await clients[0]!.put('bench/read', Buffer.from(value));
        const one = (c: LoadClient, k: number, i: number): Promise<unknown> => {
          switch (req.load) {
            case 'mkdir':
              return c.mkdir(dirs[k]!, `d${i}`);
            case 'create':
              return c.create(dirs[k]!, `f${i}`);
            case 'getattr':
              return c.getattr(1);
            case 'put':
              return c.put(`bench/${tag}/${k}/${i}`, Buffer.from(value));
            case 'get':
              return c.get('bench/read');
          }
        };
        const r = new LoadRun(req.load, req.clients, req.bucketMs);
        run = r;
        clients.forEach((c, k) =>
          r.loops.push(
            (async () => {
              const intervalMs = req.ratePerSec > 0 ? (req.clients * 1000) / req.ratePerSec : 0;
              let slot = wallMs() + (intervalMs * k) / req.clients;
              for (let i = 0; r.running; i++) {
                // Paced: wait for this operation's slot; slots missed while stalled are not made up.
                if (intervalMs > 0 && wallMs() < slot) await sleep(slot - wallMs());
                slot = Math.max(slot + intervalMs, wallMs());
                const t0 = wallMs();
                try {
                  await one(c, k, i);
                  r.acked(t0, wallMs());
                } catch (e) {
                  r.errors++;
                  const err = e as { code?: unknown; message?: unknown };
                  const kind = `${String(err.code ?? (e as Error).name)}: ${String(err.message ?? e).slice(0, 80)}`.replace(/\d+(\.\d+)*(:\d+)?/g, 'N');
                  r.errorKinds[kind] = (r.errorKinds[kind] ?? 0) + 1;
                  await sleep(errorPauseMs);
                }
              }
            })(),
          ),
        );
        return null;
      }
      case 'stop': {
        const r = run;
        if (r === undefined) throw new Error('no load is running');
        const cpu = process.cpuUsage(r.cpu0);
        const elapsedMs = wallMs() - r.startedAtMs;
        r.running = false;
        const ops = r.ops;
        await Promise.race([Promise.all(r.loops), sleep(20_000)]);
        run = undefined;
        const lat = r.latencies.sort((a, b) => a - b);
        const stats: LoadStats = {
          op: r.op,
          clients: r.clients,
          ops,
          errors: r.errors,
          errorKinds: r.errorKinds,
          elapsedMs: round(elapsedMs),
          opsPerSec: Math.round((ops * 1000) / elapsedMs),
          p50Ms: round(percentile(lat, 50), 2),
          p99Ms: round(percentile(lat, 99), 2),
          maxMs: round(lat.at(-1) ?? NaN, 1),
          clientCpuMs: round((cpu.user + cpu.system) / 1000),
          startedAtMs: r.startedAtMs,
          bucketMs: r.bucketMs,
          buckets: r.buckets,
        };
        return stats;
      }
      case 'firstAck': {
        if (run === undefined) throw new Error('no load is running');
        return run.waitAck(req.afterMs, req.timeoutMs);
      }
      case 'watchLeader':
        return watchLeader(req);
    }
  }

  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const req = JSON.parse(line) as Request & { id: number };
    handle(req).then(
      (result) => out({ id: req.id, ok: true, result: result ?? null }),
      (e: unknown) => out({ id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) }),
    );
  });
  lines.on('close', () => {
    if (run !== undefined) run.running = false;
    const all = [...pool.values()].flat();
    void Promise.race([Promise.all(all.map((c) => c.close().catch(() => undefined))), sleep(2000)]).then(() => process.exit(0));
  });
}

/**
 * mooseng: GET /leader answers 200 on the leader. etcd: POST /v3/maintenance/status names the
 * member (header.member_id) and the leader it knows; a member that names itself leads.
 */
async function watchLeader(req: Extract<Request, { op: 'watchLeader' }>): Promise<{ atMs: number; leader: string }> {
  const deadline = Date.now() + req.timeoutMs;
  let found: { atMs: number; leader: string } | undefined;
  await Promise.all(
    req.urls.map(async (url) => {
      while (found === undefined && Date.now() < deadline) {
        try {
          if (req.kind === 'mooseng') {
            const res = await fetch(`${url}/leader`, { signal: AbortSignal.timeout(250) });
            await res.arrayBuffer();
            if (res.status === 200 && url !== req.notLeader) found ??= { atMs: wallMs(), leader: url };
          } else {
            const res = await fetch(`${url}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(250) });
            const s = (await res.json()) as { header?: { member_id?: string }; leader?: string };
            const self = s.header?.member_id;
            if (self !== undefined && s.leader === self && self !== req.notLeader) found ??= { atMs: wallMs(), leader: self };
          }
        } catch {
          // Not answering (yet).
        }
        if (found === undefined) await sleep(req.pollMs);
      }
    }),
  );
  if (found === undefined) throw new Error(`no new leader among ${req.urls.join(', ')} within ${req.timeoutMs} ms`);
  return found;
}

if (process.argv.includes('--agent')) await agentMain();
