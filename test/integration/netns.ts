/**
 * Masters on separate "hosts" for integration tests: Linux network namespaces joined by a bridge.
 *
 *   mng-sw-<pid>        the switch: a bridge br0 with one veth port per host (p1, p2, ..., pc)
 *   mng-<pid>-<i>       host i: eth0 (the other end of port p<i>) with 192.0.2.1<i>/24, and lo
 *   mng-<pid>-c         the client host: eth0 with 192.0.2.100/24
 *
 * Nothing is added to the root namespace, so the host's own network is untouched (it may well use
 * 192.0.2.0/24 itself) and runs of different processes never collide: every name includes the
 * PID, and each run has its own bridge.
 *
 * A master runs as `ip netns exec mng-<pid>-<i> node --import tsx src/cli/master.ts --config F`.
 * `ip netns exec` enters the namespace and execs the command, so the spawned PID is node's (checked
 * at start). The test process itself cannot enter a namespace, so the SDK runs in a worker process
 * in the client namespace (this file, run with `--worker`), which the test drives over JSON lines
 * on its stdin and stdout.
 *
 * A partition sets a host's switch port down, like a cable pulled at the switch: the host keeps
 * its address and its open TCP connections (no reset reaches either side); packets are dropped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, realpathSync } from 'node:fs';
import { chmod, mkdtemp, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stringify as stringifyToml } from 'smol-toml';
import type { Request, Response } from '../../src/api/protocol.ts';
import { MoosengClient, type ClientOptions } from '../../src/client/client.ts';
import { parseConfig } from '../../src/server/config.ts';
import { rawRequest, repoRoot, sleep, waitUntil, type StatusDoc } from './harness.ts';

const masterBin = join(repoRoot, 'src/cli/master.ts');
const thisFile = fileURLToPath(import.meta.url);
const ipCandidates = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'];

export const subnetPrefix = '192.0.2';
export const clientAddress = `${subnetPrefix}.100`;
/** The same ports on every host, as on real machines. */
export const ports = { peer: 9440, client: 9441, admin: 9442 } as const;

const startTimeoutMs = 20_000;

// ------------------------------------------------------------------ running commands

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion (no shell); a spawn failure is reported as code null. */
export function run(cmd: string, args: readonly string[], timeoutMs = 10_000): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: stderr + String(e) });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let ipPath: string | undefined;

function ipBin(): string {
  if (ipPath !== undefined) return ipPath;
  for (const p of ipCandidates) {
    try {
      realpathSync(p);
      return (ipPath = p);
    } catch {
      // Try the next one.
    }
  }
  return (ipPath = 'ip');
}

/** `ip ARGS`; throws with its stderr when it fails. */
export async function ip(...args: string[]): Promise<string> {
  const r = await run(ipBin(), args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** Why network namespaces cannot be used here, or undefined when they can (a probe namespace is created and deleted). */
export async function netnsUnavailable(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'creating network namespaces needs root (run the test as root)';
  const v = await run(ipBin(), ['-V']);
  if (v.code !== 0) return `the ip command (iproute2) is not available: ${v.stderr.trim()}`;
  const probe = `mng-probe-${process.pid}`;
  const add = await run(ipBin(), ['netns', 'add', probe]);
  if (add.code !== 0) return `ip netns add failed: ${add.stderr.trim()}`;
  const br = await run(ipBin(), ['-n', probe, 'link', 'add', 'name', 'br0', 'type', 'bridge']);
  const veth = await run(ipBin(), ['-n', probe, 'link', 'add', 'name', 'va', 'type', 'veth', 'peer', 'name', 'vb']);
  await run(ipBin(), ['netns', 'del', probe]);
  if (br.code !== 0) return `cannot create a bridge in a network namespace: ${br.stderr.trim()}`;
  if (veth.code !== 0) return `cannot create a veth pair in a network namespace: ${veth.stderr.trim()}`;
  return undefined;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Deletes namespaces left by earlier runs whose process is gone (a run killed before its cleanup),
 * first killing the processes still running in them (that run's masters and client worker).
 */
export async function removeStaleNamespaces(): Promise<string[]> {
  const removed: string[] = [];
  const list = await run(ipBin(), ['netns', 'list']);
  for (const line of list.stdout.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = /^mng-(?:sw-|probe-)?(\d+)(?:-[0-9a-z]+)?$/.exec(name);
    if (m === null) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || pidAlive(pid)) continue;
    const pids = await run(ipBin(), ['netns', 'pids', name]);
    for (const p of pids.stdout.split('\n').map(Number).filter((x) => Number.isInteger(x) && x > 0)) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    if ((await run(ipBin(), ['netns', 'del', name])).code === 0) removed.push(name);
  }
  return removed;
}

// ------------------------------------------------------------------ the network

export interface Host {
  /** 1..n for masters, 'c' for the client. */
  readonly key: string;
  readonly ns: string;
  readonly address: string;
  /** Its port on the switch's bridge. */
  readonly port: string;
}

export class NetnsLab {
  readonly switchNs = `mng-sw-${process.pid}`;
  readonly hosts: Host[] = [];
  /** Namespaces created so far, deleted by destroy() in reverse order. */
  private readonly created: string[] = [];

  private constructor() {}

  /** The switch, `n` master hosts (192.0.2.11, .12, ...) and the client host (192.0.2.100). */
  static async create(n: number): Promise<NetnsLab> {
    const lab = new NetnsLab();
    try {
      await lab.addNs(lab.switchNs);
      await ip('-n', lab.switchNs, 'link', 'add', 'name', 'br0', 'type', 'bridge');
      await ip('-n', lab.switchNs, 'link', 'set', 'br0', 'up');
      for (let i = 1; i <= n; i++) await lab.addHost(String(i), `${subnetPrefix}.${10 + i}`);
      await lab.addHost('c', clientAddress);
    } catch (e) {
      await lab.destroy();
      throw e;
    }
    return lab;
  }

  private async addNs(name: string): Promise<void> {
    await ip('netns', 'add', name);
    this.created.push(name);
    await ip('-n', name, 'link', 'set', 'lo', 'up');
  }

  private async addHost(key: string, address: string): Promise<void> {
    const ns = `mng-${process.pid}-${key}`;
    const port = `p${key}`;
    await this.addNs(ns);
    await ip('-n', this.switchNs, 'link', 'add', 'name', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    await ip('-n', this.switchNs, 'link', 'set', port, 'master', 'br0', 'up');
    await ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
    await ip('-n', ns, 'link', 'set', 'eth0', 'up');
    this.hosts.push({ key, ns, address, port });
  }

  host(key: string | number): Host {
    const h = this.hosts.find((x) => x.key === String(key));
    if (h === undefined) throw new Error(`no host ${key}`);
    return h;
  }

  /** Cuts a host off: its switch port goes down. Its own interface stays up, its sockets stay open. */
  async isolate(key: string | number): Promise<void> {
    await ip('-n', this.switchNs, 'link', 'set', this.host(key).port, 'down');
  }

  async heal(key: string | number): Promise<void> {
    await ip('-n', this.switchNs, 'link', 'set', this.host(key).port, 'up');
  }

  /** Deletes every namespace created (the veth pairs and the bridge go with them); never throws. */
  async destroy(): Promise<string[]> {
    const problems: string[] = [];
    for (const name of this.created.splice(0).reverse()) {
      const r = await run(ipBin(), ['netns', 'del', name]);
      if (r.code !== 0) problems.push(`ip netns del ${name}: ${r.stderr.trim()}`);
    }
    return problems;
  }

  /** Our namespaces that `ip netns list` still shows. */
  async leftovers(): Promise<string[]> {
    const list = await ip('netns', 'list');
    return list
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter((n) => n === this.switchNs || n.startsWith(`mng-${process.pid}-`));
  }
}

// ------------------------------------------------------------------ processes in a namespace

/** Spawns `node ARGS` in namespace `ns` through `ip netns exec`. */
function spawnNodeIn(ns: string, args: readonly string[], stdio: 'pipe' | number): ChildProcess {
  const io = stdio === 'pipe' ? (['pipe', 'pipe', 'pipe'] as const) : (['ignore', stdio, stdio] as const);
  return spawn(ipBin(), ['netns', 'exec', ns, process.execPath, ...args], { cwd: repoRoot, stdio: [...io] });
}

/**
 * Waits until `pid` is node itself (after `ip netns exec` has exec'd it) and checks that it runs in
 * namespace `ns`, so that killing the PID kills the daemon and no other process is left behind.
 */
export async function checkNodeInNamespace(pid: number, ns: string): Promise<void> {
  const node = realpathSync(process.execPath);
  await waitUntil(`PID ${pid} to be node (exec'd by ip netns exec)`, 5000, async () => (await readlink(`/proc/${pid}/exe`)) === node);
  const [mine, want] = await Promise.all([stat(`/proc/${pid}/ns/net`), stat(`/run/netns/${ns}`)]);
  if (mine.ino !== want.ino) throw new Error(`PID ${pid} is not in network namespace ${ns}`);
}

/** A GET from inside namespace `ns` (plain node, no tsx), for a host the client namespace cannot reach. */
export async function fetchInNamespace(ns: string, url: string, timeoutMs = 2000): Promise<{ status: number; body: string }> {
  const script =
    'fetch(process.argv[1], { signal: AbortSignal.timeout(Number(process.argv[2])) })' +
    '.then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, body: await r.text() })))' +
    '.catch((e) => { process.stderr.write(String(e)); process.exit(1); });';
  const r = await run(ipBin(), ['netns', 'exec', ns, process.execPath, '-e', script, url, String(timeoutMs)], timeoutMs + 5000);
  if (r.code !== 0) throw new Error(`GET ${url} in ${ns} failed (${r.code}): ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as { status: number; body: string };
}

export class NsMaster {
  child: ChildProcess | undefined;
  readonly exits: string[] = [];
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly id: number,
    readonly host: Host,
    readonly configFile: string,
    readonly logFile: string,
  ) {}

  get clientAddress(): string {
    return `${this.host.address}:${ports.client}`;
  }
  get adminUrl(): string {
    return `http://${this.host.address}:${ports.admin}`;
  }
  get pid(): number | undefined {
    return this.child?.pid;
  }
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** `mooseng-master init` (no network needed: run in the test's namespace). */
  async init(): Promise<void> {
    const r = await run(process.execPath, ['--import', 'tsx', masterBin, 'init', '--config', this.configFile], 30_000);
    if (r.code !== 0) throw new Error(`init of master ${this.id} exited with ${r.code}: ${r.stderr}${r.stdout}`);
  }

  /** Starts the daemon in its namespace; resolves once it is node in that namespace and `ready` says so. */
  async start(ready: () => Promise<boolean>): Promise<void> {
    const out = openSync(this.logFile, 'a');
    try {
      const child = spawnNodeIn(this.host.ns, ['--import', 'tsx', masterBin, '--config', this.configFile], out);
      this.child = child;
      this.exited = new Promise((resolve) =>
        child.once('exit', (code, signal) => {
          this.exits.push(signal ?? String(code));
          resolve();
        }),
      );
    } finally {
      closeSync(out);
    }
    const pid = this.child.pid;
    if (pid === undefined) throw new Error(`master ${this.id} did not start`);
    await checkNodeInNamespace(pid, this.host.ns);
    await waitUntil(`master ${this.id} to answer on ${this.adminUrl}`, startTimeoutMs, async () => {
      if (!this.running) throw new Error(`master ${this.id} exited: ${this.exits.at(-1)}; log tail: ${this.logText().slice(-2000)}`);
      return ready();
    });
  }

  async kill9(): Promise<void> {
    if (this.child === undefined || !this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Its /status read from inside its own namespace (works while it is cut off). */
  async statusFromInside(): Promise<StatusDoc> {
    const r = await fetchInNamespace(this.host.ns, `${this.adminUrl}/status`);
    if (r.status !== 200) throw new Error(`/status of master ${this.id}: HTTP ${r.status}`);
    return JSON.parse(r.body) as StatusDoc;
  }

  logText(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }
}

/**
 * A directory with a secret and one configuration per host of `lab` (ids 1..n, the standard ports
 * on each host's address); returns the masters, not yet initialised.
 */
export async function writeConfigs(lab: NetnsLab, n: number): Promise<{ dir: string; masters: NsMaster[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'mooseng-netns-'));
  const secretFile = join(dir, 'secret');
  await writeFile(secretFile, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
  await chmod(secretFile, 0o600);
  const peers = Array.from({ length: n }, (_, k) => {
    const a = lab.host(k + 1).address;
    return { id: k + 1, peer: `${a}:${ports.peer}`, client: `${a}:${ports.client}`, admin: `${a}:${ports.admin}` };
  });
  const masters: NsMaster[] = [];
  for (const p of peers) {
    const file = join(dir, `master-${p.id}.toml`);
    const text = stringifyToml({ node_id: p.id, cluster_id: 'netns', data_dir: join(dir, `master-${p.id}`), secret_file: secretFile, log: { level: 'info' }, peers });
    parseConfig(text, file); // Throws on a mistake here rather than in the daemon's log.
    await writeFile(file, text);
    masters.push(new NsMaster(p.id, lab.host(p.id), file, join(dir, `master-${p.id}.log`)));
  }
  return { dir, masters };
}

export async function removeDir(dir: string): Promise<void> {
  if (process.env['MOOSENG_KEEP_TEST_DIRS'] === undefined) await rm(dir, { recursive: true, force: true });
}

// ------------------------------------------------------------------ the client worker

type WorkerOp =
  | { op: 'connect'; options: ClientOptions }
  | { op: 'call'; client: number; method: RemoteMethod; args: unknown[] }
  | { op: 'close'; client: number }
  | { op: 'fetch'; url: string; timeoutMs: number }
  | { op: 'raw'; address: string; req: Request; timeoutMs: number };

const remoteMethods = ['mkdir', 'create', 'unlink', 'rename', 'lookup', 'readdir', 'getattr', 'resolve', 'discover'] as const;
type RemoteMethod = (typeof remoteMethods)[number];

/** An error from the worker, with the SDK's code (ENOENT, TIMEOUT...) when there was one. */
export class WorkerError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/** The SDK in a worker process in the client namespace, driven over JSON lines. */
export class ClientWorker {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private stderr = '';
  private exited: Promise<void>;

  private constructor(
    readonly ns: string,
    private readonly child: ChildProcess,
  ) {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      let msg: { id: number; ok: boolean; result?: unknown; error?: { message: string; code?: string } };
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        return;
      }
      const p = this.pending.get(msg.id);
      if (p === undefined) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new WorkerError(msg.error?.message ?? 'unknown error', msg.error?.code));
    });
    child.stderr!.on('data', (b: Buffer) => (this.stderr = (this.stderr + b.toString()).slice(-10_000)));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        for (const p of this.pending.values()) p.reject(new Error(`the client worker exited (${signal ?? code}): ${this.stderr.slice(-2000)}`));
        this.pending.clear();
        resolve();
      }),
    );
  }

  static async start(ns: string): Promise<ClientWorker> {
    const child = spawnNodeIn(ns, ['--import', 'tsx', thisFile, '--worker'], 'pipe');
    const w = new ClientWorker(ns, child);
    if (child.pid === undefined) throw new Error('the client worker did not start');
    await checkNodeInNamespace(child.pid, ns);
    await w.request({ op: 'fetch', url: 'http://127.0.0.1:1/', timeoutMs: 1 }).catch(() => undefined); // Loaded and answering.
    return w;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  request<T>(op: WorkerOp): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        reject(new Error(`the client worker has exited: ${this.stderr.slice(-2000)}`));
        return;
      }
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.stdin!.write(JSON.stringify({ id, ...op }) + '\n');
    });
  }

  async connect(options: ClientOptions): Promise<RemoteClient> {
    const client = await this.request<number>({ op: 'connect', options });
    return new RemoteClient(this, client);
  }

  /** GET `url` from the client namespace; the JSON body and the HTTP status. */
  async getJson<T>(url: string, timeoutMs = 2000): Promise<{ status: number; body: T }> {
    const r = await this.request<{ status: number; body: string }>({ op: 'fetch', url, timeoutMs });
    return { status: r.status, body: JSON.parse(r.body) as T };
  }

  async status(m: NsMaster): Promise<StatusDoc> {
    const r = await this.getJson<StatusDoc>(`${m.adminUrl}/status`);
    if (r.status !== 200) throw new Error(`/status of master ${m.id}: HTTP ${r.status}`);
    return r.body;
  }

  /** One request to exactly that master, no retry or redirect (harness.rawRequest in the client namespace). */
  raw(address: string, req: Request, timeoutMs = 5000): Promise<Response> {
    return this.request<Response>({ op: 'raw', address, req, timeoutMs });
  }

  /** Closes stdin (the worker closes its clients and exits); SIGKILL after a grace period. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.stdin!.end();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise<void>((r) => (timer = setTimeout(r, 3000)))]);
    clearTimeout(timer);
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}

/** A MoosengClient living in the worker; the methods the tests need, with the same results. */
export class RemoteClient {
  constructor(
    private readonly w: ClientWorker,
    readonly id: number,
  ) {}

  private call<T>(method: RemoteMethod, ...args: unknown[]): Promise<T> {
    return this.w.request<T>({ op: 'call', client: this.id, method, args });
  }

  mkdir(parent: number, name: string): ReturnType<MoosengClient['mkdir']> {
    return this.call('mkdir', parent, name);
  }
  create(parent: number, name: string): ReturnType<MoosengClient['create']> {
    return this.call('create', parent, name);
  }
  unlink(parent: number, name: string): ReturnType<MoosengClient['unlink']> {
    return this.call('unlink', parent, name);
  }
  rename(srcParent: number, srcName: string, dstParent: number, dstName: string): ReturnType<MoosengClient['rename']> {
    return this.call('rename', srcParent, srcName, dstParent, dstName);
  }
  lookup(parent: number, name: string): ReturnType<MoosengClient['lookup']> {
    return this.call('lookup', parent, name);
  }
  readdir(inode: number, pageSize = 1000): ReturnType<MoosengClient['readdir']> {
    return this.call('readdir', inode, pageSize);
  }
  getattr(inode: number): ReturnType<MoosengClient['getattr']> {
    return this.call('getattr', inode);
  }
  resolve(path: string): ReturnType<MoosengClient['resolve']> {
    return this.call('resolve', path);
  }
  close(): Promise<void> {
    return this.w.request({ op: 'close', client: this.id });
  }
}

/** JSON with Uint8Array as base64 (only write replies carry bytes; nothing here reads them back). */
function toJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x instanceof Uint8Array ? Buffer.from(x).toString('base64') : typeof x === 'bigint' ? x.toString() : x));
}

/** The worker's side: runs requests concurrently, answers each on its own line. */
async function runWorker(): Promise<void> {
  const clients = new Map<number, MoosengClient>();
  let nextClient = 1;
  const handle = async (m: WorkerOp): Promise<unknown> => {
    switch (m.op) {
      case 'connect': {
        const c = await MoosengClient.connect(m.options);
        clients.set(nextClient, c);
        return nextClient++;
      }
      case 'call': {
        const c = clients.get(m.client);
        if (c === undefined) throw new Error(`no client ${m.client}`);
        if (!(remoteMethods as readonly string[]).includes(m.method)) throw new Error(`method ${m.method} is not exposed`);
        const f = (c as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[m.method]!;
        return (await f.apply(c, m.args)) ?? null;
      }
      case 'close': {
        await clients.get(m.client)?.close();
        clients.delete(m.client);
        return null;
      }
      case 'fetch': {
        const res = await fetch(m.url, { signal: AbortSignal.timeout(m.timeoutMs) });
        return { status: res.status, body: await res.text() };
      }
      case 'raw':
        return rawRequest(m.address, m.req, m.timeoutMs);
    }
  };
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const m = JSON.parse(line) as WorkerOp & { id: number };
    handle(m).then(
      (result) => process.stdout.write(toJson({ id: m.id, ok: true, result }) + '\n'),
      (e: unknown) => {
        const err = e as Error & { code?: unknown };
        process.stdout.write(toJson({ id: m.id, ok: false, error: { message: err.message ?? String(e), code: typeof err.code === 'string' ? err.code : undefined } }) + '\n');
      },
    );
  });
  await new Promise<void>((r) => lines.once('close', () => r()));
  await Promise.all([...clients.values()].map((c) => Promise.race([c.close(), sleep(500)]).catch(() => undefined)));
  process.exit(0);
}

if (process.argv.includes('--worker') && process.argv[1] !== undefined && resolve(process.argv[1]) === thisFile) {
  void runWorker();
}
