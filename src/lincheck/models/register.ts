import type { Model } from '../types.ts';
import { isUnknown } from '../types.ts';

/** A register value: an integer, or `null` for "nothing" (Jepsen's nil). */
export type RegisterValue = number | null;

export type RegisterInput =
  | { readonly f: 'read' }
  | { readonly f: 'write'; readonly value: RegisterValue }
  | { readonly f: 'cas'; readonly expected: RegisterValue; readonly value: RegisterValue };

/**
 * - read: `{ value }`, the value read;
 * - write: `{}`;
 * - cas: `{ ok }`, whether the compare-and-set applied; `ok: false` is an observation (the
 *   operation executed and found a value other than `expected`), not a failed operation.
 */
export interface RegisterOutput {
  readonly value?: RegisterValue;
  readonly ok?: boolean;
}

const show = (v: RegisterValue | undefined): string => (v === null || v === undefined ? 'nil' : String(v));

/** A single register holding an integer or nil, initially nil: the model of Jepsen's etcd test. */
export const registerModel: Model<RegisterValue, RegisterInput, RegisterOutput> = {
  name: 'register',
  init: () => null,
  step(state, input, output) {
    switch (input.f) {
      case 'read':
        if (isUnknown(output) || output.value === undefined || output.value === state) return { ok: true, next: state };
        return { ok: false };
      case 'write':
        return { ok: true, next: input.value };
      case 'cas': {
        const matches = state === input.expected;
        if (isUnknown(output)) return { ok: true, next: matches ? input.value : state };
        if (output.ok === false) return matches ? { ok: false } : { ok: true, next: state };
        return matches ? { ok: true, next: input.value } : { ok: false };
      }
    }
  },
  equal: (a, b) => a === b,
  hash: (state) => (state === null ? 'nil' : String(state)),
  readOnly: (input, output) => input.f === 'read' || (input.f === 'cas' && !isUnknown(output) && output.ok === false),
  describeOperation(input, output) {
    switch (input.f) {
      case 'read':
        return `read -> ${isUnknown(output) ? '?' : show(output.value)}`;
      case 'write':
        return `write ${show(input.value)}${isUnknown(output) ? ' (outcome unknown)' : ''}`;
      case 'cas':
        return `cas ${show(input.expected)} -> ${show(input.value)}: ${
          isUnknown(output) ? '? (outcome unknown)' : output.ok === false ? 'not applied' : 'applied'
        }`;
    }
  },
  describeState: (state) => show(state),
};
