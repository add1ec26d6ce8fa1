/**
 * Differential test against the Linux file system: the same random operations run on the state
 * machine and on a real temporary directory through node:fs, as root; every result (success or
 * errno code) and the final trees must match.
 *
 * Deliberate differences, and why:
 * - Timestamps and directory sizes are not compared: they depend on the clock and the local file
 *   system, not on the semantics under test.
 * - Symlink targets are always dangling absolute paths (/nonexistent-mooseng/...). Following
 *   symlinks during path walk is the client's business, not the master's; with dangling targets a
 *   followed symlink answers ENOENT on both sides, which the path walk below reproduces.
 * - '.' and '..' appear only as the last component of paths at least two deep, so they never name
 *   the temporary directory's own parent.
 * - readdir order is the file system's hash order on Linux and name order here: names are
 *   compared as sorted lists.
 * - No fifos, sockets or devices (node:fs cannot create them); unit tests cover mknod.
 * - node's truncateSync is open(O_RDWR) + ftruncate, which gives the same errors as truncate(2)
 *   for the node types used here.
 * - Permission checks are not exercised (root may do everything); permissions.test.ts covers them.
 * - Trash: the state machine runs with MooseFS's default trash time (86 400 s), so a file that
 *   loses its last name goes to the trash where Linux frees it. Trashed files have no name, so no
 *   path walk, readdir or tree comparison can see them: every compared result is still like for
 *   like. What differs is only the inode count, and the test checks exactly that difference:
 *   live inodes = root + every node in the tree (hard links counted once) + trashed files.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { MetadataState, NodeType, SetAttr, defaultRootTrashTimeSec, noSession, rootInode, type Command } from '../../src/master/index.ts';
import type { CommandBody } from './helpers.ts';

const umask = 0o022;
const danglingPrefix = '/nonexistent-mooseng/';
const caller = { uid: 0, gids: [0] };

type Path = readonly string[];
type Op =
  | { op: 'mkdir'; p: Path; mode: number }
  | { op: 'create'; p: Path; mode: number }
  | { op: 'symlink'; target: string; p: Path }
  | { op: 'link'; from: Path; p: Path }
  | { op: 'unlink'; p: Path }
  | { op: 'rmdir'; p: Path }
  | { op: 'rename'; from: Path; p: Path }
  | { op: 'chmod'; p: Path; mode: number }
  | { op: 'truncate'; p: Path; length: number }
  | { op: 'readdir'; p: Path }
  | { op: 'stat'; p: Path };

const component = fc.constantFrom('a', 'b', 'c');
const plainPath = fc.oneof(
  { weight: 3, arbitrary: fc.array(component, { minLength: 1, maxLength: 1 }) },
  { weight: 3, arbitrary: fc.array(component, { minLength: 2, maxLength: 2 }) },
  { weight: 1, arbitrary: fc.array(component, { minLength: 3, maxLength: 3 }) },
);
const anyPath = fc.oneof(
  { weight: 6, arbitrary: plainPath },
  { weight: 1, arbitrary: fc.tuple(fc.array(component, { minLength: 1, maxLength: 1 }), fc.constantFrom('.', '..')).map(([p, d]) => [...p, d]) },
);
const mode = fc.constantFrom(0o755, 0o700, 0o644, 0o000, 0o1777, 0o2755, 0o4711, 0o777);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('mkdir' as const), p: anyPath, mode }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('create' as const), p: anyPath, mode }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('symlink' as const), target: fc.constantFrom('x', 'yy/z'), p: anyPath }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('link' as const), from: anyPath, p: anyPath }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('unlink' as const), p: anyPath }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('rmdir' as const), p: anyPath }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('rename' as const), from: anyPath, p: anyPath }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('chmod' as const), p: anyPath, mode }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), p: anyPath, length: fc.constantFrom(0, 1, 4096, 1 << 20) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('readdir' as const), p: anyPath }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('stat' as const), p: anyPath }) },
);

type Outcome = string;

/** The metadata side: a path walk over lookups, then one command. */
class Model {
  readonly state = new MetadataState({ rootTrashTimeSec: defaultRootTrashTimeSec });
  private index = 0;
  private timeSec = 1_000;

  private apply(body: CommandBody): Outcome {
    const c = { timeSec: ++this.timeSec, uid: 0, gids: [0], session: noSession, ...body } as Command;
    const r = this.state.apply(c, { index: ++this.index });
    return r.ok ? 'OK' : r.code;
  }

  /** Walks every component but the last; intermediate symlinks dangle, hence ENOENT. */
  parentOf(p: Path): { dir: number; name: string } | Outcome {
    let dir = rootInode;
    for (const name of p.slice(0, -1)) {
      const r = this.state.lookup(dir, name, caller);
      if (!r.ok) return r.code;
      if (r.attr.type === NodeType.symlink) return 'ENOENT';
      if (r.attr.type !== NodeType.directory) return 'ENOTDIR';
      dir = r.inode;
    }
    return { dir, name: p[p.length - 1] ?? '' };
  }

  resolve(p: Path, follow: boolean): number | Outcome {
    const at = this.parentOf(p);
    if (typeof at === 'string') return at;
    const r = this.state.lookup(at.dir, at.name, caller);
    if (!r.ok) return r.code;
    if (follow && r.attr.type === NodeType.symlink) return 'ENOENT';
    return r.inode;
  }

  run(o: Op): Outcome {
    switch (o.op) {
      case 'mkdir':
      case 'create': {
        const at = this.parentOf(o.p);
        if (typeof at === 'string') return at;
        return this.apply({ kind: o.op, parent: at.dir, name: at.name, mode: o.mode, umask });
      }
      case 'symlink': {
        const at = this.parentOf(o.p);
        if (typeof at === 'string') return at;
        return this.apply({ kind: 'symlink', parent: at.dir, name: at.name, target: danglingPrefix + o.target });
      }
      case 'link': {
        const inode = this.resolve(o.from, false);
        if (typeof inode === 'string') return inode;
        const at = this.parentOf(o.p);
        if (typeof at === 'string') return at;
        return this.apply({ kind: 'link', inode, parent: at.dir, name: at.name });
      }
      case 'unlink':
      case 'rmdir': {
        const at = this.parentOf(o.p);
        if (typeof at === 'string') return at;
        return this.apply({ kind: o.op, parent: at.dir, name: at.name });
      }
      case 'rename': {
        const from = this.parentOf(o.from);
        if (typeof from === 'string') return from;
        const to = this.parentOf(o.p);
        if (typeof to === 'string') return to;
        return this.apply({ kind: 'rename', srcParent: from.dir, srcName: from.name, dstParent: to.dir, dstName: to.name });
      }
      case 'chmod': {
        const inode = this.resolve(o.p, true);
        if (typeof inode === 'string') return inode;
        return this.apply({ kind: 'setattr', inode, setMask: SetAttr.mode, mode: o.mode, newUid: 0, newGid: 0, atimeSec: 0, mtimeSec: 0 });
      }
      case 'truncate': {
        const inode = this.resolve(o.p, true);
        if (typeof inode === 'string') return inode;
        return this.apply({ kind: 'truncate', inode, lengthBytes: o.length });
      }
      case 'readdir': {
        const inode = this.resolve(o.p, true);
        if (typeof inode === 'string') return inode;
        const names: string[] = [];
        let cursor: string | null = null;
        do {
          const page = this.state.readdir(inode, caller, cursor, 2);
          if (!page.ok) return page.code;
          names.push(...page.entries.map((e) => e.name));
          cursor = page.cursor;
        } while (cursor !== null);
        return `OK ${names.join(',')}`;
      }
      case 'stat': {
        const inode = this.resolve(o.p, false);
        if (typeof inode === 'string') return inode;
        const r = this.state.getattr(inode);
        if (!r.ok) return r.code;
        return `OK ${describeNode(r.attr.type, r.attr.mode, r.attr.nlink, r.attr.lengthBytes)}`;
      }
    }
  }

  /** Every inode named somewhere below `dir`, each once however many names it has. */
  namedInodes(dir = rootInode, into = new Set<number>()): Set<number> {
    const page = this.state.readdir(dir, caller, null, 65_536);
    assert.ok(page.ok);
    for (const e of page.entries) {
      into.add(e.inode);
      if (e.type === NodeType.directory) this.namedInodes(e.inode, into);
    }
    return into;
  }

  tree(dir = rootInode, prefix = ''): string[] {
    const out: string[] = [];
    const page = this.state.readdir(dir, caller, null, 65_536);
    assert.ok(page.ok);
    for (const e of page.entries) {
      const r = this.state.getattr(e.inode);
      assert.ok(r.ok);
      const a = r.attr;
      const link = a.type === NodeType.symlink ? ` -> ${(this.state.readlink(e.inode) as { target: string }).target}` : '';
      out.push(`${prefix}${e.name} ${describeNode(a.type, a.mode, a.nlink, a.lengthBytes)}${link}`);
      if (a.type === NodeType.directory) out.push(...this.tree(e.inode, `${prefix}${e.name}/`));
    }
    return out;
  }
}

function describeNode(type: number, mode: number, nlink: number, size: number): string {
  const t = type === NodeType.directory ? 'd' : type === NodeType.symlink ? 'l' : type === NodeType.file ? 'f' : '?';
  return `${t} ${(mode & 0o7777).toString(8)} n${nlink}${t === 'd' ? '' : ` s${size}`}`;
}

function fsDescribe(st: fs.Stats): string {
  const t = st.isDirectory() ? NodeType.directory : st.isSymbolicLink() ? NodeType.symlink : st.isFile() ? NodeType.file : 0;
  return describeNode(t, st.mode, st.nlink, st.size);
}

/** The Linux side. */
function runFs(root: string, o: Op): Outcome {
  const raw = (q: Path) => `${root}/${q.join('/')}`;
  try {
    switch (o.op) {
      case 'mkdir':
        fs.mkdirSync(raw(o.p), o.mode);
        return 'OK';
      case 'create':
        fs.closeSync(fs.openSync(raw(o.p), fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_RDONLY, o.mode));
        return 'OK';
      case 'symlink':
        fs.symlinkSync(danglingPrefix + o.target, raw(o.p));
        return 'OK';
      case 'link':
        fs.linkSync(raw(o.from), raw(o.p));
        return 'OK';
      case 'unlink':
        fs.unlinkSync(raw(o.p));
        return 'OK';
      case 'rmdir':
        fs.rmdirSync(raw(o.p));
        return 'OK';
      case 'rename':
        fs.renameSync(raw(o.from), raw(o.p));
        return 'OK';
      case 'chmod':
        fs.chmodSync(raw(o.p), o.mode);
        return 'OK';
      case 'truncate':
        fs.truncateSync(raw(o.p), o.length);
        return 'OK';
      case 'readdir':
        return `OK ${fs.readdirSync(raw(o.p)).sort().join(',')}`;
      case 'stat':
        return `OK ${fsDescribe(fs.lstatSync(raw(o.p)))}`;
    }
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    throw e;
  }
}

function fsTree(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const name of fs.readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    const st = fs.lstatSync(full);
    const link = st.isSymbolicLink() ? ` -> ${fs.readlinkSync(full)}` : '';
    out.push(`${prefix}${name} ${fsDescribe(st)}${link}`);
    if (st.isDirectory()) out.push(...fsTree(full, `${prefix}${name}/`));
  }
  return out;
}

describe('differential: state machine vs Linux file system', () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'mooseng-diff-'));
  after(() => fs.rmSync(base, { recursive: true, force: true }));
  let run = 0;
  const seen = new Map<string, number>();

  test('random operation sequences give the same results and the same tree', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
    const oldUmask = process.umask(umask);
    try {
      fc.assert(
        fc.property(fc.array(opArb, { minLength: 20, maxLength: 30 }), (ops) => {
          const root = path.join(base, String(run++));
          fs.mkdirSync(root, 0o755);
          fs.chmodSync(root, 0o755);
          const model = new Model();
          try {
            ops.forEach((o, i) => {
              const expected = runFs(root, o);
              const actual = model.run(o);
              assert.equal(actual, expected, `op ${i} ${JSON.stringify(o)}`);
              const key = `${o.op} ${actual.split(' ')[0]}`;
              seen.set(key, (seen.get(key) ?? 0) + 1);
              assert.deepEqual(model.state.checkInvariants(), []);
            });
            assert.deepEqual(model.tree(), fsTree(root));
            const totals = model.state.statfs();
            assert.equal(totals.inodes, 1 + model.namedInodes().size + totals.trashFiles, 'inodes not in the tree are in the trash');
            assert.equal(totals.sustainedFiles, 0, 'no session ever opened');
            if (totals.trashFiles > 0) seen.set('trash kept files', (seen.get('trash kept files') ?? 0) + 1);
            const rootStat = fs.statSync(root);
            const rootAttr = model.state.getattr(rootInode);
            assert.ok(rootAttr.ok);
            assert.equal(rootAttr.attr.nlink, rootStat.nlink);
          } finally {
            fs.rmSync(root, { recursive: true, force: true });
          }
        }),
        { seed: 424242, numRuns: 100 },
      );
    } finally {
      process.umask(oldUmask);
    }
    // The generator must reach the interesting outcomes, or the comparison proves little.
    for (const key of [
      'mkdir OK', 'mkdir EEXIST', 'mkdir ENOENT', 'mkdir ENOTDIR', 'create OK', 'create EEXIST', 'link OK', 'link EPERM',
      'unlink OK', 'unlink EISDIR', 'rmdir OK', 'rmdir ENOTEMPTY', 'rmdir EINVAL', 'rmdir ENOTDIR', 'rename OK',
      'rename EINVAL', 'rename ENOTEMPTY', 'rename EBUSY', 'rename EISDIR', 'rename ENOTDIR', 'truncate OK',
      'truncate EISDIR', 'chmod OK', 'readdir OK', 'stat OK', 'symlink OK', 'trash kept files',
    ]) {
      assert.ok((seen.get(key) ?? 0) > 0, `no operation ended in ${key}: ${[...seen.keys()].sort().join(', ')}`);
    }
  });
});
