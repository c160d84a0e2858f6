import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { FellBehindError, SeqAheadError } from "../core/errors.ts";

/** Trailer/header telling a cut-off subscriber where to resume. */
export const resumeAfterSeqKey = "chat-resume-after-seq";

/**
 * Turns an error from the core into the ConnectError a client should see.
 * ConnectErrors pass unchanged; anything unexpected becomes Internal with a
 * generic message (the cause is attached for logs, never sent).
 */
export function toConnectError(e: unknown): ConnectError {
  if (e instanceof ConnectError) return e;
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
  return new ConnectError("internal error", Code.Internal, undefined, undefined, e);
}

/**
 * Maps errors of every handler, unary and streaming, in one place: the
 * services throw core errors or ConnectErrors and stay free of mapping code.
 * `onInternal` sees errors that were not expected (to log them). A client
 * that went away is normal: its call ends as Canceled and is not reported.
 */
export function createErrorMappingInterceptor(onInternal: (e: ConnectError) => void): Interceptor {
  return (next) => async (req) => {
    const map = (e: unknown): ConnectError => {
      if (req.signal.aborted && !(e instanceof ConnectError)) {
        return new ConnectError("the call was canceled", Code.Canceled, undefined, undefined, e);
      }
      const ce = toConnectError(e);
      if (ce.code === Code.Internal) onInternal(ce);
      return ce;
    };
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
