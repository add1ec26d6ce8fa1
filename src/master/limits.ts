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
