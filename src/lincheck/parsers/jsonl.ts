import { HistoryRecorder } from '../recorder.ts';
import type { History, Operation } from '../types.ts';
import { isUnknown } from '../types.ts';
import { isModelName, MODEL_NAMES } from '../models/index.ts';
import type {
  AttrInput,
  AttrOutput,
  AttrRecord,
  DirInput,
  DirOutput,
  KvInput,
  KvOutput,
  ModelName,
  RegisterInput,
  RegisterOutput,
  RegisterValue,
  TypedHistory,
} from '../models/index.ts';
import { HistoryParseError, atLine, splitLines } from './errors.ts';

type Rec = Readonly<Record<string, unknown>>;

interface Codec<I, O> {
  readonly functions: readonly string[];
  input(f: string, rec: Rec): I;
  output(input: I, rec: Rec): O;
  encodeInput(input: I): Record<string, unknown>;
  encodeOutput(input: I, output: O): Record<string, unknown>;
}

function field(rec: Rec, name: string): unknown {
  if (!Object.hasOwn(rec, name)) throw new Error(`missing "${name}"`);
  return rec[name];
}

function str(rec: Rec, name: string): string {
  const v = field(rec, name);
  if (typeof v !== 'string') throw new Error(`"${name}" must be a string`);
  return v;
}

function int(rec: Rec, name: string): number {
  const v = field(rec, name);
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new Error(`"${name}" must be an integer`);
  return v;
}

function regValue(rec: Rec, name: string): RegisterValue {
  const v = field(rec, name);
  if (v !== null && (typeof v !== 'number' || !Number.isSafeInteger(v))) throw new Error(`"${name}" must be an integer or null`);
  return v;
}

function optionalError(rec: Rec): string | undefined {
  if (!Object.hasOwn(rec, 'error') || rec['error'] === null) return undefined;
  if (typeof rec['error'] !== 'string') throw new Error('"error" must be a string');
  return rec['error'];
}

function attrs(rec: Rec, name: string): AttrRecord {
  const v = field(rec, name);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`"${name}" must be an object`);
  for (const [k, x] of Object.entries(v)) {
    if (x !== null && typeof x !== 'number' && typeof x !== 'string' && typeof x !== 'boolean') {
      throw new Error(`"${name}.${k}" must be a number, string, boolean or null`);
    }
  }
  return v as AttrRecord;
}

const registerCodec: Codec<RegisterInput, RegisterOutput> = {
  functions: ['read', 'write', 'cas'],
  input(f, rec) {
    if (f === 'read') return { f };
    if (f === 'write') return { f, value: regValue(rec, 'value') };
    return { f: 'cas', expected: regValue(rec, 'expected'), value: regValue(rec, 'value') };
  },
  output(input, rec) {
    if (input.f === 'read') return { value: regValue(rec, 'value') };
    if (input.f === 'write') return {};
    return { ok: optionalError(rec) === undefined };
  },
  encodeInput(input) {
    if (input.f === 'read') return {};
    if (input.f === 'write') return { value: input.value };
    return { expected: input.expected, value: input.value };
  },
  encodeOutput(input, output) {
    if (input.f === 'read') return { value: output.value ?? null };
    if (input.f === 'cas' && output.ok === false) return { error: 'mismatch' };
    return {};
  },
};

const kvCodec: Codec<KvInput, KvOutput> = {
  functions: ['get', 'put', 'append'],
  input(f, rec) {
    const key = str(rec, 'key');
    if (f === 'get') return { f, key };
    return { f: f as 'put' | 'append', key, value: str(rec, 'value') };
  },
  output(input, rec) {
    return input.f === 'get' ? { value: str(rec, 'value') } : {};
  },
  encodeInput(input) {
    return input.f === 'get' ? { key: input.key } : { key: input.key, value: input.value };
  },
  encodeOutput(input, output) {
    return input.f === 'get' ? { key: input.key, value: output.value ?? '' } : { key: input.key };
  },
};

const attrCodec: Codec<AttrInput, AttrOutput> = {
  functions: ['getattr', 'setattr'],
  input(f, rec) {
    const inode = int(rec, 'inode');
    if (f === 'getattr') return { f, inode };
    return { f: 'setattr', inode, attrs: attrs(rec, 'attrs') };
  },
  output(input, rec) {
    if (input.f === 'getattr') return { attrs: attrs(rec, 'attrs') };
    return Object.hasOwn(rec, 'attrs') && rec['attrs'] !== null ? { attrs: attrs(rec, 'attrs') } : {};
  },
  encodeInput(input) {
    return input.f === 'getattr' ? { inode: input.inode } : { inode: input.inode, attrs: input.attrs };
  },
  encodeOutput(input, output) {
    return output.attrs === undefined ? { inode: input.inode } : { inode: input.inode, attrs: output.attrs };
  },
};

const dirCodec: Codec<DirInput, DirOutput> = {
  functions: ['create', 'remove', 'readdir'],
  input(f, rec) {
    const dir = int(rec, 'dir');
    if (f === 'readdir') return { f, dir };
    return { f: f as 'create' | 'remove', dir, name: str(rec, 'name') };
  },
  output(input, rec) {
    if (input.f === 'readdir') {
      const names = field(rec, 'names');
      if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) throw new Error('"names" must be an array of strings');
      return { names: names as string[] };
    }
    const error = optionalError(rec);
    return error === undefined ? {} : { error };
  },
  encodeInput(input) {
    return input.f === 'readdir' ? { dir: input.dir } : { dir: input.dir, name: input.name };
  },
  encodeOutput(input, output) {
    const base: Record<string, unknown> = input.f === 'readdir' ? { dir: input.dir } : { dir: input.dir, name: input.name };
    if (output.names !== undefined) base['names'] = output.names;
    if (output.error !== undefined) base['error'] = output.error;
    return base;
  },
};

const CODECS: { readonly [M in ModelName]: Codec<never, never> } = {
  register: registerCodec as Codec<never, never>,
  kv: kvCodec as Codec<never, never>,
  attr: attrCodec as Codec<never, never>,
  dir: dirCodec as Codec<never, never>,
};

function codecOf(model: ModelName): Codec<unknown, unknown> {
  return CODECS[model] as unknown as Codec<unknown, unknown>;
}

const TYPES = new Set(['invoke', 'ok', 'fail', 'info']);

export interface JsonlOptions {
  /** The model, when the file does not name it (it is an error if the file names another one). */
  readonly model?: ModelName;
}

/**
 * Parses a JSONL history (see docs/LINCHECK.md): one JSON object per line, either a header
 * (`{"model":"kv"}`, no `"type"`) or an event
 * (`{"process":0,"type":"invoke","f":"put","key":"k","value":"v","time":1}`).
 */
export function parseJsonl(text: string, options: JsonlOptions = {}): TypedHistory {
  const lines = splitLines(text);
  const records: { line: number; rec: Rec }[] = [];
  let model: ModelName | undefined = options.model;
  let modelLine = 0;
  let fields: string[] | undefined;
  let initial: 'empty' | 'unknown' | undefined;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (raw.trim() === '') continue;
    const lineNo = i + 1;
    atLine(lineNo, () => {
      let rec: unknown;
      try {
        rec = JSON.parse(raw);
      } catch {
        throw new Error('invalid JSON');
      }
      if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) throw new Error('expected a JSON object');
      const r = rec as Rec;
      if (Object.hasOwn(r, 'model')) {
        const name = r['model'];
        if (typeof name !== 'string' || !isModelName(name)) {
          throw new Error(`unknown model ${JSON.stringify(name)} (expected one of ${MODEL_NAMES.join(', ')})`);
        }
        if (model !== undefined && name !== model) {
          throw new Error(`model ${name} conflicts with model ${model}${modelLine > 0 ? ` named on line ${modelLine}` : ''}`);
        }
        model = name;
        modelLine ||= lineNo;
      }
      if (!Object.hasOwn(r, 'type')) {
        if (Object.hasOwn(r, 'fields')) {
          const fs = r['fields'];
          if (!Array.isArray(fs) || !fs.every((x) => typeof x === 'string')) throw new Error('"fields" must be an array of strings');
          fields = fs as string[];
        }
        if (Object.hasOwn(r, 'initial')) {
          const init = r['initial'];
          if (init !== 'empty' && init !== 'unknown') throw new Error('"initial" must be "empty" or "unknown"');
          initial = init;
        }
        return;
      }
      records.push({ line: lineNo, rec: r });
    });
  }
  if (model === undefined) {
    throw new HistoryParseError(records[0]?.line ?? 1, `no model named (add a header line such as {"model":"kv"}, or pass the model)`);
  }
  if (records.length === 0) throw new HistoryParseError(Math.max(1, lines.length), 'no operations found');

  const codec = codecOf(model);
  const recorder = new HistoryRecorder<unknown, unknown>();
  const fns = new Set(codec.functions);
  const timed = Object.hasOwn(records[0]!.rec, 'time');
  for (const { line, rec } of records) {
    atLine(line, () => {
      const type = rec['type'];
      if (typeof type !== 'string' || !TYPES.has(type)) throw new Error(`"type" must be one of invoke, ok, fail, info`);
      const process = field(rec, 'process');
      if (typeof process !== 'string' && (typeof process !== 'number' || !Number.isSafeInteger(process))) {
        throw new Error('"process" must be an integer or a string');
      }
      let time: number = line;
      if (type !== 'info') {
        const has = Object.hasOwn(rec, 'time');
        if (has !== timed) throw new Error(`"time" must be given on every line or on none (line ${records[0]!.line} ${timed ? 'has' : 'has none'})`);
        if (has) {
          const t = rec['time'];
          if (typeof t !== 'number' || !Number.isFinite(t)) throw new Error('"time" must be a finite number');
          time = t;
        }
      }
      const f = rec['f'];
      if (type === 'invoke') {
        if (typeof f !== 'string' || !fns.has(f)) throw new Error(`"f" must be one of ${codec.functions.join(', ')} for model ${model}`);
        recorder.invoke(process, codec.input(f, rec), time);
        return;
      }
      const id = recorder.openOperation(process);
      if (id === undefined) throw new Error(`${type} for process ${JSON.stringify(process)}, which has no operation open`);
      const input = recorder.inputOf(id) as { f: string };
      if (f !== undefined && f !== input.f) throw new Error(`${type} "${String(f)}" completes a "${input.f}" of process ${JSON.stringify(process)}`);
      if (type === 'ok') recorder.complete(id, codec.output(input, rec), time);
      else if (type === 'fail') recorder.fail(id, time);
      else recorder.timeout(id);
    });
  }
  const history = recorder.history();
  switch (model) {
    case 'attr':
      return { model, history: history as History<AttrInput, AttrOutput>, ...(fields !== undefined ? { fields } : {}) };
    case 'dir':
      return { model, history: history as History<DirInput, DirOutput>, ...(initial !== undefined ? { initial } : {}) };
    case 'kv':
      return { model, history: history as History<KvInput, KvOutput> };
    case 'register':
      return { model, history: history as History<RegisterInput, RegisterOutput> };
  }
}

/**
 * Writes a history in the JSONL format: a header line naming the model, then one line per event
 * in time order. An operation of unknown outcome gets an `info` line just before its process's
 * next invoke, or at the end.
 */
export function formatJsonl(typed: TypedHistory): string {
  const codec = codecOf(typed.model);
  const ops = typed.history as readonly Operation<unknown, unknown>[];
  const header: Record<string, unknown> = { model: typed.model };
  if (typed.model === 'attr' && typed.fields !== undefined) header['fields'] = typed.fields;
  if (typed.model === 'dir' && typed.initial !== undefined) header['initial'] = typed.initial;
  let end = 0;
  for (const op of ops) end = Math.max(end, op.call, Number.isFinite(op.ret) ? op.ret : op.call);
  const byProcess = new Map<string, Operation<unknown, unknown>[]>();
  for (const op of ops) {
    const key = JSON.stringify(op.process);
    const list = byProcess.get(key) ?? [];
    list.push(op);
    byProcess.set(key, list);
  }
  interface Event {
    time: number;
    order: number;
    seq: number;
    line: Record<string, unknown>;
  }
  // Each process's events in its own order; merged by time, completions before invokes on ties.
  const queues: Event[][] = [];
  for (const list of byProcess.values()) {
    const queue: Event[] = [];
    list.sort((a, b) => a.call - b.call || a.id - b.id);
    list.forEach((op, i) => {
      const input = op.input as { f: string };
      queue.push({ time: op.call, order: 1, seq: op.id, line: { process: op.process, type: 'invoke', f: input.f, ...codec.encodeInput(input), time: op.call } });
      if (op.status === 'ok') {
        const output = isUnknown(op.output) ? undefined : op.output;
        const fields = output === undefined ? {} : codec.encodeOutput(input, output);
        queue.push({ time: op.ret, order: 0, seq: op.id, line: { process: op.process, type: 'ok', f: input.f, ...fields, time: op.ret } });
      } else {
        const time = op.status === 'fail' ? op.ret : Math.max(op.call, list[i + 1]?.call ?? end);
        queue.push({ time, order: 0, seq: op.id, line: { process: op.process, type: op.status === 'fail' ? 'fail' : 'info', f: input.f, time } });
      }
    });
    queues.push(queue);
  }
  const before = (a: Event, b: Event): boolean => a.time < b.time || (a.time === b.time && (a.order < b.order || (a.order === b.order && a.seq < b.seq)));
  const heads = new Array<number>(queues.length).fill(0);
  const events: Event[] = [];
  for (;;) {
    let best = -1;
    for (let q = 0; q < queues.length; q++) {
      const e = queues[q]![heads[q]!];
      if (e !== undefined && (best < 0 || before(e, queues[best]![heads[best]!]!))) best = q;
    }
    if (best < 0) break;
    events.push(queues[best]![heads[best]!++]!);
  }
  return [JSON.stringify(header), ...events.map((e) => JSON.stringify(e.line))].join('\n') + '\n';
}
