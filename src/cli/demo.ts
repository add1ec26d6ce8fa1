// A live demonstration of the Raft core: three nodes in one process, driven by
// real timers, with message delays, a leader crash and a failover. Bounded in time;
// it stops by itself.
import { MemoryStorage, RaftNode, NONE } from '../raft/index.ts';
import type { Message, NodeId, Ready } from '../raft/index.ts';

const tickMs = 10;
const electionTicks = 30; // 300 ms minimum election timeout
const runMs = 6_000;
const crashAtMs = 2_500;
const restartAtMs = 4_000;
const proposalsPerTick = 5;

interface DemoNode {
  id: NodeId;
  raft: RaftNode;
  storage: MemoryStorage;
  up: boolean;
  applied: number;
}

const ids: NodeId[] = [1, 2, 3];
const start = performance.now();
const elapsed = (): string => `${((performance.now() - start) / 1000).toFixed(3).padStart(7)}s`;
const say = (line: string): void => console.log(`[${elapsed()}] ${line}`);

function randomSource(): { intBelow(n: number): number } {
  return { intBelow: (n: number) => Math.floor(Math.random() * n) };
}

const nodes = new Map<NodeId, DemoNode>();
for (const id of ids) {
  const storage = new MemoryStorage({ voters: ids, votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false });
  nodes.set(id, { id, storage, raft: new RaftNode({ id, storage, random: randomSource(), electionTicks }), up: true, applied: 0 });
}

function deliver(m: Message): void {
  // 0.2-2 ms of network delay.
  setTimeout(() => {
    const n = nodes.get(m.to);
    if (n === undefined || !n.up) return;
    n.raft.step(m);
    drain(n);
  }, 0.2 + Math.random() * 1.8);
}

function drain(n: DemoNode): void {
  while (n.up && n.raft.hasReady()) {
    const rd: Ready = n.raft.ready();
    for (const m of rd.messagesNow) deliver(m);
    if (rd.snapshot !== undefined) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
    for (const m of rd.messages) deliver(m);
    if (rd.snapshot !== undefined) n.raft.snapshotPersisted(rd.snapshot.metadata.index);
    const last = rd.entries[rd.entries.length - 1];
    if (last !== undefined) n.raft.logPersisted(last.index, last.term);
    for (const e of rd.committedEntries) if (e.data.byteLength > 0) n.applied++;
    n.raft.advance(rd);
  }
}

let lastLeader: NodeId = NONE;
let crashedAt = 0;
let crashed: NodeId = NONE;
let proposed = 0;

const timer = setInterval(() => {
  const t = performance.now() - start;
  for (const n of nodes.values()) {
    if (!n.up) continue;
    n.raft.tick();
    drain(n);
  }
  const leader = [...nodes.values()].find((n) => n.up && n.raft.status().role === 'leader');
  if (leader !== undefined && leader.id !== lastLeader) {
    const s = leader.raft.status();
    const failover = crashedAt > 0 ? ` (failover after the crash: ${(t - crashedAt).toFixed(0)} ms)` : '';
    say(`node ${leader.id} is leader of term ${s.term}${failover}`);
    lastLeader = leader.id;
    crashedAt = 0;
  }
  if (leader !== undefined) {
    for (let i = 0; i < proposalsPerTick; i++) {
      if (leader.raft.propose(new TextEncoder().encode(`entry ${proposed}`)).ok) proposed++;
    }
    drain(leader);
  }
  if (crashed === NONE && t >= crashAtMs && leader !== undefined) {
    crashed = leader.id;
    leader.up = false;
    crashedAt = t;
    say(`crash node ${crashed} (the leader); its peers see its connections close`);
    for (const n of nodes.values()) {
      if (!n.up) continue;
      n.raft.reportLeaderConnectionClosed(crashed);
      drain(n);
    }
  }
  if (crashed !== NONE && t >= restartAtMs && !nodes.get(crashed)!.up) {
    const n = nodes.get(crashed)!;
    // Restart from what was durable: the in-memory storage stands for the disk.
    n.raft = new RaftNode({ id: n.id, storage: n.storage, random: randomSource(), electionTicks });
    n.applied = 0;
    n.up = true;
    say(`restart node ${n.id}; it catches up from the leader`);
  }
  if (t >= runMs) {
    clearInterval(timer);
    setTimeout(() => {
      for (const n of nodes.values()) {
        const s = n.raft.status();
        say(`node ${n.id}: ${s.role}, term ${s.term}, commit ${s.commit}, applied ${s.applied}`);
      }
      say(`${proposed} entries proposed; the networked daemon with data under ./data is not built yet (see README)`);
    }, 100);
  }
}, tickMs);
