/**
 * HTTP/2 rapid reset with reconnects (issue 11, bug 3): streams opened and reset at once,
 * over sessions that reconnect whenever one is closed. The attacker runs in a process of
 * its own from 127.0.0.1; a well-behaved client sends from 127.0.0.2 throughout.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { once } from "node:events";
import * as http2 from "node:http2";
import { performance } from "node:perf_hooks";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { withServer } from "../support/server.ts";
import { bystander, connectionsDropTo } from "./support/hostile.ts";
import type { RapidResetReport } from "./support/rapid-reset.ts";

const attackerScript = fileURLToPath(new URL("./support/rapid-reset-attacker.ts", import.meta.url));

/** 20,000 resets over 8 reconnecting sessions, for at most `maxMs`. */
async function attack(url: string, maxMs: number): Promise<RapidResetReport> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--import", "tsx", attackerScript, url, "20000", "8", String(maxMs)],
    { timeout: maxMs + 15_000 },
  );
  return JSON.parse(stdout) as RapidResetReport;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;

describe("HTTP/2 rapid reset (issue 11, bug 3)", { timeout: 60_000 }, () => {
  it("bounds a reconnecting rapid-reset attack: other clients' Sends keep completing, and the server returns to idle", (t) =>
    withServer(async (server) => {
      const { client, close } = bystander(server.url);
      const latencies: number[] = [];
      const failures: unknown[] = [];
      let attacking = true;
      try {
        await client.send({ room: "bystander", sender: "b", text: "before" });
        const sending = (async () => {
          while (attacking) {
            const started = performance.now();
            try {
              await client.send(
                { room: "bystander", sender: "b", text: "during" },
                { signal: AbortSignal.timeout(5000) },
              );
              latencies.push(performance.now() - started);
            } catch (e) {
              failures.push(e);
            }
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        })();
        const report = await attack(server.url, 8000);
        attacking = false;
        await sending;

        // Every Send of the bystander completed, promptly. Before the fix it got a few
        // through, then timed out for as long as the attack and its backlog lasted.
        const sorted = [...latencies].sort((a, b) => a - b);
        const summary = `${latencies.length} Sends, p50 ${percentile(sorted, 0.5).toFixed(1)} ms, p99 ${percentile(sorted, 0.99).toFixed(1)} ms, max ${sorted.at(-1)?.toFixed(0)} ms; ${failures.length} failed; attacker ${JSON.stringify(report)}`;
        t.diagnostic(summary);
        assert.equal(failures.length, 0, summary);
        assert.ok(latencies.length >= 100, summary);
        assert.ok(percentile(sorted, 0.5) < 50, summary);
        assert.ok((sorted.at(-1) ?? 0) < 2500, summary);
        // The attacker was told to calm down, and its reconnects were refused.
        assert.ok((report.goaways[http2.constants.NGHTTP2_ENHANCE_YOUR_CALM] ?? 0) >= 1, summary);
        assert.ok(report.refused > 0, summary);

        // Back to idle: only the bystander's connection left, and an idle event loop.
        await connectionsDropTo(server, 1, 2000);
        const before = performance.eventLoopUtilization();
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const utilization = performance.eventLoopUtilization(before).utilization;
        assert.ok(
          utilization < 0.2,
          `event loop ${(utilization * 100).toFixed(0)}% busy after the attack`,
        );
        await client.send({ room: "bystander", sender: "b", text: "after" });
      } finally {
        attacking = false;
        close();
      }
    }));

  it("leaves alone a client that cancels streams at a person's pace", () =>
    withServer(async (server) => {
      const session = http2.connect(server.url);
      session.on("error", () => {});
      let goaway: number | undefined;
      session.on("goaway", (code: number) => {
        goaway = code;
      });
      try {
        await once(session, "remoteSettings");
        // 150 Subscribe calls cancelled, 50 a second: far more than a person switching rooms.
        for (let i = 0; i < 150; i++) {
          const stream = session.request({
            ":method": "POST",
            ":path": "/chat.v1.ChatService/Subscribe",
            "content-type": "application/grpc",
            te: "trailers",
          });
          stream.on("error", () => {});
          stream.end(Buffer.from([0, 0, 0, 0, 3, 0x0a, 0x01, 0x72]));
          await new Promise((resolve) => setTimeout(resolve, 20));
          stream.close(http2.constants.NGHTTP2_CANCEL);
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.equal(goaway, undefined);
        assert.equal(session.closed || session.destroyed, false);
      } finally {
        session.destroy();
      }
    }));
});
