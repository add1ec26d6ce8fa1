/** A broken invariant: the process must stop, never limp on. */
export class InvariantError extends Error {
  override readonly name = 'InvariantError';
  constructor(
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(details === undefined ? message : `${message} ${JSON.stringify(details)}`);
  }
}

export function assert(cond: boolean, message: string, details?: Record<string, unknown>): asserts cond {
  if (!cond) throw new InvariantError(message, details);
}
