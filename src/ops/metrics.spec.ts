import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { protocolOf } from "./connection-metrics.ts";
import { createMetrics } from "./metrics.ts";

/** `name{labels} value` lines of the app's own registry. */
async function lines(metrics: ReturnType<typeof createMetrics>): Promise<string[]> {
  return (await metrics.registry.metrics()).split("\n").filter((l) => l && !l.startsWith("#"));
}

describe("createMetrics", () => {
  it("observes latency from sentAt for live deliveries, counts untimed ones only", async () => {
    const metrics = createMetrics();
    // Sent 2 s ago, to the millisecond.
    metrics.delivered({ sentAt: timestampFromMs(Date.now() - 2000) });
    metrics.delivered({});
    metrics.deliveredUntimed();
    const out = await lines(metrics);
    assert.ok(out.includes("chat_messages_delivered_total 3"), out.join("\n"));
    assert.ok(out.includes("chat_delivery_latency_seconds_count 1"));
    const sum = Number(
      out.find((l) => l.startsWith("chat_delivery_latency_seconds_sum "))?.split(" ")[1],
    );
    assert.ok(sum >= 2 && sum < 2.5, `latency ${sum} s`);
    assert.ok(out.includes('chat_delivery_latency_seconds_bucket{le="1"} 0'));
    assert.ok(out.includes('chat_delivery_latency_seconds_bucket{le="2.5"} 1'));
  });

  it("times each delivery of a message delivered many times in a row (a fan-out)", async () => {
    const metrics = createMetrics();
    const old = { sentAt: timestampFromMs(Date.now() - 3000) };
    const recent = { sentAt: timestampFromMs(Date.now()) };
    for (let i = 0; i < 3; i++) metrics.delivered(old);
    metrics.delivered(recent);
    metrics.delivered(old);
    const out = await lines(metrics);
    assert.ok(out.includes("chat_messages_delivered_total 5"), out.join("\n"));
    assert.ok(out.includes("chat_delivery_latency_seconds_count 5"));
    assert.ok(out.includes('chat_delivery_latency_seconds_bucket{le="2.5"} 1'), out.join("\n"));
    // Read again: the counter does not count twice what it folded in.
    assert.ok((await lines(metrics)).includes("chat_messages_delivered_total 5"));
  });

  it("keeps a stream method at 0 once its streams end, instead of dropping it", async () => {
    const open = new Map([["a/B", 2]]);
    const metrics = createMetrics({
      streams: { count: (m) => open.get(m) ?? 0, methods: () => open.keys() },
    });
    assert.ok((await lines(metrics)).includes('chat_streams_open{method="a/B"} 2'));
    open.clear();
    assert.ok((await lines(metrics)).includes('chat_streams_open{method="a/B"} 0'));
  });

  it("counts open requests by protocol and HTTP version, down again on close", async () => {
    const metrics = createMetrics();
    metrics.requestOpened("grpc", "2");
    metrics.requestOpened("grpc", "2");
    metrics.requestClosed("grpc", "2");
    const out = await lines(metrics);
    assert.ok(out.includes('chat_requests_open{protocol="grpc",http_version="2"} 1'));
    assert.ok(out.includes('chat_requests_total{protocol="grpc",http_version="2"} 2'));
  });

  it("serves the process metrics beside each app's own, in separate registries", async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.sent();
    assert.match(await a.text(), /^process_cpu_seconds_total /m);
    assert.match(await a.text(), /^chat_messages_sent_total 1$/m);
    assert.match(await b.text(), /^chat_messages_sent_total 0$/m);
  });
});

describe("protocolOf", () => {
  const cases: [string, string | undefined, string, string][] = [
    ["POST", "application/grpc", "/chat.v1.ChatService/Send", "grpc"],
    ["POST", "application/grpc+proto", "/x/Y", "grpc"],
    ["POST", "application/grpc-web+proto", "/x/Y", "grpc-web"],
    ["POST", "application/grpc-web-text", "/x/Y", "grpc-web"],
    ["POST", "application/proto", "/x/Y", "connect"],
    ["POST", "application/json; charset=utf-8", "/x/Y", "connect"],
    ["POST", "application/connect+proto", "/x/Y", "connect"],
    ["GET", undefined, "/x/Y?connect=v1&encoding=json&message=%7B%7D", "connect"],
    ["GET", undefined, "/metrics", "other"],
    ["OPTIONS", undefined, "/x/Y", "other"],
    ["GET", "application/json", "/app.js", "other"],
  ];
  for (const [method, type, url, expected] of cases) {
    it(`${method} ${type ?? "(no content type)"} ${url}: ${expected}`, () => {
      assert.equal(protocolOf(method, type, url), expected);
    });
  }
});
