import { HistoryRecorder } from '../recorder.ts';
import type { History } from '../types.ts';
import type { KvInput, KvOutput } from '../models/kv.ts';
import { HistoryParseError, atLine, splitLines } from './errors.ts';

/** A keyword such as `:ok` (stored without the colon). */
export interface EdnKeyword {
  readonly keyword: string;
}
export interface EdnSymbol {
  readonly symbol: string;
}
/** Maps are keyed by the printed form of their keys (`':f'`, `'"k"'`, `'1'`). */
export type EdnMap = ReadonlyMap<string, Edn>;
export type Edn = null | boolean | number | string | EdnKeyword | EdnSymbol | readonly Edn[] | EdnMap;

export function isKeyword(value: Edn | undefined): value is EdnKeyword {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Map) && 'keyword' in value;
}

export function printEdn(value: Edn): string {
  if (value === null) return 'nil';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map(printEdn).join(' ')}]`;
  if (value instanceof Map) return `{${[...value].map(([k, v]) => `${k} ${printEdn(v as Edn)}`).join(', ')}}`;
  if ('keyword' in value) return `:${value.keyword}`;
  return (value as EdnSymbol).symbol;
}

const DELIMITERS = new Set(['(', ')', '[', ']', '{', '}', '"', ';', ',']);

class Reader {
  pos = 0;
  constructor(readonly text: string) {}

  fail(message: string): never {
    throw new Error(`${message} at column ${this.pos + 1}`);
  }

  skip(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t[this.pos]!;
      if (c === ';') {
        while (this.pos < t.length && t[this.pos] !== '\n') this.pos++;
      } else if (c === ',' || /\s/.test(c)) {
        this.pos++;
      } else {
        break;
      }
    }
  }

  token(): string {
    const start = this.pos;
    const t = this.text;
    while (this.pos < t.length && !DELIMITERS.has(t[this.pos]!) && !/\s/.test(t[this.pos]!)) this.pos++;
    return t.slice(start, this.pos);
  }

  sequence(close: string): Edn[] {
    const items: Edn[] = [];
    for (;;) {
      this.skip();
      if (this.pos >= this.text.length) this.fail(`missing ${close}`);
      if (this.text[this.pos] === close) {
        this.pos++;
        return items;
      }
      items.push(this.value());
    }
  }

  string(): string {
    const t = this.text;
    let out = '';
    this.pos++;
    for (;;) {
      if (this.pos >= t.length) this.fail('unterminated string');
      const c = t[this.pos++]!;
      if (c === '"') return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = t[this.pos++];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case 'u': {
          const hex = t.slice(this.pos, this.pos + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('bad \\u escape');
          out += String.fromCharCode(parseInt(hex, 16));
          this.pos += 4;
          break;
        }
        default:
          this.fail(`bad escape \\${e ?? ''}`);
      }
    }
  }

  value(): Edn {
    this.skip();
    const t = this.text;
    if (this.pos >= t.length) this.fail('unexpected end of input');
    const c = t[this.pos]!;
    switch (c) {
      case '{': {
        this.pos++;
        const items = this.sequence('}');
        if (items.length % 2 !== 0) this.fail('map with an odd number of forms');
        const map = new Map<string, Edn>();
        for (let i = 0; i < items.length; i += 2) map.set(printEdn(items[i]!), items[i + 1]!);
        return map;
      }
      case '[':
        this.pos++;
        return this.sequence(']');
      case '(':
        this.pos++;
        return this.sequence(')');
      case '"':
        return this.string();
      case '#': {
        this.pos++;
        if (t[this.pos] === '{') {
          this.pos++;
          return this.sequence('}');
        }
        if (t[this.pos] === '_') {
          this.pos++;
          this.value();
          return this.value();
        }
        this.token();
        return this.value();
      }
      case '\\': {
        this.pos++;
        const ch = t[this.pos++] ?? this.fail('bad character literal');
        const more = this.token();
        const named: Record<string, string> = { newline: '\n', space: ' ', tab: '\t', return: '\r' };
        return more === '' ? ch : (named[ch + more] ?? ch + more);
      }
      case ')':
      case ']':
      case '}':
        return this.fail(`unexpected ${c}`);
      default: {
        const tok = this.token();
        if (tok === '') this.fail(`unexpected ${c}`);
        if (tok === 'nil') return null;
        if (tok === 'true') return true;
        if (tok === 'false') return false;
        if (tok.startsWith(':')) return { keyword: tok.slice(1) };
        if (/^[+-]?\d+N?$/.test(tok)) return Number(tok.replace(/N$/, ''));
        if (/^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\d+\/\d+)M?$/.test(tok)) {
          const num = tok.replace(/M$/, '');
          if (num.includes('/')) {
            const [a, b] = num.split('/');
            return Number(a) / Number(b);
          }
          return Number(num);
        }
        return { symbol: tok };
      }
    }
  }
}

/** Reads exactly one EDN value from `text`. */
export function parseEdn(text: string): Edn {
  const reader = new Reader(text);
  const value = reader.value();
  reader.skip();
  if (reader.pos < text.length) reader.fail('trailing characters');
  return value;
}

const KV_FUNCTIONS = new Set(['get', 'put', 'append']);

/**
 * Parses a Jepsen-style key-value history, one EDN map per line:
 * `{:process 0, :type :invoke, :f :append, :key "0", :value "x"}`. Types are `:invoke`, `:ok`,
 * `:fail` (no effect) and `:info` (unknown outcome); functions `:get`, `:put`, `:append`. The
 * history order is the line order (each line's number is its time). Lines whose `:process` is
 * not an integer (the nemesis) are ignored.
 */
export function parseKvEdn(text: string): History<KvInput, KvOutput> {
  const recorder = new HistoryRecorder<KvInput, KvOutput>();
  const lines = splitLines(text);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const lineNo = i + 1;
    atLine(lineNo, () => {
      const value = parseEdn(line);
      if (!(value instanceof Map)) throw new Error('expected an EDN map');
      const process = value.get(':process');
      if (typeof process !== 'number') {
        if (process === undefined) throw new Error('missing :process');
        return;
      }
      const type = value.get(':type');
      const f = value.get(':f');
      if (!isKeyword(type)) throw new Error('missing or invalid :type');
      if (!isKeyword(f) || !KV_FUNCTIONS.has(f.keyword)) throw new Error(`unknown :f ${f === undefined ? '(missing)' : printEdn(f)}`);
      const fn = f.keyword as KvInput['f'];
      const rawKey = value.get(':key');
      if (typeof rawKey !== 'string' && typeof rawKey !== 'number') throw new Error('missing or invalid :key');
      const key = String(rawKey);
      const v = value.get(':value');
      if (type.keyword === 'invoke') {
        let input: KvInput;
        if (fn === 'get') {
          input = { f: 'get', key };
        } else {
          if (typeof v !== 'string') throw new Error(`:${fn} needs a string :value`);
          input = { f: fn, key, value: v };
        }
        recorder.invoke(process, input, lineNo);
        return;
      }
      const id = recorder.openOperation(process);
      if (id === undefined) throw new Error(`:${type.keyword} for process ${process}, which has no operation open`);
      const invoked = recorder.inputOf(id);
      if (invoked.f !== fn || invoked.key !== key) {
        throw new Error(`:${type.keyword} :${fn} ${JSON.stringify(key)} does not match the open :${invoked.f} ${JSON.stringify(invoked.key)} of process ${process}`);
      }
      switch (type.keyword) {
        case 'ok':
          if (fn === 'get') {
            if (typeof v !== 'string') throw new Error(':ok :get needs a string :value');
            recorder.complete(id, { value: v }, lineNo);
          } else {
            recorder.complete(id, {}, lineNo);
          }
          return;
        case 'fail':
          recorder.fail(id, lineNo);
          return;
        case 'info':
          recorder.timeout(id);
          return;
        default:
          throw new Error(`unknown :type :${type.keyword}`);
      }
    });
  }
  if (recorder.length === 0) throw new HistoryParseError(Math.max(1, lines.length), 'no key-value operations found');
  return recorder.history();
}
