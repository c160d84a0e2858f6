/**
 * The client side of each protocol the server speaks, for the tests, the
 * benchmarks and the client tests alike: one name per protocol and HTTP
 * version, one factory, and a way to drop the connections it made.
 */
import * as http from "node:http";
import * as https from "node:https";
import type { SecureContextOptions } from "node:tls";
import type { Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";

/** A protocol and, where it has a choice, the HTTP version (gRPC is HTTP/2 only). */
export type TransportKind = "grpc" | "connect-h1" | "connect-h2" | "grpcweb-h1" | "grpcweb-h2";

export const allTransportKinds: readonly TransportKind[] = [
  "grpc",
  "connect-h1",
  "connect-h2",
  "grpcweb-h1",
  "grpcweb-h2",
];

/** A transport and a way to drop its connections (so that a server can close promptly). */
export interface TestTransport {
  transport: Transport;
  /** Destroys the transport's connections: its HTTP/2 session, or its HTTP/1.1 agent's sockets. */
  close(): void;
}

/** Default: none (plain h2c and HTTP/1.1). */
export interface TestTransportOptions {
  /** Trust for an https `baseUrl`, e.g. `{ ca }` for a self-signed test certificate. */
  tls?: SecureContextOptions;
}

/**
 * A connect-node transport of `kind` to `baseUrl`, binary format. HTTP/2:
 * one connection, every call multiplexed on it. HTTP/1.1: an agent of its own
 * with no socket limit, so each concurrent call has a connection.
 */
export function createTestTransport(
  baseUrl: string,
  kind: TransportKind,
  options: TestTransportOptions = {},
): TestTransport {
  if (kind === "connect-h1" || kind === "grpcweb-h1") {
    const agentOptions = { keepAlive: true, maxSockets: Number.POSITIVE_INFINITY, ...options.tls };
    const agent = baseUrl.startsWith("https:")
      ? new https.Agent(agentOptions)
      : new http.Agent(agentOptions);
    const h1 = { baseUrl, httpVersion: "1.1", nodeOptions: { agent } } as const;
    const transport =
      kind === "connect-h1" ? createConnectTransport(h1) : createGrpcWebTransport(h1);
    return { transport, close: () => agent.destroy() };
  }
  const sessionManager = new Http2SessionManager(baseUrl, undefined, options.tls);
  const h2 = { baseUrl, httpVersion: "2", sessionManager } as const;
  const transport =
    kind === "grpc"
      ? createGrpcTransport(h2)
      : kind === "connect-h2"
        ? createConnectTransport(h2)
        : createGrpcWebTransport(h2);
  return { transport, close: () => sessionManager.abort() };
}
