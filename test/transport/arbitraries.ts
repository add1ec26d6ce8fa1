import fc from 'fast-check';

import type { ConfState, Entry, Message, MessageType, SnapshotMetadata } from '../../src/raft/types.ts';

// fast-check generators of every Raft message variant. `byType` is a Record over MessageType, so
// a new variant does not compile until it has a generator here too.

/** Records with the ordinary prototype, like the decoder's output. */
const record: typeof fc.record = ((model: never) => fc.record(model, { noNullPrototype: true })) as never;

const u64 = fc.oneof(fc.constantFrom(0, 1, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER), fc.nat(), fc.maxSafeNat());
const nodeId = fc.integer({ min: 1, max: 2 ** 40 });
const bytes = fc.uint8Array({ maxLength: 64 });
const ids = fc.array(nodeId, { maxLength: 7 });

const entry: fc.Arbitrary<Entry> = record({
  term: u64,
  index: u64,
  type: fc.constantFrom('normal' as const, 'conf' as const),
  data: bytes,
});
const entries = fc.array(entry, { maxLength: 6 });

const confState: fc.Arbitrary<ConfState> = record({
  voters: ids,
  votersOutgoing: ids,
  learners: ids,
  learnersNext: ids,
  autoLeave: fc.boolean(),
});

const metadata: fc.Arbitrary<SnapshotMetadata> = record({ index: u64, term: u64, confState });

const base = { from: nodeId, to: nodeId, term: u64 };

export const byType: { [T in MessageType]: fc.Arbitrary<Message & { readonly type: T }> } = {
  app: record({ ...base, type: fc.constant('app' as const), index: u64, logTerm: u64, entries, commit: u64 }),
  appResp: record({ ...base, type: fc.constant('appResp' as const), index: u64, reject: fc.boolean(), rejectHint: u64, logTerm: u64 }),
  heartbeat: record({ ...base, type: fc.constant('heartbeat' as const), commit: u64, readRound: u64, sentTick: u64 }),
  heartbeatResp: record({ ...base, type: fc.constant('heartbeatResp' as const), readRound: u64, sentTick: u64 }),
  vote: record({ ...base, type: fc.constant('vote' as const), index: u64, logTerm: u64, force: fc.boolean() }),
  preVote: record({ ...base, type: fc.constant('preVote' as const), index: u64, logTerm: u64, force: fc.boolean() }),
  voteResp: record({ ...base, type: fc.constant('voteResp' as const), reject: fc.boolean() }),
  preVoteResp: record({ ...base, type: fc.constant('preVoteResp' as const), reject: fc.boolean() }),
  snapshot: record({ ...base, metadata, chunk: bytes, offset: fc.nat({ max: 2 ** 40 }), extra: fc.nat({ max: 2 ** 40 }) })
    .map(({ extra, ...m }) => ({ ...m, type: 'snapshot' as const, totalBytes: m.offset + m.chunk.byteLength + extra })),
  snapshotResp: record({ ...base, type: fc.constant('snapshotResp' as const), snapshotIndex: u64, receivedBytes: u64, reject: fc.boolean() }),
  timeoutNow: record({ ...base, type: fc.constant('timeoutNow' as const) }),
  readIndex: record({ ...base, type: fc.constant('readIndex' as const), context: bytes }),
  readIndexResp: record({ ...base, type: fc.constant('readIndexResp' as const), context: bytes, index: u64 }),
  prop: record({ ...base, type: fc.constant('prop' as const), entries }),
};

export const anyMessage: fc.Arbitrary<Message> = fc.oneof(...Object.values(byType));
