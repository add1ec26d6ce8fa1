import { createHash, randomBytes, randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { encodeCommand } from '../master/codec.ts';
import { writeSnapshot } from '../master/snapshot.ts';
import { RaftNode } from '../raft/raft.ts';
import { seededRandom } from '../raft/random.ts';
import type { ConfChange, NodeId, Role } from '../raft/types.ts';
import { FileLogStorage } from '../storage/file-log-storage.ts';
import { NodeFileIO } from '../storage/fileio.ts';
import { Transport } from '../transport/transport.ts';
import { AdminError, AdminHttp } from './admin-http.ts';
import { ClientService } from './client-service.ts';
import { formatHostPort, parseHostPort, type MasterConfig } from './config.ts';
import { encodeCommandEntry, encodeMemberEntry, MetadataApp, type MemberRecord } from './metadata-app.ts';
import { MasterMetrics } from './metrics.ts';
import { RaftDriver } from './raft-driver.ts';

export interface MasterOptions {
  readonly config: MasterConfig;
  readonly secret: Uint8Array;
  readonly adminToken: string | undefined;
  readonly log: Logger;
  /** Called when the master cannot go on (a storage failure): the process must exit. */
  readonly onFatal: (e: unknown) => void;
  /** Client requests not answered within this time get TIMEOUT. Default 10 s. */
  readonly requestTimeoutMs?: number;
}

/** Version of this master's build, reported in /status. */
export const masterVersion = '0.1.0';

/** The data directory layout: the Raft store lives in `raft/` under the configured directory. */
export function raftDir(config: MasterConfig): string {
  return `${config.dataDir}/raft`;
}

/** Writes the initial membership into a new data directory. Refuses a directory that holds data. */
export async function initDataDir(config: MasterConfig): Promise<void> {
  const io = new NodeFileIO();
  const dir = raftDir(config);
  const probe = await FileLogStorage.open({ io, dir, initialConfState: config.initialConfState });
  try {
    const hs = probe.hardState();
    if (hs.term !== 0 || probe.lastIndex() !== 0 || probe.snapshot().metadata.index !== 0) {
      throw new Error(`${dir} already holds a Raft log (term ${hs.term}, last index ${probe.lastIndex()}); refusing to initialise it again`);
    }
    const cs = probe.initialState().confState;
    if (cs.voters.join(',') !== config.initialConfState.voters.join(',') || cs.learners.join(',') !== config.initialConfState.learners.join(',')) {
      throw new Error(`${dir} was initialised with voters ${cs.voters.join(',')}, not ${config.initialConfState.voters.join(',')}`);
    }
  } finally {
    await probe.close();
  }
}

const emptyConf = { voters: [], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false };

/**
 * One master: its Raft node over durable storage, the metadata state machine, the peer
 * transport, the client port and the admin endpoint, driven by Node's event loop.
 *
 * Writes: a client's command gets the master's time and goes into the log (batched per turn of
 * the event loop); when this master applies it, the waiting client gets the result. A follower
 * forwards writes to the leader (or answers NOT_LEADER, by configuration) and answers once it
 * applied them itself. Whenever the leader changes, every waiting write is answered with a
 * retryable NOT_LEADER: the client retries with the same session and sequence, and the retry
 * cache makes the command run once.
 *
 * Reads: linearizable by default; the reads that arrive in one turn share one ReadIndex round,
 * and are served from this master's state once it has applied up to the read index. Followers
 * and learners serve reads too (the read index comes from the leader).
 */
export class Master {
  private readonly cfg: MasterConfig;
  private readonly log: Logger;
  readonly metrics = new MasterMetrics();
  private storage!: FileLogStorage;
  private raft!: RaftNode;
  private driver!: RaftDriver;
  private app!: MetadataApp;
  private transport!: Transport;
  private admin: AdminHttp | undefined;
  private clients!: ClientService;
  private ticker: NodeJS.Timeout | undefined;
  private maintenance: NodeJS.Timeout | undefined;
  private stopping = false;
  private readonly startedAt = Date.now();
  private lastLeader: NodeId = 0;

  private constructor(private readonly o: MasterOptions) {
    this.cfg = o.config;
    this.log = o.log;
  }

  static async start(o: MasterOptions): Promise<Master> {
    const m = new Master(o);
    await m.open();
    return m;
  }

  get nodeId(): NodeId {
    return this.cfg.nodeId;
  }

  private async open(): Promise<void> {
    const cfg = this.cfg;
    const log = this.log;
    this.storage = await FileLogStorage.open({
      io: new NodeFileIO(),
      dir: raftDir(cfg),
      // A directory without data starts with no members: it waits for the leader to add it (see `init`).
      initialConfState: emptyConf,
      logger: (event, fields) => log.warn({ ...fields, event }, `storage: ${event}`),
    });
    const initialMembers: MemberRecord[] = cfg.peers.map((p) => ({
      id: p.id,
      peer: formatHostPort(p.peer),
      client: formatHostPort(p.client),
      admin: formatHostPort(p.admin),
    }));
    this.app = new MetadataApp(
      cfg.nodeId,
      {},
      {
        onResult: (request, result) => this.clients.onResult(request, result),
        onMembers: (members) => this.onMembers(members),
      },
      initialMembers,
    );
    const snap = this.storage.snapshot();
    if (snap.metadata.index > 0) this.app.restore(snap);
    this.raft = new RaftNode({
      id: cfg.nodeId,
      storage: this.storage,
      // Election jitter only: a seeded generator is enough, seeded differently on every start.
      random: seededRandom(randomInt(0, 2 ** 31)),
      ...cfg.raft,
      applied: snap.metadata.index,
    });
    this.driver = new RaftDriver({
      raft: this.raft,
      storage: this.storage,
      app: this.app,
      send: (m) => {
        if (m.type === 'snapshot') this.metrics.snapshotChunksSent.inc();
        this.transport.send(m);
      },
      snapshotEvery: cfg.snapshot.everyEntries,
      snapshotKeep: cfg.snapshot.keepEntries,
      onFatal: (e) => {
        log.fatal({ err: e }, 'storage failure: stopping');
        this.o.onFatal(e);
      },
      onSoftState: (role, leader, term) => this.onSoftState(role, leader, term),
      onReadState: (rs) => this.clients.onReadState(rs),
      onApplied: (index, seconds) => {
        this.metrics.applyLatency.observe(seconds);
        this.clients.onApplied(index);
      },
      onPersisted: (seconds, entries) => {
        this.metrics.walFsyncLatency.observe(seconds);
        if (entries > 0) this.metrics.walBatchEntries.observe(entries);
      },
      onSnapshotTaken: (index, sizeBytes) => {
        this.metrics.snapshotsTaken.inc();
        log.info({ index, sizeBytes }, 'snapshot taken');
      },
      onSnapshotInstalled: (index) => {
        this.metrics.snapshotsInstalled.inc();
        log.info({ index }, 'snapshot from the leader installed');
      },
    });
    const tls =
      cfg.tls === undefined
        ? undefined
        : { key: await readFile(cfg.tls.keyFile), cert: await readFile(cfg.tls.certFile), ca: await readFile(cfg.tls.caFile) };
    this.clients = new ClientService({
      cfg,
      log,
      metrics: this.metrics,
      raft: this.raft,
      driver: this.driver,
      app: this.app,
      requestTimeoutMs: this.o.requestTimeoutMs ?? 10_000,
    });
    this.transport = new Transport({
      ...(tls === undefined ? {} : { tls }),
      nodeId: cfg.nodeId,
      clusterId: cfg.clusterId,
      clusterSecret: this.o.secret,
      listen: { host: cfg.listen.peer.host, port: cfg.listen.peer.port },
      peers: this.peerAddresses(this.app.members),
      onMessage: (_from, m) => {
        this.raft.step(m);
        this.driver.kick();
      },
      onPeerDisconnected: (peer, info) => {
        log.info({ peer, direction: info.direction, reason: info.reason }, 'peer connection lost');
        this.raft.reportLeaderConnectionClosed(peer);
        this.driver.kick();
      },
      onPeerConnected: (peer, direction) => log.info({ peer, direction }, 'peer connected'),
      logger: log.child({ component: 'transport' }),
    });
    await this.transport.start();
    this.ticker = setInterval(() => {
      this.raft.tick();
      this.driver.kick();
    }, cfg.timing.tickMs);
    this.maintenance = setInterval(() => this.maintain(), 1000);
    this.driver.kick();
    await this.clients.listen();
    this.admin = new AdminHttp({
      host: cfg.listen.admin.host,
      port: cfg.listen.admin.port,
      backend: {
        status: () => this.status(),
        isLeader: () => this.driver.isLeader,
        health: () => this.health(),
        metricsText: () => this.metricsText(),
        stateCheck: () => this.stateCheck(),
        admin: (op, body) => this.adminOp(op, body),
      },
      adminToken: this.o.adminToken,
      log,
    });
    await this.admin.listen();
    const conf = this.storage.initialState().confState;
    log.info(
      {
        node: cfg.nodeId,
        peer: formatHostPort(cfg.listen.peer),
        client: formatHostPort(cfg.listen.client),
        admin: formatHostPort(cfg.listen.admin),
        voters: conf.voters,
        learners: conf.learners,
        snapshotIndex: snap.metadata.index,
        lastIndex: this.storage.lastIndex(),
      },
      conf.voters.length === 0 ? 'master started with no membership: waiting to be added to a group' : 'master started',
    );
  }

  /**
   * The transport's peers: the member directory. A master that is not in the directory yet is being
   * added: the snapshot it installs may predate its own record and that of its current leader
   * (itself added after the snapshot), and dropping the leader would leave it refusing the
   * leader's connections for good. Until it finds itself in the directory, it keeps the peers of
   * its configuration file too (which list the current members, see OPERATIONS.md).
   */
  private peerAddresses(members: ReadonlyMap<NodeId, MemberRecord>): { id: NodeId; host: string; port: number }[] {
    const all = new Map(members);
    if (!members.has(this.cfg.nodeId)) {
      for (const p of this.cfg.peers) {
        if (!all.has(p.id)) all.set(p.id, { id: p.id, peer: formatHostPort(p.peer), client: formatHostPort(p.client), admin: formatHostPort(p.admin) });
      }
    }
    const out: { id: NodeId; host: string; port: number }[] = [];
    for (const m of all.values()) {
      if (m.id === this.cfg.nodeId) continue;
      const a = parseHostPort(m.peer);
      if (typeof a === 'string') {
        this.log.error({ member: m.id, peer: m.peer, problem: a }, 'member has an unusable peer address');
        continue;
      }
      out.push({ id: m.id, host: a.host, port: a.port });
    }
    return out;
  }

  private onMembers(members: ReadonlyMap<NodeId, MemberRecord>): void {
    // Called during open() (restore) before the transport exists.
    if (this.transport !== undefined) this.transport.setPeers(this.peerAddresses(members));
  }

  // ------------------------------------------------------------------ Raft events

  private onSoftState(role: Role, leader: NodeId, term: number): void {
    this.metrics.setRole(role);
    if (role === 'leader') this.metrics.elections.inc();
    if (leader !== this.lastLeader) {
      this.metrics.leaderChanges.inc();
      this.log.info({ role, leader, term }, leader === 0 ? 'no leader' : `leader is ${leader}`);
      this.lastLeader = leader;
      // Waiting writes may have been lost with the old leader's log: answer them; their retries are deduplicated.
      this.clients.failWrites('NOT_LEADER', 'the leader changed while the write was in flight; retry it (same session and sequence)');
      this.clients.failReads('NOT_LEADER', 'the leader changed while the read was in flight; retry it');
    }
  }

  // ------------------------------------------------------------------ leader maintenance

  /** The leader expires sessions and trash whose time is up, through the log, with its own clock. */
  private maintain(): void {
    if (!this.driver.isLeader || this.stopping) return;
    const now = Math.floor(Date.now() / 1000);
    const due = this.app.state.dueWork(now);
    const header = { timeSec: now, uid: 0, gids: [0], session: { id: 0, seq: 0 } };
    const datas: Uint8Array[] = [];
    if (due.sessions) datas.push(encodeCommandEntry(0, 0, encodeCommand({ ...header, kind: 'expireSessions', maxCount: 1000 })));
    if (due.trash) datas.push(encodeCommandEntry(0, 0, encodeCommand({ ...header, kind: 'expireTrash', maxCount: 10_000 })));
    if (datas.length === 0) return;
    this.raft.proposeBatch(datas);
    this.driver.kick();
  }

  // ------------------------------------------------------------------ admin

  status(): Record<string, unknown> {
    const st = this.raft.status();
    const progress: Record<string, unknown>[] = [];
    for (const [id, p] of st.progress) {
      progress.push({ id, match: p.match, next: p.next, state: p.state, lag: Math.max(0, st.lastIndex - p.match), recentActive: p.recentActive });
    }
    const ts = this.transport.stats();
    return {
      node: this.cfg.nodeId,
      cluster: this.cfg.clusterId,
      version: masterVersion,
      uptimeSec: Math.round((Date.now() - this.startedAt) / 1000),
      role: st.role,
      term: st.term,
      leader: st.leader,
      commit: st.commit,
      applied: this.driver.applied,
      firstIndex: st.firstIndex,
      lastIndex: st.lastIndex,
      snapshotIndex: this.storage.snapshot().metadata.index,
      conf: st.confState,
      members: [...this.app.members.values()].sort((a, b) => a.id - b.id),
      progress: st.role === 'leader' ? progress : [],
      transport: { sent: ts.sent, received: ts.received, dropped: ts.dropped, reconnects: ts.reconnects, peers: ts.peers },
      storage: this.storage.stats(),
      namespace: this.app.state.statfs(),
      waiting: this.clients.waiting,
    };
  }

  private stateCheck(): { applied: number; digest: string; invariants: string[] } {
    const h = createHash('sha256');
    for (const chunk of writeSnapshot(this.app.state)) h.update(chunk);
    return { applied: this.driver.applied, digest: h.digest('hex'), invariants: this.app.state.checkInvariants() };
  }

  private health(): { ok: boolean; reason: string } {
    if (this.stopping) return { ok: false, reason: 'stopping' };
    const st = this.raft.status();
    if (st.leader === 0) return { ok: false, reason: 'no leader known' };
    if (st.commit - this.driver.applied > 10_000) return { ok: false, reason: `applied ${this.driver.applied} is far behind commit ${st.commit}` };
    return { ok: true, reason: st.role === 'leader' ? 'leader' : `following ${st.leader}` };
  }

  private async metricsText(): Promise<string> {
    const st = this.raft.status();
    const m = this.metrics;
    m.term.set(st.term);
    m.commitIndex.set(st.commit);
    m.appliedIndex.set(this.driver.applied);
    m.lastIndex.set(st.lastIndex);
    m.setRole(st.role);
    m.peerLag.reset();
    if (st.role === 'leader') for (const [id, p] of st.progress) m.peerLag.set({ peer: String(id) }, Math.max(0, st.lastIndex - p.match));
    const ts = this.transport.stats();
    m.peerMessages.set({ direction: 'sent' }, ts.sent);
    m.peerMessages.set({ direction: 'received' }, ts.received);
    m.peerMessages.set({ direction: 'dropped' }, ts.dropped);
    return m.text();
  }

  private requireLeader(): void {
    if (!this.driver.isLeader) {
      const l = this.driver.leaderId;
      throw new AdminError(421, 'ERR_NOT_LEADER', l === 0 ? 'no leader is known' : `membership changes go to the leader, master ${l}`, {
        leader: l,
        leaderAdmin: l === 0 ? '' : (this.app.members.get(l)?.admin ?? ''),
      });
    }
  }

  private async adminOp(op: string, body: Readonly<Record<string, unknown>>): Promise<unknown> {
    const id = body['id'];
    const nodeId = typeof id === 'number' && Number.isInteger(id) && id > 0 ? id : undefined;
    switch (op) {
      case 'add-learner': {
        this.requireLeader();
        if (nodeId === undefined) throw new AdminError(400, 'ERR_BAD_REQUEST', 'add-learner needs "id" (a positive integer)');
        const record: MemberRecord = {
          id: nodeId,
          peer: addressField(body, 'peer'),
          client: addressField(body, 'client'),
          admin: addressField(body, 'admin'),
        };
        const conf = this.raft.status().confState;
        if ([...conf.voters, ...conf.votersOutgoing, ...conf.learners, ...conf.learnersNext].includes(nodeId)) {
          throw new AdminError(409, 'ERR_ALREADY_MEMBER', `master ${nodeId} is already a member; remove it first, or choose another id`);
        }
        await this.proposeAndWait(encodeMemberEntry(record), () => sameMember(this.app.members.get(nodeId), record));
        await this.confChange({ changes: [{ op: 'addLearner', nodeId }] });
        return { ok: true, added: record };
      }
      case 'promote': {
        this.requireLeader();
        if (nodeId === undefined) throw new AdminError(400, 'ERR_BAD_REQUEST', 'promote needs "id"');
        const st = this.raft.status();
        if (!st.confState.learners.includes(nodeId)) throw new AdminError(409, 'ERR_NOT_LEARNER', `master ${nodeId} is not a learner`);
        // A learner is caught up when the leader streams entries to it (not probing or sending a snapshot) and it is close behind.
        const p = st.progress.get(nodeId);
        const lag = p === undefined ? Infinity : st.lastIndex - p.match;
        const state = p?.state ?? 'unknown';
        if ((lag > maxPromoteLagEntries || state !== 'replicate') && body['force'] !== true) {
          throw new AdminError(
            409,
            'ERR_LEARNER_BEHIND',
            `master ${nodeId} is ${lag} entries behind (${state}); wait for it to catch up (or pass "force": true)`,
            { lag, state },
          );
        }
        await this.confChange({ changes: [{ op: 'addVoter', nodeId }] });
        return { ok: true, promoted: nodeId };
      }
      case 'remove': {
        this.requireLeader();
        if (nodeId === undefined) throw new AdminError(400, 'ERR_BAD_REQUEST', 'remove needs "id"');
        await this.confChange({ changes: [{ op: 'remove', nodeId }] });
        const rec = this.app.members.get(nodeId);
        // A leader that removed itself no longer leads: the member directory keeps the record (it is only an address book).
        if (rec !== undefined && this.driver.isLeader) await this.proposeAndWait(encodeMemberEntry({ ...rec, removed: true }), () => !this.app.members.has(nodeId));
        return { ok: true, removed: nodeId };
      }
      case 'transfer-leader': {
        this.requireLeader();
        if (nodeId === undefined) throw new AdminError(400, 'ERR_BAD_REQUEST', 'transfer-leader needs "id"');
        this.raft.transferLeadership(nodeId);
        this.driver.kick();
        const ok = await this.waitFor(() => this.driver.leaderId === nodeId, 3000);
        if (!ok) throw new AdminError(504, 'ERR_TIMEOUT', `master ${nodeId} did not take over within 3 s`);
        return { ok: true, leader: nodeId };
      }
      case 'snapshot': {
        // Through the driver: one snapshot at a time, never behind one being installed from the leader.
        const index = await this.driver.snapshotNow();
        return { ok: true, index };
      }
      default:
        throw new AdminError(404, 'ERR_UNKNOWN_OP', `unknown admin operation ${op}; known: add-learner, promote, remove, transfer-leader, snapshot`);
    }
  }

  /**
   * Proposes an entry (no client waits on it) and waits until this master applied it and `took`
   * holds. The entry's effect is checked, not its term: by the time it is applied it may already
   * be compacted away, and a leader change may have replaced it with another entry.
   */
  private async proposeAndWait(data: Uint8Array, took: () => boolean): Promise<void> {
    const res = this.raft.propose(data);
    if (!res.ok || !('index' in res)) throw new AdminError(503, 'ERR_NOT_ACCEPTED', `the proposal was not accepted (${res.ok ? 'forwarded' : res.code})`);
    this.driver.kick();
    const index = res.index;
    const applied = await this.waitFor(() => this.driver.applied >= index, 5000);
    if (!applied) throw new AdminError(504, 'ERR_TIMEOUT', `entry ${index} was not applied within 5 s`);
    if (!took()) throw new AdminError(503, 'ERR_NOT_ACCEPTED', `entry ${index} was lost in a leader change; retry`);
  }

  private async confChange(cc: ConfChange): Promise<void> {
    const res = this.raft.proposeConfChange(cc);
    if (!res.ok) {
      throw new AdminError(409, res.code, res.code === 'ERR_CONF_CHANGE_PENDING' ? 'another membership change is in progress; retry' : `the change was refused (${res.code})`);
    }
    if (!('index' in res)) throw new AdminError(503, 'ERR_NOT_ACCEPTED', 'the change was forwarded; send it to the leader');
    this.driver.kick();
    const index = res.index;
    // Joint changes leave automatically; wait until the configuration is no longer joint.
    const ok = await this.waitFor(() => this.driver.applied >= index && this.raft.status().confState.votersOutgoing.length === 0 && this.raft.status().confState.learnersNext.length === 0, 10_000);
    if (!ok) throw new AdminError(504, 'ERR_TIMEOUT', `membership change ${index} did not complete within 10 s`);
  }

  private waitFor(cond: () => boolean, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const deadline = Date.now() + timeoutMs;
      const check = (): void => {
        if (cond()) resolve(true);
        else if (Date.now() > deadline || this.stopping) resolve(false);
        else setTimeout(check, 5);
      };
      check();
    });
  }

  // ------------------------------------------------------------------ stop

  /** Stops the master. A leader first hands leadership to the most up-to-date voter, so the group does not wait for an election timeout. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    const st = this.raft.status();
    if (st.role === 'leader' && st.confState.voters.length > 1) {
      let best: NodeId = 0;
      let bestMatch = -1;
      for (const [id, p] of st.progress) {
        if (id !== this.cfg.nodeId && st.confState.voters.includes(id) && p.match > bestMatch) {
          best = id;
          bestMatch = p.match;
        }
      }
      if (best !== 0) {
        this.log.info({ to: best }, 'stopping: transferring leadership');
        this.raft.transferLeadership(best);
        this.driver.kick();
        await this.waitFor(() => this.driver.leaderId !== this.cfg.nodeId && this.driver.leaderId !== 0, 2000);
      }
    }
    this.stopping = true;
    clearInterval(this.ticker);
    clearInterval(this.maintenance);
    await this.clients.close();
    await this.admin?.close();
    await this.transport.close();
    await this.storage.close();
    this.log.info('master stopped');
  }
}

/** A learner is promoted only this close behind the leader's last index (unless forced). */
const maxPromoteLagEntries = 1000;

function sameMember(a: MemberRecord | undefined, b: MemberRecord): boolean {
  return a !== undefined && a.peer === b.peer && a.client === b.client && a.admin === b.admin && a.removed !== true;
}

function addressField(body: Readonly<Record<string, unknown>>, key: string): string {
  const v = body[key];
  if (typeof v !== 'string') throw new AdminError(400, 'ERR_BAD_REQUEST', `"${key}" must be a "host:port" string`);
  const a = parseHostPort(v);
  if (typeof a === 'string') throw new AdminError(400, 'ERR_BAD_REQUEST', `"${key}": ${a}`);
  return formatHostPort(a);
}

/** A fresh random secret, hex: for `npm start` and `init` when the operator has none. */
export function generateSecret(): string {
  return randomBytes(32).toString('hex');
}
