/**
 * Real `mooseng-master` processes on 127.0.0.1 for integration tests: configurations written
 * from `defaultLocalCluster`, one process per master (started, stopped with SIGTERM, killed with
 * SIGKILL, restarted), its JSON log in a file, and helpers for the admin endpoint and the SDK.
 *
 * Every process is started by PID and `close()` kills whatever is still running, so a test calls
 * it from `t.after` and no process outlives a failing test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeResponse, encodeRequest, type Request, type Response } from '../../src/api/protocol.ts';
import { MoosengClient, type ClientOptions } from '../../src/client/client.ts';
import { encodeFrame, FrameDecoder, FrameType } from '../../src/transport/frame.ts';
import { defaultLocalCluster, formatHostPort, renderConfig, type MasterConfig } from '../../src/server/config.ts';

import { freePortBase, sleep, waitUntil } from '../support/wait.ts';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const masterBin = join(repoRoot, 'src/cli/master.ts');

/** Bounds on the polling loops. */
const startTimeoutMs = 20_000;
const stopTimeoutMs = 10_000;

export { freePortBase, sleep, waitUntil } from '../support/wait.ts';

export interface ClusterOptions {
  /** Masters in the founding group. */
  readonly voters: number;
  /** Extra masters whose configuration and ports are prepared but which are not founding members. */
  readonly spares?: number;
  readonly snapshot?: { readonly everyEntries: number; readonly keepEntries: number };
  readonly logLevel?: MasterConfig['log']['level'];
  /** Mutual TLS between the masters (PEM files). */
  readonly tls?: MasterConfig['tls'];
}

export interface StatusDoc {
  readonly node: number;
  readonly role: string;
  readonly term: number;
  readonly leader: number;
  readonly commit: number;
  readonly applied: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  readonly conf: { readonly voters: number[]; readonly learners: number[]; readonly votersOutgoing: number[]; readonly learnersNext: number[] };
  readonly members: { id: number; peer: string; client: string; admin: string }[];
  readonly progress: { id: number; match: number; next: number; state: string; lag: number }[];
  readonly namespace: { files?: number; inodes?: number } & Record<string, unknown>;
  readonly waiting: { writes: number; readBatches: number };
}

export interface AdminReply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

export class MasterProcess {
  child: ChildProcess | undefined;
  private exited: Promise<number | null> = Promise.resolve(null);
  /** Exit codes (or signals) of earlier runs, for diagnostics. */
  readonly exits: string[] = [];

  constructor(
    readonly id: number,
    readonly config: MasterConfig,
    readonly configFile: string,
    readonly logFile: string,
  ) {}

  get clientAddress(): string {
    return formatHostPort(this.config.listen.client);
  }
  get peerPort(): number {
    return this.config.listen.peer.port;
  }
  get clientPort(): number {
    return this.config.listen.client.port;
  }
  get adminPort(): number {
    return this.config.listen.admin.port;
  }
  get adminUrl(): string {
    return `http://127.0.0.1:${this.adminPort}`;
  }
  get pid(): number | undefined {
    return this.child?.pid;
  }
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Runs `mooseng-master init`; resolves once it exited 0. */
  async init(): Promise<void> {
    const out = openSync(this.logFile, 'a');
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', masterBin, 'init', '--config', this.configFile], { cwd: repoRoot, stdio: ['ignore', out, out] });
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      if (code !== 0) throw new Error(`init of master ${this.id} exited with ${code}: ${this.logText().slice(-2000)}`);
    } finally {
      closeSync(out);
    }
  }

  /** Starts the daemon; resolves once its admin endpoint answers. */
  async start(): Promise<void> {
    if (this.running) throw new Error(`master ${this.id} is already running (pid ${this.pid})`);
    const out = openSync(this.logFile, 'a');
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', masterBin, '--config', this.configFile], { cwd: repoRoot, stdio: ['ignore', out, out] });
      this.child = child;
      this.exited = new Promise((resolve) =>
        child.once('exit', (code, signal) => {
          this.exits.push(signal ?? String(code));
          resolve(code);
        }),
      );
    } finally {
      closeSync(out);
    }
    await waitUntil(`master ${this.id} to answer on its admin port`, startTimeoutMs, async () => {
      if (!this.running) throw new Error(`master ${this.id} exited: ${this.exits.at(-1)}; log tail: ${this.logText().slice(-2000)}`);
      return (await this.status().catch(() => undefined)) !== undefined;
    });
  }

  /** SIGTERM (a clean stop, with leadership transfer on a leader); SIGKILL if it has not exited in time. */
  async stop(): Promise<number | null> {
    const child = this.child;
    if (child === undefined || !this.running) return null;
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([this.exited, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), stopTimeoutMs)))]);
    clearTimeout(timer);
    if (code === 'timeout') {
      child.kill('SIGKILL');
      await this.exited;
      throw new Error(`master ${this.id} did not stop within ${stopTimeoutMs} ms of SIGTERM`);
    }
    return code;
  }

  /** kill -9: the process dies at once, without closing anything cleanly. */
  async kill9(): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    child.kill('SIGKILL');
    await this.exited;
  }

  logText(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** The JSON log lines (non-JSON lines are skipped). */
  logLines(): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const line of this.logText().split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // A line cut by kill -9.
      }
    }
    return out;
  }

  async status(): Promise<StatusDoc> {
    const res = await fetch(`${this.adminUrl}/status`, { signal: AbortSignal.timeout(2000) });
    if (res.status !== 200) throw new Error(`/status of master ${this.id}: HTTP ${res.status}`);
    return (await res.json()) as StatusDoc;
  }

  /** GET /debug/state: applied index, digest of the metadata, invariant checker findings. */
  async stateCheck(): Promise<{ applied: number; digest: string; invariants: string[] }> {
    const res = await fetch(`${this.adminUrl}/debug/state`, { signal: AbortSignal.timeout(10_000) });
    if (res.status !== 200) throw new Error(`/debug/state of master ${this.id}: HTTP ${res.status}`);
    return (await res.json()) as { applied: number; digest: string; invariants: string[] };
  }

  async isLeader(): Promise<boolean> {
    const res = await fetch(`${this.adminUrl}/leader`, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status === 200;
  }

  async admin(op: string, body: Record<string, unknown>, token: string | undefined): Promise<AdminReply> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
    const res = await fetch(`${this.adminUrl}/admin/${op}`, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(15_000) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  /** The member record the leader needs to add this master. */
  addresses(): { id: number; peer: string; client: string; admin: string } {
    return { id: this.id, peer: formatHostPort(this.config.listen.peer), client: this.clientAddress, admin: formatHostPort(this.config.listen.admin) };
  }
}

export class Cluster {
  readonly masters: MasterProcess[] = [];
  /** Processes started from `variant` configurations. */
  readonly variants: MasterProcess[] = [];
  readonly adminToken = randomBytes(32).toString('hex');
  private readonly clients: MoosengClient[] = [];

  private constructor(readonly dir: string) {}

  /**
   * Writes configurations for `voters + spares` masters (ports checked free, a temporary
   * directory, a mode-600 secret and admin token), and `init`s the founding voters. A spare's
   * configuration lists the founders and itself; it is never initialised, so it starts with no
   * membership and waits to be added.
   */
  static async create(o: ClusterOptions): Promise<Cluster> {
    const dir = await mkdtemp(join(tmpdir(), 'mooseng-it-'));
    const c = new Cluster(dir);
    const total = o.voters + (o.spares ?? 0);
    const base = await freePortBase(3 * total);
    const all = defaultLocalCluster(dir, total, base);
    const secretFile = join(dir, 'secret');
    await writeFile(secretFile, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    await chmod(secretFile, 0o600);
    const tokenFile = join(dir, 'admin-token');
    await writeFile(tokenFile, c.adminToken + '\n', { mode: 0o600 });
    await chmod(tokenFile, 0o600);
    const founders = all.slice(0, o.voters).map((x) => x.peers.find((p) => p.id === x.nodeId)!);
    for (const cfg of all) {
      const own = cfg.peers.find((p) => p.id === cfg.nodeId)!;
      const peers = cfg.nodeId <= o.voters ? founders : [...founders, own];
      const config: MasterConfig = {
        ...cfg,
        adminTokenFile: tokenFile,
        peers,
        snapshot: o.snapshot === undefined ? cfg.snapshot : { ...cfg.snapshot, ...o.snapshot },
        log: { level: o.logLevel ?? 'info' },
        tls: o.tls,
      };
      const file = join(dir, `master-${cfg.nodeId}.toml`);
      await writeFile(file, renderConfig(config));
      c.masters.push(new MasterProcess(cfg.nodeId, config, file, join(dir, `master-${cfg.nodeId}.log`)));
    }
    return c;
  }

  /** Writes another configuration file for master `id` (e.g. with a wrong secret or cluster id) and returns a process for it. */
  async variant(id: number, name: string, edit: (c: MasterConfig) => MasterConfig): Promise<MasterProcess> {
    const m = this.master(id);
    const config = edit(m.config);
    const file = join(this.dir, `master-${id}-${name}.toml`);
    await writeFile(file, renderConfig(config));
    const p = new MasterProcess(id, config, file, join(this.dir, `master-${id}-${name}.log`));
    this.variants.push(p);
    return p;
  }

  master(id: number): MasterProcess {
    const m = this.masters.find((x) => x.id === id);
    if (m === undefined) throw new Error(`no master ${id}`);
    return m;
  }

  /** The founding masters (those with ids up to `voters`), initialised and started. */
  async bootstrap(voters: number): Promise<void> {
    const founders = this.masters.filter((m) => m.id <= voters);
    await Promise.all(founders.map((m) => m.init()));
    await Promise.all(founders.map((m) => m.start()));
  }

  running(): MasterProcess[] {
    return this.masters.filter((m) => m.running);
  }

  /** Waits until exactly one running master answers 200 on /leader and the others agree with it; returns it. */
  async waitLeader(timeoutMs = 10_000, among: MasterProcess[] = this.running()): Promise<MasterProcess> {
    return waitUntil('a leader', timeoutMs, async () => {
      const st = await Promise.all(among.map((m) => m.status().catch(() => undefined)));
      const leaders = st.filter((s) => s?.role === 'leader');
      if (leaders.length !== 1) return undefined;
      const l = leaders[0]!;
      if (!st.every((s) => s !== undefined && (s.conf.voters.length === 0 || s.leader === l.node))) return undefined;
      const m = among.find((x) => x.id === l.node)!;
      return (await m.isLeader()) ? m : undefined;
    });
  }

  /** An SDK client given every master's client address; closed with the cluster. */
  async client(o: Partial<ClientOptions> = {}): Promise<MoosengClient> {
    const c = await MoosengClient.connect({ masters: this.masters.map((m) => m.clientAddress), ...o });
    this.clients.push(c);
    return c;
  }

  /** Kills every process still running (SIGKILL, by PID), closes the clients, removes the directory unless `keep`. */
  async close(keep = false): Promise<void> {
    for (const c of this.clients) await Promise.race([c.close(), sleep(500)]).catch(() => undefined);
    await Promise.all([...this.masters, ...this.variants].map((m) => m.kill9()));
    if (!keep && process.env['MOOSENG_KEEP_TEST_DIRS'] === undefined) await rm(this.dir, { recursive: true, force: true });
  }

  /** The logs of every master, for a failure message. */
  logTails(chars = 3000): string {
    return [...this.masters, ...this.variants].map((m) => `---- master ${m.id} (${m.configFile}) exits=${m.exits.join(',')}\n${m.logText().slice(-chars)}`).join('\n');
  }
}

/**
 * One request on a fresh connection to a master's client port, with no retry and no redirect:
 * the answer of exactly that master.
 */
export async function rawRequest(address: string, req: Request, timeoutMs = 5000): Promise<Response> {
  const [host, port] = address.split(':') as [string, string];
  return new Promise<Response>((resolve, reject) => {
    const socket = connect({ host, port: Number(port), noDelay: true });
    const decoder = new FrameDecoder(64 * 1024 * 1024);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${address}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(encodeFrame(FrameType.ClientRequest, encodeRequest(req))));
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk);
      const f = decoder.next();
      if (f === undefined) return;
      clearTimeout(timer);
      socket.destroy();
      resolve(decodeResponse(f.payload));
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      reject(new Error(`${address}: connection closed`));
    });
  });
}
