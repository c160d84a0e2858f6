import { parseArgs } from "node:util";

/** Everything the server can be told at startup. */
export interface ServerConfig {
  host: string;
  port: number;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  logLevel: string;
  seedRoom: string;
  historyLimit: number;
  maxRequestBytes: number;
  maxTextBytes: number;
  subscriberBuffer: number;
  sniffTimeoutMs: number;
  shutdownTimeoutMs: number;
  maxConnections: number;
  maxStreamsPerConnection: number;
}

interface OptionSpec {
  key: keyof ServerConfig;
  flag: string;
  env: string;
  kind: "string" | "int" | "path";
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
    key: "historyLimit",
    flag: "history-limit",
    env: "CHAT_HISTORY_LIMIT",
    kind: "int",
    default: 10_000,
    help: "messages retained per room",
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
    help: "events buffered per stream before a slow subscriber is cut off",
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
    help: "close connections that send no TLS handshake, request line or preface within this time",
  },
  {
    key: "shutdownTimeoutMs",
    flag: "shutdown-timeout-ms",
    env: "CHAT_SHUTDOWN_TIMEOUT_MS",
    kind: "int",
    default: 5000,
    help: "on SIGTERM/SIGINT, time given to open calls before connections are cut",
  },
];

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
    config[o.key] = raw === undefined || raw === "" ? o.default : convert(o, raw);
  }
  const result = config as unknown as ServerConfig;
  if ((result.tlsCert === undefined) !== (result.tlsKey === undefined)) {
    throw new Error("--tls-cert and --tls-key must be given together");
  }
  return { config: result };
}

function convert(o: OptionSpec, raw: string): string | number {
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
