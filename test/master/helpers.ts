import assert from 'node:assert/strict';
import {
  MetadataState,
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
