/**
 * The mooseng CLI against a real group of three master processes: file-system commands with their
 * human and JSON output and exit codes, `status`, membership changes with a fourth master, and a
 * kill -9 of the leader after which the CLI keeps working and every acknowledged file is listed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli, repoRoot, startCluster, type Cluster } from './cluster.ts';

interface StatusJson {
  cluster: string;
  leader: number | null;
  term: number | null;
  members: { id: number | null; reachable: boolean; role?: string; membership: string; isLeader?: boolean; lag?: number | null }[];
}

describe('mooseng CLI on a 3-master group', { timeout: 90_000 }, () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster({ voters: 3, spares: 1 });
  });
  after(async () => {
    await c?.close();
  });

  const ok = async (...args: string[]): Promise<string> => {
    const r = await cli(c, ...args);
    assert.equal(r.code, 0, `mooseng ${args.join(' ')} exited ${r.code}: ${r.err}`);
    assert.equal(r.err, '', `mooseng ${args.join(' ')} wrote to stderr`);
    return r.out;
  };

  it('makes, lists, moves and removes files, with ls-like output', async () => {
    assert.equal(await ok('mkdir', '-p', '/docs/2024'), '');
    assert.equal(await ok('mkdir', '-p', '/docs/2024'), '', 'mkdir -p of an existing directory succeeds');
    await ok('touch', '/docs/2024/report');
    await ok('touch', '/docs/notes');
    await ok('ln', '-s', '/docs/notes', '/docs/latest');
    await ok('ln', '/docs/notes', '/docs/notes.hard');
    assert.equal(await ok('ls', '/docs'), '2024\nlatest\nnotes\nnotes.hard\n');

    const long = (await ok('ls', '-l', '/docs')).split('\n');
    assert.equal(long[0], 'total 4');
    assert.match(long[1]!, /^drwxr-xr-x +2 0 0 +0 [A-Z][a-z]{2} [ \d]\d \d\d:\d\d 2024$/);
    assert.match(long[2]!, /^lrwxrwxrwx +1 0 0 +11 [A-Z][a-z]{2} [ \d]\d \d\d:\d\d latest -> \/docs\/notes$/);
    assert.match(long[3]!, /^-rw-r--r-- +2 0 0 +0 [A-Z][a-z]{2} [ \d]\d \d\d:\d\d notes$/);

    await ok('mv', '/docs/2024/report', '/docs/report-2024');
    await ok('mv', '/docs/notes.hard', '/docs/2024');
    assert.equal(await ok('ls', '/docs/2024'), 'notes.hard\n');
    assert.equal(await ok('tree', '/docs'), ['/docs', '├── 2024', '│   └── notes.hard', '├── latest -> /docs/notes', '├── notes', '└── report-2024', '', '1 directory, 4 files', ''].join('\n'));

    const stat = await ok('stat', '/docs/notes');
    assert.match(stat, /Type: file {2}Inode: \d+ {2}Links: 2 {2}Size: 0/);
    assert.match(stat, /Access: \(0644\/-rw-r--r--\)/);

    await ok('rm', '/docs/latest');
    const refused = await cli(c, 'rm', '/docs');
    assert.equal(refused.code, 1);
    assert.match(refused.err, /^mooseng: rm \/docs: Is a directory \(EISDIR\)/);
    await ok('rm', '-r', '/docs');
    assert.equal(await ok('ls', '/'), '');
    const df = await ok('df');
    // Removed files wait in the trash (their trash time), and count in the totals until then.
    assert.match(df, /^directories +1$/m);
    assert.match(df, /^trash files +2$/m);
  });

  it('prints JSON for scripts', async () => {
    const made = JSON.parse(await ok('--json', 'mkdir', '/j')) as { path: string; type: string; mode: string };
    assert.deepEqual([made.path, made.type, made.mode], ['/j', 'directory', '0755']);
    await ok('touch', '/j/a', '--json');
    const list = JSON.parse(await ok('ls', '-l', '/j', '--json')) as { name: string; type: string; size: number; nlink: number; modeString: string }[];
    assert.deepEqual(
      list.map((e) => [e.name, e.type, e.size, e.nlink, e.modeString]),
      [['a', 'file', 0, 1, '-rw-r--r--']],
    );
    const short = JSON.parse(await ok('--json', 'ls', '/')) as { name: string; type: string }[];
    assert.deepEqual(short.map((e) => [e.name, e.type]), [['j', 'directory']]);
    const tree = JSON.parse(await ok('--json', 'tree', '/j')) as { children: { name: string }[]; files: number };
    assert.deepEqual([tree.children.map((k) => k.name), tree.files], [['a'], 1]);
    const df = JSON.parse(await ok('--json', 'df')) as { files: number; trashFiles: number; directories: number };
    assert.deepEqual([df.files - df.trashFiles, df.directories], [1, 2]);
    await ok('rm', '-r', '/j');
  });

  it('reports errors with their message and exit codes 1 (failed) and 2 (usage)', async () => {
    await ok('mkdir', '/e');
    const exists = await cli(c, 'mkdir', '/e');
    assert.deepEqual([exists.code, exists.err, exists.out], [1, 'mooseng: mkdir /e: File exists (EEXIST)\n', '']);
    const missing = await cli(c, 'ls', '/nope/deeper');
    assert.deepEqual([missing.code, missing.err], [1, 'mooseng: ls /nope/deeper: No such file or directory (ENOENT)\n']);
    const notEmpty = await cli(c, 'touch', '/e/x').then(() => cli(c, 'rmdir', '/e'));
    assert.deepEqual([notEmpty.code, notEmpty.err], [1, 'mooseng: rmdir /e: Directory not empty (ENOTEMPTY)\n']);
    assert.equal((await cli(c, 'ls', 'relative')).code, 2);
    assert.equal((await cli(c, 'frobnicate')).code, 2);
    assert.equal((await cli(c, 'mkdir')).code, 2);
    const noMasters = await main2(['--cluster', join(c.dir, 'absent.json'), 'ls', '/']);
    assert.equal(noMasters.code, 1, noMasters.err);
    assert.match(noMasters.err, /cannot read .*absent\.json/);
    await ok('rm', '-r', '/e');
  });

  it('status shows the three members and one leader', async () => {
    const s = JSON.parse(await ok('--json', 'status')) as StatusJson;
    assert.equal(s.members.length, 3);
    assert.ok(s.members.every((m) => m.reachable && m.membership === 'voter'));
    const leaders = s.members.filter((m) => m.isLeader === true);
    assert.equal(leaders.length, 1);
    assert.equal(leaders[0]!.id, s.leader);
    assert.equal(s.leader, await c.leader());
    const human = await ok('status');
    assert.match(human, new RegExp(`^cluster local: leader master ${s.leader}, term \\d+, commit \\d+\\n`));
    assert.match(human, new RegExp(`^\\*${s.leader} +leader +voter `, 'm'));
  });

  it('adds a fourth master as a learner, waits for it, promotes it, then removes it', async () => {
    const spare = c.configs[3]!;
    c.start(spare.nodeId);
    const addr = (a: { host: string; port: number }): string => `${a.host}:${a.port}`;
    const added = await cli(c, 'member', 'add-learner', '--id', '4', '--peer', addr(spare.listen.peer), '--client', addr(spare.listen.client), '--admin', addr(spare.listen.admin), '--wait', '--wait-timeout', '30');
    assert.equal(added.code, 0, added.err + c.logTail(4));
    assert.match(added.out, /master 4 added as a learner/);
    assert.match(added.out, /master 4 caught up: match \d+, leader commit \d+/);
    let s = JSON.parse(await ok('--json', 'status')) as StatusJson;
    assert.deepEqual(s.members.map((m) => [m.id, m.membership]), [[1, 'voter'], [2, 'voter'], [3, 'voter'], [4, 'learner']]);

    const notLearner = await cli(c, 'member', 'promote', '--id', '9');
    assert.deepEqual([notLearner.code, notLearner.err], [1, 'mooseng: master 9 is not a learner (ERR_NOT_LEARNER)\n']);
    assert.match(await ok('member', 'promote', '--id', '4', '--wait'), /master 4 is now a voter/);
    s = JSON.parse(await ok('--json', 'status')) as StatusJson;
    assert.deepEqual(s.members.map((m) => [m.id, m.membership]), [[1, 'voter'], [2, 'voter'], [3, 'voter'], [4, 'voter']]);

    assert.match(await ok('member', 'remove', '--id', '4'), /master 4 removed/);
    await c.kill(4);
    s = JSON.parse(await ok('--json', 'status')) as StatusJson;
    assert.deepEqual(s.members.filter((m) => m.reachable).map((m) => [m.id, m.membership]), [[1, 'voter'], [2, 'voter'], [3, 'voter']]);
  });

  it('keeps working after kill -9 of the leader, with every acknowledged file still listed', async () => {
    await ok('mkdir', '/acked');
    const names = Array.from({ length: 20 }, (_, i) => `f${String(i).padStart(2, '0')}`);
    for (const n of names) await ok('touch', `/acked/${n}`);
    const old = await c.leader();
    await c.kill(old);
    const killedAt = Date.now();
    // The first write after the kill: the CLI finds the new leader by itself.
    await ok('--timeout', '8000', 'touch', '/acked/after-failover');
    const writeMs = Date.now() - killedAt;
    assert.ok(writeMs < 8000, `the first write after the kill took ${writeMs} ms`);
    assert.equal(await ok('ls', '/acked'), [...names, 'after-failover'].sort().map((n) => `${n}\n`).join(''));
    const fresh = await c.leader();
    assert.notEqual(fresh, old);
    const s = JSON.parse(await ok('--json', 'status')) as StatusJson;
    assert.equal(s.leader, fresh);
    const down = s.members.filter((m) => !m.reachable);
    assert.deepEqual(down.map((m) => m.id), [old]);
    assert.match(await ok('status'), new RegExp(`^ ${old} +down `, 'm'));
  });

  it('runs as a process through bin/mooseng.mjs, with its exit codes', async () => {
    const run = (...args: string[]): Promise<{ code: number | null; out: string; err: string }> =>
      new Promise((done, fail) => {
        const p = spawn(process.execPath, [join(repoRoot, 'bin/mooseng.mjs'), '--cluster', c.clusterFile, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        p.stdout.on('data', (b: Buffer) => (out += b.toString()));
        p.stderr.on('data', (b: Buffer) => (err += b.toString()));
        const timer = setTimeout(() => p.kill('SIGKILL'), 20_000);
        p.once('error', fail);
        p.once('close', (code) => {
          clearTimeout(timer);
          done({ code, out, err });
        });
      });
    const made = await run('mkdir', '/proc-test');
    assert.equal(made.code, 0, made.err);
    const listed = await run('ls', '/');
    assert.deepEqual([listed.code, listed.out.split('\n').includes('proc-test')], [0, true]);
    const again = await run('mkdir', '/proc-test');
    assert.deepEqual([again.code, again.err], [1, 'mooseng: mkdir /proc-test: File exists (EEXIST)\n']);
    const usage = await run('ls', '-z');
    assert.equal(usage.code, 2);
    assert.match(usage.err, /unknown option '-z'/);
  });
});

/** The CLI with no cluster file of the test's. */
async function main2(args: string[]): Promise<{ code: number; err: string }> {
  const { main } = await import('../../src/cli/mooseng.ts');
  let err = '';
  const code = await main(args, { out: () => undefined, err: (t) => (err += t), isTTY: false, env: {}, cwd: '/' });
  return { code, err };
}
