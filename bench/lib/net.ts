/**
 * Where a benchmark's servers run: every server on 127.0.0.1 with its own ports (`loopback`), or
 * each server on its own "host" in a Linux network namespace joined by a bridge (`netns`, reusing
 * the integration tests' NetnsLab), where a host can be cut off without a connection reset.
 *
 * The benchmark process itself stays in the root namespace; everything that talks to the servers
 * (load, status polling) runs in the agent process, spawned on the client host.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { readlinkSync, realpathSync, statSync } from 'node:fs';
import { NetnsLab, netnsUnavailable, removeStaleNamespaces } from '../../test/integration/netns.ts';
import { freePortBase, repoRoot, waitFor } from './util.ts';

export interface Endpoint {
  readonly host: string;
  /** The first of the ports this server may use. */
  readonly basePort: number;
}

export interface Net {
  readonly kind: 'loopback' | 'netns';
  /** Addresses for `n` servers with `portsPerServer` ports each; `nsBase` is the port used on every host in netns mode. */
  endpoints(n: number, portsPerServer: number, nsBase: number): Promise<Endpoint[]>;
  /** Spawns a command on server host `i` (1-based) or on the client host ('c'); the PID is the command's own. */
  spawn(where: number | 'c', cmd: string, args: readonly string[], stdio: StdioOptions): Promise<ChildProcess>;
  /** Cuts host `i` off the network (no reset reaches anyone); only in netns mode. */
  isolate(i: number): Promise<void>;
  heal(i: number): Promise<void>;
  destroy(): Promise<void>;
}

export class LoopbackNet implements Net {
  readonly kind = 'loopback';
  private nextFrom = 31_000;

  async endpoints(n: number, portsPerServer: number): Promise<Endpoint[]> {
    const base = await freePortBase(n * portsPerServer, this.nextFrom);
    this.nextFrom = base + n * portsPerServer + 50;
    return Array.from({ length: n }, (_, k) => ({ host: '127.0.0.1', basePort: base + k * portsPerServer }));
  }

  async spawn(_where: number | 'c', cmd: string, args: readonly string[], stdio: StdioOptions): Promise<ChildProcess> {
    return spawn(cmd, args, { cwd: repoRoot, stdio });
  }

  isolate(): Promise<void> {
    throw new Error('a partition needs the netns network (--net netns): loopback cannot drop packets without iptables');
  }
  heal(): Promise<void> {
    return Promise.resolve();
  }
  async destroy(): Promise<void> {}
}

export class NamespaceNet implements Net {
  readonly kind = 'netns';
  private constructor(private readonly lab: NetnsLab) {}

  static async create(hosts: number): Promise<NamespaceNet> {
    const why = await netnsUnavailable();
    if (why !== undefined) throw new Error(`--net netns: ${why}`);
    await removeStaleNamespaces();
    return new NamespaceNet(await NetnsLab.create(hosts));
  }

  async endpoints(n: number, _portsPerServer: number, nsBase: number): Promise<Endpoint[]> {
    return Array.from({ length: n }, (_, k) => ({ host: this.lab.host(k + 1).address, basePort: nsBase }));
  }

  async spawn(where: number | 'c', cmd: string, args: readonly string[], stdio: StdioOptions): Promise<ChildProcess> {
    const ns = this.lab.host(where).ns;
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { cwd: repoRoot, stdio });
    const pid = child.pid;
    if (pid === undefined) throw new Error(`${cmd} did not start in ${ns}`);
    // `ip netns exec` execs the command: wait until the PID is the command, so that signals reach it.
    const want = realpathSync(cmd); // cmd is an absolute path
    await waitFor(`PID ${pid} to be ${want}`, 5000, async () => readlinkSync(`/proc/${pid}/exe`) === want, 5);
    if (statSync(`/proc/${pid}/ns/net`).ino !== statSync(`/run/netns/${ns}`).ino) throw new Error(`PID ${pid} is not in ${ns}`);
    return child;
  }

  isolate(i: number): Promise<void> {
    return this.lab.isolate(i);
  }
  heal(i: number): Promise<void> {
    return this.lab.heal(i);
  }
  async destroy(): Promise<void> {
    await this.lab.destroy();
  }
}
