/**
 * The terminal client's script mode under Bun and Deno (the pinned npm
 * packages, fetched with `npm exec`), against the real server: the same
 * source runs there.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fromJson } from "@bufbuild/protobuf";
import { MessageSchema } from "../../src/gen/chat/v1/chat_pb.ts";
import { followChat, type Runtime, runChat } from "./support/chat-cli.ts";
import { useChatServer } from "./support/chat-server.ts";

const chat = useChatServer();

describe("terminal client on other runtimes", () => {
  for (const runtime of ["bun", "deno"] as const satisfies readonly Runtime[]) {
    it(`${runtime}: follow prints what send sent, and messages from others`, async () => {
      const room = `on-${runtime}`;
      await chat.client.send({ room, sender: "ann", text: "before" });
      const flags = ["--url", chat.server.url, "--room", room];
      const follow = followChat([...flags, "--json", "--last", "5"], runtime);
      await follow.waitForLines(1, 15_000);
      // Connect over HTTP/1.1 for send, gRPC (HTTP/2) for follow: both stacks.
      const sent = await runChat(
        [
          ...flags,
          "--name",
          runtime,
          "--protocol",
          "connect",
          "--http1",
          "send",
          `hi from ${runtime}`,
        ],
        { runtime },
      );
      assert.equal(sent.code, 0, sent.stderr);
      assert.equal(sent.stdout, "2\n");
      await chat.client.send({ room, sender: "ann", text: "after" });
      const lines = await follow.waitForLines(3);
      assert.equal(await follow.stop("SIGTERM"), 0);
      assert.deepEqual(
        lines
          .map((l) => fromJson(MessageSchema, JSON.parse(l)))
          .map((m) => [m.seq, m.sender, m.text]),
        [
          [1n, "ann", "before"],
          [2n, runtime, `hi from ${runtime}`],
          [3n, "ann", "after"],
        ],
      );
    });
  }
});
