/**
 * The entry point as a user starts it on the runtime under test: the startup
 * line names the runtime and what is served where, the browser client is
 * served at /, bad input and a busy port end the process with the documented
 * exit codes.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { describe, it } from "node:test";
import { runtimeVersion } from "../support/runtimes.ts";
import { type LogEntry, runToExit, spawnServer } from "../support/subprocess-server.ts";
import { makeTestDir } from "../support/temp-dir.ts";
import { makeTestCert } from "../support/tls-cert.ts";
import { runtimeUnderTest } from "./runtime-under-test.ts";

const startupLine = (log: LogEntry[]) => log.find((l) => l.msg === "chat server listening");

describe(`startup (${runtimeUnderTest})`, () => {
  it("prints the runtime, its version and engine, and the protocols served on the URL", async () => {
    const server = await spawnServer(runtimeUnderTest);
    try {
      const line = startupLine(server.log);
      assert.equal(line?.runtime, runtimeVersion(runtimeUnderTest));
      const engine = runtimeUnderTest === "bun" ? /^JavaScriptCore \(WebKit \w+\)$/ : /^V8 \d+\./;
      assert.match(String(line?.engine), engine);
      assert.equal(
        line?.serves,
        `gRPC (h2c), gRPC-Web and Connect (HTTP/1.1 and h2c) on ${server.url}`,
      );
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(line?.browser, `${server.url}/`, "where to open the browser client");
    } finally {
      await server.close();
    }
  });

  it("serves the browser client at / (or says how to build it)", async () => {
    // On Deno this needs read access to clients/web/dist (deno.json's start task).
    const server = await spawnServer(runtimeUnderTest);
    try {
      const res = await fetch(`${server.url}/`);
      const body = await res.text();
      if (res.status === 503) assert.match(body, /npm run build:web/);
      else {
        assert.equal(res.status, 200);
        assert.match(body, /^<!doctype html>/i);
      }
    } finally {
      await server.close();
    }
  });

  it("says h2 and HTTP/1.1 by ALPN on an https URL with TLS", async () => {
    const dir = makeTestDir("startup-tls");
    const { certFile, keyFile } = makeTestCert(dir);
    try {
      const server = await spawnServer(runtimeUnderTest, [
        "--tls-cert",
        certFile,
        "--tls-key",
        keyFile,
      ]);
      await server.close();
      assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(
        startupLine(server.log)?.serves,
        `gRPC (h2), gRPC-Web and Connect (HTTP/1.1 and h2, by ALPN) on ${server.url}`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("--help exits 0; a bad flag exits 2 with a message", async () => {
    const help = await runToExit(runtimeUnderTest, ["--help"]);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /--port .*PORT/);
    const bad = await runToExit(runtimeUnderTest, ["--port", "nope"]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--port/);
  });

  it("a port in use exits 1 and says so", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const { port } = blocker.address() as AddressInfo;
    const dataDir = makeTestDir("busy");
    try {
      const run = await runToExit(runtimeUnderTest, [
        "--port",
        String(port),
        "--data-dir",
        dataDir,
      ]);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stdout, /the port is in use/);
    } finally {
      blocker.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
