import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { stringify } from 'smol-toml';
import {
  ConfigError,
  defaultLocalCluster,
  formatHostPort,
  loadConfig,
  parseConfig,
  parseHostPort,
  renderConfig,
} from '../../src/server/config.ts';
import type { ConfigProblem, MasterConfig } from '../../src/server/config.ts';
import { RaftNode } from '../../src/raft/raft.ts';
import { MemoryStorage, seededRandom } from '../../src/raft/index.ts';

const PEERS3 = `
[[peers]]
id = 1
peer = "192.0.2.11:9440"
client = "192.0.2.11:9441"
admin = "192.0.2.11:9442"

[[peers]]
id = 2
peer = "192.0.2.12:9440"
client = "192.0.2.12:9441"
admin = "192.0.2.12:9442"

[[peers]]
id = 3
peer = "192.0.2.13:9440"
client = "192.0.2.13:9441"
admin = "192.0.2.13:9442"
`;

const HEAD = `node_id = 1
cluster_id = "c1"
data_dir = "/var/lib/mooseng/master"
secret_file = "/etc/mooseng/secret"
`;

/** A minimal valid file with `extra` top-level keys before the head, and `tables` after it. */
function minimal(tables = '', extra = ''): string {
  return `${extra}${HEAD}${tables}\n${PEERS3}`;
}

/** The problems of an invalid configuration (fails the test if it parses). */
function problemsOf(text: string): readonly ConfigProblem[] {
  try {
    parseConfig(text, '/etc/mooseng/test.toml');
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    assert.equal(e.code, 'ERR_CONFIG');
    return e.problems;
  }
  assert.fail('expected a ConfigError');
}

/** Asserts that exactly these (path, message fragment) problems are reported. */
function expectProblems(text: string, expected: readonly [path: string, fragment: string | RegExp][]): void {
  const got = problemsOf(text);
  assert.equal(got.length, expected.length, `problems: ${JSON.stringify(got, null, 1)}`);
  for (const [path, fragment] of expected) {
    const hit = got.find((p) => p.path === path && (typeof fragment === 'string' ? p.message.includes(fragment) : fragment.test(p.message)));
    assert.ok(hit, `no problem at ${path} matching ${String(fragment)} in ${JSON.stringify(got, null, 1)}`);
  }
}

describe('parseConfig: valid files', () => {
  test('a full file: every key read, derived Raft options and membership', () => {
    const text = `
node_id = 2
cluster_id = "mfs-prod.eu_1"
data_dir = "/var/lib/mooseng/master"
secret_file = "/etc/mooseng/secret"
admin_token_file = "/etc/mooseng/admin-token"
read_mode = "lease"

[listen]
peer = "0.0.0.0:9440"
client = "[::]:9441"
admin = "127.0.0.1:9442"

[timing]
tick_ms = 20
heartbeat_ms = 100
election_timeout_ms = 1000

[snapshot]
every_entries = 50000
keep_entries = 0
chunk_bytes = 262144

[client]
follower_writes = "redirect"
max_request_bytes = 65536

[tls]
cert_file = "tls/node.crt"
key_file = "/etc/mooseng/tls/node.key"
ca_file = "/etc/mooseng/tls/ca.crt"

[log]
level = "debug"

[[peers]]
id = 3
peer = "192.0.2.13:9440"
client = "192.0.2.13:9441"
admin = "192.0.2.13:9442"

[[peers]]
id = 1
peer = "192.0.2.11:9440"
client = "192.0.2.11:9441"
admin = "192.0.2.11:9442"

[[peers]]
id = 2
peer = "192.0.2.12:9440"
client = "192.0.2.12:9441"
admin = "192.0.2.12:9442"

[[peers]]
id = 7
role = "learner"
peer = "[2001:db8::7]:9440"
client = "[2001:db8::7]:9441"
admin = "[2001:db8::7]:9442"
`;
    const c = parseConfig(text, '/etc/mooseng/master.toml');
    const hp = (host: string, port: number) => ({ host, port });
    assert.deepEqual(c, {
      nodeId: 2,
      clusterId: 'mfs-prod.eu_1',
      dataDir: '/var/lib/mooseng/master',
      secretFile: '/etc/mooseng/secret',
      adminTokenFile: '/etc/mooseng/admin-token',
      listen: { peer: hp('0.0.0.0', 9440), client: hp('::', 9441), admin: hp('127.0.0.1', 9442) },
      peers: [
        { id: 1, role: 'voter', peer: hp('192.0.2.11', 9440), client: hp('192.0.2.11', 9441), admin: hp('192.0.2.11', 9442) },
        { id: 2, role: 'voter', peer: hp('192.0.2.12', 9440), client: hp('192.0.2.12', 9441), admin: hp('192.0.2.12', 9442) },
        { id: 3, role: 'voter', peer: hp('192.0.2.13', 9440), client: hp('192.0.2.13', 9441), admin: hp('192.0.2.13', 9442) },
        { id: 7, role: 'learner', peer: hp('2001:db8::7', 9440), client: hp('2001:db8::7', 9441), admin: hp('2001:db8::7', 9442) },
      ],
      timing: { tickMs: 20, heartbeatMs: 100, electionTimeoutMs: 1000 },
      readMode: 'lease',
      snapshot: { everyEntries: 50000, keepEntries: 0, chunkBytes: 262144 },
      client: { followerWrites: 'redirect', maxRequestBytes: 65536 },
      // A relative path is resolved against the configuration file's directory.
      tls: { certFile: '/etc/mooseng/tls/node.crt', keyFile: '/etc/mooseng/tls/node.key', caFile: '/etc/mooseng/tls/ca.crt' },
      log: { level: 'debug' },
      raft: {
        electionTicks: 50,
        heartbeatTicks: 5,
        preVote: true,
        checkQuorum: true,
        readMode: 'lease',
        leaseDriftTicks: 5,
        forwardProposals: false,
        maxSnapshotChunkBytes: 262144,
      },
      initialConfState: { voters: [1, 2, 3], votersOutgoing: [], learners: [7], learnersNext: [], autoLeave: false },
    });
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.peers) && Object.isFrozen(c.peers[0]!.peer) && Object.isFrozen(c.raft));
    assert.throws(() => {
      (c.timing as { tickMs: number }).tickMs = 1;
    }, TypeError);
  });

  test('defaults: timing for sub-second failover, read-index, forwarding, listen on the own entry', () => {
    const c = parseConfig(minimal(), 'x.toml');
    assert.deepEqual(c.timing, { tickMs: 10, heartbeatMs: 50, electionTimeoutMs: 300 });
    assert.equal(c.raft.electionTicks, 30);
    assert.equal(c.raft.heartbeatTicks, 5);
    assert.equal(c.readMode, 'read-index');
    assert.equal(c.raft.readMode, 'readIndex');
    assert.equal(c.raft.preVote, true);
    assert.equal(c.raft.checkQuorum, true);
    assert.deepEqual(c.snapshot, { everyEntries: 100000, keepEntries: 10000, chunkBytes: 1048576 });
    assert.equal(c.raft.maxSnapshotChunkBytes, 1048576);
    assert.deepEqual(c.client, { followerWrites: 'forward', maxRequestBytes: 1048576 });
    assert.equal(c.raft.forwardProposals, true);
    assert.equal(c.tls, undefined);
    assert.equal(c.adminTokenFile, undefined);
    assert.deepEqual(c.log, { level: 'info' });
    assert.deepEqual(c.listen, {
      peer: { host: '192.0.2.11', port: 9440 },
      client: { host: '192.0.2.11', port: 9441 },
      admin: { host: '192.0.2.11', port: 9442 },
    });
    assert.deepEqual(c.initialConfState.voters, [1, 2, 3]);
  });

  test('a partial [listen] takes the missing addresses from the own entry', () => {
    const c = parseConfig(minimal('[listen]\npeer = "0.0.0.0:7000"\n'), 'x.toml');
    assert.deepEqual(c.listen.peer, { host: '0.0.0.0', port: 7000 });
    assert.deepEqual(c.listen.client, { host: '192.0.2.11', port: 9441 });
  });

  test('the derived Raft options are accepted by RaftNode', () => {
    for (const readMode of ['read-index', 'lease']) {
      const c = parseConfig(minimal('', `read_mode = "${readMode}"\n`), 'x.toml');
      const storage = new MemoryStorage(c.initialConfState);
      const node = new RaftNode({ id: c.nodeId, storage, random: seededRandom(1), ...c.raft });
      assert.equal(node.status().confState.voters.length, 3);
    }
  });
});

describe('parseConfig: errors', () => {
  test('several problems are reported together, each with its key path', () => {
    const text = `node_id = 0
cluster_id = "has space"
data_dir = ""
read_mode = "leese"

[timing]
heartbeat_ms = 55

[log]
level = "verbose"

[[peers]]
id = 1
peer = "192.0.2.11:9440"
client = "192.0.2.11:9441"
admin = "192.0.2.11:99999"
`;
    expectProblems(text, [
      ['node_id', 'must be an integer between 1 and'],
      ['cluster_id', 'must be 1 to 64 characters of A-Z a-z 0-9 . _ -'],
      ['data_dir', 'must be a non-empty file system path (got "")'],
      ['secret_file', 'is required'],
      ['read_mode', 'must be one of "read-index", "lease" (got "leese"); did you mean "lease"?'],
      ['peers[0].admin', 'the port must be a decimal number between 1 and 65535 (got "192.0.2.11:99999")'],
      ['timing.heartbeat_ms', 'must be a multiple of timing.tick_ms (got 55 with tick 10)'],
      ['log.level', 'must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent" (got "verbose")'],
    ]);
    const err = (() => {
      try {
        parseConfig(text, 'bad.toml');
      } catch (e) {
        return e as ConfigError;
      }
      return undefined;
    })();
    assert.ok(err);
    assert.match(err.message, /^ERR_CONFIG: bad\.toml: 8 problems\n {2}- node_id: /);
    assert.equal(err.source, 'bad.toml');
  });

  test('wrong types name what was found', () => {
    expectProblems(minimal('[timing]\ntick_ms = "10"\n[snapshot]\nevery_entries = 1.5\n[client]\nmax_request_bytes = true\n'), [
      ['timing.tick_ms', 'must be an integer between 1 and 1000 (got "10")'],
      ['snapshot.every_entries', '(got 1.5)'],
      ['client.max_request_bytes', '(got true)'],
    ]);
    expectProblems(minimal('', 'timing = 5\n'), [['timing', 'must be a table ([timing]) (got 5)']]);
    expectProblems(`${HEAD}peers = [1, 2]\n`, [['peers', 'must be an array of tables ([[peers]] entries) (got an array)']]);
    expectProblems(`${HEAD}`, [['peers', 'is required']]);
  });

  test('ranges: chunk size, request size, cluster id length', () => {
    expectProblems(minimal('[snapshot]\nchunk_bytes = 100\n[client]\nmax_request_bytes = 999999999\n'), [
      ['snapshot.chunk_bytes', 'between 4096 and 16777216 (got 100)'],
      ['client.max_request_bytes', 'between 4096 and 67108864 (got 999999999)'],
    ]);
    const long = 'a'.repeat(65);
    expectProblems(minimal().replace('cluster_id = "c1"', `cluster_id = "${long}"`), [['cluster_id', `(got "${long}")`]]);
    assert.equal(parseConfig(minimal().replace('cluster_id = "c1"', `cluster_id = "${'a'.repeat(64)}"`), 'x').clusterId.length, 64);
  });

  test('invalid TOML is reported with its line', () => {
    expectProblems('node_id = \n', [['', /^not valid TOML at line 1, column \d+: /]]);
  });

  test('unknown keys, with a suggestion when one is close', () => {
    expectProblems(minimal('[timing]\nheartbeat = 50\n[listen]\npear = "0.0.0.0:9440"\n', 'clusterid = "x"\n'), [
      ['clusterid', 'unknown key; did you mean cluster_id?'],
      ['timing.heartbeat', 'unknown key; did you mean timing.heartbeat_ms?'],
      ['listen.pear', 'unknown key; did you mean listen.peer?'],
    ]);
    // A key of a table written at the top: where it belongs.
    expectProblems(minimal('', 'election_timeout_ms = 300\n'), [['election_timeout_ms', 'did you mean timing.election_timeout_ms (in the [timing] table)?']]);
    // Nothing close: the known keys are listed.
    expectProblems(minimal('[log]\nformat = "json"\n'), [['log.format', 'unknown key; known keys here: level']]);
    expectProblems(minimal().replace(/^id = 3\n/m, 'id = 3\nadmn = "x"\n'), [['peers[2].admn', 'unknown key; did you mean peers[2].admin?']]);
  });

  test('unknown tables and keys inside [[peers]]', () => {
    expectProblems(minimal('[raft]\npre_vote = true\n'), [['raft', 'unknown key; known keys here:']]);
  });

  test('peers: unique ids, unique addresses, this node present, at least one voter, no wildcards', () => {
    const dupId = minimal().replace(/^id = 3\n/m, 'id = 2\n');
    expectProblems(dupId, [['peers[2].id', '2 is already the id of peers[1]']]);
    const dupAddress = minimal().replace('client = "192.0.2.13:9441"', 'client = "192.0.2.12:9440"');
    expectProblems(dupAddress, [['peers[2].client', '192.0.2.12:9440 is already used by peers[1].peer']]);
    // The same IPv6 address spelled two ways is the same address.
    const v6 = minimal()
      .replace('peer = "192.0.2.12:9440"', 'peer = "[2001:db8::1]:9440"')
      .replace('peer = "192.0.2.13:9440"', 'peer = "[2001:DB8:0:0::0001]:9440"');
    expectProblems(v6, [['peers[2].peer', 'is already used by peers[1].peer']]);
    const absent = minimal().replace('node_id = 1', 'node_id = 4');
    expectProblems(absent, [['node_id', "4 has no [[peers]] entry (ids: 1, 2, 3): add this node's own entry"]]);
    const learnersOnly = minimal().replace(/^(id = \d)\n/gm, '$1\nrole = "learner"\n');
    expectProblems(learnersOnly, [['peers', 'at least one entry with role "voter"']]);
    const badRole = minimal().replace(/^id = 2\n/m, 'id = 2\nrole = "observer"\n');
    expectProblems(badRole, [['peers[1].role', 'must be one of "voter", "learner" (got "observer")']]);
    const wildcard = minimal().replace('peer = "192.0.2.12:9440"', 'peer = "0.0.0.0:9440"');
    expectProblems(wildcard, [['peers[1].peer', '0.0.0.0:9440 is a wildcard address']]);
    const missing = minimal().replace('admin = "192.0.2.13:9442"\n', '');
    expectProblems(missing, [['peers[2].admin', 'is required: write "host:port"']]);
    const many = Array.from({ length: 33 }, (_, i) => `[[peers]]\nid = ${i + 1}\npeer = "h${i}:1"\nclient = "h${i}:2"\nadmin = "h${i}:3"\n`).join('\n');
    expectProblems(`${HEAD}${many}`, [['peers', 'between 1 and 32 entries (got 33)']]);
  });

  test('node_id is checked against the other entries even when one entry is broken', () => {
    const text = minimal().replace('node_id = 1', 'node_id = 9').replace('client = "192.0.2.13:9441"', 'client = "nope"');
    expectProblems(text, [
      ['peers[2].client', 'the port is missing'],
      ['node_id', '9 has no [[peers]] entry'],
    ]);
  });

  test('node_id is checked when ids are duplicated', () => {
    const text = minimal().replace('node_id = 1', 'node_id = 9').replace(/^id = 3\n/m, 'id = 2\n');
    expectProblems(text, [
      ['peers[2].id', '2 is already the id of peers[1]'],
      ['node_id', '9 has no [[peers]] entry (ids: 1, 2)'],
    ]);
  });

  test('listen addresses must not overlap', () => {
    expectProblems(minimal('[listen]\npeer = "0.0.0.0:9440"\nclient = "192.0.2.11:9440"\n'), [
      ['listen.client', '192.0.2.11:9440 overlaps listen.peer (0.0.0.0:9440)'],
    ]);
    expectProblems(minimal('[listen]\npeer = "[::]:9440"\nclient = "[::]:9441"\nadmin = "[0::0]:9441"\n'), [['listen.admin', 'overlaps listen.client']]);
    // One IPv6 address spelled two ways.
    expectProblems(minimal('[listen]\nclient = "[2001:db8::1]:9441"\nadmin = "[2001:DB8:0::0:1]:9441"\n'), [['listen.admin', 'overlaps listen.client']]);
    // Different hosts on the same port are distinct sockets.
    const c = parseConfig(minimal('[listen]\npeer = "127.0.0.1:9440"\nclient = "192.0.2.11:9440"\nadmin = "192.0.2.11:9442"\n'), 'x');
    assert.equal(c.listen.client.port, 9440);
  });
});

describe('addresses', () => {
  test('IPv4, IPv6 in brackets and host names are accepted', () => {
    const ok: [string, string, number][] = [
      ['192.0.2.1:9440', '192.0.2.1', 9440],
      ['[2001:db8::1]:1', '2001:db8::1', 1],
      ['[::1]:65535', '::1', 65535],
      ['[::ffff:192.0.2.1]:80', '::ffff:192.0.2.1', 80],
      ['master-1.example.org:9440', 'master-1.example.org', 9440],
      ['localhost:9440', 'localhost', 9440],
      ['fqdn.example.:9440', 'fqdn.example.', 9440],
    ];
    for (const [text, host, port] of ok) {
      assert.deepEqual(parseHostPort(text), { host, port }, text);
      assert.equal(formatHostPort({ host, port }), text);
    }
  });

  test('malformed addresses say what is wrong', () => {
    const bad: [string, RegExp][] = [
      ['2001:db8::1:9440', /must be written in brackets/],
      ['[192.0.2.1]:9440', /not an IPv6 address/],
      ['[master.example]:9440', /not an IPv6 address/],
      ['[::1]9440', /must be "\[IPv6 address\]:port"/],
      ['192.0.2.256:1', /not a valid IPv4 address/],
      ['-bad.example:1', /not a valid host name/],
      ['under_score:1', /not a valid host name/],
      [`${'a'.repeat(64)}.example:1`, /not a valid host name/],
      [':9440', /the host is missing/],
      ['host', /the port is missing/],
      ['host:', /port must be a decimal number/],
      ['host:0', /port must be a decimal number/],
      ['host:65536', /port must be a decimal number/],
      ['host:+80', /port must be a decimal number/],
      ['host:0x50', /port must be a decimal number/],
    ];
    for (const [text, re] of bad) {
      const r = parseHostPort(text);
      assert.equal(typeof r, 'string', text);
      assert.match(r as string, re, text);
    }
  });

  test('IPv6 and host names in a whole configuration', () => {
    const text = minimal()
      .replaceAll('192.0.2.11', 'master-1.example.org')
      .replaceAll('192.0.2.12', '[2001:db8::12]')
      .replace('[listen]', '');
    const c = parseConfig(text, 'x');
    assert.deepEqual(c.peers[0]!.peer, { host: 'master-1.example.org', port: 9440 });
    assert.deepEqual(c.peers[1]!.admin, { host: '2001:db8::12', port: 9442 });
    assert.deepEqual(c.listen.peer, { host: 'master-1.example.org', port: 9440 });
  });
});

describe('timing', () => {
  test('milliseconds become tick counts', () => {
    const c = parseConfig(minimal('[timing]\ntick_ms = 25\nheartbeat_ms = 75\nelection_timeout_ms = 1500\n'), 'x');
    assert.equal(c.raft.heartbeatTicks, 3);
    assert.equal(c.raft.electionTicks, 60);
    assert.equal(c.raft.leaseDriftTicks, 6);
  });

  test('heartbeat and election timeout must be multiples of the tick', () => {
    expectProblems(minimal('[timing]\ntick_ms = 20\nheartbeat_ms = 50\nelection_timeout_ms = 310\n'), [
      ['timing.heartbeat_ms', 'must be a multiple of timing.tick_ms (got 50 with tick 20)'],
      ['timing.election_timeout_ms', 'must be a multiple of timing.tick_ms (got 310 with tick 20)'],
    ]);
  });

  test('the election timeout must be at least twice the heartbeat', () => {
    expectProblems(minimal('[timing]\nelection_timeout_ms = 80\n'), [
      ['timing.election_timeout_ms', 'must be at least 2 × timing.heartbeat_ms (got 80 with heartbeat 50)'],
    ]);
    expectProblems(minimal('[timing]\nheartbeat_ms = 300\n'), [['timing.election_timeout_ms', '(got 300 with heartbeat 300)']]);
    const edge = parseConfig(minimal('[timing]\nelection_timeout_ms = 100\n'), 'x');
    assert.equal(edge.raft.electionTicks, 2 * edge.raft.heartbeatTicks);
  });

  test('a lease needs room for the drift margin', () => {
    // 6 ticks of election timeout, 3 of heartbeat: 3 ticks left, drift margin 2: fine.
    parseConfig(minimal('[timing]\nheartbeat_ms = 30\nelection_timeout_ms = 60\n', 'read_mode = "lease"\n'), 'x');
    // 4 and 2: 2 ticks left, not above the margin.
    expectProblems(minimal('[timing]\nheartbeat_ms = 20\nelection_timeout_ms = 40\n', 'read_mode = "lease"\n'), [
      ['read_mode', '"lease" needs timing.election_timeout_ms - timing.heartbeat_ms above the clock-drift margin of 2 ticks'],
    ]);
    // The same timing is fine with read-index.
    parseConfig(minimal('[timing]\nheartbeat_ms = 20\nelection_timeout_ms = 40\n'), 'x');
  });
});

describe('tls', () => {
  test('all three files or none', () => {
    const all = parseConfig(minimal('[tls]\ncert_file = "/a.crt"\nkey_file = "/a.key"\nca_file = "/ca.crt"\n'), 'x');
    assert.deepEqual(all.tls, { certFile: '/a.crt', keyFile: '/a.key', caFile: '/ca.crt' });
    assert.equal(parseConfig(minimal('[tls]\n'), 'x').tls, undefined);
    expectProblems(minimal('[tls]\ncert_file = "/a.crt"\n'), [['tls', 'set all of tls.cert_file, tls.key_file and tls.ca_file, or none (missing: tls.key_file, tls.ca_file)']]);
    expectProblems(minimal('[tls]\ncert_file = "/a.crt"\nkey_file = "/a.key"\n'), [['tls', '(missing: tls.ca_file)']]);
    expectProblems(minimal('[tls]\ncert_file = "/a.crt"\nkey_file = "/a.key"\nca_file = 3\n'), [['tls.ca_file', 'must be a non-empty file system path (got 3)']]);
  });
});

describe('loadConfig: secret files', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mooseng-config-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const SECRET = 'a'.repeat(64);
  async function writeMode(name: string, content: string, mode: number): Promise<string> {
    const p = join(dir, name);
    await writeFile(p, content);
    await chmod(p, mode);
    return p;
  }
  async function configFile(name: string, extra: string): Promise<string> {
    const text = minimal('', extra).replace('secret_file = "/etc/mooseng/secret"\n', '');
    return writeMode(name, text, 0o644);
  }
  async function loadProblems(path: string): Promise<readonly ConfigProblem[]> {
    try {
      await loadConfig(path);
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.problems;
    }
    assert.fail('expected a ConfigError');
  }

  test('a good secret is read and trimmed, and never printed', async () => {
    await writeMode('secret', `  ${SECRET}\n`, 0o600);
    await writeMode('token', `${'t'.repeat(40)}\n`, 0o400);
    const path = await configFile('good.toml', 'secret_file = "secret"\nadmin_token_file = "token"\n');
    const loaded = await loadConfig(path);
    assert.equal(loaded.config.secretFile, join(dir, 'secret'));
    assert.equal(Buffer.from(loaded.secret.bytes()).toString(), SECRET);
    assert.equal(loaded.adminToken?.byteLength, 40);
    assert.ok(!JSON.stringify(loaded).includes('aaaa'));
    assert.ok(!inspect(loaded, { depth: 5 }).includes('aaaa'));
    assert.ok(!String(loaded.secret).includes('aaaa'));
  });

  test('no admin token file: adminToken is undefined', async () => {
    await writeMode('secret-2', SECRET, 0o600);
    const loaded = await loadConfig(await configFile('no-token.toml', 'secret_file = "secret-2"\n'));
    assert.equal(loaded.adminToken, undefined);
  });

  test('group- or world-accessible secret files are refused, like ssh keys', async () => {
    for (const mode of [0o644, 0o640, 0o604, 0o620]) {
      await writeMode('open-secret', SECRET, mode);
      const problems = await loadProblems(await configFile('open.toml', 'secret_file = "open-secret"\n'));
      assert.equal(problems.length, 1);
      assert.equal(problems[0]!.path, 'secret_file');
      assert.match(problems[0]!.message, new RegExp(`permissions 0${mode.toString(8)} for .*open-secret are too open.*chmod 600`));
    }
  });

  test('short secrets are refused after trimming', async () => {
    await writeMode('short', `${'b'.repeat(31)}\n\n   `, 0o600);
    const problems = await loadProblems(await configFile('short.toml', 'secret_file = "short"\n'));
    assert.equal(problems.length, 1);
    assert.match(problems[0]!.message, /holds 31 bytes after trimming whitespace, at least 32 are needed \(generate one with: openssl rand -hex 32/);
    await writeMode('exact', 'c'.repeat(32), 0o600);
    const ok = await loadConfig(await configFile('exact.toml', 'secret_file = "exact"\n'));
    assert.equal(ok.secret.byteLength, 32);
  });

  test('file problems and key problems are reported together', async () => {
    await writeMode('token-open', SECRET, 0o666);
    const path = await configFile('both.toml', 'secret_file = "missing"\nadmin_token_file = "token-open"\nread_mode = "fast"\n');
    const problems = await loadProblems(path);
    assert.deepEqual(
      problems.map((p) => p.path),
      ['read_mode', 'secret_file', 'admin_token_file'],
    );
    assert.match(problems[1]!.message, /cannot read .*missing: ENOENT/);
    assert.match(problems[2]!.message, /permissions 0666/);
  });

  test('a directory is not a secret file; TLS files must exist', async () => {
    const path = await configFile('dir.toml', 'secret_file = "."\n');
    const problems = await loadProblems(path);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!.message, /is not a regular file/);
    await writeMode('secret-3', SECRET, 0o600);
    const text = `${minimal('[tls]\ncert_file = "nope.crt"\nkey_file = "nope.key"\nca_file = "secret-3"\n')}`.replace(
      'secret_file = "/etc/mooseng/secret"',
      'secret_file = "secret-3"',
    );
    const tlsPath = await writeMode('tls.toml', text, 0o644);
    const tlsProblems = await loadProblems(tlsPath);
    assert.deepEqual(
      tlsProblems.map((p) => p.path),
      ['tls.cert_file', 'tls.key_file'],
    );
  });

  test('an unreadable configuration file', async () => {
    const problems = await loadProblems(join(dir, 'does-not-exist.toml'));
    assert.match(problems[0]!.message, /cannot read the configuration file: ENOENT/);
  });
});

describe('defaultLocalCluster', () => {
  test('n masters on 127.0.0.1 with consecutive ports from the base', () => {
    const cluster = defaultLocalCluster('/tmp/mooseng-local', 3, 20000);
    assert.equal(cluster.length, 3);
    const ports = cluster.flatMap((c) => [c.listen.peer.port, c.listen.client.port, c.listen.admin.port]);
    assert.deepEqual(ports, Array.from({ length: 9 }, (_, i) => 20000 + i));
    for (const [i, c] of cluster.entries()) {
      assert.equal(c.nodeId, i + 1);
      assert.equal(c.clusterId, cluster[0]!.clusterId);
      assert.equal(c.dataDir, `/tmp/mooseng-local/master-${i + 1}`);
      assert.equal(c.secretFile, '/tmp/mooseng-local/secret');
      assert.deepEqual(c.peers, cluster[0]!.peers);
      assert.equal(c.listen.peer.host, '127.0.0.1');
      assert.deepEqual(c.initialConfState.voters, [1, 2, 3]);
    }
    assert.equal(defaultLocalCluster('/tmp/x', 1)[0]!.listen.peer.port, 9440);
  });

  test('bad sizes and ports beyond 65535 are refused', () => {
    assert.throws(() => defaultLocalCluster('/tmp/x', 0), ConfigError);
    assert.throws(() => defaultLocalCluster('/tmp/x', 2.5), ConfigError);
    assert.throws(() => defaultLocalCluster('/tmp/x', 3, 65530), (e: unknown) => e instanceof ConfigError && /65535/.test(e.message));
  });
});

describe('round trip', () => {
  const host = fc.oneof(
    fc.tuple(fc.integer({ min: 1, max: 254 }), fc.integer({ min: 0, max: 255 })).map(([a, b]) => `10.${a}.${b}.1`),
    fc.integer({ min: 1, max: 0xffff }).map((n) => `2001:db8::${n.toString(16)}`),
    fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/).map((s) => `${s}.example.org`),
  );
  const member = fc.record({ host, role: fc.constantFrom('voter', 'learner') });
  const configTable = fc
    .record({
      members: fc.uniqueArray(member, { minLength: 1, maxLength: 7, selector: (m) => m.host }),
      ids: fc.uniqueArray(fc.integer({ min: 1, max: 1_000_000 }), { minLength: 7, maxLength: 7 }),
      selfIndex: fc.nat(),
      port: fc.integer({ min: 1, max: 65000 }),
      clusterId: fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/),
      tickMs: fc.integer({ min: 1, max: 100 }),
      heartbeatTicks: fc.integer({ min: 1, max: 20 }),
      // From 4 up, a lease always fits (election - heartbeat exceeds the drift margin).
      electionFactor: fc.integer({ min: 4, max: 20 }),
      readMode: fc.constantFrom('read-index', 'lease'),
      everyEntries: fc.integer({ min: 1, max: 100_000_000 }),
      keepEntries: fc.integer({ min: 0, max: 100_000_000 }),
      chunkBytes: fc.integer({ min: 4096, max: 16 * 1024 * 1024 }),
      followerWrites: fc.constantFrom('forward', 'redirect'),
      maxRequestBytes: fc.integer({ min: 4096, max: 64 * 1024 * 1024 }),
      tls: fc.boolean(),
      adminToken: fc.boolean(),
      level: fc.constantFrom('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
      listenWildcard: fc.boolean(),
    })
    .map((g) => {
      const members = g.members.map((m, i) => ({ ...m, role: i === 0 ? 'voter' : m.role }));
      const self = g.selfIndex % members.length;
      const heartbeatMs = g.tickMs * g.heartbeatTicks;
      const hp = (h: string, p: number) => (h.includes(':') ? `[${h}]:${p}` : `${h}:${p}`);
      return {
        node_id: g.ids[self]!,
        cluster_id: g.clusterId,
        data_dir: '/var/lib/mooseng/master',
        secret_file: '/etc/mooseng/secret',
        ...(g.adminToken ? { admin_token_file: '/etc/mooseng/admin-token' } : {}),
        read_mode: g.readMode,
        ...(g.listenWildcard ? { listen: { peer: `0.0.0.0:${g.port}`, client: `[::]:${g.port + 1}`, admin: `127.0.0.1:${g.port + 2}` } } : {}),
        timing: { tick_ms: g.tickMs, heartbeat_ms: heartbeatMs, election_timeout_ms: heartbeatMs * g.electionFactor },
        snapshot: { every_entries: g.everyEntries, keep_entries: g.keepEntries, chunk_bytes: g.chunkBytes },
        client: { follower_writes: g.followerWrites, max_request_bytes: g.maxRequestBytes },
        ...(g.tls ? { tls: { cert_file: '/etc/t/c.crt', key_file: '/etc/t/c.key', ca_file: '/etc/t/ca.crt' } } : {}),
        log: { level: g.level },
        peers: members.map((m, i) => ({
          id: g.ids[i]!,
          role: m.role,
          peer: hp(m.host, g.port),
          client: hp(m.host, g.port + 1),
          admin: hp(m.host, g.port + 2),
        })),
      };
    });

  test('a valid configuration rendered back to TOML parses to the same object', () => {
    fc.assert(
      fc.property(configTable, (table) => {
        const c: MasterConfig = parseConfig(stringify(table), '/etc/mooseng/master.toml');
        assert.equal(c.nodeId, table.node_id);
        assert.equal(c.raft.heartbeatTicks * c.timing.tickMs, c.timing.heartbeatMs);
        assert.equal(c.raft.electionTicks * c.timing.tickMs, c.timing.electionTimeoutMs);
        assert.equal(c.peers.length, table.peers.length);
        const again = parseConfig(renderConfig(c), '/elsewhere/master.toml');
        assert.deepEqual(again, c);
      }),
      { numRuns: 200 },
    );
  });
});

describe('deploy/', () => {
  const deployDir = new URL('../../deploy/', import.meta.url);

  for (const [layout, n] of [
    ['three-hosts', 3],
    ['five-hosts', 5],
  ] as const) {
    test(`${layout}: every example parses and the files agree`, async () => {
      const files = (await readdir(new URL(`${layout}/`, deployDir))).filter((f) => f.endsWith('.toml')).sort();
      assert.deepEqual(
        files,
        Array.from({ length: n }, (_, i) => `master-${i + 1}.toml`),
      );
      const configs = await Promise.all(files.map(async (f) => parseConfig(await readFile(new URL(`${layout}/${f}`, deployDir), 'utf8'), f)));
      for (const [i, c] of configs.entries()) {
        assert.equal(c.nodeId, i + 1);
        const self = c.peers.find((p) => p.id === c.nodeId)!;
        assert.equal(self.peer.host, `192.0.2.${11 + i}`);
        assert.deepEqual(c.listen, { peer: self.peer, client: self.client, admin: self.admin });
        // Apart from the node's own identity, every host has the same configuration.
        const { nodeId: _n, listen: _l, ...shared } = c;
        const { nodeId: _n0, listen: _l0, ...shared0 } = configs[0]!;
        assert.deepEqual(shared, shared0);
        assert.equal(c.initialConfState.voters.length, n);
      }
    });
  }

  test('the systemd unit runs the daemon unprivileged, hardened, with the data directory writable', async () => {
    const unit = await readFile(new URL('mooseng-master.service', deployDir), 'utf8');
    const directives = new Map<string, string>();
    for (const line of unit.split('\n')) {
      const m = /^([A-Za-z]+)=(.*)$/.exec(line);
      if (m) directives.set(m[1]!, m[2]!);
    }
    assert.equal(directives.get('Type'), 'simple');
    assert.equal(directives.get('User'), 'mooseng');
    assert.equal(directives.get('ExecStart'), '/usr/bin/mooseng-master --config /etc/mooseng/master.toml');
    assert.equal(directives.get('Restart'), 'on-failure');
    assert.equal(directives.get('NoNewPrivileges'), 'yes');
    assert.equal(directives.get('ProtectSystem'), 'strict');
    assert.equal(directives.get('PrivateTmp'), 'yes');
    assert.ok(Number(directives.get('LimitNOFILE')) >= 65536);
    const example = parseConfig(await readFile(new URL('three-hosts/master-1.toml', deployDir), 'utf8'), 'm1');
    const writable = directives.get('ReadWritePaths') ?? '';
    assert.ok(example.dataDir.startsWith(`${writable}/`), `${example.dataDir} is under ReadWritePaths=${writable}`);
  });
});
