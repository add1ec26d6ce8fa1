import { UNKNOWN, createAttrModel, createDirModel, kvModel, registerModel } from '../../src/lincheck/index.ts';
import type {
  AttrInput,
  AttrOutput,
  AttrRecord,
  DirInput,
  DirOutput,
  History,
  KvInput,
  KvOutput,
  Model,
  Operation,
  RegisterInput,
  RegisterOutput,
  RegisterValue,
} from '../../src/lincheck/index.ts';
import { prng } from './helpers.ts';

type Rng = ReturnType<typeof prng>;

/** A concrete sequential implementation of a model, used to generate histories. */
export interface Spec<C, I, O> {
  readonly name: string;
  readonly model: Model<unknown, I, O>;
  init(): C;
  randomInput(rng: Rng, serial: number): I;
  apply(state: C, input: I): { output: O; next: C };
  /** A different output for a read-like operation, or undefined if the operation is not a read. */
  corrupt(rng: Rng, input: I, output: O): O | undefined;
}

const REG_VALUES: readonly RegisterValue[] = [null, 0, 1, 2, 3];

export const registerSpec: Spec<RegisterValue, RegisterInput, RegisterOutput> = {
  name: 'register',
  model: registerModel as Model<unknown, RegisterInput, RegisterOutput>,
  init: () => null,
  randomInput(rng) {
    const r = rng.next();
    if (r < 0.4) return { f: 'read' };
    if (r < 0.7) return { f: 'write', value: rng.int(0, 3) };
    return { f: 'cas', expected: rng.pick(REG_VALUES), value: rng.int(0, 3) };
  },
  apply(state, input) {
    switch (input.f) {
      case 'read':
        return { output: { value: state }, next: state };
      case 'write':
        return { output: {}, next: input.value };
      case 'cas':
        return state === input.expected ? { output: { ok: true }, next: input.value } : { output: { ok: false }, next: state };
    }
  },
  corrupt(rng, input, output) {
    if (input.f !== 'read') return undefined;
    return { value: rng.pick(REG_VALUES.filter((v) => v !== output.value)) };
  },
};

const KEYS = ['a', 'b', 'c'];

export const kvSpec: Spec<ReadonlyMap<string, string>, KvInput, KvOutput> = {
  name: 'kv',
  model: kvModel as Model<unknown, KvInput, KvOutput>,
  init: () => new Map(),
  randomInput(rng, serial) {
    const key = rng.pick(KEYS);
    const r = rng.next();
    if (r < 0.4) return { f: 'get', key };
    if (r < 0.55) return { f: 'put', key, value: `p${serial};` };
    return { f: 'append', key, value: `x${serial};` };
  },
  apply(state, input) {
    const current = state.get(input.key) ?? '';
    if (input.f === 'get') return { output: { value: current }, next: state };
    const next = new Map(state);
    next.set(input.key, input.f === 'put' ? input.value : current + input.value);
    return { output: {}, next };
  },
  corrupt(rng, input, output) {
    if (input.f !== 'get') return undefined;
    const value = output.value ?? '';
    const tokens = value.split(';').filter((t) => t !== '');
    if (tokens.length === 0 || rng.chance(0.2)) return { value: `${value}z;` };
    return { value: tokens.slice(0, -1).map((t) => `${t};`).join('') };
  },
};

const ATTR_FIELDS = ['mode', 'uid', 'size'] as const;
const ATTR_INITIAL: AttrRecord = { mode: 420, uid: 0, size: 0 };

function attrSpec(knownInitial: boolean): Spec<ReadonlyMap<number, AttrRecord>, AttrInput, AttrOutput> {
  return {
    name: knownInitial ? 'attr (known initial)' : 'attr',
    model: createAttrModel(knownInitial ? { initial: () => ATTR_INITIAL } : {}) as Model<unknown, AttrInput, AttrOutput>,
    init: () => new Map(),
    randomInput(rng) {
      const inode = rng.int(1, 2);
      if (rng.chance(0.5)) return { f: 'getattr', inode };
      const attrs: Record<string, number> = {};
      for (const field of ATTR_FIELDS) if (rng.chance(0.5)) attrs[field] = rng.int(0, 3);
      if (Object.keys(attrs).length === 0) attrs['size'] = rng.int(0, 3);
      return { f: 'setattr', inode, attrs };
    },
    apply(state, input) {
      const current = state.get(input.inode) ?? ATTR_INITIAL;
      if (input.f === 'getattr') return { output: { attrs: current }, next: state };
      const next = new Map(state);
      next.set(input.inode, { ...current, ...input.attrs });
      return { output: {}, next };
    },
    corrupt(rng, input, output) {
      if (input.f !== 'getattr' || output.attrs === undefined) return undefined;
      const field = rng.pick(ATTR_FIELDS);
      return { attrs: { ...output.attrs, [field]: (output.attrs[field] as number) + 1 + rng.int(0, 2) } };
    },
  };
}

export const attrKnownSpec = attrSpec(true);
export const attrUnknownSpec = attrSpec(false);

const NAMES = ['a', 'b', 'c', 'd'];

function dirSpec(initial: 'empty' | 'unknown'): Spec<ReadonlyMap<number, ReadonlySet<string>>, DirInput, DirOutput> {
  // With unknown initial contents the concrete directories start with some names in them.
  const start = (dir: number): ReadonlySet<string> => (initial === 'empty' ? new Set() : new Set(dir === 1 ? ['a'] : ['b', 'c']));
  return {
    name: `dir (${initial} initial)`,
    model: createDirModel({ initial }) as Model<unknown, DirInput, DirOutput>,
    init: () => new Map(),
    randomInput(rng) {
      const dir = rng.int(1, 2);
      const r = rng.next();
      if (r < 0.35) return { f: 'create', dir, name: rng.pick(NAMES) };
      if (r < 0.65) return { f: 'remove', dir, name: rng.pick(NAMES) };
      return { f: 'readdir', dir };
    },
    apply(state, input) {
      const current = state.get(input.dir) ?? start(input.dir);
      if (input.f === 'readdir') return { output: { names: [...current].sort() }, next: state };
      const has = current.has(input.name);
      if (input.f === 'create' && has) return { output: { error: 'EEXIST' }, next: state };
      if (input.f === 'remove' && !has) return { output: { error: 'ENOENT' }, next: state };
      const names = new Set(current);
      if (input.f === 'create') names.add(input.name);
      else names.delete(input.name);
      const next = new Map(state);
      next.set(input.dir, names);
      return { output: {}, next };
    },
    corrupt(rng, input, output) {
      if (input.f !== 'readdir' || output.names === undefined) return undefined;
      const name = rng.pick(NAMES);
      const names = new Set(output.names);
      if (names.has(name)) names.delete(name);
      else names.add(name);
      return { names: [...names].sort() };
    },
  };
}

export const dirEmptySpec = dirSpec('empty');
export const dirUnknownSpec = dirSpec('unknown');

export const ALL_SPECS: readonly Spec<unknown, unknown, unknown>[] = [
  registerSpec,
  kvSpec,
  attrKnownSpec,
  attrUnknownSpec,
  dirEmptySpec,
  dirUnknownSpec,
] as unknown as Spec<unknown, unknown, unknown>[];

export interface GenOptions {
  readonly ops: number;
  readonly clients: number;
  /** Probability that a client's last operation times out (it still took effect). */
  readonly timeoutRate?: number;
  /** Extra operations of unknown outcome that never took effect. */
  readonly phantoms?: number;
  /** Extra failed operations (never took effect). */
  readonly failures?: number;
}

/**
 * Runs a random sequential schedule on the concrete implementation, then stretches each
 * operation's interval around its linearization point: clients each have one operation open at
 * a time. The result is linearizable by construction.
 */
export function generate<C, I, O>(spec: Spec<C, I, O>, seed: number, options: GenOptions): History<I, O> {
  const rng = prng(seed);
  let state = spec.init();
  const seq: { input: I; output: O; lin: number; client: number }[] = [];
  for (let i = 0; i < options.ops; i++) {
    const input = spec.randomInput(rng, i);
    const { output, next } = spec.apply(state, input);
    state = next;
    seq.push({ input, output, lin: 10 * (i + 1), client: rng.int(0, options.clients - 1) });
  }
  const end = 10 * (options.ops + 2);
  const ops: Omit<Operation<I, O>, 'id'>[] = [];
  for (let client = 0; client < options.clients; client++) {
    const mine = seq.filter((s) => s.client === client);
    let lower = 0;
    mine.forEach((s, j) => {
      const call = lower + rng.next() * (s.lin - lower);
      const upper = mine[j + 1]?.lin ?? end;
      const ret = s.lin + rng.next() * (upper - s.lin);
      lower = ret;
      const last = j === mine.length - 1;
      if (last && rng.chance(options.timeoutRate ?? 0)) {
        ops.push({ process: client, input: s.input, output: UNKNOWN, call, ret: Infinity, status: 'unknown' });
      } else {
        ops.push({ process: client, input: s.input, output: s.output, call, ret, status: 'ok' });
      }
    });
  }
  let extra = options.clients;
  for (let i = 0; i < (options.phantoms ?? 0); i++) {
    const input = spec.randomInput(rng, options.ops + i);
    ops.push({ process: extra++, input, output: UNKNOWN, call: rng.next() * end, ret: Infinity, status: 'unknown' });
  }
  for (let i = 0; i < (options.failures ?? 0); i++) {
    const input = spec.randomInput(rng, options.ops + 1000 + i);
    const call = rng.next() * end;
    ops.push({ process: extra++, input, output: UNKNOWN, call, ret: call + rng.next() * 20, status: 'fail' });
  }
  ops.sort((a, b) => a.call - b.call);
  return ops.map((o, id) => ({ ...o, id }));
}

/** Replaces the output of one randomly chosen completed read; undefined if there is none. */
export function corruptOneRead<C, I, O>(spec: Spec<C, I, O>, h: History<I, O>, seed: number): History<I, O> | undefined {
  const rng = prng(seed ^ 0x5bd1e995);
  const reads = h.filter((o) => o.status === 'ok' && o.output !== UNKNOWN && spec.corrupt(prng(0), o.input, o.output as O) !== undefined);
  if (reads.length === 0) return undefined;
  const victim = rng.pick(reads);
  const output = spec.corrupt(rng, victim.input, victim.output as O)!;
  return h.map((o) => (o === victim ? { ...o, output } : o));
}

/** Replaces each completed operation's output, with probability `rate`, by a corrupted or random one. */
export function scramble<C, I, O>(spec: Spec<C, I, O>, h: History<I, O>, seed: number, rate: number): History<I, O> {
  const rng = prng(seed ^ 0x27d4eb2f);
  return h.map((o) => {
    if (o.status !== 'ok' || o.output === UNKNOWN || !rng.chance(rate)) return o;
    const corrupted = spec.corrupt(rng, o.input, o.output as O);
    if (corrupted !== undefined) return { ...o, output: corrupted };
    // Not a read: give it the output it would have had in a random state.
    const { output } = spec.apply(spec.init(), o.input);
    return { ...o, output };
  });
}
