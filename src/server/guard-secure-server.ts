import * as http2 from "node:http2";
import type * as net from "node:net";
import { boundClose, defaultForceCloseAfterMs } from "./bounded-close.ts";
import { guardHttp2Session } from "./http2-session-guard.ts";
import { createIpGuard, type IpGuardOptions } from "./ip-guard.ts";
import { defaultRequestTimeoutMs, defaultSniffTimeoutMs } from "./one-port-server.ts";

export interface SecureServerGuardOptions {
  /** An HTTP/2 client must acknowledge the server's SETTINGS within this. Default 10_000. */
  handshakeTimeoutMs?: number;
  /** See `OnePortServerOptions.requestTimeoutMs` (HTTP/2 streams only here). Default 30_000. */
  requestTimeoutMs?: number;
  /** Whether calls to `path` stream their request body: exempt from `requestTimeoutMs`. */
  isStreamingRequest(path: string): boolean;
  perIp?: IpGuardOptions;
  /** See `OnePortServerOptions.forceCloseAfterMs`: the same bound on `close()`. Default 10_000. */
  forceCloseAfterMs?: number;
}

/**
 * The one-port server's per-IP limits, HTTP/2 session guard and bounded `close()`, for the TLS
 * server that Fastify builds itself (`http2: true, https: { allowHTTP1 }`). A stream of a
 * session that is being closed for resets still reaches the application here (Fastify owns the
 * request listener), but is reset first, and the session is gone on the next event-loop turn.
 */
export function guardSecureServer(
  server: http2.Http2SecureServer,
  options: SecureServerGuardOptions,
): void {
  const ipGuard = createIpGuard(options.perIp);
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? defaultSniffTimeoutMs;
  // Every accepted socket, TLS or not yet: Fastify closes HTTP/2 sessions gracefully and
  // Node the idle HTTP/1.1 connections, which a client that keeps a stream open outlives.
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  const track = <T extends net.Socket | http2.ServerHttp2Session>(set: Set<T>, item: T) => {
    set.add(item);
    item.once("close", () => set.delete(item));
  };
  server.on("connection", (socket: net.Socket) => {
    if (!ipGuard.admit(socket)) socket.destroy();
    else track(sockets, socket);
  });
  server.on("secureConnection", (socket: net.Socket) => track(sockets, socket));
  server.on("session", (session: http2.ServerHttp2Session) => {
    track(sessions, session);
    const gate = guardHttp2Session(session, {
      // Fastify applies its own http2SessionTimeout (72 s) too.
      idleTimeoutMs: 72_000,
      handshakeTimeoutMs,
      keepaliveMs: Math.max(1000, handshakeTimeoutMs),
      keepaliveTimeoutMs: Math.max(1000, handshakeTimeoutMs),
      requestTimeoutMs: options.requestTimeoutMs ?? defaultRequestTimeoutMs,
      isStreamingRequest: options.isStreamingRequest,
      chargeReset: (address) => ipGuard.chargeReset(address),
      isCoolingDown: (address) => ipGuard.isCoolingDown(address),
    });
    session.prependListener("stream", (stream: http2.ServerHttp2Stream) => {
      if (!gate.admitsStream()) stream.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    });
  });
  boundClose(server, options.forceCloseAfterMs ?? defaultForceCloseAfterMs, () => {
    for (const session of sessions) session.destroy();
    for (const socket of sockets) socket.destroy();
  });
}
