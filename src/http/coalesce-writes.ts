import type { ServerResponse } from "node:http";
import type { Http2ServerResponse } from "node:http2";
import type { FastifyInstance } from "fastify";

type NodeResponse = ServerResponse | Http2ServerResponse;
type WriteCallback = (error?: Error | null) => void;

/**
 * Coalesces the chunks a streaming RPC writes in one event-loop turn into
 * one write to the connection.
 *
 * Connect-Node writes every enveloped message of a stream separately. Each
 * pending write costs about a kilobyte of bookkeeping (the chunk's views,
 * its callback and Connect's `drain`/`error` closures, nghttp2's write
 * record) on top of its payload, and Node's 16 KiB high-water mark counts
 * payload only: a subscriber that is behind held ~170 pending writes of
 * ~100-byte notes, ~200 KB, and a thousand of them at once ran a 256 MB
 * heap out of memory (issue 13). One write per stream per turn makes the
 * bookkeeping per turn, not per message, and makes a delivery cheaper the
 * more is pending.
 *
 * Back-pressure is unchanged for the writer above: `write()` returns false
 * once what is queued (the response's own buffer plus what waits here)
 * reaches the high-water mark, and `drain` follows once it is written out.
 */
export function coalesceWrites(res: NodeResponse): void {
  const original = res.write;
  const write = original.bind(res) as (chunk: Uint8Array, cb: WriteCallback) => boolean;
  const end = res.end.bind(res) as (...args: unknown[]) => NodeResponse;
  let chunks: Uint8Array[] = [];
  let bytes = 0;
  /** We answered false: a `drain` is owed even if the real write accepts. */
  let owesDrain = false;
  let closed = false;
  res.once("close", () => {
    closed = true;
  });

  function flush(): void {
    if (chunks.length === 0) return;
    const data = chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks);
    chunks = [];
    bytes = 0;
    const accepted = write(data, ignore);
    if (owesDrain && accepted) process.nextTick(() => res.emit("drain"));
    owesDrain = false;
  }

  res.write = function coalescedWrite(chunk: unknown, ...rest: unknown[]): boolean {
    const cb = rest.find((a): a is WriteCallback => typeof a === "function");
    if (closed || res.destroyed) {
      // Fail it here: Node's Http2ServerResponse answers a write after
      // destroy with `false` and never calls back, which left Connect's
      // writer waiting for ever. Connect maps this code to Aborted.
      const error = Object.assign(new Error("the response is closed"), {
        code: "ERR_STREAM_DESTROYED",
      });
      process.nextTick(cb ?? ignore, error);
      return false;
    }
    if (!(chunk instanceof Uint8Array) || res.writableEnded) {
      flush();
      return (original as (...args: unknown[]) => boolean).apply(res, [chunk, ...rest]);
    }
    if (chunks.length === 0) scheduleFlush(flush);
    chunks.push(chunk);
    bytes += chunk.byteLength;
    // Accepted: the callback runs now, so that the writer's closures are not
    // kept for as long as the data waits for the client. A later failure
    // shows as the response's `close` (see release-stalled-writes.ts).
    if (cb) process.nextTick(cb);
    const below = res.writableLength + bytes < res.writableHighWaterMark;
    if (!below) owesDrain = true;
    return below;
  } as NodeResponse["write"];

  res.end = function coalescedEnd(...args: unknown[]) {
    flush();
    return end(...args);
  } as NodeResponse["end"];
}

function ignore(): void {}

/** One setImmediate for every stream that wrote in this turn. */
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

/** Streaming RPC responses (gRPC, gRPC-Web, Connect streaming) get coalesced writes. */
export function registerWriteCoalescing(app: FastifyInstance): void {
  app.addHook("onRequest", (req, reply, done) => {
    const type = String(req.headers["content-type"] ?? "");
    if (type.startsWith("application/grpc") || type.startsWith("application/connect+")) {
      coalesceWrites(reply.raw);
    }
    done();
  });
}
