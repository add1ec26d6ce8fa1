import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { corpusDir, repoRoot } from './helpers.ts';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'lincheck-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/lincheck.ts', ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('lincheck command', () => {
  const etcdBad = path.join(corpusDir, 'etcd-register', 'etcd_000.log');
  const etcdOk = path.join(corpusDir, 'etcd-register', 'etcd_002.log');

  test('jepsen-register: one line per file, exit 1 when one is not linearizable', () => {
    const r = run('--format', 'jepsen-register', etcdBad, etcdOk);
    assert.equal(r.stdout, `${etcdBad} not-linearizable\n${etcdOk} linearizable\n`);
    assert.equal(r.status, 1);
  });

  test('kv: exit 0 when all are linearizable; --report explains a violation', () => {
    const ok = path.join(corpusDir, 'kv-append', 'c01-ok.txt');
    const r = run('--format', 'kv', ok);
    assert.equal(r.stdout, `${ok} linearizable\n`);
    assert.equal(r.status, 0);
    const bad = path.join(corpusDir, 'kv-append', 'c01-bad.txt');
    const rep = run('--format', 'kv', '--report', '--time-budget-ms', '5000', bad);
    assert.equal(rep.status, 1);
    assert.match(rep.stdout, new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} not-linearizable\n`));
    assert.match(rep.stdout, /failing partition: "\d+"/);
    assert.match(rep.stdout, /rejected by the model in this state/);
  });

  test('jsonl: the model named in the file or by --model', () => {
    const file = path.join(tmp, 'h.jsonl');
    writeFileSync(
      file,
      [
        '{"process":0,"type":"invoke","f":"create","dir":1,"name":"a","time":1}',
        '{"process":0,"type":"ok","f":"create","dir":1,"name":"a","time":2}',
        '{"process":1,"type":"invoke","f":"readdir","dir":1,"time":3}',
        '{"process":1,"type":"ok","f":"readdir","dir":1,"names":["a"],"time":4}',
      ].join('\n') + '\n',
    );
    const r = run('--format', 'jsonl', '--model', 'dir', file);
    assert.equal(r.stdout, `${file} linearizable\n`);
    assert.equal(r.status, 0);
    const noModel = run(file);
    assert.equal(noModel.stdout, `${file} error\n`);
    assert.match(noModel.stderr, /no model named/);
    assert.equal(noModel.status, 2);
  });

  test('a malformed line is reported as FILE:LINE, exit 2; so is an unreadable file', () => {
    const file = path.join(tmp, 'bad.log');
    writeFileSync(file, 'INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:read\tbanana\n');
    const missing = path.join(tmp, 'missing.log');
    const r = run('--format', 'jepsen-register', file, missing, etcdOk);
    assert.equal(r.stdout, `${file} error\n${missing} error\n${etcdOk} linearizable\n`);
    assert.match(r.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: expected an integer or nil`));
    assert.match(r.stderr, /missing\.log: cannot read file \(ENOENT\)/);
    assert.equal(r.status, 2);
  });

  test('a history that cannot be decided within the budget is unknown, exit 2', () => {
    const lines = ['{"model":"register"}'];
    for (let p = 0; p < 18; p++) lines.push(`{"process":${p},"type":"invoke","f":"write","value":${p},"time":0}`);
    lines.push('{"process":99,"type":"invoke","f":"read","time":0}');
    for (let p = 0; p < 18; p++) lines.push(`{"process":${p},"type":"ok","f":"write","time":100}`);
    lines.push('{"process":99,"type":"ok","f":"read","value":1000,"time":100}');
    const file = path.join(tmp, 'hard.jsonl');
    writeFileSync(file, lines.join('\n') + '\n');
    const r = run('--time-budget-ms', '20', '--report', file);
    assert.match(r.stdout, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} unknown\n`));
    assert.match(r.stdout, /undecided: time budget of 20 ms exhausted/);
    assert.equal(r.status, 2);
  });

  test('usage errors and --help', () => {
    const help = run('--help');
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--time-budget-ms N/);
    const noFiles = run('--format', 'kv');
    assert.equal(noFiles.status, 2);
    assert.match(noFiles.stderr, /no history file given/);
    const badFormat = run('--format', 'xml', etcdOk);
    assert.equal(badFormat.status, 2);
    assert.match(badFormat.stderr, /unknown format "xml"/);
    const badBudget = run('--time-budget-ms', 'soon', etcdOk);
    assert.equal(badBudget.status, 2);
    const badOption = run('--frobnicate', etcdOk);
    assert.equal(badOption.status, 2);
  });
});
