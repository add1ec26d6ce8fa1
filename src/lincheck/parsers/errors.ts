/** A malformed history; `line` is 1-based. */
export class HistoryParseError extends Error {
  readonly line: number;

  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'HistoryParseError';
    this.line = line;
  }
}

/** Runs `fn`, turning any error it throws into a HistoryParseError for `line`. */
export function atLine<T>(line: number, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof HistoryParseError) throw error;
    throw new HistoryParseError(line, error instanceof Error ? error.message : String(error));
  }
}

export function splitLines(text: string): string[] {
  return text.split(/\r?\n/);
}
