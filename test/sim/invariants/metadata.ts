import { createHash } from 'node:crypto';
import type { Entry, NodeId } from '../../../src/raft/types.ts';
import type { KvStateMachine } from '../kv-state-machine.ts';
import { decodeEnvelope } from '../meta-clients.ts';
import { type Checker, type HostInfo, Violation } from './types.ts';

/**
 * The metadata state machine on every node: after the metadata entries a node applies at every
 * `sampleEvery`-th log index, its namespace passes the metadata invariant checker and is the same
 * namespace (by a hash of the canonical dump) that the first node to apply that index had. The
 * checks are O(namespace), hence the sampling; a divergence persists, so it is still caught, a
 * few entries later. A snapshot a node restores must pass the invariant checker too; a restore
 * that lost or changed anything shows up at the next sampled index, or in the final comparison
 * of the nodes' states.
 */
const sampleEvery = 16;

export class MetadataConsistency implements Checker {
  readonly name = 'metadata-consistency';
  private readonly digests = new Map<number, { digest: string; node: NodeId }>();
  applies = 0;

  onApply(h: HostInfo, e: Entry, sm: KvStateMachine): void {
    if (e.type !== 'normal' || e.index % sampleEvery !== 0 || decodeEnvelope(e.data) === undefined) return;
    this.applies++;
    check(h, sm, `after applying entry ${e.index}`);
    const digest = createHash('sha256').update(sm.meta.dump()).digest('hex');
    const prev = this.digests.get(e.index);
    if (prev === undefined) this.digests.set(e.index, { digest, node: h.id });
    else if (prev.digest !== digest) {
      throw new Violation(this.name, `n${h.id} and n${prev.node} hold different namespaces after applying entry ${e.index}`);
    }
  }

  onRestore(h: HostInfo, sm: KvStateMachine): void {
    check(h, sm, `after restoring a snapshot at ${sm.applied}`);
  }

  onStart(h: HostInfo, sm: KvStateMachine): void {
    check(h, sm, `at start (snapshot at ${sm.applied})`);
  }
}

function check(h: HostInfo, sm: KvStateMachine, when: string): void {
  const bad = sm.meta.checkInvariants();
  if (bad.length > 0) throw new Violation('metadata-invariants', `n${h.id} ${when}: ${bad.slice(0, 5).join('; ')}`);
}
