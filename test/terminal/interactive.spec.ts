/**
 * The interactive client in a real pseudo terminal (tmux), against the real
 * server: history on join, live messages that never clobber the line being
 * typed, presence, typing notices in both directions, escape sequences shown
 * as text, and leaving with /quit and Ctrl-D.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Client } from "@connectrpc/connect";
import type { ChatService, Typing } from "../../src/gen/chat/v1/chat_pb.ts";
import {
  eventually,
  type ServerWithClient,
  startServerWithClient,
  type TestServer,
} from "../support/server.ts";
import { killChatProcesses } from "./support/chat-cli.ts";
import { createTmux, type Pane, type Tmux } from "./support/tmux.ts";

const room = "chat";
const prompt = `${room}> `;

let chat: ServerWithClient | undefined;
let server: TestServer;
let client: Client<typeof ChatService>;
let tmux: Tmux;
let bob: Pane;

before(async () => {
  chat = await startServerWithClient();
  ({ server, client } = chat);
  await client.send({ room, sender: "ann", text: "history one" });
  await client.send({ room, sender: "ann", text: "history two" });
  tmux = createTmux();
});
after(async () => {
  await tmux?.kill();
  killChatProcesses();
  await chat?.close();
});

const lines = (screen: string) => screen.split("\n");
const lastLine = (screen: string) => lines(screen).at(-1) ?? "";
const args = (name: string) => ["--url", server.url, "--room", room, "--name", name];

describe("terminal client, interactive", () => {
  it("joins, shows the room's history, then a prompt", async () => {
    bob = await tmux.open("bob", args("bob"));
    const screen = await bob.waitFor(/-- joined chat as bob/);
    const shown = lines(screen);
    const one = shown.findIndex((l) => /^\d\d:\d\d ann: history one$/.test(l));
    const two = shown.findIndex((l) => /^\d\d:\d\d ann: history two$/.test(l));
    assert.ok(one >= 0 && two === one + 1, `history in order:\n${screen}`);
    assert.equal(lastLine(screen), prompt.trimEnd());
  });

  it("a message arriving while typing leaves the partial line and cursor intact", async () => {
    await bob.type("half a li");
    await bob.waitFor((s) => lastLine(s) === `${prompt}half a li`);
    await client.send({ room, sender: "alice", text: "arrived while bob typed" });
    const screen = await bob.waitFor(/alice: arrived while bob typed/);
    const shown = lines(screen);
    assert.equal(shown.at(-1), `${prompt}half a li`, `partial input intact:\n${screen}`);
    assert.match(shown.at(-2) ?? "", /^\d\d:\d\d alice: arrived while bob typed$/);
    assert.deepEqual(await bob.cursor(), { x: `${prompt}half a li`.length, y: shown.length - 1 });

    await bob.type("ne");
    await bob.press("Enter");
    const after = await bob.waitFor(/bob: half a line/);
    assert.equal(lastLine(after), prompt.trimEnd());
    assert.doesNotMatch(after, /chat> half a line/, "the echoed input makes way for the message");
    const { messages } = await client.getHistory({ room });
    assert.deepEqual(
      messages.slice(-2).map((m) => [m.sender, m.text]),
      [
        ["alice", "arrived while bob typed"],
        ["bob", "half a line"],
      ],
    );
  });

  it("a partial line that wraps over two rows survives an incoming message too", async () => {
    const long = `${"long ".repeat(24)}end`; // 123 characters: wraps at 100 columns
    await bob.type(long);
    const full = `${prompt}${long}`;
    const wrapped = [full.slice(0, 100), full.slice(100)];
    await bob.waitFor((s) => lines(s).slice(-2).join("|") === wrapped.join("|"));
    await client.send({ room, sender: "alice", text: "second interruption" });
    const screen = await bob.waitFor(/alice: second interruption/);
    const shown = lines(screen);
    assert.deepEqual(shown.slice(-2), wrapped, `wrapped input intact:\n${screen}`);
    assert.match(shown.at(-3) ?? "", /alice: second interruption$/);
    assert.doesNotMatch(shown.slice(0, -2).join("\n"), /long end/, "no stale copy of the input");
    await bob.press("C-u");
    await bob.waitFor((s) => lastLine(s) === prompt.trimEnd());
  });

  it("shows another client joining and leaving; /who lists the members", async () => {
    const dave = await tmux.open("dave", args("dave"));
    await dave.waitFor(/-- joined chat as dave · here: bob, dave/);
    await bob.waitFor(/-- dave joined/);
    await bob.type("/who");
    await bob.press("Enter");
    await bob.waitFor(/-- 2 here: bob, dave/);
    await dave.press("C-d");
    await dave.waitFor(/\[exit 0\]/);
    await bob.waitFor(/-- dave left/);
  });

  it("shows who is typing, and tells the room when bob types", async () => {
    await client.setTyping({ room, name: "carol", typing: true });
    await bob.waitFor(/carol is typing…/);
    await client.send({ room, sender: "carol", text: "done typing" });
    const screen = await bob.waitFor(/carol: done typing/);
    assert.doesNotMatch(screen, /carol is typing/, "a message from carol ends her notice");

    const seen: Typing[] = [];
    const watching = new AbortController();
    const watcher = (async () => {
      try {
        for await (const res of client.subscribe({ room }, { signal: watching.signal })) {
          if (res.event?.kind.case === "typing") seen.push(res.event.kind.value);
        }
      } catch {
        // Aborted below.
      }
    })();
    try {
      await new Promise((r) => setTimeout(r, 200));
      await bob.type("abc");
      await eventually(() => seen.some((t) => t.name === "bob" && t.typing), 5000, "bob typing");
      await bob.press("C-u");
      await eventually(() => seen.at(-1)?.typing === false, 5000, "bob stopped typing");
      // Typing a command is not typing a message.
      const before = seen.length;
      await bob.type("/who");
      await bob.press("Enter");
      await bob.waitFor(/-- 1 here: bob/);
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(seen.slice(before), [], "no typing notice for a command");
    } finally {
      watching.abort();
      await watcher;
    }
  });

  it("shows escape sequences in a message as text instead of obeying them", async () => {
    await client.send({ room, sender: "mallory", text: "\x1b[2J\x1b[H\x1b[31mgotcha\x07" });
    const screen = await bob.waitFor(/mallory: /);
    assert.match(screen, /mallory: \\x1b\[2J\\x1b\[H\\x1b\[31mgotcha\\x07/);
    assert.match(screen, /ann: history one/, "the screen was not cleared");
  });

  it("a room the server refuses: shows the reason and exits 1", async () => {
    const pane = await tmux.open("bad-room", ["--url", server.url, "--room", "No Such/Room"]);
    const screen = await pane.waitFor(/\[exit \d+\]/);
    assert.match(screen, /-- \[invalid_argument\] room: room must be 1 to 64/);
    assert.match(screen, /\[exit 1\]/);
  });

  it("/quit leaves and exits 0", async () => {
    await bob.type("/quit");
    await bob.press("Enter");
    await bob.waitFor(/\[exit 0\]/);
    await eventually(() => server.rooms.subscriberCount(room) === 0, 5000, "bob's stream closed");
  });
});
