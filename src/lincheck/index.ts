export * from './types.ts';
export { check, DEFAULT_TIME_BUDGET_MS } from './checker.ts';
export { formatReport } from './report.ts';
export type { FormatOptions } from './report.ts';
export { HistoryRecorder } from './recorder.ts';
export type { RecorderOptions } from './recorder.ts';
export * from './models/index.ts';
export { HistoryParseError } from './parsers/errors.ts';
export { parseJepsenRegister } from './parsers/jepsen.ts';
export { parseKvEdn, parseEdn, printEdn, isKeyword } from './parsers/edn.ts';
export type { Edn, EdnKeyword, EdnMap, EdnSymbol } from './parsers/edn.ts';
export { parseJsonl, formatJsonl } from './parsers/jsonl.ts';
export type { JsonlOptions } from './parsers/jsonl.ts';

import { check } from './checker.ts';
import { modelFor } from './models/index.ts';
import type { TypedHistory } from './models/index.ts';
import type { CheckOptions, CheckResult } from './types.ts';

/** Checks a history read from a file against the model it names. */
export function checkTyped(typed: TypedHistory, options: CheckOptions = {}): CheckResult<unknown, unknown> {
  return check(modelFor(typed), typed.history as never, options) as CheckResult<unknown, unknown>;
}
