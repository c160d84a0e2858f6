/**
 * The page talks to the server that served it (same origin, no CORS), with
 * Connect by default or gRPC-Web when chosen: both work over the HTTP/1.1 a
 * browser's fetch uses.
 */
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { ChatService } from "../../../src/gen/chat/v1/chat_pb.ts";
import type { Protocol } from "./settings.ts";

export function createChatClient(protocol: Protocol, baseUrl: string): Client<typeof ChatService> {
  const transport =
    protocol === "grpc-web"
      ? createGrpcWebTransport({ baseUrl })
      : createConnectTransport({ baseUrl });
  return createClient(ChatService, transport);
}
