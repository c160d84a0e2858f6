/** The client side of each protocol under test, with a way to drop its connections. */
import * as http from "node:http";
import type { Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";

/** gRPC over h2c, Connect over HTTP/1.1, gRPC-Web over HTTP/1.1. */
export type ProtocolKind = "grpc-h2c" | "connect-h1" | "grpcweb-h1";

export const protocolKinds: readonly ProtocolKind[] = ["grpc-h2c", "connect-h1", "grpcweb-h1"];

export interface BenchTransport {
  transport: Transport;
  /** Destroys the transport's connections (HTTP/2 session or HTTP/1.1 agent sockets). */
  close(): void;
}

/**
 * One transport = one HTTP/2 connection (every call multiplexed on it), or an
 * HTTP/1.1 agent with no socket limit (one connection per concurrent call).
 */
export function createBenchTransport(baseUrl: string, kind: ProtocolKind): BenchTransport {
  if (kind === "grpc-h2c") {
    const sessionManager = new Http2SessionManager(baseUrl);
    return {
      transport: createGrpcTransport({ baseUrl, sessionManager }),
      close: () => sessionManager.abort(),
    };
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  const options = { baseUrl, httpVersion: "1.1", nodeOptions: { agent } } as const;
  return {
    transport:
      kind === "connect-h1" ? createConnectTransport(options) : createGrpcWebTransport(options),
    close: () => agent.destroy(),
  };
}
