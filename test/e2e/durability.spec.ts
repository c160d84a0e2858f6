/**
 * "Acknowledged means durable": whatever Send or SendNote acknowledged is
 * there after the server process is killed with SIGKILL (no shutdown hook
 * runs) and started again on the same data directory.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ChatService, type Message } from "../../src/gen/chat/v1/chat_pb.ts";
import { ChatServer } from "../../src/gen/grpc/chat_pb.ts";
import { startCliServer } from "./support/cli-process.ts";

const dataDir = mkdtempSync(join(tmpdir(), "chat-durability-"));
after(() => rmSync(dataDir, { recursive: true, force: true }));

function clients(url: string) {
  const transport = createGrpcTransport({ baseUrl: url });
  return { chat: createClient(ChatService, transport), seed: createClient(ChatServer, transport) };
}

async function readAll(chat: ReturnType<typeof clients>["chat"], room: string) {
  const out: Message[] = [];
  for (let before = 0n; ; ) {
    const page = await chat.getHistory({ room, beforeSeq: before, limit: 500 });
    out.unshift(...page.messages);
    if (page.nextBeforeSeq === 0n) return out;
    before = page.nextBeforeSeq;
  }
}

describe("a server killed with SIGKILL", () => {
  it("keeps every acknowledged message, and the idempotency of client ids", async () => {
    const args = ["--port", "0", "--data-dir", dataDir];
    const first = await startCliServer(args);
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
      await first.kill("SIGKILL");
    }
    assert.equal(first.child.signalCode, "SIGKILL");

    const second = await startCliServer(args);
    try {
      const { chat, seed } = clients(second.url);
      const stored = await readAll(chat, "durable");
      assert.deepEqual(
        stored.map((m) => m.seq),
        [...acked].sort((a, b) => (a < b ? -1 : 1)),
      );
      assert.equal(new Set(stored.map((m) => m.clientId)).size, 320);
      const lobby = await readAll(chat, "lobby");
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
      await second.kill("SIGTERM");
    }
  });
});
