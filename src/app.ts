import { setMaxListeners } from "node:events";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { fastifyConnectPlugin } from "@connectrpc/connect-fastify";
import fastify, { type FastifyInstance, LogController } from "fastify";
import { type ChatRooms, createChatRooms } from "./core/chat-rooms.ts";
import { createEventBus } from "./core/event-bus.ts";
import { createMemoryStore } from "./core/memory-store.ts";
import type { MessageStore, RetentionPolicy } from "./core/message-store.ts";
import { chatStreamMethods } from "./fast-stream/chat-streams.ts";
import { type FastStreams, registerFastStreams } from "./fast-stream/register.ts";
import { ChatService, type Event, file_chat_v1_chat } from "./gen/chat/v1/chat_pb.ts";
import { ChatServer, file_grpc_chat } from "./gen/grpc/chat_pb.ts";
import { file_grpc_health_v1_health } from "./gen/grpc/health/v1/health_pb.ts";
import { file_grpc_reflection_v1_reflection } from "./gen/grpc/reflection/v1/reflection_pb.ts";
import { file_grpc_reflection_v1alpha_reflection } from "./gen/grpc/reflection/v1alpha/reflection_pb.ts";
import { registerDeadlineClamp } from "./http/clamp-deadlines.ts";
import { registerWriteCoalescing } from "./http/coalesce-writes.ts";
import { registerStalledWriteRelease } from "./http/release-stalled-writes.ts";
import { registerWebClient } from "./http/web-client.ts";
import { createOnePortServerFactory } from "./node/one-port-server.ts";
import { createChatService } from "./services/chat-service.ts";
import { createCallErrorMapper, createErrorMappingInterceptor } from "./services/error-mapping.ts";
import { createHealthService, type HealthService } from "./services/health.ts";
import { registerHttp1BidiGuard } from "./services/http1-bidi-guard.ts";
import { type ChatLimits, defaultLimits } from "./services/limits.ts";
import { createOpenStreams, type OpenStreams } from "./services/open-streams.ts";
import { createReflectionService } from "./services/reflection.ts";
import { createSeedChatServer } from "./services/seed-chat-server.ts";
import { mapUnaryDecodeFailures } from "./services/unary-decode-failures.ts";

export interface BuildOptions {
  /** Room that the seed's ChatServer reads and writes. Default "lobby". */
  seedRoom?: string;
  /** History backend; the app closes it on close. Default: an in-memory store. */
  store?: MessageStore;
  /** Retention of the default in-memory store. */
  retention?: Partial<RetentionPolicy>;
  /** Heartbeat on a live stream quiet for this long; 0 disables. Default 15 s. */
  heartbeatMs?: number;
  limits?: Partial<ChatLimits>;
  /** Largest request message in bytes (ResourceExhausted above). Default 64 KiB. */
  maxRequestBytes?: number;
  /** Live events held per subscriber while it catches up from the store. Default 1024. */
  subscriberBuffer?: number;
  /**
   * Bytes that may wait for one streaming client (Subscribe, ChatStream)
   * before it is cut off as too slow (ResourceExhausted, with its resume
   * position). Default 1 MiB: mostly references to frames every subscriber
   * shares, not copies.
   */
  subscriberBufferBytes?: number;
  /** Close connections that complete no TLS handshake or send no protocol preface in this time. Default 10 s. */
  sniffTimeoutMs?: number;
  /** Open TCP connections accepted at once; more are closed at accept. Default 10,000. */
  maxConnections?: number;
  /**
   * Concurrent HTTP/2 streams per connection, advertised in SETTINGS (Node's
   * default is unlimited: one client could open millions). Default 1000.
   */
  maxStreamsPerConnection?: number;
  /** Grace for open calls on close before connections are cut. Default 5 s. */
  shutdownTimeoutMs?: number;
  /** PEM key and certificate: serve h2 + HTTP/1.1 over TLS (ALPN) instead of cleartext. */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** Fastify logger options; `false` silences it. Default: info level. */
  logger?: boolean | { level: string };
  /** Built browser client served at `/`; `false` serves none. Default clients/web/dist/. */
  webRoot?: string | false;
  /** Origins whose pages may call the RPCs (CORS). Default none: no CORS headers. */
  corsOrigins?: string[];
}

export interface ChatServerApp {
  app: FastifyInstance;
  rooms: ChatRooms;
  health: HealthService;
  /** Streaming calls whose handler is still running, by method. */
  streams: OpenStreams;
  /** The live streams served without Connect's pipeline (see src/fast-stream/). */
  fastStreams: FastStreams;
}

/**
 * No info line per request: every chat message is a request, and a busy room
 * would flood the log. Failed RPCs are still logged by the error interceptor.
 */
function quietRequests(): LogController {
  return new LogController({ disableRequestLogging: true });
}

/** Services listed by reflection; each is served below. */
const servedFiles = [file_grpc_chat, file_chat_v1_chat, file_grpc_health_v1_health];

/** URL paths of every bidi method served, for the HTTP/1.1 guard. */
const bidiPaths = new Set(
  [...servedFiles, file_grpc_reflection_v1_reflection, file_grpc_reflection_v1alpha_reflection]
    .flatMap((file) => file.services)
    .flatMap((service) =>
      service.methods
        .filter((method) => method.methodKind === "bidi_streaming")
        .map((method) => `/${service.typeName}/${method.name}`),
    ),
);

/**
 * Builds the chat server without listening (tests and the entry point call
 * `app.listen`). `app.close()` is the one shutdown path: health turns
 * NOT_SERVING, open streams end with Unavailable ("reconnect and resume"),
 * connections drain for up to `shutdownTimeoutMs`, then the store closes.
 */
export async function buildApp(options: BuildOptions = {}): Promise<ChatServerApp> {
  const limits: ChatLimits = { ...defaultLimits, ...options.limits };
  const store = options.store ?? createMemoryStore({ retention: options.retention });
  const rooms = createChatRooms({
    store,
    bus: createEventBus<Event>(),
    maxQueue: options.subscriberBuffer,
    heartbeatMs: options.heartbeatMs,
  });
  const health = createHealthService();
  const streams = createOpenStreams();
  const reflection = createReflectionService(servedFiles);
  const shutdown = new AbortController();
  // Every open call links its signal to this one: thousands of listeners are
  // expected, not a leak.
  setMaxListeners(0, shutdown.signal);
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 5000;
  const settings = { maxConcurrentStreams: options.maxStreamsPerConnection ?? 1000 };

  // The two server kinds differ in their raw request types only; the Connect
  // plugin handles both, so the rest of the app sees one FastifyInstance.
  const common = { logger: options.logger ?? true, logController: quietRequests() };
  const app = (options.tls
    ? fastify({
        ...common,
        http2: true,
        https: {
          allowHTTP1: true,
          key: options.tls.key,
          cert: options.tls.cert,
          settings,
          // The TLS twin of the cleartext sniffing timeout (Node's default is 120 s).
          handshakeTimeout: options.sniffTimeoutMs ?? 10_000,
        },
      })
    : fastify({
        ...common,
        serverFactory: createOnePortServerFactory({
          sniffTimeoutMs: options.sniffTimeoutMs,
          forceCloseAfterMs: shutdownTimeoutMs,
          http2: { settings },
        }),
      })) as unknown as FastifyInstance;
  app.server.maxConnections = options.maxConnections ?? 10_000;

  app.addHook("preClose", async () => {
    health.shutdown();
    shutdown.abort(
      new ConnectError("server is shutting down; reconnect and resume", Code.Unavailable),
    );
  });
  app.addHook("onClose", async () => {
    await store.close();
  });

  // First: CORS preflights must be answered before any other hook replies.
  await registerWebClient(app, { root: options.webRoot, corsOrigins: options.corsOrigins });
  registerHttp1BidiGuard(app, bidiPaths);
  registerDeadlineClamp(app);
  const readMaxBytes = options.maxRequestBytes ?? 65_536;
  const onInternal = (e: ConnectError) => app.log.error({ err: e.cause ?? e }, "rpc failed");
  const onRejected = (e: ConnectError) =>
    app.log.debug({ reason: e.rawMessage }, "rpc rejected: undecodable request");
  // Before the hooks below, which are for Connect's handlers only.
  const fastStreams = registerFastStreams(app, {
    rooms,
    methods: chatStreamMethods(options.seedRoom ?? "lobby"),
    streams,
    shutdownSignal: shutdown.signal,
    readMaxBytes,
    budgetBytes: options.subscriberBufferBytes ?? 1024 * 1024,
    mapError: createCallErrorMapper(onInternal, onRejected),
  });
  registerStalledWriteRelease(app);
  registerWriteCoalescing(app);
  await app.register(fastifyConnectPlugin, {
    readMaxBytes,
    // Compressing each streamed event costs a gzip per subscriber per message
    // and slowed prompt readers until they were cut off as slow (one async
    // gzip per event-loop turn). Events stay uncompressed; large unary
    // responses (history pages) are still compressed when the client asks.
    compressMinBytes: 16 * 1024,
    shutdownSignal: shutdown.signal,
    interceptors: [streams.interceptor, createErrorMappingInterceptor(onInternal, onRejected)],
    routes(router: ConnectRouter) {
      router.service(ChatServer, createSeedChatServer(rooms, options.seedRoom ?? "lobby", limits));
      router.service(ChatService, createChatService(rooms, limits));
      health.register(router);
      reflection.register(router);
      mapUnaryDecodeFailures(router.handlers);
    },
  });
  return { app, rooms, health, streams, fastStreams };
}
