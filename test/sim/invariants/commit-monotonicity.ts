import type { Entry, NodeId, Ready } from '../../../src/raft/types.ts';
import type { RaftStatus } from '../../../src/raft/raft.ts';
import type { KvStateMachine } from '../kv-state-machine.ts';
import { type Checker, type HostInfo, Violation } from './types.ts';

interface NodeTrack {
  inc: number;
  commit: number;
  hsCommit: number;
  applied: number;
}

/**
 * The commit index never goes backwards on a node within an incarnation, nor does the
 * durable one across restarts; entries are applied exactly once each, in index order,
 * without gaps, and a restart resumes from the snapshot the node persisted.
 *
 * The durable commit is max(hard state commit, snapshot index): a snapshot holds only
 * committed state, and a store that makes a Ready's snapshot and hard state durable one
 * after the other (FileLogStorage) may crash in between, restarting with the snapshot but
 * the previous hard state.
 */
export class CommitMonotonicity implements Checker {
  readonly name = 'commit-monotonicity';
  private readonly nodes = new Map<NodeId, NodeTrack>();
  private readonly durableCommit = new Map<NodeId, number>();

  private track(h: HostInfo): NodeTrack {
    const t = this.nodes.get(h.id);
    if (t === undefined || t.inc !== h.inc) throw new Violation(this.name, `n${h.id}: event for an unknown incarnation ${h.inc}`);
    return t;
  }

  onStart(h: HostInfo, sm: KvStateMachine): void {
    const hs = h.storage.initialState().hardState;
    const snapIndex = h.storage.snapshot().metadata.index;
    if (sm.applied !== snapIndex) {
      throw new Violation(this.name, `n${h.id} restarts with applied ${sm.applied} but its snapshot is at ${snapIndex}`);
    }
    const durable = Math.max(hs.commit, snapIndex);
    const before = this.durableCommit.get(h.id) ?? 0;
    if (durable < before) {
      throw new Violation(this.name, `n${h.id} restarts with durable commit ${durable} (hard state ${hs.commit}, snapshot ${snapIndex}) below the ${before} it had made durable`);
    }
    const prev = this.nodes.get(h.id);
    if (prev !== undefined && prev.inc >= h.inc) throw new Violation(this.name, `n${h.id}: incarnation did not increase`);
    this.nodes.set(h.id, { inc: h.inc, commit: durable, hsCommit: durable, applied: sm.applied });
  }

  onReady(h: HostInfo, rd: Ready): void {
    const t = this.track(h);
    if (rd.hardState !== undefined) {
      if (rd.hardState.commit < t.hsCommit) {
        throw new Violation(this.name, `n${h.id}: hard state commit went from ${t.hsCommit} to ${rd.hardState.commit}`);
      }
      t.hsCommit = rd.hardState.commit;
    }
  }

  onPersisted(h: HostInfo): void {
    const c = Math.max(h.storage.initialState().hardState.commit, h.storage.snapshot().metadata.index);
    const prev = this.durableCommit.get(h.id) ?? 0;
    if (c < prev) throw new Violation(this.name, `n${h.id}: durable commit went from ${prev} to ${c}`);
    this.durableCommit.set(h.id, c);
  }

  onApply(h: HostInfo, e: Entry): void {
    const t = this.track(h);
    if (e.index !== t.applied + 1) {
      throw new Violation(this.name, `n${h.id} applied entry ${e.index} right after ${t.applied}`);
    }
    if (e.index > t.commit && e.index > t.hsCommit) {
      throw new Violation(this.name, `n${h.id} applied entry ${e.index} beyond its commit index ${Math.max(t.commit, t.hsCommit)}`);
    }
    t.applied = e.index;
  }

  onRestore(h: HostInfo, sm: KvStateMachine): void {
    const t = this.track(h);
    if (sm.applied <= t.applied) {
      throw new Violation(this.name, `n${h.id} restored a snapshot at ${sm.applied}, not after its applied index ${t.applied}`);
    }
    t.applied = sm.applied;
  }

  onStatus(h: HostInfo, st: RaftStatus): void {
    const t = this.track(h);
    if (st.commit < t.commit) throw new Violation(this.name, `n${h.id}: commit index went from ${t.commit} to ${st.commit}`);
    t.commit = st.commit;
    if (st.applied > st.commit) throw new Violation(this.name, `n${h.id}: applied ${st.applied} beyond commit ${st.commit}`);
    if (st.commit > st.lastIndex) throw new Violation(this.name, `n${h.id}: commit ${st.commit} beyond last index ${st.lastIndex}`);
    if (st.applied !== t.applied) {
      throw new Violation(this.name, `n${h.id}: core reports applied ${st.applied} but the state machine is at ${t.applied}`);
    }
  }
}
