/**
 * Transport selection from the command-line flags, in-process against the
 * real server: every protocol and HTTP version, and TLS with --ca, without
 * it, and with --insecure.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { type CommonOptions, parseArgs } from "../../clients/terminal/args.ts";
import { type ChatConnection, createChatConnection } from "../../clients/terminal/transport.ts";
import { mintToken } from "../../src/auth/mint.ts";
import { startServer, type TestServer } from "../support/server.ts";
import { tempDirs } from "../support/temp-dir.ts";
import { makeTestCert, type TestCert } from "../support/tls-cert.ts";

let server: TestServer;
let tls: TestServer;
let cert: TestCert;
const certDirs = tempDirs("chat-terminal-tls-");
const open: ChatConnection[] = [];

before(async () => {
  server = await startServer();
  cert = makeTestCert(certDirs.make());
  tls = await startServer({ tls: { cert: cert.cert, key: cert.key } });
});
after(async () => {
  for (const connection of open) connection.close();
  await server?.close();
  await tls?.close();
  certDirs.removeAll();
});

/** Options as the command line gives them, for an interactive run. */
function optionsFor(args: string[]): CommonOptions {
  const command = parseArgs([...args, "--name", "tester"], {});
  assert.equal(command.kind, "interactive");
  return command.options;
}

function connect(args: string[], warnings: string[] = []): ChatConnection {
  const connection = createChatConnection(optionsFor(args), (line) => warnings.push(line));
  open.push(connection);
  return connection;
}

describe("terminal client transports", () => {
  for (const flags of [
    ["--protocol", "grpc"],
    ["--protocol", "connect"],
    ["--protocol", "connect", "--http1"],
    ["--protocol", "grpc-web"],
    ["--protocol", "grpc-web", "--http1"],
  ]) {
    it(`${flags.join(" ")}: unary and server streaming work`, async () => {
      const room = `t-${flags.join("").replaceAll("-", "")}`;
      const { client } = connect(["--url", server.url, ...flags]);
      const sent = await client.send({ room, sender: "tester", text: flags.join(" ") });
      assert.equal(sent.seq, 1n);
      for await (const res of client.subscribe({ room, start: { case: "afterSeq", value: 0n } })) {
        assert.equal(res.event?.kind.case, "message");
        assert.equal(res.event?.kind.value?.$typeName, "chat.v1.Message");
        break;
      }
    });
  }

  it("https: the server's self-signed certificate is refused without --ca", async () => {
    const { client } = connect(["--url", tls.url]);
    await assert.rejects(client.send({ room: "tls", sender: "t", text: "x" }), (e) => {
      assert.match(ConnectError.from(e).message, /self-signed certificate/i);
      return true;
    });
  });

  for (const flags of [[], ["--protocol", "connect", "--http1"]]) {
    it(`https with --ca ${flags.join(" ")}: trusted, no warning`, async () => {
      const warnings: string[] = [];
      const { client } = connect(["--url", tls.url, "--ca", cert.certFile, ...flags], warnings);
      const sent = await client.send({ room: "tls-ca", sender: "t", text: "x" });
      assert.ok(sent.seq > 0n);
      assert.deepEqual(warnings, []);
    });
  }

  it("https with --insecure: connects, and warns that nothing is verified", async () => {
    const warnings: string[] = [];
    const { client } = connect(["--url", tls.url, "--insecure"], warnings);
    await client.send({ room: "tls-insecure", sender: "t", text: "x" });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? "", /^warning: --insecure/);
  });

  it("--token: every call carries it, on every protocol, to a server with auth on", async () => {
    const secret = new TextEncoder().encode("terminal test secret, 32 bytes or more");
    const authed = await startServer({ auth: { secret } });
    try {
      const jwt = await mintToken({ secret, sub: "u-t", name: "tester", rooms: ["*"], ttlSec: 60 });
      for (const flags of [
        ["--protocol", "grpc"],
        ["--protocol", "connect", "--http1"],
        ["--protocol", "grpc-web"],
      ]) {
        const { client } = connect(["--url", authed.url, "--token", jwt, ...flags]);
        const room = "with-token";
        const sent = await client.send({ room, sender: "tester", text: flags.join(" ") });
        for await (const res of client.subscribe({
          room,
          start: { case: "afterSeq", value: sent.seq - 1n },
        })) {
          assert.equal(res.event?.kind.case, "message");
          break;
        }
        const { client: anonymous } = connect(["--url", authed.url, ...flags]);
        await assert.rejects(anonymous.send({ room, sender: "tester", text: "x" }), (e) => {
          assert.equal(ConnectError.from(e).code, Code.Unauthenticated);
          return true;
        });
      }
    } finally {
      // Connections first: the server's close waits for open HTTP/2 sessions.
      for (const connection of open.splice(0)) connection.close();
      await authed.close();
    }
  });

  it("--ca with a missing file is a usage error that names the file", () => {
    assert.throws(
      () => connect(["--url", tls.url, "--ca", "/nonexistent/ca.pem"]),
      /--ca: cannot read \/nonexistent\/ca.pem/,
    );
  });
});
