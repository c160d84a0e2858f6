/**
 * The entry point as a user runs it: `npm start` flags, the startup line, and
 * graceful shutdown on SIGTERM with streams open.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { type AddressInfo, createServer } from "node:net";
import { createInterface } from "node:readline";
import { describe, it } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { ChatService } from "../../src/gen/chat/v1/chat_pb.ts";
import { bufCurl } from "./support/buf-curl.ts";

const entry = ["--import", "tsx", "src/main.ts"];

function startCli(
  args: string[],
): Promise<{ child: ChildProcess; url: string; log: Array<{ level: number; msg: string }> }> {
  const child = spawn(process.execPath, [...entry, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("server did not start")), 15_000);
    const log: Array<{ level: number; msg: string }> = [];
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on("line", (line) => {
      const entry = JSON.parse(line) as { level: number; msg: string; url?: string };
      log.push(entry);
      if (entry.msg === "chat server listening" && entry.url) {
        clearTimeout(timer);
        resolve({ child, url: entry.url, log });
      }
    });
    child.once("exit", (code) => reject(new Error(`server exited early with ${code}`)));
  });
}

/** Runs the entry point until it exits by itself (bad flags, a port in use), collecting its output. */
async function runToExit(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...entry, ...args], { stdio: "pipe" });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => {
    stdout += d;
  });
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  const [code] = await once(child, "exit");
  return { code, stdout, stderr };
}

describe("command line", () => {
  it("--help prints the options and exits 0", async () => {
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [...entry, "--help"], { timeout: 15_000 }, (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      ),
    );
    assert.match(out, /--port .*PORT/);
  });

  it("a bad flag exits 2 with a message", async () => {
    const { code, stderr } = await runToExit(["--port", "nope"]);
    assert.equal(code, 2);
    assert.match(stderr, /--port/);
  });

  it("a value the logger would refuse exits 2 with one line and a hint, not a stack", async () => {
    const { code, stderr } = await runToExit(["--log-level", "nonsense"]);
    assert.equal(code, 2);
    assert.deepEqual(stderr.trimEnd().split("\n"), [
      '--log-level (LOG_LEVEL) must be one of fatal, error, warn, info, debug, trace, silent, got "nonsense"',
      "Try --help.",
    ]);
  });

  it("a port in use exits 1 and says so", async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const { port } = blocker.address() as AddressInfo;
    try {
      const { code, stdout } = await runToExit(["--store", "memory", "--port", String(port)]);
      assert.equal(code, 1);
      assert.match(stdout, /the port is in use/);
    } finally {
      blocker.close();
    }
  });

  it("on SIGTERM ends open streams with Unavailable and exits 0; no error logged", async () => {
    const { child, url, log } = await startCli([
      "--port",
      "0",
      "--store",
      "memory",
      "--shutdown-timeout-ms",
      "1000",
    ]);
    try {
      // A client killed mid-stream is normal, not a server error (buf curl
      // stopped this way once got an "rpc failed" error line logged).
      await bufCurl(
        ["--protocol", "connect", "-d", '{"room":"cli"}', `${url}/chat.v1.ChatService/Subscribe`],
        { docs: 1 },
      );
      const clients = [
        createClient(ChatService, createGrpcTransport({ baseUrl: url })),
        createClient(ChatService, createConnectTransport({ baseUrl: url, httpVersion: "1.1" })),
      ];
      await clients[0]?.send({ room: "cli", sender: "ann", text: "hi" });
      const ended = clients.map(async (client) => {
        try {
          for await (const res of client.subscribe({
            room: "cli",
            start: { case: "afterSeq", value: 0n },
          })) {
            if (res.event?.kind.case === "ready") ready();
          }
          return "ok";
        } catch (e) {
          return Code[ConnectError.from(e).code];
        }
      });
      let readyCount = 0;
      let allReady: () => void = () => {};
      const readyPromise = new Promise<void>((r) => {
        allReady = r;
      });
      function ready() {
        if (++readyCount === clients.length) allReady();
      }
      await readyPromise;
      const exit = once(child, "exit");
      child.kill("SIGTERM");
      assert.deepEqual(await Promise.all(ended), ["Unavailable", "Unavailable"]);
      const [code] = await exit;
      assert.equal(code, 0);
      assert.deepEqual(
        log.filter((entry) => entry.level >= 40),
        [],
      );
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("takes one Ctrl-C that arrives twice (terminal and wrapper) as one: exits 0", async () => {
    const { child, log } = await startCli(["--port", "0", "--store", "memory"]);
    const exited = once(child, "exit");
    child.kill("SIGINT");
    setTimeout(() => child.kill("SIGINT"), 20);
    const [code] = await exited;
    assert.equal(code, 0);
    assert.ok(!log.some((l) => l.msg.includes("second signal")), "not taken as a second signal");
  });
});
