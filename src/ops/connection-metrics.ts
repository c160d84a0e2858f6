import type { FastifyInstance } from "fastify";
import type { ChatMetrics, RpcProtocol } from "./metrics.ts";

/**
 * The protocol of a request, from what Connect-ES itself dispatches on: the
 * content type (`application/grpc-web…` before `application/grpc…`;
 * `application/connect+…` for Connect streams, `application/proto` or
 * `application/json` for Connect unary POSTs) and, for a Connect unary GET,
 * its `connect=v1` query parameter. Anything else (the page, `/metrics`,
 * CORS preflights) is `other`.
 */
export function protocolOf(
  method: string,
  contentType: string | undefined,
  url: string,
): RpcProtocol {
  if (contentType !== undefined) {
    if (contentType.startsWith("application/grpc-web")) return "grpc-web";
    if (contentType.startsWith("application/grpc")) return "grpc";
    if (contentType.startsWith("application/connect+")) return "connect";
    if (
      method === "POST" &&
      (contentType.startsWith("application/proto") || contentType.startsWith("application/json"))
    ) {
      return "connect";
    }
  }
  if (method === "GET" && url.includes("connect=v1")) return "connect";
  return "other";
}

/** `2` for HTTP/2 (h2 and h2c), else the request's own version (`1.1`, `1.0`). */
function httpVersionOf(raw: { httpVersionMajor: number; httpVersion: string }): string {
  return raw.httpVersionMajor === 2 ? "2" : raw.httpVersion;
}

/**
 * Feeds the connection and request metrics. Open requests are counted by
 * protocol and HTTP version rather than connections: one HTTP/2 connection
 * may carry calls of several protocols at once, so only requests have one.
 * A request counts from its first hook until its response closes (finished,
 * reset or cut), which for a streaming call is the stream's whole life.
 * TCP connections are counted on the listening server itself, so sockets
 * that never become a request (sniffing, TLS handshakes) count too.
 */
export function registerConnectionMetrics(app: FastifyInstance, metrics: ChatMetrics): void {
  app.server.on("connection", (socket: { once(event: "close", listener: () => void): void }) => {
    metrics.connectionOpened();
    socket.once("close", () => metrics.connectionClosed());
  });
  app.addHook("onRequest", (req, reply, done) => {
    const protocol = protocolOf(req.method, req.headers["content-type"], req.url);
    const version = httpVersionOf(req.raw);
    metrics.requestOpened(protocol, version);
    reply.raw.once("close", () => metrics.requestClosed(protocol, version));
    done();
  });
}
