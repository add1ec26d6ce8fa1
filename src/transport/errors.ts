/**
 * Errors of the transport. Every error carries a stable `code`:
 *
 *  - ERR_BAD_FRAME: bytes from a peer that do not decode: bad magic, unknown version or frame
 *    type, a checksum mismatch, a malformed message. The connection is closed; nothing of it is
 *    delivered.
 *  - ERR_FRAME_TOO_LARGE: a frame header announces more payload than the limit. Refused as soon as
 *    the header arrives, before any of the payload is buffered.
 *  - ERR_HANDSHAKE: the peer failed authentication (wrong cluster id or secret, unknown node id,
 *    a replayed or mismatched transcript, a timeout).
 *  - ERR_PROTOCOL: a well-formed frame where it is not allowed (a Raft message before the
 *    handshake, a message claiming to be from another node...).
 *  - ERR_BAD_OPTIONS: the transport was configured wrongly; the message says what to write instead.
 *  - ERR_TRANSPORT_CLOSED: the transport was closed.
 *
 * Errors about a peer's bytes are never thrown out of the transport: they close that one
 * connection with a logged reason. Only ERR_BAD_OPTIONS, ERR_TRANSPORT_CLOSED, and ERR_PROTOCOL for a
 * local message that breaks the types' contract (a bug of the sender), reach the caller.
 */
export type TransportErrorCode =
  | 'ERR_BAD_FRAME'
  | 'ERR_FRAME_TOO_LARGE'
  | 'ERR_HANDSHAKE'
  | 'ERR_PROTOCOL'
  | 'ERR_BAD_OPTIONS'
  | 'ERR_TRANSPORT_CLOSED';

export class TransportError extends Error {
  override readonly name: string = 'TransportError';
  constructor(
    readonly code: TransportErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

export function badFrame(reason: string): TransportError {
  return new TransportError('ERR_BAD_FRAME', reason);
}

export function isTransportError(e: unknown, code?: TransportErrorCode): e is TransportError {
  return e instanceof TransportError && (code === undefined || e.code === code);
}
