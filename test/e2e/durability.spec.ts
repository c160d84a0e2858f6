/**
 * "Acknowledged means durable": whatever Send or SendNote acknowledged is
 * there after the server process is killed with SIGKILL (no shutdown hook
 * runs) and started again on the same data directory. Part of the runtime
 * matrix: each runtime's SQLite driver is crashed.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ChatService } from "../../src/gen/chat/v1/chat_pb.ts";
import { ChatServer } from "../../src/gen/grpc/chat_pb.ts";
import { runtimeUnderTest } from "../runtimes/runtime-under-test.ts";
import { spawnServer } from "../support/subprocess-server.ts";
import { makeTestDir } from "../support/temp-dir.ts";
import { fullHistory } from "./support/history.ts";

// Under the repository's .data/: the only place Deno's start task may write.
const dataDir = makeTestDir(`durability-${runtimeUnderTest}`);
after(() => rmSync(dataDir, { recursive: true, force: true }));

function clients(url: string) {
  const transport = createGrpcTransport({ baseUrl: url });
  return { chat: createClient(ChatService, transport), seed: createClient(ChatServer, transport) };
}

describe(`a server killed with SIGKILL (${runtimeUnderTest})`, () => {
  it("keeps every acknowledged message, and the idempotency of client ids", async () => {
    const start = () => spawnServer(runtimeUnderTest, [], { dataDir });
    const first = await start();
    const acked: bigint[] = [];
    let notes = 0;
    try {
      const { chat, seed } = clients(first.url);
      // Concurrent senders, so that acknowledgements come out of group commits.
      await Promise.all(
        Array.from({ length: 8 }, async (_, s) => {
          for (let i = 0; i < 40; i++) {
            const res = await chat.send({
              room: "durable",
              sender: `s${s}`,
              text: `${s}/${i}`,
              clientId: `s${s}-${i}`,
            });
            acked.push(res.seq);
          }
        }),
      );
      for (let i = 0; i < 20; i++) {
        await seed.sendNote({ name: "py", message: `note ${i}` });
        notes++;
      }
      // Kill right after the last acknowledgement: no close(), no checkpoint.
    } finally {
      const { signal } = await first.stop("SIGKILL");
      assert.equal(signal, "SIGKILL");
    }

    const second = await start();
    try {
      const { chat, seed } = clients(second.url);
      const stored = await fullHistory(chat, "durable");
      assert.deepEqual(
        stored.map((m) => m.seq),
        [...acked].sort((a, b) => (a < b ? -1 : 1)),
      );
      assert.equal(new Set(stored.map((m) => m.clientId)).size, 320);
      const lobby = await fullHistory(chat, "lobby");
      assert.deepEqual(
        lobby.map((m) => m.text),
        Array.from({ length: notes }, (_, i) => `note ${i}`),
      );
      // A retry after the crash is still recognised as one.
      const retry = await chat.send({
        room: "durable",
        sender: "s0",
        text: "0/0",
        clientId: "s0-0",
      });
      assert.equal(retry.duplicate, true);
      assert.equal(retry.seq, stored.find((m) => m.clientId === "s0-0")?.seq);
      // And new messages continue the sequence.
      const next = await chat.send({ room: "durable", sender: "x", text: "after" });
      assert.equal(next.seq, 321n);
      // The seed's client sees the retained notes replayed, as the seed did.
      const replay = new AbortController();
      const seen: string[] = [];
      for await (const note of seed.chatStream({}, { signal: replay.signal })) {
        seen.push(note.message);
        if (seen.length === notes) break;
      }
      replay.abort();
      assert.deepEqual(
        seen,
        Array.from({ length: notes }, (_, i) => `note ${i}`),
      );
    } catch (e) {
      if (!(e instanceof Error && e.name === "AbortError") && !String(e).includes("canceled"))
        throw e;
    } finally {
      await second.stop("SIGTERM");
    }
  });
});
