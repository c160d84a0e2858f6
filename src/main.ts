/**
 * Entry point: configuration, listen, and signals. Everything else is built
 * by `buildApp` so that tests run the same server without this file.
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import { buildApp } from "./app.ts";
import { parseConfig } from "./config.ts";
import { describeRuntime } from "./runtime.ts";

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
  const { app } = await buildApp({
    seedRoom: config.seedRoom,
    historyLimit: config.historyLimit,
    limits: { maxTextBytes: config.maxTextBytes },
    maxRequestBytes: config.maxRequestBytes,
    subscriberBuffer: config.subscriberBuffer,
    sniffTimeoutMs: config.sniffTimeoutMs,
    maxConnections: config.maxConnections,
    maxStreamsPerConnection: config.maxStreamsPerConnection,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    tls,
    logger: { level: config.logLevel },
  });

  let closing = false;
  const stop = (signal: string) => {
    if (closing) {
      app.log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    closing = true;
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
  app.log.info(
    {
      runtime: describeRuntime(),
      url: `${scheme}://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`,
      protocols: tls
        ? "gRPC, gRPC-Web, Connect over TLS: h2 and HTTP/1.1 by ALPN"
        : "gRPC over h2c (prior knowledge); gRPC-Web and Connect over HTTP/1.1 and h2c",
    },
    "chat server listening",
  );
}

await main();
