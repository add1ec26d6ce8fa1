import { NodeType } from './commands.ts';
import { rootInode } from './limits.ts';
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
 * - the entry layout (`EntryTable.checkLayout`): lists, hash index, name pool, cached orders. A
 *   broken layout is reported alone, because the walk below relies on it.
 * O(inodes + entries); meant for tests and the simulator.
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
  let fileLength = 0;
  for (let i = 1; i < s.capacity; i++) {
    const t = s.typeOf(i);
    if (t === NodeType.free) {
      if (s.nlink[i] !== 0 || s.mode[i] !== 0 || !s.entries.isEmpty(i) || s.symlinkTarget.has(i) || s.rdev.has(i)) {
        bad.push(`free slot ${i} is not clear`);
      }
      continue;
    }
    counts[t] = (counts[t] ?? 0) + 1;
    if (i >= s.nextInode) bad.push(`live inode ${i} at or past nextInode ${s.nextInode}`);
    if (t === NodeType.file) fileLength += s.lengthBytes[i] ?? 0;
    if (t === NodeType.directory) {
      if (!seenDirs.has(i)) bad.push(`directory ${i} is unreachable`);
      continue;
    }
    if (s.parent[i] !== 0) bad.push(`non-directory ${i} has a parent pointer`);
    const n = refs.get(i) ?? 0;
    if (n === 0) bad.push(`inode ${i} is unreachable`);
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
  return bad;
}

/**
 * A canonical text form of the replicated state: equal on two replicas exactly when they hold the
 * same namespace, the same allocation state and the same applied index. Caches and the typed
 * arrays' spare capacity are left out.
 */
export function dumpState(s: Store, appliedIndex: number): string {
  const out: string[] = [];
  out.push(`applied ${appliedIndex} next ${s.nextInode} reuseDelay ${s.inodeReuseDelaySec}`);
  const free: string[] = [];
  for (let k = s.freedHead; k < s.freedInodes.length; k++) free.push(`${s.freedInodes[k]}@${s.freedAtSec[k]}`);
  out.push(`freed ${free.join(' ')}`);
  for (let i = 1; i < s.capacity; i++) {
    const t = s.typeOf(i);
    if (t === NodeType.free) continue;
    const a = s.attr(i);
    let line = `${i} t${t} ${a.mode.toString(8)} ${a.uid}:${a.gid} a${a.atimeSec} m${a.mtimeSec} c${a.ctimeSec} n${a.nlink} l${a.lengthBytes} p${s.parent[i]} r${a.rdev}`;
    const target = s.symlinkTarget.get(i);
    if (target !== undefined) line += ` -> ${JSON.stringify(target)}`;
    out.push(line);
    if (t === NodeType.directory) {
      for (const e of s.entries.sorted(i, false)) out.push(`  ${JSON.stringify(s.entries.name(e))} ${s.entries.child(e)}`);
    }
  }
  return out.join('\n');
}
