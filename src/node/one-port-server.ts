import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { FastifyServerFactory } from "fastify";
import { sniffProtocol } from "./sniff.ts";

/** Options for {@link createOnePortServer}. Fastify's own timeout options do not reach a `serverFactory` server; these replace them. */
export interface OnePortServerOptions {
  /** Destroy a connection that has not sent enough bytes to pick a protocol within this time (slowloris guard). Default 10_000. */
  sniffTimeoutMs?: number;
  /** HTTP/1.1: time allowed to receive the request headers. Default 60_000 (Node's). */
  headersTimeoutMs?: number;
  /** HTTP/1.1: time allowed to receive the whole request; 0 disables. Default 300_000 (Node's). */
  requestTimeoutMs?: number;
  /** HTTP/1.1: close a keep-alive socket idle this long. Default 72_000 (Fastify's, outlives common proxy idle timeouts). */
  keepAliveTimeoutMs?: number;
  /**
   * After `close()`, destroy whatever is still open (streams included) this long later, so
   * shutdown time is bounded. Let handlers end streams first, e.g. with connect-fastify's
   * `shutdownTimeoutMs` set lower. Infinity disables. Default 10_000.
   */
  forceCloseAfterMs?: number;
  /** Passed to `http2.createServer` (`settings`, `maxSessionMemory`, `peerMaxConcurrentStreams`, ...); Node's defaults otherwise. */
  http2?: OnePortHttp2Options;
}

export interface OnePortHttp2Options extends http2.ServerOptions {
  /**
   * Send GOAWAY to a session that exchanged no frames for this long and has no open stream;
   * a quiet chat subscription keeps its session. Default 72_000 (Fastify's http2SessionTimeout).
   */
  sessionIdleTimeoutMs?: number;
}

/** A request listener that accepts both protocols' compat objects, as Fastify's handler does. */
export type OnePortHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

/** Live connection counts, for stats. */
export interface OnePortConnections {
  /** Accepted, protocol not known yet. */
  sniffing: number;
  http1: number;
  /** HTTP/2 sessions (each is one TCP connection). */
  http2: number;
}

/** The `net.Server` that listens; speaks HTTP/2 (prior knowledge) and HTTP/1.1 on one cleartext port. */
export interface OnePortServer extends net.Server {
  /** GOAWAY every HTTP/2 session, close idle HTTP/1.1 sockets, drop sockets still being sniffed. Fastify calls it on close. */
  closeIdleConnections(): void;
  /** Destroy every connection now, open streams included. */
  closeAllConnections(): void;
  connectionCounts(): OnePortConnections;
}

interface Tracked {
  /** Set by close(). */
  closing: boolean;
  sniffing: Set<net.Socket>;
  http1: Set<net.Socket>;
  sessions: Set<http2.ServerHttp2Session>;
}

/**
 * Serves gRPC (which needs HTTP/2) next to gRPC-Web, Connect and browser GETs on HTTP/1.1 on
 * one cleartext port: Node only negotiates both via TLS ALPN (`allowHTTP1`), so each
 * connection's first bytes are inspected and the socket handed to an inner `http2` or `http`
 * server that is never listening itself. Works on Node, Bun and Deno.
 *
 * `close()` stops accepting, then behaves like `closeIdleConnections()`, and calls
 * `closeAllConnections()` after `forceCloseAfterMs`; its callback fires once every socket is gone.
 */
export function createOnePortServer(
  handler: OnePortHandler,
  options: OnePortServerOptions = {},
): OnePortServer {
  const { sessionIdleTimeoutMs = 72_000, ...h2Options } = options.http2 ?? {};
  const h1 = http.createServer(
    {
      headersTimeout: options.headersTimeoutMs ?? 60_000,
      requestTimeout: options.requestTimeoutMs ?? 300_000,
      keepAliveTimeout: options.keepAliveTimeoutMs ?? 72_000,
    },
    handler,
  );
  const h2 = http2.createServer(h2Options, handler);
  const tracked: Tracked = {
    closing: false,
    sniffing: new Set(),
    http1: new Set(),
    sessions: new Set(),
  };
  const sniffTimeoutMs = options.sniffTimeoutMs ?? 10_000;
  // allowHalfOpen as http.createServer does: the HTTP/1.1 server ends the socket itself.
  const outer = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) =>
    sniff(socket, sniffTimeoutMs, tracked, h1, h2),
  );
  h2.on("session", (session) => trackSession(session, sessionIdleTimeoutMs, tracked));
  for (const inner of [h1, h2]) {
    // Deno closes keep-alive sockets of a server that is not listening, and these never
    // listen themselves (https://github.com/denoland/deno/issues/35609).
    Object.defineProperty(inner, "listening", { get: () => outer.listening, configurable: true });
  }
  // Node's http.Server starts tracking connections (headersTimeout, requestTimeout,
  // closeIdleConnections) on its own "listening" event, which a fed server never emits.
  outer.on("listening", () => h1.emit("listening"));
  // A keep-alive response still running at close() would leave its socket open until
  // keepAliveTimeoutMs once done: Node's http.Server only closes the idle ones of the moment.
  h1.on("request", (_req, res) => {
    res.once("close", () => {
      if (tracked.closing) h1.closeIdleConnections();
    });
  });
  // Keep WebSocket upgrades possible through `server.on("upgrade")`, as on a plain http.Server.
  h1.on("upgrade", (req, socket, head) => {
    if (!outer.emit("upgrade", req, socket, head)) socket.destroy();
  });
  return addControls(outer, h1, tracked, options.forceCloseAfterMs ?? 10_000);
}

/**
 * Fastify's `serverFactory` for {@link createOnePortServer}. Fastify's own `keepAliveTimeout`,
 * `requestTimeout`, `http2SessionTimeout` and `connectionTimeout` are not applied to a factory's
 * server; pass the equivalents here. No `http2: true` is needed: Fastify and connect-fastify
 * look at each request's `httpVersionMajor`.
 */
export function createOnePortServerFactory(
  options: OnePortServerOptions = {},
): FastifyServerFactory {
  const factory = (handler: OnePortHandler) => createOnePortServer(handler, options);
  // Fastify's types ask for an http.Server; at runtime it only uses listen, close, address,
  // on/once, closeIdleConnections and closeAllConnections, which OnePortServer has.
  return factory as unknown as FastifyServerFactory;
}

/** Narrows Fastify's `app.server` (typed http.Server) back to a OnePortServer. */
export function isOnePortServer(server: unknown): server is OnePortServer {
  return server instanceof net.Server && "connectionCounts" in server;
}

function sniff(
  socket: net.Socket,
  timeoutMs: number,
  tracked: Tracked,
  h1: http.Server,
  h2: http2.Http2Server,
): void {
  tracked.sniffing.add(socket);
  let received: Buffer = Buffer.alloc(0);
  // A deadline, not an idle timeout: trickling one byte at a time must not extend it.
  const deadline = setTimeout(() => socket.destroy(), timeoutMs);
  const stopSniffing = () => {
    clearTimeout(deadline);
    tracked.sniffing.delete(socket);
    socket.off("data", onSniffData);
    socket.off("end", onEnd);
    socket.off("error", onError);
    socket.off("close", stopSniffing);
  };
  const onSniffData = (chunk: Buffer) => {
    received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
    const protocol = sniffProtocol(received);
    if (protocol === undefined) return;
    stopSniffing();
    if (protocol === "h2") {
      // As http2.createServer's own sockets; http.createServer's are half-open like ours.
      socket.allowHalfOpen = false;
      handOff(socket, received, h2);
      return;
    }
    tracked.http1.add(socket);
    socket.once("close", () => tracked.http1.delete(socket));
    handOff(socket, received, h1);
  };
  // Neither server owns the socket yet: a reset or an early FIN just ends it.
  const onEnd = () => socket.destroy();
  const onError = () => socket.destroy();
  socket.on("data", onSniffData);
  socket.on("end", onEnd);
  socket.on("error", onError);
  socket.on("close", stopSniffing);
}

function handOff(socket: net.Socket, bytes: Buffer, owner: http.Server | http2.Http2Server): void {
  // The caller removed our "data" listener first: seeing the bytes again, it would unshift them
  // again, forever, at 100% CPU. Pausing keeps a flowing socket from emitting the unshifted
  // bytes to no listener (they would be lost) before the new owner attaches.
  socket.pause();
  socket.unshift(bytes);
  owner.emit("connection", socket);
  // An owner that reads through "data" events (Node's HTTP/1.1 parser, Bun's and Deno's
  // http2) needs the socket flowing again. Node's http2 session reads the native handle and
  // drains the unshifted bytes itself on the next tick: resuming would flow them to nobody.
  if (socket.listenerCount("data") > 0) {
    // Deno workaround (not yet reported upstream; test/runtimes/runtime-quirks.spec.ts): its
    // HTTP/1.1 server, like Node's, reads later bytes straight from the socket's handle, and on
    // Deno such a read can land before resume() flushes the unshifted bytes on the next tick:
    // the request body then reaches the parser ahead of the request line (400 Bad Request).
    // read() hands the unshifted bytes to the owner now, before any later read.
    socket.read();
    socket.resume();
  }
}

function trackSession(
  session: http2.ServerHttp2Session,
  idleTimeoutMs: number,
  tracked: Tracked,
): void {
  tracked.sessions.add(session);
  session.once("close", () => tracked.sessions.delete(session));
  let openStreams = 0;
  session.on("stream", (stream) => {
    openStreams++;
    stream.once("close", () => openStreams--);
  });
  // "timeout" fires after idleTimeoutMs without frames and re-arms on the next frame; passing
  // the listener to setTimeout would register it once() and skip every later idle period.
  session.setTimeout(idleTimeoutMs);
  session.on("timeout", () => {
    if (openStreams === 0) session.close();
  });
}

function addControls(
  outer: net.Server,
  h1: http.Server,
  tracked: Tracked,
  forceCloseAfterMs: number,
): OnePortServer {
  const closeIdleConnections = () => {
    for (const socket of tracked.sniffing) socket.destroy();
    // Graceful GOAWAY: open streams finish, no new ones start.
    for (const session of tracked.sessions) session.close();
    h1.closeIdleConnections();
  };
  const closeAllConnections = () => {
    for (const socket of tracked.sniffing) socket.destroy();
    for (const session of tracked.sessions) session.destroy();
    for (const socket of tracked.http1) socket.destroy();
  };
  const connectionCounts = (): OnePortConnections => ({
    sniffing: tracked.sniffing.size,
    http1: tracked.http1.size,
    http2: tracked.sessions.size,
  });
  const netClose = outer.close.bind(outer);
  const close = (callback?: (err?: Error) => void) => {
    tracked.closing = true;
    netClose(callback);
    closeIdleConnections();
    // Stops the HTTP/1.1 server's connection-checking interval.
    h1.close();
    if (Number.isFinite(forceCloseAfterMs)) {
      const timer = setTimeout(closeAllConnections, forceCloseAfterMs);
      timer.unref();
      outer.once("close", () => clearTimeout(timer));
    }
    return server;
  };
  const server: OnePortServer = Object.assign(outer, {
    closeIdleConnections,
    closeAllConnections,
    connectionCounts,
    close,
  });
  return server;
}
