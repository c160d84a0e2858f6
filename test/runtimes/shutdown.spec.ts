/**
 * Graceful shutdown of `src/main.ts` on the runtime under test, with streams
 * of every protocol open: health turns NOT_SERVING, the streams end with
 * Unavailable telling the client to resume, new connections are refused
 * while the rest drains, the store is flushed (a restart on the same data
 * directory has every message) and the process exits 0.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { rmSync } from "node:fs";
import * as net from "node:net";
import { describe, it } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { ChatService } from "../../src/gen/chat/v1/chat_pb.ts";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../src/gen/grpc/health/v1/health_pb.ts";
import { eventually } from "../support/server.ts";
import { type SubprocessServer, spawnServer } from "../support/subprocess-server.ts";
import { makeTestDir } from "../support/temp-dir.ts";
import { allTransportKinds, createTestTransport } from "../support/transports.ts";
import { runtimeUnderTest } from "./runtime-under-test.ts";

const shutdownTimeoutMs = 3000;

function statusName(status: ServingStatus): string {
  return Object.entries(ServingStatus).find(([, v]) => v === status)?.[0] ?? String(status);
}

/** How a stream ended, and when (ms after the signal). */
interface Ending {
  code: string;
  message: string;
  afterMs: number;
}

/** Reads `stream` to its end; calls `onItem` for each response. */
async function ending(
  stream: AsyncIterable<unknown>,
  signalled: () => number,
  onItem: (item: unknown) => void = () => {},
): Promise<Ending> {
  try {
    for await (const item of stream) onItem(item);
    return { code: "OK", message: "", afterMs: performance.now() - signalled() };
  } catch (e) {
    const error = ConnectError.from(e);
    return {
      code: Code[error.code],
      message: error.rawMessage,
      afterMs: performance.now() - signalled(),
    };
  }
}

/** Resolves with the connect error code of a fresh TCP connection (ECONNREFUSED expected). */
/**
 * How a new connection fares. A connection that lands in the listen backlog
 * just as the listener closes is reset (seen on Bun): it was never served,
 * and the next attempt, made at once, shows the port closed.
 */
async function connectOutcome(port: number): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const outcome = await connectOnce(port);
    if (outcome !== "ECONNRESET" || attempt === 5) return outcome;
  }
}

function connectOnce(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

/**
 * A Subscribe on every transport kind (gRPC h2c, Connect and gRPC-Web over
 * HTTP/1.1 and h2c) and a health Watch, all open and read in the background.
 */
function openEveryStream(url: string, signalled: () => number) {
  const transports = allTransportKinds.map((kind) => ({ kind, ...createTestTransport(url, kind) }));
  const control = createTestTransport(url, "grpc");
  const statuses: string[] = [];
  const watch = ending(createClient(Health, control.transport).watch({}), signalled, (res) => {
    statuses.push(statusName((res as { status: ServingStatus }).status));
  });
  let ready = 0;
  const streams = transports.map(({ kind, transport }) =>
    ending(
      createClient(ChatService, transport).subscribe({
        room: "bye",
        start: { case: "afterSeq", value: 0n },
      }),
      signalled,
      (res) => {
        if ((res as { event?: { kind: { case: string } } }).event?.kind.case === "ready") ready++;
      },
    ).then((end) => ({ kind, ...end })),
  );
  return {
    statuses,
    watch,
    streams,
    allReady: () => ready === transports.length && statuses.length > 0,
    close: () => {
      for (const t of [...transports, control]) t.close();
    },
  };
}

/**
 * An HTTP/1.1 request whose body never completes: only the forced close ends
 * it, so the process is still draining after the streams have ended.
 */
async function stalledRequest(port: number): Promise<net.Socket> {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => {});
  await once(socket, "connect");
  socket.write(
    "POST /chat.v1.ChatService/Send HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
  );
  return socket;
}

/** Starts a server on the runtime under test, keeping its data in `dataDir`. */
function start(dataDir: string): Promise<SubprocessServer> {
  return spawnServer(runtimeUnderTest, ["--shutdown-timeout-ms", String(shutdownTimeoutMs)], {
    dataDir,
  });
}

describe(`graceful shutdown (${runtimeUnderTest})`, () => {
  it("on SIGTERM: health stops serving, every stream ends Unavailable, new connections are refused, the history is kept, exit 0", async () => {
    const dataDir = makeTestDir(`shutdown-${runtimeUnderTest}`);
    const server = await start(dataDir);
    let signalledAt = 0;
    const open = openEveryStream(server.url, () => signalledAt);
    let stalled: net.Socket | undefined;
    try {
      await createClient(ChatService, createTestTransport(server.url, "grpc").transport).send({
        room: "bye",
        sender: "ann",
        text: "before shutdown",
      });
      await eventually(open.allReady, 10_000, "every stream ready, the first health status");
      stalled = await stalledRequest(server.port);

      signalledAt = performance.now();
      const exit = server.stop("SIGTERM", shutdownTimeoutMs + 10_000);
      const ended = await Promise.all(open.streams);
      const refused = await connectOutcome(server.port);
      const stillDraining = server.child.exitCode === null;
      const { code } = await exit;
      const exitMs = performance.now() - signalledAt;

      // A watcher hears NOT_SERVING before its stream ends; a Check from then on
      // fails (next assertion: no new connection is accepted).
      assert.deepEqual(open.statuses, ["SERVING", "NOT_SERVING"]);
      assert.equal((await open.watch).code, "Unavailable");
      for (const end of ended) {
        assert.equal(end.code, "Unavailable", `${end.kind}: ${end.message}`);
        assert.match(end.message, /reconnect and resume/, end.kind);
        assert.ok(end.afterMs < shutdownTimeoutMs, `${end.kind} ended after ${end.afterMs} ms`);
      }
      assert.equal(refused, "ECONNREFUSED");
      assert.ok(stillDraining, "the process was still draining when the connection was refused");
      assert.equal(code, 0);
      assert.ok(exitMs < shutdownTimeoutMs + 5000, `exited ${exitMs} ms after SIGTERM`);
      assert.ok(
        server.log.some((l) => l.msg === "shutting down" && l.signal === "SIGTERM"),
        "logs the signal",
      );
      assert.deepEqual(
        server.log.filter((l) => l.level >= 40),
        [],
      );

      const again = await start(dataDir);
      try {
        const history = await createClient(
          ChatService,
          createTestTransport(again.url, "connect-h1").transport,
        ).getHistory({ room: "bye", limit: 10 });
        assert.deepEqual(
          history.messages.map((m) => m.text),
          ["before shutdown"],
        );
      } finally {
        await again.close();
      }
    } finally {
      open.close();
      stalled?.destroy();
      await server.stop("SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("on SIGINT: ends a stream with Unavailable and exits 0", async () => {
    const dataDir = makeTestDir(`sigint-${runtimeUnderTest}`);
    const server = await start(dataDir);
    const { transport, close } = createTestTransport(server.url, "grpc");
    let signalledAt = 0;
    try {
      let ready = false;
      const stream = ending(
        createClient(ChatService, transport).subscribe({
          room: "int",
          start: { case: "afterSeq", value: 0n },
        }),
        () => signalledAt,
        () => {
          ready = true;
        },
      );
      await eventually(() => ready, 10_000, "the stream ready");
      signalledAt = performance.now();
      const { code } = await server.stop("SIGINT", shutdownTimeoutMs + 10_000);
      const end = await stream;
      assert.equal(end.code, "Unavailable", end.message);
      assert.equal(code, 0);
      assert.ok(server.log.some((l) => l.msg === "shutting down" && l.signal === "SIGINT"));
    } finally {
      close();
      await server.stop("SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
