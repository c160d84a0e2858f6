/**
 * Authentication and authorization against a real server with auth on,
 * through connect-node clients on all three protocols: who may call, who
 * they speak as, which rooms they may read and write, and streams that end
 * when their token does.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { ChatService } from "../../src/gen/chat/v1/chat_pb.ts";
import { ChatServer } from "../../src/gen/grpc/chat_pb.ts";
import { Health } from "../../src/gen/grpc/health/v1/health_pb.ts";
import { type ServerUnderTest, startServerUnderTest } from "../support/server.ts";
import { makeTestDir } from "../support/temp-dir.ts";
import {
  allTransportKinds,
  createTestTransport,
  type TransportKind,
} from "../support/transports.ts";
import { drain, expectError } from "./support/errors.ts";
import { subscribe } from "./support/subscribe.ts";
import { bearer, testSecret, token } from "./support/tokens.ts";

// In-process, or src/main.ts on the runtime CHAT_TEST_RUNTIME names (the
// runtime matrix); the secret lives under .data/, which Deno may read.
let server: ServerUnderTest;
const secretDir = makeTestDir("auth");
const opened: (() => void)[] = [];
before(async () => {
  const jwtSecretFile = join(secretDir, "jwt-secret");
  writeFileSync(jwtSecretFile, testSecret);
  server = await startServerUnderTest({ jwtSecretFile });
});
after(async () => {
  for (const close of opened) close();
  await server.close();
  rmSync(secretDir, { recursive: true, force: true });
});

function clients(kind: TransportKind = "grpc") {
  const { transport, close } = createTestTransport(server.url, kind);
  opened.push(close);
  return { chat: createClient(ChatService, transport), seed: createClient(ChatServer, transport) };
}

/** The code a call, or a stream read to its end, fails with. */
async function codeOf(call: () => Promise<unknown>): Promise<Code> {
  return (await expectError(call)).code;
}

describe("auth: tokens on every protocol", () => {
  for (const kind of allTransportKinds) {
    it(`accepts a token and speaks as its name over ${kind}`, async () => {
      const { chat } = clients(kind);
      const room = `ok-${kind}`;
      const alice = await token("u-alice", { name: "alice" });
      const sub = subscribe(
        chat,
        { room, name: "alice", start: { case: "afterSeq", value: 0n } },
        bearer(alice),
      );
      try {
        await sub.waitForReady(3000);
        const members = await chat.listMembers({ room }, bearer(alice));
        assert.deepEqual(
          members.members.map((m) => m.name),
          ["alice"],
        );
        // An empty sender means "me"; so does one's own name.
        await chat.send({ room, text: "hi" }, bearer(alice));
        await chat.send({ room, sender: "alice", text: "again" }, bearer(alice));
        await chat.setTyping({ room, typing: true }, bearer(alice));
        const messages = await sub.waitForMessages(2, 3000);
        assert.deepEqual(
          messages.map((m) => [m.sender, m.text]),
          [
            ["alice", "hi"],
            ["alice", "again"],
          ],
        );
        const history = await chat.getHistory({ room }, bearer(alice));
        assert.equal(history.messages.length, 2);
      } finally {
        await sub.cancel();
      }
    });

    it(`refuses missing, invalid and expired tokens over ${kind}`, async () => {
      const { chat, seed } = clients(kind);
      const room = `refused-${kind}`;
      const expired = await token("u-x", { now: () => Date.now() - 7200_000 });
      // A valid token whose claims were changed after signing.
      const [header, , signature] = (await token("u-x")).split(".");
      const claims = btoa(JSON.stringify({ sub: "u-x", rooms: ["*"], exp: 4102444800 }));
      const forged = `${header}.${claims.replaceAll("=", "")}.${signature}`;
      for (const options of [{}, bearer("not.a.jwt"), bearer(expired), bearer(forged)]) {
        assert.equal(
          await codeOf(() => chat.send({ room, sender: "x", text: "t" }, options)),
          Code.Unauthenticated,
        );
        assert.equal(
          await codeOf(() => drain(chat.subscribe({ room }, options))),
          Code.Unauthenticated,
        );
        assert.equal(await codeOf(() => chat.listMembers({ room }, options)), Code.Unauthenticated);
        assert.equal(await codeOf(() => drain(seed.chatStream({}, options))), Code.Unauthenticated);
      }
      const error = await expectError(() => chat.getHistory({ room }, bearer(expired)));
      assert.match(error.rawMessage, /token expired/);
    });
  }

  it("leaves health checks open, without a token", async () => {
    const { transport } = createTestTransport(server.url, "grpc");
    const health = createClient(Health, transport);
    assert.equal((await health.check({ service: "" })).status, 1);
  });
});

describe("auth: the token decides who speaks", () => {
  const room = "lobby";
  let chat: Client<typeof ChatService>;
  let seed: Client<typeof ChatServer>;
  let alice: string;
  before(async () => {
    ({ chat, seed } = clients("grpc"));
    alice = await token("u-alice", { name: "alice" });
  });

  it("refuses Send, SetTyping and Subscribe naming someone else", async () => {
    const denied = Code.PermissionDenied;
    assert.equal(
      await codeOf(() => chat.send({ room, sender: "bob", text: "t" }, bearer(alice))),
      denied,
    );
    assert.equal(
      await codeOf(() => chat.setTyping({ room, name: "bob", typing: true }, bearer(alice))),
      denied,
    );
    assert.equal(
      await codeOf(() => drain(chat.subscribe({ room, name: "bob" }, bearer(alice)))),
      denied,
    );
  });

  it("refuses a Chat stream subscribing or sending as someone else", async () => {
    const asBob = async function* () {
      yield { kind: { case: "subscribe" as const, value: { room, name: "bob" } } };
    };
    assert.equal(
      await codeOf(() => drain(chat.chat(asBob(), bearer(alice)))),
      Code.PermissionDenied,
    );
    const sendAsBob = async function* () {
      yield { kind: { case: "subscribe" as const, value: { room } } };
      yield { kind: { case: "send" as const, value: { sender: "bob", text: "hi" } } };
    };
    assert.equal(
      await codeOf(() => drain(chat.chat(sendAsBob(), bearer(alice)))),
      Code.PermissionDenied,
    );
  });

  it("checks the seed's SendNote name the same way", async () => {
    const sub = subscribe(chat, { room, name: "" }, bearer(alice));
    try {
      await sub.waitForReady(3000);
      assert.equal(
        await codeOf(() => seed.sendNote({ name: "bob", message: "as bob" }, bearer(alice))),
        Code.PermissionDenied,
      );
      await seed.sendNote({ name: "", message: "from the seed" }, bearer(alice));
      await seed.sendNote({ name: "alice", message: "named" }, bearer(alice));
      const messages = await sub.waitForMessages(2, 3000);
      assert.deepEqual(
        messages.map((m) => [m.sender, m.text]),
        [
          ["alice", "from the seed"],
          ["alice", "named"],
        ],
      );
    } finally {
      await sub.cancel();
    }
  });
});

describe("auth: idempotency keys", () => {
  it("are scoped per identity: another user's client_id is neither revealed nor taken", async () => {
    const { chat } = clients("connect-h2");
    const room = "idempotency";
    const alice = bearer(await token("u-alice", { name: "alice" }));
    const bob = bearer(await token("u-bob", { name: "bob" }));
    const first = await chat.send({ room, text: "alice's", clientId: "c-1" }, alice);
    // Bob reusing the id gets a message of his own, not alice's seq.
    const probe = await chat.send({ room, text: "bob's", clientId: "c-1" }, bob);
    assert.equal(probe.duplicate, false);
    assert.notEqual(probe.seq, first.seq);
    // Alice's retry is still a retry of her own message.
    const retry = await chat.send({ room, text: "alice's", clientId: "c-1" }, alice);
    assert.deepEqual([retry.duplicate, retry.seq], [true, first.seq]);
    const history = await chat.getHistory({ room }, alice);
    assert.deepEqual(
      history.messages.map((m) => [m.sender, m.text]),
      [
        ["alice", "alice's"],
        ["bob", "bob's"],
      ],
    );
  });
});

describe("auth: room claims", () => {
  it("grant read and write separately, with * patterns", async () => {
    const { chat } = clients("connect-h1");
    const reader = await token("u-reader", { rooms: [], readRooms: ["news-*"] });
    const writer = await token("u-writer", { rooms: [], writeRooms: ["news-*"] });
    const nobody = await token("u-nobody", { rooms: [] });
    const room = "news-today";
    const denied = Code.PermissionDenied;

    await chat.send({ room, text: "posted" }, bearer(writer));
    assert.equal(await codeOf(() => chat.send({ room, text: "t" }, bearer(reader))), denied);
    assert.equal(
      await codeOf(() => chat.setTyping({ room, typing: true }, bearer(reader))),
      denied,
    );
    assert.equal((await chat.getHistory({ room }, bearer(reader))).messages[0]?.text, "posted");
    await chat.listMembers({ room }, bearer(reader));
    assert.equal(await codeOf(() => chat.getHistory({ room }, bearer(writer))), denied);
    assert.equal(await codeOf(() => chat.listMembers({ room }, bearer(writer))), denied);
    assert.equal(await codeOf(() => drain(chat.subscribe({ room }, bearer(writer)))), denied);
    for (const t of [reader, writer, nobody]) {
      assert.equal(await codeOf(() => chat.send({ room: "lobby", text: "t" }, bearer(t))), denied);
      assert.equal(await codeOf(() => drain(chat.subscribe({ room: "lobby" }, bearer(t)))), denied);
    }
    const sub = subscribe(chat, { room, start: { case: "afterSeq", value: 0n } }, bearer(reader));
    try {
      assert.equal((await sub.waitForMessages(1, 3000))[0]?.sender, "u-writer");
    } finally {
      await sub.cancel();
    }
  });

  it("apply to the seed's room too", async () => {
    const { seed } = clients("grpc");
    const elsewhere = await token("u-else", { rooms: ["team-*"] });
    const denied = Code.PermissionDenied;
    assert.equal(
      await codeOf(() => seed.sendNote({ name: "", message: "m" }, bearer(elsewhere))),
      denied,
    );
    assert.equal(await codeOf(() => drain(seed.chatStream({}, bearer(elsewhere)))), denied);
  });
});

describe("auth: npm run token", () => {
  it("prints only a token, which the server accepts for the rooms it names", async () => {
    const mint = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          ["--import", "tsx", "src/auth/mint-cli.ts", ...args],
          { timeout: 15_000 },
          (error, stdout, stderr) =>
            resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
        );
      });
    const jwtSecretFile = join(secretDir, "jwt-secret");
    const args = ["--sub", "alice", "--rooms", "lobby,team-*", "--ttl", "1h"];
    const { code, stdout } = await mint(["--jwt-secret-file", jwtSecretFile, ...args]);
    assert.equal(code, 0);
    assert.match(stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const { chat } = clients("grpc");
    const alice = bearer(stdout.trim());
    await chat.send({ room: "team-red", text: "minted" }, alice);
    assert.equal(
      await codeOf(() => chat.send({ room: "elsewhere", text: "t" }, alice)),
      Code.PermissionDenied,
    );
    const usage = await mint(args);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--jwt-secret-file/);
  });
});

describe("auth: expiring tokens", () => {
  for (const kind of ["grpc", "connect-h1", "grpcweb-h1"] as const) {
    it(`end a stream with Unauthenticated when its token expires, over ${kind}`, async () => {
      const { chat, seed } = clients(kind);
      // exp has a resolution of seconds: this one expires within 1 to 2 s.
      const short = await token("u-short", {
        name: "shorty",
        ttlSec: 2,
        now: () => Date.now() - 500,
      });
      const room = `expiring-${kind}`;
      const sub = subscribe(chat, { room, name: "shorty" }, bearer(short));
      const note = expectError(() => drain(seed.chatStream({}, bearer(short))));
      await sub.waitForReady(3000);
      const started = Date.now();
      const stream = await expectError(async () => {
        for await (const _ of chat.subscribe({ room }, bearer(short))) {
          // Wait for the end.
        }
      });
      assert.equal(stream.code, Code.Unauthenticated, stream.message);
      assert.match(stream.rawMessage, /token expired/);
      assert.ok(Date.now() - started < 3000, "ended when the token expired");
      assert.equal((await note).code, Code.Unauthenticated);
      const fresh = await token("u-short", { name: "shorty" });
      // The named stream ended too: its presence is gone.
      for (
        let i = 0;
        i < 100 && (await chat.listMembers({ room }, bearer(fresh))).members.length > 0;
        i++
      ) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual((await chat.listMembers({ room }, bearer(fresh))).members, []);
      assert.equal(ConnectError.from(sub.error).code, Code.Unauthenticated);
      await sub.cancel();
    });
  }
});
