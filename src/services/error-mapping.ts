import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import {
  FellBehindError,
  HistoryLostError,
  SeqAheadError,
  StoreUnavailableError,
} from "../core/errors.ts";
import { StorageFullError } from "../stores/sqlite/errors.ts";

/** Trailer/header telling a cut-off subscriber where to resume. */
export const resumeAfterSeqKey = "chat-resume-after-seq";

/**
 * Connect-ES (2.1) reports a request message it cannot decode as Internal,
 * as if the server had failed: "parse binary: ..." when the bytes are no
 * valid message (a truncated field, invalid UTF-8 in a string; from
 * protocol/serialization.ts), and "received compressed envelope, but do not
 * know how to decompress" (protocol/envelope.ts, whose own comment promises
 * InvalidArgument). Both are the client's fault; Connect-Go answers them
 * with InvalidArgument too.
 */
export function isUndecodableRequest(e: ConnectError): boolean {
  return (
    e.code === Code.Internal &&
    (e.rawMessage.startsWith("parse binary: ") ||
      e.rawMessage === "received compressed envelope, but do not know how to decompress")
  );
}

/** The same error as the client's fault: InvalidArgument, with its message and metadata. */
export function asInvalidArgument(e: ConnectError): ConnectError {
  return new ConnectError(e.rawMessage, Code.InvalidArgument, e.metadata, undefined, e);
}

/**
 * Turns an error from the core into the ConnectError a client should see.
 * ConnectErrors pass unchanged, except undecodable requests (InvalidArgument);
 * anything unexpected becomes Internal with a generic message (the cause is
 * attached for logs, never sent).
 */
export function toConnectError(e: unknown): ConnectError {
  if (e instanceof ConnectError) return isUndecodableRequest(e) ? asInvalidArgument(e) : e;
  if (e instanceof FellBehindError) {
    return new ConnectError(
      `subscriber fell too far behind; resubscribe with after_seq=${e.lastSeq} to continue without loss`,
      Code.ResourceExhausted,
      { [resumeAfterSeqKey]: String(e.lastSeq) },
      undefined,
      e,
    );
  }
  if (e instanceof SeqAheadError) {
    return new ConnectError(e.message, Code.OutOfRange, undefined, undefined, e);
  }
  if (e instanceof StorageFullError) {
    return new ConnectError(
      "the server's storage is full; try again later",
      Code.ResourceExhausted,
      undefined,
      undefined,
      e,
    );
  }
  if (e instanceof StoreUnavailableError) {
    return new ConnectError(
      "the message store is unreachable; try again shortly",
      Code.Unavailable,
      undefined,
      undefined,
      e,
    );
  }
  if (e instanceof HistoryLostError) {
    return new ConnectError(
      "the room's history was replaced; reconnect and resume",
      Code.Unavailable,
      undefined,
      undefined,
      e,
    );
  }
  return new ConnectError("internal error", Code.Internal, undefined, undefined, e);
}

/** Failures the server is to blame for, which an operator must hear about. */
function isServerFault(e: ConnectError): boolean {
  return e.code === Code.Internal || e.cause instanceof StorageFullError;
}

/**
 * What ended a call, as the ConnectError its client gets, reported to
 * `onInternal` or `onRejected` as described at
 * {@link createErrorMappingInterceptor}. Shared by the interceptor and the
 * streaming fast path, which runs no interceptors.
 */
export function createCallErrorMapper(
  onInternal: (e: ConnectError) => void,
  onRejected: (e: ConnectError) => void = () => {},
): (e: unknown, signal: AbortSignal) => ConnectError {
  return (e, signal) => {
    if (signal.aborted && !(e instanceof ConnectError)) {
      return new ConnectError("the call was canceled", Code.Canceled, undefined, undefined, e);
    }
    const ce = toConnectError(e);
    if (e instanceof ConnectError && isUndecodableRequest(e)) onRejected(ce);
    else if (isServerFault(ce)) onInternal(ce);
    return ce;
  };
}

/**
 * Maps errors of every handler, unary and streaming, in one place: the
 * services throw core errors or ConnectErrors and stay free of mapping code.
 *
 * `onInternal` sees the failures the server is to blame for (unexpected
 * errors, a full disk), to log them. `onRejected` sees requests refused
 * because the client sent bytes that are no request message: one line per
 * such call at error level would let any client fill the log, so they
 * belong at debug level. A client that went away is normal: its call ends
 * as Canceled and is reported to neither.
 *
 * Unary calls that cannot be decoded never reach an interceptor (Connect
 * decodes them first): see `mapUnaryDecodeFailures`.
 */
export function createErrorMappingInterceptor(
  onInternal: (e: ConnectError) => void,
  onRejected: (e: ConnectError) => void = () => {},
): Interceptor {
  const mapCallError = createCallErrorMapper(onInternal, onRejected);
  return (next) => async (req) => {
    const map = (e: unknown) => mapCallError(e, req.signal);
    try {
      const res = await next(req);
      if (!res.stream) return res;
      return {
        ...res,
        message: (async function* () {
          try {
            yield* res.message;
          } catch (e) {
            throw map(e);
          }
        })(),
      };
    } catch (e) {
      throw map(e);
    }
  };
}
