/**
 * Entry point: configuration, listen, and signals. Everything else is built
 * by `buildApp` so that tests run the same server without this file.
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import { buildApp, type ChatServerApp } from "./app.ts";
import type { AuthenticatorOptions } from "./auth/authenticator.ts";
import { KeyFileError, readJwksFile, readSecretFile } from "./auth/key-files.ts";
import { appSettings, parseConfig, type ServerConfig } from "./config.ts";
import { runtimeInfo } from "./runtime.ts";
import { createMemoryStore } from "./stores/memory-store.ts";
import { openRedisBackend } from "./stores/redis/open-redis.ts";
import { DataDirError } from "./stores/sqlite/errors.ts";
import { openSqliteStore } from "./stores/sqlite/open-store.ts";

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parseConfig>;
  try {
    parsed = parseConfig(process.argv.slice(2), process.env);
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\nTry --help.\n`);
    process.exit(2);
  }
  if ("help" in parsed) {
    process.stdout.write(`${parsed.help}\n`);
    return;
  }
  const { config } = parsed;
  const tls =
    config.tlsCert !== undefined && config.tlsKey !== undefined
      ? { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) }
      : undefined;
  const { retention } = config;
  const auth = readAuthKeys(config);
  // The backend logs through the app's logger, which exists only later.
  let log: ChatServerApp["app"]["log"] | undefined;
  const redis =
    config.store === "redis"
      ? await openRedisBackend({
          url: config.redisUrl,
          prefix: config.redisPrefix,
          presenceLeaseMs: config.presenceLeaseMs,
          retention,
          log: { debug: (fields, message) => log?.debug(fields, message) },
        }).catch(exitOnRedisError)
      : undefined;
  const store =
    redis?.store ??
    (config.store === "sqlite"
      ? await openSqliteStore({
          dataDir: config.dataDir,
          retention,
          durability: config.durability,
        }).catch(exitOnDataDirError)
      : createMemoryStore({ retention }));
  const { app } = await buildApp({
    ...appSettings(config),
    store,
    bus: redis?.bus,
    presence: redis?.presence,
    backendStatus: redis?.backendStatus,
    tls,
    auth,
  });

  log = app.log;
  if (redis?.persistenceWarning !== undefined) app.log.warn(redis.persistenceWarning);

  let closingSince: number | undefined;
  const stop = (signal: string) => {
    if (closingSince !== undefined) {
      // One Ctrl-C often arrives twice: from the terminal, and forwarded by
      // a wrapper in the same process group (npm, deno task). Only a signal
      // sent deliberately later means "stop draining".
      if (Date.now() - closingSince < 1000) return;
      app.log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    closingSince = Date.now();
    app.log.info({ signal }, "shutting down");
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        app.log.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);

  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    const code = (err as { code?: string }).code;
    const hint = code === "EADDRINUSE" ? ": the port is in use (try --port)" : "";
    app.log.fatal({ err }, `cannot listen on ${config.host}:${config.port}${hint}`);
    await app.close();
    process.exit(1);
  }
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : config.port;
  const scheme = tls ? "https" : "http";
  const url = `${scheme}://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
  const { name, version, engine, nodeApi } = runtimeInfo();
  app.log.info(
    {
      runtime: `${name} ${version}`,
      engine,
      nodeApi,
      url,
      serves: describeServing(url, !!tls),
      browser: `${url}/`,
      metrics: `${url}/metrics`,
    },
    "chat server listening",
  );
  if (auth === undefined && !isLoopback(config.host)) {
    app.log.warn(
      `auth is off and ${config.host} is not a loopback address: anyone who can reach ${url} can read every room and post as anyone. Turn auth on with --jwt-secret-file or --jwks-file (README, Security).`,
    );
  }
}

/** Token verification keys from the configured files; undefined: auth is off. Exits 1 on an unusable file. */
function readAuthKeys(config: ServerConfig): AuthenticatorOptions | undefined {
  if (config.jwtSecretFile === undefined && config.jwksFile === undefined) return undefined;
  try {
    return {
      secret: config.jwtSecretFile === undefined ? undefined : readSecretFile(config.jwtSecretFile),
      jwks: config.jwksFile === undefined ? undefined : readJwksFile(config.jwksFile),
      issuer: config.jwtIssuer,
      audience: config.jwtAudience,
    };
  } catch (e) {
    if (!(e instanceof KeyFileError)) throw e;
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  }
}

/** Whether `host` only accepts connections from this machine. */
function isLoopback(host: string): boolean {
  return (
    host === "localhost" || host === "::1" || /^127\./.test(host) || /^::ffff:127\./i.test(host)
  );
}

/**
 * A data directory that cannot be used is the operator's to fix: one line
 * that names it and says why, and exit 1. Anything else keeps its stack.
 */
function exitOnDataDirError(e: unknown): never {
  if (!(e instanceof DataDirError)) throw e;
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
}

/**
 * A Redis that cannot be reached at startup is the operator's to fix: one
 * line naming the server (without its password) and the cause, and exit 1.
 */
function exitOnRedisError(e: unknown): never {
  const cause = e instanceof Error ? e.message : String(e);
  process.stderr.write(`cannot use Redis: ${cause}\n`);
  process.exit(1);
}

/** What the one port speaks, for the startup line: which protocol over which HTTP version. */
function describeServing(url: string, tls: boolean): string {
  return tls
    ? `gRPC (h2), gRPC-Web and Connect (HTTP/1.1 and h2, by ALPN) on ${url}`
    : `gRPC (h2c), gRPC-Web and Connect (HTTP/1.1 and h2c) on ${url}`;
}

await main();
