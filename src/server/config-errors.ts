/** One thing wrong with a configuration: the key it concerns and what to write instead. */
export interface ConfigProblem {
  /** The key path as written in the file: `timing.heartbeat_ms`, `peers[2].client` (entries count from 0). Empty for the whole file. */
  readonly path: string;
  readonly message: string;
}

/**
 * A configuration that cannot be used. `problems` lists everything found in one pass, so the
 * operator fixes the file once instead of once per restart. Never retryable: the file must change.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'ERR_CONFIG';

  constructor(
    /** The file (or label) the configuration came from. */
    readonly source: string,
    readonly problems: readonly ConfigProblem[],
    options?: { cause?: unknown },
  ) {
    super(formatProblems(source, problems), options);
  }
}

function formatProblems(source: string, problems: readonly ConfigProblem[]): string {
  const n = problems.length;
  const lines = problems.map((p) => `  - ${p.path === '' ? '' : `${p.path}: `}${p.message}`);
  return `ERR_CONFIG: ${source}: ${n} problem${n === 1 ? '' : 's'}\n${lines.join('\n')}`;
}

/** Collects problems while a configuration is checked; `throwIfAny` raises them all at once. */
export class ProblemList {
  private readonly list: ConfigProblem[] = [];

  add(path: string, message: string): void {
    this.list.push({ path, message });
  }

  get count(): number {
    return this.list.length;
  }

  all(): readonly ConfigProblem[] {
    return this.list.slice();
  }

  throwIfAny(source: string): void {
    if (this.list.length > 0) throw new ConfigError(source, this.all());
  }
}
