import { parseArgs } from "node:util";
import { defaultRateLimits } from "./rate-limit/rate-limits.ts";
import type { Rate } from "./rate-limit/token-bucket.ts";

/** Everything the server can be told at startup. */
export interface ServerConfig {
  host: string;
  port: number;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  logLevel: string;
  seedRoom: string;
  store: "sqlite" | "memory" | "redis";
  dataDir: string;
  redisUrl: string;
  redisPrefix: string;
  presenceLeaseMs: number;
  durability: "full" | "normal";
  historyLimit: number;
  historyMaxAgeMs: number;
  heartbeatMs: number;
  maxRequestBytes: number;
  maxTextBytes: number;
  subscriberBuffer: number;
  subscriberBufferBytes: number;
  sniffTimeoutMs: number;
  shutdownTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerIp: number;
  maxStreamsPerConnection: number;
  /** Origins allowed to call cross-origin (CORS); undefined: none. */
  corsOrigins: string[] | undefined;
  /** File holding the HS256 secret; with --jwks-file or alone, turns auth on. */
  jwtSecretFile: string | undefined;
  /** JWKS JSON file of public keys (RS*, PS*, ES*); turns auth on. */
  jwksFile: string | undefined;
  jwtIssuer: string | undefined;
  jwtAudience: string | undefined;
  rateLimitSends: Rate;
  rateLimitStreams: Rate;
  rateLimitTyping: Rate;
}

interface OptionSpec {
  key: keyof ServerConfig;
  flag: string;
  env: string;
  kind: "string" | "int" | "path" | "duration" | "origins" | "rate";
  /** Allowed values of a "string" option. */
  choices?: string[];
  default: string | number | undefined;
  help: string;
}

/** One table drives parsing, environment variables and `--help`. */
const options: OptionSpec[] = [
  {
    key: "host",
    flag: "host",
    env: "HOST",
    kind: "string",
    default: "127.0.0.1",
    help: "address to listen on (0.0.0.0 or :: for every interface)",
  },
  {
    key: "port",
    flag: "port",
    env: "PORT",
    kind: "int",
    default: 11912,
    help: "TCP port (0: any free port)",
  },
  {
    key: "tlsCert",
    flag: "tls-cert",
    env: "TLS_CERT",
    kind: "path",
    default: undefined,
    help: "PEM certificate file; with --tls-key serves h2 and HTTP/1.1 over TLS (ALPN)",
  },
  {
    key: "tlsKey",
    flag: "tls-key",
    env: "TLS_KEY",
    kind: "path",
    default: undefined,
    help: "PEM private key file",
  },
  {
    key: "logLevel",
    flag: "log-level",
    env: "LOG_LEVEL",
    kind: "string",
    default: "info",
    help: "fatal, error, warn, info, debug, trace or silent",
  },
  {
    key: "seedRoom",
    flag: "seed-room",
    env: "CHAT_SEED_ROOM",
    kind: "string",
    default: "lobby",
    help: "chat.v1 room that the seed's grpc.ChatServer reads and writes",
  },
  {
    key: "store",
    flag: "store",
    env: "CHAT_STORE",
    kind: "string",
    choices: ["sqlite", "memory", "redis"],
    default: "sqlite",
    help: "history store: sqlite (durable, in --data-dir), memory (lost on restart) or redis (shared: every instance on one Redis is one chat)",
  },
  {
    key: "redisUrl",
    flag: "redis-url",
    env: "CHAT_REDIS_URL",
    kind: "string",
    default: "redis://127.0.0.1:6379",
    help: "with --store redis: redis:// or rediss:// URL (password in it works); a Redis Cluster node, or several seed nodes separated by commas",
  },
  {
    key: "redisPrefix",
    flag: "redis-prefix",
    env: "CHAT_REDIS_PREFIX",
    kind: "string",
    default: "chat",
    help: "with --store redis: prefix of every key and channel; instances with the same prefix share one chat",
  },
  {
    key: "presenceLeaseMs",
    flag: "presence-lease",
    env: "CHAT_PRESENCE_LEASE",
    kind: "duration",
    default: "15s",
    help: "with --store redis: a crashed instance's members leave the member list this long after its last lease renewal at the latest",
  },
  {
    key: "dataDir",
    flag: "data-dir",
    env: "CHAT_DATA_DIR",
    kind: "path",
    default: ".data",
    help: "directory of the SQLite database (chat.db), created if missing",
  },
  {
    key: "durability",
    flag: "durability",
    env: "CHAT_DURABILITY",
    kind: "string",
    choices: ["full", "normal"],
    default: "full",
    help: "full: fsync before every acknowledgement (survives power loss); normal: survives a process crash",
  },
  {
    key: "historyLimit",
    flag: "history-limit",
    env: "CHAT_HISTORY_LIMIT",
    kind: "int",
    default: 10_000,
    help: "messages retained per room (newest kept)",
  },
  {
    key: "historyMaxAgeMs",
    flag: "history-max-age",
    env: "CHAT_HISTORY_MAX_AGE",
    kind: "duration",
    default: "0",
    help: "drop messages older than this, e.g. 90d, 12h, 30m (0: keep regardless of age)",
  },
  {
    key: "heartbeatMs",
    flag: "heartbeat-interval",
    env: "CHAT_HEARTBEAT_INTERVAL",
    kind: "duration",
    default: "15s",
    help: "heartbeat event on a stream quiet for this long, e.g. 15s (0: none)",
  },
  {
    key: "maxRequestBytes",
    flag: "max-request-bytes",
    env: "CHAT_MAX_REQUEST_BYTES",
    kind: "int",
    default: 65_536,
    help: "largest request message accepted (ResourceExhausted above)",
  },
  {
    key: "maxTextBytes",
    flag: "max-text-bytes",
    env: "CHAT_MAX_TEXT_BYTES",
    kind: "int",
    default: 4096,
    help: "largest chat message text in UTF-8 bytes (InvalidArgument above)",
  },
  {
    key: "subscriberBuffer",
    flag: "subscriber-buffer",
    env: "CHAT_SUBSCRIBER_BUFFER",
    kind: "int",
    default: 1024,
    help: "live events held per stream while it catches up from history",
  },
  {
    key: "subscriberBufferBytes",
    flag: "subscriber-buffer-bytes",
    env: "CHAT_SUBSCRIBER_BUFFER_BYTES",
    kind: "int",
    default: 1024 * 1024,
    help: "bytes waiting for one streaming client before it is cut off as too slow",
  },
  {
    key: "maxConnections",
    flag: "max-connections",
    env: "CHAT_MAX_CONNECTIONS",
    kind: "int",
    default: 10_000,
    help: "open TCP connections accepted at once; more are closed at accept",
  },
  {
    key: "maxConnectionsPerIp",
    flag: "max-connections-per-ip",
    env: "CHAT_MAX_CONNECTIONS_PER_IP",
    kind: "int",
    default: 256,
    help: "open TCP connections one IP address may hold; more are closed at accept (0: no limit)",
  },
  {
    key: "maxStreamsPerConnection",
    flag: "max-streams-per-connection",
    env: "CHAT_MAX_STREAMS_PER_CONNECTION",
    kind: "int",
    default: 1000,
    help: "concurrent HTTP/2 streams one connection may open (SETTINGS_MAX_CONCURRENT_STREAMS)",
  },
  {
    key: "sniffTimeoutMs",
    flag: "sniff-timeout-ms",
    env: "CHAT_SNIFF_TIMEOUT_MS",
    kind: "int",
    default: 10_000,
    help: "close connections that send no TLS handshake, request head or preface within this time; also bounds the HTTP/2 handshake and later request heads",
  },
  {
    key: "shutdownTimeoutMs",
    flag: "shutdown-timeout-ms",
    env: "CHAT_SHUTDOWN_TIMEOUT_MS",
    kind: "int",
    default: 5000,
    help: "on SIGTERM/SIGINT, time given to open calls before connections are cut",
  },
  {
    key: "corsOrigins",
    flag: "cors-origin",
    env: "CHAT_CORS_ORIGINS",
    kind: "origins",
    default: undefined,
    help: "comma-separated origins (https://app.example.com) whose pages may call the RPCs (CORS); none by default",
  },
  {
    key: "jwtSecretFile",
    flag: "jwt-secret-file",
    env: "CHAT_JWT_SECRET_FILE",
    kind: "path",
    default: undefined,
    help: "file holding the HS256 secret (32+ bytes): turns auth on, callers need a Bearer JWT (npm run token mints one)",
  },
  {
    key: "jwksFile",
    flag: "jwks-file",
    env: "CHAT_JWKS_FILE",
    kind: "path",
    default: undefined,
    help: "JWKS JSON file of public keys for RS/PS/ES-signed JWTs: turns auth on",
  },
  {
    key: "jwtIssuer",
    flag: "jwt-issuer",
    env: "CHAT_JWT_ISSUER",
    kind: "string",
    default: undefined,
    help: "with auth on, require this iss claim",
  },
  {
    key: "jwtAudience",
    flag: "jwt-audience",
    env: "CHAT_JWT_AUDIENCE",
    kind: "string",
    default: undefined,
    help: "with auth on, require this aud claim",
  },
  {
    key: "rateLimitSends",
    flag: "rate-limit-sends",
    env: "CHAT_RATE_LIMIT_SENDS",
    kind: "rate",
    default: formatRate(defaultRateLimits.sends),
    help: "messages one caller (token subject, else IP) may send: COUNT/DURATION, a burst of COUNT refilled over DURATION (0: no limit)",
  },
  {
    key: "rateLimitStreams",
    flag: "rate-limit-streams",
    env: "CHAT_RATE_LIMIT_STREAMS",
    kind: "rate",
    default: formatRate(defaultRateLimits.streams),
    help: "streams one caller may open (Subscribe, Chat, ChatStream), as above",
  },
  {
    key: "rateLimitTyping",
    flag: "rate-limit-typing",
    env: "CHAT_RATE_LIMIT_TYPING",
    kind: "rate",
    default: formatRate(defaultRateLimits.typing),
    help: "typing notices one caller may send, as above",
  },
];

/** A rate as the flags take it: `1000/10s`. Needs no other declaration (called while `options` is built). */
function formatRate({ count, perMs }: Rate): string {
  const units: [string, number][] = [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1000],
  ];
  const [unit, ms] = units.find(([, ms]) => perMs % ms === 0) ?? ["ms", 1];
  return `${count}/${perMs / ms}${unit}`;
}

/** `COUNT/DURATION` (`30/1m`, `5/s`), or `0` for no limit. */
function parseRate(o: OptionSpec, raw: string): Rate {
  if (raw === "0") return { count: 0, perMs: 1000 };
  const match = /^(\d+)\/(\d*)(ms|s|m|h|d)?$/.exec(raw);
  const count = Number(match?.[1]);
  const per =
    match === null
      ? undefined
      : convert({ ...o, kind: "duration" }, `${match[2] || 1}${match[3] ?? ""}`);
  if (match === null || !Number.isSafeInteger(count) || typeof per !== "number" || per <= 0) {
    throw new Error(
      `--${o.flag} (${o.env}) must be a rate such as 1000/10s, 30/1m or 5/s (0: no limit), got ${JSON.stringify(raw)}`,
    );
  }
  return { count, perMs: per };
}

export type ParseResult = { help: string } | { config: ServerConfig };

/**
 * Reads flags, then environment variables, then defaults, in that order of
 * precedence. Throws an Error with a readable message on bad input.
 */
export function parseConfig(argv: string[], env: Record<string, string | undefined>): ParseResult {
  const { values: parsed } = parseArgs({
    args: argv,
    options: {
      help: { type: "boolean", short: "h" },
      ...Object.fromEntries(options.map((o) => [o.flag, { type: "string" as const }])),
    },
    strict: true,
    allowPositionals: false,
  });
  const values = parsed as Record<string, string | boolean | undefined>;
  if (values.help) return { help: helpText() };
  const config: Record<string, unknown> = {};
  for (const o of options) {
    const raw = (values[o.flag] as string | undefined) ?? env[o.env];
    const value = raw === undefined || raw === "" ? o.default : raw;
    // Defaults are written as a user would (durations as "15s"): convert them too.
    config[o.key] = typeof value === "string" ? convert(o, value) : value;
  }
  const result = config as unknown as ServerConfig;
  if ((result.tlsCert === undefined) !== (result.tlsKey === undefined)) {
    throw new Error("--tls-cert and --tls-key must be given together");
  }
  return { config: result };
}

const durationUnits: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** Exact origins only (scheme://host[:port]): a typo must not widen CORS. */
function parseOrigins(o: OptionSpec, raw: string): string[] {
  const origins = raw
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "");
  for (const origin of origins) {
    let url: URL | undefined;
    try {
      url = new URL(origin);
    } catch {
      url = undefined;
    }
    if (url === undefined || !/^https?:$/.test(url.protocol) || url.origin !== origin) {
      throw new Error(
        `--${o.flag} (${o.env}) takes origins such as https://chat.example.com (scheme, host, optional port; no path or trailing slash), got ${JSON.stringify(origin)}`,
      );
    }
  }
  return origins;
}

function convert(o: OptionSpec, raw: string): string | number | string[] | Rate {
  if (o.kind === "origins") return parseOrigins(o, raw);
  if (o.kind === "rate") return parseRate(o, raw);
  if (o.choices !== undefined && !o.choices.includes(raw)) {
    throw new Error(
      `--${o.flag} (${o.env}) must be one of ${o.choices.join(", ")}, got ${JSON.stringify(raw)}`,
    );
  }
  if (o.kind === "duration") {
    const match = /^(\d+)(ms|s|m|h|d)?$/.exec(raw);
    const n = Number(match?.[1]);
    if (match === null || !Number.isSafeInteger(n)) {
      throw new Error(
        `--${o.flag} (${o.env}) must be a duration such as 0, 500ms, 15s, 30m, 12h or 90d, got ${JSON.stringify(raw)}`,
      );
    }
    // A bare number is in milliseconds, except 0 which needs no unit.
    return n * (durationUnits[match[2] ?? "ms"] ?? 1);
  }
  if (o.kind !== "int") return raw;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(
      `--${o.flag} (${o.env}) must be a non-negative integer, got ${JSON.stringify(raw)}`,
    );
  if (o.key === "port" && n > 65_535) throw new Error(`--port must be at most 65535, got ${n}`);
  return n;
}

export function helpText(): string {
  const flagWidth = Math.max(...options.map((o) => o.flag.length)) + 2;
  const envWidth = Math.max(...options.map((o) => o.env.length));
  const row = (flag: string, env: string, text: string) =>
    `  ${flag.padEnd(flagWidth)} ${env.padEnd(envWidth)}  ${text}`;
  return [
    "Usage: npm start -- [options]",
    "",
    "Chat server: gRPC, gRPC-Web and Connect on one port. Flags win over environment variables.",
    "",
    row("flag", "environment", "meaning"),
    ...options.map((o) =>
      row(
        `--${o.flag}`,
        o.env,
        `${o.help}${o.default === undefined ? "" : ` (default ${o.default})`}`,
      ),
    ),
    row("--help", "", "show this text"),
  ].join("\n");
}
