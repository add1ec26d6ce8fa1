/**
 * Helpers shared by the tests and benchmarks that run real processes: waiting for a condition
 * and finding free ports on 127.0.0.1.
 */
import { randomInt } from 'node:crypto';
import { createServer } from 'node:net';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every `pollMs` until it returns something other than undefined/false; throws after `timeoutMs` naming `what` (and the last error `cond` threw). */
export async function waitUntil<T>(
  what: string,
  timeoutMs: number,
  cond: () => Promise<T | undefined | false> | T | undefined | false,
  pollMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await cond();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    await sleep(pollMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : ` (last error: ${String(last)})`}`);
}

function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = createServer();
    s.once('error', () => done(false));
    s.listen(port, '127.0.0.1', () => s.close(() => done(true)));
  });
}

/** Ports the tests and benchmarks pick from. */
const portMin = 20_000;
const portMax = 40_000;

/** A random base port such that `count` consecutive ports from it are free on 127.0.0.1 right now. */
export async function freePortBase(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = randomInt(portMin, portMax - count);
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free ports in ${portMin}-${portMax}`);
}
