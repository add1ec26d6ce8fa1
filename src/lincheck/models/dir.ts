import type { Model, StepResult } from '../types.ts';
import { isUnknown } from '../types.ts';
import { keyedModel } from './keyed.ts';
import type { KeyedState } from './keyed.ts';

export type DirInput =
  | { readonly f: 'create'; readonly dir: number; readonly name: string }
  | { readonly f: 'remove'; readonly dir: number; readonly name: string }
  | { readonly f: 'readdir'; readonly dir: number };

/**
 * create: `{}` (created) or `{ error: 'EEXIST' }`; remove: `{}` (removed) or `{ error: 'ENOENT' }`;
 * readdir: `{ names }`, the whole set of names. Any other error is taken as "no effect" (better
 * recorded as a failed operation).
 */
export interface DirOutput {
  readonly error?: string;
  readonly names?: readonly string[];
}

/**
 * What is known of one directory. When `complete`, `present` is the whole set of names. Otherwise
 * (initial contents not known) `present` and `absent` are the names known to be in or out.
 * Arrays are sorted and without duplicates.
 */
export interface DirEntries {
  readonly complete: boolean;
  readonly present: readonly string[];
  readonly absent: readonly string[];
}

export interface DirModelOptions {
  /** Contents of a directory at the start of the history: empty (default), unknown, or given. */
  readonly initial?: 'empty' | 'unknown' | ((dir: number) => readonly string[]);
}

export type DirState = KeyedState<DirEntries>;

const sortUnique = (names: Iterable<string>): string[] => [...new Set(names)].sort();
const without = (names: readonly string[], name: string): readonly string[] =>
  names.includes(name) ? names.filter((n) => n !== name) : names;
const withName = (names: readonly string[], name: string): readonly string[] =>
  names.includes(name) ? names : sortUnique([...names, name]);

function contains(entries: DirEntries, name: string): boolean | undefined {
  if (entries.present.includes(name)) return true;
  if (entries.complete || entries.absent.includes(name)) return false;
  return undefined;
}

function addName(entries: DirEntries, name: string): DirEntries {
  if (entries.present.includes(name)) return entries;
  return { complete: entries.complete, present: withName(entries.present, name), absent: without(entries.absent, name) };
}

function removeName(entries: DirEntries, name: string): DirEntries {
  if (entries.complete) {
    return entries.present.includes(name) ? { complete: true, present: without(entries.present, name), absent: [] } : entries;
  }
  if (entries.absent.includes(name)) return entries;
  return { complete: false, present: without(entries.present, name), absent: withName(entries.absent, name) };
}

const sameList = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

const showNames = (names: readonly string[]): string => `{${names.map((n) => JSON.stringify(n)).join(', ')}}`;

const DIR_PREFIX = 'dir ';

/**
 * The set of names in each directory: create (ok or EEXIST), remove (ok or ENOENT), readdir
 * (the whole set). Partitioned by directory inode.
 */
export function createDirModel(options: DirModelOptions = {}): Model<DirState, DirInput, DirOutput> {
  const initial = options.initial ?? 'empty';
  const EMPTY: DirEntries = { complete: true, present: [], absent: [] };
  const UNKNOWN_DIR: DirEntries = { complete: false, present: [], absent: [] };
  return keyedModel<DirEntries, DirInput, DirOutput>({
    name: 'dir',
    keyOf: (input) => `${DIR_PREFIX}${input.dir}`,
    initKey(key) {
      if (initial === 'empty') return EMPTY;
      if (initial === 'unknown') return UNKNOWN_DIR;
      return { complete: true, present: sortUnique(initial(Number(key.slice(DIR_PREFIX.length)))), absent: [] };
    },
    step(entries, input, output): StepResult<DirEntries> {
      switch (input.f) {
        case 'create': {
          if (isUnknown(output)) return { ok: true, next: addName(entries, input.name) };
          const has = contains(entries, input.name);
          if (output.error === undefined) return has === true ? { ok: false } : { ok: true, next: addName(entries, input.name) };
          if (output.error === 'EEXIST') return has === false ? { ok: false } : { ok: true, next: addName(entries, input.name) };
          return { ok: true, next: entries };
        }
        case 'remove': {
          if (isUnknown(output)) return { ok: true, next: removeName(entries, input.name) };
          const has = contains(entries, input.name);
          if (output.error === undefined) return has === false ? { ok: false } : { ok: true, next: removeName(entries, input.name) };
          if (output.error === 'ENOENT') return has === true ? { ok: false } : { ok: true, next: removeName(entries, input.name) };
          return { ok: true, next: entries };
        }
        case 'readdir': {
          if (isUnknown(output) || output.names === undefined) return { ok: true, next: entries };
          const names = sortUnique(output.names);
          if (entries.complete) return sameList(names, entries.present) ? { ok: true, next: entries } : { ok: false };
          if (!entries.present.every((n) => names.includes(n))) return { ok: false };
          if (entries.absent.some((n) => names.includes(n))) return { ok: false };
          return { ok: true, next: { complete: true, present: names, absent: [] } };
        }
      }
    },
    equal: (a, b) => a === b || (a.complete === b.complete && sameList(a.present, b.present) && sameList(a.absent, b.absent)),
    hash: (entries) => JSON.stringify([entries.complete, entries.present, entries.absent]),
    readOnly: (input, output) => input.f === 'readdir' || (!isUnknown(output) && output.error !== undefined),
    describeOperation(input, output) {
      const unknown = isUnknown(output);
      switch (input.f) {
        case 'create':
        case 'remove':
          return `${input.f} ${input.dir}/${JSON.stringify(input.name)}: ${
            unknown ? '? (outcome unknown)' : output.error === undefined ? 'ok' : output.error
          }`;
        case 'readdir':
          return `readdir ${input.dir} -> ${unknown || output.names === undefined ? '?' : showNames(sortUnique(output.names))}`;
      }
    },
    describeSub(entries) {
      if (entries.complete) return showNames(entries.present);
      return `${showNames(entries.present)} + unknown names${entries.absent.length > 0 ? ` - ${showNames(entries.absent)}` : ''}`;
    },
  });
}

export const dirModel = createDirModel();
