/**
 * Network faults between the masters' namespaces, with iproute2 only (no iptables or netem needed):
 *
 * - a blackhole route in namespace A to B's address drops every packet A sends to B (one-way
 *   loss); one in each direction is a two-way partition between A and B. Clients are not affected:
 *   their address has no such route.
 * - a host's switch port down cuts it off from everyone, clients included; its sockets stay open.
 *
 * Every change is remembered so that `healAll` undoes exactly what was done.
 */
import { ip } from '../integration/netns.ts';

export interface LabHost {
  readonly id: number;
  readonly ns: string;
  readonly address: string;
  /** Its port on the bridge, in the switch namespace. */
  readonly port: string;
}

export class Network {
  private readonly blackholes = new Set<string>();
  private readonly portsDown = new Set<string>();

  constructor(
    private readonly switchNs: string,
    private readonly hosts: ReadonlyMap<number, LabHost>,
  ) {}

  private host(id: number): LabHost {
    const h = this.hosts.get(id);
    if (h === undefined) throw new Error(`no host for master ${id}`);
    return h;
  }

  /** Packets from `from` to `to` are dropped (locally, at routing in `from`'s namespace). */
  async dropOneWay(from: number, to: number): Promise<void> {
    const key = `${from}>${to}`;
    if (this.blackholes.has(key)) return;
    await ip('-n', this.host(from).ns, 'route', 'add', 'blackhole', `${this.host(to).address}/32`);
    this.blackholes.add(key);
  }

  /** No packet between any master of `a` and any master of `b`, in either direction. */
  async split(a: readonly number[], b: readonly number[]): Promise<void> {
    for (const x of a) {
      for (const y of b) {
        await this.dropOneWay(x, y);
        await this.dropOneWay(y, x);
      }
    }
  }

  /** The host's switch port goes down, like a cable pulled at the switch. */
  async cut(id: number): Promise<void> {
    const port = this.host(id).port;
    await ip('-n', this.switchNs, 'link', 'set', port, 'down');
    this.portsDown.add(port);
  }

  /** Undoes every fault in place; returns the problems (never throws). */
  async healAll(): Promise<string[]> {
    const problems: string[] = [];
    for (const port of [...this.portsDown]) {
      try {
        await ip('-n', this.switchNs, 'link', 'set', port, 'up');
        this.portsDown.delete(port);
      } catch (e) {
        problems.push(String(e));
      }
    }
    for (const key of [...this.blackholes]) {
      const [from, to] = key.split('>').map(Number) as [number, number];
      try {
        await ip('-n', this.host(from).ns, 'route', 'del', 'blackhole', `${this.host(to).address}/32`);
        this.blackholes.delete(key);
      } catch (e) {
        problems.push(String(e));
      }
    }
    return problems;
  }

  get faulty(): boolean {
    return this.blackholes.size > 0 || this.portsDown.size > 0;
  }
}
