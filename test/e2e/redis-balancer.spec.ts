/**
 * Three instances on one Redis behind nginx, as a deployment runs them
 * (issue 10): clients know one address and the balancer spreads their calls
 * over the instances. gRPC, Connect and gRPC-Web clients (connect-node and
 * @grpc/grpc-js) and the browser page all go through nginx; their
 * subscriptions land on different instances and still see one order; when the
 * instance serving some of them is SIGKILLed they resume through nginx on
 * another one and hold every message exactly once. nginx 1.22 needs two
 * ports for this (h2c and HTTP/1.1): see test/support/nginx.ts.
 */
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import type { Browser, Page } from "playwright-core";
import { createRoomSession } from "../../clients/shared/room-session.ts";
import { ChatService, type Message } from "../../src/gen/chat/v1/chat_pb.ts";
import * as web from "../browser/support/browser.ts";
import { runtimeUnderTest } from "../runtimes/runtime-under-test.ts";
import { cleanUpAll, closeEach } from "../support/clean-up.ts";
import { type Nginx, startNginx } from "../support/nginx.ts";
import { type RedisProcess, startRedis } from "../support/redis.ts";
import { eventually } from "../support/server.ts";
import type { SubprocessServer } from "../support/subprocess-server.ts";
import {
  createTestTransport,
  type TestTransport,
  type TransportKind,
} from "../support/transports.ts";
import { collectStream, createGrpcJsClients, type Msg, unary } from "./support/grpc-js.ts";
import { assertEachAckOnce, fullHistory } from "./support/history.ts";
import { getHttp1, parseMetrics, sampleValue } from "./support/metrics.ts";
import { spawnRedisInstance } from "./support/redis-instance.ts";
import { type RoomWatcher, watchRoom } from "./support/room-watcher.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sum = (ns: number[]) => ns.reduce((a, b) => a + b, 0);
const range = (n: number) => Array.from({ length: n }, (_, i) => BigInt(i + 1));
const watcherSeqs = (w: RoomWatcher) => w.messages.map((m) => BigInt(m.slice(0, m.indexOf(":"))));
const isH1 = (kind: TransportKind) => kind === "connect-h1" || kind === "grpcweb-h1";

/** Heartbeats off: the streams carry only what the tests send. */
const instanceArgs = ["--presence-lease", "2s", "--heartbeat-interval", "0"];

const upstreamsOf = (servers: SubprocessServer[]) => servers.map((s) => `127.0.0.1:${s.port}`);

/** Streaming calls (Subscribe, Chat) open on each instance, asked of the instance itself, not through nginx. */
function streamsPerInstance(servers: SubprocessServer[]): Promise<number[]> {
  return Promise.all(
    servers.map(async (s) =>
      sampleValue(parseMetrics((await getHttp1(s.url, "/metrics")).body), "chat_streams_open"),
    ),
  );
}

/**
 * Runs `open`, which opens exactly one stream through nginx, and says
 * which instance took it: the one whose count of open streams went up.
 * Only meaningful while no other stream opens or closes.
 */
async function landing(servers: SubprocessServer[], open: () => Promise<void>): Promise<number> {
  const before = await streamsPerInstance(servers);
  await open();
  let now = before;
  await eventually(
    async () => {
      now = await streamsPerInstance(servers);
      return sum(now) === sum(before) + 1;
    },
    5000,
    "one more stream open",
  ).catch((e: Error) => {
    throw new Error(`${e.message}: streams per instance went from ${before} to ${now}`);
  });
  return now.findIndex((n, i) => n > (before[i] ?? 0));
}

/** How a call in flight to a SIGKILLed instance ends, as nginx passes it on: worth a retry. */
const retryable = new Set([Code.Unavailable, Code.Internal, Code.Unknown, Code.Aborted]);

/**
 * Sends `prefix0`, `prefix1`, ... until stopped, each with a client id of its
 * own, retrying a failed send with the SAME client id (so a send whose ack was
 * lost is not stored twice), and records every acknowledged seq.
 */
function startSender(client: Client<typeof ChatService>, room: string, prefix: string) {
  const acks = new Map<string, bigint>();
  const retries: string[] = [];
  let stopping = false;
  const done = (async () => {
    for (let i = 0; !stopping; i++) {
      const request = { room, sender: prefix, text: `${prefix}${i}`, clientId: `${prefix}-${i}` };
      const deadline = Date.now() + 15_000;
      for (;;) {
        try {
          acks.set(request.clientId, (await client.send(request, { timeoutMs: 3000 })).seq);
          break;
        } catch (e) {
          const error = ConnectError.from(e);
          if (!retryable.has(error.code) || Date.now() > deadline) throw error;
          retries.push(`${Code[error.code]}: ${error.rawMessage}`);
          await sleep(50);
        }
      }
      // Short: a send is then likely in flight when an instance is killed.
      await sleep(5);
    }
  })();
  return {
    acks,
    retries,
    async stop() {
      stopping = true;
      await done;
    },
  };
}

/**
 * The history of `room` holds seqs 1..N, each acknowledged message exactly
 * once at its acknowledged seq, and `others` messages besides; returns it.
 */
async function assertAcknowledgedOnce(
  client: Client<typeof ChatService>,
  room: string,
  acks: Map<string, bigint>,
  others: number,
): Promise<Message[]> {
  const history = await assertEachAckOnce(client, room, acks);
  assert.equal(history.length, acks.size + others, "nothing stored but what was acknowledged");
  return history;
}

/** Records every `data-state` the page's connection banner takes from now on. */
async function recordBannerStates(page: Page): Promise<() => Promise<string[]>> {
  await page.evaluate(() => {
    const banner = document.getElementById("banner") as HTMLElement;
    const states: string[] = [];
    (window as unknown as { bannerStates: string[] }).bannerStates = states;
    new MutationObserver(() => states.push(banner.dataset.state ?? "")).observe(banner, {
      attributes: true,
      attributeFilter: ["data-state"],
    });
  });
  return () => page.evaluate(() => (window as unknown as { bannerStates: string[] }).bannerStates);
}

describe(`three instances on one Redis behind nginx (${runtimeUnderTest})`, () => {
  let redis: RedisProcess;
  let servers: SubprocessServer[] = [];
  const killed = new Set<SubprocessServer>();
  let nginx: Nginx;
  let browser: Browser;
  const transports: TestTransport[] = [];

  before(async () => {
    redis = await startRedis();
    [servers, browser] = await Promise.all([
      Promise.all([0, 1, 2].map(() => spawnRedisInstance(redis.url, instanceArgs))),
      web.launchBrowser(),
    ]);
    // Bun's HPACK encoder ignores nginx's table size 0: see NginxOptions.grpcKeepalive.
    const grpcKeepalive = runtimeUnderTest !== "bun";
    nginx = await startNginx({ upstreams: upstreamsOf(servers), grpcKeepalive });
  });
  after(async () => {
    // Which instance served each call, and nginx's view of every failure.
    if (nginx !== undefined) {
      await mkdir(web.artifactsDir, { recursive: true });
      await writeFile(join(web.artifactsDir, "redis-balancer-nginx.log"), nginx.log());
    }
    await cleanUpAll(
      () => {
        for (const t of transports) t.close();
      },
      () => browser?.close(),
      () => nginx?.stop(),
      () =>
        closeEach(
          servers.filter((s) => !killed.has(s)),
          (s) => s.close(),
        ),
      () => redis?.stop(),
    );
  });

  /** A connect-node client through nginx: HTTP/1.1 kinds on its HTTP/1.1 port, the rest on h2c. */
  function chat(kind: TransportKind) {
    const transport = createTestTransport(isH1(kind) ? nginx.httpUrl : nginx.grpcUrl, kind);
    transports.push(transport);
    return createClient(ChatService, transport.transport);
  }

  /** A bidi Chat through nginx's grpc_pass that subscribes to `room` and records the seqs it gets. */
  function openChat(room: string) {
    const done = new AbortController();
    const seqs: bigint[] = [];
    const requests = (async function* () {
      yield { kind: { case: "subscribe" as const, value: { room } } };
      await new Promise((r) => done.signal.addEventListener("abort", r));
    })();
    void (async () => {
      for await (const { kind } of chat("grpc").chat(requests, { signal: done.signal })) {
        if (kind.case === "event" && kind.value.kind.case === "message") {
          seqs.push(kind.value.kind.value.seq);
        }
      }
    })().catch(() => {});
    return { seqs, close: () => done.abort() };
  }

  it("spreads subscriptions of every protocol over the instances, and all see one order", async () => {
    const room = "balanced";
    const before = await streamsPerInstance(servers);
    const kinds: TransportKind[] = ["grpc", "grpc", "grpc", "connect-h2", "grpcweb-h2"];
    kinds.push("connect-h1", "connect-h1", "grpcweb-h1", "grpcweb-h1");
    const watchers = kinds.map((kind) =>
      watchRoom({ baseUrl: isH1(kind) ? nginx.httpUrl : nginx.grpcUrl, kind, room }),
    );
    const grpcJs = createGrpcJsClients(nginx.grpcPort);
    const jsCalls = [0, 1].map(() =>
      grpcJs.chat.Subscribe({ room, after_seq: 0 }, { deadline: Date.now() + 60_000 }),
    );
    const jsLogs = jsCalls.map((call) => collectStream(call));
    const bidi = openChat(room);
    try {
      await eventually(() => watchers.every((w) => w.ready), 10_000, "every watcher ready");
      await Promise.all(jsLogs.map((log) => log.waitFor(1, 10_000)));
      const total = kinds.length + jsLogs.length + 1;
      let spread: number[] = [];
      await eventually(
        async () => {
          spread = (await streamsPerInstance(servers)).map((n, i) => n - (before[i] ?? 0));
          return sum(spread) === total;
        },
        10_000,
        `${total} streams open`,
      );
      // Round robin: each instance took about a third of them.
      assert.ok(
        spread.every((n) => n >= 2),
        `Subscribe and Chat streams per instance: ${spread}`,
      );

      const senders = [chat("grpc"), chat("connect-h1"), chat("grpcweb-h1"), chat("connect-h2")];
      const sent = await Promise.all(
        Array.from({ length: 30 }, async (_, i) => {
          const text = `m${i}`;
          if (i % 5 === 4) await unary(grpcJs.chat, "Send", { room, sender: "js", text });
          else await senders[i % 4]?.send({ room, sender: `s${i % 4}`, text });
          return text;
        }),
      );
      await eventually(() => watchers.every((w) => w.messages.length >= 30), 10_000, "30 each");
      await eventually(() => bidi.seqs.length >= 30, 10_000, "30 on the bidi stream");
      await Promise.all(jsLogs.map((log) => log.waitFor(31, 10_000)));
      const order = watchers[0]?.messages ?? [];
      for (const w of watchers) {
        assert.deepEqual(watcherSeqs(w), range(30), "seqs 1..30, no gap, no duplicate");
        assert.deepEqual(w.messages, order, "one order everywhere");
      }
      for (const log of jsLogs) {
        const seen = log.messages
          .filter((m: Msg) => m.event.kind === "message")
          .map((m: Msg) => `${m.event.message.seq}:${m.event.message.text}`);
        assert.deepEqual(seen, order, "grpc-js sees the same order");
      }
      assert.deepEqual(bidi.seqs, range(30));
      assert.deepEqual(order.map((m) => m.slice(m.indexOf(":") + 1)).sort(), sent.sort());
    } finally {
      for (const w of watchers) w.stop();
      for (const call of jsCalls) call.cancel();
      bidi.close();
      grpcJs.close();
    }
  });

  it("serves the page through nginx, and pages and a gRPC client talk through it", async () => {
    const room = "browser";
    const grpcWatcher = watchRoom({ baseUrl: nginx.grpcUrl, kind: "grpc", room });
    const grpc = chat("grpc");
    const pia = await web.newPage(browser);
    const gil = await web.newPage(browser);
    try {
      await web.joinByUrl(pia, nginx.httpUrl, { name: "pia", room });
      await web.joinByUrl(gil, nginx.httpUrl, { name: "gil", room, protocol: "grpc-web" });
      await eventually(() => grpcWatcher.ready, 10_000, "the gRPC watcher ready");
      await grpc.send({ room, sender: "grpc", text: "from grpc" });
      await web.waitForMessage(pia, "from grpc");
      await web.waitForMessage(gil, "from grpc");
      await web.say(pia, "from pia");
      await web.waitForMessage(gil, "from pia");
      await web.say(gil, "from gil");
      await web.waitForMessage(pia, "from gil");

      const texts = (await fullHistory(grpc, room)).map((m) => m.text);
      assert.deepEqual(texts, ["from grpc", "from pia", "from gil"]);
      await eventually(() => grpcWatcher.messages.length === 3, 5000, "the pages' messages");
      assert.deepEqual(
        grpcWatcher.messages.map((m) => m.slice(m.indexOf(":") + 1)),
        texts,
      );
      assert.deepEqual(await web.messageTexts(pia), texts);
      assert.deepEqual(await web.messageTexts(gil), texts);
      // Presence across instances, as each page's instance reports it.
      await pia.locator("#members li", { hasText: "gil" }).waitFor();
      await gil.locator("#members li", { hasText: "pia" }).waitFor();
      // The page itself came through the HTTP/1.1 port.
      assert.match(nginx.log(), new RegExp(`^[0-9.]+ ${nginx.httpPort} GET / 200 upstream=`, "m"));
    } finally {
      grpcWatcher.stop();
      await pia.context().close();
      await gil.context().close();
    }
  });

  /** A resuming client (clients/shared/room-session.ts) through nginx, noting each stream it lost. */
  function openSession(kind: TransportKind, room: string, name: string) {
    const session = createRoomSession({
      client: chat(kind),
      room,
      name,
      history: 500,
      backoff: { initialMs: 100, maxMs: 1000 },
    });
    const errors: string[] = [];
    session.on("error", (e) => errors.push(`${Code[e.code]}: ${e.rawMessage}`));
    return { session, errors, on: -1 };
  }

  /**
   * Opens sessions one at a time, one per protocol and then more until one
   * has landed on instance `victim`, and notes where each landed.
   */
  async function placeSessions(room: string, victim: number) {
    const kinds: TransportKind[] = ["grpc", "connect-h1", "grpcweb-h1", "connect-h2"];
    kinds.push("grpcweb-h2");
    const placed: ReturnType<typeof openSession>[] = [];
    for (let i = 0; i < kinds.length || !placed.some((s) => s.on === victim); i++) {
      assert.ok(i < 10, "no session landed on the page's instance");
      const kind = kinds[i % kinds.length] as TransportKind;
      let opened: ReturnType<typeof openSession> | undefined;
      // Opened inside `landing`: a session subscribes as soon as it exists.
      const on = await landing(servers, async () => {
        opened = openSession(kind, room, `${kind}-${i}`);
        placed.push(opened);
        await eventually(() => opened?.session.state === "live", 10_000, `${kind} session live`);
      });
      if (opened) opened.on = on;
    }
    return placed;
  }

  it("resumes a SIGKILLed instance's clients through nginx on another, each message exactly once", async () => {
    const room = "killed";
    // `landing` tells instances apart by their count of open streams: wait
    // until the earlier tests' streams have all closed.
    await eventually(
      async () => sum(await streamsPerInstance(servers)) === 0,
      10_000,
      "the earlier tests' streams closed",
    );
    const page = await web.newPage(browser);
    const sessions: ReturnType<typeof openSession>[] = [];
    try {
      const victim = await landing(servers, () =>
        web.joinByUrl(page, nginx.httpUrl, { name: "pia", room }),
      );
      const bannerStates = await recordBannerStates(page);
      sessions.push(...(await placeSessions(room, victim)));

      const senders = (["grpc", "connect-h1", "grpcweb-h1"] as const).map((kind, i) =>
        startSender(chat(kind), room, `k${i}`),
      );
      const acks = () => new Map(senders.flatMap((s) => [...s.acks]));
      await eventually(() => acks().size >= 30, 10_000, "sends before the kill");
      const doomed = servers[victim] as SubprocessServer;
      killed.add(doomed);
      await doomed.stop("SIGKILL");
      const ackedAtKill = acks().size;
      await web.say(page, "typed after the kill");
      await eventually(() => acks().size >= ackedAtKill + 60, 15_000, "sends after the kill");
      await Promise.all(senders.map((s) => s.stop()));
      await web.waitForMessage(page, "typed after the kill", 15_000);
      await page.locator("#pending li").waitFor({ state: "detached" });

      const history = await assertAcknowledgedOnce(chat("grpc"), room, acks(), 1);
      const n = history.length;
      const texts = history.map((m) => m.text);
      for (const { session, on, errors } of sessions) {
        await eventually(() => session.lastSeq === BigInt(n), 15_000, `a session at seq ${n}`);
        assert.deepEqual(
          session.messages.map((m) => `${m.seq}:${m.text}`),
          history.map((m) => `${m.seq}:${m.text}`),
          "a session: 1..N exactly once",
        );
        // Cut and resumed if it was on the victim; undisturbed otherwise.
        if (on === victim) assert.ok(errors.length > 0, "a session on the victim lost its stream");
        else assert.deepEqual(errors, [], "a session elsewhere lost nothing");
      }
      await eventually(async () => (await web.messageTexts(page)).length >= n, 15_000, "the page");
      assert.deepEqual(
        await web.messageTexts(page),
        texts,
        "the page: every message once, in order",
      );
      assert.equal(await page.locator("#messages li.notice").count(), 0, "no gap, no reset");
      const states = await bannerStates();
      assert.ok(states.includes("reconnecting"), `the page noticed: ${states}`);
      assert.equal(states.at(-1), "live");
      // Every stream now lives on the survivors.
      const survivors = servers.filter((s) => s !== doomed);
      await eventually(
        async () => sum(await streamsPerInstance(survivors)) === sessions.length + 1,
        5000,
        "every stream on the survivors",
      );

      const retries = senders.flatMap((s) => s.retries);
      process.stderr.write(
        `# ${sessions.filter((s) => s.on === victim).length + 1} of ${sessions.length + 1} ` +
          `subscribers were on the killed instance; ${n} messages; ${retries.length} send(s) ` +
          `retried: ${[...new Set(retries)].join("; ")}\n`,
      );
    } finally {
      for (const { session } of sessions) session.close();
      await page.context().close();
    }
  });
});
