import type { ConfChange, ConfState, NodeId } from './types.ts';

// Joint consensus (Raft thesis ch. 4.3): a change moves C_old to (C_old,new), in which
// elections and commits need a majority of both; leaving moves (C_old,new) to C_new.
// Only one change at a time: entering is refused while joint, leaving while not.

export type ConfChangeOutcome = { ok: true; conf: ConfState } | { ok: false; reason: string };

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

export function isJoint(cs: ConfState): boolean {
  return cs.votersOutgoing.length > 0;
}

export function applyConfChange(cs: ConfState, cc: ConfChange): ConfChangeOutcome {
  if (cc.changes.length === 0) return leaveJoint(cs);
  return enterJoint(cs, cc);
}

function enterJoint(cs: ConfState, cc: ConfChange): ConfChangeOutcome {
  if (isJoint(cs)) return { ok: false, reason: 'configuration is already joint; leave it first' };
  if (cs.voters.length === 0) return { ok: false, reason: 'cannot change an empty configuration' };
  const incoming = new Set(cs.voters);
  const outgoing = new Set(cs.voters);
  const learners = new Set(cs.learners);
  const learnersNext = new Set<NodeId>();
  const touched = new Set<NodeId>();
  for (const ch of cc.changes) {
    if (!Number.isInteger(ch.nodeId) || ch.nodeId <= 0) return { ok: false, reason: `invalid node id ${ch.nodeId}` };
    if (touched.has(ch.nodeId)) return { ok: false, reason: `node ${ch.nodeId} changed twice in one change` };
    touched.add(ch.nodeId);
    switch (ch.op) {
      case 'addVoter':
        incoming.add(ch.nodeId);
        learners.delete(ch.nodeId);
        break;
      case 'addLearner':
        incoming.delete(ch.nodeId);
        // A voter of C_old stays a voter until the joint configuration is left.
        if (outgoing.has(ch.nodeId)) learnersNext.add(ch.nodeId);
        else learners.add(ch.nodeId);
        break;
      case 'remove':
        incoming.delete(ch.nodeId);
        learners.delete(ch.nodeId);
        break;
      default:
        return { ok: false, reason: `unknown change ${(ch as { op: string }).op}` };
    }
  }
  if (incoming.size === 0) return { ok: false, reason: 'the new configuration would have no voters' };
  const conf: ConfState = {
    voters: sorted(incoming),
    votersOutgoing: sorted(outgoing),
    learners: sorted(learners),
    learnersNext: sorted(learnersNext),
    autoLeave: cc.autoLeave ?? true,
  };
  checkConfState(conf);
  return { ok: true, conf };
}

function leaveJoint(cs: ConfState): ConfChangeOutcome {
  if (!isJoint(cs)) return { ok: false, reason: 'configuration is not joint; nothing to leave' };
  const learners = new Set(cs.learners);
  for (const id of cs.learnersNext) learners.add(id);
  const conf: ConfState = {
    voters: [...cs.voters],
    votersOutgoing: [],
    learners: sorted(learners),
    learnersNext: [],
    autoLeave: false,
  };
  checkConfState(conf);
  return { ok: true, conf };
}

/** invariant: learners are never voters of either half; learnersNext are outgoing voters only. */
export function checkConfState(cs: ConfState): void {
  const incoming = new Set(cs.voters);
  const outgoing = new Set(cs.votersOutgoing);
  for (const id of cs.learners) {
    if (incoming.has(id) || outgoing.has(id)) throw new Error(`invalid configuration: learner ${id} is also a voter`);
  }
  for (const id of cs.learnersNext) {
    if (incoming.has(id) || !outgoing.has(id)) throw new Error(`invalid configuration: learnerNext ${id} is not an outgoing-only voter`);
  }
}

function sorted(s: Set<NodeId>): NodeId[] {
  return [...s].sort((a, b) => a - b);
}

/**
 * The payload of a 'conf' entry: the change, and the configuration it yields. Carrying the
 * result makes an entry self-contained: a node that joins with an empty configuration and
 * replays the log from its start adopts each result (it cannot know C_old otherwise).
 */
export interface ConfEntry {
  readonly change: ConfChange;
  readonly result: ConfState | undefined;
}

export function encodeConfChange(cc: ConfChange, result?: ConfState): Uint8Array {
  return textEncoder.encode(JSON.stringify({ v: 1, changes: cc.changes, autoLeave: cc.autoLeave ?? true, result }));
}

export function decodeConfEntry(bytes: Uint8Array): ConfEntry {
  const obj = JSON.parse(textDecoder.decode(bytes)) as {
    v: number;
    changes: ConfChange['changes'];
    autoLeave: boolean;
    result?: ConfState;
  };
  if (obj.v !== 1 || !Array.isArray(obj.changes)) throw new Error('undecodable configuration change');
  return { change: { changes: obj.changes, autoLeave: obj.autoLeave }, result: obj.result };
}

export function decodeConfChange(bytes: Uint8Array): ConfChange {
  return decodeConfEntry(bytes).change;
}

export function sameConfState(a: ConfState, b: ConfState): boolean {
  const eq = (x: readonly number[], y: readonly number[]): boolean => x.length === y.length && x.every((v, i) => v === y[i]);
  return (
    eq(a.voters, b.voters) &&
    eq(a.votersOutgoing, b.votersOutgoing) &&
    eq(a.learners, b.learners) &&
    eq(a.learnersNext, b.learnersNext) &&
    a.autoLeave === b.autoLeave
  );
}

export function describeConfState(cs: ConfState): string {
  const parts = [`voters=(${cs.voters.join(' ')})`];
  if (cs.votersOutgoing.length > 0) parts[0] += `&&(${cs.votersOutgoing.join(' ')})`;
  if (cs.learners.length > 0) parts.push(`learners=(${cs.learners.join(' ')})`);
  if (cs.learnersNext.length > 0) parts.push(`learners_next=(${cs.learnersNext.join(' ')})`);
  if (cs.autoLeave) parts.push('autoleave');
  return parts.join(' ');
}
