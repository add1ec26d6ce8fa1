import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MetadataState,
  chunkSizeBytes,
  maxChunkIndex,
  noSession,
  type Command,
  type CommandHeader,
  type CommandResult,
  type MetadataStateOptions,
} from '../../src/master/index.ts';

export type CommandBody = Command extends infer C ? (C extends Command ? Omit<C, keyof CommandHeader> & Partial<CommandHeader> : never) : never;

export interface As {
  readonly uid: number;
  readonly gids: readonly number[];
}
export const root: As = { uid: 0, gids: [0] };

/** A state machine driven like a leader would: increasing indexes, a clock carried in commands. */
export class Driver {
  readonly state: MetadataState;
  index = 0;
  timeSec = 1_000;
  readonly log: Command[] = [];

  constructor(options: MetadataStateOptions = {}) {
    this.state = new MetadataState(options);
  }

  run(body: CommandBody, as: As = root): CommandResult {
    const command = { timeSec: this.timeSec, uid: as.uid, gids: as.gids, session: noSession, ...body } as Command;
    this.log.push(command);
    const result = this.state.apply(command, { index: ++this.index });
    assert.deepEqual(this.state.checkInvariants(), [], `invariants after ${command.kind}`);
    return result;
  }

  /** Runs a command that must succeed and returns its inode. */
  ok(body: CommandBody, as: As = root): number {
    const r = this.run(body, as);
    if (!r.ok) assert.fail(`${body.kind} failed with ${r.code}`);
    return r.inode;
  }

  mkdir(parent: number, name: string, mode = 0o755, as: As = root): number {
    return this.ok({ kind: 'mkdir', parent, name, mode, umask: 0 }, as);
  }

  create(parent: number, name: string, mode = 0o644, as: As = root): number {
    return this.ok({ kind: 'create', parent, name, mode, umask: 0 }, as);
  }

  code(body: CommandBody, as: As = root): string {
    const r = this.run(body, as);
    return r.ok ? 'OK' : r.code;
  }

  attr(inode: number) {
    const r = this.state.getattr(inode);
    if (!r.ok) assert.fail(`getattr ${inode}: ${r.code}`);
    return r.attr;
  }

  names(dir: number): string[] {
    const r = this.state.readdir(dir, root, null, 65_536);
    if (!r.ok) assert.fail(`readdir ${dir}: ${r.code}`);
    return r.entries.map((e) => e.name);
  }
}

// ---- random commands and histories (shared by codec.test.ts and snapshot.test.ts) ----

export const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
/** The root a third of the time, so creations below it succeed often enough to build a tree. */
const smallInode = fc.oneof({ weight: 1, arbitrary: fc.constant(1) }, { weight: 2, arbitrary: fc.integer({ min: 1, max: 24 }) });
/** Mostly a few short names, so histories hit the same entries again; sometimes dots or any text. */
const name = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('a', 'b', 'c', 'd') },
  { weight: 1, arbitrary: fc.constantFrom('.', '..') },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }) },
);
/** Mostly no session; else one of the first sessions, with sequences that go past the retry window. */
const sessionRef = fc.oneof(
  { weight: 4, arbitrary: fc.constant(noSession) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 80 })).map(([id, seq]) => ({ id, seq })),
  },
);
const header = {
  timeSec: fc.integer({ min: 1_000, max: 1_000_000 }),
  uid: fc.constantFrom(0, 0, 100, 200),
  gids: fc.array(fc.constantFrom(0, 100, 200, 300), { minLength: 1, maxLength: 3 }),
  session: sessionRef,
};
const mode = fc.integer({ min: 0, max: 0o7777 });
const chunkIndex = fc.oneof(
  { weight: 4, arbitrary: fc.constant(0) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom(maxChunkIndex, maxChunkIndex + 1) },
);
/** Lengths around chunk boundaries, so truncate and writeChunkEnd cut, drop and grow chunks. */
const chunkyLength = fc.oneof(
  fc.nat(1 << 20),
  fc.tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: -2, max: 2 })).map(([k, d]) => Math.max(0, k * chunkSizeBytes + d)),
);
const sessionId = fc.integer({ min: 0, max: 4 });
const maxCount = fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constant(0));

/** Commands of every kind naming inodes drawn from `smallInode`. */
const commandsOver = (smallInode: fc.Arbitrary<number>): fc.Arbitrary<Command> => fc.oneof(
  fc.record({ kind: fc.constant('mkdir' as const), ...header, parent: smallInode, name, mode, umask: fc.constantFrom(0, 0o022) }),
  fc.record({ kind: fc.constant('create' as const), ...header, parent: smallInode, name, mode, umask: fc.constantFrom(0, 0o022) }),
  fc.record({
    kind: fc.constant('mknod' as const), ...header, parent: smallInode, name,
    type: fc.constantFrom('file' as const, 'fifo' as const, 'socket' as const, 'blockdev' as const, 'chardev' as const),
    mode, umask: fc.constant(0), rdev: u32,
  }),
  fc.record({ kind: fc.constant('symlink' as const), ...header, parent: smallInode, name, target: fc.string({ minLength: 1, maxLength: 30 }) }),
  fc.record({ kind: fc.constant('link' as const), ...header, inode: smallInode, parent: smallInode, name }),
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('unlink' as const), ...header, parent: smallInode, name }) },
  fc.record({ kind: fc.constant('rmdir' as const), ...header, parent: smallInode, name }),
  fc.record({ kind: fc.constant('rename' as const), ...header, srcParent: smallInode, srcName: name, dstParent: smallInode, dstName: name }),
  fc.record({
    kind: fc.constant('setattr' as const), ...header, inode: smallInode, setMask: fc.integer({ min: 0, max: 0xff }),
    mode: fc.integer({ min: 0, max: 0xffff }), newUid: fc.constantFrom(0, 100, 200), newGid: fc.constantFrom(0, 100, 300),
    atimeSec: u32, mtimeSec: u32,
  }),
  fc.record({ kind: fc.constant('truncate' as const), ...header, inode: smallInode, lengthBytes: fc.oneof(chunkyLength, fc.constant(Number.MAX_SAFE_INTEGER)) }),
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('writeChunk' as const), ...header, inode: smallInode, index: chunkIndex }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('writeChunkEnd' as const), ...header, inode: smallInode, index: chunkIndex,
      chunkId: fc.integer({ min: 0, max: 12 }), lengthBytes: chunkyLength,
    }),
  },
  fc.record({ kind: fc.constant('setGoal' as const), ...header, inode: smallInode, goal: fc.integer({ min: 0, max: 10 }) }),
  fc.record({ kind: fc.constant('setTrashTime' as const), ...header, inode: smallInode, trashTimeSec: fc.constantFrom(0, 5, 600, 86_400, 0xffff_ffff) }),
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('purgeTrash' as const), ...header, inode: smallInode }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('expireTrash' as const), ...header, maxCount }) },
  fc.record({ kind: fc.constant('undelete' as const), ...header, inode: smallInode }),
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('sessionOpen' as const), ...header, rootInode: fc.constantFrom(1, 1, 2, 3),
      flags: fc.integer({ min: 0, max: 0xff }), timeoutSec: fc.constantFrom(0, 60, 3_600, 86_400),
    }),
  },
  fc.record({ kind: fc.constant('sessionRenew' as const), ...header, sessionId }),
  fc.record({ kind: fc.constant('sessionClose' as const), ...header, sessionId }),
  fc.record({ kind: fc.constant('expireSessions' as const), ...header, maxCount }),
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('acquire' as const), ...header, sessionId, inode: smallInode }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const), ...header, sessionId, inode: smallInode }) },
);

export const commandArb = commandsOver(smallInode);

/**
 * What every history starts with, so random commands find sessions and files to act on: sessions 1
 * and 2, files 2 and 3 and directory 4 in the root, file 5 in directory 4, and file 6 whose only
 * name is gone (in the trash when the root's trash time is > 0).
 */
export const historyPrologue: readonly Command[] = (() => {
  const h = { timeSec: 1_000, uid: 0, gids: [0], session: noSession } as const;
  return [
    { ...h, kind: 'sessionOpen', rootInode: 1, flags: 0, timeoutSec: 600 },
    { ...h, kind: 'sessionOpen', rootInode: 1, flags: 0, timeoutSec: 86_400 },
    { ...h, kind: 'create', parent: 1, name: 'a', mode: 0o644, umask: 0 },
    { ...h, kind: 'create', parent: 1, name: 'b', mode: 0o666, umask: 0 },
    { ...h, kind: 'mkdir', parent: 1, name: 'c', mode: 0o777, umask: 0 },
    { ...h, kind: 'create', parent: 4, name: 'a', mode: 0o644, umask: 0 },
    { ...h, kind: 'create', parent: 1, name: 'z', mode: 0o644, umask: 0 },
    { ...h, kind: 'unlink', parent: 1, name: 'z' },
  ];
})();
/** Inodes of histories: the prologue's and a few more, so commands meet the same files often. */
const historyCommandArb = commandsOver(fc.integer({ min: 1, max: 8 }));

export const allKinds: readonly Command['kind'][] = [
  'mkdir', 'mknod', 'create', 'symlink', 'link', 'unlink', 'rmdir', 'rename', 'setattr', 'truncate', 'writeChunk',
  'writeChunkEnd', 'setGoal', 'setTrashTime', 'purgeTrash', 'expireTrash', 'undelete', 'sessionOpen', 'sessionRenew',
  'sessionClose', 'expireSessions', 'acquire', 'release',
];

/**
 * A replicated history: commands with a leader clock that never goes back (steps of seconds, now
 * and then of hours or days, so locks, sessions and trash expire), and retries: a step may resend
 * an earlier command under its original session and sequence, as a client does after a timeout.
 */
export const historyArb = (maxLength: number): fc.Arbitrary<Command[]> =>
  fc
    .array(
      fc.record({
        command: historyCommandArb,
        stepSec: fc.oneof({ weight: 12, arbitrary: fc.integer({ min: 0, max: 40 }) }, { weight: 1, arbitrary: fc.integer({ min: 3_000, max: 100_000 }) }),
        retryOf: fc.oneof({ weight: 7, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat() }),
      }),
      { minLength: 1, maxLength, size: 'max' },
    )
    .map((steps) => {
      const out: Command[] = [...historyPrologue];
      let timeSec = 1_000;
      for (const step of steps) {
        timeSec += step.stepSec;
        const original = step.retryOf !== null && out.length > 0 ? out[step.retryOf % out.length] : undefined;
        out.push({ ...(original ?? step.command), timeSec });
      }
      return out;
    });
