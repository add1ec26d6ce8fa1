/**
 * Names as bytes. Entry names are stored as WTF-8: UTF-8 for every well-formed string, and a lone
 * UTF-16 surrogate (which a JavaScript string may hold) as the 3-byte sequence its code unit
 * would have. The mapping string <-> bytes is therefore a bijection, so two names are equal as
 * strings exactly when their bytes are equal, and the byte count is `Buffer.byteLength(name)`,
 * the figure the name limits are checked against. The codec refuses lone surrogates, so names
 * arriving through the log are always plain UTF-8.
 *
 * Readdir orders names by UTF-16 code units (`compareNames` on strings). UTF-8 byte order is code
 * point order, which differs for characters above U+FFFF, so `compareNameBytes` walks both byte
 * strings as UTF-16 units instead of comparing bytes.
 */

/** The largest WTF-8 size of a string of `n` UTF-16 units. */
export function maxEncodedBytes(units: number): number {
  return units * 3;
}

/** Writes the WTF-8 form of `s` into `out` at 0 and returns its byte count; `out` holds 3 × s.length. */
export function encodeName(s: string, out: Uint8Array): number {
  let p = 0;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out[p++] = c;
    } else if (c < 0x800) {
      out[p++] = 0xc0 | (c >> 6);
      out[p++] = 0x80 | (c & 0x3f);
    } else {
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
          out[p++] = 0xf0 | (c >> 18);
          out[p++] = 0x80 | ((c >> 12) & 0x3f);
          out[p++] = 0x80 | ((c >> 6) & 0x3f);
          out[p++] = 0x80 | (c & 0x3f);
          continue;
        }
      }
      out[p++] = 0xe0 | (c >> 12);
      out[p++] = 0x80 | ((c >> 6) & 0x3f);
      out[p++] = 0x80 | (c & 0x3f);
    }
  }
  return p;
}

const units: number[] = [];

/**
 * The string for WTF-8 bytes `buf[off, off + len)`, or null when they are not the canonical WTF-8
 * form of any string (bad lead or continuation byte, overlong form, a code point above U+10FFFF,
 * or a surrogate pair written as two 3-byte sequences instead of one 4-byte sequence).
 */
export function decodeName(buf: Uint8Array, off: number, len: number): string | null {
  const end = off + len;
  let ascii = true;
  for (let i = off; i < end; i++) {
    if ((buf[i] ?? 0) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return String.fromCharCode.apply(null, buf.subarray(off, end) as unknown as number[]);
  units.length = 0;
  let prevHigh = false;
  for (let i = off; i < end; ) {
    const b = buf[i] ?? 0;
    let cp: number;
    let need: number;
    let min: number;
    if (b < 0x80) {
      units.push(b);
      i++;
      prevHigh = false;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) {
      cp = b & 0x1f;
      need = 1;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      cp = b & 0x0f;
      need = 2;
      min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
      cp = b & 0x07;
      need = 3;
      min = 0x10000;
    } else {
      return null;
    }
    if (i + need >= end) return null;
    for (let k = 1; k <= need; k++) {
      const c = buf[i + k] ?? 0;
      if ((c & 0xc0) !== 0x80) return null;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff) return null;
    i += need + 1;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
      prevHigh = false;
    } else {
      // A low surrogate right after a high one would decode to a pair, whose canonical form is 4 bytes.
      if (cp >= 0xdc00 && cp <= 0xdfff && prevHigh) return null;
      prevHigh = cp >= 0xd800 && cp <= 0xdbff;
      units.push(cp);
    }
  }
  return String.fromCharCode.apply(null, units);
}

/**
 * Orders two WTF-8 byte strings as their strings would compare by UTF-16 code units, the order
 * of `compareNames`: negative, zero or positive.
 */
export function compareNameBytes(a: Uint8Array, aOff: number, aLen: number, b: Uint8Array, bOff: number, bLen: number): number {
  let i = aOff;
  let j = bOff;
  const aEnd = aOff + aLen;
  const bEnd = bOff + bLen;
  // Fast path: common ASCII prefix; equal bytes are equal units whatever the encoding around them.
  while (i < aEnd && j < bEnd) {
    const x = a[i] ?? 0;
    const y = b[j] ?? 0;
    if (x !== y) break;
    i++;
    j++;
  }
  // Restart decoding at a character boundary at or before the first difference.
  while (i > aOff && ((a[i] ?? 0) & 0xc0) === 0x80) {
    i--;
    j--;
  }
  let aLow = -1;
  let bLow = -1;
  for (;;) {
    let ua: number;
    let ub: number;
    if (aLow >= 0) {
      ua = aLow;
      aLow = -1;
    } else if (i >= aEnd) {
      ua = -1;
    } else {
      const cp = readCodePoint(a, i);
      i += codePointBytes(a[i] ?? 0);
      if (cp >= 0x10000) {
        ua = 0xd800 + ((cp - 0x10000) >> 10);
        aLow = 0xdc00 + ((cp - 0x10000) & 0x3ff);
      } else ua = cp;
    }
    if (bLow >= 0) {
      ub = bLow;
      bLow = -1;
    } else if (j >= bEnd) {
      ub = -1;
    } else {
      const cp = readCodePoint(b, j);
      j += codePointBytes(b[j] ?? 0);
      if (cp >= 0x10000) {
        ub = 0xd800 + ((cp - 0x10000) >> 10);
        bLow = 0xdc00 + ((cp - 0x10000) & 0x3ff);
      } else ub = cp;
    }
    if (ua !== ub) return ua < ub ? -1 : 1;
    if (ua === -1) return 0;
  }
}

function codePointBytes(lead: number): number {
  return lead < 0x80 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
}

/** The code point at `p` of well-formed WTF-8 (callers only pass bytes they encoded or validated). */
function readCodePoint(buf: Uint8Array, p: number): number {
  const b = buf[p] ?? 0;
  if (b < 0x80) return b;
  if (b < 0xe0) return ((b & 0x1f) << 6) | ((buf[p + 1] ?? 0) & 0x3f);
  if (b < 0xf0) return ((b & 0x0f) << 12) | (((buf[p + 1] ?? 0) & 0x3f) << 6) | ((buf[p + 2] ?? 0) & 0x3f);
  return (
    ((b & 0x07) << 18) | (((buf[p + 1] ?? 0) & 0x3f) << 12) | (((buf[p + 2] ?? 0) & 0x3f) << 6) | ((buf[p + 3] ?? 0) & 0x3f)
  );
}

/** FNV-1a over the name bytes, mixed with the directory (murmur3 finaliser), for the entry index. */
export function entryHash(dir: number, buf: Uint8Array, off: number, len: number): number {
  let h = 0x811c9dc5;
  for (let i = off, end = off + len; i < end; i++) h = Math.imul(h ^ (buf[i] ?? 0), 0x01000193);
  h ^= Math.imul(dir, 0x9e3779b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
