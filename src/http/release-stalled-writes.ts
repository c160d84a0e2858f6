import type { FastifyInstance } from "fastify";

/**
 * Unblocks Connect-Node's response writer when the client goes away while a
 * write waits for back-pressure to clear.
 *
 * `universalResponseToNodeResponse` (connect-node 2.1) awaits each write
 * with `once("drain")` / `once("error")` only. A response whose stream or
 * socket is destroyed emits neither: Node calls the pending write callbacks
 * without an error and emits `close`. The handler's generator then stays
 * suspended at its `yield` for ever: its `finally` (unsubscribe, presence
 * leave) never runs, and everything it holds (queued events, the request,
 * the response) is never freed. Under churn of subscribers that were behind
 * when they left, that was an out-of-memory crash (issue 13).
 *
 * Emitting `drain` on such a `close` lets the writer go on: its next write
 * on the destroyed response fails with ERR_STREAM_DESTROYED, which Connect
 * maps to Aborted (not logged) and reports to the handler, whose iterator is
 * then closed. A `drain` nobody waits for is harmless. Reported upstream as
 * described in docs/upstream/connect-node-write-hang.md.
 */
export function registerStalledWriteRelease(app: FastifyInstance): void {
  app.addHook("onRequest", (_req, reply, done) => {
    const res = reply.raw;
    res.once("close", () => {
      // Not `writableFinished`: a destroyed HTTP/2 response reports true.
      if (!res.writableEnded) res.emit("drain");
    });
    done();
  });
}
