import type { Model, StepResult, Unknown } from '../types.ts';

/** The specification of one independent part of a keyed model (one key, one inode, one directory). */
export interface KeyedSpec<Sub, I, O> {
  readonly name: string;
  /** The part an operation acts on; also the partition label. */
  keyOf(input: I): string;
  initKey(key: string): Sub;
  step(sub: Sub, input: I, output: O | Unknown): StepResult<Sub>;
  equal(a: Sub, b: Sub): boolean;
  hash(sub: Sub): string;
  readOnly?(input: I, output: O | Unknown): boolean;
  describeOperation(input: I, output: O | Unknown): string;
  describeSub(sub: Sub): string;
}

/**
 * State of a keyed model: the parts that differ from their initial value. Keeping the
 * representation canonical (no entry equal to the initial value) makes `equal` and `hash` agree.
 */
export type KeyedState<Sub> = ReadonlyMap<string, Sub>;

export function keyedModel<Sub, I, O>(spec: KeyedSpec<Sub, I, O>): Model<KeyedState<Sub>, I, O> {
  const get = (state: KeyedState<Sub>, key: string): Sub => state.get(key) ?? spec.initKey(key);
  return {
    name: spec.name,
    init: () => new Map<string, Sub>(),
    step(state, input, output) {
      const key = spec.keyOf(input);
      const sub = get(state, key);
      const result = spec.step(sub, input, output);
      if (!result.ok) return result;
      if (result.next === sub) return { ok: true, next: state };
      const next = new Map(state);
      if (spec.equal(result.next, spec.initKey(key))) next.delete(key);
      else next.set(key, result.next);
      return { ok: true, next };
    },
    equal(a, b) {
      if (a === b) return true;
      if (a.size !== b.size) return false;
      for (const [key, sub] of a) {
        const other = b.get(key);
        if (other === undefined || !spec.equal(sub, other)) return false;
      }
      return true;
    },
    hash(state) {
      if (state.size === 0) return '';
      // A single part (the usual case once partitioned): its own hash will do, since states
      // with different keys are told apart by `equal`.
      if (state.size === 1) return spec.hash(state.values().next().value as Sub);
      const keys = [...state.keys()].sort();
      let out = '';
      for (const key of keys) out += `${key.length}:${key}${spec.hash(state.get(key) as Sub)}\u0000`;
      return out;
    },
    partitionKey: (input) => spec.keyOf(input),
    ...(spec.readOnly !== undefined ? { readOnly: spec.readOnly.bind(spec) } : {}),
    describeOperation: (input, output) => spec.describeOperation(input, output),
    describeState(state) {
      if (state.size === 0) return '{}';
      const keys = [...state.keys()].sort();
      return keys.map((key) => `${key}: ${spec.describeSub(state.get(key) as Sub)}`).join(', ');
    },
  };
}

export function truncate(text: string, max = 60): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}
