import { parseArgs } from "node:util";
import { choice, duration, int, maxTimerMs, origins, rate, text } from "./config/kinds.ts";
import {
  type AppSettingsOf,
  appSettingsOf,
  forProcess,
  listOptions,
  mapOptions,
  option,
  type SettingsOf,
} from "./config/option.ts";
import { renderHelp, renderMarkdown } from "./config/render.ts";
import { defaultHeartbeatMs, defaultMaxQueue } from "./core/chat-rooms.ts";
import { defaultRetention } from "./core/message-store.ts";
import { defaultRateLimits } from "./rate-limit/rate-limits.ts";
import { defaultMaxConnectionsPerIp } from "./server/ip-guard.ts";
import { defaultSniffTimeoutMs } from "./server/one-port-server.ts";
import { defaultLimits } from "./services/limits.ts";
import { defaultPrefix } from "./stores/redis/keys.ts";
import { defaultPresenceLeaseMs } from "./stores/redis/redis-presence.ts";
import { defaultDurability } from "./stores/sqlite/schema.ts";

/**
 * Every setting of the server, declared once: flag, environment variable, how it is read, its
 * default and its help. `--help`, docs/configuration.md (`npm run docs:config`), the config's
 * type and `BuildOptions` all come from here. A default that a component applies itself is
 * imported from that component, so that there is one. Groups (`retention`, `rateLimits`, ...)
 * have the shape of the component options they become.
 */
const options = {
  host: forProcess(
    option(text, {
      flag: "host",
      env: "HOST",
      default: "127.0.0.1",
      help: "address to listen on (0.0.0.0 or :: for every interface)",
    }),
  ),
  port: forProcess(
    option(int({ max: 65_535 }), {
      flag: "port",
      env: "PORT",
      default: 11912,
      help: "TCP port (0: any free port)",
    }),
  ),
  tlsCert: forProcess(
    option(text, {
      flag: "tls-cert",
      env: "TLS_CERT",
      help: "PEM certificate file; with --tls-key serves h2 and HTTP/1.1 over TLS (ALPN)",
    }),
  ),
  tlsKey: forProcess(
    option(text, { flag: "tls-key", env: "TLS_KEY", help: "PEM private key file" }),
  ),
  logger: {
    level: option(choice(["fatal", "error", "warn", "info", "debug", "trace", "silent"]), {
      flag: "log-level",
      env: "LOG_LEVEL",
      default: "info",
      help: "fatal, error, warn, info, debug, trace or silent; no line is logged per chat message",
    }),
  },
  seedRoom: option(text, {
    flag: "seed-room",
    env: "CHAT_SEED_ROOM",
    default: "lobby",
    help: "chat.v1 room that the seed's grpc.ChatServer reads and writes",
  }),
  store: forProcess(
    option(choice(["sqlite", "memory", "redis"]), {
      flag: "store",
      env: "CHAT_STORE",
      default: "sqlite",
      help: "history store: sqlite (durable, in --data-dir), memory (lost on restart) or redis (shared: every instance on one Redis is one chat)",
    }),
  ),
  redisUrl: forProcess(
    option(text, {
      flag: "redis-url",
      env: "CHAT_REDIS_URL",
      default: "redis://127.0.0.1:6379",
      help: "with --store redis: redis:// or rediss:// URL (password in it works); a Redis Cluster node, or several seed nodes separated by commas",
    }),
  ),
  redisPrefix: forProcess(
    option(text, {
      flag: "redis-prefix",
      env: "CHAT_REDIS_PREFIX",
      default: defaultPrefix,
      help: "with --store redis: prefix of every key and channel; instances with the same prefix share one chat",
    }),
  ),
  presenceLeaseMs: forProcess(
    option(duration({ max: maxTimerMs }), {
      flag: "presence-lease",
      env: "CHAT_PRESENCE_LEASE",
      default: defaultPresenceLeaseMs,
      help: "with --store redis: a crashed instance's members leave the member list this long after its last lease renewal at the latest",
    }),
  ),
  dataDir: forProcess(
    option(text, {
      flag: "data-dir",
      env: "CHAT_DATA_DIR",
      default: ".data",
      help: "directory of the SQLite database (chat.db), created if missing",
    }),
  ),
  durability: forProcess(
    option(choice(["full", "normal"]), {
      flag: "durability",
      env: "CHAT_DURABILITY",
      default: defaultDurability,
      help: "full: fsync before every acknowledgement (survives power loss); normal: survives a process crash",
    }),
  ),
  retention: {
    maxMessagesPerRoom: option(int(), {
      flag: "history-limit",
      env: "CHAT_HISTORY_LIMIT",
      default: defaultRetention.maxMessagesPerRoom,
      help: "messages retained per room (newest kept)",
    }),
    maxAgeMs: option(duration(), {
      flag: "history-max-age",
      env: "CHAT_HISTORY_MAX_AGE",
      default: defaultRetention.maxAgeMs,
      help: "drop messages older than this, e.g. 90d, 12h, 30m (0: keep regardless of age)",
    }),
  },
  heartbeatMs: option(duration({ max: maxTimerMs }), {
    flag: "heartbeat-interval",
    env: "CHAT_HEARTBEAT_INTERVAL",
    default: defaultHeartbeatMs,
    help: "heartbeat event on a stream quiet for this long, e.g. 15s (0: none)",
  }),
  // Connect refuses 0 and more than 4 GiB.
  maxRequestBytes: option(int({ min: 1, max: 2 ** 32 - 1 }), {
    flag: "max-request-bytes",
    env: "CHAT_MAX_REQUEST_BYTES",
    default: 65_536,
    help: "largest request message accepted (ResourceExhausted above)",
  }),
  limits: {
    maxTextBytes: option(int(), {
      flag: "max-text-bytes",
      env: "CHAT_MAX_TEXT_BYTES",
      default: defaultLimits.maxTextBytes,
      help: "largest chat message text in UTF-8 bytes (InvalidArgument above)",
    }),
  },
  subscriberBuffer: option(int(), {
    flag: "subscriber-buffer",
    env: "CHAT_SUBSCRIBER_BUFFER",
    default: defaultMaxQueue,
    help: "live events held per stream while it catches up from history",
  }),
  // Cut off with ResourceExhausted and the resume position. 1 MiB is mostly references to
  // frames that every subscriber shares, not copies.
  subscriberBufferBytes: option(int(), {
    flag: "subscriber-buffer-bytes",
    env: "CHAT_SUBSCRIBER_BUFFER_BYTES",
    default: 1024 * 1024,
    help: "bytes waiting for one streaming client before it is cut off as too slow",
  }),
  maxConnections: option(int(), {
    flag: "max-connections",
    env: "CHAT_MAX_CONNECTIONS",
    default: 10_000,
    help: "open TCP connections accepted at once; more are closed at accept",
  }),
  maxConnectionsPerIp: option(int(), {
    flag: "max-connections-per-ip",
    env: "CHAT_MAX_CONNECTIONS_PER_IP",
    default: defaultMaxConnectionsPerIp,
    help: "open TCP connections one IP address may hold; more are closed at accept (0: no limit)",
  }),
  // Node's default is unlimited: one client could open millions.
  maxStreamsPerConnection: option(int({ max: 2 ** 32 - 1 }), {
    flag: "max-streams-per-connection",
    env: "CHAT_MAX_STREAMS_PER_CONNECTION",
    default: 1000,
    help: "concurrent HTTP/2 streams one connection may open (SETTINGS_MAX_CONCURRENT_STREAMS)",
  }),
  sniffTimeoutMs: option(int({ max: maxTimerMs }), {
    flag: "sniff-timeout-ms",
    env: "CHAT_SNIFF_TIMEOUT_MS",
    default: defaultSniffTimeoutMs,
    help: "close connections that send no TLS handshake, request head or preface within this time; also bounds the HTTP/2 handshake and later request heads, and paces keepalive PINGs",
  }),
  shutdownTimeoutMs: option(int({ max: maxTimerMs }), {
    flag: "shutdown-timeout-ms",
    env: "CHAT_SHUTDOWN_TIMEOUT_MS",
    default: 5000,
    help: "on SIGTERM/SIGINT, time given to open calls before connections are cut",
  }),
  corsOrigins: option(origins, {
    flag: "cors-origin",
    env: "CHAT_CORS_ORIGINS",
    help: "comma-separated origins (https://app.example.com) whose pages may call the RPCs (CORS); none by default",
  }),
  jwtSecretFile: forProcess(
    option(text, {
      flag: "jwt-secret-file",
      env: "CHAT_JWT_SECRET_FILE",
      help: "file holding the HS256 secret (32+ bytes): turns auth on, callers need a Bearer JWT (npm run token mints one)",
    }),
  ),
  jwksFile: forProcess(
    option(text, {
      flag: "jwks-file",
      env: "CHAT_JWKS_FILE",
      help: "JWKS JSON file of public keys for RS/PS/ES-signed JWTs: turns auth on",
    }),
  ),
  jwtIssuer: forProcess(
    option(text, {
      flag: "jwt-issuer",
      env: "CHAT_JWT_ISSUER",
      help: "with auth on, require this iss claim",
    }),
  ),
  jwtAudience: forProcess(
    option(text, {
      flag: "jwt-audience",
      env: "CHAT_JWT_AUDIENCE",
      help: "with auth on, require this aud claim",
    }),
  ),
  rateLimits: {
    sends: option(rate, {
      flag: "rate-limit-sends",
      env: "CHAT_RATE_LIMIT_SENDS",
      default: defaultRateLimits.sends,
      help: "messages one caller (token subject, else IP) may send: COUNT/DURATION, a burst of COUNT refilled over DURATION (0: no limit)",
    }),
    streams: option(rate, {
      flag: "rate-limit-streams",
      env: "CHAT_RATE_LIMIT_STREAMS",
      default: defaultRateLimits.streams,
      help: "streams one caller may open (Subscribe, Chat, ChatStream), as above",
    }),
    typing: option(rate, {
      flag: "rate-limit-typing",
      env: "CHAT_RATE_LIMIT_TYPING",
      default: defaultRateLimits.typing,
      help: "typing notices one caller may send, as above",
    }),
  },
};

/** Everything the server can be told at startup. */
export type ServerConfig = SettingsOf<typeof options>;

/** The part of the config that `buildApp` takes as it is (see `BuildOptions`). */
export type AppSettings = AppSettingsOf<typeof options>;

/** What each setting is when it is not given: the one place defaults are written (or imported). */
export const defaults: ServerConfig = mapOptions(options, (o) => o.default);

/** `config` without the entry point's own settings: pass it to `buildApp`. */
export function appSettings(config: ServerConfig): AppSettings {
  return appSettingsOf(options, config);
}

export type ParseResult = { help: string } | { config: ServerConfig };

/**
 * Reads flags, then environment variables, then defaults, in that order of
 * precedence. Throws an Error with a one-line message on bad input, before
 * anything is built: the entry point exits 2 with it.
 */
export function parseConfig(argv: string[], env: Record<string, string | undefined>): ParseResult {
  const { values }: { values: Partial<Record<string, string | boolean>> } = parseArgs({
    args: argv,
    options: {
      help: { type: "boolean", short: "h" },
      ...Object.fromEntries(listOptions(options).map((o) => [o.flag, { type: "string" as const }])),
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help === true) return { help: helpText() };
  const config = mapOptions(options, (o) => {
    const flag = values[o.flag];
    const raw = typeof flag === "string" ? flag : env[o.env];
    return raw === undefined || raw === "" ? o.default : o.parse(raw);
  });
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    throw new Error("--tls-cert and --tls-key must be given together");
  }
  return { config };
}

export function helpText(): string {
  return renderHelp(listOptions(options));
}

/** docs/configuration.md as `npm run docs:config` writes it. */
export function configurationDoc(): string {
  return renderMarkdown(listOptions(options));
}

export const configurationDocFile = new URL("../docs/configuration.md", import.meta.url);
