import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The Prometheus metrics of one master. Gauges that mirror the Raft state are set from the
 * status on every scrape (`refresh`); counters and histograms are updated where things happen.
 */
export class MasterMetrics {
  readonly registry = new Registry();
  readonly term = new Gauge({ name: 'mooseng_raft_term', help: 'Current Raft term', registers: [this.registry] });
  readonly role = new Gauge({
    name: 'mooseng_raft_role',
    help: 'Role of this master: 1 for the current role, 0 for the others',
    labelNames: ['role'] as const,
    registers: [this.registry],
  });
  readonly commitIndex = new Gauge({ name: 'mooseng_raft_commit_index', help: 'Highest log index known committed', registers: [this.registry] });
  readonly appliedIndex = new Gauge({ name: 'mooseng_raft_applied_index', help: 'Highest log index applied to the metadata', registers: [this.registry] });
  readonly lastIndex = new Gauge({ name: 'mooseng_raft_last_index', help: 'Last index in the local log', registers: [this.registry] });
  readonly peerLag = new Gauge({
    name: 'mooseng_raft_peer_lag_entries',
    help: 'On the leader: entries each member is behind the leader’s last index',
    labelNames: ['peer'] as const,
    registers: [this.registry],
  });
  readonly elections = new Counter({ name: 'mooseng_raft_elections_won_total', help: 'Times this master became leader', registers: [this.registry] });
  readonly leaderChanges = new Counter({ name: 'mooseng_raft_leader_changes_total', help: 'Leader changes seen by this master', registers: [this.registry] });
  readonly proposals = new Counter({
    name: 'mooseng_proposals_total',
    help: 'Metadata commands proposed by this master, by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly reads = new Counter({
    name: 'mooseng_reads_total',
    help: 'Reads served by this master, by consistency',
    labelNames: ['consistency'] as const,
    registers: [this.registry],
  });
  readonly applyLatency = new Histogram({
    name: 'mooseng_apply_seconds',
    help: 'Time to apply one committed batch of entries to the metadata',
    buckets: [1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2],
    registers: [this.registry],
  });
  readonly requestLatency = new Histogram({
    name: 'mooseng_request_seconds',
    help: 'Client request latency on this master, from arrival to answer',
    labelNames: ['kind'] as const,
    buckets: [1e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  readonly walFsyncLatency = new Histogram({
    name: 'mooseng_wal_fsync_seconds',
    help: 'Duration of one WAL group commit (write and fdatasync)',
    buckets: [1e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.5],
    registers: [this.registry],
  });
  readonly walBatchEntries = new Histogram({
    name: 'mooseng_wal_batch_entries',
    help: 'Entries made durable by one group commit',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024],
    registers: [this.registry],
  });
  readonly snapshotsTaken = new Counter({ name: 'mooseng_snapshots_taken_total', help: 'Snapshots written by this master', registers: [this.registry] });
  readonly snapshotsInstalled = new Counter({ name: 'mooseng_snapshots_installed_total', help: 'Snapshots received from the leader and installed', registers: [this.registry] });
  readonly snapshotChunksSent = new Counter({
    name: 'mooseng_snapshot_chunks_sent_total',
    help: 'Snapshot chunks this master (as leader) sent to members that were too far behind for the log',
    registers: [this.registry],
  });
  readonly peerMessages = new Gauge({
    name: 'mooseng_transport_messages',
    help: 'Peer messages by direction since start (sent, received, dropped)',
    labelNames: ['direction'] as const,
    registers: [this.registry],
  });

  setRole(role: string): void {
    for (const r of ['follower', 'preCandidate', 'candidate', 'leader']) this.role.set({ role: r }, r === role ? 1 : 0);
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }
}
