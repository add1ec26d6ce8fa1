import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message } from '../../src/raft/index.ts';
import { Cluster } from './harness.ts';

const appRespFrom = (id: number, index: number) => (m: Message): boolean => m.type === 'appResp' && m.from === id && !m.reject && m.index >= index;

test("the leader's own copy counts toward commit only after logPersisted (one follower cut off)", () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.tickAndDeliver(1);
  c.isolate(3);
  c.get(1).holdDisk = true;
  c.propose(1, 'x');
  c.deliverAll();
  assert.ok(c.sentWhere(appRespFrom(2, 2)).length > 0, 'follower 2 acknowledged index 2');
  assert.equal(c.raft(1).status().commit, 1, 'leader + follower 2, but the leader copy is not durable yet');
  assert.deepEqual(c.appliedData(2), []);
  c.get(1).holdDisk = false;
  c.flushDisk(1);
  c.deliverAll();
  assert.equal(c.raft(1).status().commit, 2);
  assert.deepEqual(c.appliedData(1), ['x']);
  assert.deepEqual(c.appliedData(2), ['x']);
});

test("with both followers up an entry commits without the leader's own write, but the leader applies it only once durable", () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.tickAndDeliver(1);
  c.get(1).holdDisk = true;
  c.propose(1, 'x');
  c.deliverAll();
  assert.equal(c.raft(1).status().commit, 2, 'two followers are a majority');
  assert.deepEqual(c.appliedData(2), ['x']);
  assert.deepEqual(c.appliedData(3), ['x']);
  assert.deepEqual(c.appliedData(1), [], 'not applied on the leader before it is durable there');
  for (const rd of c.get(1).pendingWrites) {
    for (const e of rd.committedEntries) assert.ok(e.index <= c.get(1).storage.lastIndex(), 'no committed entry handed out before it is durable');
  }
  c.get(1).holdDisk = false;
  c.flushDisk(1);
  c.processReadies();
  assert.deepEqual(c.appliedData(1), ['x']);
});

test('a follower acknowledges only durable entries: no appResp goes out until its disk is flushed', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.tickAndDeliver(1);
  c.isolate(3);
  c.get(2).holdDisk = true;
  c.propose(1, 'x');
  c.deliverAll();
  assert.equal(c.raft(2).status().lastIndex, 2, 'follower 2 has the entry in memory');
  assert.equal(c.sentWhere(appRespFrom(2, 2)).length, 0, 'but does not acknowledge it');
  assert.equal(c.raft(1).status().commit, 1);
  c.tickAndDeliver(3);
  assert.equal(c.sentWhere(appRespFrom(2, 2)).length, 0, 'not even when asked again by heartbeats');
  assert.equal(c.raft(1).status().commit, 1);
  c.get(2).holdDisk = false;
  c.flushDisk(2);
  assert.equal(c.sentWhere(appRespFrom(2, 2)).length, 1);
  c.deliverAll();
  assert.equal(c.raft(1).status().commit, 2);
});

test('the leader sends appends before its own write is durable (messagesNow); a follower answers after its write (messages)', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.tickAndDeliver(1);
  const leader = c.raft(1);
  leader.propose(new TextEncoder().encode('x'));
  const rd = leader.ready();
  assert.deepEqual(
    rd.entries.map((e) => e.index),
    [2],
  );
  assert.equal(rd.mustSync, true);
  assert.equal(rd.hardState, undefined, 'term, vote and commit unchanged');
  assert.deepEqual(rd.messagesNow.map((m) => [m.type, m.to]).sort(), [
    ['app', 2],
    ['app', 3],
  ]);
  assert.deepEqual(rd.messages, []);
  const follower = c.raft(2);
  follower.step(rd.messagesNow.find((m) => m.to === 2)!);
  const frd = follower.ready();
  assert.deepEqual(
    frd.entries.map((e) => e.index),
    [2],
  );
  assert.deepEqual(frd.messagesNow, []);
  assert.deepEqual(
    frd.messages.map((m) => [m.type, m.to]),
    [['appResp', 1]],
  );
});

test('committed entries are handed out only once durable locally, and the commit index in a hard state never runs ahead of the durable log', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.tickAndDeliver(1);
  const leader = c.raft(1);
  leader.propose(new TextEncoder().encode('x'));
  const rd1 = leader.ready();
  // Deliver the appends and the acknowledgements, without persisting the leader's write.
  for (const m of rd1.messagesNow) {
    c.raft(m.to).step(m);
    const frd = c.raft(m.to).ready();
    c.get(m.to).storage.append(frd.entries);
    if (frd.hardState !== undefined) c.get(m.to).storage.setHardState(frd.hardState);
    for (const e of frd.entries.slice(-1)) c.raft(m.to).logPersisted(e.index, e.term);
    c.raft(m.to).advance(frd);
    for (const resp of frd.messages) leader.step(resp);
  }
  assert.equal(leader.status().commit, 2);
  const rd2 = leader.ready();
  assert.deepEqual(rd2.committedEntries, [], 'index 2 is committed but not durable on the leader');
  assert.equal(rd2.hardState?.commit, 2, 'the commit index may be recorded: the write of rd1 precedes it');
  c.get(1).storage.append(rd1.entries);
  leader.logPersisted(2, 1);
  leader.advance(rd1);
  c.get(1).storage.setHardState(rd2.hardState!);
  leader.advance(rd2);
  const rd3 = leader.ready();
  assert.deepEqual(
    rd3.committedEntries.map((e) => e.index),
    [2],
  );
});

test('a leader crash before its write is durable loses nothing that was committed', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.tickAndDeliver(1);
  c.get(1).holdDisk = true;
  c.propose(1, 'x');
  c.deliverAll();
  assert.equal(c.raft(1).status().commit, 2);
  c.get(1).restart();
  c.get(1).holdDisk = false;
  assert.equal(c.raft(1).status().lastIndex, 1, 'the leader lost its unsynced copy');
  c.isolate(1);
  c.tickUntil(() => c.leader() === 2 || c.leader() === 3, 60, [2, 3]);
  c.heal();
  c.propose(c.leader(), 'y');
  c.deliverAll();
  c.tickAndDeliver(2);
  for (const id of [1, 2, 3]) assert.deepEqual(c.appliedData(id), ['x', 'y'], `node ${id}`);
});

test('a restarted node re-applies its committed log and resumes with the same term and vote', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  for (const x of ['a', 'b', 'c']) c.propose(1, x);
  c.deliverAll();
  c.tickAndDeliver(1);
  const before = c.raft(2).status();
  c.get(2).restart();
  c.processReadies();
  const after = c.raft(2).status();
  assert.deepEqual([after.term, after.vote, after.commit, after.lastIndex], [before.term, before.vote, before.commit, before.lastIndex]);
  assert.deepEqual(c.appliedData(2), ['a', 'b', 'c']);
});
