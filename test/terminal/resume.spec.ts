/**
 * Reconnect and resume across server restarts, as the terminal client's
 * users see them: with a persistent store, `follow` and the interactive
 * client show every message exactly once, including those sent while they
 * were away and one typed while the server was down; with a store that lost
 * its history, they say so instead of mixing two histories.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { fromJson } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { ChatService, MessageSchema } from "../../src/gen/chat/v1/chat_pb.ts";
import { createTestTransport, type TestTransport } from "../support/transports.ts";
import { followChat, killChatProcesses } from "./support/chat-cli.ts";
import { type RestartableServer, startRestartableServer } from "./support/restartable-server.ts";
import { createTmux } from "./support/tmux.ts";

const servers: RestartableServer[] = [];
const transports: TestTransport[] = [];
const tmux = createTmux();

after(async () => {
  await tmux.kill();
  killChatProcesses();
  for (const t of transports) t.close();
  for (const server of servers) await server.close();
});

/** A fresh connection per call: the tests' own client must not be the thing that resumes. */
function chatClient(url: string) {
  const grpc = createTestTransport(url, "grpc");
  transports.push(grpc);
  return createClient(ChatService, grpc.transport);
}

const count = (haystack: string, needle: string) => haystack.split(needle).length - 1;

describe("terminal client, resume", () => {
  it("after a restart with a persistent store, each message is shown exactly once", async () => {
    const server = await startRestartableServer({ persistent: true });
    servers.push(server);
    const room = "resume";
    const before = chatClient(server.url);
    await before.send({ room, sender: "ann", text: "before one" });
    await before.send({ room, sender: "ann", text: "before two" });

    const flags = ["--url", server.url, "--room", room];
    const follow = followChat([...flags, "--json", "--last", "50"]);
    const bob = await tmux.open("resume-bob", [...flags, "--name", "bob"]);
    await bob.waitFor(/-- joined resume as bob/);
    await follow.waitForLines(2);

    await server.restart(async (store) => {
      await bob.waitFor(/-- connection lost \(/);
      await follow.waitForStderr(/connection lost .*reconnecting/);
      // Bob sends while the server is down: queued, then sent once on resume.
      await bob.type("typed while down");
      await bob.press("Enter");
      await bob.waitFor(/1 waiting to be sent/);
      // History that reaches the store while no server listens (another
      // instance wrote it): nobody saw it live.
      for (const text of ["while down one", "while down two"]) {
        await store.append({ room, sender: "ann", text, clientId: "" });
      }
    });
    const afterRestart = chatClient(server.url);
    await afterRestart.send({ room, sender: "ann", text: "right after restart" });
    await bob.waitFor(/-- reconnected; resumed with \d+ missed messages?/);
    await follow.waitForStderr(/reconnected; resumed/);
    await afterRestart.send({ room, sender: "ann", text: "live after resume" });

    const texts = [
      "before one",
      "before two",
      "while down one",
      "while down two",
      "right after restart",
      "typed while down",
      "live after resume",
    ];
    const lines = await follow.waitForLines(texts.length);
    const screen = await bob.waitFor(/ann: live after resume/);
    await new Promise((r) => setTimeout(r, 300)); // a duplicate would come now, if ever
    assert.equal(follow.lines.length, texts.length, follow.lines.join("\n"));
    const messages = lines.map((l) => fromJson(MessageSchema, JSON.parse(l)));
    assert.deepEqual(
      messages.map((m) => m.seq),
      texts.map((_, i) => BigInt(i + 1)),
      "seqs 1..n, in order, once each",
    );
    assert.deepEqual(messages.map((m) => m.text).sort(), [...texts].sort());
    const finalScreen = await bob.screen();
    for (const text of texts)
      assert.equal(count(finalScreen, `: ${text}`), 1, `${text}:\n${screen}`);
    assert.doesNotMatch(finalScreen, /reset/, "same history: no reset");

    const { messages: stored } = await afterRestart.getHistory({ room });
    assert.equal(stored.filter((m) => m.text === "typed while down").length, 1, "sent once");

    await bob.press("C-c");
    await bob.waitFor(/\[exit 0\]/);
    assert.equal(await follow.stop("SIGTERM"), 0);
  });

  it("after a restart that lost the history, follow reports the reset and prints the new history", async () => {
    const server = await startRestartableServer({ persistent: false });
    servers.push(server);
    const room = "reset";
    await chatClient(server.url).send({ room, sender: "ann", text: "old history" });
    const follow = followChat(["--url", server.url, "--room", room, "--last", "50"]);
    await follow.waitForLines(1);
    await server.restart(async (store) => {
      await store.append({ room, sender: "ann", text: "new history", clientId: "" });
    });
    await follow.waitForStderr(/history was reset/);
    const lines = await follow.waitForLines(2);
    assert.deepEqual(lines, ["[1] ann: old history", "[1] ann: new history"]);
    assert.equal(await follow.stop(), 0);
  });
});
