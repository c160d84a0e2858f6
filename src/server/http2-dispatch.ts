import * as http2 from "node:http2";

/** Hands a session's new streams to the application, a few at a time. */
export interface StreamDispatcher {
  /** Runs `handle` for `stream` on a later event-loop turn, unless the stream is gone by then. */
  dispatch(stream: http2.ServerHttp2Stream, handle: () => void): void;
}

/** At most this many streams of one session reach the application per event-loop turn. */
export const streamsPerTurn = 100;

/**
 * Paces a session's requests: Node reads a socket's frames in one go (64 KiB at a time,
 * thousands of streams of a rapid-reset attack) and emits each request before it has read
 * the resets that follow. Dispatching on a later turn, `streamsPerTurn` at a time, lets the
 * resets arrive first: a stream the client already cancelled costs the application nothing,
 * each reset is charged (see `guardHttp2Session`) before more streams are let through, and
 * no session takes a whole turn from the others. A legitimate burst (a client opening a
 * thousand streams at once) is spread over a few turns: well under a millisecond each.
 *
 * `admits` is asked before each dispatch; a stream it refuses is reset (CANCEL, for which
 * Node makes no error object: a refused stream must stay cheap).
 */
export function createStreamDispatcher(admits: () => boolean): StreamDispatcher {
  const queue: { stream: http2.ServerHttp2Stream; handle: () => void }[] = [];
  let head = 0;
  let scheduled = false;
  const drain = () => {
    scheduled = false;
    let dispatched = 0;
    while (head < queue.length && dispatched < streamsPerTurn) {
      const next = queue[head] as (typeof queue)[number];
      queue[head++] = undefined as unknown as (typeof queue)[number];
      if (next.stream.closed || next.stream.destroyed) continue;
      if (!admits()) {
        next.stream.close(http2.constants.NGHTTP2_CANCEL);
        continue;
      }
      next.handle();
      dispatched++;
    }
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    } else {
      scheduled = true;
      setImmediate(drain);
    }
  };
  return {
    dispatch(stream, handle) {
      queue.push({ stream, handle });
      if (!scheduled) {
        scheduled = true;
        setImmediate(drain);
      }
    },
  };
}
