import { readFileSync } from "node:fs";
import { rootCertificates } from "node:tls";
import { type Client, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import { ChatService } from "../../src/gen/chat/v1/chat_pb.ts";
import { type ConnectionOptions, UsageError } from "./args.ts";

/** A ChatService client and a way to drop its connection when leaving. */
export interface ChatConnection {
  client: Client<typeof ChatService>;
  /** Closes the HTTP/2 session, if any, so the process can exit at once. */
  close(): void;
}

/** TLS settings for Node's http2.connect and https.request alike. */
interface TlsOptions {
  ca?: string[];
  rejectUnauthorized: boolean;
}

/**
 * Builds the transport the flags ask for. Every protocol uses binary
 * protobuf; HTTP/2 goes through one session manager so that `close()` ends
 * the connection (an open h2 session would otherwise keep the process alive).
 */
export function createChatConnection(
  options: ConnectionOptions,
  warn: (line: string) => void,
): ChatConnection {
  const tls = tlsOptions(options, warn);
  const baseUrl = options.url;
  const interceptors = options.token === undefined ? [] : [bearer(options.token)];
  if (options.http1) {
    const common = { baseUrl, httpVersion: "1.1", nodeOptions: tls, interceptors } as const;
    const transport =
      options.protocol === "connect"
        ? createConnectTransport(common)
        : createGrpcWebTransport(common);
    return { client: createClient(ChatService, transport), close() {} };
  }
  const sessionManager = new Http2SessionManager(baseUrl, {}, tls);
  const common = { baseUrl, httpVersion: "2", sessionManager, interceptors } as const;
  let transport: Transport;
  if (options.protocol === "grpc") transport = createGrpcTransport(common);
  else if (options.protocol === "connect") transport = createConnectTransport(common);
  else transport = createGrpcWebTransport(common);
  return { client: createClient(ChatService, transport), close: () => sessionManager.abort() };
}

/** Sends `authorization: Bearer <token>` with every call (gRPC metadata or HTTP header alike). */
function bearer(token: string): Interceptor {
  return (next) => (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
}

function tlsOptions(
  options: ConnectionOptions,
  warn: (line: string) => void,
): TlsOptions | undefined {
  const https = new URL(options.url).protocol === "https:";
  if (!https) {
    if (options.ca !== undefined || options.insecure) {
      warn("warning: --ca and --insecure only apply to https:// URLs");
    }
    return undefined;
  }
  if (options.insecure) {
    warn(
      "warning: --insecure: the server's certificate is not verified; anyone on the path can read and change this chat",
    );
  }
  return {
    ...(options.ca === undefined ? {} : { ca: [...rootCertificates, readPem(options.ca)] }),
    rejectUnauthorized: !options.insecure,
  };
}

/** Node's `ca` replaces the system roots; the caller extends them, so read the file only. */
function readPem(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError(
      `--ca: cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}
