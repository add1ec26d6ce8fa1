import type { Entry, Message } from './types.ts';

function describeEntries(ents: readonly Entry[]): string {
  if (ents.length === 0) return '[]';
  const parts = ents.map((e) => `${e.term}/${e.index}${e.type === 'conf' ? 'c' : ''}`);
  if (parts.length > 6) return `[${parts.slice(0, 3).join(' ')} ... ${parts.slice(-2).join(' ')}](${ents.length})`;
  return `[${parts.join(' ')}]`;
}

function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

/** A stable one-line text form of a message, for traces and scenario tests. */
export function describeMessage(m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} term=${m.term}`;
  switch (m.type) {
    case 'app':
      return `${head} prev=${m.logTerm}/${m.index} commit=${m.commit} entries=${describeEntries(m.entries)}`;
    case 'appResp':
      return m.reject ? `${head} reject index=${m.index} hint=${m.logTerm}/${m.rejectHint}` : `${head} index=${m.index}`;
    case 'heartbeat':
      return `${head} commit=${m.commit}${m.readRound > 0 ? ` read=${m.readRound}` : ''}`;
    case 'heartbeatResp':
      return `${head}${m.readRound > 0 ? ` read=${m.readRound}` : ''}`;
    case 'vote':
    case 'preVote':
      return `${head} last=${m.logTerm}/${m.index}${m.force ? ' force' : ''}`;
    case 'voteResp':
    case 'preVoteResp':
      return `${head}${m.reject ? ' reject' : ' granted'}`;
    case 'snapshot':
      return `${head} snap=${m.metadata.term}/${m.metadata.index} bytes=${m.offset}+${m.chunk.byteLength}/${m.totalBytes}`;
    case 'snapshotResp':
      return `${head} snap=${m.snapshotIndex} received=${m.receivedBytes}${m.reject ? ' reject' : ''}`;
    case 'timeoutNow':
      return head;
    case 'readIndex':
      return `${head} ctx=${hex(m.context)}`;
    case 'readIndexResp':
      return `${head} index=${m.index} ctx=${hex(m.context)}`;
    case 'prop':
      return `${head} entries=${m.entries.length}`;
  }
}
