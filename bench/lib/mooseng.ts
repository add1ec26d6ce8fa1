/**
 * A mooseng cluster for benchmarks: one `mooseng-master` process per member (default timing,
 * durable WAL in a temporary directory), on loopback or on namespace hosts. Founding voters are
 * initialised; extra members (for learners) are started uninitialised and added by the admin
 * endpoint. Everything that talks to the masters goes through an Agent (it may be the only
 * process that can reach them); processes are started and killed by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify as stringifyToml } from 'smol-toml';
import { parseConfig } from '../../src/server/config.ts';
import type { Agent } from './agent.ts';
import type { Net } from './net.ts';
import { repoRoot, waitFor } from './util.ts';

const masterBin = 'src/cli/master.ts';
/** Ports of a master on a namespace host (the same on every host). */
const nsBasePort = 9440;

export interface MoosengMember {
  readonly id: number;
  /** Client address (host:port) for the SDK. */
  readonly client: string;
  readonly peer: string;
  readonly adminUrl: string;
  readonly configFile: string;
  readonly logFile: string;
  /** Whether it founds the group (is initialised as a voter). */
  readonly founder: boolean;
  child: ChildProcess | undefined;
}

export interface StatusDoc {
  readonly node: number;
  readonly term: number;
  readonly lastIndex: number;
  readonly role: string;
  readonly leader: number;
  readonly commit: number;
  readonly applied: number;
  readonly conf: { voters: number[]; learners: number[] };
}

export class MoosengCluster {
  readonly adminToken = randomBytes(32).toString('hex');
  /** Extra node options for the daemons (e.g. --cpu-prof). */
  nodeArgs: string[] = [];
  private constructor(
    private readonly net: Net,
    readonly members: MoosengMember[],
  ) {}

  /** Writes the configurations of `voters + extra` masters under `dir`. */
  static async create(net: Net, dir: string, voters: number, extra = 0, logLevel = 'warn'): Promise<MoosengCluster> {
    const n = voters + extra;
    const eps = await net.endpoints(n, 3, nsBasePort);
    const secretFile = join(dir, 'mooseng-secret');
    writeFileSync(secretFile, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    const tokenFile = join(dir, 'mooseng-admin-token');
    const c = new MoosengCluster(net, []);
    writeFileSync(tokenFile, c.adminToken + '\n', { mode: 0o600 });
    const peers = eps.map((e, k) => ({ id: k + 1, peer: `${e.host}:${e.basePort}`, client: `${e.host}:${e.basePort + 1}`, admin: `${e.host}:${e.basePort + 2}` }));
    for (const p of peers) {
      const founder = p.id <= voters;
      const file = join(dir, `mooseng-${p.id}.toml`);
      const text = stringifyToml({
        node_id: p.id,
        cluster_id: 'bench',
        data_dir: join(dir, `mooseng-${p.id}`),
        secret_file: secretFile,
        admin_token_file: tokenFile,
        log: { level: logLevel },
        // A member that does not found the group lists the founders and itself, and waits to be added.
        peers: founder ? peers.slice(0, voters) : [...peers.slice(0, voters), p],
      });
      parseConfig(text, file);
      writeFileSync(file, text);
      c.members.push({ id: p.id, client: p.client, peer: p.peer, adminUrl: `http://${p.admin}`, configFile: file, logFile: join(dir, `mooseng-${p.id}.log`), founder, child: undefined });
    }
    return c;
  }

  member(id: number): MoosengMember {
    const m = this.members.find((x) => x.id === id);
    if (m === undefined) throw new Error(`no master ${id}`);
    return m;
  }

  get clientAddresses(): string[] {
    return this.members.map((m) => m.client);
  }

  pid(id: number): number {
    const pid = this.member(id).child?.pid;
    if (pid === undefined) throw new Error(`master ${id} is not running`);
    return pid;
  }

  /** Initialises the founders and starts every master (the extra ones wait to be added). */
  async start(): Promise<void> {
    await Promise.all(this.members.filter((m) => m.founder).map((m) => this.run(['--import', 'tsx', masterBin, 'init', '--config', m.configFile], m.logFile)));
    for (const m of this.members) await this.startMember(m.id);
  }

  /** Starts (or restarts, on its existing data) master `id`. */
  async startMember(id: number): Promise<void> {
    const m = this.member(id);
    const out = openSync(m.logFile, 'a');
    try {
      m.child = await this.net.spawn(id, process.execPath, [...this.nodeArgs, '--import', 'tsx', masterBin, '--config', m.configFile], ['ignore', out, out]);
    } finally {
      closeSync(out);
    }
  }

  signal(id: number, sig: NodeJS.Signals): void {
    process.kill(this.pid(id), sig);
  }

  /** SIGTERM (a clean stop: a CPU profile gets written) and wait until it is gone, at most `timeoutMs`. */
  async stop(id: number, timeoutMs = 15_000): Promise<void> {
    const child = this.member(id).child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, timeoutMs))]);
  }

  /** SIGKILL and wait until it is gone. */
  async kill(id: number): Promise<void> {
    const child = this.member(id).child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  async status(agent: Agent, id: number): Promise<StatusDoc> {
    const r = await agent.fetch(`${this.member(id).adminUrl}/status`, { timeoutMs: 1000 });
    if (r.status !== 200) throw new Error(`/status of master ${id}: HTTP ${r.status}`);
    return JSON.parse(r.body) as StatusDoc;
  }

  /**
   * Waits until the members `ids` all name one leader among them, and every one of them has applied
   * what the leader had committed when first asked; returns the leader's id.
   */
  async settled(agent: Agent, ids: number[], timeoutMs = 30_000): Promise<number> {
    return waitFor('the mooseng cluster to settle', timeoutMs, async () => {
      const st = await Promise.all(ids.map((id) => this.status(agent, id)));
      const leader = st.find((s) => s.role === 'leader');
      if (leader === undefined || !st.every((s) => s.leader === leader.node)) return undefined;
      if (!st.every((s) => s.applied >= leader.commit - 5)) return undefined;
      return leader.node;
    }, 50);
  }

  /** Adds the extra masters as learners (POST /admin/add-learner on the leader) and waits until they caught up. */
  async addLearners(agent: Agent): Promise<void> {
    const founders = this.members.filter((m) => m.founder).map((m) => m.id);
    const leader = await this.settled(agent, founders);
    for (const m of this.members.filter((x) => !x.founder)) {
      const body = JSON.stringify({ id: m.id, peer: m.peer, client: m.client, admin: m.adminUrl.slice('http://'.length) });
      const r = await agent.fetch(`${this.member(leader).adminUrl}/admin/add-learner`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.adminToken}` },
        timeoutMs: 15_000,
      });
      if (r.status !== 200) throw new Error(`add-learner ${m.id}: HTTP ${r.status} ${r.body}`);
    }
    await this.settled(agent, this.members.map((m) => m.id));
  }

  /** SIGKILL every running master (by PID). */
  async close(): Promise<void> {
    for (const m of this.members) {
      const child = m.child;
      if (child !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(child.pid!, 'SIGCONT');
        } catch {
          // gone
        }
      }
    }
    await Promise.all(this.members.map((m) => this.kill(m.id)));
  }

  /** `init` needs no network: it runs in the benchmark's own namespace. */
  private run(args: string[], logFile: string): Promise<void> {
    const out = openSync(logFile, 'a');
    return new Promise((resolve, reject) => {
      const p = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', out, out] });
      p.once('exit', (code) => {
        closeSync(out);
        if (code === 0) resolve();
        else reject(new Error(`${args.join(' ')} exited with ${code}; see ${logFile}`));
      });
    });
  }
}
