import { Code, ConnectError } from "@connectrpc/connect";
import type { FastifyInstance } from "fastify";

/**
 * Bidirectional streams need HTTP/2: an HTTP/1.1 request body must end before
 * the response can be read, so a bidi call there can never work. Connect's
 * router answers such calls with a bare HTTP 505, which clients surface as
 * "[unknown] HTTP 505". This hook answers instead in the caller's own protocol
 * with Unimplemented and a message that says what to do.
 *
 * gRPC itself requires HTTP/2, so `application/grpc` over HTTP/1.1 keeps the
 * router's 505.
 */
export function registerHttp1BidiGuard(app: FastifyInstance, bidiPaths: ReadonlySet<string>): void {
  app.addHook("onRequest", async (req, reply) => {
    // Only the RPC itself: a CORS preflight (OPTIONS) must reach the CORS plugin.
    if (req.method !== "POST" || req.raw.httpVersionMajor !== 1) return;
    if (!bidiPaths.has(req.url.split("?")[0] ?? "")) return;
    const contentType = String(req.headers["content-type"] ?? "");
    const error = new ConnectError(
      `${req.url.slice(1)} is a bidirectional stream and needs HTTP/2 (gRPC, or Connect/gRPC-Web over h2); over HTTP/1.1 use Subscribe and Send`,
      Code.Unimplemented,
    );
    if (contentType.startsWith("application/connect+")) {
      // Connect streaming: HTTP 200 and an end-of-stream envelope carrying the error.
      const json = JSON.stringify({ error: { code: "unimplemented", message: error.rawMessage } });
      const payload = new TextEncoder().encode(json);
      const frame = new Uint8Array(5 + payload.length);
      frame[0] = 0b10;
      new DataView(frame.buffer).setUint32(1, payload.length);
      frame.set(payload, 5);
      return reply.code(200).header("content-type", contentType).send(Buffer.from(frame));
    }
    if (contentType.startsWith("application/grpc-web")) {
      // gRPC-Web: a trailers-only response, the status in the headers.
      return reply
        .code(200)
        .header("content-type", contentType)
        .header("grpc-status", String(error.code))
        .header("grpc-message", encodeURIComponent(error.rawMessage))
        .send();
    }
  });
}
