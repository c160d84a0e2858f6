import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { FastifyServerFactory } from "fastify";
import { boundClose, defaultForceCloseAfterMs } from "./bounded-close.ts";
import { createStreamDispatcher, type StreamDispatcher } from "./http2-dispatch.ts";
import { guardHttp2Session } from "./http2-session-guard.ts";
import { createIpGuard, type IpGuard, type IpGuardOptions } from "./ip-guard.ts";
import { handOff, sniffConnection } from "./sniff-connection.ts";

/** See `OnePortServerOptions.sniffTimeoutMs`; the TLS server's handshake timeout too. */
export const defaultSniffTimeoutMs = 10_000;

/** See `OnePortServerOptions.requestTimeoutMs`. */
export const defaultRequestTimeoutMs = 30_000;

/** Options for {@link createOnePortServer}. Fastify's own timeout options do not reach a `serverFactory` server; these replace them. */
export interface OnePortServerOptions {
  /**
   * Destroy a connection that has not sent its HTTP/2 preface or its first HTTP/1.x request
   * head within this time of being accepted (slowloris guard); an HTTP/2 client must also
   * acknowledge the server's SETTINGS within this time of sending the preface. Default 10_000.
   */
  sniffTimeoutMs?: number;
  /**
   * HTTP/1.1: time allowed to receive the headers of each later request on a connection (the
   * first one is bound by `sniffTimeoutMs`). Default: `sniffTimeoutMs`.
   */
  headersTimeoutMs?: number;
  /**
   * Time allowed to receive a whole request body: HTTP/1.1 requests (408 and close), and
   * HTTP/2 streams that `http2.isStreamingRequest` does not exempt (RST_STREAM). A chat
   * request is at most a few KiB. 0 disables. Default 30_000.
   */
  requestTimeoutMs?: number;
  /** HTTP/1.1: close a keep-alive socket idle this long. Default 72_000 (Fastify's, outlives common proxy idle timeouts). */
  keepAliveTimeoutMs?: number;
  /**
   * After `close()`, destroy whatever is still open (streams included) this long later, so
   * shutdown time is bounded (see `boundClose`). Let handlers end streams first, e.g. with
   * connect-fastify's `shutdownTimeoutMs` set lower. Infinity disables. Default 10_000.
   */
  forceCloseAfterMs?: number;
  /** Passed to `http2.createServer` (`settings`, `maxSessionMemory`, `peerMaxConcurrentStreams`, ...); Node's defaults otherwise. */
  http2?: OnePortHttp2Options;
  /** Per-IP connection limit and HTTP/2 reset budget; see {@link createIpGuard} for defaults. */
  perIp?: IpGuardOptions;
}

export interface OnePortHttp2Options extends http2.ServerOptions {
  /**
   * Send GOAWAY to a session that has had no open stream for this long; a quiet chat
   * subscription keeps its session. Default 72_000 (Fastify's http2SessionTimeout).
   */
  sessionIdleTimeoutMs?: number;
  /**
   * PING each session this often once it is up, and destroy it when no answer comes within
   * `keepaliveTimeoutMs`: a session that nghttp2 ended for a protocol error reads nothing
   * more and tells no one, so this is how it is found. 0 disables. Default: `sniffTimeoutMs`,
   * at least 1 s (a dead session is released within twice that).
   */
  keepaliveMs?: number;
  /** Default: `sniffTimeoutMs`, at least 1 s (a PING waits behind data already queued for the client). */
  keepaliveTimeoutMs?: number;
  /**
   * Whether calls to `path` stream their request body (client streaming, bidi), which
   * exempts them from `requestTimeoutMs`. Default: every path (no HTTP/2 body deadline),
   * since this server does not know the routes.
   */
  isStreamingRequest?: (path: string) => boolean;
  /**
   * Takes a new stream before Node's compatibility layer makes a request and
   * response for it (and the handler, Fastify, its own pair): return the
   * function that serves it, or undefined to let it through. The taken
   * stream is paced like any other (see `createStreamDispatcher`). Where a
   * runtime does not emit `stream` on the server, nothing is taken.
   */
  takeStream?: (
    headers: http2.IncomingHttpHeaders,
  ) => ((stream: http2.ServerHttp2Stream) => void) | undefined;
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
  /** The socket being handed to the HTTP/2 server: Node creates its session synchronously. */
  handingOff: net.Socket | undefined;
  sniffing: Set<net.Socket>;
  http1: Set<net.Socket>;
  sessions: Set<http2.ServerHttp2Session>;
  /**
   * Each session's socket. A destroyed session only ends its socket's
   * writable side, and a client that never closes its own (seen with
   * connect-node after a cancelled Connect or gRPC-Web stream) kept the
   * socket, the session and `close()` waiting for ever: closing everything
   * must destroy the sockets themselves.
   */
  sessionSockets: Map<http2.ServerHttp2Session, net.Socket>;
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
  const sniffTimeoutMs = options.sniffTimeoutMs ?? defaultSniffTimeoutMs;
  const {
    sessionIdleTimeoutMs = 72_000,
    keepaliveMs = Math.max(1000, sniffTimeoutMs),
    keepaliveTimeoutMs = Math.max(1000, sniffTimeoutMs),
    isStreamingRequest = () => true,
    takeStream,
    ...h2Options
  } = options.http2 ?? {};
  const requestTimeoutMs = options.requestTimeoutMs ?? defaultRequestTimeoutMs;
  const h1 = createHttp1Server(handler, options, sniffTimeoutMs, requestTimeoutMs);
  const dispatchers = new WeakMap<http2.Http2Session, StreamDispatcher>();
  // Node's defaults are 1000 invalid frames and 100 refused streams per session before it
  // closes one; well-behaved clients send none of either.
  const h2 = http2.createServer(
    { maxSessionInvalidFrames: 100, maxSessionRejectedStreams: 100, ...h2Options },
    (req, res) => {
      const dispatcher = req.stream.session && dispatchers.get(req.stream.session);
      if (dispatcher === undefined) handler(req, res);
      else dispatcher.dispatch(req.stream, () => handler(req, res));
    },
  );
  if (takeStream !== undefined) takeStreamsFirst(h2, takeStream, dispatchers);
  const tracked: Tracked = {
    closing: false,
    handingOff: undefined,
    sniffing: new Set(),
    http1: new Set(),
    sessions: new Set(),
    sessionSockets: new Map(),
  };
  const ipGuard: IpGuard = createIpGuard(options.perIp);
  // allowHalfOpen as http.createServer does: the HTTP/1.1 server ends the socket itself.
  const outer = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    if (!ipGuard.admit(socket)) {
      socket.destroy();
      return;
    }
    sniffConnection(socket, sniffTimeoutMs, tracked.sniffing, (socket, protocol, bytes) => {
      if (protocol === "h2") {
        // As http2.createServer's own sockets; http.createServer's are half-open like ours.
        socket.allowHalfOpen = false;
        tracked.handingOff = socket;
        try {
          handOff(socket, bytes, h2);
        } finally {
          tracked.handingOff = undefined;
        }
        return;
      }
      tracked.http1.add(socket);
      socket.once("close", () => tracked.http1.delete(socket));
      handOff(socket, bytes, h1);
    });
  });
  h2.on("session", (session) => {
    tracked.sessions.add(session);
    session.once("close", () => tracked.sessions.delete(session));
    // Its own socket, which the session hides behind a proxy that forbids pause().
    const socket = tracked.handingOff;
    if (socket !== undefined) {
      tracked.sessionSockets.set(session, socket);
      socket.once("close", () => {
        tracked.sessionSockets.delete(session);
        tracked.sessions.delete(session);
      });
    }
    const gate = guardHttp2Session(session, {
      idleTimeoutMs: sessionIdleTimeoutMs,
      handshakeTimeoutMs: sniffTimeoutMs,
      keepaliveMs,
      keepaliveTimeoutMs,
      requestTimeoutMs,
      isStreamingRequest,
      chargeReset: (address) => ipGuard.chargeReset(address),
      isCoolingDown: (address) => ipGuard.isCoolingDown(address),
      stopReading: () => socket?.pause(),
    });
    dispatchers.set(session, createStreamDispatcher(gate.admitsStream));
  });
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
  return addControls(outer, h1, tracked, options.forceCloseAfterMs ?? defaultForceCloseAfterMs);
}

/**
 * Node's compatibility layer listens to the server's `stream` event (which
 * each session emits through `server.emit`) and always makes its request
 * and response: a listener cannot stop it. Intercepting `emit` for that one
 * event can, for the streams `take` wants; every other event and stream
 * passes unchanged.
 */
function ignoreStreamError(): void {}

function takeStreamsFirst(
  h2: http2.Http2Server,
  take: NonNullable<OnePortHttp2Options["takeStream"]>,
  dispatchers: WeakMap<http2.Http2Session, StreamDispatcher>,
): void {
  const emit = h2.emit;
  h2.emit = function (this: http2.Http2Server, event: string | symbol, ...args: unknown[]) {
    if (event === "stream") {
      const [stream, headers] = args as [http2.ServerHttp2Stream, http2.IncomingHttpHeaders];
      const serve = take(headers);
      if (serve !== undefined) {
        // From now on: a session that fails destroys its streams with its
        // error, and an 'error' without a listener would end the process.
        // The stream's 'close' tells its server all it needs.
        stream.on("error", ignoreStreamError);
        const dispatcher = stream.session && dispatchers.get(stream.session);
        if (dispatcher === undefined) serve(stream);
        else dispatcher.dispatch(stream, () => serve(stream));
        return true;
      }
    }
    return emit.call(this, event, ...args);
  } as typeof h2.emit;
}

/**
 * The inner HTTP/1.1 server. Node enforces its header and request timeouts on a timer that
 * runs every `connectionsCheckingInterval` (30 s by default): 1 s, or the header timeout if
 * shorter, keeps them near their stated values.
 */
function createHttp1Server(
  handler: OnePortHandler,
  options: OnePortServerOptions,
  sniffTimeoutMs: number,
  requestTimeoutMs: number,
): http.Server {
  const headersTimeout = options.headersTimeoutMs ?? sniffTimeoutMs;
  return http.createServer(
    {
      headersTimeout,
      // Node refuses a request timeout shorter than the header timeout.
      requestTimeout: requestTimeoutMs > 0 ? Math.max(requestTimeoutMs, headersTimeout) : 0,
      connectionsCheckingInterval: Math.max(1, Math.min(1000, headersTimeout)),
      keepAliveTimeout: options.keepAliveTimeoutMs ?? 72_000,
    },
    handler,
  );
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
    for (const socket of tracked.sessionSockets.values()) socket.destroy();
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
    return server;
  };
  const server: OnePortServer = Object.assign(outer, {
    closeIdleConnections,
    closeAllConnections,
    connectionCounts,
    close,
  });
  return boundClose(server, forceCloseAfterMs, closeAllConnections);
}
