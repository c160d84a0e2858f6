import * as http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { SubscribeRequestSchema } from "../../../src/gen/chat/v1/chat_pb.ts";
import { envelope } from "./envelope.ts";

export interface RawH2Response {
  headers: http2.IncomingHttpHeaders;
  /** Empty for a trailers-only response (gRPC sends the status in the headers then). */
  trailers: http2.IncomingHttpHeaders;
  body: Buffer;
}

/** An h2c connection on which we send requests whose bodies we control byte by byte. */
export interface RawH2Session {
  /**
   * One gRPC-style POST (`te: trailers`, content-type application/grpc
   * unless given). Rejects on a stream or session error, and after `ms`.
   */
  post(
    path: string,
    body: Uint8Array,
    headers?: http2.OutgoingHttpHeaders,
    ms?: number,
  ): Promise<RawH2Response>;
  readonly session: http2.ClientHttp2Session;
  close(): void;
}

export function openRawH2(baseUrl: string, options: http2.ClientSessionOptions = {}): RawH2Session {
  const session = http2.connect(baseUrl, options);
  // Errors surface through the streams; an unhandled "error" would crash the run.
  session.on("error", () => {});
  return {
    session,
    post(path, body, headers = {}, ms = 5000) {
      return new Promise<RawH2Response>((resolve, reject) => {
        const stream = session.request({
          ":method": "POST",
          ":path": path,
          "content-type": "application/grpc",
          te: "trailers",
          ...headers,
        });
        const timer = setTimeout(() => {
          stream.close(http2.constants.NGHTTP2_CANCEL);
          reject(new Error(`no complete response to ${path} in ${ms} ms`));
        }, ms);
        const result: RawH2Response = { headers: {}, trailers: {}, body: Buffer.alloc(0) };
        const chunks: Buffer[] = [];
        stream.on("response", (h) => {
          result.headers = h;
        });
        stream.on("trailers", (t) => {
          result.trailers = t;
        });
        stream.on("data", (chunk: Buffer) => chunks.push(chunk));
        stream.on("error", (e) => {
          clearTimeout(timer);
          reject(e);
        });
        stream.on("close", () => {
          clearTimeout(timer);
          result.body = Buffer.concat(chunks);
          resolve(result);
        });
        stream.end(body);
      });
    },
    close() {
      session.destroy();
    },
  };
}

/** The gRPC status of a response: from the trailers, or the headers of a trailers-only one. */
export function grpcStatus(res: RawH2Response): { code: number; message: string } {
  const source = res.trailers["grpc-status"] !== undefined ? res.trailers : res.headers;
  return {
    code: Number(source["grpc-status"]),
    message: decodeURIComponent(String(source["grpc-message"] ?? "")),
  };
}

/** A Subscribe sent as raw gRPC, whose responses the test reads when it chooses (or never). */
export interface RawSubscribe {
  readonly stream: http2.ClientHttp2Stream;
  /** Empty until the trailers come. */
  readonly trailers: http2.IncomingHttpHeaders;
}

/**
 * Subscribes to `room` on a stream of `session` and sends nothing more: a
 * subscriber that does not read, held back only by HTTP/2 flow control.
 */
export function rawSubscribe(session: http2.ClientHttp2Session, room: string): RawSubscribe {
  const stream = session.request({
    ":method": "POST",
    ":path": "/chat.v1.ChatService/Subscribe",
    "content-type": "application/grpc",
    te: "trailers",
  });
  const sub = { stream, trailers: {} as http2.IncomingHttpHeaders };
  stream.on("trailers", (t) => {
    sub.trailers = t;
  });
  stream.on("error", () => {});
  stream.end(envelope(toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, { room }))));
  return sub;
}
