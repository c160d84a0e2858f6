/**
 * The terminal client's script mode, run as a separate process against the
 * real server: `send` prints the seq, `follow` prints each message once and
 * in order (text or JSON), errors exit non-zero with the server's reason.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fromJson } from "@bufbuild/protobuf";
import { MessageSchema } from "../../src/gen/chat/v1/chat_pb.ts";
import { startServer, type TestServer } from "../support/server.ts";
import { tempDirs } from "../support/temp-dir.ts";
import { makeTestCert, type TestCert } from "../support/tls-cert.ts";
import { followChat, runChat } from "./support/chat-cli.ts";
import { useChatServer } from "./support/chat-server.ts";

const chat = useChatServer();
let tls: TestServer;
let cert: TestCert;
const certDirs = tempDirs("chat-terminal-tls-");

before(async () => {
  cert = makeTestCert(certDirs.make());
  tls = await startServer({ tls: { cert: cert.cert, key: cert.key } });
});
after(async () => {
  await tls?.close();
  certDirs.removeAll();
});

// Each test uses its own room and its own client processes; most of the time
// is runtime startup, so a few run at once.
describe("terminal client, script mode", { concurrency: 4 }, () => {
  it("send prints the seq of a message that other clients can read", async () => {
    await chat.client.send({ room: "send", sender: "ann", text: "first" });
    const result = await runChat([
      "--url",
      chat.server.url,
      "--room",
      "send",
      "--name",
      "bob",
      "send",
      "hello",
      "world",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "2\n");
    const { messages } = await chat.client.getHistory({ room: "send" });
    assert.deepEqual(
      messages.map((m) => [m.seq, m.sender, m.text]),
      [
        [1n, "ann", "first"],
        [2n, "bob", "hello world"],
      ],
    );
    assert.notEqual(messages[1]?.clientId, "", "send sets a client id, so retries are idempotent");
  });

  it("send --json prints the SendResponse as protobuf JSON", async () => {
    const result = await runChat([
      "--url",
      chat.server.url,
      "--room",
      "send-json",
      "--json",
      "send",
      "hi",
    ]);
    assert.equal(result.code, 0, result.stderr);
    const json = JSON.parse(result.stdout) as Record<string, unknown>;
    assert.equal(json.seq, "1");
    assert.equal(json.duplicate, false);
    assert.match(String(json.clientId), /^[0-9a-f-]{36}$/);
    assert.match(String(json.sentAt), /^\d{4}-\d\d-\d\dT/);
  });

  it("follow --json replays --last N, then prints every message, its own and others', once and in order", async () => {
    const room = "follow-json";
    for (const text of ["one", "two", "three"]) {
      await chat.client.send({ room, sender: "ann", text });
    }
    const follow = followChat(["--url", chat.server.url, "--room", room, "--json", "--last", "2"]);
    await follow.waitForLines(2);
    await chat.client.send({ room, sender: "carol", text: "four" });
    const sent = await runChat([
      "--url",
      chat.server.url,
      "--room",
      room,
      "--name",
      "dave",
      "send",
      "five",
    ]);
    assert.equal(sent.stdout, "5\n");
    await chat.client.send({ room, sender: "carol", text: "six" });
    const lines = await follow.waitForLines(5);
    assert.equal(await follow.stop("SIGTERM"), 0);
    assert.equal(follow.lines.length, 5, `no extra lines: ${follow.lines.join("\n")}`);
    const messages = lines.map((line) => fromJson(MessageSchema, JSON.parse(line)));
    assert.deepEqual(
      messages.map((m) => [m.seq, m.sender, m.text, m.room]),
      [
        [2n, "ann", "two", room],
        [3n, "ann", "three", room],
        [4n, "carol", "four", room],
        [5n, "dave", "five", room],
        [6n, "carol", "six", room],
      ],
    );
    assert.ok(messages.every((m) => m.sentAt !== undefined));
  });

  it("follow prints [seq] name: text, control characters shown, never sent to the terminal", async () => {
    const room = "follow-text";
    const follow = followChat(["--url", chat.server.url, "--room", room, "--last", "10"]);
    await chat.client.send({ room, sender: "ann", text: "plain" });
    await chat.client.send({
      room,
      sender: "mal\x1b]0;owned\x07",
      text: "\x1b[2J\x1b[31mred\r\nbob: fake\u009b\u202e",
    });
    const lines = await follow.waitForLines(2);
    assert.equal(await follow.stop("SIGINT"), 0);
    assert.deepEqual(lines, [
      "[1] ann: plain",
      "[2] mal\\x1b]0;owned\\x07: \\x1b[2J\\x1b[31mred\\r\\nbob: fake\\x9b\\u202e",
    ]);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: asserting that none got through
    assert.doesNotMatch(lines.join(""), /[\u0000-\u001f\u007f-\u009f]/);
  });

  it("a bad room exits 1 with the server's reason, for send and for follow", async () => {
    const args = ["--url", chat.server.url, "--room", "Not A Room"];
    const [send, follow] = await Promise.all([
      runChat([...args, "send", "hi"]),
      runChat([...args, "follow"]),
    ]);
    for (const result of [send, follow]) {
      assert.equal(result.code, 1);
      assert.equal(result.stdout, "");
      assert.match(result.stderr, /invalid_argument.*room must be 1 to 64 of a-z 0-9/);
    }
  });

  it("no server: send retries, then exits 1 saying unavailable", async () => {
    const result = await runChat(["--url", "http://127.0.0.1:9", "send", "hi"]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^chat: \[unavailable\]/);
  });

  it("a usage mistake exits 2 and points to --help", async () => {
    const result = await runChat(["--url", chat.server.url, "--http1", "send", "hi"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /gRPC needs HTTP\/2[\s\S]*Try --help/);
  });

  it("TLS: an https URL with --ca FILE trusts a self-signed server", async () => {
    const result = await runChat([
      "--url",
      tls.url,
      "--room",
      "tls",
      "--ca",
      cert.certFile,
      "send",
      "hi",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "1\n");
  });
});
