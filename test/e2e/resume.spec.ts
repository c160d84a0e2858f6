/**
 * Resume after reconnect: a subscriber that comes back with the last seq it
 * saw (and the epoch of that history) gets exactly what it missed, then the
 * live messages: no gap, no duplicate, in order, on every protocol. When its
 * position belongs to a history that no longer exists it is told so.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { ChatService, type Event } from "../../src/gen/chat/v1/chat_pb.ts";
import { openSqliteStore } from "../../src/stores/sqlite/open-store.ts";
import { eventually, startServer } from "../support/server.ts";
import {
  allTransportKinds,
  createTestTransport,
  type TransportKind,
} from "../support/transports.ts";
import { startChaosProxy } from "./support/chaos-proxy.ts";

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "chat-resume-"));
  dirs.push(dir);
  return dir;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A subscriber that reconnects whenever its stream breaks, resuming after
 * the last seq it holds, and records every violation of "each message
 * exactly once, in order".
 */
function resumingSubscriber(url: string, kind: TransportKind, room: string, until: bigint) {
  const state = {
    kind,
    seqs: [] as bigint[],
    texts: [] as string[],
    attempts: 0,
    violations: [] as string[],
    epoch: "",
    done: undefined as Promise<void> | undefined,
  };
  const stop = new AbortController();
  state.done = (async () => {
    while (!stop.signal.aborted && (state.seqs.at(-1) ?? 0n) < until) {
      state.attempts++;
      const { transport, close } = createTestTransport(url, kind);
      const client = createClient(ChatService, transport);
      const call = new AbortController();
      const onStop = () => call.abort();
      stop.signal.addEventListener("abort", onStop);
      try {
        const last = state.seqs.at(-1) ?? 0n;
        const stream = client.subscribe(
          { room, start: { case: "afterSeq", value: last }, epoch: state.epoch },
          { signal: call.signal },
        );
        for await (const res of stream) {
          record(res.event);
          if ((state.seqs.at(-1) ?? 0n) >= until) break;
        }
      } catch {
        // The connection was cut: come back after a short pause.
        await sleep(5 + Math.random() * 30);
      } finally {
        call.abort();
        stop.signal.removeEventListener("abort", onStop);
        close();
      }
    }
  })();
  function record(event: Event | undefined): void {
    const kind = event?.kind;
    if (kind?.case === "message") {
      const expected = (state.seqs.at(-1) ?? 0n) + 1n;
      if (kind.value.seq !== expected) {
        state.violations.push(`got seq ${kind.value.seq}, expected ${expected}`);
      }
      state.seqs.push(kind.value.seq);
      state.texts.push(kind.value.text);
    } else if (kind?.case === "ready") {
      state.epoch = kind.value.epoch;
    } else if (kind?.case === "gap" || kind?.case === "reset") {
      state.violations.push(`unexpected ${kind.case}`);
    }
  }
  return { state, stop: () => stop.abort() };
}

describe("resume after reconnect", () => {
  it("chaos: connections cut at random while several senders send; every subscriber ends with the full sequence", async (t) => {
    const store = await openSqliteStore({ dataDir: tempDir() });
    const server = await startServer({ store });
    const proxy = await startChaosProxy(server.port);
    const room = "chaos";
    const senders = 3;
    const perSender = 100;
    const total = BigInt(senders * perSender);
    const subscribers = allTransportKinds.flatMap((kind) =>
      [1, 2].map(() => resumingSubscriber(proxy.url, kind, room, total)),
    );
    let chaos: ReturnType<typeof setTimeout> | undefined;
    const unleash = () => {
      chaos = setTimeout(
        () => {
          proxy.cutOne();
          unleash();
        },
        10 + Math.random() * 60,
      );
    };
    try {
      await eventually(
        () => server.rooms.subscriberCount(room) === subscribers.length,
        10_000,
        "every subscriber connected",
      );
      unleash();
      let retries = 0;
      const sender = async (s: number) => {
        const { transport, close } = createTestTransport(proxy.url, s % 2 ? "connect-h1" : "grpc");
        const client = createClient(ChatService, transport);
        try {
          for (let i = 0; i < perSender; i++) {
            const request = { room, sender: `s${s}`, text: `${s}:${i}`, clientId: `${s}-${i}` };
            // Retry with the same client id until acknowledged: a send whose
            // ack was lost in a cut must not be stored twice.
            for (;;) {
              try {
                await client.send(request, { timeoutMs: 3000 });
                break;
              } catch {
                retries++;
                await sleep(5);
              }
            }
            if (i === perSender / 2) proxy.cutAll();
          }
        } finally {
          close();
        }
      };
      await Promise.all(Array.from({ length: senders }, (_, s) => sender(s)));
      clearTimeout(chaos);
      let stuck: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all(subscribers.map((s) => s.state.done)),
        new Promise((_, reject) => {
          stuck = setTimeout(() => {
            const at = subscribers.map((s) => `${s.state.kind}:${s.state.seqs.length}`);
            reject(new Error(`subscribers stuck at ${at.join(", ")}`));
          }, 30_000);
        }),
      ]).finally(() => clearTimeout(stuck));
      t.diagnostic(
        `${proxy.cuts} connections cut, ${retries} send retries, reconnects per subscriber: ${subscribers.map((s) => s.state.attempts - 1).join(" ")}`,
      );

      const expected = Array.from({ length: Number(total) }, (_, i) => BigInt(i + 1));
      const sentTexts = Array.from({ length: senders }, (_, s) =>
        Array.from({ length: perSender }, (_, i) => `${s}:${i}`),
      ).flat();
      for (const { state } of subscribers) {
        assert.deepEqual(state.violations, [], state.kind);
        assert.deepEqual(state.seqs, expected, state.kind);
        assert.deepEqual([...state.texts].sort(), [...sentTexts].sort(), state.kind);
        assert.ok(state.attempts >= 2, `${state.kind} was cut at least once`);
      }
      assert.equal((await store.bounds(room)).headSeq, total, "no message stored twice");
    } finally {
      clearTimeout(chaos);
      for (const s of subscribers) s.stop();
      await Promise.allSettled(subscribers.map((s) => s.state.done));
      await proxy.close();
      await server.close();
    }
  });

  for (const kind of allTransportKinds) {
    it(`picks up exactly where it left off after a server restart with a durable store (${kind})`, async () => {
      const dataDir = tempDir();
      let server = await startServer({ store: await openSqliteStore({ dataDir }) });
      const proxy = await startChaosProxy(server.port);
      const room = "restart";
      try {
        for (let i = 1; i <= 3; i++) {
          await server.rooms.send({ room, sender: "a", text: `before ${i}`, clientId: "" });
        }
        const sub = resumingSubscriber(proxy.url, kind, room, 6n);
        await eventually(() => sub.state.seqs.length === 3, 5000, "the first three");
        const epoch = sub.state.epoch;
        await server.close();
        proxy.cutAll();
        server = await startServer({ store: await openSqliteStore({ dataDir }) });
        proxy.targetPort = server.port;
        for (let i = 4; i <= 6; i++) {
          await server.rooms.send({ room, sender: "a", text: `after ${i}`, clientId: "" });
        }
        await sub.state.done;
        assert.deepEqual(sub.state.violations, []);
        assert.deepEqual(sub.state.texts, [
          "before 1",
          "before 2",
          "before 3",
          "after 4",
          "after 5",
          "after 6",
        ]);
        assert.equal(sub.state.epoch, epoch, "the same history");
      } finally {
        await proxy.close();
        await server.close();
      }
    });
  }

  it("is told with HistoryReset when the history it resumes from is gone", async () => {
    const first = await startServer();
    const before = createTestTransport(first.url, "connect-h1");
    let oldEpoch: string;
    try {
      const client = createClient(ChatService, before.transport);
      await client.send({ room: "r", sender: "a", text: "old 1" });
      await client.send({ room: "r", sender: "a", text: "old 2" });
      oldEpoch = await readyEpoch(client);
    } finally {
      before.close();
      await first.close();
    }
    // An in-memory server starts again with an empty history and a new epoch.
    const second = await startServer();
    const { transport, close } = createTestTransport(second.url, "connect-h1");
    try {
      const client = createClient(ChatService, transport);
      await client.send({ room: "r", sender: "a", text: "new 1" });
      const events = await take(client, { afterSeq: 2n, epoch: oldEpoch }, 3);
      const newEpoch = await readyEpoch(client);
      assert.notEqual(newEpoch, oldEpoch);
      assert.deepEqual(events, [`reset ${newEpoch}`, "message 1 new 1", "ready 1"]);
      // Without the epoch, the same position is just impossible.
      const err = await take(client, { afterSeq: 2n, epoch: "" }, 1).catch((e: unknown) => e);
      assert.equal(ConnectError.from(err).code, Code.OutOfRange);
    } finally {
      close();
      await second.close();
    }
  });
});

type ChatClient = ReturnType<typeof createClient<typeof ChatService>>;

async function readyEpoch(client: ChatClient): Promise<string> {
  const call = new AbortController();
  try {
    for await (const res of client.subscribe({ room: "r" }, { signal: call.signal })) {
      if (res.event?.kind.case === "ready") return res.event.kind.value.epoch;
    }
  } finally {
    call.abort();
  }
  throw new Error("no ready event");
}

async function take(
  client: ChatClient,
  from: { afterSeq: bigint; epoch: string },
  count: number,
): Promise<string[]> {
  const call = new AbortController();
  const out: string[] = [];
  try {
    const request = {
      room: "r",
      start: { case: "afterSeq", value: from.afterSeq } as const,
      epoch: from.epoch,
    };
    for await (const res of client.subscribe(request, { signal: call.signal })) {
      const k = res.event?.kind;
      if (k?.case === "reset") out.push(`reset ${k.value.epoch}`);
      else if (k?.case === "message") out.push(`message ${k.value.seq} ${k.value.text}`);
      else if (k?.case === "ready") out.push(`ready ${k.value.headSeq}`);
      else out.push(String(k?.case));
      if (out.length >= count) break;
    }
  } finally {
    call.abort();
  }
  return out;
}
