import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  HistoryParseError,
  MODEL_NAMES,
  checkTyped,
  formatReport,
  isModelName,
  parseJepsenRegister,
  parseJsonl,
  parseKvEdn,
} from '../lincheck/index.ts';
import type { ModelName, TypedHistory } from '../lincheck/index.ts';

const FORMATS = ['jepsen-register', 'kv', 'jsonl'] as const;
type Format = (typeof FORMATS)[number];

const USAGE = `Usage: npm run -s lincheck -- [options] FILE...

Checks each history FILE for linearizability and prints "FILE linearizable",
"FILE not-linearizable", "FILE unknown" (budget exhausted) or "FILE error" (bad input).

Options:
  --format F            jepsen-register  Jepsen etcd register log (INFO jepsen.util lines)
                        kv               key-value history, one EDN map per line
                        jsonl            mooseng JSONL history (default; see docs/LINCHECK.md)
  --model M             model of JSONL files that do not name one: ${MODEL_NAMES.join(', ')}
  --time-budget-ms N    time budget per file, in ms (default 10000); past it the verdict is unknown
  --report              print the violation report (or why the verdict is unknown)
  --help                show this help

Exit status: 0 if every file is linearizable, 1 if any is not linearizable, otherwise 2 if any
is unknown or could not be read or parsed (2 also for a usage error).
`;

function fail(message: string): never {
  process.stderr.write(`lincheck: ${message}\n${USAGE}`);
  process.exit(2);
}

function parse(format: Format, text: string, model: ModelName | undefined): TypedHistory {
  switch (format) {
    case 'jepsen-register':
      return { model: 'register', history: parseJepsenRegister(text) };
    case 'kv':
      return { model: 'kv', history: parseKvEdn(text) };
    case 'jsonl':
      return parseJsonl(text, model === undefined ? {} : { model });
  }
}

function main(argv: readonly string[]): number {
  let args;
  try {
    args = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        format: { type: 'string' },
        model: { type: 'string' },
        'time-budget-ms': { type: 'string' },
        report: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    });
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = args;
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  const format = values.format ?? 'jsonl';
  if (!(FORMATS as readonly string[]).includes(format)) fail(`unknown format ${JSON.stringify(format)} (expected ${FORMATS.join(', ')})`);
  const model = values.model;
  if (model !== undefined && !isModelName(model)) fail(`unknown model ${JSON.stringify(model)} (expected ${MODEL_NAMES.join(', ')})`);
  let timeBudgetMs = 10_000;
  if (values['time-budget-ms'] !== undefined) {
    timeBudgetMs = Number(values['time-budget-ms']);
    if (!Number.isFinite(timeBudgetMs) || timeBudgetMs <= 0) fail(`--time-budget-ms needs a positive number, got ${JSON.stringify(values['time-budget-ms'])}`);
  }
  if (positionals.length === 0) fail('no history file given');

  let violation = false;
  let undecided = false;
  for (const file of positionals) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      process.stderr.write(`lincheck: ${file}: cannot read file${code === undefined ? '' : ` (${code})`}\n`);
      process.stdout.write(`${file} error\n`);
      undecided = true;
      continue;
    }
    let typed: TypedHistory;
    try {
      typed = parse(format as Format, text, model as ModelName | undefined);
    } catch (error) {
      const where = error instanceof HistoryParseError ? `${file}:${error.line}` : file;
      const message = error instanceof HistoryParseError ? error.message.replace(/^line \d+: /, '') : String(error);
      process.stderr.write(`lincheck: ${where}: ${message} (format ${format})\n`);
      process.stdout.write(`${file} error\n`);
      undecided = true;
      continue;
    }
    const result = checkTyped(typed, { timeBudgetMs });
    process.stdout.write(`${file} ${result.verdict}\n`);
    if (result.verdict === 'not-linearizable') violation = true;
    if (result.verdict === 'unknown') undecided = true;
    if (values.report === true && result.verdict !== 'linearizable') {
      process.stdout.write(formatReport(result).replace(/^/gm, '    ').replace(/ +$/, '') );
    }
  }
  return violation ? 1 : undecided ? 2 : 0;
}

process.exitCode = main(process.argv.slice(2));
