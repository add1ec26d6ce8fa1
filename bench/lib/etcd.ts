/**
 * An etcd cluster for comparisons: `n` members of the system's etcd (Debian's etcd-server), data in
 * a temporary directory with etcd's default durability (fsync of the WAL on every commit), on
 * loopback or on namespace hosts; default timing (heartbeat 100 ms, election 1000 ms) or the
 * timing given. Status goes through an Agent; processes are started and killed by PID.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { Agent } from './agent.ts';
import type { Net } from './net.ts';
import { waitFor } from './util.ts';

/** Client and peer ports of a member on a namespace host (etcd's usual ports). */
const nsBasePort = 2379;

export interface EtcdTiming {
  readonly heartbeatMs: number;
  readonly electionMs: number;
}

export interface EtcdMember {
  readonly index: number;
  readonly clientUrl: string;
  readonly args: readonly string[];
  readonly logFile: string;
  child: ChildProcess | undefined;
}

interface EtcdStatus {
  readonly header: { readonly member_id: string };
  readonly leader: string;
  readonly raftIndex: string;
  readonly raftAppliedIndex?: string;
}

/** The etcd binary, or a message saying how to install it. */
export function etcdBinary(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('etcd is not installed: apt-get install -y etcd-server (binary `etcd`)');
  }
}

export class EtcdCluster {
  private constructor(
    private readonly net: Net,
    private readonly bin: string,
    readonly members: EtcdMember[],
  ) {}

  static async create(net: Net, dir: string, n: number, timing: EtcdTiming | undefined, name: string): Promise<EtcdCluster> {
    const bin = etcdBinary();
    const eps = await net.endpoints(n, 2, nsBasePort);
    const peerUrl = (k: number): string => `http://${eps[k]!.host}:${eps[k]!.basePort + 1}`;
    const initialCluster = eps.map((_, k) => `e${k + 1}=${peerUrl(k)}`).join(',');
    const members = eps.map((e, k): EtcdMember => {
      const clientUrl = `http://${e.host}:${e.basePort}`;
      const args = [
        '--name', `e${k + 1}`,
        '--data-dir', join(dir, `${name}-${k + 1}`),
        '--listen-client-urls', clientUrl,
        '--advertise-client-urls', clientUrl,
        '--listen-peer-urls', peerUrl(k),
        '--initial-advertise-peer-urls', peerUrl(k),
        '--initial-cluster', initialCluster,
        '--initial-cluster-token', `${name}-${process.pid}`,
        '--initial-cluster-state', 'new',
        '--logger', 'zap',
        '--log-level', 'warn',
        ...(timing === undefined ? [] : ['--heartbeat-interval', String(timing.heartbeatMs), '--election-timeout', String(timing.electionMs)]),
      ];
      return { index: k + 1, clientUrl, args, logFile: join(dir, `${name}-${k + 1}.log`), child: undefined };
    });
    return new EtcdCluster(net, bin, members);
  }

  member(i: number): EtcdMember {
    const m = this.members[i - 1];
    if (m === undefined) throw new Error(`no etcd member ${i}`);
    return m;
  }

  get clientUrls(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  pid(i: number): number {
    const pid = this.member(i).child?.pid;
    if (pid === undefined) throw new Error(`etcd member ${i} is not running`);
    return pid;
  }

  async start(): Promise<void> {
    for (const m of this.members) await this.startMember(m.index);
  }

  /** Starts (or restarts, on its existing data directory) member `i`. */
  async startMember(i: number): Promise<void> {
    const m = this.member(i);
    const out = openSync(m.logFile, 'a');
    try {
      m.child = await this.net.spawn(i, this.bin, m.args, ['ignore', out, out]);
    } finally {
      closeSync(out);
    }
  }

  signal(i: number, sig: NodeJS.Signals): void {
    process.kill(this.pid(i), sig);
  }

  async kill(i: number): Promise<void> {
    const child = this.member(i).child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  async status(agent: Agent, i: number): Promise<EtcdStatus> {
    const r = await agent.fetch(`${this.member(i).clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}', timeoutMs: 1000 });
    if (r.status !== 200) throw new Error(`status of etcd member ${i}: HTTP ${r.status}`);
    return JSON.parse(r.body) as EtcdStatus;
  }

  /**
   * Waits until members `indexes` name one leader among them and their raft indexes are within a
   * few entries of each other; returns the leader's member index (1-based) and id.
   */
  async settled(agent: Agent, indexes: number[], timeoutMs = 30_000): Promise<{ index: number; id: string }> {
    return waitFor('the etcd cluster to settle', timeoutMs, async () => {
      const st = await Promise.all(indexes.map((i) => this.status(agent, i)));
      const lead = st.findIndex((s) => s.header.member_id === s.leader);
      if (lead < 0 || !st.every((s) => s.leader === st[lead]!.leader)) return undefined;
      const idx = st.map((s) => Number(s.raftIndex));
      if (Math.max(...idx) - Math.min(...idx) > 50) return undefined;
      return { index: indexes[lead]!, id: st[lead]!.leader };
    }, 50);
  }

  async close(): Promise<void> {
    for (const m of this.members) {
      const c = m.child;
      if (c !== undefined && c.exitCode === null && c.signalCode === null) {
        try {
          process.kill(c.pid!, 'SIGCONT');
        } catch {
          // gone
        }
      }
    }
    await Promise.all(this.members.map((m) => this.kill(m.index)));
  }
}
