import * as http2 from "node:http2";
import type * as net from "node:net";
import { guardHttp2Session } from "./http2-session-guard.ts";
import { createIpGuard, type IpGuardOptions } from "./ip-guard.ts";

export interface SecureServerGuardOptions {
  /** An HTTP/2 client must acknowledge the server's SETTINGS within this. Default 10_000. */
  handshakeTimeoutMs?: number;
  /** See `OnePortServerOptions.requestTimeoutMs` (HTTP/2 streams only here). Default 30_000. */
  requestTimeoutMs?: number;
  /** Whether calls to `path` stream their request body: exempt from `requestTimeoutMs`. */
  isStreamingRequest(path: string): boolean;
  perIp?: IpGuardOptions;
}

/**
 * The one-port server's per-IP limits and HTTP/2 session guard, for the TLS server that
 * Fastify builds itself (`http2: true, https: { allowHTTP1 }`). A stream of a session that
 * is being closed for resets still reaches the application here (Fastify owns the request
 * listener), but is reset first, and the session is gone on the next event-loop turn.
 */
export function guardSecureServer(
  server: http2.Http2SecureServer,
  options: SecureServerGuardOptions,
): void {
  const ipGuard = createIpGuard(options.perIp);
  server.on("connection", (socket: net.Socket) => {
    if (!ipGuard.admit(socket)) socket.destroy();
  });
  server.on("session", (session: http2.ServerHttp2Session) => {
    const gate = guardHttp2Session(session, {
      // Fastify applies its own http2SessionTimeout (72 s) too.
      idleTimeoutMs: 72_000,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
      keepaliveMs: Math.max(1000, options.handshakeTimeoutMs ?? 10_000),
      keepaliveTimeoutMs: Math.max(1000, options.handshakeTimeoutMs ?? 10_000),
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      isStreamingRequest: options.isStreamingRequest,
      chargeReset: (address) => ipGuard.chargeReset(address),
      isCoolingDown: (address) => ipGuard.isCoolingDown(address),
    });
    session.prependListener("stream", (stream: http2.ServerHttp2Stream) => {
      if (!gate.admitsStream()) stream.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    });
  });
}
