/** Limits of the namespace. Every one is checked where a command could exceed it. */

/** A directory entry name, in UTF-8 bytes (MooseFS MFS_NAME_MAX, Linux NAME_MAX). */
export const maxNameBytes = 255;
/** A symlink target, in UTF-8 bytes (Linux PATH_MAX minus the NUL). */
export const maxSymlinkTargetBytes = 4095;
/** The largest file length this slice stores exactly (lengths are held in a Float64Array). */
export const maxFileLengthBytes = Number.MAX_SAFE_INTEGER;
/** Inode numbers are 32-bit on the MooseFS wire. */
export const maxInode = 0xffff_ffff;
export const rootInode = 1;
/** A freed inode number is not handed out again before this many seconds (MooseFS uses 86 400). */
export const defaultInodeReuseDelaySec = 86_400;
/** Groups carried per command (Linux NGROUPS_MAX). */
export const maxGidsPerCommand = 65_536;
/** Initial slots of the inode table; it doubles when full. */
export const initialInodeCapacity = 1024;
/** Largest page a single readdir returns. */
export const maxReaddirEntries = 65_536;

/** A file is a sequence of chunks of this many bytes (MooseFS MFSCHUNKSIZE, 2^26). */
export const chunkSizeBytes = 64 * 1024 * 1024;
/**
 * The highest chunk index: the last chunk of a file of `maxFileLengthBytes` (2^53 − 1 bytes are
 * covered by 2^27 chunks of 2^26 bytes). MooseFS allows 0x7FFFFFFF, but its lengths are u64; ours
 * stop at 2^53 − 1, and an index past that could never hold a byte.
 */
export const maxChunkIndex = Math.floor(maxFileLengthBytes / chunkSizeBytes);
/** Chunk ids are u64 on the wire; ours stay exact numbers. */
export const maxChunkId = Number.MAX_SAFE_INTEGER;
/** A chunk version is a u32 (MooseFS chunk `version`). */
export const maxChunkVersion = 0xffff_ffff;
/** How long a write keeps its chunk locked without WRITE_CHUNK_END (MooseFS chunks.c LOCKTIMEOUT). */
export const chunkLockSec = 120;
/** Initial slots of the chunk table; it doubles when it passes `chunkTableMaxLoad`. */
export const initialChunkTableCapacity = 1024;
export const chunkTableMaxLoad = 0.7;

/** Goals (MooseFS 3.0 predefined storage classes 1..9: that many copies). */
export const minGoal = 1;
export const maxGoal = 9;
/**
 * Root defaults of MooseFS 3.0.117 (mfsmaster/filesystem.c: DEFAULT_SCLASS 2 and
 * DEFAULT_TRASHTIME 24, in hours there): two copies, one day in the trash.
 */
export const defaultRootGoal = 2;
export const defaultRootTrashTimeSec = 86_400;
/** Trash time is stored in seconds as a u32 (MooseFS stores hours; see docs/METADATA.md). */
export const maxTrashTimeSec = 0xffff_ffff;

/** Session ids are u32 (MooseFS sessionid); 0 means "no session". */
export const maxSessionId = 0xffff_ffff;
/** A session's timeout, from open or renew to expiry (MooseFS keeps sessions 86 400 s by default). */
export const maxSessionTimeoutSec = 7 * 86_400;
/**
 * Results kept per session for retried commands: a session may have this many mutations in
 * flight and still get each one's first answer when it retries.
 */
export const retryWindow = 32;
/** A command sequence number is u64 on the wire, an exact number here. */
export const maxSequence = Number.MAX_SAFE_INTEGER;
/** Most entries one expireTrash or expireSessions command processes. */
export const maxExpireBatch = 65_536;
