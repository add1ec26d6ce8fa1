/**
 * The configuration of a `mooseng-master` daemon: one TOML file per node (see the
 * "Configuration" section of docs/OPERATIONS.md for every key). `parseConfig` checks the text and
 * reports every problem at once; `loadConfig` also reads the secret files and checks their
 * permissions the way ssh checks a private key.
 *
 * The result is a frozen value with every default applied, in the units the code uses
 * (milliseconds in the file, Raft ticks derived from them), so nothing downstream re-validates.
 */
import { readFile, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname, join, resolve, isAbsolute } from 'node:path';
import { inspect } from 'node:util';
import { parse as parseToml, stringify as stringifyToml, TomlError } from 'smol-toml';
import type { RaftConfig } from '../raft/raft.ts';
import type { ConfState, NodeId } from '../raft/types.ts';
import { ConfigError, ProblemList } from './config-errors.ts';

export { ConfigError } from './config-errors.ts';
export type { ConfigProblem } from './config-errors.ts';

// ------------------------------------------------------------------ limits and defaults

/**
 * Timing defaults, chosen for sub-second failover on a LAN:
 *  - a 10 ms tick is fine enough to express the other two and cheap (100 wake-ups per second);
 *  - the leader sends a heartbeat every 50 ms, so followers (and a lease) get fresh news well
 *    within an election timeout even when one heartbeat is late;
 *  - an election timeout of 300 ms (randomized per election in [300, 600) ms) is far above LAN
 *    round trips and ordinary event-loop pauses, so a live leader is not deposed by accident.
 * A crashed leader's process closes its TCP connections: its peers see the close and campaign at
 * once (RaftNode.reportLeaderConnectionClosed), so the usual failover takes one election round,
 * tens of milliseconds. Only a leader that is alive but cut off (partition, hung host) is waited
 * for a full randomized election timeout, 300-600 ms, before the others elect a new one.
 */
export const DEFAULT_TICK_MS = 10;
export const DEFAULT_HEARTBEAT_MS = 50;
export const DEFAULT_ELECTION_TIMEOUT_MS = 300;
export const TICK_MS_MAX = 1000;
export const HEARTBEAT_MS_MAX = 60_000;
export const ELECTION_TIMEOUT_MS_MAX = 600_000;
/** The election timeout must leave room for at least this many heartbeats. */
export const ELECTION_TO_HEARTBEAT_RATIO_MIN = 2;

export const DEFAULT_SNAPSHOT_EVERY_ENTRIES = 100_000;
export const DEFAULT_SNAPSHOT_KEEP_ENTRIES = 10_000;
export const SNAPSHOT_EVERY_ENTRIES_MAX = 100_000_000;
export const DEFAULT_SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
export const SNAPSHOT_CHUNK_BYTES_MIN = 4096;
export const SNAPSHOT_CHUNK_BYTES_MAX = 16 * 1024 * 1024;

export const DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024;
export const MAX_REQUEST_BYTES_MIN = 4096;
export const MAX_REQUEST_BYTES_MAX = 64 * 1024 * 1024;

/** Members (voters and learners) a configuration may name at bootstrap. */
export const PEERS_MAX = 32;
export const CLUSTER_ID_CHARS_MAX = 64;
/** Shared secrets and admin tokens, after trimming surrounding whitespace. */
export const SECRET_BYTES_MIN = 32;
export const SECRET_FILE_BYTES_MAX = 64 * 1024;
export const PATH_CHARS_MAX = 4096;

/** Default ports of a node; a local cluster numbers its nodes' ports from a base instead. */
export const DEFAULT_PEER_PORT = 9440;
export const DEFAULT_CLIENT_PORT = 9441;
export const DEFAULT_ADMIN_PORT = 9442;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const READ_MODES = ['read-index', 'lease'] as const;
export type ReadModeSetting = (typeof READ_MODES)[number];
export const FOLLOWER_WRITES = ['forward', 'redirect'] as const;
export type FollowerWrites = (typeof FOLLOWER_WRITES)[number];
export const PEER_ROLES = ['voter', 'learner'] as const;
export type PeerRole = (typeof PEER_ROLES)[number];

// ------------------------------------------------------------------ the parsed configuration

export interface HostPort {
  /** An IPv4 address, an IPv6 address (without brackets) or a host name, as written. */
  readonly host: string;
  readonly port: number;
}

export interface PeerConfig {
  readonly id: NodeId;
  readonly role: PeerRole;
  /** Where the other masters reach this one (Raft traffic). */
  readonly peer: HostPort;
  /** Where clients reach it (native protocol). */
  readonly client: HostPort;
  /** Its admin HTTP endpoint (status, health, metrics). */
  readonly admin: HostPort;
}

/** The RaftNode options the configuration decides. */
export type RaftOptions = Required<
  Pick<
    RaftConfig,
    'electionTicks' | 'heartbeatTicks' | 'preVote' | 'checkQuorum' | 'readMode' | 'leaseDriftTicks' | 'forwardProposals' | 'maxSnapshotChunkBytes'
  >
>;

export interface MasterConfig {
  readonly nodeId: NodeId;
  readonly clusterId: string;
  /** Absolute paths; relative ones in the file are resolved against the file's directory. */
  readonly dataDir: string;
  readonly secretFile: string;
  readonly adminTokenFile: string | undefined;
  readonly listen: { readonly peer: HostPort; readonly client: HostPort; readonly admin: HostPort };
  /** Every member known at bootstrap, this node included, sorted by id. */
  readonly peers: readonly PeerConfig[];
  readonly timing: { readonly tickMs: number; readonly heartbeatMs: number; readonly electionTimeoutMs: number };
  readonly readMode: ReadModeSetting;
  readonly snapshot: { readonly everyEntries: number; readonly keepEntries: number; readonly chunkBytes: number };
  readonly client: { readonly followerWrites: FollowerWrites; readonly maxRequestBytes: number };
  readonly tls: { readonly certFile: string; readonly keyFile: string; readonly caFile: string } | undefined;
  readonly log: { readonly level: LogLevel };
  /** Derived: the RaftNode options. */
  readonly raft: RaftOptions;
  /** Derived: the membership a brand-new data directory starts with (FileLogStorage's initialConfState). */
  readonly initialConfState: ConfState;
}

// ------------------------------------------------------------------ schema (known keys)

const TOP_KEYS = [
  'node_id',
  'cluster_id',
  'data_dir',
  'secret_file',
  'admin_token_file',
  'read_mode',
  'listen',
  'peers',
  'timing',
  'snapshot',
  'client',
  'tls',
  'log',
] as const;
const TABLE_KEYS: Readonly<Record<string, readonly string[]>> = {
  listen: ['peer', 'client', 'admin'],
  peers: ['id', 'role', 'peer', 'client', 'admin'],
  timing: ['tick_ms', 'heartbeat_ms', 'election_timeout_ms'],
  snapshot: ['every_entries', 'keep_entries', 'chunk_bytes'],
  client: ['follower_writes', 'max_request_bytes'],
  tls: ['cert_file', 'key_file', 'ca_file'],
  log: ['level'],
};

// ------------------------------------------------------------------ parsing

/**
 * Parses and checks a configuration. `source` names the file in messages, and relative paths in
 * the file are resolved against its directory. Throws ConfigError listing every problem.
 */
export function parseConfig(text: string, source: string): MasterConfig {
  const problems = new ProblemList();
  const { config } = checkConfig(text, source, problems);
  problems.throwIfAny(source);
  return config!;
}

type Table = Record<string, unknown>;

/** The files a configuration names, as far as they could be read (loadConfig checks them even when other keys are wrong). */
interface NamedFiles {
  readonly secretFile: string | undefined;
  readonly adminTokenFile: string | undefined;
  readonly tls: MasterConfig['tls'];
}

interface CheckResult {
  readonly config: MasterConfig | undefined;
  readonly files: NamedFiles;
}

function checkConfig(text: string, source: string, problems: ProblemList): CheckResult {
  const noFiles: NamedFiles = { secretFile: undefined, adminTokenFile: undefined, tls: undefined };
  let doc: Table;
  try {
    doc = parseToml(text, { unsafeKeyBehaviour: 'throw' }) as Table;
  } catch (e) {
    if (e instanceof TomlError) {
      problems.add('', `not valid TOML at line ${e.line}, column ${e.column}: ${e.message.split('\n')[0]}`);
      return { config: undefined, files: noFiles };
    }
    throw e;
  }
  const baseDir = dirname(resolve(source));
  const c = new Checker(problems, baseDir);

  c.unknownKeys(doc, '', TOP_KEYS);
  const nodeId = c.integer(doc, 'node_id', '', { min: 1, max: Number.MAX_SAFE_INTEGER, required: true });
  const clusterId = c.clusterId(doc);
  const dataDir = c.path(doc, 'data_dir', '', true);
  const secretFile = c.path(doc, 'secret_file', '', true);
  const adminTokenFile = c.path(doc, 'admin_token_file', '', false);
  const readMode = c.choice(doc, 'read_mode', '', READ_MODES, 'read-index');

  const peers = c.peers(doc, nodeId);
  const self = nodeId === undefined ? undefined : peers?.find((p) => p.id === nodeId);
  const listen = c.listen(c.table(doc, 'listen'), self);

  const timingTable = c.table(doc, 'timing');
  const tickMs = c.integer(timingTable, 'tick_ms', 'timing.', { min: 1, max: TICK_MS_MAX, fallback: DEFAULT_TICK_MS });
  const heartbeatMs = c.integer(timingTable, 'heartbeat_ms', 'timing.', { min: 1, max: HEARTBEAT_MS_MAX, fallback: DEFAULT_HEARTBEAT_MS });
  const electionTimeoutMs = c.integer(timingTable, 'election_timeout_ms', 'timing.', {
    min: 1,
    max: ELECTION_TIMEOUT_MS_MAX,
    fallback: DEFAULT_ELECTION_TIMEOUT_MS,
  });
  const timing = c.timing(tickMs, heartbeatMs, electionTimeoutMs, readMode);

  const snapshotTable = c.table(doc, 'snapshot');
  const everyEntries = c.integer(snapshotTable, 'every_entries', 'snapshot.', {
    min: 1,
    max: SNAPSHOT_EVERY_ENTRIES_MAX,
    fallback: DEFAULT_SNAPSHOT_EVERY_ENTRIES,
  });
  const keepEntries = c.integer(snapshotTable, 'keep_entries', 'snapshot.', {
    min: 0,
    max: SNAPSHOT_EVERY_ENTRIES_MAX,
    fallback: DEFAULT_SNAPSHOT_KEEP_ENTRIES,
  });
  const chunkBytes = c.integer(snapshotTable, 'chunk_bytes', 'snapshot.', {
    min: SNAPSHOT_CHUNK_BYTES_MIN,
    max: SNAPSHOT_CHUNK_BYTES_MAX,
    fallback: DEFAULT_SNAPSHOT_CHUNK_BYTES,
  });

  const clientTable = c.table(doc, 'client');
  const followerWrites = c.choice(clientTable, 'follower_writes', 'client.', FOLLOWER_WRITES, 'forward');
  const maxRequestBytes = c.integer(clientTable, 'max_request_bytes', 'client.', {
    min: MAX_REQUEST_BYTES_MIN,
    max: MAX_REQUEST_BYTES_MAX,
    fallback: DEFAULT_MAX_REQUEST_BYTES,
  });

  const tls = c.tls(doc);
  const logTable = c.table(doc, 'log');
  const level = c.choice(logTable, 'level', 'log.', LOG_LEVELS, 'info');

  const files: NamedFiles = { secretFile, adminTokenFile, tls: tls?.value };
  if (problems.count > 0) return { config: undefined, files };
  // Every value below was checked above; a missing one would have added a problem.
  const voters = peers!.filter((p) => p.role === 'voter').map((p) => p.id);
  const learners = peers!.filter((p) => p.role === 'learner').map((p) => p.id);
  const config: MasterConfig = {
    nodeId: nodeId!,
    clusterId: clusterId!,
    dataDir: dataDir!,
    secretFile: secretFile!,
    adminTokenFile,
    listen: listen!,
    peers: peers!,
    timing: { tickMs: tickMs!, heartbeatMs: heartbeatMs!, electionTimeoutMs: electionTimeoutMs! },
    readMode: readMode!,
    snapshot: { everyEntries: everyEntries!, keepEntries: keepEntries!, chunkBytes: chunkBytes! },
    client: { followerWrites: followerWrites!, maxRequestBytes: maxRequestBytes! },
    tls: tls!.value,
    log: { level: level! },
    raft: {
      electionTicks: timing!.electionTicks,
      heartbeatTicks: timing!.heartbeatTicks,
      preVote: true,
      checkQuorum: true,
      readMode: readMode === 'lease' ? 'lease' : 'readIndex',
      leaseDriftTicks: timing!.leaseDriftTicks,
      forwardProposals: followerWrites === 'forward',
      maxSnapshotChunkBytes: chunkBytes!,
    },
    initialConfState: { voters, votersOutgoing: [], learners, learnersNext: [], autoLeave: false },
  };
  return { config: deepFreeze(config), files };
}

interface IntegerRule {
  readonly min: number;
  readonly max: number;
  readonly required?: boolean;
  readonly fallback?: number;
}

/** The checks of single values; each returns undefined (after recording a problem) when the value is unusable. */
class Checker {
  constructor(
    private readonly problems: ProblemList,
    private readonly baseDir: string,
  ) {}

  private add(path: string, message: string): void {
    this.problems.add(path, message);
  }

  unknownKeys(t: Table, prefix: string, known: readonly string[]): void {
    for (const key of Object.keys(t)) {
      if (known.includes(key)) continue;
      this.add(`${prefix}${key}`, `unknown key${suggestion(key, prefix, known)}`);
    }
  }

  /** A sub-table (absent: empty). */
  table(doc: Table, key: string): Table {
    const v = doc[key];
    if (v === undefined) return {};
    if (!isTable(v)) {
      this.add(key, `must be a table ([${key}]) (got ${describe(v)})`);
      return {};
    }
    this.unknownKeys(v, `${key}.`, TABLE_KEYS[key] ?? []);
    return v;
  }

  integer(t: Table, key: string, prefix: string, rule: IntegerRule): number | undefined {
    const path = prefix + key;
    const v = t[key];
    if (v === undefined) {
      if (rule.required === true) this.add(path, `is required: write an integer between ${rule.min} and ${rule.max}`);
      return rule.fallback;
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < rule.min || v > rule.max) {
      this.add(path, `must be an integer between ${rule.min} and ${rule.max} (got ${describe(v)})`);
      return undefined;
    }
    return v;
  }

  choice<T extends string>(t: Table, key: string, prefix: string, allowed: readonly T[], fallback: T): T | undefined {
    const v = t[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
      const close = typeof v === 'string' ? closest(v, allowed) : undefined;
      this.add(
        prefix + key,
        `must be one of ${allowed.map((a) => `"${a}"`).join(', ')} (got ${describe(v)})${close === undefined ? '' : `; did you mean "${close}"?`}`,
      );
      return undefined;
    }
    return v as T;
  }

  clusterId(doc: Table): string | undefined {
    const v = doc['cluster_id'];
    const expected = `1 to ${CLUSTER_ID_CHARS_MAX} characters of A-Z a-z 0-9 . _ -, the same on every node`;
    if (v === undefined) {
      this.add('cluster_id', `is required: write ${expected}`);
      return undefined;
    }
    if (typeof v !== 'string' || !/^[A-Za-z0-9._-]+$/.test(v) || v.length > CLUSTER_ID_CHARS_MAX) {
      this.add('cluster_id', `must be ${expected} (got ${describe(v)})`);
      return undefined;
    }
    return v;
  }

  path(t: Table, key: string, prefix: string, required: boolean): string | undefined {
    const path = prefix + key;
    const v = t[key];
    if (v === undefined) {
      if (required) this.add(path, 'is required: write a file system path');
      return undefined;
    }
    if (typeof v !== 'string' || v.length === 0 || v.length > PATH_CHARS_MAX || v.includes('\0')) {
      this.add(path, `must be a non-empty file system path (got ${describe(v)})`);
      return undefined;
    }
    return isAbsolute(v) ? resolve(v) : resolve(this.baseDir, v);
  }

  address(t: Table, key: string, prefix: string, purpose: 'listen' | 'advertise'): HostPort | undefined {
    const path = prefix + key;
    const v = t[key];
    if (v === undefined) {
      this.add(path, 'is required: write "host:port"');
      return undefined;
    }
    if (typeof v !== 'string') {
      this.add(path, `must be a string "host:port" (got ${describe(v)})`);
      return undefined;
    }
    const parsed = parseHostPort(v);
    if (typeof parsed === 'string') {
      this.add(path, `${parsed} (got ${describe(v)})`);
      return undefined;
    }
    if (purpose === 'advertise' && isWildcard(parsed.host)) {
      this.add(path, `${formatHostPort(parsed)} is a wildcard address: write an address the other nodes and clients can reach`);
      return undefined;
    }
    return parsed;
  }

  peers(doc: Table, nodeId: number | undefined): PeerConfig[] | undefined {
    const v = doc['peers'];
    if (v === undefined) {
      this.add('peers', 'is required: write one [[peers]] entry (id, peer, client, admin) for every member, this node included');
      return undefined;
    }
    if (!Array.isArray(v) || !v.every(isTable)) {
      this.add('peers', `must be an array of tables ([[peers]] entries) (got ${describe(v)})`);
      return undefined;
    }
    if (v.length === 0 || v.length > PEERS_MAX) {
      this.add('peers', `must hold between 1 and ${PEERS_MAX} entries (got ${v.length})`);
      return undefined;
    }
    const before = this.problems.count;
    const out: PeerConfig[] = [];
    const idOwner = new Map<number, string>();
    const addressOwner = new Map<string, string>();
    let duplicateIds = 0;
    v.forEach((entry: Table, i) => {
      const prefix = `peers[${i}].`;
      this.unknownKeys(entry, prefix, TABLE_KEYS['peers']!);
      const id = this.integer(entry, 'id', prefix, { min: 1, max: Number.MAX_SAFE_INTEGER, required: true });
      if (id !== undefined) {
        const owner = idOwner.get(id);
        if (owner !== undefined) {
          this.add(`${prefix}id`, `${id} is already the id of ${owner}: every member needs its own id`);
          duplicateIds++;
        } else idOwner.set(id, `peers[${i}]`);
      }
      const role = this.choice(entry, 'role', prefix, PEER_ROLES, 'voter');
      const addresses: Partial<Record<'peer' | 'client' | 'admin', HostPort>> = {};
      for (const kind of ['peer', 'client', 'admin'] as const) {
        const a = this.address(entry, kind, prefix, 'advertise');
        if (a === undefined) continue;
        addresses[kind] = a;
        const k = addressKey(a);
        const owner = addressOwner.get(k);
        if (owner !== undefined) this.add(prefix + kind, `${formatHostPort(a)} is already used by ${owner}: every address must be distinct`);
        else addressOwner.set(k, prefix + kind);
      }
      if (id !== undefined && role !== undefined && addresses.peer && addresses.client && addresses.admin) {
        out.push({ id, role, peer: addresses.peer, client: addresses.client, admin: addresses.admin });
      }
    });
    // Reported even when other entries have problems, unless an entry's id could not be read.
    const allIdsRead = idOwner.size + duplicateIds === v.length;
    if (nodeId !== undefined && allIdsRead && !idOwner.has(nodeId)) {
      this.add('node_id', `${nodeId} has no [[peers]] entry (ids: ${[...idOwner.keys()].join(', ')}): add this node's own entry`);
    }
    if (this.problems.count > before) return undefined;
    if (!out.some((p) => p.role === 'voter')) this.add('peers', 'must contain at least one entry with role "voter"');
    if (this.problems.count > before) return undefined;
    return out.sort((a, b) => a.id - b.id);
  }

  /** Listen addresses default to this node's own [[peers]] entry. */
  listen(t: Table, self: PeerConfig | undefined): MasterConfig['listen'] | undefined {
    const out: Partial<Record<'peer' | 'client' | 'admin', HostPort>> = {};
    let ok = true;
    for (const kind of ['peer', 'client', 'admin'] as const) {
      if (t[kind] === undefined) {
        // Without a usable own entry, the problem is reported on node_id or peers already.
        if (self === undefined) ok = false;
        else out[kind] = self[kind];
        continue;
      }
      const a = this.address(t, kind, 'listen.', 'listen');
      if (a === undefined) ok = false;
      else out[kind] = a;
    }
    if (!ok || !out.peer || !out.client || !out.admin) return undefined;
    const kinds = ['peer', 'client', 'admin'] as const;
    for (let i = 0; i < kinds.length; i++) {
      for (let j = 0; j < i; j++) {
        const a = out[kinds[i]!]!;
        const b = out[kinds[j]!]!;
        if (a.port === b.port && (sameHost(a.host, b.host) || isWildcard(a.host) || isWildcard(b.host))) {
          this.add(`listen.${kinds[i]}`, `${formatHostPort(a)} overlaps listen.${kinds[j]} (${formatHostPort(b)}): each listener needs its own port`);
          return undefined;
        }
      }
    }
    return { peer: out.peer, client: out.client, admin: out.admin };
  }

  timing(
    tickMs: number | undefined,
    heartbeatMs: number | undefined,
    electionTimeoutMs: number | undefined,
    readMode: ReadModeSetting | undefined,
  ): { electionTicks: number; heartbeatTicks: number; leaseDriftTicks: number } | undefined {
    if (tickMs === undefined || heartbeatMs === undefined || electionTimeoutMs === undefined) return undefined;
    let ok = true;
    if (heartbeatMs % tickMs !== 0) {
      this.add('timing.heartbeat_ms', `must be a multiple of timing.tick_ms (got ${heartbeatMs} with tick ${tickMs})`);
      ok = false;
    }
    if (electionTimeoutMs % tickMs !== 0) {
      this.add('timing.election_timeout_ms', `must be a multiple of timing.tick_ms (got ${electionTimeoutMs} with tick ${tickMs})`);
      ok = false;
    }
    if (electionTimeoutMs < ELECTION_TO_HEARTBEAT_RATIO_MIN * heartbeatMs) {
      this.add(
        'timing.election_timeout_ms',
        `must be at least ${ELECTION_TO_HEARTBEAT_RATIO_MIN} × timing.heartbeat_ms (got ${electionTimeoutMs} with heartbeat ${heartbeatMs})`,
      );
      ok = false;
    }
    if (!ok) return undefined;
    const heartbeatTicks = heartbeatMs / tickMs;
    const electionTicks = electionTimeoutMs / tickMs;
    const leaseDriftTicks = leaseDriftTicksFor(electionTicks);
    // RaftNode refuses a lease that could never be held: acknowledged heartbeats must keep it alive.
    if (readMode === 'lease' && leaseDriftTicks >= electionTicks - heartbeatTicks) {
      this.add(
        'read_mode',
        `"lease" needs timing.election_timeout_ms - timing.heartbeat_ms above the clock-drift margin of ${leaseDriftTicks} ticks ` +
          `(${leaseDriftTicks * tickMs} ms; got ${electionTimeoutMs} - ${heartbeatMs}): lengthen the election timeout or use "read-index"`,
      );
      return undefined;
    }
    return { electionTicks, heartbeatTicks, leaseDriftTicks };
  }

  tls(doc: Table): { value: MasterConfig['tls'] } | undefined {
    const t = this.table(doc, 'tls');
    const keys = TABLE_KEYS['tls']!;
    const present = keys.filter((k) => t[k] !== undefined);
    const certFile = this.path(t, 'cert_file', 'tls.', false);
    const keyFile = this.path(t, 'key_file', 'tls.', false);
    const caFile = this.path(t, 'ca_file', 'tls.', false);
    if (present.length === 0) return { value: undefined };
    if (present.length < keys.length) {
      const missing = keys.filter((k) => t[k] === undefined).map((k) => `tls.${k}`);
      this.add('tls', `set all of tls.cert_file, tls.key_file and tls.ca_file, or none (missing: ${missing.join(', ')})`);
      return undefined;
    }
    if (certFile === undefined || keyFile === undefined || caFile === undefined) return undefined;
    return { value: { certFile, keyFile, caFile } };
  }
}

/**
 * The lease's clock-drift margin: how much faster one node's ticks may run than another's over
 * an election timeout. A tenth of the timeout (at least 2 ticks) covers timer jitter and event
 * loop pauses up to that size; longer pauses of the leader are why "read-index" is the default.
 */
function leaseDriftTicksFor(electionTicks: number): number {
  return Math.max(2, Math.ceil(electionTicks / 10));
}

// ------------------------------------------------------------------ addresses

/** Parses "host:port", "[v6]:port". Returns what is wrong as a string. */
export function parseHostPort(text: string): HostPort | string {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return 'must be "[IPv6 address]:port"';
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (isIP(host) !== 6) return `"${host}" in brackets is not an IPv6 address`;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return 'must be "host:port" (the port is missing)';
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) return 'an IPv6 address must be written in brackets, e.g. "[2001:db8::1]:9440"';
    if (host.length === 0) return 'must be "host:port" (the host is missing)';
    if (/^[0-9.]+$/.test(host)) {
      if (isIP(host) !== 4) return `"${host}" is not a valid IPv4 address`;
    } else if (!isHostname(host)) {
      return `"${host}" is not a valid host name (letters, digits and hyphens in dot-separated labels of at most 63 characters)`;
    }
  }
  if (!/^[0-9]{1,5}$/.test(portText)) return 'the port must be a decimal number between 1 and 65535';
  const port = Number(portText);
  if (port < 1 || port > 65535) return 'the port must be a decimal number between 1 and 65535';
  return { host, port };
}

export function formatHostPort(a: HostPort): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

function isHostname(h: string): boolean {
  const name = h.endsWith('.') ? h.slice(0, -1) : h;
  if (name.length === 0 || name.length > 253) return false;
  return name.split('.').every((label) => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label));
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || (isIP(host) === 6 && expandIPv6(host) === '0:0:0:0:0:0:0:0');
}

function sameHost(a: string, b: string): boolean {
  if (isIP(a) === 6 && isIP(b) === 6) return expandIPv6(a) === expandIPv6(b);
  return a.toLowerCase().replace(/\.$/, '') === b.toLowerCase().replace(/\.$/, '');
}

function addressKey(a: HostPort): string {
  const host = isIP(a.host) === 6 ? expandIPv6(a.host) : a.host.toLowerCase().replace(/\.$/, '');
  return `${host}|${a.port}`;
}

/** A comparable form of an IPv6 address: eight hex groups without leading zeros (IPv4 tails kept as written). */
function expandIPv6(h: string): string {
  const lower = h.toLowerCase();
  const [head = '', tail] = lower.split('::', 2) as [string, string | undefined];
  const split = (s: string): string[] => (s === '' ? [] : s.split(':'));
  const left = split(head);
  const right = tail === undefined ? [] : split(tail);
  const fill = tail === undefined ? [] : new Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0');
  return [...left, ...fill, ...right].map((g) => (g.includes('.') ? g : g.replace(/^0+(?=.)/, ''))).join(':');
}

// ------------------------------------------------------------------ suggestions

function suggestion(key: string, prefix: string, known: readonly string[]): string {
  const close = closest(key, known);
  if (close !== undefined) return `; did you mean ${prefix}${close}?`;
  // A known key in the wrong table: say where it belongs.
  const tables = prefix === '' ? Object.keys(TABLE_KEYS) : [];
  for (const table of tables) {
    const inner = closest(key, TABLE_KEYS[table]!);
    if (inner !== undefined) return `; did you mean ${table}.${inner} (in the [${table === 'peers' ? `[${table}]` : table}] table)?`;
  }
  if (prefix !== '' && (TOP_KEYS as readonly string[]).includes(key)) return `; ${key} belongs at the top of the file, before any table`;
  return `; known keys here: ${known.join(', ')}`;
}

/** The known word within a small edit distance of `word`, if any. */
function closest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const k of known) {
    const d = editDistance(word.toLowerCase(), k);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  const allowed = Math.max(1, Math.floor(word.length / 3));
  return bestDistance <= allowed ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur.push(Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

// ------------------------------------------------------------------ rendering

/** The configuration as TOML: parseConfig(renderConfig(c)) equals c. Derived values are left out. */
export function renderConfig(c: MasterConfig): string {
  const doc: Table = {
    node_id: c.nodeId,
    cluster_id: c.clusterId,
    data_dir: c.dataDir,
    secret_file: c.secretFile,
    ...(c.adminTokenFile === undefined ? {} : { admin_token_file: c.adminTokenFile }),
    read_mode: c.readMode,
    listen: { peer: formatHostPort(c.listen.peer), client: formatHostPort(c.listen.client), admin: formatHostPort(c.listen.admin) },
    timing: { tick_ms: c.timing.tickMs, heartbeat_ms: c.timing.heartbeatMs, election_timeout_ms: c.timing.electionTimeoutMs },
    snapshot: { every_entries: c.snapshot.everyEntries, keep_entries: c.snapshot.keepEntries, chunk_bytes: c.snapshot.chunkBytes },
    client: { follower_writes: c.client.followerWrites, max_request_bytes: c.client.maxRequestBytes },
    ...(c.tls === undefined ? {} : { tls: { cert_file: c.tls.certFile, key_file: c.tls.keyFile, ca_file: c.tls.caFile } }),
    log: { level: c.log.level },
    peers: c.peers.map((p) => ({
      id: p.id,
      role: p.role,
      peer: formatHostPort(p.peer),
      client: formatHostPort(p.client),
      admin: formatHostPort(p.admin),
    })),
  };
  return stringifyToml(doc);
}

// ------------------------------------------------------------------ a local cluster

/**
 * Configurations for `n` masters on 127.0.0.1, for development and tests: node i (from 1) gets
 * ports basePort + 3(i-1) (peer), +1 (client), +2 (admin), data directory `baseDir/master-i`,
 * and all share the secret file `baseDir/secret` (which the caller writes).
 */
export function defaultLocalCluster(baseDir: string, n: number, basePort = DEFAULT_PEER_PORT): readonly MasterConfig[] {
  if (!Number.isInteger(n) || n < 1 || n > PEERS_MAX) throw new ConfigError('local cluster', [{ path: '', message: `n must be an integer between 1 and ${PEERS_MAX} (got ${n})` }]);
  const root = resolve(baseDir);
  const peers = Array.from({ length: n }, (_, k) => {
    const port = basePort + 3 * k;
    return { id: k + 1, peer: `127.0.0.1:${port}`, client: `127.0.0.1:${port + 1}`, admin: `127.0.0.1:${port + 2}` };
  });
  return Object.freeze(
    peers.map((p) =>
      parseConfig(
        stringifyToml({
          node_id: p.id,
          cluster_id: 'local',
          data_dir: join(root, `master-${p.id}`),
          secret_file: join(root, 'secret'),
          peers,
        }),
        join(root, `master-${p.id}.toml`),
      ),
    ),
  );
}

// ------------------------------------------------------------------ loading from disk

/** A secret read from a file. Its bytes never appear in logs, JSON or inspect output. */
export class Secret {
  readonly #bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }
  bytes(): Uint8Array {
    return this.#bytes;
  }
  get byteLength(): number {
    return this.#bytes.byteLength;
  }
  toString(): string {
    return '[secret]';
  }
  toJSON(): string {
    return '[secret]';
  }
  [inspect.custom](): string {
    return '[secret]';
  }
}

export interface LoadedConfig {
  readonly config: MasterConfig;
  /** The cluster's shared secret (secret_file, trimmed). */
  readonly secret: Secret;
  /** The admin token (admin_token_file, trimmed); membership operations are refused without one. */
  readonly adminToken: Secret | undefined;
}

/**
 * Reads and checks the configuration file, then the secret files it names: each must be a
 * regular file, not accessible by group or others (like ssh's private keys), and hold at least
 * SECRET_BYTES_MIN bytes once surrounding whitespace is trimmed. TLS files must be readable.
 * Every problem, in the file or the files it names, is reported in one ConfigError.
 */
export async function loadConfig(path: string): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ConfigError(path, [{ path: '', message: `cannot read the configuration file: ${errorText(e)}` }], { cause: e });
  }
  const problems = new ProblemList();
  const { config, files } = checkConfig(text, path, problems);
  // The named files are checked even when other keys have problems, so that one run reports all.
  const secret = files.secretFile === undefined ? undefined : await readSecret(files.secretFile, 'secret_file', problems);
  const adminToken = files.adminTokenFile === undefined ? undefined : await readSecret(files.adminTokenFile, 'admin_token_file', problems);
  if (files.tls !== undefined) {
    await checkReadableFile(files.tls.certFile, 'tls.cert_file', problems);
    await checkReadableFile(files.tls.keyFile, 'tls.key_file', problems);
    await checkReadableFile(files.tls.caFile, 'tls.ca_file', problems);
  }
  problems.throwIfAny(path);
  return Object.freeze({ config: config!, secret: secret!, adminToken });
}

async function readSecret(file: string, key: string, problems: ProblemList): Promise<Secret | undefined> {
  let mode: number;
  try {
    const st = await stat(file);
    if (!st.isFile()) {
      problems.add(key, `${file} is not a regular file`);
      return undefined;
    }
    mode = st.mode & 0o777;
  } catch (e) {
    problems.add(key, `cannot read ${file}: ${errorText(e)}`);
    return undefined;
  }
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    problems.add(
      key,
      `permissions ${mode.toString(8).padStart(4, '0')} for ${file} are too open: it must not be accessible by group or others (run: chmod 600 ${file})`,
    );
    return undefined;
  }
  let raw: Buffer;
  try {
    raw = await readFile(file);
  } catch (e) {
    problems.add(key, `cannot read ${file}: ${errorText(e)}`);
    return undefined;
  }
  if (raw.byteLength > SECRET_FILE_BYTES_MAX) {
    problems.add(key, `${file} holds ${raw.byteLength} bytes, more than ${SECRET_FILE_BYTES_MAX}: is it the right file?`);
    return undefined;
  }
  const trimmed = trimAsciiWhitespace(raw);
  if (trimmed.byteLength < SECRET_BYTES_MIN) {
    problems.add(
      key,
      `${file} holds ${trimmed.byteLength} bytes after trimming whitespace, at least ${SECRET_BYTES_MIN} are needed ` +
        `(generate one with: openssl rand -hex 32 > ${file} && chmod 600 ${file})`,
    );
    return undefined;
  }
  return new Secret(new Uint8Array(trimmed));
}

async function checkReadableFile(file: string, key: string, problems: ProblemList): Promise<void> {
  try {
    const st = await stat(file);
    if (!st.isFile()) problems.add(key, `${file} is not a regular file`);
  } catch (e) {
    problems.add(key, `cannot read ${file}: ${errorText(e)}`);
  }
}

function trimAsciiWhitespace(b: Buffer): Buffer {
  const space = (x: number | undefined): boolean => x === 0x20 || x === 0x09 || x === 0x0a || x === 0x0d || x === 0x0b || x === 0x0c;
  let start = 0;
  let end = b.byteLength;
  while (start < end && space(b[start])) start++;
  while (end > start && space(b[end - 1])) end--;
  return b.subarray(start, end);
}

// ------------------------------------------------------------------ helpers

function isTable(v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Date) return 'a date';
  if (isTable(v)) return 'a table';
  return typeof v;
}

function errorText(e: unknown): string {
  if (typeof e === 'object' && e !== null && 'code' in e && typeof (e as { code: unknown }).code === 'string') {
    return (e as { code: string }).code;
  }
  return e instanceof Error ? e.message : String(e);
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}
