import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { eventually } from "../../support/server.ts";

const protoDir = fileURLToPath(new URL("../../../proto", import.meta.url));

/**
 * The services as @grpc/grpc-js sees them, from the .proto sources: an
 * implementation that shares no code with ours. proto-loader (protobufjs)
 * bundles google/protobuf/timestamp.proto, so only our proto dir is needed,
 * offline. Field names stay snake_case as in the files; 64-bit integers and
 * enums come back as strings; oneofs get a virtual field naming the case.
 */
const definition = protoLoader.loadSync(
  ["chat/v1/chat.proto", "grpc/chat.proto", "grpc/health/v1/health.proto"],
  { includeDirs: [protoDir], keepCase: true, longs: String, enums: String, oneofs: true },
);
const loaded = grpc.loadPackageDefinition(definition) as unknown as {
  chat: { v1: { ChatService: grpc.ServiceClientConstructor } };
  grpc: {
    ChatServer: grpc.ServiceClientConstructor;
    health: { v1: { Health: grpc.ServiceClientConstructor } };
  };
};

/** Plain JSON-like objects, as grpc-js hands them out. */
// biome-ignore lint/suspicious/noExplicitAny: proto-loader messages are untyped.
export type Msg = Record<string, any>;

/** A loaded service client: method names as in the .proto (Send, Subscribe, ...). */
// biome-ignore lint/suspicious/noExplicitAny: proto-loader clients are untyped.
export type GrpcJsClient = grpc.Client & Record<string, any>;

export interface GrpcJsClients {
  chat: GrpcJsClient;
  seed: GrpcJsClient;
  health: GrpcJsClient;
  close(): void;
}

/** Clients for all three services over one insecure (h2c) channel each. */
export function createGrpcJsClients(port: number): GrpcJsClients {
  const address = `127.0.0.1:${port}`;
  const credentials = grpc.credentials.createInsecure();
  const make = (ctor: grpc.ServiceClientConstructor) =>
    new ctor(address, credentials) as GrpcJsClient;
  const clients = {
    chat: make(loaded.chat.v1.ChatService),
    seed: make(loaded.grpc.ChatServer),
    health: make(loaded.grpc.health.v1.Health),
  };
  return {
    ...clients,
    close() {
      for (const c of Object.values(clients)) c.close();
    },
  };
}

/** Calls a unary method and resolves with its response. */
export function unary(
  client: GrpcJsClient,
  method: string,
  request: Msg,
  options: grpc.CallOptions = { deadline: Date.now() + 5000 },
): Promise<Msg> {
  return new Promise((resolve, reject) => {
    client[method](request, options, (err: grpc.ServiceError | null, res: Msg) =>
      err ? reject(err) : resolve(res),
    );
  });
}

export { grpc };

/** A server-streaming or bidi call whose responses are being collected. */
export interface StreamLog {
  readonly messages: Msg[];
  /** Resolves with the error the call ended with, or null when it ended OK. */
  readonly ended: Promise<grpc.ServiceError | null>;
  waitFor(count: number, ms?: number): Promise<Msg[]>;
}

/** Collects the responses of `call` from now on. */
export function collectStream(
  call: grpc.ClientReadableStream<Msg> | grpc.ClientDuplexStream<Msg, Msg>,
): StreamLog {
  const messages: Msg[] = [];
  let finished = false;
  call.on("data", (m: Msg) => messages.push(m));
  const ended = new Promise<grpc.ServiceError | null>((resolve) => {
    call.on("error", (e: grpc.ServiceError) => resolve(e));
    call.on("status", (s: grpc.StatusObject) => {
      if (s.code === grpc.status.OK) resolve(null);
    });
  }).finally(() => {
    finished = true;
  });
  return {
    messages,
    ended,
    async waitFor(count, ms = 5000) {
      const what = `${count} messages (got ${JSON.stringify(messages)})`;
      await eventually(() => messages.length >= count || finished, ms, what);
      if (messages.length < count) throw new Error(`stream ended before ${what}`);
      return messages;
    },
  };
}
