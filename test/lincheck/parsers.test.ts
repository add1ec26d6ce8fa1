import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  HistoryParseError,
  UNKNOWN,
  checkTyped,
  formatJsonl,
  parseEdn,
  parseJepsenRegister,
  parseJsonl,
  parseKvEdn,
} from '../../src/lincheck/index.ts';
import type { History, TypedHistory } from '../../src/lincheck/index.ts';
import { ALL_SPECS, generate } from './generators.ts';
import { corpusDir } from './helpers.ts';

function parseErrorLine(fn: () => unknown): number {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof HistoryParseError, `expected a HistoryParseError, got ${String(error)}`);
    return error.line;
  }
  assert.fail('expected a parse error');
}

describe('parseJepsenRegister', () => {
  const log = [
    'INFO  jepsen.core - some unrelated line',
    'INFO  jepsen.util - 0\t:invoke\t:write\t3',
    'INFO  jepsen.util - 1\t:invoke\t:cas\t[3 4]',
    'INFO  jepsen.util - 0\t:ok\t:write\t3',
    'INFO  jepsen.util - 1\t:fail\t:cas\t[3 4]',
    'INFO  jepsen.util - 2   :invoke :read   nil',
    'INFO  jepsen.util - 2   :ok     :read   3',
    'INFO  jepsen.util - :nemesis\t:info\t:start\tnil',
    'INFO  jepsen.util - 3\t:invoke\t:read\tnil',
    'INFO  jepsen.util - 3\t:fail\t:read\t:timed-out',
    'INFO  jepsen.util - 4\t:invoke\t:write\t1',
    'INFO  jepsen.util - 4\t:info\t:write\t:timed-out',
    'INFO  jepsen.util - 5\t:invoke\t:cas\t[nil 2]',
    '',
  ].join('\n');

  test('reads the lines that matter, with tabs or spaces', () => {
    const h = parseJepsenRegister(log);
    assert.deepEqual(
      h.map((o) => [o.process, o.input, o.status, o.output === UNKNOWN ? '?' : o.output, o.call, o.ret]),
      [
        [0, { f: 'write', value: 3 }, 'ok', {}, 2, 4],
        [1, { f: 'cas', expected: 3, value: 4 }, 'ok', { ok: false }, 3, 5],
        [2, { f: 'read' }, 'ok', { value: 3 }, 6, 7],
        [3, { f: 'read' }, 'fail', '?', 9, 10],
        [4, { f: 'write', value: 1 }, 'unknown', '?', 11, Infinity],
        [5, { f: 'cas', expected: null, value: 2 }, 'unknown', '?', 13, Infinity],
      ],
    );
  });

  test('parses every corpus log into matched operations', () => {
    const text = readFileSync(path.join(corpusDir, 'etcd-register', 'etcd_000.log'), 'utf8');
    const h = parseJepsenRegister(text);
    assert.equal(h.length, (text.match(/:invoke/g) ?? []).length);
    assert.equal(h.filter((o) => o.status === 'unknown').length, (text.match(/:info/g) ?? []).length);
  });

  test('reports malformed lines with their number', () => {
    assert.equal(parseErrorLine(() => parseJepsenRegister('INFO  jepsen.util - 0\t:invoke\t:write\tx\n')), 1);
    assert.equal(parseErrorLine(() => parseJepsenRegister('\nINFO  jepsen.util - 0\t:ok\t:read\t1\n')), 2);
    assert.equal(parseErrorLine(() => parseJepsenRegister('INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:invoke\t:read\tnil\n')), 2);
    assert.equal(parseErrorLine(() => parseJepsenRegister('INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:write\t1\n')), 2);
    assert.equal(parseErrorLine(() => parseJepsenRegister('INFO  jepsen.util - 0\t:invoke\t:cas\t[1]\n')), 1);
    assert.equal(parseErrorLine(() => parseJepsenRegister('INFO  jepsen.util - 0\t:invoke\t:delete\tnil\n')), 1);
    assert.throws(() => parseJepsenRegister('no jepsen here\n'), /no Jepsen register operations found/);
  });
});

describe('EDN', () => {
  test('parseEdn reads maps, keywords, strings, numbers, nil and vectors', () => {
    const v = parseEdn('{:a 1, :b "x\\"y\\n", :c nil, :d [1 -2.5 :k], "s" true, :e #{1}} ; comment');
    assert.ok(v instanceof Map);
    assert.equal(v.get(':a'), 1);
    assert.equal(v.get(':b'), 'x"y\n');
    assert.equal(v.get(':c'), null);
    assert.deepEqual(v.get(':d'), [1, -2.5, { keyword: 'k' }]);
    assert.equal(v.get('"s"'), true);
    assert.deepEqual(v.get(':e'), [1]);
    assert.throws(() => parseEdn('{:a 1'), /missing \}/);
    assert.throws(() => parseEdn('{:a}'), /odd number/);
    assert.throws(() => parseEdn('"abc'), /unterminated/);
  });

  test('parseKvEdn reads Jepsen key-value lines', () => {
    const text = [
      '{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}',
      '{:process 1, :type :invoke, :f :get, :key "0", :value nil}',
      '{:process :nemesis, :type :info, :f :start, :value nil}',
      '{:process 0, :type :ok, :f :append, :key "0", :value "x 0 0 y"}',
      '',
      '{:process 1, :type :ok, :f :get, :key "0", :value "x 0 0 y"}',
      '{:process 2, :type :invoke, :f :put, :key 7, :value "v"}',
      '{:process 2, :type :info, :f :put, :key 7, :value "v"}',
      '{:process 3, :type :invoke, :f :put, :key "7", :value "w"}',
      '{:process 3, :type :fail, :f :put, :key "7", :value "w"}',
    ].join('\n');
    const h = parseKvEdn(text);
    assert.deepEqual(
      h.map((o) => [o.input, o.status, o.output === UNKNOWN ? '?' : o.output, o.call, o.ret]),
      [
        [{ f: 'append', key: '0', value: 'x 0 0 y' }, 'ok', {}, 1, 4],
        [{ f: 'get', key: '0' }, 'ok', { value: 'x 0 0 y' }, 2, 6],
        [{ f: 'put', key: '7', value: 'v' }, 'unknown', '?', 7, Infinity],
        [{ f: 'put', key: '7', value: 'w' }, 'fail', '?', 9, 10],
      ],
    );
  });

  test('parseKvEdn reports malformed lines with their number', () => {
    const ok = '{:process 0, :type :invoke, :f :get, :key "0", :value nil}\n';
    assert.equal(parseErrorLine(() => parseKvEdn(ok + '{:process 0, :type :ok, :f :get, :key "0"\n')), 2);
    assert.equal(parseErrorLine(() => parseKvEdn(ok + '{:process 0, :type :ok, :f :get, :key "1", :value ""}\n')), 2);
    assert.equal(parseErrorLine(() => parseKvEdn(ok + '{:process 0, :type :ok, :f :get, :key "0", :value nil}\n')), 2);
    assert.equal(parseErrorLine(() => parseKvEdn('{:process 0, :type :invoke, :f :cas, :key "0", :value nil}\n')), 1);
    assert.equal(parseErrorLine(() => parseKvEdn('[1 2]\n')), 1);
    assert.throws(() => parseKvEdn('\n\n'), /no key-value operations found/);
  });
});

describe('JSONL', () => {
  test('reads each model', () => {
    const kv = parseJsonl(
      [
        '{"model":"kv","test":"anything else in a header is ignored"}',
        '{"process":0,"type":"invoke","f":"put","key":"k","value":"v","time":10}',
        '{"process":1,"type":"invoke","f":"get","key":"k","time":11}',
        '{"process":0,"type":"ok","f":"put","key":"k","time":12}',
        '{"process":1,"type":"ok","f":"get","key":"k","value":"v","time":13}',
        '{"process":"c","type":"invoke","f":"append","key":"k","value":"w","time":14}',
        '{"process":"c","type":"info","f":"append","key":"k"}',
      ].join('\n'),
    );
    assert.equal(kv.model, 'kv');
    assert.deepEqual(
      kv.history.map((o) => [o.process, o.input, o.status, o.call, o.ret]),
      [
        [0, { f: 'put', key: 'k', value: 'v' }, 'ok', 10, 12],
        [1, { f: 'get', key: 'k' }, 'ok', 11, 13],
        ['c', { f: 'append', key: 'k', value: 'w' }, 'unknown', 14, Infinity],
      ],
    );
    assert.equal(checkTyped(kv).verdict, 'linearizable');

    const reg = parseJsonl(
      [
        '{"model":"register","process":0,"type":"invoke","f":"cas","expected":null,"value":1}',
        '{"process":0,"type":"ok","f":"cas","error":"mismatch"}',
        '{"process":0,"type":"invoke","f":"read"}',
        '{"process":0,"type":"ok","f":"read","value":null}',
      ].join('\n'),
    );
    assert.deepEqual(reg.history.map((o) => [o.output, o.call, o.ret]), [[{ ok: false }, 1, 2], [{ value: null }, 3, 4]]);
    assert.equal(checkTyped(reg).verdict, 'not-linearizable');

    const attr = parseJsonl(
      [
        '{"model":"attr","fields":["mode","size"]}',
        '{"process":0,"type":"invoke","f":"setattr","inode":5,"attrs":{"size":3}}',
        '{"process":0,"type":"ok","f":"setattr","inode":5}',
        '{"process":0,"type":"invoke","f":"getattr","inode":5}',
        '{"process":0,"type":"ok","f":"getattr","inode":5,"attrs":{"mode":420,"size":3,"ctime":7}}',
      ].join('\n'),
    );
    assert.equal(attr.model === 'attr' && attr.fields?.join(), 'mode,size');
    assert.equal(checkTyped(attr).verdict, 'linearizable');

    const dir = parseJsonl(
      [
        '{"model":"dir","initial":"unknown"}',
        '{"process":0,"type":"invoke","f":"create","dir":1,"name":"a"}',
        '{"process":0,"type":"ok","f":"create","dir":1,"name":"a","error":"EEXIST"}',
        '{"process":0,"type":"invoke","f":"readdir","dir":1}',
        '{"process":0,"type":"ok","f":"readdir","dir":1,"names":["a","b"]}',
        '{"process":1,"type":"invoke","f":"remove","dir":1,"name":"b"}',
        '{"process":1,"type":"fail","f":"remove"}',
      ].join('\n'),
    );
    assert.deepEqual(dir.history.map((o) => o.status), ['ok', 'ok', 'fail']);
    assert.equal(checkTyped(dir).verdict, 'linearizable');
    assert.equal(checkTyped({ ...dir, initial: 'empty' } as TypedHistory).verdict, 'not-linearizable');
  });

  test('the model may come from the caller', () => {
    const text = '{"process":0,"type":"invoke","f":"read"}\n{"process":0,"type":"ok","f":"read","value":2}\n';
    assert.equal(parseJsonl(text, { model: 'register' }).model, 'register');
    assert.throws(() => parseJsonl(text), /no model named/);
    assert.throws(() => parseJsonl('{"model":"kv"}\n' + text, { model: 'register' }), /conflicts/);
  });

  test('reports malformed lines with their number', () => {
    const head = '{"model":"kv"}\n{"process":0,"type":"invoke","f":"get","key":"k"}\n';
    assert.equal(parseErrorLine(() => parseJsonl(head + '{"process":0,"type":"ok","f":"get","key":"k","value":3}\n')), 3);
    assert.equal(parseErrorLine(() => parseJsonl(head + '{"process":0,"type":"ok",\n')), 3);
    assert.equal(parseErrorLine(() => parseJsonl(head + '{"process":0,"type":"done"}\n')), 3);
    assert.equal(parseErrorLine(() => parseJsonl(head + '{"process":1,"type":"ok","f":"get","value":""}\n')), 3);
    assert.equal(parseErrorLine(() => parseJsonl(head + '{"process":0,"type":"ok","f":"put","value":""}\n')), 3);
    assert.equal(parseErrorLine(() => parseJsonl(head + '{"process":0,"type":"ok","f":"get","value":"","time":5}\n')), 3);
    assert.equal(parseErrorLine(() => parseJsonl('{"model":"kv"}\n{"process":0,"type":"invoke","f":"cas","key":"k"}\n')), 2);
    assert.equal(parseErrorLine(() => parseJsonl('{"model":"nope"}\n')), 1);
    assert.equal(parseErrorLine(() => parseJsonl('[1]\n')), 1);
    assert.equal(parseErrorLine(() => parseJsonl('{"model":"register"}\n{"process":0,"type":"invoke","f":"write","value":"x"}\n')), 2);
    assert.throws(() => parseJsonl('{"model":"kv"}\n'), /no operations found/);
  });

  test('formatJsonl and parseJsonl round-trip generated histories of every model', () => {
    const modelName = (name: string): TypedHistory['model'] => name.split(' ')[0] as TypedHistory['model'];
    for (const spec of ALL_SPECS) {
      for (let seed = 0; seed < 20; seed++) {
        const h = generate(spec, seed, { ops: 25, clients: 4, timeoutRate: 0.5, phantoms: 2, failures: 2 });
        const typed = { model: modelName(spec.name), history: h } as TypedHistory;
        const back = parseJsonl(formatJsonl(typed));
        assert.equal(back.model, typed.model);
        const key = (x: History<unknown, unknown>): string[] =>
          x.map((o) => JSON.stringify([o.process, o.input, o.status, o.output === UNKNOWN ? '?' : o.output, o.call, o.ret])).sort();
        assert.deepEqual(key(back.history as History<unknown, unknown>), key(h as History<unknown, unknown>), `${spec.name} seed ${seed}`);
      }
    }
  });
});
