import type { Model } from '../types.ts';
import { isUnknown } from '../types.ts';
import { keyedModel } from './keyed.ts';
import type { KeyedState } from './keyed.ts';

export type AttrValue = number | string | boolean | null;
export type AttrRecord = Readonly<Record<string, AttrValue>>;

export type AttrInput =
  | { readonly f: 'getattr'; readonly inode: number }
  /** Sets the fields present in `attrs` (the mask) and leaves the others alone. */
  | { readonly f: 'setattr'; readonly inode: number; readonly attrs: AttrRecord };

/**
 * getattr: `{ attrs }`, the whole attribute record read; setattr: `{}`, or `{ attrs }` when the
 * reply carries the record after the change (checked like a getattr).
 */
export interface AttrOutput {
  readonly attrs?: AttrRecord;
}

export interface AttrModelOptions {
  /**
   * Attributes of an inode at the start of the history. Default: nothing known. A field that is
   * not known is fixed (but unknown) until it is first set, and the first read of it reveals it.
   */
  readonly initial?: (inode: number) => AttrRecord;
  /** Only these fields are checked; the others are ignored (e.g. timestamps a test cannot predict). */
  readonly fields?: readonly string[];
}

/** The known fields of one inode, keys sorted. */
export type AttrState = KeyedState<AttrRecord>;

function sortedRecord(fields: Iterable<[string, AttrValue]>): AttrRecord {
  const entries = [...fields].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: Record<string, AttrValue> = {};
  for (const [k, v] of entries) out[k] = v;
  return out;
}

function showRecord(record: AttrRecord): string {
  const keys = Object.keys(record).sort();
  return `{${keys.map((k) => `${k}=${JSON.stringify(record[k])}`).join(' ')}}`;
}

const INODE_PREFIX = 'inode ';

/**
 * One attribute record per inode: getattr returns the whole record, setattr sets the fields of its
 * mask. Partitioned by inode.
 */
export function createAttrModel(options: AttrModelOptions = {}): Model<AttrState, AttrInput, AttrOutput> {
  const tracked = options.fields === undefined ? undefined : new Set(options.fields);
  const track = (field: string): boolean => tracked === undefined || tracked.has(field);
  const filter = (record: AttrRecord): [string, AttrValue][] =>
    Object.entries(record).filter(([k]) => track(k));
  const initial = options.initial;

  /** Checks an observed record against the known fields; returns the record of known fields after it. */
  const observe = (known: AttrRecord, observed: AttrRecord): AttrRecord | undefined => {
    let adopted: [string, AttrValue][] | undefined;
    for (const [k, v] of filter(observed)) {
      if (Object.hasOwn(known, k)) {
        if (known[k] !== v) return undefined;
      } else {
        (adopted ??= []).push([k, v]);
      }
    }
    return adopted === undefined ? known : sortedRecord([...Object.entries(known), ...adopted]);
  };

  return keyedModel<AttrRecord, AttrInput, AttrOutput>({
    name: 'attr',
    keyOf: (input) => `${INODE_PREFIX}${input.inode}`,
    initKey: (key) => (initial === undefined ? {} : sortedRecord(filter(initial(Number(key.slice(INODE_PREFIX.length)))))),
    step(known, input, output) {
      if (input.f === 'getattr') {
        if (isUnknown(output) || output.attrs === undefined) return { ok: true, next: known };
        const next = observe(known, output.attrs);
        return next === undefined ? { ok: false } : { ok: true, next };
      }
      const set = filter(input.attrs);
      let next = known;
      if (set.some(([k, v]) => !Object.hasOwn(known, k) || known[k] !== v)) {
        const merged = new Map(Object.entries(known));
        for (const [k, v] of set) merged.set(k, v);
        next = sortedRecord(merged);
      }
      if (isUnknown(output) || output.attrs === undefined) return { ok: true, next };
      const after = observe(next, output.attrs);
      return after === undefined ? { ok: false } : { ok: true, next: after };
    },
    equal(a, b) {
      if (a === b) return true;
      const ka = Object.keys(a);
      if (ka.length !== Object.keys(b).length) return false;
      for (const k of ka) if (!Object.hasOwn(b, k) || a[k] !== b[k]) return false;
      return true;
    },
    hash: (record) => JSON.stringify(record),
    readOnly: (input) => input.f === 'getattr',
    describeOperation(input, output) {
      const result = isUnknown(output) ? ' (outcome unknown)' : output.attrs === undefined ? '' : ` -> ${showRecord(output.attrs)}`;
      if (input.f === 'getattr') return `getattr ${input.inode}${isUnknown(output) ? ' -> ?' : result}`;
      return `setattr ${input.inode} ${showRecord(input.attrs)}${result}`;
    },
    describeSub: (record) => showRecord(record),
  });
}

export const attrModel = createAttrModel();
