/**
 * The masters of a chaos run: real `mooseng-master` processes, each in its own network namespace,
 * started, killed (SIGKILL), paused (SIGSTOP/SIGCONT) and restarted by PID. Runs inside the client
 * namespace (see runner.ts), which reaches every master's address on the bridge.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkNodeInNamespace, ports, run } from '../integration/netns.ts';
import { repoRoot, sleep, type StatusDoc } from '../integration/harness.ts';
import type { LabHost } from './network.ts';

const masterBin = join(repoRoot, 'src/cli/master.ts');
const startTimeoutMs = 30_000;
const statusTimeoutMs = 1500;

export interface ExitRecord {
  readonly code: number | null;
  readonly signal: string | null;
  /** ms since the run started. */
  readonly atMs: number;
  /** We killed it (SIGKILL by the nemesis or the cleanup). */
  readonly expected: boolean;
}

export interface StateCheck {
  readonly applied: number;
  readonly digest: string;
  readonly invariants: readonly string[];
}

export class ChaosMaster {
  child: ChildProcess | undefined;
  paused = false;
  /** Removed from the group: never restarted. */
  removed = false;
  readonly exits: ExitRecord[] = [];
  private exited: Promise<void> = Promise.resolve();
  private killing = false;

  constructor(
    readonly id: number,
    readonly host: LabHost,
    readonly configFile: string,
    readonly logFile: string,
    /** A founding member (initialised); a spare waits to be added. */
    readonly founder: boolean,
    /** Its data directory is a small tmpfs that fills up during the run. */
    readonly smallDisk: boolean,
    private readonly clock: () => number,
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
  /** Running and not paused. */
  get up(): boolean {
    return this.running && !this.paused;
  }

  /** The member record the leader needs to add this master. */
  addresses(): { id: number; peer: string; client: string; admin: string } {
    const a = this.host.address;
    return { id: this.id, peer: `${a}:${ports.peer}`, client: `${a}:${ports.client}`, admin: `${a}:${ports.admin}` };
  }

  async init(): Promise<void> {
    const r = await run(process.execPath, ['--import', 'tsx', masterBin, 'init', '--config', this.configFile], 60_000);
    if (r.code !== 0) throw new Error(`init of master ${this.id} exited with ${r.code}: ${r.stderr}${r.stdout}`);
  }

  /** Starts the daemon in its namespace; resolves once its admin endpoint answers. */
  async start(): Promise<void> {
    if (this.running) return;
    const out = openSync(this.logFile, 'a');
    try {
      const child = spawn('ip', ['netns', 'exec', this.host.ns, process.execPath, '--import', 'tsx', masterBin, '--config', this.configFile], {
        cwd: repoRoot,
        stdio: ['ignore', out, out],
      });
      this.child = child;
      this.paused = false;
      this.killing = false;
      this.exited = new Promise((resolve) =>
        child.once('exit', (code, signal) => {
          this.exits.push({ code, signal, atMs: Math.round(this.clock()), expected: this.killing });
          resolve();
        }),
      );
    } finally {
      closeSync(out);
    }
    const pid = this.child.pid;
    if (pid === undefined) throw new Error(`master ${this.id} did not start`);
    await checkNodeInNamespace(pid, this.host.ns);
    const deadline = Date.now() + startTimeoutMs;
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`master ${this.id} exited at start: ${this.exits.at(-1)?.code ?? this.exits.at(-1)?.signal}; log tail: ${this.logTail(1500)}`);
      if ((await this.status().catch(() => undefined)) !== undefined) return;
      await sleep(100);
    }
    throw new Error(`master ${this.id} did not answer on ${this.adminUrl} within ${startTimeoutMs} ms`);
  }

  /** kill -9 (also wakes nothing: a paused process dies paused). */
  async kill9(): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    this.killing = true;
    child.kill('SIGKILL');
    await this.exited;
    this.paused = false;
  }

  pause(): void {
    if (!this.running || this.paused) return;
    this.child!.kill('SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    if (!this.running || !this.paused) return;
    this.child!.kill('SIGCONT');
    this.paused = false;
  }

  /** Exits we did not cause. */
  unexpectedExits(): ExitRecord[] {
    return this.exits.filter((e) => !e.expected);
  }

  async status(timeoutMs = statusTimeoutMs): Promise<StatusDoc> {
    const res = await fetch(`${this.adminUrl}/status`, { signal: AbortSignal.timeout(timeoutMs) });
    if (res.status !== 200) throw new Error(`/status of master ${this.id}: HTTP ${res.status}`);
    return (await res.json()) as StatusDoc;
  }

  async stateCheck(): Promise<StateCheck> {
    const res = await fetch(`${this.adminUrl}/debug/state`, { signal: AbortSignal.timeout(15_000) });
    if (res.status !== 200) throw new Error(`/debug/state of master ${this.id}: HTTP ${res.status}`);
    return (await res.json()) as StateCheck;
  }

  async admin(op: string, body: Record<string, unknown>, token: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${this.adminUrl}/admin/${op}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  logTail(chars: number): string {
    try {
      return readFileSync(this.logFile, 'utf8').slice(-chars);
    } catch {
      return '';
    }
  }

  /** Whether its log says the disk was full. */
  sawNoSpace(): boolean {
    try {
      return /ERR_NO_SPACE|ENOSPC/.test(readFileSync(this.logFile, 'utf8'));
    } catch {
      return false;
    }
  }
}

/**
 * The leader as the running masters see it: the one that says it leads with the highest term
 * (an isolated old leader may still say so with an older term). Undefined if none answers as leader.
 */
export async function findLeader(masters: readonly ChaosMaster[]): Promise<{ leader: ChaosMaster; status: StatusDoc } | undefined> {
  const st = await Promise.all(masters.filter((m) => m.up).map(async (m) => ({ m, s: await m.status().catch(() => undefined) })));
  let best: { leader: ChaosMaster; status: StatusDoc } | undefined;
  for (const { m, s } of st) {
    if (s?.role !== 'leader') continue;
    if (best === undefined || s.term > best.status.term) best = { leader: m, status: s };
  }
  return best;
}
