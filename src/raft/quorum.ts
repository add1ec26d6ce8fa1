import type { NodeId } from './types.ts';

// Quorum arithmetic over a configuration. A joint configuration (C_old,new) needs
// a majority of each half; a half that is empty imposes no constraint.

export type VoteResult = 'won' | 'lost' | 'pending';

/** The largest index that a majority of `voters` has acknowledged. An empty set yields +Infinity. */
export function majorityCommitted(voters: ReadonlySet<NodeId>, acked: (id: NodeId) => number | undefined): number {
  if (voters.size === 0) return Number.POSITIVE_INFINITY;
  const values: number[] = [];
  for (const id of voters) values.push(acked(id) ?? 0);
  values.sort((a, b) => b - a);
  // With n voters, the value at position floor(n/2) (descending) is held by n/2+1 of them.
  return values[Math.floor(values.length / 2)]!;
}

export function jointCommitted(
  incoming: ReadonlySet<NodeId>,
  outgoing: ReadonlySet<NodeId>,
  acked: (id: NodeId) => number | undefined,
): number {
  const a = majorityCommitted(incoming, acked);
  const b = majorityCommitted(outgoing, acked);
  return Math.min(a, b);
}

export function majorityVoteResult(voters: ReadonlySet<NodeId>, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.size === 0) return 'won';
  let granted = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) granted++;
  }
  const q = Math.floor(voters.size / 2) + 1;
  if (granted >= q) return 'won';
  if (granted + missing >= q) return 'pending';
  return 'lost';
}

export function jointVoteResult(
  incoming: ReadonlySet<NodeId>,
  outgoing: ReadonlySet<NodeId>,
  votes: ReadonlyMap<NodeId, boolean>,
): VoteResult {
  const a = majorityVoteResult(incoming, votes);
  const b = majorityVoteResult(outgoing, votes);
  if (a === b) return a;
  if (a === 'lost' || b === 'lost') return 'lost';
  return 'pending';
}
