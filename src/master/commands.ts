/**
 * The replicated commands of the metadata state machine. Every field that varies between
 * replicas if they chose it themselves (the time, the caller) is chosen by the leader and carried
 * here, so applying the same command to the same state gives the same result everywhere.
 */

/** Node types, numbered as stored in the inode table (0 marks a free slot). */
export const NodeType = {
  free: 0,
  file: 1,
  directory: 2,
  symlink: 3,
  fifo: 4,
  blockdev: 5,
  chardev: 6,
  socket: 7,
} as const;
export type NodeType = (typeof NodeType)[keyof typeof NodeType];

/** The types `mknod` creates; directories and symlinks have commands of their own. */
export type MknodType = 'file' | 'fifo' | 'socket' | 'blockdev' | 'chardev';

/** setattr mask bits, with the values of the MooseFS 3.0 `setmask` byte. */
export const SetAttr = {
  mode: 0x02,
  uid: 0x04,
  gid: 0x08,
  mtimeNow: 0x10,
  mtime: 0x20,
  atime: 0x40,
  atimeNow: 0x80,
} as const;
export const setAttrKnownMask = 0xfe;

/**
 * The retry identity of a command: the client session that sent it and that session's sequence
 * number for it. `id` 0 means "no session": the command is not deduplicated and `seq` is 0.
 * Otherwise `seq` is 1..2^53 − 1; a command whose (id, seq) the state already answered gets the
 * stored answer and changes nothing (see `retryWindow`).
 */
export interface SessionRef {
  readonly id: number;
  readonly seq: number;
}
export const noSession: SessionRef = Object.freeze({ id: 0, seq: 0 });

/** Who asks, and when: decided by the leader when it proposes the command. */
export interface CommandHeader {
  /** Seconds since the epoch; becomes atime/mtime/ctime wherever the command touches them. */
  readonly timeSec: number;
  readonly uid: number;
  /** The caller's groups; the first is its primary group, used as the gid of new inodes. */
  readonly gids: readonly number[];
  readonly session: SessionRef;
}

export interface MkdirCommand extends CommandHeader {
  readonly kind: 'mkdir';
  readonly parent: number;
  readonly name: string;
  readonly mode: number;
  readonly umask: number;
}

/** mknod(2): any non-directory, non-symlink type; `create` is the O_CREAT|O_EXCL variant. */
export interface MknodCommand extends CommandHeader {
  readonly kind: 'mknod';
  readonly parent: number;
  readonly name: string;
  readonly type: MknodType;
  readonly mode: number;
  readonly umask: number;
  /** Device number for block and character devices; 0 otherwise. */
  readonly rdev: number;
}

/** open(2) with O_CREAT|O_EXCL: a regular file (the MooseFS CREATE call); same checks as mknod. */
export interface CreateCommand extends CommandHeader {
  readonly kind: 'create';
  readonly parent: number;
  readonly name: string;
  readonly mode: number;
  readonly umask: number;
}

export interface SymlinkCommand extends CommandHeader {
  readonly kind: 'symlink';
  readonly parent: number;
  readonly name: string;
  readonly target: string;
}

export interface LinkCommand extends CommandHeader {
  readonly kind: 'link';
  readonly inode: number;
  readonly parent: number;
  readonly name: string;
}

export interface UnlinkCommand extends CommandHeader {
  readonly kind: 'unlink';
  readonly parent: number;
  readonly name: string;
}

export interface RmdirCommand extends CommandHeader {
  readonly kind: 'rmdir';
  readonly parent: number;
  readonly name: string;
}

export interface RenameCommand extends CommandHeader {
  readonly kind: 'rename';
  readonly srcParent: number;
  readonly srcName: string;
  readonly dstParent: number;
  readonly dstName: string;
}

export interface SetattrCommand extends CommandHeader {
  readonly kind: 'setattr';
  readonly inode: number;
  /** Bits of `SetAttr`; fields whose bit is clear are ignored. */
  readonly setMask: number;
  readonly mode: number;
  readonly newUid: number;
  readonly newGid: number;
  readonly atimeSec: number;
  readonly mtimeSec: number;
}

export interface TruncateCommand extends CommandHeader {
  readonly kind: 'truncate';
  readonly inode: number;
  readonly lengthBytes: number;
}

/** WRITE_CHUNK: the chunk a client may write at `index`; a hole gets a new chunk. */
export interface WriteChunkCommand extends CommandHeader {
  readonly kind: 'writeChunk';
  readonly inode: number;
  readonly index: number;
}

/** WRITE_CHUNK_END: the write to `chunkId` at `index` is over; the file is at least `lengthBytes` long. */
export interface WriteChunkEndCommand extends CommandHeader {
  readonly kind: 'writeChunkEnd';
  readonly inode: number;
  readonly index: number;
  readonly chunkId: number;
  readonly lengthBytes: number;
}

export interface SetGoalCommand extends CommandHeader {
  readonly kind: 'setGoal';
  readonly inode: number;
  readonly goal: number;
}

export interface SetTrashTimeCommand extends CommandHeader {
  readonly kind: 'setTrashTime';
  readonly inode: number;
  readonly trashTimeSec: number;
}

/** Frees one trashed file now (it becomes sustained instead while a session holds it). */
export interface PurgeTrashCommand extends CommandHeader {
  readonly kind: 'purgeTrash';
  readonly inode: number;
}

/** Frees trashed files whose time is up, oldest first; proposed by the leader. */
export interface ExpireTrashCommand extends CommandHeader {
  readonly kind: 'expireTrash';
  readonly maxCount: number;
}

/** Puts a trashed file back under the name it had. */
export interface UndeleteCommand extends CommandHeader {
  readonly kind: 'undelete';
  readonly inode: number;
}

export interface SessionOpenCommand extends CommandHeader {
  readonly kind: 'sessionOpen';
  /** The directory the session is rooted at (the export's subfolder). */
  readonly rootInode: number;
  /** MooseFS session flags (RO 1, DYNAMICIP 2, IGNOREGID 4, ADMIN 8, MAPALL 16); stored, not interpreted yet. */
  readonly flags: number;
  readonly timeoutSec: number;
}

export interface SessionRenewCommand extends CommandHeader {
  readonly kind: 'sessionRenew';
  readonly sessionId: number;
}

export interface SessionCloseCommand extends CommandHeader {
  readonly kind: 'sessionClose';
  readonly sessionId: number;
}

/** Closes sessions whose time is up, oldest first; proposed by the leader. */
export interface ExpireSessionsCommand extends CommandHeader {
  readonly kind: 'expireSessions';
  readonly maxCount: number;
}

/** The session holds the file open (MooseFS ACQUIRE); holding it twice is holding it once. */
export interface AcquireCommand extends CommandHeader {
  readonly kind: 'acquire';
  readonly sessionId: number;
  readonly inode: number;
}

export interface ReleaseCommand extends CommandHeader {
  readonly kind: 'release';
  readonly sessionId: number;
  readonly inode: number;
}

export type Command =
  | MkdirCommand
  | MknodCommand
  | CreateCommand
  | SymlinkCommand
  | LinkCommand
  | UnlinkCommand
  | RmdirCommand
  | RenameCommand
  | SetattrCommand
  | TruncateCommand
  | WriteChunkCommand
  | WriteChunkEndCommand
  | SetGoalCommand
  | SetTrashTimeCommand
  | PurgeTrashCommand
  | ExpireTrashCommand
  | UndeleteCommand
  | SessionOpenCommand
  | SessionRenewCommand
  | SessionCloseCommand
  | ExpireSessionsCommand
  | AcquireCommand
  | ReleaseCommand;

export type CommandKind = Command['kind'];

/** Attributes of one inode as the reads and command results report them. */
export interface Attr {
  readonly inode: number;
  readonly type: Exclude<NodeType, 0>;
  /** Permission bits and setuid/setgid/sticky: mode & 0o7777. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly atimeSec: number;
  readonly mtimeSec: number;
  readonly ctimeSec: number;
  readonly nlink: number;
  /** Regular files: size; symlinks: target length in bytes; directories and others: 0. */
  readonly lengthBytes: number;
  readonly rdev: number;
  /** Copies wanted for the file's chunks (1..9); inherited from the parent directory. */
  readonly goal: number;
  /** How long the file stays in the trash after its last name goes; inherited from the parent. */
  readonly trashTimeSec: number;
}

/** A chunk as WRITE_CHUNK and READ_CHUNK report it. */
export interface ChunkInfo {
  /** 0 for a hole. */
  readonly chunkId: number;
  /** 0 for a hole. */
  readonly version: number;
  /** The file's length (the MooseFS reply's `length`), not the chunk's. */
  readonly lengthBytes: number;
}
