import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Client, createClient } from "@connectrpc/connect";
import { ChatService } from "../../src/gen/chat/v1/chat_pb.ts";
import { ChatServer } from "../../src/gen/grpc/chat_pb.ts";
import {
  type ServerUnderTest,
  startServerUnderTest,
  subscriptionsClosed,
} from "../support/server.ts";
import { createTestTransport } from "../support/transports.ts";
import {
  generateSeedStubs,
  type SeedClient,
  type SeedStubs,
  startSeedClient,
} from "./support/seed-python.ts";
import { formatNote, type Subscription, subscribe } from "./support/subscribe.ts";

// The seed's own client logic (grpcio, stubs that protoc generates from the
// seed's chat.proto) against our server: the compatibility promise.

interface World {
  server: ServerUnderTest;
  /** chat.v1 over gRPC (h2c). */
  chat: Client<typeof ChatService>;
  /** The seed's grpc.ChatServer over gRPC, from TypeScript. */
  seed: Client<typeof ChatServer>;
  python(name: string): SeedClient;
  subscribe(room: string): Subscription;
}

describe("the seed's Python client against our server", () => {
  let stubs: SeedStubs | undefined;
  before(async () => {
    stubs = await generateSeedStubs();
  });
  after(() => stubs?.remove());

  /**
   * Runs `body` with a fresh server. Afterwards every client goes away and
   * the server must have ended all their subscriptions.
   */
  async function withWorld(body: (w: World) => Promise<void>): Promise<void> {
    const server = await startServerUnderTest();
    const grpc = createTestTransport(server.url, "grpc");
    const chat = createClient(ChatService, grpc.transport);
    const pythons: SeedClient[] = [];
    const subs: Subscription[] = [];
    const closeClients = async () => {
      await Promise.all(pythons.map((p) => p.close()));
      await Promise.all(subs.map((s) => s.cancel()));
    };
    try {
      await body({
        server,
        chat,
        seed: createClient(ChatServer, grpc.transport),
        python(name) {
          const client = startSeedClient(stubs as SeedStubs, server.port, name);
          pythons.push(client);
          return client;
        },
        subscribe(room) {
          const sub = subscribe(chat, { room });
          subs.push(sub);
          return sub;
        },
      });
      await closeClients();
      await subscriptionsClosed(server);
    } finally {
      await closeClients();
      grpc.close();
      await server.close();
    }
  }

  it("receives the notes sent before it connected, in order, then live ones", () =>
    withWorld(async ({ seed, chat, python }) => {
      await seed.sendNote({ name: "alice", message: "one" });
      await chat.send({ room: "lobby", sender: "bob", text: "two" });
      await seed.sendNote({ name: "alice", message: "three" });

      const carol = python("carol");
      const history = ["[alice] one", "[bob] two", "[alice] three"];
      assert.deepEqual(await carol.waitForReceived(3), history);
      carol.send("four");
      await carol.waitForReceived(4);
      await seed.sendNote({ name: "alice", message: "five" });
      assert.deepEqual(await carol.waitForReceived(5), [
        ...history,
        "[carol] four",
        "[alice] five",
      ]);
      assert.ok(carol.stdout.lines.includes("S[carol] four"), "the seed's own send line");
      assert.deepEqual(carol.stderr.lines, []);
    }));

  it("chats with another Python client and a chat.v1 client, all in one order", () =>
    withWorld(async ({ chat, python, subscribe }) => {
      const ann = python("ann");
      const ben = python("ben");
      const ts = subscribe("lobby");
      await ts.waitForReady();
      // Once both Python clients have this note (replayed or live), all three are subscribed.
      await chat.send({ room: "lobby", sender: "host", text: "welcome" });
      await Promise.all([ann.waitForReceived(1), ben.waitForReceived(1), ts.waitForMessages(1)]);

      // Everyone talks at once; the server's order is the one order.
      const texts = ["1", "2", "3"];
      for (const t of texts) {
        ann.send(`ann ${t}`);
        ben.send(`ben ${t}`);
      }
      for (const t of texts) await chat.send({ room: "lobby", sender: "ts", text: `ts ${t}` });

      const total = 1 + texts.length * 3;
      const seenByTs = (await ts.waitForMessages(total)).map(formatNote);
      assert.deepEqual(await ann.waitForReceived(total), seenByTs);
      assert.deepEqual(await ben.waitForReceived(total), seenByTs);
      assert.deepEqual(
        ts.messages.map((m) => m.seq),
        Array.from({ length: total }, (_, i) => BigInt(i + 1)),
      );
      for (const who of ["ann", "ben", "ts"]) {
        const own = seenByTs.filter((line) => line.startsWith(`[${who}]`));
        assert.deepEqual(
          own,
          texts.map((t) => `[${who}] ${who} ${t}`),
          `${who}'s notes, in the order sent`,
        );
      }
    }));

  it("does not receive chat.v1 messages of other rooms", () =>
    withWorld(async ({ chat, python }) => {
      const dan = python("dan");
      // Received (replayed or live) means subscribed.
      await chat.send({ room: "lobby", sender: "ts", text: "welcome" });
      await dan.waitForReceived(1);
      await chat.send({ room: "elsewhere", sender: "ts", text: "not for the lobby" });
      await chat.send({ room: "lobby", sender: "ts", text: "for the lobby" });
      const expected = ["[ts] welcome", "[ts] for the lobby"];
      assert.deepEqual(await dan.waitForReceived(2), expected);
      // A short grace: nothing else may arrive.
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(dan.received(), expected);
    }));
});
