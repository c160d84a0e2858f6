import type * as net from "node:net";

/** How long `close()` waits for open connections before it cuts them, unless told otherwise. */
export const defaultForceCloseAfterMs = 10_000;

/**
 * Bounds `server.close()`: `closeAll` runs `afterMs` after it is called, unless every
 * connection is gone by then. Node's `close()` waits for each connection to end, and a client
 * that keeps a stream open (an HTTP/2 stream it never half-closes, an HTTP/1.1 body it never
 * finishes) would otherwise hold shutdown for ever. Infinity disables. The timer is unref'd.
 */
export function boundClose<S extends net.Server>(
  server: S,
  afterMs: number,
  closeAll: () => void,
): S {
  if (!Number.isFinite(afterMs)) return server;
  const close = server.close.bind(server);
  return Object.assign(server, {
    close(callback?: (err?: Error) => void) {
      close(callback);
      const timer = setTimeout(closeAll, afterMs);
      timer.unref();
      server.once("close", () => clearTimeout(timer));
      return server;
    },
  });
}
