import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { defaultUrl, parseArgs, UsageError } from "../../clients/terminal/args.ts";
import { parseInput } from "../../clients/terminal/commands.ts";
import { neutralise, terminalSafeJson } from "../../clients/terminal/sanitize.ts";

describe("terminal client arguments", () => {
  it("defaults: local server, lobby, $USER, gRPC over HTTP/2", () => {
    assert.deepEqual(parseArgs([], { USER: "ann" }), {
      kind: "interactive",
      options: {
        url: defaultUrl,
        room: "lobby",
        name: "ann",
        protocol: "grpc",
        http1: false,
        ca: undefined,
        insecure: false,
      },
    });
  });

  it("send joins its words; -- lets a message start with a dash", () => {
    const command = parseArgs(["--name", "bob", "send", "--", "-1", "degrees"], {});
    assert.equal(command.kind, "send");
    assert.equal(command.kind === "send" && command.text, "-1 degrees");
  });

  it("follow takes --last and --json", () => {
    const command = parseArgs(["follow", "--last", "20", "--json"], { USER: "ann" });
    assert.deepEqual(command.kind === "follow" && { last: command.last, json: command.json }, {
      last: 20,
      json: true,
    });
  });

  for (const [args, message] of [
    [["--http1"], /gRPC needs HTTP\/2/],
    [["--protocol", "websocket"], /--protocol must be one of grpc, grpc-web, connect/],
    [["--url", "ftp://x"], /--url must start with http/],
    [["--url", "nope"], /not a URL/],
    [["follow", "--last", "501"], /--last must be a whole number from 0 to 500/],
    [["follow", "--last", "-3"], /--last/],
    [["send"], /send needs the message text/],
    [["shout"], /unknown command "shout"/],
    [["--json"], /--json and --last are for the send and follow commands/],
    [["--colour"], /Unknown option '--colour'/],
  ] as const) {
    it(`${args.join(" ")} is a usage error`, () => {
      assert.throws(
        () => parseArgs([...args], { USER: "ann" }),
        (e) => e instanceof UsageError && message.test(e.message),
      );
    });
  }

  it("no name and no $USER is a usage error", () => {
    assert.throws(() => parseArgs([], {}), /--name is required/);
  });

  it("--token or $CHAT_TOKEN: sent as given, and its name is the default name", () => {
    // {"alg":"HS256"}.{"sub":"u-1","name":"alice"}.signature
    const jwt =
      `${btoa('{"alg":"HS256"}')}.${btoa('{"sub":"u-1","name":"alice"}')}.c2ln`.replaceAll("=", "");
    const flag = parseArgs(["--token", jwt], { USER: "ann" });
    assert.deepEqual(flag.kind === "interactive" && [flag.options.token, flag.options.name], [
      jwt,
      "alice",
    ]);
    const env = parseArgs(["--name", "bob"], { CHAT_TOKEN: jwt });
    assert.deepEqual(env.kind === "interactive" && [env.options.token, env.options.name], [
      jwt,
      "bob",
    ]);
    assert.throws(
      () => parseArgs(["--token", "not a token"], { USER: "ann" }),
      (e) => e instanceof UsageError && /must be a JWT/.test(e.message),
    );
  });
});

describe("terminal client input and output", () => {
  it("lines starting with / are commands; // sends a literal slash", () => {
    assert.deepEqual(parseInput("/who"), { kind: "who" });
    assert.deepEqual(parseInput(" "), { kind: "empty" });
    assert.deepEqual(parseInput("/quit now"), { kind: "quit" });
    assert.deepEqual(parseInput("/qiut"), { kind: "unknown", command: "/qiut" });
    assert.deepEqual(parseInput("//shrug"), { kind: "send", text: "/shrug" });
    assert.deepEqual(parseInput("hi /who"), { kind: "send", text: "hi /who" });
  });

  it("neutralise shows every control character instead of sending it", () => {
    assert.equal(neutralise("a\x1b[2Jb\x07\x00\x7f"), "a\\x1b[2Jb\\x07\\x00\\x7f");
    assert.equal(neutralise("x\r\ny\tz"), "x\\r\\ny\\tz");
    assert.equal(neutralise("\u009b31m\u202eevil\u2028"), "\\x9b31m\\u202eevil\\u2028");
    assert.equal(neutralise("héllo 👋 \\x1b"), "héllo 👋 \\x1b");
  });

  it("terminalSafeJson keeps the value and escapes what JSON.stringify lets through", () => {
    const value = { text: "\x1b[31m\u009b\u202e ok" };
    const json = terminalSafeJson(value);
    assert.equal(json, '{"text":"\\u001b[31m\\u009b\\u202e ok"}');
    assert.deepEqual(JSON.parse(json), value);
  });
});
