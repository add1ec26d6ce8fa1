#!/usr/bin/env node
/**
 * mooseng: the command-line client of a mooseng group.
 *
 * File-system commands go through the SDK (src/client/client.ts) to the masters' client ports;
 * cluster commands go to the masters' admin HTTP endpoints. Where to find them, in order:
 *   masters: --masters a,b,c | $MOOSENG_MASTERS | the cluster file's client addresses
 *   admin:   --admin a,b,c   | $MOOSENG_ADMIN   | the cluster file's admin addresses
 *   token:   --token-file F  | $MOOSENG_TOKEN_FILE | the cluster file's admin token
 * The cluster file is --cluster F, $MOOSENG_CLUSTER, or ./data/cluster.json (written by `npm start`).
 *
 * Output is for people by default and JSON with --json. Exit status: 0 done, 1 failed, 2 usage.
 */
import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { MoosengClient, MoosengError, splitPath } from '../client/client.ts';
import { NodeType, type Attr } from '../master/commands.ts';
import { rootInode } from '../master/limits.ts';
import type { DirEntry } from '../master/reads.ts';
import {
  attrJson,
  columns,
  describeFsError,
  drawTree,
  isoTime,
  lsLongFields,
  modeString,
  octalMode,
  parseClusterFile,
  progressBar,
  typeName,
  type ClusterFile,
  type TreeNode,
} from './format.ts';

/** Where the CLI writes and what it knows of its surroundings; `main` takes one so tests can run it in-process. */
export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Whether stdout is a terminal (progress bars update in place only there). */
  readonly isTTY: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}

export const exitOk = 0;
export const exitFailed = 1;
export const exitUsage = 2;

const defaultTimeoutMs = 10_000;
const defaultWaitSec = 300;
/** Requests to the admin endpoint. */
const adminTimeoutMs = 5_000;
const waitPollMs = 200;
/** `ls -l` and `tree` look up attributes this many at a time. */
const attrBatch = 32;
/** Limits of the walks of `tree` and `rm -r`. */
const treeDepthDefault = 16;
const treeEntriesMax = 10_000;
const walkDepthMax = 1_000;
/** Lag below which the master accepts a promotion without --force (src/server/master.ts). */
const promoteLagMax = 1000;

/** A failure to report: the message (without the `mooseng: ` prefix) and the exit status. */
class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = exitFailed,
  ) {
    super(message);
  }
}

interface GlobalOptions {
  masters?: string;
  admin?: string;
  tokenFile?: string;
  cluster?: string;
  json: boolean;
  timeout: number;
  uid: number;
  gid: number;
}

function parseNonNegativeInt(v: string): number {
  if (!/^[0-9]+$/.test(v) || Number(v) > 0xffff_ffff) throw new InvalidArgumentError('a non-negative integer');
  return Number(v);
}

function parsePositiveInt(v: string): number {
  const n = parseNonNegativeInt(v);
  if (n === 0) throw new InvalidArgumentError('a positive integer');
  return n;
}

function splitList(v: string): string[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** The context of one command: its options, lazily loaded cluster file, and output helpers. */
class Context {
  private clusterFile: ClusterFile | null | undefined;
  constructor(
    readonly io: CliIo,
    readonly opts: GlobalOptions,
  ) {}

  get json(): boolean {
    return this.opts.json;
  }

  print(line = ''): void {
    this.io.out(`${line}\n`);
  }

  printJson(v: unknown): void {
    this.io.out(`${JSON.stringify(v, null, 2)}\n`);
  }

  private clusterPath(): { path: string; explicit: boolean } {
    const given = this.opts.cluster ?? this.io.env['MOOSENG_CLUSTER'];
    return given !== undefined && given !== ''
      ? { path: resolvePath(this.io.cwd, given), explicit: true }
      : { path: resolvePath(this.io.cwd, 'data/cluster.json'), explicit: false };
  }

  /** The cluster file, or null where there is none (an explicitly named one must exist). */
  cluster(): ClusterFile | null {
    if (this.clusterFile !== undefined) return this.clusterFile;
    const { path, explicit } = this.clusterPath();
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if (explicit || (e as NodeJS.ErrnoException).code !== 'ENOENT') throw new CliError(`cannot read ${path}: ${(e as Error).message}`);
      this.clusterFile = null;
      return null;
    }
    try {
      this.clusterFile = parseClusterFile(text, path);
    } catch (e) {
      throw new CliError((e as Error).message);
    }
    return this.clusterFile;
  }

  masters(): string[] {
    const given = this.opts.masters ?? this.io.env['MOOSENG_MASTERS'];
    const list = given !== undefined ? splitList(given) : (this.cluster()?.masters.map((m) => m.client) ?? []);
    if (list.length === 0) {
      throw new CliError('no masters to talk to: pass --masters host:port,... (client ports), set MOOSENG_MASTERS, or run npm start here (it writes data/cluster.json)', exitUsage);
    }
    return list;
  }

  admins(): string[] {
    const given = this.opts.admin ?? this.io.env['MOOSENG_ADMIN'];
    const list = given !== undefined ? splitList(given) : (this.cluster()?.masters.map((m) => m.admin) ?? []);
    if (list.length === 0) {
      throw new CliError('no admin endpoints: pass --admin host:port,... (admin ports), set MOOSENG_ADMIN, or run npm start here (it writes data/cluster.json)', exitUsage);
    }
    return list;
  }

  token(): string {
    const file = this.opts.tokenFile ?? this.io.env['MOOSENG_TOKEN_FILE'];
    if (file !== undefined && file !== '') {
      try {
        return readFileSync(resolvePath(this.io.cwd, file), 'utf8').trim();
      } catch (e) {
        throw new CliError(`cannot read the admin token: ${(e as Error).message}`);
      }
    }
    const c = this.cluster();
    if (c === null) throw new CliError('no admin token: pass --token-file FILE (the masters\' admin_token_file) or run npm start here', exitUsage);
    return c.adminToken;
  }

  async client(): Promise<MoosengClient> {
    const masters = this.masters();
    try {
      return await MoosengClient.connect({
        masters,
        deadlineMs: this.opts.timeout,
        attemptTimeoutMs: Math.min(2_000, this.opts.timeout),
        uid: this.opts.uid,
        gids: [this.opts.gid],
        sessionTimeoutSec: 60,
      });
    } catch (e) {
      throw new CliError(`cannot reach the masters (${masters.join(', ')}): ${errorMessage(e)}`);
    }
  }
}

function errorMessage(e: unknown): string {
  if (e instanceof MoosengError) {
    const d = describeFsError(e.code);
    return d !== undefined ? `${d} (${e.code})` : `${e.message} (${e.code})`;
  }
  return e instanceof Error ? e.message : String(e);
}

/** Runs `fn` with a connected client and closes it; file-system errors become `what: Description (CODE)`. */
async function withClient<T>(ctx: Context, fn: (c: MoosengClient) => Promise<T>): Promise<T> {
  const c = await ctx.client();
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

/** Wraps an operation on `path` so that its failure reads `ls /a: No such file or directory (ENOENT)`. */
async function on<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`${what}: ${errorMessage(e)}`);
  }
}

function checkPath(cmd: string, path: string): void {
  try {
    splitPath(path);
  } catch {
    throw new CliError(`${cmd} ${path}: paths are absolute in mooseng (start with /)`, exitUsage);
  }
}

function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
}

/** Attributes of many inodes, a batch at a time. */
async function attrsOf(c: MoosengClient, inodes: readonly number[]): Promise<Attr[]> {
  const out: Attr[] = [];
  for (let i = 0; i < inodes.length; i += attrBatch) out.push(...(await Promise.all(inodes.slice(i, i + attrBatch).map((n) => c.getattr(n)))));
  return out;
}

// ------------------------------------------------------------------ file-system commands

async function cmdLs(ctx: Context, path: string, o: { long: boolean }): Promise<void> {
  checkPath('ls', path);
  await withClient(ctx, async (c) => {
    const attr = await on(`ls ${path}`, () => c.resolve(path));
    let rows: { name: string; attr: Attr | undefined; inode: number; type: number }[];
    if (attr.type === NodeType.directory) {
      const entries = await on(`ls ${path}`, () => c.readdir(attr.inode));
      const attrs = o.long ? await on(`ls ${path}`, () => attrsOf(c, entries.map((e) => e.inode))) : [];
      rows = entries.map((e, i) => ({ name: e.name, attr: attrs[i], inode: e.inode, type: e.type }));
    } else {
      rows = [{ name: path, attr, inode: attr.inode, type: attr.type }];
    }
    const targets = new Map<number, string>();
    if (o.long) {
      for (const r of rows) if (r.type === NodeType.symlink) targets.set(r.inode, await on(`ls ${path}`, () => c.readlink(r.inode)));
    }
    if (ctx.json) {
      ctx.printJson(
        rows.map((r) =>
          o.long && r.attr !== undefined
            ? { name: r.name, ...attrJson(r.attr), ...(targets.has(r.inode) ? { target: targets.get(r.inode) } : {}) }
            : { name: r.name, inode: r.inode, type: typeName(r.type) },
        ),
      );
      return;
    }
    if (!o.long) {
      for (const r of rows) ctx.print(r.name);
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const lines = columns(
      rows.map((r) => lsLongFields(r.name, r.attr!, now, targets.get(r.inode))),
      new Set([1, 4]),
    );
    if (attr.type === NodeType.directory) ctx.print(`total ${rows.length}`);
    for (const l of lines) ctx.print(l);
  });
}

async function cmdMkdir(ctx: Context, path: string, o: { parents: boolean; mode?: number }): Promise<void> {
  checkPath('mkdir', path);
  const mode = o.mode ?? 0o755;
  await withClient(ctx, async (c) => {
    let attr: Attr;
    if (!o.parents) {
      const { parent, name } = await on(`mkdir ${path}`, () => c.resolveParent(path));
      attr = await on(`mkdir ${path}`, () => c.mkdir(parent, name, { mode }));
    } else {
      attr = await c.getattr(rootInode);
      let sofar = '';
      for (const part of splitPath(path)) {
        sofar += `/${part}`;
        const here = sofar;
        const parent = attr.inode;
        try {
          attr = await c.lookup(parent, part);
        } catch (e) {
          if (!(e instanceof MoosengError) || e.code !== 'ENOENT') throw new CliError(`mkdir ${here}: ${errorMessage(e)}`);
          try {
            attr = await c.mkdir(parent, part, { mode });
          } catch (e2) {
            // Someone else made it in between: fine when it is a directory.
            if (!(e2 instanceof MoosengError) || e2.code !== 'EEXIST') throw new CliError(`mkdir ${here}: ${errorMessage(e2)}`);
            attr = await on(`mkdir ${here}`, () => c.lookup(parent, part));
          }
        }
        if (attr.type !== NodeType.directory) throw new CliError(`mkdir ${here}: ${describeFsError('ENOTDIR')} (ENOTDIR)`);
      }
    }
    if (ctx.json) ctx.printJson({ path, ...attrJson(attr) });
  });
}

async function cmdTouch(ctx: Context, path: string): Promise<void> {
  checkPath('touch', path);
  await withClient(ctx, async (c) => {
    const { parent, name } = await on(`touch ${path}`, () => c.resolveParent(path));
    let attr: Attr;
    let created = true;
    try {
      attr = await c.create(parent, name);
    } catch (e) {
      if (!(e instanceof MoosengError) || e.code !== 'EEXIST') throw new CliError(`touch ${path}: ${errorMessage(e)}`);
      // An existing node is left as it is (the SDK has no call that sets times to now).
      attr = await on(`touch ${path}`, () => c.lookup(parent, name));
      created = false;
    }
    if (ctx.json) ctx.printJson({ path, created, ...attrJson(attr) });
  });
}

async function cmdStat(ctx: Context, path: string): Promise<void> {
  checkPath('stat', path);
  await withClient(ctx, async (c) => {
    const a = await on(`stat ${path}`, () => c.resolve(path));
    const target = a.type === NodeType.symlink ? await on(`stat ${path}`, () => c.readlink(a.inode)) : undefined;
    if (ctx.json) {
      ctx.printJson({ path, ...attrJson(a), ...(target === undefined ? {} : { target }) });
      return;
    }
    ctx.print(`  File: ${path}${target === undefined ? '' : ` -> ${target}`}`);
    ctx.print(`  Type: ${typeName(a.type)}  Inode: ${a.inode}  Links: ${a.nlink}  Size: ${a.lengthBytes}`);
    ctx.print(`Access: (${octalMode(a.mode)}/${modeString(a.type, a.mode)})  Uid: ${a.uid}  Gid: ${a.gid}`);
    ctx.print(`  Goal: ${a.goal}  Trash time: ${a.trashTimeSec} s`);
    ctx.print(`Access: ${isoTime(a.atimeSec)}`);
    ctx.print(`Modify: ${isoTime(a.mtimeSec)}`);
    ctx.print(`Change: ${isoTime(a.ctimeSec)}`);
  });
}

async function cmdMv(ctx: Context, src: string, dst: string): Promise<void> {
  checkPath('mv', src);
  checkPath('mv', dst);
  await withClient(ctx, async (c) => {
    const what = `mv ${src} ${dst}`;
    const from = await on(what, () => c.resolveParent(src));
    // Like mv(1): a destination that is a directory receives the source under its own name.
    let target = dst;
    try {
      const d = await c.resolve(dst);
      if (d.type === NodeType.directory && splitPath(dst).length > 0) target = joinPath(dst, from.name);
      else if (d.type === NodeType.directory) target = `/${from.name}`;
    } catch (e) {
      if (!(e instanceof MoosengError) || e.code !== 'ENOENT') throw new CliError(`${what}: ${errorMessage(e)}`);
    }
    const to = await on(what, () => c.resolveParent(target));
    const attr = await on(what, () => c.rename(from.parent, from.name, to.parent, to.name));
    if (ctx.json) ctx.printJson({ from: src, to: target, ...attrJson(attr) });
  });
}

async function cmdRm(ctx: Context, path: string, o: { recursive: boolean; force: boolean }): Promise<void> {
  checkPath('rm', path);
  if (splitPath(path).length === 0) throw new CliError('rm /: refusing to remove the root directory', exitUsage);
  await withClient(ctx, async (c) => {
    let removed = 0;
    const removeTree = async (dir: number, shown: string, depth: number): Promise<void> => {
      if (depth > walkDepthMax) throw new CliError(`rm ${shown}: deeper than ${walkDepthMax} levels; remove it in parts`);
      // One page at a time: the entries are removed as they are listed, so always read from the start.
      for (;;) {
        const entries = await on(`rm ${shown}`, () => c.readdir(dir, 1000));
        if (entries.length === 0) return;
        for (const e of entries) {
          const child = joinPath(shown, e.name);
          if (e.type === NodeType.directory) {
            await removeTree(e.inode, child, depth + 1);
            await on(`rm ${child}`, () => c.rmdir(dir, e.name));
          } else {
            await on(`rm ${child}`, () => c.unlink(dir, e.name));
          }
          removed++;
        }
      }
    };
    let attr: Attr;
    try {
      attr = await c.resolve(path);
    } catch (e) {
      if (o.force && e instanceof MoosengError && e.code === 'ENOENT') {
        if (ctx.json) ctx.printJson({ path, removed: 0 });
        return;
      }
      throw new CliError(`rm ${path}: ${errorMessage(e)}`);
    }
    const { parent, name } = await on(`rm ${path}`, () => c.resolveParent(path));
    if (attr.type === NodeType.directory) {
      if (!o.recursive) throw new CliError(`rm ${path}: ${describeFsError('EISDIR')} (EISDIR); use rm -r to remove a directory and everything in it`);
      await removeTree(attr.inode, path, 1);
      await on(`rm ${path}`, () => c.rmdir(parent, name));
    } else {
      await on(`rm ${path}`, () => c.unlink(parent, name));
    }
    removed++;
    if (ctx.json) ctx.printJson({ path, removed });
  });
}

async function cmdLn(ctx: Context, target: string, path: string, o: { symbolic: boolean }): Promise<void> {
  checkPath('ln', path);
  if (!o.symbolic) checkPath('ln', target);
  await withClient(ctx, async (c) => {
    const what = `ln ${o.symbolic ? '-s ' : ''}${target} ${path}`;
    const { parent, name } = await on(what, () => c.resolveParent(path));
    let attr: Attr;
    if (o.symbolic) attr = await on(what, () => c.symlink(parent, name, target));
    else {
      const src = await on(what, () => c.resolve(target));
      attr = await on(what, () => c.link(src.inode, parent, name));
    }
    if (ctx.json) ctx.printJson({ path, ...(o.symbolic ? { target } : {}), ...attrJson(attr) });
  });
}

interface JsonTree {
  name: string;
  inode: number;
  type: string;
  target?: string;
  truncated?: boolean;
  children?: JsonTree[];
}

async function cmdTree(ctx: Context, path: string, o: { depth: number }): Promise<void> {
  checkPath('tree', path);
  await withClient(ctx, async (c) => {
    let count = 0;
    let dirs = 0;
    let files = 0;
    let cut = false;
    const walk = async (name: string, attr: Pick<Attr, 'inode' | 'type'>, shown: string, depth: number): Promise<JsonTree> => {
      const node: JsonTree = { name, inode: attr.inode, type: typeName(attr.type) };
      if (attr.type === NodeType.symlink) node.target = await on(`tree ${shown}`, () => c.readlink(attr.inode));
      if (attr.type !== NodeType.directory) return node;
      const entries: DirEntry[] = await on(`tree ${shown}`, () => c.readdir(attr.inode));
      if (depth >= o.depth) {
        if (entries.length > 0) node.truncated = true;
        return node;
      }
      node.children = [];
      for (const e of entries) {
        if (count >= treeEntriesMax) {
          cut = true;
          break;
        }
        count++;
        if (e.type === NodeType.directory) dirs++;
        else files++;
        node.children.push(await walk(e.name, e, joinPath(shown, e.name), depth + 1));
      }
      return node;
    };
    const root = await on(`tree ${path}`, () => c.resolve(path));
    const tree = await walk(path, root, path, 0);
    if (ctx.json) {
      ctx.printJson({ ...tree, directories: dirs, files, ...(cut ? { cutAtEntries: treeEntriesMax } : {}) });
      return;
    }
    const toNode = (t: JsonTree): TreeNode => ({
      name: t.name,
      type: 0,
      ...(t.target === undefined ? {} : { target: t.target }),
      ...(t.truncated === true ? { truncated: true } : {}),
      ...(t.children === undefined ? {} : { children: t.children.map(toNode) }),
    });
    for (const l of drawTree(toNode(tree))) ctx.print(l);
    ctx.print();
    ctx.print(`${dirs} ${dirs === 1 ? 'directory' : 'directories'}, ${files} ${files === 1 ? 'file' : 'files'}${cut ? ` (stopped at ${treeEntriesMax} entries)` : ''}`);
  });
}

async function cmdDf(ctx: Context): Promise<void> {
  await withClient(ctx, async (c) => {
    const t = await on('df', () => c.statfs());
    if (ctx.json) {
      ctx.printJson(t);
      return;
    }
    const rows: [string, string][] = [
      ['inodes', String(t.inodes)],
      ['directories', String(t.directories)],
      ['files', String(t.files)],
      ['symlinks', String(t.symlinks)],
      ['other nodes', String(t.otherNodes)],
      ['file bytes', String(t.fileLengthBytes)],
      ['trash files', String(t.trashFiles)],
      ['trash bytes', String(t.trashLengthBytes)],
      ['sustained files', String(t.sustainedFiles)],
      ['sustained bytes', String(t.sustainedLengthBytes)],
      ['chunks', String(t.chunks)],
    ];
    for (const l of columns(rows, new Set([1]), 2)) ctx.print(l);
  });
}

// ------------------------------------------------------------------ admin endpoint

interface StatusDoc {
  readonly node: number;
  readonly cluster: string;
  readonly role: string;
  readonly term: number;
  readonly leader: number;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly conf: { readonly voters: readonly number[]; readonly learners: readonly number[]; readonly votersOutgoing: readonly number[]; readonly learnersNext: readonly number[] };
  readonly members: readonly { readonly id: number; readonly peer: string; readonly client: string; readonly admin: string; readonly removed?: boolean }[];
  readonly progress: readonly { readonly id: number; readonly match: number; readonly next: number; readonly state: string; readonly lag: number }[];
}

async function httpJson(
  url: string,
  init: { method?: string; token?: string; body?: unknown; timeoutMs?: number } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = {};
  if (init.token !== undefined) headers['authorization'] = `Bearer ${init.token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    headers,
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    signal: AbortSignal.timeout(init.timeoutMs ?? adminTimeoutMs),
  });
  const text = await res.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { error: 'ERR_BAD_RESPONSE', message: text.slice(0, 200) };
  }
  return { status: res.status, body };
}

function networkError(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code !== undefined) return cause.code;
  if (e instanceof Error && e.name === 'TimeoutError') return 'no answer in time';
  return e instanceof Error ? e.message : String(e);
}

interface Fetched {
  readonly admin: string;
  readonly doc?: StatusDoc;
  readonly error?: string;
}

/** /status of every admin endpoint given, and of members those name that were not given. */
async function fetchStatuses(ctx: Context): Promise<Fetched[]> {
  const get = async (admin: string): Promise<Fetched> => {
    try {
      const r = await httpJson(`http://${admin}/status`, { timeoutMs: Math.min(adminTimeoutMs, ctx.opts.timeout) });
      if (r.status !== 200) return { admin, error: `HTTP ${r.status}: ${String(r.body['message'] ?? '')}` };
      return { admin, doc: r.body as unknown as StatusDoc };
    } catch (e) {
      return { admin, error: networkError(e) };
    }
  };
  const first = await Promise.all(ctx.admins().map(get));
  const seen = new Set(first.map((f) => f.admin));
  const more = new Set<string>();
  for (const f of first) for (const m of f.doc?.members ?? []) if (m.removed !== true && m.admin !== '' && !seen.has(m.admin)) more.add(m.admin);
  return [...first, ...(await Promise.all([...more].map(get)))];
}

function leaderOf(fetched: readonly Fetched[]): StatusDoc | undefined {
  let best: StatusDoc | undefined;
  for (const f of fetched) if (f.doc?.role === 'leader' && (best === undefined || f.doc.term > best.term)) best = f.doc;
  return best;
}

async function cmdStatus(ctx: Context): Promise<number> {
  const fetched = await fetchStatuses(ctx);
  const leader = leaderOf(fetched);
  // The ids of unreachable endpoints, from the member lists of those that answered.
  const idOfAdmin = new Map<string, number>();
  for (const f of fetched) for (const m of f.doc?.members ?? []) idOfAdmin.set(m.admin, m.id);
  for (const m of ctx.cluster()?.masters ?? []) if (!idOfAdmin.has(m.admin)) idOfAdmin.set(m.admin, m.id);
  const conf = leader?.conf;
  const membership = (id: number): string =>
    conf === undefined ? '' : conf.voters.includes(id) || conf.votersOutgoing.includes(id) ? 'voter' : conf.learners.includes(id) || conf.learnersNext.includes(id) ? 'learner' : 'none';
  const rows = fetched.map((f) => {
    const d = f.doc;
    const id = d?.node ?? idOfAdmin.get(f.admin) ?? null;
    if (d === undefined) return { id, admin: f.admin, reachable: false as const, membership: id === null ? '' : membership(id), error: f.error ?? 'no answer' };
    const p = leader?.progress.find((x) => x.id === d.node);
    const lag = leader === undefined ? null : d.node === leader.node ? 0 : p !== undefined ? p.lag : Math.max(0, leader.commit - d.applied);
    return {
      id,
      admin: f.admin,
      reachable: true as const,
      role: d.role,
      membership: membership(d.node),
      isLeader: leader !== undefined && d.node === leader.node,
      term: d.term,
      commit: d.commit,
      applied: d.applied,
      lag,
      leaderId: d.leader,
    };
  });
  rows.sort((a, b) => (a.id ?? Infinity) - (b.id ?? Infinity));
  const reachable = rows.filter((r) => r.reachable).length;
  if (ctx.json) {
    ctx.printJson({ cluster: leader?.cluster ?? fetched.find((f) => f.doc !== undefined)?.doc?.cluster ?? null, leader: leader?.node ?? null, term: leader?.term ?? null, members: rows });
    return reachable > 0 ? exitOk : exitFailed;
  }
  ctx.print(
    leader === undefined
      ? `cluster ${fetched.find((f) => f.doc !== undefined)?.doc?.cluster ?? '?'}: no leader${reachable === 0 ? ' (no master answered)' : ''}`
      : `cluster ${leader.cluster}: leader master ${leader.node}, term ${leader.term}, commit ${leader.commit}`,
  );
  const table: string[][] = [['ID', 'ROLE', 'MEMBER', 'TERM', 'COMMIT', 'APPLIED', 'LAG', 'ADMIN']];
  for (const r of rows) {
    const mark = r.reachable && r.isLeader ? '*' : ' ';
    const id = `${mark}${r.id ?? '?'}`;
    if (!r.reachable) table.push([id, 'down', r.membership || '-', '-', '-', '-', '-', `${r.admin}  (${r.error})`]);
    else table.push([id, r.role, r.membership || '-', String(r.term), String(r.commit), String(r.applied), r.lag === null ? '-' : String(r.lag), r.admin]);
  }
  for (const l of columns(table, new Set([0, 3, 4, 5, 6]), 2)) ctx.print(l);
  return reachable > 0 ? exitOk : exitFailed;
}

/**
 * POSTs an admin operation to the leader: tries the endpoints in turn and follows a refusal that
 * names the leader (HTTP 421 with `leaderAdmin`). Throws a CliError with the server's message.
 */
async function adminPost(ctx: Context, op: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const token = ctx.token();
  const queue = [...ctx.admins()];
  const tried = new Set<string>();
  const problems: string[] = [];
  // Each endpoint once, plus the leaders they point at: bounded by the number of distinct addresses.
  while (queue.length > 0) {
    const admin = queue.shift()!;
    if (tried.has(admin)) continue;
    tried.add(admin);
    let r: { status: number; body: Record<string, unknown> };
    try {
      r = await httpJson(`http://${admin}/admin/${op}`, { method: 'POST', token, body, timeoutMs: 30_000 });
    } catch (e) {
      problems.push(`${admin}: ${networkError(e)}`);
      continue;
    }
    if (r.status === 200) return r.body;
    if (r.status === 421) {
      const hint = r.body['leaderAdmin'];
      if (typeof hint === 'string' && hint !== '') queue.unshift(hint);
      problems.push(`${admin}: ${String(r.body['message'] ?? 'not the leader')}`);
      continue;
    }
    throw new AdminFailure(r.status, String(r.body['error'] ?? `HTTP ${r.status}`), String(r.body['message'] ?? ''), r.body);
  }
  throw new CliError(`${op}: no leader accepted the request: ${problems.join('; ')}`);
}

class AdminFailure extends CliError {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: Record<string, unknown>,
  ) {
    super(`${message} (${code})`);
  }
}

/**
 * Waits until member `id`'s replicated log reaches the leader's commit index, as the leader's
 * progress reports it, drawing a progress bar on a terminal. Throws after `waitSec`.
 */
async function waitCaughtUp(ctx: Context, id: number, waitSec: number): Promise<{ match: number; commit: number }> {
  const deadline = Date.now() + waitSec * 1000;
  const tty = ctx.io.isTTY && !ctx.json;
  let firstLag: number | undefined;
  let last = { match: 0, commit: 0 };
  let drawn = false;
  if (!tty && !ctx.json) ctx.print(`waiting for master ${id} to catch up with the leader...`);
  try {
    while (Date.now() < deadline) {
      const leader = leaderOf(await fetchStatuses(ctx));
      const p = leader?.progress.find((x) => x.id === id);
      if (leader !== undefined && p !== undefined) {
        last = { match: p.match, commit: leader.commit };
        const lag = Math.max(0, leader.commit - p.match);
        firstLag ??= lag;
        if (tty) {
          const fraction = firstLag === 0 ? 1 : 1 - lag / firstLag;
          ctx.io.out(`\rmaster ${id} catching up ${progressBar(fraction)}  match ${p.match} / commit ${leader.commit}   `);
          drawn = true;
        }
        if (p.match >= leader.commit) {
          if (!ctx.json) {
            if (drawn) ctx.io.out('\n');
            ctx.print(`master ${id} caught up: match ${p.match}, leader commit ${leader.commit}`);
          }
          return last;
        }
      }
      await new Promise((r) => setTimeout(r, waitPollMs));
    }
  } catch (e) {
    if (drawn) ctx.io.out('\n');
    throw e;
  }
  if (drawn) ctx.io.out('\n');
  throw new CliError(`master ${id} did not catch up within ${waitSec} s (match ${last.match}, leader commit ${last.commit}): is it running, and can the leader reach its peer address?`);
}

async function cmdAddLearner(ctx: Context, o: { id: number; peer: string; client: string; admin: string; wait: boolean; waitTimeout: number }): Promise<void> {
  const r = await on('member add-learner', () => adminPost(ctx, 'add-learner', { id: o.id, peer: o.peer, client: o.client, admin: o.admin }));
  if (!ctx.json) ctx.print(`master ${o.id} added as a learner (peer ${o.peer}, client ${o.client}, admin ${o.admin})`);
  const caught = o.wait ? await waitCaughtUp(ctx, o.id, o.waitTimeout) : undefined;
  if (ctx.json) ctx.printJson({ ...r, ...(caught === undefined ? {} : { caughtUp: caught }) });
  else if (!o.wait) ctx.print(`promote it once it has caught up: mooseng member promote --id ${o.id} --wait`);
}

async function cmdPromote(ctx: Context, o: { id: number; force: boolean; wait: boolean; waitTimeout: number }): Promise<void> {
  let r: Record<string, unknown>;
  try {
    r = await adminPost(ctx, 'promote', { id: o.id, ...(o.force ? { force: true } : {}) });
  } catch (e) {
    if (!(e instanceof AdminFailure) || e.code !== 'ERR_LEARNER_BEHIND') throw e;
    if (!o.wait) throw new CliError(`${e.message}; add --wait to wait until it has caught up (or --force)`);
    await waitCaughtUp(ctx, o.id, o.waitTimeout);
    r = await adminPost(ctx, 'promote', { id: o.id });
  }
  if (ctx.json) ctx.printJson(r);
  else ctx.print(`master ${o.id} is now a voter`);
}

async function cmdSimpleAdmin(ctx: Context, op: string, body: Record<string, unknown>, done: (r: Record<string, unknown>) => string): Promise<void> {
  const r = await adminPost(ctx, op, body);
  if (ctx.json) ctx.printJson(r);
  else ctx.print(done(r));
}

// ------------------------------------------------------------------ the program

const commonKeys = new Set(['masters', 'admin', 'tokenFile', 'cluster', 'json', 'timeout', 'uid', 'gid']);

/** The global options; on subcommands without defaults, so that a value given before the command is not overridden. */
function addCommon(cmd: Command, o: { admin: boolean; hidden: boolean }): void {
  const opts = [
    new Option('--masters <list>', 'client addresses of masters, host:port,... (default: $MOOSENG_MASTERS, else the cluster file)'),
    ...(o.admin ? [new Option('--admin <list>', 'admin addresses of masters, host:port,... (default: $MOOSENG_ADMIN, else the cluster file)')] : []),
    new Option('--token-file <file>', 'the admin token, for member commands (default: $MOOSENG_TOKEN_FILE, else the cluster file)'),
    new Option('--cluster <file>', 'cluster file written by npm start (default: $MOOSENG_CLUSTER, else ./data/cluster.json)'),
    new Option('--json', 'print JSON'),
    new Option('--timeout <ms>', `give up on an operation after this long, retries included (default ${defaultTimeoutMs})`).argParser(parsePositiveInt),
    new Option('--uid <uid>', 'user id for permission checks (default 0)').argParser(parseNonNegativeInt),
    new Option('--gid <gid>', 'group id for permission checks (default 0)').argParser(parseNonNegativeInt),
  ];
  for (const x of opts) cmd.addOption(o.hidden ? x.hideHelp() : x);
}

function buildProgram(io: CliIo, setStatus: (code: number) => void): Command {
  const program = new Command();
  program
    .name('mooseng')
    .description('Client of a mooseng group: the MooseFS namespace (ls, mkdir, mv, rm...) and the cluster (status, member...)')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError('(mooseng --help lists the commands and options)')
    // Each command takes the global options too (addCommon), so they may come before or after it;
    // positional parsing keeps `member add-learner --admin` (the new member's address) apart from the global --admin.
    .enablePositionalOptions();
  addCommon(program, { admin: true, hidden: false });

  /** The options of a command and its ancestors, the innermost given value winning, defaults last. */
  const ctxOf = (cmd: Command, o: { leafAdmin: boolean } = { leafAdmin: true }): Context => {
    const chain: Command[] = [];
    for (let c: Command | null = cmd; c !== null; c = c.parent) chain.unshift(c);
    const merged: Record<string, unknown> = {};
    for (const c of chain) {
      for (const [k, v] of Object.entries(c.opts())) {
        if (v === undefined || (k === 'admin' && c === cmd && !o.leafAdmin)) continue;
        if (commonKeys.has(k)) merged[k] = v;
      }
    }
    const opts: GlobalOptions = {
      json: merged['json'] === true,
      timeout: (merged['timeout'] as number | undefined) ?? defaultTimeoutMs,
      uid: (merged['uid'] as number | undefined) ?? 0,
      gid: (merged['gid'] as number | undefined) ?? 0,
    };
    for (const k of ['masters', 'admin', 'tokenFile', 'cluster'] as const) if (typeof merged[k] === 'string') opts[k] = merged[k];
    return new Context(io, opts);
  };
  const command = (parent: Command, name: string, o: { admin: boolean } = { admin: true }): Command => {
    const c = parent.command(name);
    addCommon(c, { admin: o.admin, hidden: true });
    return c;
  };
  const parseMode = (v: string): number => {
    if (!/^[0-7]{1,4}$/.test(v)) throw new InvalidArgumentError('an octal mode such as 755');
    return parseInt(v, 8);
  };

  command(program, 'ls')
    .description('list a directory (or show a file)')
    .argument('[path]', 'absolute path', '/')
    .option('-l, --long', 'long format: mode, links, uid, gid, size, modification time', false)
    .action((path: string, o: { long: boolean }, cmd: Command) => cmdLs(ctxOf(cmd), path, o));
  command(program, 'mkdir')
    .description('make a directory')
    .argument('<path>')
    .option('-p, --parents', 'make missing parents; no error if it exists', false)
    .option('-m, --mode <octal>', 'permission bits (umask 022 applies)', parseMode)
    .action((path: string, o: { parents: boolean; mode?: number }, cmd: Command) => cmdMkdir(ctxOf(cmd), path, o));
  command(program, 'touch')
    .description('create an empty file (an existing one is left as it is)')
    .argument('<path>')
    .action((path: string, _o: unknown, cmd: Command) => cmdTouch(ctxOf(cmd), path));
  command(program, 'stat')
    .description('show the attributes of a file or directory')
    .argument('<path>')
    .action((path: string, _o: unknown, cmd: Command) => cmdStat(ctxOf(cmd), path));
  command(program, 'mv')
    .description('rename or move (into DST when it is a directory)')
    .argument('<src>')
    .argument('<dst>')
    .action((src: string, dst: string, _o: unknown, cmd: Command) => cmdMv(ctxOf(cmd), src, dst));
  command(program, 'rm')
    .description('remove a file or symlink; a directory and everything in it with -r')
    .argument('<path>')
    .option('-r, --recursive', 'remove directories and their contents', false)
    .option('-f, --force', 'no error if it does not exist', false)
    .action((path: string, o: { recursive: boolean; force: boolean }, cmd: Command) => cmdRm(ctxOf(cmd), path, o));
  command(program, 'rmdir')
    .description('remove an empty directory')
    .argument('<path>')
    .action(async (path: string, _o: unknown, cmd: Command) => {
      checkPath('rmdir', path);
      const ctx = ctxOf(cmd);
      await withClient(ctx, async (c) => {
        const { parent, name } = await on(`rmdir ${path}`, () => c.resolveParent(path));
        await on(`rmdir ${path}`, () => c.rmdir(parent, name));
        if (ctx.json) ctx.printJson({ path, removed: 1 });
      });
    });
  command(program, 'ln')
    .description('make a hard link to TARGET, or a symbolic link with -s')
    .argument('<target>')
    .argument('<path>')
    .option('-s, --symbolic', 'make a symbolic link (TARGET is stored as given)', false)
    .action((target: string, path: string, o: { symbolic: boolean }, cmd: Command) => cmdLn(ctxOf(cmd), target, path, o));
  command(program, 'tree')
    .description('show a directory tree')
    .argument('[path]', 'absolute path', '/')
    .option('-L, --depth <n>', 'levels to descend', parsePositiveInt, treeDepthDefault)
    .action((path: string, o: { depth: number }, cmd: Command) => cmdTree(ctxOf(cmd), path, o));
  command(program, 'df')
    .description('namespace totals: inodes, files, directories, bytes, trash')
    .action((_o: unknown, cmd: Command) => cmdDf(ctxOf(cmd)));

  command(program, 'status')
    .description('every master: role, membership, term, commit, applied, lag behind the leader (* marks the leader)')
    .action(async (_o: unknown, cmd: Command) => setStatus(await cmdStatus(ctxOf(cmd))));

  const member = program.command('member').description('membership changes (need the admin token)').enablePositionalOptions();
  addCommon(member, { admin: true, hidden: true });
  const waitTimeout = (): Option => new Option('--wait-timeout <sec>', 'give up waiting after this long').argParser(parsePositiveInt).default(defaultWaitSec);
  command(member, 'add-learner', { admin: false })
    .description('add a master as a learner (receives the log, does not vote); start it with an empty data directory')
    .requiredOption('--id <n>', 'its node id (never reuse a removed one)', parsePositiveInt)
    .requiredOption('--peer <host:port>', 'its peer address')
    .requiredOption('--client <host:port>', 'its client address')
    .requiredOption('--admin <host:port>', 'its admin address')
    .option('--wait', 'then wait until it has caught up with the leader, showing progress', false)
    .addOption(waitTimeout())
    // Its --admin is the new member's address; the endpoints to talk to come from the global --admin (before the command).
    .action((o: { id: number; peer: string; client: string; admin: string; wait: boolean; waitTimeout: number }, cmd: Command) =>
      cmdAddLearner(ctxOf(cmd, { leafAdmin: false }), o),
    );
  command(member, 'promote')
    .description(`make a learner a voter (refused while it is more than ${promoteLagMax} entries behind, unless --force)`)
    .requiredOption('--id <n>', 'its node id', parsePositiveInt)
    .option('--force', 'promote even if it is behind', false)
    .option('--wait', 'if it is behind, wait until it has caught up, showing progress, then promote', false)
    .addOption(waitTimeout())
    .action((o: { id: number; force: boolean; wait: boolean; waitTimeout: number }, cmd: Command) => cmdPromote(ctxOf(cmd), o));
  command(member, 'remove')
    .description('remove a master from the group (the leader too: it steps down)')
    .requiredOption('--id <n>', 'its node id', parsePositiveInt)
    .action((o: { id: number }, cmd: Command) => cmdSimpleAdmin(ctxOf(cmd), 'remove', { id: o.id }, () => `master ${o.id} removed`));
  command(program, 'transfer-leader')
    .description('hand the leadership to another voter')
    .requiredOption('--id <n>', 'the new leader', parsePositiveInt)
    .action((o: { id: number }, cmd: Command) => cmdSimpleAdmin(ctxOf(cmd), 'transfer-leader', { id: o.id }, () => `master ${o.id} is the leader`));
  command(program, 'snapshot')
    .description('make the leader write a snapshot of the metadata now')
    .action((_o: unknown, cmd: Command) => cmdSimpleAdmin(ctxOf(cmd), 'snapshot', {}, (r) => `snapshot written at index ${String(r['index'])}`));
  return program;
}

/** Runs the CLI with `argv` (without `node` and the script) and returns the exit status. */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  let status = exitOk;
  const program = buildProgram(io, (code) => (status = code));
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return status;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version end with exit code 0; every other parse error is a usage error.
      return e.exitCode === 0 ? exitOk : exitUsage;
    }
    if (e instanceof CliError) {
      io.err(`mooseng: ${e.message}\n`);
      return e.exitCode;
    }
    io.err(`mooseng: ${errorMessage(e)}\n`);
    return exitFailed;
  }
}

export function processIo(): CliIo {
  return {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    isTTY: process.stdout.isTTY === true,
    env: process.env,
    cwd: process.cwd(),
  };
}

// Run when executed directly (`node --import tsx src/cli/mooseng.ts`); bin/mooseng.mjs imports main.
if (process.argv[1] !== undefined && resolvePath(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
