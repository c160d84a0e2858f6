import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { appSettings, configurationDoc, configurationDocFile, parseConfig } from "./config.ts";

const config = (argv: string[], env: Record<string, string> = {}) => {
  const r = parseConfig(argv, env);
  assert.ok("config" in r);
  return r.config;
};

describe("config", () => {
  it("defaults to the seed's port on loopback", () => {
    const c = config([]);
    assert.equal(c.port, 11912);
    assert.equal(c.host, "127.0.0.1");
    assert.equal(c.seedRoom, "lobby");
  });

  it("takes environment variables, and flags over them", () => {
    assert.equal(config([], { PORT: "8080" }).port, 8080);
    assert.equal(config(["--port", "9090"], { PORT: "8080" }).port, 9090);
    assert.equal(config(["--host=0.0.0.0"], { HOST: "::1" }).host, "0.0.0.0");
    assert.equal(config([], { CHAT_HISTORY_LIMIT: "5" }).retention.maxMessagesPerRoom, 5);
  });

  it("limits connections per IP address, 256 unless told otherwise", () => {
    assert.equal(config([]).maxConnectionsPerIp, 256);
    assert.equal(config(["--max-connections-per-ip", "8"]).maxConnectionsPerIp, 8);
    assert.equal(config([], { CHAT_MAX_CONNECTIONS_PER_IP: "0" }).maxConnectionsPerIp, 0);
  });

  it("reads rate limits as COUNT/DURATION, 0 for none, and auth files", () => {
    const c = config([]);
    assert.deepEqual(c.rateLimits.sends, { count: 1000, perMs: 10_000 });
    assert.deepEqual(c.rateLimits.typing, { count: 200, perMs: 10_000 });
    assert.equal(c.jwtSecretFile, undefined);
    assert.deepEqual(config(["--rate-limit-sends", "30/1m"]).rateLimits.sends, {
      count: 30,
      perMs: 60_000,
    });
    assert.deepEqual(config([], { CHAT_RATE_LIMIT_STREAMS: "5/s" }).rateLimits.streams, {
      count: 5,
      perMs: 1000,
    });
    assert.equal(config(["--rate-limit-typing", "0"]).rateLimits.typing.count, 0);
    assert.throws(() => parseConfig(["--rate-limit-sends", "5"], {}), /rate such as 1000\/10s/);
    assert.throws(() => parseConfig(["--rate-limit-sends", "5/0s"], {}), /rate such as/);
    assert.equal(config([], { CHAT_JWT_SECRET_FILE: "/s" }).jwtSecretFile, "/s");
    assert.equal(config(["--jwks-file", "k.json"]).jwksFile, "k.json");
  });

  it("rejects bad numbers, unknown flags and half a TLS pair", () => {
    assert.throws(() => parseConfig(["--port", "x"], {}), /--port .* non-negative integer/);
    assert.throws(() => parseConfig(["--port", "70000"], {}), /at most 65535/);
    assert.throws(() => parseConfig(["--nope"], {}), /nope/);
    assert.throws(() => parseConfig(["--tls-cert", "c.pem"], {}), /together/);
  });

  it("rejects, before anything is built, values that pino, Connect or Node would throw on", () => {
    assert.throws(() => parseConfig(["--log-level", "nonsense"], {}), /--log-level .*one of fatal/);
    assert.throws(() => parseConfig([], { LOG_LEVEL: "loud" }), /LOG_LEVEL/);
    assert.equal(config(["--log-level", "debug"]).logger.level, "debug");
    assert.throws(() => parseConfig(["--max-request-bytes", "0"], {}), /at least 1/);
    assert.throws(() => parseConfig(["--shutdown-timeout-ms", "99999999999"], {}), /at most/);
    assert.throws(() => parseConfig(["--heartbeat-interval", "30d"], {}), /at most/);
    assert.equal(config(["--history-max-age", "365d"]).retention.maxAgeMs, 365 * 86_400_000);
  });

  it("passes the app's settings on as buildApp takes them, without the entry point's", () => {
    const app = appSettings(config(["--max-text-bytes", "100"], { PORT: "1" }));
    assert.deepEqual(app.limits, { maxTextBytes: 100 });
    assert.equal(app.seedRoom, "lobby");
    for (const key of ["host", "port", "tlsCert", "store", "dataDir", "jwtSecretFile"]) {
      assert.ok(!(key in app), key);
    }
  });

  it("docs/configuration.md is the declaration's table (npm run docs:config rewrites it)", () => {
    assert.equal(
      readFileSync(configurationDocFile, "utf8"),
      configurationDoc(),
      "docs/configuration.md is stale: run npm run docs:config",
    );
  });

  it("--help lists every flag with its environment variable", () => {
    const r = parseConfig(["--help"], {});
    assert.ok("help" in r);
    for (const flag of ["--port", "--host", "--tls-cert", "--tls-key", "--max-request-bytes"]) {
      assert.match(r.help, new RegExp(flag));
    }
    assert.match(r.help, /PORT/);
    assert.match(r.help, /TLS_CERT/);
  });

  it("stores history in SQLite under .data unless told otherwise", () => {
    const c = config([]);
    assert.deepEqual([c.store, c.dataDir, c.durability], ["sqlite", ".data", "full"]);
    const m = config(["--store", "memory"], { CHAT_DATA_DIR: "/var/lib/chat" });
    assert.deepEqual([m.store, m.dataDir], ["memory", "/var/lib/chat"]);
    assert.throws(() => parseConfig(["--store", "mysql"], {}), /one of sqlite, memory, redis/);
    assert.throws(() => parseConfig(["--durability", "none"], {}), /one of full, normal/);
  });

  it("shares history on Redis when told, at a URL, with a key prefix and a presence lease", () => {
    const c = config([]);
    assert.deepEqual(
      [c.redisUrl, c.redisPrefix, c.presenceLeaseMs],
      ["redis://127.0.0.1:6379", "chat", 15_000],
    );
    const r = config(["--store", "redis", "--presence-lease", "5s"], {
      CHAT_REDIS_URL: "rediss://:pw@redis.example:6380",
      CHAT_REDIS_PREFIX: "team",
    });
    assert.deepEqual(
      [r.store, r.redisUrl, r.redisPrefix, r.presenceLeaseMs],
      ["redis", "rediss://:pw@redis.example:6380", "team", 5000],
    );
  });

  it("reads durations with units", () => {
    assert.equal(config([]).heartbeatMs, 15_000);
    assert.equal(config([]).retention.maxAgeMs, 0);
    assert.equal(config(["--history-max-age", "90d"]).retention.maxAgeMs, 90 * 86_400_000);
    assert.equal(config(["--heartbeat-interval", "500ms"]).heartbeatMs, 500);
    assert.equal(config([], { CHAT_HEARTBEAT_INTERVAL: "2m" }).heartbeatMs, 120_000);
    assert.equal(config(["--heartbeat-interval", "250"]).heartbeatMs, 250);
    assert.throws(() => parseConfig(["--history-max-age", "1 week"], {}), /duration such as/);
  });
});
