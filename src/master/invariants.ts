import { NodeType } from './commands.ts';
import { maxChunkIndex, maxGoal, minGoal, retryWindow, rootInode } from './limits.ts';
import { checkEntryName, utf8Length } from './names.ts';
import type { Store } from './store.ts';

/**
 * Checks the whole namespace and returns one line per violated invariant (empty when sound):
 * - reachability: every live inode is reachable from the root, and only live inodes are named;
 * - no cycles: every directory is reached exactly once (so no directory has two names);
 * - parent pointers: `parent[d]` is the directory whose entry names d; the root is its own parent;
 * - link counts: a directory has 2 + its subdirectories, any other inode one per entry naming it;
 * - names: each entry name is a valid name;
 * - bookkeeping: per-type counts, total file length, free-slot contents, symlink lengths;
 * - trash and sustained: a live inode with no name is a file in exactly one of them, with nlink 0;
 * - chunks, sessions, open files: see `checkChunks` and `checkSessions`;
 * - the entry layout (`EntryTable.checkLayout`): lists, hash index, name pool, cached orders. A
 *   broken layout is reported alone, because the walk below relies on it.
 * O(inodes + entries + chunks + sessions); meant for tests and the simulator.
 */
export function checkInvariants(s: Store): string[] {
  const layout = s.entries.checkLayout((i) => s.isDir(i));
  if (layout.length > 0) return layout;
  const bad: string[] = [];
  const refs = new Map<number, number>();
  const seenDirs = new Set<number>();
  if (!s.isDir(rootInode)) return ['root inode 1 is not a directory'];
  if (s.parent[rootInode] !== rootInode) bad.push('root is not its own parent');
  const stack = [rootInode];
  seenDirs.add(rootInode);
  while (stack.length > 0) {
    const dir = stack.pop() ?? 0;
    let subdirs = 0;
    for (let e = s.entries.first(dir); e !== 0; e = s.entries.next(e)) {
      const name = s.entries.name(e);
      const inode = s.entries.child(e);
      if (checkEntryName(name) !== null || name === '.' || name === '..') bad.push(`directory ${dir} holds bad name ${JSON.stringify(name)}`);
      if (!s.exists(inode)) {
        bad.push(`entry ${dir}/${name} names free inode ${inode}`);
        continue;
      }
      refs.set(inode, (refs.get(inode) ?? 0) + 1);
      if (s.isDir(inode)) {
        subdirs++;
        if (seenDirs.has(inode)) bad.push(`directory ${inode} reached twice (hard link or cycle)`);
        else {
          seenDirs.add(inode);
          stack.push(inode);
        }
        if (s.parent[inode] !== dir) bad.push(`directory ${inode} has parent ${s.parent[inode]}, is named in ${dir}`);
      }
    }
    if (s.nlink[dir] !== 2 + subdirs) bad.push(`directory ${dir} nlink ${s.nlink[dir]} != 2 + ${subdirs}`);
  }
  const counts = new Array<number>(8).fill(0);
  let fileLength = 0n;
  for (let i = 1; i < s.capacity; i++) {
    const t = s.typeOf(i);
    if (t === NodeType.free) {
      if (s.nlink[i] !== 0 || s.mode[i] !== 0 || !s.entries.isEmpty(i) || s.symlinkTarget.has(i) || s.rdev.has(i)) {
        bad.push(`free slot ${i} is not clear`);
      }
      if (s.goal[i] !== 0 || s.trashTimeSec[i] !== 0 || s.chunks.lists.has(i)) bad.push(`free slot ${i} keeps goal, trash time or chunks`);
      continue;
    }
    const goal = s.goal[i] ?? 0;
    if (goal < minGoal || goal > maxGoal) bad.push(`inode ${i} has goal ${goal}`);
    counts[t] = (counts[t] ?? 0) + 1;
    if (i >= s.nextInode) bad.push(`live inode ${i} at or past nextInode ${s.nextInode}`);
    if (t === NodeType.file) fileLength += BigInt(s.lengthBytes[i] ?? 0);
    if (t === NodeType.directory) {
      if (!seenDirs.has(i)) bad.push(`directory ${i} is unreachable`);
      continue;
    }
    if (s.parent[i] !== 0) bad.push(`non-directory ${i} has a parent pointer`);
    const n = refs.get(i) ?? 0;
    const kept = (s.trash.has(i) ? 1 : 0) + (s.sustained.has(i) ? 1 : 0);
    if (kept > 1) bad.push(`inode ${i} is both trashed and sustained`);
    if (n === 0 && kept === 0) bad.push(`inode ${i} is unreachable`);
    if (n > 0 && kept > 0) bad.push(`inode ${i} has a name but is trashed or sustained`);
    if (kept > 0 && t !== NodeType.file) bad.push(`non-file ${i} is trashed or sustained`);
    if (s.nlink[i] !== n) bad.push(`inode ${i} nlink ${s.nlink[i]} != ${n} entries`);
    if (t === NodeType.symlink) {
      const target = s.symlinkTarget.get(i);
      if (target === undefined || utf8Length(target) !== s.lengthBytes[i]) bad.push(`symlink ${i} target/length mismatch`);
    }
  }
  for (let t = 1; t < 8; t++) {
    if ((s.countByType[t] ?? 0) !== counts[t]) bad.push(`count of type ${t} is ${s.countByType[t]}, found ${counts[t]}`);
  }
  if (fileLength !== s.totalFileLengthBytes) bad.push(`total file length ${s.totalFileLengthBytes} != ${fileLength}`);
  for (let k = s.freedHead; k < s.freedInodes.length; k++) {
    const i = s.freedInodes[k] ?? 0;
    if (s.exists(i)) bad.push(`inode ${i} is both live and waiting for reuse`);
  }
  checkKept(s, bad);
  checkChunks(s, bad);
  checkSessions(s, bad);
  return bad;
}

/** Trash and sustained files: live files, their totals, and the expiry index covering the trash. */
function checkKept(s: Store, bad: string[]): void {
  let trashLength = 0n;
  for (const [i, e] of s.trash) {
    if (s.typeOf(i) !== NodeType.file) {
      bad.push(`trash holds ${i}, not a live file`);
      continue;
    }
    trashLength += BigInt(s.lengthBytes[i] ?? 0);
    if (!s.trashQueue.has(e.expiresAtSec, i)) bad.push(`trashed inode ${i} is missing from the expiry queue`);
  }
  if (trashLength !== s.trashLengthBytes) bad.push(`trash length ${s.trashLengthBytes} != ${trashLength}`);
  let sustainedLength = 0n;
  for (const i of s.sustained) {
    if (s.typeOf(i) !== NodeType.file) {
      bad.push(`sustained set holds ${i}, not a live file`);
      continue;
    }
    sustainedLength += BigInt(s.lengthBytes[i] ?? 0);
    if (!s.openCount.has(i)) bad.push(`sustained inode ${i} is held by no session`);
  }
  if (sustainedLength !== s.sustainedLengthBytes) bad.push(`sustained length ${s.sustainedLengthBytes} != ${sustainedLength}`);
}

/**
 * Chunks: every list belongs to a live file, is sorted, has no holes recorded as chunks, stays
 * within `maxChunkIndex`; every listed chunk is in the table with that file and index as holder,
 * a version >= 1 and an id below `nextChunkId`; the table holds nothing else.
 */
function checkChunks(s: Store, bad: string[]): void {
  const t = s.chunks.table;
  let listed = 0;
  for (const [inode, list] of s.chunks.lists) {
    if (s.typeOf(inode) !== NodeType.file) bad.push(`chunk list of ${inode}, which is not a live file`);
    if (list.count === 0) bad.push(`empty chunk list kept for ${inode}`);
    for (let k = 0; k < list.count; k++) {
      const index = list.indexes[k] ?? 0;
      const id = list.ids[k] ?? 0;
      listed++;
      if (k > 0 && index <= (list.indexes[k - 1] ?? 0)) bad.push(`chunk list of ${inode} is not ascending at ${index}`);
      if (index > maxChunkIndex) bad.push(`chunk index ${index} of ${inode} is past the limit`);
      if (id === 0 || id >= s.chunks.nextChunkId) bad.push(`chunk id ${id} of ${inode}/${index} is not below nextChunkId ${s.chunks.nextChunkId}`);
      const slot = t.find(id);
      if (slot < 0) {
        bad.push(`chunk ${id} of ${inode}/${index} is not in the table`);
        continue;
      }
      if (t.holderInode[slot] !== inode || t.holderIndex[slot] !== index) {
        bad.push(`chunk ${id} is held by ${t.holderInode[slot]}/${t.holderIndex[slot]}, listed at ${inode}/${index}`);
      }
      if ((t.version[slot] ?? 0) < 1) bad.push(`chunk ${id} has version 0`);
    }
  }
  const ids = t.sortedIds();
  if (ids.length !== t.size) bad.push(`chunk table size ${t.size} != ${ids.length} stored ids`);
  if (ids.length !== listed) bad.push(`chunk table holds ${ids.length} chunks, files list ${listed}`);
  for (const id of ids) if (t.find(id) < 0) bad.push(`chunk ${id} is stored but cannot be found`);
}

/**
 * Sessions: ids below `nextSessionId`; held inodes are live files; `openCount` is exactly the
 * number of sessions holding each inode; the retry window holds only sequences in
 * (highestSeq − retryWindow, highestSeq], each in its slot with a result, and the highest one.
 */
function checkSessions(s: Store, bad: string[]): void {
  const holders = new Map<number, number>();
  for (const [id, session] of s.sessions) {
    if (session.id !== id || id < 1 || id >= s.nextSessionId) bad.push(`session ${id} is not below nextSessionId ${s.nextSessionId}`);
    for (const inode of session.open) {
      if (s.typeOf(inode) !== NodeType.file) bad.push(`session ${id} holds ${inode}, not a live file`);
      holders.set(inode, (holders.get(inode) ?? 0) + 1);
    }
    let highestStored = false;
    for (let k = 0; k < retryWindow; k++) {
      const seq = session.windowSeq[k] ?? 0;
      const result = session.windowResult[k];
      if (seq === 0) {
        if (result !== undefined) bad.push(`session ${id} keeps a result in empty retry slot ${k}`);
        continue;
      }
      if (seq % retryWindow !== k || seq > session.highestSeq || seq <= session.highestSeq - retryWindow || result === undefined) {
        bad.push(`session ${id} retry slot ${k} holds seq ${seq} outside the window of ${session.highestSeq}`);
      }
      if (seq === session.highestSeq) highestStored = true;
    }
    if (session.highestSeq > 0 && !highestStored) bad.push(`session ${id} lost the result of its highest seq ${session.highestSeq}`);
  }
  for (const [inode, n] of s.openCount) {
    if (holders.get(inode) !== n) bad.push(`inode ${inode} open count ${n} != ${holders.get(inode) ?? 0} holding sessions`);
  }
  for (const [inode, n] of holders) if (!s.openCount.has(inode)) bad.push(`inode ${inode} held by ${n} sessions has no open count`);
}

/**
 * A canonical text form of the replicated state: equal on two replicas exactly when they hold the
 * same namespace, the same allocation state and the same applied index. Caches and the typed
 * arrays' spare capacity are left out.
 */
export function dumpState(s: Store, appliedIndex: number): string {
  const out: string[] = [];
  out.push(
    `applied ${appliedIndex} next ${s.nextInode} reuseDelay ${s.inodeReuseDelaySec} nextChunk ${s.chunks.nextChunkId} nextSession ${s.nextSessionId}`,
  );
  const free: string[] = [];
  for (let k = s.freedHead; k < s.freedInodes.length; k++) free.push(`${s.freedInodes[k]}@${s.freedAtSec[k]}`);
  out.push(`freed ${free.join(' ')}`);
  for (let i = 1; i < s.capacity; i++) {
    const t = s.typeOf(i);
    if (t === NodeType.free) continue;
    const a = s.attr(i);
    let line = `${i} t${t} ${a.mode.toString(8)} ${a.uid}:${a.gid} a${a.atimeSec} m${a.mtimeSec} c${a.ctimeSec} n${a.nlink} l${a.lengthBytes} p${s.parent[i]} r${a.rdev} g${a.goal} tt${a.trashTimeSec}`;
    const target = s.symlinkTarget.get(i);
    if (target !== undefined) line += ` -> ${JSON.stringify(target)}`;
    const trashed = s.trash.get(i);
    if (trashed !== undefined) line += ` trash@${trashed.expiresAtSec} from ${trashed.parent}/${JSON.stringify(trashed.name)}`;
    if (s.sustained.has(i)) line += ' sustained';
    const open = s.openCount.get(i);
    if (open !== undefined) line += ` open${open}`;
    out.push(line);
    const list = s.chunks.lists.get(i);
    for (let k = 0; k < (list?.count ?? 0); k++) {
      const id = list?.ids[k] ?? 0;
      const slot = s.chunks.table.find(id);
      out.push(`  [${list?.indexes[k]}] chunk ${id} v${s.chunks.table.version[slot]} locked${s.chunks.table.lockedToSec[slot]}`);
    }
    if (t === NodeType.directory) {
      for (const e of s.entries.sorted(i, false)) out.push(`  ${JSON.stringify(s.entries.name(e))} ${s.entries.child(e)}`);
    }
  }
  for (const id of [...s.sessions.keys()].sort((a, b) => a - b)) {
    const x = s.sessions.get(id);
    if (x === undefined) continue;
    const open = [...x.open].sort((a, b) => a - b).join(',');
    out.push(`session ${id} root ${x.rootInode} flags ${x.flags} timeout ${x.timeoutSec} expires ${x.expiresAtSec} open [${open}] seq ${x.highestSeq}`);
    const window: { seq: number; hex: string }[] = [];
    for (let k = 0; k < retryWindow; k++) {
      const seq = x.windowSeq[k] ?? 0;
      if (seq !== 0) window.push({ seq, hex: Buffer.from(x.windowResult[k] ?? new Uint8Array()).toString('hex') });
    }
    for (const w of window.sort((a, b) => a.seq - b.seq)) out.push(`  retry ${w.seq} ${w.hex}`);
  }
  return out.join('\n');
}
