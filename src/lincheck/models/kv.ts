import type { Model } from '../types.ts';
import { isUnknown } from '../types.ts';
import { keyedModel, truncate } from './keyed.ts';
import type { KeyedState } from './keyed.ts';

export type KvInput =
  | { readonly f: 'get'; readonly key: string }
  | { readonly f: 'put'; readonly key: string; readonly value: string }
  | { readonly f: 'append'; readonly key: string; readonly value: string };

/** get: `{ value }`, the value read (`''` for a key never written); put and append: `{}`. */
export interface KvOutput {
  readonly value?: string;
}

export type KvState = KeyedState<string>;

/**
 * A map from string keys to strings; a key never written reads as the empty string, `append`
 * concatenates. Partitioned by key.
 */
export const kvModel: Model<KvState, KvInput, KvOutput> = keyedModel<string, KvInput, KvOutput>({
  name: 'kv',
  keyOf: (input) => JSON.stringify(input.key),
  initKey: () => '',
  step(value, input, output) {
    switch (input.f) {
      case 'get':
        if (isUnknown(output) || output.value === undefined || output.value === value) return { ok: true, next: value };
        return { ok: false };
      case 'put':
        return { ok: true, next: input.value };
      case 'append':
        return { ok: true, next: value + input.value };
    }
  },
  equal: (a, b) => a === b,
  hash: (value) => value,
  readOnly: (input) => input.f === 'get',
  describeOperation(input, output) {
    const key = JSON.stringify(input.key);
    switch (input.f) {
      case 'get':
        return `get ${key} -> ${isUnknown(output) || output.value === undefined ? '?' : JSON.stringify(truncate(output.value, 80))}`;
      case 'put':
      case 'append':
        return `${input.f} ${key} ${JSON.stringify(truncate(input.value, 80))}${isUnknown(output) ? ' (outcome unknown)' : ''}`;
    }
  },
  describeSub: (value) => JSON.stringify(value),
});
