import { fail, type Failure } from './errors.ts';
import { maxNameBytes } from './limits.ts';

export function isDotName(name: string): boolean {
  return name === '.' || name === '..';
}

/**
 * A name that may be stored as a directory entry: 1..255 UTF-8 bytes, no '/' and no NUL.
 * '.' and '..' are handled by each command before this check, because Linux answers them with
 * a different error per call.
 */
export function checkEntryName(name: string): Failure | null {
  if (name.length === 0 || name.includes('/') || name.includes('\0')) return fail('EINVAL');
  if (utf8Length(name) > maxNameBytes) return fail('ENAMETOOLONG');
  return null;
}

export function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}
