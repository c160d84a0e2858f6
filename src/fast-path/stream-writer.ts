import type { OutgoingHttpHeaders } from "node:http";
import type { ConnectError } from "@connectrpc/connect";
import type { CallResponse } from "./h2-response.ts";
import type { StreamProtocol } from "./stream-protocols.ts";

/**
 * Writes one server stream's frames to its response, for the fast path.
 *
 * - Frames written in one event-loop turn go out as one write, made once
 *   for every stream that has something (one shared `setImmediate`): under
 *   load a delivery gets cheaper, not dearer.
 * - Frames are shared by every subscriber: a turn's frames are joined into
 *   one chunk when small and the client is keeping up (one write instead of
 *   many), and written as they are otherwise, so a backlog is references to
 *   shared bytes, not copies.
 * - `write` refuses a frame once what waits for the client (the response's
 *   buffer plus this turn's frames) exceeds `budgetBytes`: the caller ends
 *   the stream as too slow instead of buffering without bound.
 * - `ready` tells a producer that can wait (the replay) to wait for `drain`.
 * - Headers go out with the first frame, so an error before any event is a
 *   gRPC "trailers-only" response, as with Connect's handlers.
 *
 * A class, not closures: a server holds one per open stream (tens of
 * thousands of idle ones), and its methods are shared by all of them; its
 * settings are fields of its own, not an options object each. Its owner
 * calls `onClose` when the response closes.
 */
export class StreamWriter {
  private readonly res: CallResponse;
  private readonly protocol: StreamProtocol;
  /** Headers set before the fast path took the request (CORS). */
  private readonly headers: OutgoingHttpHeaders;
  private readonly budgetBytes: number;
  private frames: Uint8Array[] = [];
  private queuedBytes = 0;
  private headersSent = false;
  private waiters: (() => void)[] = [];
  private drainArmed = false;
  /** The client went away or the stream was ended. */
  closed = false;

  constructor(
    res: CallResponse,
    protocol: StreamProtocol,
    headers: OutgoingHttpHeaders,
    budgetBytes: number,
  ) {
    this.res = res;
    this.protocol = protocol;
    this.headers = headers;
    this.budgetBytes = budgetBytes;
  }

  /** Queues a frame; false when over budget (nothing queued). */
  write(frame: Uint8Array): boolean {
    if (this.closed) return true;
    const waiting = this.res.writableLength + this.queuedBytes + frame.byteLength;
    if (waiting > this.budgetBytes) return false;
    if (this.frames.length === 0) scheduleFlush(this);
    this.frames.push(frame);
    this.queuedBytes += frame.byteLength;
    return true;
  }

  /** Undefined below the high-water mark; else resolves on drain (or close). */
  ready(): Promise<void> | undefined {
    if (this.closed || this.below()) return undefined;
    if (!this.drainArmed) {
      this.drainArmed = true;
      this.res.once("drain", () => {
        this.drainArmed = false;
        this.release();
      });
    }
    return new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /**
   * Writes what is queued, then `last` (a unary call's one response frame:
   * written with the end, not scheduled for a flush of its own), and ends
   * the stream with `error` (undefined: OK).
   */
  end(error: ConnectError | undefined, last?: Uint8Array): void {
    if (this.closed) return;
    if (last !== undefined) {
      this.frames.push(last);
      this.queuedBytes += last.byteLength;
    }
    const { frame, trailers } = this.protocol.end(error);
    if (frame) {
      this.frames.push(frame);
      this.queuedBytes += frame.byteLength;
      this.flush();
    } else if (!this.headersSent && this.frames.length === 0) {
      // Trailers-only: the status travels in the headers.
      this.sendHeaders(trailers);
    } else {
      this.flush();
      if (trailers) this.res.addTrailers(trailers);
    }
    this.closed = true;
    this.res.end();
  }

  /** The response closed: nothing more is written, and waiting producers go on. */
  onClose(): void {
    this.closed = true;
    this.frames = [];
    this.queuedBytes = 0;
    this.release();
  }

  /** Writes this turn's frames (once per turn for every writer that has some). */
  flush(): void {
    const { frames, res } = this;
    if (this.closed || frames.length === 0) return;
    if (!this.headersSent) this.sendHeaders();
    const write = res.write as (chunk: Uint8Array) => boolean;
    if (frames.length === 1) write.call(res, frames[0] as Uint8Array);
    else if (this.queuedBytes <= joinMaxBytes && res.writableLength === 0) {
      write.call(res, Buffer.concat(frames, this.queuedBytes));
    } else {
      // A client that is behind (or a large turn): the shared frames
      // themselves, so that what waits for it is references to bytes every
      // subscriber shares, not a copy per subscriber; Node writes what is
      // buffered with one writev anyway.
      res.cork?.();
      for (const frame of frames) write.call(res, frame);
      res.uncork?.();
    }
    this.frames = [];
    this.queuedBytes = 0;
    if (this.waiters.length > 0 && this.below()) this.release();
  }

  /** Below the mark where replay waits: under the budget, or it would be cut off instead. */
  private below(): boolean {
    const mark = Math.min(this.res.writableHighWaterMark, this.budgetBytes / 2);
    return this.res.writableLength + this.queuedBytes < mark;
  }

  private release(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private sendHeaders(extra?: Record<string, string>): void {
    this.headersSent = true;
    const { headers, protocol } = this;
    this.res.writeHead(200, { ...headers, "content-type": protocol.contentType, ...extra });
  }
}

/** Frames of one turn up to this size are joined into one chunk (a small copy). */
const joinMaxBytes = 16 * 1024;

/** One setImmediate for every stream that has frames in this turn. */
let dirty: StreamWriter[] = [];
function scheduleFlush(writer: StreamWriter): void {
  if (dirty.length === 0) setImmediate(flushAll);
  dirty.push(writer);
}
function flushAll(): void {
  const writers = dirty;
  dirty = [];
  for (const writer of writers) writer.flush();
}
