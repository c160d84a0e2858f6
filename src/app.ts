import { setMaxListeners } from "node:events";
import type { Http2SecureServer } from "node:http2";
import { Server as NetServer } from "node:net";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { fastifyConnectPlugin } from "@connectrpc/connect-fastify";
import fastify, { type FastifyInstance, LogController } from "fastify";
import { type AccessControl, createAccessControl } from "./auth/access-control.ts";
import type { AuthenticatorOptions } from "./auth/authenticator.ts";
import { type AppSettings, defaults } from "./config.ts";
import { type ChatRooms, createChatRooms } from "./core/chat-rooms.ts";
import { createEventBus, type EventBus } from "./core/event-bus.ts";
import type { MessageStore, RetentionPolicy } from "./core/message-store.ts";
import { createPresence, type Presence } from "./core/presence.ts";
import { chatStreamMethods } from "./fast-path/chat-streams.ts";
import { chatUnaryMethods } from "./fast-path/chat-unary.ts";
import { type FastStreams, registerFastStreams } from "./fast-path/register.ts";
import { ChatService, type Event, file_chat_v1_chat } from "./gen/chat/v1/chat_pb.ts";
import { ChatServer, file_grpc_chat } from "./gen/grpc/chat_pb.ts";
import { file_grpc_health_v1_health } from "./gen/grpc/health/v1/health_pb.ts";
import { file_grpc_reflection_v1_reflection } from "./gen/grpc/reflection/v1/reflection_pb.ts";
import { file_grpc_reflection_v1alpha_reflection } from "./gen/grpc/reflection/v1alpha/reflection_pb.ts";
import { registerDeadlineClamp } from "./http/clamp-deadlines.ts";
import { registerWriteCoalescing } from "./http/coalesce-writes.ts";
import { registerCors } from "./http/cors.ts";
import { registerHttp1BidiGuard } from "./http/http1-bidi-guard.ts";
import { registerStalledWriteRelease } from "./http/release-stalled-writes.ts";
import { registerWebClient } from "./http/web-client.ts";
import { registerConnectionMetrics } from "./ops/connection-metrics.ts";
import { registerOpsRoutes } from "./ops/http-routes.ts";
import { type ChatMetrics, createMetrics } from "./ops/metrics.ts";
import { createReadiness } from "./ops/readiness.ts";
import { createRpcMetricsInterceptor } from "./ops/rpc-metrics.ts";
import { withStoreMetrics } from "./ops/store-metrics.ts";
import type { RateLimitOptions } from "./rate-limit/rate-limits.ts";
import { guardSecureServer } from "./server/guard-secure-server.ts";
import { createOnePortServerFactory } from "./server/one-port-server.ts";
import { createChatService } from "./services/chat-service.ts";
import { createCallErrorMapper, createErrorMappingInterceptor } from "./services/error-mapping.ts";
import { createHealthService, type HealthService, ServingStatus } from "./services/health.ts";
import { type ChatLimits, defaultLimits } from "./services/limits.ts";
import { createOpenStreams, type OpenStreams } from "./services/open-streams.ts";
import { createReflectionService } from "./services/reflection.ts";
import { createSeedChatServer } from "./services/seed-chat-server.ts";
import { mapUnaryDecodeFailures } from "./services/unary-decode-failures.ts";
import { answerUnencodableErrors } from "./services/unicode-error-messages.ts";
import { createMemoryStore } from "./stores/memory-store.ts";

/**
 * What `buildApp` takes: the app's part of the configuration (`AppSettings`, declared with
 * each setting's meaning and default in src/config.ts), every field optional, and what no
 * flag sets: the backends, TLS key material, verification keys.
 */
export interface BuildOptions
  extends Partial<Omit<AppSettings, "logger" | "retention" | "limits" | "rateLimits">> {
  /** History backend; the app closes it on close. Default: an in-memory store. */
  store?: MessageStore;
  /**
   * Events between subscribers. Default: in this process. A bus shared by
   * several instances (see `createClusterEventBus`) makes them one chat; the
   * app closes it (when it has `close`) before the store.
   */
  bus?: EventBus<Event> & { close?(): Promise<void> };
  /** Who is in which room. Default: in this process. The app closes it first. */
  presence?: Presence;
  /**
   * The state of a shared backend's connection (Redis): health is
   * NOT_SERVING while it is down, SERVING again once it is back.
   */
  backendStatus?: { onStatus(listener: (up: boolean, problem?: string) => void): () => void };
  /** Retention of the default in-memory store. */
  retention?: Partial<RetentionPolicy>;
  limits?: Partial<ChatLimits>;
  /**
   * Time to receive a request body (HTTP/1.1: 408; HTTP/2: the stream is reset), except
   * for bidi calls, whose request is a stream. Default 30 s.
   */
  requestTimeoutMs?: number;
  /** PEM key and certificate: serve h2 + HTTP/1.1 over TLS (ALPN) instead of cleartext. */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** Fastify logger options; `false` silences it. Default: the configured default level. */
  logger?: boolean | { level: string };
  /** Built browser client served at `/`; `false` serves none. Default clients/web/dist/. */
  webRoot?: string | false;
  /**
   * JWT verification (HS256 secret and/or a JWKS). Default none: auth is off
   * and anyone may speak as anyone (see docs/security.md).
   */
  auth?: AuthenticatorOptions;
  /** Per-caller rate limits on sends, new streams and typing; see `defaultRateLimits`. */
  rateLimits?: Partial<RateLimitOptions>;
}

export interface ChatServerApp {
  app: FastifyInstance;
  rooms: ChatRooms;
  health: HealthService;
  /** Streaming calls whose handler is still running, by method. */
  streams: OpenStreams;
  /** The live streams served without Connect's pipeline (see src/fast-path/). */
  fastStreams: FastStreams;
  /** Prometheus metrics (served at `/metrics`); a path that delivers outside Connect feeds them too. */
  metrics: ChatMetrics;
  /** Authentication and rate limits, for paths that serve the chat outside Connect. */
  access: AccessControl;
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

/** No body deadline for calls whose request body is a stream (no client-streaming method is served). */
const isStreamingRequest = (path: string) => bidiPaths.has(path);

/**
 * Builds the chat server without listening (tests and the entry point call
 * `app.listen`). `app.close()` is the one shutdown path: the listener closes,
 * health turns NOT_SERVING, open streams end with Unavailable ("reconnect and resume"),
 * connections drain for up to `shutdownTimeoutMs`, then the store closes.
 */
export async function buildApp(options: BuildOptions = {}): Promise<ChatServerApp> {
  const limits: ChatLimits = { ...defaultLimits, ...options.limits };
  const seedRoom = options.seedRoom ?? defaults.seedRoom;
  const streams = createOpenStreams();
  const metrics = createMetrics({ streams });
  const plainStore = options.store ?? createMemoryStore({ retention: options.retention });
  const store = withStoreMetrics(plainStore, metrics);
  const bus: NonNullable<BuildOptions["bus"]> = options.bus ?? createEventBus<Event>();
  const presence = options.presence ?? createPresence({ bus });
  const rooms = createChatRooms({
    store,
    bus,
    presence,
    maxQueue: options.subscriberBuffer,
    heartbeatMs: options.heartbeatMs,
  });
  const health = createHealthService();
  const reflection = createReflectionService(servedFiles);
  const access = createAccessControl({ auth: options.auth, rateLimits: options.rateLimits });
  const shutdown = new AbortController();
  // Every open call links its signal to this one: thousands of listeners are
  // expected, not a leak.
  setMaxListeners(0, shutdown.signal);
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? defaults.shutdownTimeoutMs;
  const settings = {
    maxConcurrentStreams: options.maxStreamsPerConnection ?? defaults.maxStreamsPerConnection,
  };

  let fastStreams: FastStreams | undefined;
  // The two server kinds differ in their raw request types only; the Connect
  // plugin handles both, so the rest of the app sees one FastifyInstance.
  const common = { logger: options.logger ?? defaults.logger, logController: quietRequests() };
  const app = (options.tls
    ? fastify({
        ...common,
        http2: true,
        // Its idle timer (session.setTimeout) kept every closed session in memory until it
        // fired (Node 20); guardSecureServer's own idle timer replaces it.
        http2SessionTimeout: 0,
        https: {
          allowHTTP1: true,
          key: options.tls.key,
          cert: options.tls.cert,
          settings,
          // The TLS twin of the cleartext sniffing timeout (Node's default is 120 s).
          handshakeTimeout: options.sniffTimeoutMs ?? defaults.sniffTimeoutMs,
        },
      })
    : fastify({
        ...common,
        serverFactory: createOnePortServerFactory({
          sniffTimeoutMs: options.sniffTimeoutMs,
          requestTimeoutMs: options.requestTimeoutMs,
          forceCloseAfterMs: shutdownTimeoutMs,
          http2: {
            settings,
            isStreamingRequest,
            // Bound below, once the fast path exists: the factory runs first.
            takeStream: (headers) => fastStreams?.takeH2Stream(headers),
          },
          perIp: { maxConnectionsPerIp: options.maxConnectionsPerIp },
        }),
      })) as unknown as FastifyInstance;
  app.server.maxConnections = options.maxConnections ?? defaults.maxConnections;
  if (options.tls) {
    guardSecureServer(app.server as unknown as Http2SecureServer, {
      handshakeTimeoutMs: options.sniffTimeoutMs,
      requestTimeoutMs: options.requestTimeoutMs,
      isStreamingRequest,
      perIp: { maxConnectionsPerIp: options.maxConnectionsPerIp },
      forceCloseAfterMs: shutdownTimeoutMs,
    });
  }

  app.addHook("preClose", async () => {
    // Stop accepting first: a client that sees its stream end and reconnects
    // must be refused, not served by a process on its way out (Fastify closes
    // the listener only after this hook; seen racing on Bun). Fastify's own
    // close later finds it closed, waits for the drain and carries on.
    if (app.server.listening) NetServer.prototype.close.call(app.server);
    health.shutdown();
    shutdown.abort(
      new ConnectError("server is shutting down; reconnect and resume", Code.Unavailable),
    );
  });
  app.addHook("onClose", async () => {
    stopWatchingBackend();
    // Presence withdraws this instance's members through the bus's backend,
    // and the store's connection goes last.
    await presence.close();
    await bus.close?.();
    await store.close();
  });
  const stopWatchingBackend =
    options.backendStatus?.onStatus((up, problem) => {
      if (up) app.log.info("backend reachable again: serving");
      else app.log.warn({ problem }, "backend unreachable: not serving");
      health.setStatus("", up ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
    }) ?? (() => {});

  // First: CORS preflights must be answered before any other hook replies.
  await registerCors(app, options.corsOrigins);
  await registerWebClient(app, { root: options.webRoot });
  registerConnectionMetrics(app, metrics);
  registerOpsRoutes(app, {
    metrics,
    // The plain store: readiness probes are no store traffic worth measuring.
    readiness: createReadiness({
      health,
      store: plainStore,
      onStoreChange: (problem) =>
        problem === undefined
          ? app.log.info("store reachable again: ready")
          : app.log.warn({ problem }, "store unreachable: not ready"),
    }),
  });
  registerHttp1BidiGuard(app, bidiPaths);
  registerDeadlineClamp(app);
  const readMaxBytes = options.maxRequestBytes ?? defaults.maxRequestBytes;
  const onInternal = (e: ConnectError) => app.log.error({ err: e.cause ?? e }, "rpc failed");
  const onRejected = (e: ConnectError) =>
    app.log.debug({ reason: e.rawMessage }, "rpc rejected: undecodable request");
  // Before the hooks below, which are for Connect's handlers only.
  fastStreams = registerFastStreams(app, {
    rooms,
    methods: chatStreamMethods(seedRoom),
    unaryMethods: chatUnaryMethods(rooms, seedRoom, limits),
    streams,
    access,
    metrics,
    shutdownSignal: shutdown.signal,
    readMaxBytes,
    budgetBytes: options.subscriberBufferBytes ?? defaults.subscriberBufferBytes,
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
    contextValues: access.contextValues,
    interceptors: [
      // Outermost: it sees the codes clients see, and every rejection below.
      createRpcMetricsInterceptor(metrics),
      streams.interceptor,
      createErrorMappingInterceptor(onInternal, onRejected),
      ...access.interceptors,
    ],
    routes(router: ConnectRouter) {
      router.service(ChatServer, createSeedChatServer(rooms, seedRoom, limits));
      router.service(ChatService, createChatService(rooms, limits));
      health.register(router);
      reflection.register(router);
      mapUnaryDecodeFailures(router.handlers);
      answerUnencodableErrors(router.handlers);
    },
  });
  return { app, rooms, health, streams, fastStreams, access, metrics };
}
