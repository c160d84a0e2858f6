/**
 * The chaos test of issue 10: three instances on one Redis (AOF, `appendfsync
 * always`) while senders send and subscribers follow, and meanwhile an
 * instance is SIGKILLed (and replaced), Redis is SIGKILLed and restarted, and
 * client connections are cut, at random and all at once. Clients behave as
 * the issue asks real ones to: a send is retried with the same client id
 * until acknowledged (on another instance when its own is gone), a
 * subscriber resumes with after_seq + epoch on any live instance. Afterwards
 * every subscriber must hold seqs 1..N exactly once, and every acknowledged
 * message must be in the history exactly once, at its acknowledged seq.
 *
 * Each instance sits behind a chaos proxy (test/e2e/support/chaos-proxy.ts):
 * cutting connections is then one call, and the replacement of a killed
 * instance takes its place behind the same address.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createRoomSession, type RoomSession } from "../../clients/shared/room-session.ts";
import {
  ChatService,
  type Event,
  type Message,
  type SendResponse,
} from "../../src/gen/chat/v1/chat_pb.ts";
import { runtimeUnderTest } from "../runtimes/runtime-under-test.ts";
import { cleanUpAll, closeEach } from "../support/clean-up.ts";
import { type RedisProcess, startRedis } from "../support/redis.ts";
import { eventually } from "../support/server.ts";
import type { SubprocessServer } from "../support/subprocess-server.ts";
import {
  createTestTransport,
  type TestTransport,
  type TransportKind,
} from "../support/transports.ts";
import { type ChaosProxy, startChaosProxy } from "./support/chaos-proxy.ts";
import { assertEachAckOnce, fullHistory } from "./support/history.ts";
import { spawnRedisInstance } from "./support/redis-instance.ts";

const room = "chaos";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const line = (m: Message) => `${m.seq}:${m.text}`;

/** No heartbeats: a stream that stops delivering is then a failure, not papered over. */
const instanceArgs = ["--heartbeat-interval", "0"];

/** Errors that chaos causes and a retry (same client id, maybe elsewhere) cures. */
const retryable = new Set([
  Code.Unavailable,
  Code.Internal,
  Code.Unknown,
  Code.Aborted,
  Code.Canceled,
  Code.DeadlineExceeded,
]);

/** A transport of `kind` to each address, made on first use; `get(i)` wraps around. */
function transportsTo(urls: string[], kind: TransportKind) {
  const made = new Map<number, TestTransport>();
  return {
    get(i: number): Transport {
      const index = i % urls.length;
      let t = made.get(index);
      if (t === undefined) {
        t = createTestTransport(urls[index] as string, kind);
        made.set(index, t);
      }
      return t.transport;
    },
    close() {
      for (const t of made.values()) t.close();
    },
  };
}

/** A transport that takes the next address for each call, so that a RoomSession resumes elsewhere. */
function roundRobin(urls: string[], kind: TransportKind) {
  const transports = transportsTo(urls, kind);
  let next = 0;
  const transport: Transport = {
    unary: (...args) => transports.get(next++).unary(...args),
    stream: (...args) => transports.get(next++).stream(...args),
  };
  return { transport, close: () => transports.close() };
}

/** What a sender tells: every acknowledgement by client id, and the retries it took. */
interface Sender {
  readonly acks: Map<string, bigint>;
  readonly retries: Map<string, number>;
  readonly duplicates: number;
  stop(): Promise<void>;
}

/**
 * Calls `sendOne(i)` for i = 0, 1, ... until stopped and records each
 * acknowledgement; `retries` is for `sendOne` to count its retries in.
 */
function startSending(
  sendOne: (i: number) => Promise<SendResponse>,
  retries = new Map<string, number>(),
  cleanup = () => {},
): Sender {
  const acks = new Map<string, bigint>();
  let duplicates = 0;
  let stopping = false;
  const done = (async () => {
    for (let i = 0; !stopping; i++) {
      const ack = await sendOne(i);
      acks.set(ack.clientId, ack.seq);
      // The retry of a send that was stored but whose acknowledgement was lost.
      if (ack.duplicate) duplicates++;
      await sleep(20);
    }
  })().finally(cleanup);
  return {
    acks,
    retries,
    get duplicates() {
      return duplicates;
    },
    async stop() {
      stopping = true;
      await done;
    },
  };
}

/**
 * Sends `s<n>-<i>`, retrying a failed send with the SAME client id on the
 * next instance until acknowledged (20 s at most).
 */
function startSender(n: number, urls: string[], kind: TransportKind): Sender {
  const transports = transportsTo(urls, kind);
  const retries = new Map<string, number>();
  let at = n;
  const sendOne = async (i: number) => {
    const request = { room, sender: `s${n}`, text: `s${n}-${i}`, clientId: `s${n}-${i}` };
    const deadline = Date.now() + 20_000;
    for (let attempt = 0; ; attempt++) {
      try {
        const client = createClient(ChatService, transports.get(at));
        return await client.send(request, { timeoutMs: 2000 });
      } catch (e) {
        const error = ConnectError.from(e);
        if (!retryable.has(error.code) || Date.now() > deadline) throw error;
        const code = Code[error.code];
        retries.set(code, (retries.get(code) ?? 0) + 1);
        at++;
        await sleep(Math.min(500, 20 * 2 ** attempt));
      }
    }
  };
  return startSending(sendOne, retries, () => transports.close());
}

/**
 * A subscriber that resumes (after_seq + epoch) on the next instance whenever
 * its stream breaks, with backoff, and notes every seq out of order, every
 * gap or reset: none may happen.
 */
function startSubscriber(n: number, urls: string[], kind: TransportKind) {
  const transports = transportsTo(urls, kind);
  const state = { kind, messages: [] as Message[], epoch: "", attempts: 0, live: false };
  const violations: string[] = [];
  const stop = new AbortController();
  const lastSeq = () => state.messages.at(-1)?.seq ?? 0n;
  function record(event: Event | undefined): void {
    const kind = event?.kind;
    if (kind?.case === "message") {
      if (kind.value.seq !== lastSeq() + 1n) {
        violations.push(`${state.kind}: seq ${kind.value.seq} after ${lastSeq()}`);
      }
      state.messages.push(kind.value);
    } else if (kind?.case === "ready") {
      state.epoch = kind.value.epoch;
      state.live = true;
    } else if (kind?.case === "gap" || kind?.case === "reset") {
      violations.push(`${state.kind}: ${kind.case}`);
    }
  }
  const done = (async () => {
    for (let failures = 0; !stop.signal.aborted; failures++) {
      state.attempts++;
      const client = createClient(ChatService, transports.get(n + state.attempts));
      const start = { case: "afterSeq" as const, value: lastSeq() };
      try {
        const stream = client.subscribe(
          { room, start, epoch: state.epoch },
          { signal: stop.signal },
        );
        for await (const res of stream) {
          failures = 0;
          record(res.event);
        }
      } catch {
        // Cut, killed or refused: resume elsewhere after a pause.
      }
      await sleep(Math.min(1000, 20 * 2 ** failures) * (0.5 + Math.random() / 2));
    }
  })().finally(() => transports.close());
  return {
    state,
    violations,
    lastSeq,
    async stop() {
      stop.abort();
      await done;
    },
  };
}

describe(`chaos on three instances and Redis (${runtimeUnderTest})`, () => {
  let redis: RedisProcess;
  /** `servers[i]` is the instance behind `proxies[i]`. */
  const servers: SubprocessServer[] = [];
  /** Every instance ever started, the killed and replaced ones included (their logs). */
  const everStarted: SubprocessServer[] = [];
  const killed = new Set<SubprocessServer>();
  const proxies: ChaosProxy[] = [];
  const cleanups: (() => unknown)[] = [];

  before(async () => {
    redis = await startRedis({ appendfsync: "always" });
    servers.push(
      ...(await Promise.all([0, 1, 2].map(() => spawnRedisInstance(redis.url, instanceArgs)))),
    );
    everStarted.push(...servers);
    proxies.push(...(await Promise.all(servers.map((s) => startChaosProxy(s.port)))));
  });
  after(() =>
    cleanUpAll(
      ...cleanups,
      () => closeEach(proxies, (p) => p.close()),
      () =>
        closeEach(
          servers.filter((s) => !killed.has(s)),
          (s) => s.close(),
        ),
      () => redis?.stop(),
    ),
  );

  /**
   * The chaos itself, paced by acknowledgements (not by the clock) so that a
   * slow machine gets as much traffic through each phase as a fast one:
   * random cuts throughout; every connection cut; an instance SIGKILLed and
   * replaced; Redis SIGKILLed, every connection cut while it is down, and
   * Redis restarted from its AOF; then an instance and Redis SIGKILLed together.
   */
  async function unleash(acked: () => number): Promise<void> {
    const kill = (i: number) => {
      killed.add(servers[i] as SubprocessServer);
      return servers[i]?.stop("SIGKILL");
    };
    /** A new instance behind proxy `i`, where clients that knew the old one find it. */
    const replace = async (i: number) => {
      servers[i] = await spawnRedisInstance(redis.url, instanceArgs);
      everStarted.push(servers[i]);
      (proxies[i] as ChaosProxy).targetPort = servers[i].port;
    };
    const progress = async (count: number, what: string) => {
      const target = acked() + count;
      await eventually(() => acked() >= target, 20_000, `${count} more acknowledgements ${what}`);
    };
    let cutting = true;
    const cutter = (async () => {
      while (cutting) {
        await sleep(100 + Math.random() * 300);
        proxies[Math.floor(Math.random() * proxies.length)]?.cutOne();
      }
    })();
    try {
      await progress(100, "to begin with");
      for (const p of proxies) p.cutAll();
      await progress(100, "after every connection was cut");

      await kill(1);
      await replace(1);
      await progress(100, "after an instance was killed and replaced");

      await redis.kill("SIGKILL");
      await sleep(300);
      for (const p of proxies) p.cutAll();
      await sleep(700);
      await redis.restart();
      await progress(150, "after Redis restarted");

      // Both at once: an instance dies while Redis is down, and its
      // replacement starts once Redis is back.
      await Promise.all([redis.kill("SIGKILL"), kill(0)]);
      await sleep(500);
      await redis.restart();
      await replace(0);
      await progress(150, "after both");
    } finally {
      cutting = false;
      await cutter;
    }
  }

  it("loses nothing acknowledged and delivers 1..N exactly once to every subscriber", async () => {
    const urls = proxies.map((p) => p.url);
    const kinds: TransportKind[] = ["grpc", "connect-h1", "grpcweb-h1", "connect-h2", "grpcweb-h2"];
    const subscribers = [...kinds, "grpc" as const].map((kind, n) =>
      startSubscriber(n, urls, kind),
    );
    cleanups.push(() => Promise.all(subscribers.map((s) => s.stop())));
    // The shared client too (clients/shared/room-session.ts), resuming on the next instance.
    const sessions: RoomSession[] = (["grpc", "connect-h1"] as const).map((kind, n) => {
      const { transport, close } = roundRobin(urls, kind);
      const session = createRoomSession({
        client: createClient(ChatService, transport),
        room,
        name: `session-${n}`,
        history: 500,
        backoff: { initialMs: 50, maxMs: 1000 },
      });
      cleanups.push(() => session.close(), close);
      return session;
    });
    await eventually(
      () => subscribers.every((s) => s.state.live) && sessions.every((s) => s.state === "live"),
      15_000,
      "every subscriber live",
    );

    const senderKinds: TransportKind[] = ["grpc", "connect-h1", "grpcweb-h2"];
    const senders = senderKinds.map((kind, n) => startSender(n, urls, kind));
    // The session retries by itself, with the client id it chose.
    senders.push(startSending((i) => (sessions[0] as RoomSession).send(`session-${i}`)));
    const acked = () => senders.reduce((sum, s) => sum + s.acks.size, 0);
    const started = Date.now();
    try {
      await unleash(acked);
    } catch (e) {
      // A session's send is retried until the session closes: without this,
      // stopping would wait for a Redis that may never come back.
      for (const s of sessions) s.close();
      await Promise.allSettled(senders.map((s) => s.stop()));
      throw e;
    }
    await Promise.all(senders.map((s) => s.stop()));
    const chaosSeconds = (Date.now() - started) / 1000;

    const { transport } = createTestTransport(servers[0]?.url ?? "", "connect-h1");
    const history = await assertEachAckOnce(
      createClient(ChatService, transport),
      room,
      senders.flatMap((s) => [...s.acks]),
    );
    const n = history.length;
    assert.equal(
      n,
      acked(),
      "nothing stored unacknowledged: each send was retried until acknowledged",
    );
    for (const server of servers.slice(1)) {
      const other = createTestTransport(server.url, "connect-h1").transport;
      assert.deepEqual(
        await fullHistory(createClient(ChatService, other), room),
        history,
        "one history",
      );
    }

    const positions = () => [
      ...subscribers.map((s) => s.lastSeq()),
      ...sessions.map((s) => s.lastSeq),
    ];
    await eventually(
      () => positions().every((seq) => seq >= n),
      20_000,
      `every subscriber at seq ${n}`,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; they are at ${positions().join(", ")}`);
    });
    const expected = history.map(line);
    for (const s of subscribers) {
      assert.deepEqual(s.violations, [], "no seq out of order, no gap, no reset");
      assert.deepEqual(
        s.state.messages.map(line),
        expected,
        `${s.state.kind}: as GetHistory has it`,
      );
    }
    for (const s of sessions) {
      assert.deepEqual(s.messages.map(line), expected, "a RoomSession: as GetHistory has it");
    }
    // Chaos is the clients' weather, not a server fault: a lost connection
    // or Redis maps to a status, never to an error the operator must chase.
    assert.deepEqual(
      everStarted.flatMap((server) =>
        server.log.filter((l) => l.level >= 50).map((l) => `${server.port}: ${l.msg}`),
      ),
      [],
      "no instance logged an error",
    );

    const retries: Record<string, number> = {};
    for (const [code, k] of senders.flatMap((s) => [...s.retries]))
      retries[code] = (retries[code] ?? 0) + k;
    process.stderr.write(
      `# ${n} messages in ${chaosSeconds.toFixed(1)} s of chaos; ` +
        `${proxies.reduce((k, p) => k + p.cuts, 0)} connections cut; send retries ${JSON.stringify(retries)}, ` +
        `${senders.reduce((k, s) => k + s.duplicates, 0)} acknowledged as duplicates; ` +
        `subscriber resumes ${subscribers.map((s) => s.state.attempts - 1).join(", ")}\n`,
    );
  });
});
