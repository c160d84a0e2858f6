import type { OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Http2ServerResponse } from "node:http2";
import type { ConnectError } from "@connectrpc/connect";
import type { StreamProtocol } from "./stream-protocols.ts";

type NodeResponse = ServerResponse | Http2ServerResponse;

/**
 * Writes one server stream's frames to its response, for the fast path.
 *
 * - Frames written in one event-loop turn go out as one write, made once
 *   for every stream that has something (one shared `setImmediate`): under
 *   load a delivery gets cheaper, not dearer.
 * - Frames are shared by every subscriber: a turn's frames are joined into
 *   one chunk when small (one write instead of many), and written as they
 *   are otherwise, so a backlog is references to shared bytes, not copies.
 * - `write` refuses a frame once what waits for the client (the response's
 *   buffer plus this turn's frames) exceeds `budgetBytes`: the caller ends
 *   the stream as too slow instead of buffering without bound.
 * - `ready` tells a producer that can wait (the replay) to wait for `drain`.
 * - Headers go out with the first frame, so an error before any event is a
 *   gRPC "trailers-only" response, as with Connect's handlers.
 */
export interface StreamWriter {
  /** Queues a frame; false when over budget (nothing queued). */
  write(frame: Uint8Array): boolean;
  /** Undefined below the high-water mark; else resolves on drain (or close). */
  ready(): Promise<void> | undefined;
  /** Writes what is queued and ends the stream with `error` (undefined: OK). */
  end(error: ConnectError | undefined): void;
  /** The client went away or the stream was ended. */
  readonly closed: boolean;
}

export interface StreamWriterOptions {
  protocol: StreamProtocol;
  /** Headers set before the fast path took the request (CORS). */
  headers: OutgoingHttpHeaders;
  budgetBytes: number;
}

export function createStreamWriter(res: NodeResponse, options: StreamWriterOptions): StreamWriter {
  const { protocol, budgetBytes } = options;
  let frames: Uint8Array[] = [];
  let queuedBytes = 0;
  let headersSent = false;
  let closed = false;
  let waiters: (() => void)[] = [];

  function release(): void {
    const ws = waiters;
    waiters = [];
    for (const w of ws) w();
  }
  // Below the budget, or replay would be cut off instead of waiting.
  const readyMark = Math.min(res.writableHighWaterMark, budgetBytes / 2);
  const below = () => res.writableLength + queuedBytes < readyMark;
  res.on("drain", release);
  res.once("close", () => {
    closed = true;
    frames = [];
    queuedBytes = 0;
    release();
  });

  function sendHeaders(extra?: Record<string, string>): void {
    headersSent = true;
    res.writeHead(200, { ...options.headers, "content-type": protocol.contentType, ...extra });
  }

  function flush(): void {
    if (closed || frames.length === 0) return;
    if (!headersSent) sendHeaders();
    const write = res.write as (chunk: Uint8Array) => boolean;
    if (frames.length === 1) write.call(res, frames[0] as Uint8Array);
    else if (queuedBytes <= joinMaxBytes) write.call(res, Buffer.concat(frames, queuedBytes));
    else {
      // A backlog: the shared frames themselves, so that what waits for a
      // slow client is mostly references to bytes every subscriber shares.
      const corkable = "cork" in res;
      if (corkable) res.cork();
      for (const frame of frames) write.call(res, frame);
      if (corkable) res.uncork();
    }
    frames = [];
    queuedBytes = 0;
    if (waiters.length > 0 && below()) release();
  }

  return {
    write(frame) {
      if (closed) return true;
      if (res.writableLength + queuedBytes + frame.byteLength > budgetBytes) return false;
      if (frames.length === 0) scheduleFlush(flush);
      frames.push(frame);
      queuedBytes += frame.byteLength;
      return true;
    },

    ready() {
      if (closed || below()) return undefined;
      return new Promise<void>((resolve) => waiters.push(resolve));
    },

    end(error) {
      if (closed) return;
      const { frame, trailers } = protocol.end(error);
      if (frame) {
        frames.push(frame);
        queuedBytes += frame.byteLength;
        flush();
      } else if (!headersSent && frames.length === 0) {
        // Trailers-only: the status travels in the headers.
        sendHeaders(trailers);
      } else {
        flush();
        if (trailers) (res as Http2ServerResponse).addTrailers(trailers);
      }
      closed = true;
      res.end();
    },

    get closed() {
      return closed;
    },
  };
}

/** Frames of one turn up to this size are joined into one chunk (a small copy). */
const joinMaxBytes = 16 * 1024;

/** One setImmediate for every stream that has frames in this turn. */
let dirty: (() => void)[] = [];
function scheduleFlush(flush: () => void): void {
  if (dirty.length === 0) setImmediate(flushAll);
  dirty.push(flush);
}
function flushAll(): void {
  const flushes = dirty;
  dirty = [];
  for (const flush of flushes) flush();
}
