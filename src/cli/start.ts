#!/usr/bin/env node
/**
 * `npm start`: a local group of three masters on 127.0.0.1, each a child process running
 * `mooseng-master`, with everything under `./data`:
 *
 *   data/secret, data/admin-token   random, mode 600 (created on the first run)
 *   data/master-N.toml              the configuration of master N
 *   data/master-N/                  its data directory (initialised on the first run)
 *   data/master-N.log               its log (JSON lines), appended to
 *   data/cluster.json               addresses and admin token, read by `mooseng`
 *
 * Later runs reuse all of it, so the namespace survives a restart. It waits for a leader, prints
 * where everything listens and what to try, then watches: a master that exits is reported with
 * the end of its log while the others keep serving (`--restart` starts it again). Ctrl-C or
 * SIGTERM stops the three cleanly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { ConfigError, defaultLocalCluster, DEFAULT_PEER_PORT, formatHostPort, loadConfig, renderConfig, type MasterConfig } from '../server/config.ts';
import { initDataDir } from '../server/master.ts';
import type { ClusterFile } from './format.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const masterCli = join(repoRoot, 'src/cli/master.ts');
/** The tsx loader, by absolute URL, so that the children find it whatever their working directory. */
const tsxLoader = import.meta.resolve('tsx');

const masterCount = 3;
/** Bounds on the waits. */
const leaderWaitMs = 30_000;
const stopWaitMs = 10_000;
const pollMs = 100;
const watchMs = 500;
const statusTimeoutMs = 400;
const logTailLines = 12;
/** With --restart: a master is started again after this delay, at most this many times a minute. */
const restartDelayMs = 1000;
const restartsPerMinuteMax = 5;

interface Managed {
  readonly config: MasterConfig;
  readonly configPath: string;
  readonly logPath: string;
  child: ChildProcess | undefined;
  restarts: number[];
}

const say = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};
const clock = (): string => new Date().toTimeString().slice(0, 8);

function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535 - 3 * masterCount) throw new InvalidArgumentError(`a port number between 1 and ${65535 - 3 * masterCount}`);
  return n;
}

async function main(): Promise<void> {
  const program = new Command()
    .name('npm start --')
    .description('Run a local group of 3 mooseng masters on 127.0.0.1 with data under ./data')
    .option('--base-port <port>', `first of the 9 ports (master i: peer, client, admin at base + 3(i-1) + 0, 1, 2; default ${DEFAULT_PEER_PORT})`, parsePort)
    .option('--data <dir>', 'data directory', './data')
    .option('--restart', 'start a master again when it exits (e.g. after kill -9)', false)
    .showHelpAfterError();
  program.parse(process.argv);
  const opts = program.opts<{ basePort?: number; data: string; restart: boolean }>();
  const dataDir = resolve(opts.data);
  const shown = relative(process.cwd(), dataDir) || '.';

  const { managed, created } = await prepare(dataDir, opts.basePort);
  await checkPortsFree(managed);
  const clusterFile = await writeClusterFile(dataDir, managed);

  let stopping = false;
  let lastLeader = 0;
  let watcher: NodeJS.Timeout | undefined;

  const launch = (m: Managed): number | undefined => {
    const fd = openSync(m.logPath, 'a', 0o600);
    const child = spawn(process.execPath, ['--import', tsxLoader, masterCli, '--config', m.configPath], {
      stdio: ['ignore', fd, fd],
      env: process.env,
    });
    closeSync(fd);
    m.child = child;
    child.once('exit', (code, signal) => {
      if (m.child === child) m.child = undefined;
      if (stopping) return;
      const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code ?? '?'}`;
      say(`[${clock()}] master ${m.config.nodeId} (pid ${child.pid}) ${how}; last lines of ${relative(process.cwd(), m.logPath)}:`);
      for (const line of logTail(m.logPath, logTailLines)) say(`    ${line}`);
      const up = managed.filter((x) => x.child !== undefined).length;
      const now = Date.now();
      m.restarts = m.restarts.filter((t) => now - t < 60_000);
      if (opts.restart && m.restarts.length < restartsPerMinuteMax) {
        m.restarts.push(now);
        say(`[${clock()}] restarting master ${m.config.nodeId} in ${restartDelayMs} ms (--restart)`);
        setTimeout(() => {
          if (!stopping && m.child === undefined) {
            const pid = launch(m);
            say(`[${clock()}] master ${m.config.nodeId} started again: pid ${pid ?? '?'}`);
          }
        }, restartDelayMs).unref();
      } else {
        say(
          `[${clock()}] ${up} of ${managed.length} masters still run${up * 2 > managed.length ? ' (a majority: the group keeps serving)' : ' (no majority: writes wait until one comes back)'}` +
            (opts.restart ? `; master ${m.config.nodeId} restarted too often, not restarting it` : '; run npm start -- --restart to have exited masters started again'),
        );
      }
    });
    return child.pid;
  };

  const stopAll = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    clearInterval(watcher);
    say(`\n[${clock()}] ${signal}: stopping the masters`);
    await Promise.all(
      managed.map(async (m) => {
        const child = m.child;
        if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => {
          say(`[${clock()}] master ${m.config.nodeId} (pid ${child.pid}) did not stop within ${stopWaitMs} ms: killing it`);
          child.kill('SIGKILL');
        }, stopWaitMs);
        await exited;
        clearTimeout(timer);
        say(`[${clock()}] master ${m.config.nodeId} stopped`);
      }),
    );
    process.exit(0);
  };
  process.on('SIGINT', () => void stopAll('SIGINT'));
  process.on('SIGTERM', () => void stopAll('SIGTERM'));
  process.on('SIGHUP', () => void stopAll('SIGHUP'));

  say(`mooseng: a local group of ${masterCount} masters, data in ${shown}/ (${created ? 'created now' : 'reused'})`);
  for (const m of managed) launch(m);
  say();
  for (const m of managed) {
    const c = m.config;
    say(
      `  master ${c.nodeId}  pid ${String(m.child?.pid ?? '?').padEnd(7)} peer ${formatHostPort(c.listen.peer)}  client ${formatHostPort(c.listen.client)}  ` +
        `admin ${formatHostPort(c.listen.admin)}  log ${relative(process.cwd(), m.logPath)}`,
    );
  }
  say();

  const first = await waitForLeader(managed, () => stopping);
  if (first === undefined) {
    if (stopping) return;
    say(`no leader within ${leaderWaitMs / 1000} s; last lines of the logs:`);
    for (const m of managed) {
      say(`  ${relative(process.cwd(), m.logPath)}:`);
      for (const line of logTail(m.logPath, logTailLines)) say(`    ${line}`);
    }
    await stopAll('no leader');
    return;
  }
  lastLeader = first.id;
  const leaderPid = managed.find((m) => m.config.nodeId === first.id)?.child?.pid ?? '?';
  say(`leader: master ${first.id} (pid ${leaderPid}), term ${first.term}`);
  const clientList = clusterFile.masters.map((x) => x.client).join(',');
  const cli = shown === 'data' ? 'npx mooseng' : `npx mooseng --cluster ${join(shown, 'cluster.json')}`;
  const tries: [string, string][] = [
    [`${cli} mkdir -p /projects/a`, ''],
    [`${cli} touch /projects/a/file`, ''],
    [`${cli} ls -l /projects/a`, ''],
    [`${cli} tree /`, ''],
    [`${cli} status`, '# every master: role, term, commit, lag'],
    [`kill -9 ${leaderPid}`, '# the leader: another master takes over within a second'],
    [`${cli} ls -l /projects/a`, '# still there; writes work too'],
  ];
  const width = Math.max(...tries.map(([c]) => c.length)) + 2;
  say();
  say(`Try, in another terminal in this directory (mooseng finds the masters in ${join(shown, 'cluster.json')}):`);
  say();
  for (const [c, comment] of tries) say(`  ${comment === '' ? c : c.padEnd(width) + comment}`);
  say();
  say(`From elsewhere: npx mooseng --masters ${clientList} ls /`);
  say();
  say('Ctrl-C stops all three.');

  let polling = false;
  watcher = setInterval(() => {
    if (polling || stopping) return;
    polling = true;
    findLeader(managed)
      .then((l) => {
        if (stopping || l === undefined || l.id === lastLeader) return;
        lastLeader = l.id;
        const pid = managed.find((m) => m.config.nodeId === l.id)?.child?.pid ?? '?';
        say(`[${clock()}] leader: master ${l.id} (pid ${pid}), term ${l.term}`);
      })
      .catch(() => undefined)
      .finally(() => (polling = false));
  }, watchMs);
}

/** Writes the secret, the token, the configurations and initialises the data directories, where missing. */
async function prepare(dataDir: string, basePort: number | undefined): Promise<{ managed: Managed[]; created: boolean }> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const secretFile = join(dataDir, 'secret');
  const tokenFile = join(dataDir, 'admin-token');
  let created = false;
  for (const f of [secretFile, tokenFile]) {
    if (!existsSync(f)) {
      await writeFile(f, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
      created = true;
    }
  }
  const fresh = defaultLocalCluster(dataDir, masterCount, basePort ?? DEFAULT_PEER_PORT).map((c) => ({ ...c, adminTokenFile: tokenFile }));
  const managed: Managed[] = [];
  for (const c of fresh) {
    const configPath = join(dataDir, `master-${c.nodeId}.toml`);
    if (!existsSync(configPath)) {
      await writeFile(configPath, renderConfig(c), { mode: 0o644 });
      created = true;
    }
    let config: MasterConfig;
    try {
      config = (await loadConfig(configPath)).config;
    } catch (e) {
      if (e instanceof ConfigError) fail(`${e.message}\n(remove ${dataDir} to start afresh)`, 2);
      throw e;
    }
    if (basePort !== undefined && c.nodeId === 1 && config.listen.peer.port !== basePort) {
      fail(`${dataDir} was set up with base port ${config.listen.peer.port}; run without --base-port, or use another --data directory for base port ${basePort}`, 2);
    }
    if (!existsSync(join(config.dataDir, 'raft'))) {
      await initDataDir(config);
      created = true;
    }
    managed.push({ config, configPath, logPath: join(dataDir, `master-${c.nodeId}.log`), child: undefined, restarts: [] });
  }
  return { managed, created };
}

async function writeClusterFile(dataDir: string, managed: readonly Managed[]): Promise<ClusterFile> {
  const tokenFile = join(dataDir, 'admin-token');
  const adminToken = (await readFile(tokenFile, 'utf8')).trim();
  const file: ClusterFile = {
    clusterId: managed[0]!.config.clusterId,
    masters: managed.map((m) => {
      const self = m.config.peers.find((p) => p.id === m.config.nodeId)!;
      return { id: m.config.nodeId, peer: formatHostPort(self.peer), client: formatHostPort(self.client), admin: formatHostPort(self.admin) };
    }),
    adminToken,
    adminTokenFile: tokenFile,
  };
  const path = join(dataDir, 'cluster.json');
  await writeFile(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
  return file;
}

async function checkPortsFree(managed: readonly Managed[]): Promise<void> {
  const busy: string[] = [];
  for (const m of managed) {
    for (const kind of ['peer', 'client', 'admin'] as const) {
      const a = m.config.listen[kind];
      const problem = await tryListen(a.host, a.port);
      if (problem !== undefined) busy.push(`  ${formatHostPort(a)} (${kind} port of master ${m.config.nodeId}): ${problem}`);
    }
  }
  if (busy.length > 0) {
    fail(
      `cannot start: ${busy.length === 1 ? 'a port is' : 'ports are'} not free:\n${busy.join('\n')}\n` +
        'Is another npm start (or mooseng-master) running? Stop it, or use other ports: npm start -- --base-port N --data ./other-data',
      1,
    );
  }
}

function tryListen(host: string, port: number): Promise<string | undefined> {
  return new Promise((done) => {
    const s = createServer();
    s.once('error', (e: NodeJS.ErrnoException) => done(e.code === 'EADDRINUSE' ? 'in use' : (e.code ?? e.message)));
    s.listen(port, host, () => s.close(() => done(undefined)));
  });
}

interface LeaderInfo {
  readonly id: number;
  readonly term: number;
}

/** The master that reports itself leader with the highest term, if any answers. */
async function findLeader(managed: readonly Managed[]): Promise<LeaderInfo | undefined> {
  const docs = await Promise.all(
    managed.map(async (m) => {
      if (m.child === undefined) return undefined;
      try {
        const res = await fetch(`http://${formatHostPort(m.config.listen.admin)}/status`, { signal: AbortSignal.timeout(statusTimeoutMs) });
        return (await res.json()) as { node: number; role: string; term: number };
      } catch {
        return undefined;
      }
    }),
  );
  let best: LeaderInfo | undefined;
  for (const d of docs) if (d !== undefined && d.role === 'leader' && (best === undefined || d.term > best.term)) best = { id: d.node, term: d.term };
  return best;
}

async function waitForLeader(managed: readonly Managed[], stopped: () => boolean): Promise<LeaderInfo | undefined> {
  const deadline = Date.now() + leaderWaitMs;
  while (Date.now() < deadline && !stopped() && managed.some((m) => m.child !== undefined)) {
    const l = await findLeader(managed);
    if (l !== undefined) return l;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return undefined;
}

/** The last lines of a master's log, JSON lines shown as `time level message {fields}`. */
function logTail(path: string, lines: number): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return ['(no log)'];
  }
  const tail = text.split('\n').filter((l) => l.trim() !== '').slice(-lines);
  return tail.map((l) => {
    try {
      const { time, level, msg, pid: _pid, hostname: _host, node: _node, ...rest } = JSON.parse(l) as Record<string, unknown>;
      const names: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
      const when = typeof time === 'number' ? new Date(time).toTimeString().slice(0, 8) : '';
      const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
      return `${when} ${names[level as number] ?? String(level)} ${String(msg)}${extra}`.slice(0, 400);
    } catch {
      return l.slice(0, 400);
    }
  });
}

function fail(message: string, code: number): never {
  process.stderr.write(`npm start: ${message}\n`);
  process.exit(code);
}

main().catch((e: unknown) => {
  process.stderr.write(`npm start: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
