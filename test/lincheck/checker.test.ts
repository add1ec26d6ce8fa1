import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  HistoryRecorder,
  UNKNOWN,
  check,
  formatReport,
  kvModel,
  registerModel,
} from '../../src/lincheck/index.ts';
import type { History, KvInput, KvOutput, Model, RegisterInput, RegisterOutput } from '../../src/lincheck/index.ts';
import { history } from './helpers.ts';

type R = History<RegisterInput, RegisterOutput>;

/** k concurrent writes of distinct values and a concurrent read of a value nobody wrote. */
function hardRegisterHistory(k: number): R {
  const rows: [number, RegisterInput, RegisterOutput, number, number][] = [];
  for (let i = 0; i < k; i++) rows.push([i, { f: 'write', value: i }, {}, 0, 100]);
  rows.push([k, { f: 'read' }, { value: 999 }, 0, 100]);
  return history(rows);
}

function fakeClock(): () => number {
  let t = 0;
  return () => t++;
}

describe('budgets', () => {
  test('past the time budget the verdict is unknown, with the reason', () => {
    const result = check(registerModel, hardRegisterHistory(16), { timeBudgetMs: 50, now: fakeClock(), clockInterval: 10 });
    assert.equal(result.verdict, 'unknown');
    assert.match(result.reason ?? '', /time budget of 50 ms/);
    assert.equal(result.report, undefined);
    assert.equal(result.partitions[0]!.verdict, 'unknown');
    assert.match(formatReport(result), /^unknown: .*\nundecided: time budget/);
  });

  test('a step budget gives a deterministic unknown', () => {
    const a = check(registerModel, hardRegisterHistory(12), { maxSteps: 500, timeBudgetMs: Infinity });
    const b = check(registerModel, hardRegisterHistory(12), { maxSteps: 500, timeBudgetMs: Infinity });
    assert.equal(a.verdict, 'unknown');
    assert.match(a.reason ?? '', /step budget of 500 steps/);
    assert.equal(a.steps, b.steps);
    assert.ok(a.steps <= 500);
  });

  test('with enough budget the same history is decided', () => {
    const result = check(registerModel, hardRegisterHistory(10), { timeBudgetMs: Infinity, now: () => 0 });
    assert.equal(result.verdict, 'not-linearizable');
    assert.equal(result.elapsedMs, 0, 'elapsed time comes from the injected clock');
  });

  test('the check is deterministic', () => {
    const h = hardRegisterHistory(9);
    const a = check(registerModel, h, { now: () => 0 });
    const b = check(registerModel, h, { now: () => 0 });
    assert.deepEqual(a, b);
  });
});

describe('partitions', () => {
  const kv = (rows: [number, KvInput, KvOutput, number, number][]): History<KvInput, KvOutput> => history(rows);
  const twoBadKeys = kv([
    [0, { f: 'put', key: 'a', value: '1' }, {}, 0, 1],
    [0, { f: 'get', key: 'a' }, { value: '2' }, 2, 3],
    [0, { f: 'put', key: 'b', value: '1' }, {}, 4, 5],
    [0, { f: 'get', key: 'b' }, { value: '3' }, 6, 7],
    [0, { f: 'put', key: 'b', value: '4' }, {}, 8, 9],
    [0, { f: 'get', key: 'c' }, { value: '' }, 10, 11],
  ]);

  test('smallest partition first; the others are skipped after a violation', () => {
    const result = check(kvModel, twoBadKeys);
    assert.equal(result.verdict, 'not-linearizable');
    assert.deepEqual(
      result.partitions.map((p) => [p.key, p.operations, p.verdict]),
      [
        ['"c"', 1, 'linearizable'],
        ['"a"', 2, 'not-linearizable'],
        ['"b"', 3, 'skipped'],
      ],
    );
    assert.equal(result.report?.partition, '"a"');
    assert.equal(result.report?.partitionOperations, 2);
  });

  test('checkAllPartitions checks them all', () => {
    const result = check(kvModel, twoBadKeys, { checkAllPartitions: true });
    assert.deepEqual(result.partitions.map((p) => p.verdict), ['linearizable', 'not-linearizable', 'not-linearizable']);
  });

  test('a model may split a history its own way', () => {
    const byProcessParity: Model<number | null, RegisterInput, RegisterOutput> = {
      ...registerModel,
      partition: (ops) => [ops.filter((o) => Number(o.process) % 2 === 0), ops.filter((o) => Number(o.process) % 2 === 1)],
    };
    const h: R = history([
      [0, { f: 'write', value: 1 }, {}, 0, 1],
      [1, { f: 'read' }, { value: null }, 2, 3],
    ]);
    assert.equal(check(registerModel, h).verdict, 'not-linearizable');
    const split = check(byProcessParity, h);
    assert.equal(split.verdict, 'linearizable');
    assert.deepEqual(split.partitions.map((p) => p.key).sort(), ['#0', '#1']);
  });

  test('an empty history, and one with only failed or unknown operations, are linearizable', () => {
    assert.equal(check(registerModel, []).verdict, 'linearizable');
    const h: R = history<RegisterInput, RegisterOutput>([
      [0, { f: 'write', value: 1 }, 'unknown', 0, 1, 'fail'],
      [1, { f: 'write', value: 2 }, 'unknown', 0, Infinity],
    ]);
    assert.equal(check(registerModel, h).verdict, 'linearizable');
  });

  test('a malformed operation is rejected', () => {
    const bad: R = [{ id: 0, process: 0, input: { f: 'read' }, output: { value: null }, status: 'ok', call: 5, ret: 4 }];
    assert.throws(() => check(registerModel, bad), /completion time 4 is before invoke time 5/);
    const nan: R = [{ id: 0, process: 0, input: { f: 'read' }, output: { value: null }, status: 'ok', call: Number.NaN, ret: 4 }];
    assert.throws(() => check(registerModel, nan), /invalid invoke time/);
  });
});

describe('violation report', () => {
  const h: R = history([
    [0, { f: 'write', value: 1 }, {}, 0, 10],
    [1, { f: 'read' }, { value: 1 }, 11, 12],
    [0, { f: 'write', value: 2 }, {}, 13, 14],
    [2, { f: 'write', value: 3 }, 'unknown', 15, Infinity],
    [1, { f: 'read' }, { value: 1 }, 20, 21],
  ]);
  const result = check(registerModel, h);

  test('gives the longest linearizable prefix, the state after it and the stuck candidates', () => {
    assert.equal(result.verdict, 'not-linearizable');
    const report = result.report!;
    assert.equal(report.partition, '(all)');
    assert.equal(report.definiteOperations, 4);
    assert.deepEqual(report.prefix.map((p) => p.op.id), [0, 1, 2]);
    assert.deepEqual(report.prefix.map((p) => p.stateAfter), ['1', '1', '2']);
    assert.equal(report.state, '2');
    assert.equal(report.initialState, 'nil');
    assert.deepEqual(
      report.candidates.map((c) => [c.op.id, c.rejected]),
      [
        [3, false],
        [4, true],
      ],
    );
    assert.equal(report.blocking?.op.id, 4);
  });

  test('the prefix replays through the model and respects real time', () => {
    let state = registerModel.init();
    const placed = new Set<number>();
    for (const p of result.report!.prefix) {
      const r = registerModel.step(state, p.op.input, p.op.output);
      assert.ok(r.ok);
      state = r.next;
      for (const other of h) {
        if (!placed.has(other.id) && other.id !== p.op.id && other.status === 'ok') assert.ok(!(other.ret < p.op.call));
      }
      placed.add(p.op.id);
    }
  });

  test('formatReport prints it readably', () => {
    const text = formatReport(result);
    assert.match(text, /^not-linearizable: model register, 5 operations in 1 partition/);
    assert.match(text, /failing partition: \(all\) \(5 operations, 4 with a definite outcome\)/);
    assert.match(text, /longest linearizable prefix: 3 operations/);
    assert.match(text, /p0 +\[13, 14\] +write 2 +=> 2/);
    assert.match(text, /state after the prefix: 2/);
    assert.match(text, /p1 +\[20, 21\] +read -> 1 +-- rejected by the model in this state/);
    assert.match(text, /p2 +\[15, ∞\] +write 3 \(outcome unknown\) +-- accepted \(state 3\) but every continuation fails/);
    assert.match(text, /deadline: p1 read -> 1 completed at t=21/);
    assert.match(formatReport(result, { prefixLimit: 1 }), /\.\.\. 2 earlier operations/);
  });

  test('a linearizable result formats as one line', () => {
    const ok = check(registerModel, history([[0, { f: 'read' }, { value: null }, 0, 1]]) as R);
    assert.match(formatReport(ok), /^linearizable: model register, 1 operations in 1 partition, \d+ steps, [\d.]+ ms\n$/);
  });
});

describe('HistoryRecorder', () => {
  test('records a kv history for the checker, with per-key partitions', () => {
    let now = 0;
    const rec = new HistoryRecorder<KvInput, KvOutput>({ clock: () => now });
    const a = rec.invoke('client-1', { f: 'put', key: 'x', value: 'v1' });
    now = 1;
    const b = rec.invoke('client-2', { f: 'get', key: 'x' });
    now = 2;
    rec.complete(a, {});
    now = 3;
    rec.complete(b, { value: 'v1' });
    const c = rec.invoke('client-1', { f: 'append', key: 'y', value: '+' });
    now = 4;
    rec.timeout(c);
    const d = rec.invoke('client-1', { f: 'get', key: 'y' });
    now = 5;
    rec.complete(d, { value: '' });
    const e = rec.invoke('client-3', { f: 'put', key: 'z', value: 'q' });
    rec.fail(e, 6);
    const f = rec.invoke('client-2', { f: 'get', key: 'x' }, 7);

    const h = rec.history();
    assert.equal(rec.length, 6);
    assert.deepEqual(h.map((o) => o.status), ['ok', 'ok', 'unknown', 'ok', 'fail', 'unknown']);
    assert.deepEqual(h.map((o) => [o.call, o.ret]), [[0, 2], [1, 3], [3, Infinity], [4, 5], [5, 6], [7, Infinity]]);
    assert.equal(h[f]!.output, UNKNOWN);
    const result = check(kvModel, h);
    assert.equal(result.verdict, 'linearizable');
    assert.deepEqual(result.partitions.map((p) => p.key).sort(), ['"x"', '"y"', '"z"']);
  });

  test('the default clock orders events as they are recorded', () => {
    const rec = new HistoryRecorder<RegisterInput, RegisterOutput>();
    const w = rec.invoke(0, { f: 'write', value: 1 });
    rec.complete(w, {});
    const r = rec.invoke(1, { f: 'read' });
    rec.complete(r, { value: null });
    assert.equal(check(registerModel, rec.history()).verdict, 'not-linearizable');
  });

  test('rejects misuse', () => {
    const rec = new HistoryRecorder<RegisterInput, RegisterOutput>();
    const id = rec.invoke(0, { f: 'read' }, 10);
    assert.throws(() => rec.invoke(0, { f: 'read' }), /still open/);
    assert.throws(() => rec.complete(id, { value: null }, 9), /before its invoke time/);
    rec.complete(id, { value: null }, 11);
    assert.throws(() => rec.complete(id, { value: null }), /already completed/);
    assert.throws(() => rec.fail(42), /no operation 42/);
    assert.equal(rec.openOperation(0), undefined);
    const t = rec.invoke(0, { f: 'write', value: 1 }, 12);
    assert.equal(rec.openOperation(0), t);
    rec.timeout(t);
    assert.doesNotThrow(() => rec.invoke(0, { f: 'read' }, 13));
  });
});
