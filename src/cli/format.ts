/**
 * Text the `mooseng` CLI and `npm start` print, and the `cluster.json` file they share: pure
 * functions, no I/O, so that the output can be tested without a cluster.
 */
import type { Attr } from '../master/commands.ts';

// ------------------------------------------------------------------ cluster.json

/** What `npm start` writes to `./data/cluster.json` so that `mooseng` finds the local group. */
export interface ClusterFile {
  readonly clusterId: string;
  readonly masters: readonly { readonly id: number; readonly peer: string; readonly client: string; readonly admin: string }[];
  /** The token of the admin endpoint (membership operations), as in `adminTokenFile`. */
  readonly adminToken: string;
  readonly adminTokenFile: string;
}

/** Parses cluster.json; throws an Error saying what is wrong. */
export function parseClusterFile(text: string, source: string): ClusterFile {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`${source}: not JSON (${(e as Error).message})`);
  }
  const bad = (what: string): Error => new Error(`${source}: ${what}; remove the file and run npm start again to rewrite it`);
  if (typeof v !== 'object' || v === null) throw bad('not an object');
  const o = v as Record<string, unknown>;
  if (typeof o['clusterId'] !== 'string') throw bad('"clusterId" must be a string');
  if (typeof o['adminToken'] !== 'string' || typeof o['adminTokenFile'] !== 'string') throw bad('"adminToken" and "adminTokenFile" must be strings');
  if (!Array.isArray(o['masters']) || o['masters'].length === 0) throw bad('"masters" must be a non-empty array');
  const masters = o['masters'].map((m: unknown, i) => {
    const r = (typeof m === 'object' && m !== null ? m : {}) as Record<string, unknown>;
    const id = r['id'];
    const peer = r['peer'];
    const client = r['client'];
    const admin = r['admin'];
    if (typeof id !== 'number' || typeof peer !== 'string' || typeof client !== 'string' || typeof admin !== 'string') {
      throw bad(`masters[${i}] must have "id" (number), "peer", "client" and "admin" (host:port strings)`);
    }
    return { id, peer, client, admin };
  });
  return { clusterId: o['clusterId'], masters, adminToken: o['adminToken'], adminTokenFile: o['adminTokenFile'] };
}

// ------------------------------------------------------------------ errors

/** strerror(3)-like descriptions of the file-system codes, and of the SDK's request-level codes. */
const descriptions: Readonly<Record<string, string>> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  EFBIG: 'File too large',
  ENAMETOOLONG: 'File name too long',
  ENOTEMPTY: 'Directory not empty',
  ENOSPC: 'No space left on device',
  LOCKED: 'Chunk locked by a write in progress',
  NOCHUNK: 'No such chunk',
  INDEXTOOBIG: 'Chunk index too big',
  BADSESSIONID: 'Session expired or unknown',
  RETRY_EXPIRED: 'Retry too late: the first answer is gone',
};

/** The description of a file-system error code, or undefined for a request-level code (TIMEOUT, UNAVAILABLE...). */
export function describeFsError(code: string): string | undefined {
  return descriptions[code];
}

// ------------------------------------------------------------------ attributes

const typeNames = ['', 'file', 'directory', 'symlink', 'fifo', 'blockdev', 'chardev', 'socket'] as const;
const typeLetters = ['?', '-', 'd', 'l', 'p', 'b', 'c', 's'] as const;

export function typeName(type: number): string {
  return typeNames[type] ?? `type ${type}`;
}

/** `drwxr-xr-x`, with setuid/setgid/sticky shown as ls shows them (s/S, t/T). */
export function modeString(type: number, mode: number): string {
  const rwx = (bits: number, special: boolean, on: string, off: string): string =>
    (bits & 4 ? 'r' : '-') + (bits & 2 ? 'w' : '-') + (special ? (bits & 1 ? on : off) : bits & 1 ? 'x' : '-');
  return (
    (typeLetters[type] ?? '?') +
    rwx((mode >> 6) & 7, (mode & 0o4000) !== 0, 's', 'S') +
    rwx((mode >> 3) & 7, (mode & 0o2000) !== 0, 's', 'S') +
    rwx(mode & 7, (mode & 0o1000) !== 0, 't', 'T')
  );
}

/** The permission bits as four octal digits, e.g. `0755`. */
export function octalMode(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;
/** ls shows the time of day for files modified within about six months, the year otherwise. */
const recentSec = 182 * 86_400;

/** ls -l's time column, in local time: `Mar  4 15:04`, or `Mar  4  2023` when not recent. */
export function lsTime(sec: number, nowSec: number): string {
  const d = new Date(sec * 1000);
  const day = `${months[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')}`;
  if (Math.abs(nowSec - sec) < recentSec) return `${day} ${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  return `${day}  ${d.getFullYear()}`;
}

export function isoTime(sec: number): string {
  return new Date(sec * 1000).toISOString();
}

/** An entry as `ls -l` prints it, before column alignment: mode, links, uid, gid, size, time, name. */
export function lsLongFields(name: string, attr: Attr, nowSec: number, target?: string): string[] {
  return [
    modeString(attr.type, attr.mode),
    String(attr.nlink),
    String(attr.uid),
    String(attr.gid),
    String(attr.lengthBytes),
    lsTime(attr.mtimeSec, nowSec),
    target === undefined ? name : `${name} -> ${target}`,
  ];
}

/** The JSON form of an attribute record, for `--json`. */
export function attrJson(attr: Attr): Record<string, unknown> {
  return {
    inode: attr.inode,
    type: typeName(attr.type),
    mode: octalMode(attr.mode),
    modeString: modeString(attr.type, attr.mode),
    nlink: attr.nlink,
    uid: attr.uid,
    gid: attr.gid,
    size: attr.lengthBytes,
    atime: isoTime(attr.atimeSec),
    mtime: isoTime(attr.mtimeSec),
    ctime: isoTime(attr.ctimeSec),
    goal: attr.goal,
    trashTimeSec: attr.trashTimeSec,
  };
}

// ------------------------------------------------------------------ layout

/**
 * Aligns rows into columns separated by `gap` spaces. Columns listed in `right` are right-aligned
 * (numbers); the last column is never padded.
 */
export function columns(rows: readonly (readonly string[])[], right: ReadonlySet<number> = new Set(), gap = 1): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((r) =>
    r
      .map((cell, i) => {
        if (i === r.length - 1 && !right.has(i)) return cell;
        const w = widths[i] ?? 0;
        return right.has(i) ? cell.padStart(w) : cell.padEnd(w);
      })
      .join(' '.repeat(gap)),
  );
}

/** `[########------------]  40%`: a progress bar of `width` cells for a fraction in [0, 1]. */
export function progressBar(fraction: number, width = 30): string {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const filled = Math.round(f * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.floor(f * 100)).padStart(3)}%`;
}

/** A tree(1)-like drawing of nested entries. */
export interface TreeNode {
  readonly name: string;
  readonly type: number;
  readonly target?: string;
  readonly children?: readonly TreeNode[];
  /** Set when the walk stopped at the depth limit below this directory. */
  readonly truncated?: boolean;
}

export function drawTree(root: TreeNode): string[] {
  const lines = [root.name];
  const walk = (n: TreeNode, prefix: string): void => {
    const kids = n.children ?? [];
    kids.forEach((k, i) => {
      const last = i === kids.length - 1;
      const label = k.target === undefined ? k.name : `${k.name} -> ${k.target}`;
      lines.push(`${prefix}${last ? '└── ' : '├── '}${label}${k.truncated === true ? '/…' : ''}`);
      walk(k, prefix + (last ? '    ' : '│   '));
    });
  };
  walk(root, '');
  return lines;
}
