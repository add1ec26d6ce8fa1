import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeMessage, emptyConfState } from '../../src/raft/index.ts';
import type { Message } from '../../src/raft/index.ts';
import { Cluster, makeEntry } from './harness.ts';

const meta = { index: 40, term: 3, confState: { ...emptyConfState(), voters: [1, 2, 3] } };

test('describeMessage: a stable one-line text form for every message type', () => {
  const cases: [Message, string][] = [
    [
      { type: 'app', from: 1, to: 2, term: 3, index: 5, logTerm: 2, commit: 4, entries: [makeEntry(3, 6, 'a'), makeEntry(3, 7, '', 'conf')] },
      '1->2 app term=3 prev=2/5 commit=4 entries=[3/6 3/7c]',
    ],
    [{ type: 'app', from: 1, to: 2, term: 3, index: 5, logTerm: 2, commit: 4, entries: [] }, '1->2 app term=3 prev=2/5 commit=4 entries=[]'],
    [
      {
        type: 'app',
        from: 1,
        to: 3,
        term: 2,
        index: 0,
        logTerm: 0,
        commit: 0,
        entries: [1, 2, 3, 4, 5, 6, 7, 8].map((i) => makeEntry(2, i)),
      },
      '1->3 app term=2 prev=0/0 commit=0 entries=[2/1 2/2 2/3 ... 2/7 2/8](8)',
    ],
    [
      { type: 'app', from: 1, to: 3, term: 2, index: 0, logTerm: 0, commit: 0, entries: [1, 2, 3, 4, 5, 6].map((i) => makeEntry(2, i)) },
      '1->3 app term=2 prev=0/0 commit=0 entries=[2/1 2/2 2/3 2/4 2/5 2/6]',
    ],
    [{ type: 'appResp', from: 2, to: 1, term: 3, index: 7, reject: false, rejectHint: 0, logTerm: 0 }, '2->1 appResp term=3 index=7'],
    [{ type: 'appResp', from: 2, to: 1, term: 3, index: 7, reject: true, rejectHint: 4, logTerm: 2 }, '2->1 appResp term=3 reject index=7 hint=2/4'],
    [{ type: 'heartbeat', from: 1, to: 2, term: 3, commit: 9, readRound: 0, sentTick: 17 }, '1->2 heartbeat term=3 commit=9'],
    [{ type: 'heartbeat', from: 1, to: 2, term: 3, commit: 9, readRound: 4, sentTick: 17 }, '1->2 heartbeat term=3 commit=9 read=4'],
    [{ type: 'heartbeatResp', from: 2, to: 1, term: 3, readRound: 0, sentTick: 17 }, '2->1 heartbeatResp term=3'],
    [{ type: 'heartbeatResp', from: 2, to: 1, term: 3, readRound: 4, sentTick: 17 }, '2->1 heartbeatResp term=3 read=4'],
    [{ type: 'vote', from: 3, to: 1, term: 4, index: 9, logTerm: 3, force: false }, '3->1 vote term=4 last=3/9'],
    [{ type: 'vote', from: 3, to: 1, term: 4, index: 9, logTerm: 3, force: true }, '3->1 vote term=4 last=3/9 force'],
    [{ type: 'preVote', from: 3, to: 1, term: 4, index: 9, logTerm: 3, force: false }, '3->1 preVote term=4 last=3/9'],
    [{ type: 'voteResp', from: 1, to: 3, term: 4, reject: false }, '1->3 voteResp term=4 granted'],
    [{ type: 'voteResp', from: 1, to: 3, term: 4, reject: true }, '1->3 voteResp term=4 reject'],
    [{ type: 'preVoteResp', from: 1, to: 3, term: 4, reject: false }, '1->3 preVoteResp term=4 granted'],
    [{ type: 'preVoteResp', from: 1, to: 3, term: 4, reject: true }, '1->3 preVoteResp term=4 reject'],
    [
      { type: 'snapshot', from: 1, to: 2, term: 3, metadata: meta, totalBytes: 100, offset: 30, chunk: new Uint8Array(10) },
      '1->2 snapshot term=3 snap=3/40 bytes=30+10/100',
    ],
    [{ type: 'snapshotResp', from: 2, to: 1, term: 3, snapshotIndex: 40, receivedBytes: 40, reject: false }, '2->1 snapshotResp term=3 snap=40 received=40'],
    [
      { type: 'snapshotResp', from: 2, to: 1, term: 3, snapshotIndex: 40, receivedBytes: 0, reject: true },
      '2->1 snapshotResp term=3 snap=40 received=0 reject',
    ],
    [{ type: 'timeoutNow', from: 1, to: 2, term: 3 }, '1->2 timeoutNow term=3'],
    [{ type: 'readIndex', from: 2, to: 1, term: 3, context: new Uint8Array([0x0a, 0xff, 0]) }, '2->1 readIndex term=3 ctx=0aff00'],
    [{ type: 'readIndexResp', from: 1, to: 2, term: 3, context: new Uint8Array([0x0a]), index: 12 }, '1->2 readIndexResp term=3 index=12 ctx=0a'],
    [{ type: 'prop', from: 2, to: 1, term: 3, entries: [makeEntry(0, 0, 'x'), makeEntry(0, 0, 'y')] }, '2->1 prop term=3 entries=2'],
  ];
  const types = new Set<string>();
  for (const [m, want] of cases) {
    assert.equal(describeMessage(m), want);
    types.add(m.type);
  }
  assert.equal(types.size, 14, 'every message type is pinned');
});

test('describeMessage: the trace of an election and a first commit in a three-node group', () => {
  const c = new Cluster({ voters: [1, 2, 3] });
  c.elect(1);
  c.propose(1, 'x');
  c.deliverAll();
  assert.deepEqual(c.trace, [
    '1->2 preVote term=1 last=0/0',
    '1->3 preVote term=1 last=0/0',
    '2->1 preVoteResp term=1 granted',
    '3->1 preVoteResp term=1 granted',
    '1->2 vote term=1 last=0/0',
    '1->3 vote term=1 last=0/0',
    '2->1 voteResp term=1 granted',
    '3->1 voteResp term=1 granted',
    '1->2 app term=1 prev=0/0 commit=0 entries=[1/1]',
    '1->3 app term=1 prev=0/0 commit=0 entries=[1/1]',
    '2->1 appResp term=1 index=1',
    '3->1 appResp term=1 index=1',
    '1->2 app term=1 prev=1/1 commit=1 entries=[]',
    '1->3 app term=1 prev=1/1 commit=1 entries=[]',
    '2->1 appResp term=1 index=1',
    '3->1 appResp term=1 index=1',
    '1->2 app term=1 prev=1/1 commit=1 entries=[1/2]',
    '1->3 app term=1 prev=1/1 commit=1 entries=[1/2]',
    '2->1 appResp term=1 index=2',
    '3->1 appResp term=1 index=2',
    '1->2 app term=1 prev=1/2 commit=2 entries=[]',
    '1->3 app term=1 prev=1/2 commit=2 entries=[]',
    '2->1 appResp term=1 index=2',
    '3->1 appResp term=1 index=2',
  ]);
});
