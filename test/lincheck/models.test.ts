import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  UNKNOWN,
  attrModel,
  check,
  createAttrModel,
  createDirModel,
  dirModel,
  kvModel,
  registerModel,
} from '../../src/lincheck/index.ts';
import type {
  AttrInput,
  AttrOutput,
  DirInput,
  DirOutput,
  History,
  KvInput,
  KvOutput,
  Model,
  RegisterInput,
  RegisterOutput,
} from '../../src/lincheck/index.ts';
import { bruteForce, history } from './helpers.ts';

function verdict<S, I, O>(model: Model<S, I, O>, h: History<I, O>): string {
  const result = check(model, h, { timeBudgetMs: 5000 });
  // Every hand-written case is small enough for the reference enumeration too.
  assert.equal(result.verdict === 'linearizable', bruteForce(model, h), 'agrees with brute force');
  return result.verdict;
}

type R = History<RegisterInput, RegisterOutput>;
const read = { f: 'read' } as const;
const write = (value: number | null): RegisterInput => ({ f: 'write', value });
const cas = (expected: number | null, value: number | null): RegisterInput => ({ f: 'cas', expected, value });

describe('register model', () => {
  test('sequential write then read is linearizable; reading something else is not', () => {
    assert.equal(verdict(registerModel, history([[0, write(1), {}, 0, 1], [0, read, { value: 1 }, 2, 3]]) as R), 'linearizable');
    assert.equal(verdict(registerModel, history([[0, write(1), {}, 0, 1], [0, read, { value: 2 }, 2, 3]]) as R), 'not-linearizable');
    assert.equal(verdict(registerModel, history([[0, read, { value: null }, 0, 1]]) as R), 'linearizable');
    assert.equal(verdict(registerModel, history([[0, read, { value: 0 }, 0, 1]]) as R), 'not-linearizable');
  });

  test('a read overlapping a write may see either value', () => {
    for (const seen of [null, 1]) {
      const h: R = history([
        [0, write(1), {}, 0, 10],
        [1, read, { value: seen }, 5, 6],
      ]);
      assert.equal(verdict(registerModel, h), 'linearizable');
    }
  });

  test('a stale read after a completed write is a violation', () => {
    const h: R = history([
      [0, write(1), {}, 0, 1],
      [0, write(2), {}, 2, 3],
      [1, read, { value: 1 }, 4, 5],
    ]);
    assert.equal(verdict(registerModel, h), 'not-linearizable');
  });

  test('reads may not go back in time', () => {
    const h: R = history([
      [0, write(1), {}, 0, 100],
      [1, read, { value: 1 }, 10, 11],
      [2, read, { value: null }, 20, 21],
    ]);
    assert.equal(verdict(registerModel, h), 'not-linearizable');
  });

  test('an unknown write may take effect late', () => {
    const h: R = history([
      [0, write(1), {}, 0, 1],
      [1, write(2), 'unknown', 2, Infinity],
      [0, read, { value: 1 }, 50, 51],
      [0, read, { value: 2 }, 100, 101],
    ]);
    assert.equal(verdict(registerModel, h), 'linearizable');
  });

  test('an unknown write may never happen', () => {
    const h: R = history([
      [0, write(1), {}, 0, 1],
      [1, write(2), 'unknown', 2, Infinity],
      [0, read, { value: 1 }, 50, 51],
      [0, read, { value: 1 }, 100, 101],
    ]);
    assert.equal(verdict(registerModel, h), 'linearizable');
  });

  test('but once an unknown write is seen it has happened', () => {
    const h: R = history([
      [0, write(1), {}, 0, 1],
      [1, write(2), 'unknown', 2, Infinity],
      [0, read, { value: 2 }, 50, 51],
      [0, read, { value: 1 }, 100, 101],
    ]);
    assert.equal(verdict(registerModel, h), 'not-linearizable');
  });

  test('an unknown write cannot take effect before it was invoked', () => {
    const h: R = history([
      [0, read, { value: 7 }, 0, 1],
      [1, write(7), 'unknown', 2, Infinity],
    ]);
    assert.equal(verdict(registerModel, h), 'not-linearizable');
  });

  test('a failed operation is dropped', () => {
    const failed: R = history([
      [1, write(5), 'unknown', 0, 1, 'fail'],
      [0, read, { value: 5 }, 2, 3],
    ]);
    assert.equal(verdict(registerModel, failed), 'not-linearizable');
    const ok: R = history([
      [1, write(5), 'unknown', 0, 1, 'fail'],
      [0, read, { value: null }, 2, 3],
    ]);
    assert.equal(verdict(registerModel, ok), 'linearizable');
  });

  test('a cas that did not apply is an observation of a different value', () => {
    const fine: R = history([
      [0, write(1), {}, 0, 1],
      [0, cas(2, 3), { ok: false }, 2, 3],
      [0, read, { value: 1 }, 4, 5],
    ]);
    assert.equal(verdict(registerModel, fine), 'linearizable');
    const wrong: R = history([
      [0, write(1), {}, 0, 1],
      [0, cas(1, 3), { ok: false }, 2, 3],
    ]);
    assert.equal(verdict(registerModel, wrong), 'not-linearizable');
    const applied: R = history([
      [0, write(1), {}, 0, 1],
      [0, cas(1, 3), { ok: true }, 2, 3],
      [1, read, { value: 3 }, 4, 5],
    ]);
    assert.equal(verdict(registerModel, applied), 'linearizable');
    assert.equal(verdict(registerModel, history([[0, cas(null, 3), { ok: true }, 0, 1], [0, read, { value: 1 }, 2, 3]]) as R), 'not-linearizable');
  });

  test('an unknown cas applies only if the value matched', () => {
    const h: R = history([
      [0, write(1), {}, 0, 1],
      [1, cas(1, 4), 'unknown', 2, Infinity],
      [0, read, { value: 4 }, 10, 11],
    ]);
    assert.equal(verdict(registerModel, h), 'linearizable');
    const never: R = history([
      [0, write(1), {}, 0, 1],
      [1, cas(2, 4), 'unknown', 2, Infinity],
      [0, read, { value: 4 }, 10, 11],
    ]);
    assert.equal(verdict(registerModel, never), 'not-linearizable');
  });

  test('writing the value already there is not a no-op that can be moved', () => {
    // Only w5, w3, r3 works: w3 leaves the register unchanged when placed first, yet must come after w5.
    const h: R = history([
      [9, write(3), {}, -10, -9],
      [0, write(5), {}, 0, 10],
      [1, write(3), {}, 0, 30],
      [2, read, { value: 3 }, 20, 30],
    ]);
    assert.equal(verdict(registerModel, h), 'linearizable');
  });

  test('operations whose intervals touch are concurrent', () => {
    const h: R = history([
      [0, write(1), {}, 0, 5],
      [1, read, { value: null }, 5, 6],
    ]);
    assert.equal(verdict(registerModel, h), 'linearizable');
  });
});

type K = History<KvInput, KvOutput>;
const get = (key: string): KvInput => ({ f: 'get', key });
const put = (key: string, value: string): KvInput => ({ f: 'put', key, value });
const append = (key: string, value: string): KvInput => ({ f: 'append', key, value });

describe('key-value model', () => {
  test('a key never written reads as empty; append concatenates; put overwrites', () => {
    const h: K = history([
      [0, get('a'), { value: '' }, 0, 1],
      [0, append('a', 'x'), {}, 2, 3],
      [0, append('a', 'y'), {}, 4, 5],
      [0, get('a'), { value: 'xy' }, 6, 7],
      [0, put('a', 'z'), {}, 8, 9],
      [0, get('a'), { value: 'z' }, 10, 11],
    ]);
    assert.equal(verdict(kvModel, h), 'linearizable');
  });

  test('concurrent appends may land in either order, but reads must agree on one', () => {
    const base: [number, KvInput, KvOutput, number, number][] = [
      [0, append('a', 'x'), {}, 0, 10],
      [1, append('a', 'y'), {}, 0, 10],
    ];
    assert.equal(verdict(kvModel, history([...base, [2, get('a'), { value: 'yx' }, 11, 12]]) as K), 'linearizable');
    assert.equal(verdict(kvModel, history([...base, [2, get('a'), { value: 'xy' }, 11, 12]]) as K), 'linearizable');
    assert.equal(
      verdict(kvModel, history([...base, [2, get('a'), { value: 'xy' }, 11, 12], [2, get('a'), { value: 'yx' }, 13, 14]]) as K),
      'not-linearizable',
    );
  });

  test('a stale get is a violation, reported on its key', () => {
    const h: K = history([
      [0, put('a', '1'), {}, 0, 1],
      [0, put('b', '1'), {}, 2, 3],
      [1, get('a'), { value: '1' }, 4, 5],
      [0, put('b', '2'), {}, 6, 7],
      [1, get('b'), { value: '1' }, 8, 9],
    ]);
    const result = check(kvModel, h);
    assert.equal(result.verdict, 'not-linearizable');
    assert.equal(result.report?.partition, '"b"');
    assert.equal(result.partitions.length, 2);
  });

  test('checking per key gives the same verdict as checking the whole map', () => {
    const stale: K = history([
      [0, put('a', '1'), {}, 0, 10],
      [1, put('b', '1'), {}, 0, 10],
      [0, get('b'), { value: '1' }, 11, 12],
      [1, get('a'), { value: '' }, 11, 12],
    ]);
    const ok: K = history([
      [0, put('a', '1'), {}, 0, 10],
      [1, get('a'), { value: '' }, 1, 2],
      [2, put('b', '1'), {}, 0, 10],
      [3, get('b'), { value: '1' }, 1, 2],
    ]);
    for (const [h, expected] of [[stale, 'not-linearizable'], [ok, 'linearizable']] as const) {
      const split = check(kvModel, h);
      const whole = check(kvModel, h, { partition: false });
      assert.equal(split.verdict, expected);
      assert.equal(whole.verdict, expected);
      assert.equal(split.partitions.length, 2);
      assert.equal(whole.partitions.length, 1);
    }
  });

  test('an unknown append that took effect and one that did not', () => {
    const h: K = history([
      [0, append('a', 'x'), 'unknown', 0, Infinity],
      [1, append('a', 'y'), 'unknown', 0, Infinity],
      [2, get('a'), { value: 'y' }, 5, 6],
      [2, get('a'), { value: 'y' }, 7, 8],
    ]);
    assert.equal(verdict(kvModel, h), 'linearizable');
  });
});

type A = History<AttrInput, AttrOutput>;
const getattr = (inode: number): AttrInput => ({ f: 'getattr', inode });
const setattr = (inode: number, attrs: Record<string, number>): AttrInput => ({ f: 'setattr', inode, attrs });
const knownAttrs = createAttrModel({ initial: () => ({ mode: 420, uid: 0, size: 0 }) });

describe('attribute model', () => {
  test('setattr changes only the fields of its mask', () => {
    const h: A = history([
      [0, setattr(1, { size: 10 }), {}, 0, 1],
      [0, getattr(1), { attrs: { mode: 420, uid: 0, size: 10 } }, 2, 3],
    ]);
    assert.equal(verdict(knownAttrs, h), 'linearizable');
    const lost: A = history([
      [0, setattr(1, { size: 10 }), {}, 0, 1],
      [0, getattr(1), { attrs: { mode: 0, uid: 0, size: 10 } }, 2, 3],
    ]);
    assert.equal(verdict(knownAttrs, lost), 'not-linearizable');
  });

  test('a getattr overlapping a setattr sees the old or the new record, never a mix', () => {
    for (const size of [0, 10]) {
      const h: A = history([
        [0, setattr(1, { size: 10, uid: 5 }), {}, 0, 10],
        [1, getattr(1), { attrs: { mode: 420, uid: size === 0 ? 0 : 5, size } }, 2, 3],
      ]);
      assert.equal(verdict(knownAttrs, h), 'linearizable');
    }
    const mixed: A = history([
      [0, setattr(1, { size: 10, uid: 5 }), {}, 0, 10],
      [1, getattr(1), { attrs: { mode: 420, uid: 0, size: 10 } }, 2, 3],
    ]);
    assert.equal(verdict(knownAttrs, mixed), 'not-linearizable');
  });

  test('a stale getattr after a completed setattr is a violation', () => {
    const h: A = history([
      [0, setattr(1, { mode: 493 }), {}, 0, 1],
      [1, getattr(1), { attrs: { mode: 420, uid: 0, size: 0 } }, 2, 3],
    ]);
    assert.equal(verdict(knownAttrs, h), 'not-linearizable');
  });

  test('with unknown initial attributes, the first read reveals them and they must stay', () => {
    const h: A = history([
      [0, getattr(7), { attrs: { mode: 420, uid: 3 } }, 0, 1],
      [0, getattr(7), { attrs: { mode: 420, uid: 3 } }, 2, 3],
    ]);
    assert.equal(verdict(attrModel, h), 'linearizable');
    const changed: A = history([
      [0, getattr(7), { attrs: { mode: 420, uid: 3 } }, 0, 1],
      [0, getattr(7), { attrs: { mode: 420, uid: 4 } }, 2, 3],
    ]);
    assert.equal(verdict(attrModel, changed), 'not-linearizable');
  });

  test('the setattr reply record is checked; ignored fields are not', () => {
    const reply: A = history([[0, setattr(1, { size: 3 }), { attrs: { mode: 420, uid: 0, size: 4 } }, 0, 1]]);
    assert.equal(verdict(knownAttrs, reply), 'not-linearizable');
    const someFields = createAttrModel({ fields: ['size'] });
    const h: A = history([
      [0, setattr(1, { size: 3 }), {}, 0, 1],
      [0, getattr(1), { attrs: { size: 3, ctime: 100 } }, 2, 3],
      [0, getattr(1), { attrs: { size: 3, ctime: 200 } }, 4, 5],
    ]);
    assert.equal(verdict(someFields, h), 'linearizable');
    assert.equal(verdict(attrModel, h), 'not-linearizable');
  });

  test('an unknown setattr may apply late or never; inodes are partitions', () => {
    const h: A = history([
      [0, setattr(1, { size: 9 }), 'unknown', 0, Infinity],
      [1, getattr(1), { attrs: { mode: 420, uid: 0, size: 0 } }, 5, 6],
      [1, getattr(2), { attrs: { mode: 420, uid: 0, size: 0 } }, 7, 8],
      [1, getattr(1), { attrs: { mode: 420, uid: 0, size: 9 } }, 9, 10],
    ]);
    assert.equal(verdict(knownAttrs, h), 'linearizable');
    assert.deepEqual(check(knownAttrs, h).partitions.map((p) => p.key).sort(), ['inode 1', 'inode 2']);
  });
});

type D = History<DirInput, DirOutput>;
const create = (dir: number, name: string): DirInput => ({ f: 'create', dir, name });
const remove = (dir: number, name: string): DirInput => ({ f: 'remove', dir, name });
const readdir = (dir: number): DirInput => ({ f: 'readdir', dir });

describe('directory model', () => {
  test('create, EEXIST, remove, ENOENT, readdir', () => {
    const h: D = history([
      [0, create(1, 'a'), {}, 0, 1],
      [0, create(1, 'a'), { error: 'EEXIST' }, 2, 3],
      [0, readdir(1), { names: ['a'] }, 4, 5],
      [0, remove(1, 'a'), {}, 6, 7],
      [0, remove(1, 'a'), { error: 'ENOENT' }, 8, 9],
      [0, readdir(1), { names: [] }, 10, 11],
    ]);
    assert.equal(verdict(dirModel, h), 'linearizable');
  });

  test('two successful creates of one name need a remove between them', () => {
    const h: D = history([
      [0, create(1, 'a'), {}, 0, 10],
      [1, create(1, 'a'), {}, 0, 10],
    ]);
    assert.equal(verdict(dirModel, h), 'not-linearizable');
    const withRemove: D = history([
      [0, create(1, 'a'), {}, 0, 10],
      [1, create(1, 'a'), {}, 0, 10],
      [2, remove(1, 'a'), {}, 0, 10],
    ]);
    assert.equal(verdict(dirModel, withRemove), 'linearizable');
  });

  test('EEXIST for a name never created, or removing one, is a violation in an empty directory', () => {
    assert.equal(verdict(dirModel, history([[0, create(1, 'a'), { error: 'EEXIST' }, 0, 1]]) as D), 'not-linearizable');
    assert.equal(verdict(dirModel, history([[0, remove(1, 'a'), {}, 0, 1]]) as D), 'not-linearizable');
    assert.equal(verdict(dirModel, history([[0, remove(1, 'a'), { error: 'ENOENT' }, 0, 1]]) as D), 'linearizable');
  });

  test('readdir returns the whole set: overlapping creates may or may not show, completed ones must', () => {
    const overlapping: D = history([
      [0, create(1, 'a'), {}, 0, 10],
      [1, readdir(1), { names: [] }, 1, 2],
      [2, readdir(1), { names: ['a'] }, 3, 4],
    ]);
    assert.equal(verdict(dirModel, overlapping), 'linearizable');
    const missing: D = history([
      [0, create(1, 'a'), {}, 0, 1],
      [0, create(1, 'b'), {}, 2, 3],
      [1, readdir(1), { names: ['b'] }, 4, 5],
    ]);
    assert.equal(verdict(dirModel, missing), 'not-linearizable');
    const extra: D = history([[1, readdir(1), { names: ['zz'] }, 4, 5]]);
    assert.equal(verdict(dirModel, extra), 'not-linearizable');
  });

  test('an unknown create that happened late, and one that never did', () => {
    const late: D = history([
      [0, create(1, 'a'), 'unknown', 0, Infinity],
      [1, readdir(1), { names: [] }, 5, 6],
      [1, create(1, 'a'), { error: 'EEXIST' }, 7, 8],
    ]);
    assert.equal(verdict(dirModel, late), 'linearizable');
    const never: D = history([
      [0, create(1, 'a'), 'unknown', 0, Infinity],
      [1, readdir(1), { names: [] }, 5, 6],
      [1, remove(1, 'a'), { error: 'ENOENT' }, 7, 8],
    ]);
    assert.equal(verdict(dirModel, never), 'linearizable');
  });

  test('with unknown initial contents, observations build up what is known', () => {
    const unknownDir = createDirModel({ initial: 'unknown' });
    const h: D = history([
      [0, remove(1, 'old'), {}, 0, 1],
      [0, create(1, 'x'), { error: 'EEXIST' }, 2, 3],
      [0, readdir(1), { names: ['x', 'y'] }, 4, 5],
      [0, readdir(1), { names: ['x', 'y'] }, 6, 7],
    ]);
    assert.equal(verdict(unknownDir, h), 'linearizable');
    assert.equal(verdict(dirModel, h), 'not-linearizable');
    const contradicts: D = history([
      [0, remove(1, 'old'), {}, 0, 1],
      [0, readdir(1), { names: ['old'] }, 2, 3],
    ]);
    assert.equal(verdict(unknownDir, contradicts), 'not-linearizable');
    const given = createDirModel({ initial: (dir) => (dir === 1 ? ['etc'] : []) });
    assert.equal(verdict(given, history([[0, readdir(1), { names: ['etc'] }, 0, 1], [0, readdir(2), { names: [] }, 2, 3]]) as D), 'linearizable');
  });

  test('directories are partitions', () => {
    const h: D = history([
      [0, create(1, 'a'), {}, 0, 1],
      [0, create(2, 'a'), {}, 2, 3],
      [0, readdir(2), { names: ['a'] }, 4, 5],
    ]);
    const result = check(dirModel, h);
    assert.equal(result.verdict, 'linearizable');
    assert.deepEqual(result.partitions.map((p) => p.key).sort(), ['dir 1', 'dir 2']);
  });
});

describe('model contract', () => {
  const models: [string, Model<unknown, unknown, unknown>, unknown[]][] = [
    ['register', registerModel as Model<unknown, unknown, unknown>, [read, write(1), cas(null, 2), cas(1, 2)]],
    ['kv', kvModel as Model<unknown, unknown, unknown>, [get('a'), put('a', 'v'), append('b', 'w')]],
    ['attr', attrModel as Model<unknown, unknown, unknown>, [getattr(1), setattr(1, { size: 1 })]],
    ['dir', dirModel as Model<unknown, unknown, unknown>, [readdir(1), create(1, 'a'), remove(1, 'a')]],
  ];
  for (const [name, model, inputs] of models) {
    test(`${name}: an unknown output is accepted in every state reached, and equal states hash alike`, () => {
      let states = [model.init()];
      for (let round = 0; round < 3; round++) {
        const nextStates: unknown[] = [];
        for (const state of states) {
          for (const input of inputs) {
            const r = model.step(state, input, UNKNOWN);
            assert.ok(r.ok, `${model.describeOperation(input, UNKNOWN)} in ${model.describeState(state)}`);
            nextStates.push(r.next);
          }
        }
        states = nextStates;
      }
      for (const a of states) {
        for (const b of states) {
          if (model.equal(a, b)) assert.equal(model.hash(a), model.hash(b));
        }
        assert.equal(typeof model.describeState(a), 'string');
      }
    });
  }
});
