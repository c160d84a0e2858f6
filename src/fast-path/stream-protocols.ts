import type { IncomingHttpHeaders } from "node:http";
import type { ConnectError } from "@connectrpc/connect";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import {
  createEndStreamSerialization,
  endStreamFlag,
  parseTimeout as parseConnectTimeout,
  parseContentType as parseConnectType,
} from "@connectrpc/connect/protocol-connect";
import {
  parseTimeout as parseGrpcTimeout,
  parseContentType as parseGrpcType,
  setTrailerStatus,
} from "@connectrpc/connect/protocol-grpc";
import {
  parseContentType as parseGrpcWebType,
  trailerFlag,
  trailerSerialize,
} from "@connectrpc/connect/protocol-grpc-web";

/**
 * How one of the three protocols frames a server stream, for the fast path.
 * Everything here comes from Connect-ES's own protocol packages (content
 * types, timeouts, trailer and end-stream serialization), so the bytes on the
 * wire are the ones Connect's handlers produce.
 */
export interface StreamProtocol {
  name: "grpc" | "grpc-web" | "connect";
  /** Protobuf binary; false: Connect streaming with JSON. */
  binary: boolean;
  /** The response's content type (Connect answers `application/grpc` with `application/grpc+proto`). */
  contentType: string;
  /** Flag of a request envelope that ends the stream (none for gRPC). */
  requestEndFlag: number | undefined;
  /** The client's deadline, or the error its malformed value is. */
  timeout(headers: IncomingHttpHeaders): { timeoutMs?: number; error?: ConnectError };
  /**
   * How the stream ends: a last frame in the body (gRPC-Web trailers,
   * Connect's end-stream message), or HTTP trailers (gRPC), which go into
   * the headers when nothing was sent before (a "trailers-only" response).
   */
  end(error: ConnectError | undefined): { frame?: Uint8Array; trailers?: Record<string, string> };
}

const endStream = createEndStreamSerialization(undefined);

function grpcTrailers(error: ConnectError | undefined): Headers {
  return setTrailerStatus(new Headers(), error);
}

function header(headers: IncomingHttpHeaders, name: string): string | null {
  const value = headers[name];
  return typeof value === "string" ? value : null;
}

/** A content coding other than identity: left to Connect, which decompresses. */
function compressed(value: string | undefined | string[]): boolean {
  return value !== undefined && value !== "identity";
}

/** Connect's handlers accept any deadline up to this (the clamp hook bounds it first). */
const maxTimeoutMs = Number.MAX_SAFE_INTEGER;

const grpcTimeout = (h: IncomingHttpHeaders) =>
  parseGrpcTimeout(header(h, "grpc-timeout"), maxTimeoutMs);

const grpc: StreamProtocol = {
  name: "grpc",
  binary: true,
  contentType: "application/grpc+proto",
  requestEndFlag: undefined,
  timeout: grpcTimeout,
  end: (error) => {
    const trailers: Record<string, string> = {};
    grpcTrailers(error).forEach((value, key) => {
      trailers[key] = value;
    });
    return { trailers };
  },
};

const grpcWeb: StreamProtocol = {
  name: "grpc-web",
  binary: true,
  contentType: "application/grpc-web+proto",
  requestEndFlag: trailerFlag,
  timeout: grpcTimeout,
  end: (error) => ({ frame: encodeEnvelope(trailerFlag, trailerSerialize(grpcTrailers(error))) }),
};

function connect(binary: boolean): StreamProtocol {
  return {
    name: "connect",
    binary,
    contentType: binary ? "application/connect+proto" : "application/connect+json",
    requestEndFlag: endStreamFlag,
    timeout: (h) => parseConnectTimeout(header(h, "connect-timeout-ms"), maxTimeoutMs),
    end: (error) => ({
      frame: encodeEnvelope(endStreamFlag, endStream.serialize({ metadata: new Headers(), error })),
    }),
  };
}
const connectProto = connect(true);
const connectJson = connect(false);

/**
 * The protocol of a request the fast path serves, or undefined to leave it
 * to Connect's handlers: unknown or text content types, compressed request
 * bodies, and gRPC over HTTP/1.1.
 */
export function detectStreamProtocol(
  headers: IncomingHttpHeaders,
  httpVersion: string,
): StreamProtocol | undefined {
  const type = headers["content-type"];
  if (type === undefined) return undefined;
  if (type.startsWith("application/grpc-web")) {
    const parsed = parseGrpcWebType(type);
    if (parsed === undefined || parsed.text || !parsed.binary) return undefined;
    return compressed(headers["grpc-encoding"]) ? undefined : grpcWeb;
  }
  if (type.startsWith("application/grpc")) {
    const parsed = parseGrpcType(type);
    if (parsed === undefined || !parsed.binary || !httpVersion.startsWith("2")) return undefined;
    return compressed(headers["grpc-encoding"]) ? undefined : grpc;
  }
  if (type.startsWith("application/connect+")) {
    const parsed = parseConnectType(type);
    if (parsed === undefined || !parsed.stream) return undefined;
    if (compressed(headers["connect-content-encoding"])) return undefined;
    return parsed.binary ? connectProto : connectJson;
  }
  return undefined;
}
