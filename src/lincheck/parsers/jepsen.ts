import { HistoryRecorder } from '../recorder.ts';
import type { History } from '../types.ts';
import type { RegisterInput, RegisterOutput, RegisterValue } from '../models/register.ts';
import { HistoryParseError, atLine, splitLines } from './errors.ts';

const LINE = /^\s*INFO\s+jepsen\.util\s+-\s+(\S+)\s+:(invoke|ok|fail|info)\s+:(\S+)(?:\s+(.*?))?\s*$/;

function parseValue(text: string): RegisterValue {
  if (text === 'nil') return null;
  if (/^-?\d+$/.test(text)) return Number(text);
  throw new Error(`expected an integer or nil, got ${JSON.stringify(text)}`);
}

function parsePair(text: string): [RegisterValue, RegisterValue] {
  const m = /^\[\s*(\S+)\s+(\S+)\s*\]$/.exec(text);
  if (m === null) throw new Error(`expected [A B], got ${JSON.stringify(text)}`);
  return [parseValue(m[1]!), parseValue(m[2]!)];
}

/**
 * Parses a Jepsen etcd register log (`INFO jepsen.util - P :type :f value` lines; all other lines
 * are ignored). The history order is the line order, and each line's number is its time.
 *
 * - `:ok :read V` observes V; `:ok :write`, `:ok :cas` took effect;
 * - `:fail :cas [A B]` executed and did not apply: an observation (output `{ ok: false }`);
 * - `:fail` of a read or write: no effect, dropped;
 * - `:info`, or no completion by the end of the file: unknown outcome.
 */
export function parseJepsenRegister(text: string): History<RegisterInput, RegisterOutput> {
  const recorder = new HistoryRecorder<RegisterInput, RegisterOutput>();
  const lines = splitLines(text);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const m = LINE.exec(lines[i]!);
    if (m === null) continue;
    const [, processText, type, f, rest] = m as unknown as [string, string, string, string, string | undefined];
    if (!/^\d+$/.test(processText)) continue; // the nemesis and other non-client processes
    const process = Number(processText);
    const value = rest ?? '';
    atLine(lineNo, () => {
      if (f !== 'read' && f !== 'write' && f !== 'cas') throw new Error(`unknown operation :${f}`);
      if (type === 'invoke') {
        const input: RegisterInput =
          f === 'read'
            ? { f }
            : f === 'write'
              ? { f, value: parseValue(value) }
              : (([expected, v]) => ({ f, expected, value: v }))(parsePair(value));
        recorder.invoke(process, input, lineNo);
        return;
      }
      const id = recorder.openOperation(process);
      if (id === undefined) throw new Error(`:${type} :${f} for process ${process}, which has no operation open`);
      const invoked = recorder.inputOf(id);
      if (invoked.f !== f) throw new Error(`:${type} :${f} completes a :${invoked.f} of process ${process}`);
      if (type === 'info') {
        recorder.timeout(id);
      } else if (type === 'ok') {
        recorder.complete(id, f === 'read' ? { value: parseValue(value) } : f === 'cas' ? { ok: true } : {}, lineNo);
      } else if (f === 'cas' && value.startsWith('[')) {
        parsePair(value);
        recorder.complete(id, { ok: false }, lineNo);
      } else {
        recorder.fail(id, lineNo);
      }
    });
  }
  if (recorder.length === 0) throw new HistoryParseError(lines.length, 'no Jepsen register operations found');
  return recorder.history();
}
