import type { Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";

/** A protocol and, where it has a choice, the HTTP version. */
export type TransportKind = "grpc" | "connect-h1" | "connect-h2" | "grpcweb-h1" | "grpcweb-h2";

export const allTransportKinds: readonly TransportKind[] = [
  "grpc",
  "connect-h1",
  "connect-h2",
  "grpcweb-h1",
  "grpcweb-h2",
];

/** A transport and a way to drop its connection (so the server can close promptly). */
export interface TestTransport {
  transport: Transport;
  close(): void;
}

/** A connect-node transport of `kind` to `baseUrl`, binary format. */
export function createTestTransport(baseUrl: string, kind: TransportKind): TestTransport {
  if (kind === "connect-h1") {
    return { transport: createConnectTransport({ baseUrl, httpVersion: "1.1" }), close() {} };
  }
  if (kind === "grpcweb-h1") {
    return { transport: createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }), close() {} };
  }
  const sessionManager = new Http2SessionManager(baseUrl);
  const options = { baseUrl, httpVersion: "2", sessionManager } as const;
  const transport =
    kind === "grpc"
      ? createGrpcTransport(options)
      : kind === "connect-h2"
        ? createConnectTransport(options)
        : createGrpcWebTransport(options);
  return { transport, close: () => sessionManager.abort() };
}
