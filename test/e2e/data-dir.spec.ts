/**
 * The SQLite data directory as an operator meets it: one that cannot be used
 * stops the server with one line naming it and the cause (exit 1, no stack
 * trace); a second server on a directory in use is refused; a full disk is
 * `resource_exhausted` for the client and SQLITE_FULL in the log.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it, type TestContext } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ChatService } from "../../src/gen/chat/v1/chat_pb.ts";
import { runtimeUnderTest } from "../runtimes/runtime-under-test.ts";
import { eventually } from "../support/server.ts";
import { type CliRun, runToExit, spawnServer } from "../support/subprocess-server.ts";
import { makeTestDir } from "../support/temp-dir.ts";

// Under the repository's .data/: the only place Deno's start task may write.
const root = makeTestDir(`data-dir-${runtimeUnderTest}`);
after(() => rmSync(root, { recursive: true, force: true }));

/** Runs the server on `dataDir` until it exits (it should, at once). */
function runOn(dataDir: string): Promise<CliRun> {
  return runToExit(runtimeUnderTest, ["--port", "0", "--data-dir", dataDir]);
}

/** Exit 1 with exactly one line on stderr that names `dir` and matches `cause`. */
function assertRefused(run: CliRun, dir: string, cause: RegExp): void {
  assert.equal(run.code, 1, run.stderr);
  const lines = run.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line, no stack trace:\n${run.stderr}`);
  assert.ok(lines[0]?.includes(dir), `names ${dir}: ${lines[0]}`);
  assert.match(lines[0] ?? "", cause);
}

/** Mounts a tmpfs of `size` at `dir`, or skips the test where that is not permitted. */
function mountTmpfs(t: TestContext, dir: string, options: string): boolean {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", options, "tmpfs", dir], { stdio: "pipe" });
    return true;
  } catch (e) {
    t.skip(`mounting a tmpfs is not permitted here (needs root): ${(e as Error).message}`);
    return false;
  }
}

function unmount(dir: string): void {
  execFileSync("umount", [dir], { stdio: "pipe" });
}

describe(`an unusable --data-dir (${runtimeUnderTest})`, () => {
  it("a file where the directory should be", async () => {
    const file = join(root, "a-file");
    writeFileSync(file, "");
    assertRefused(await runOn(file), file, /is a file, not a directory/);
    assertRefused(await runOn(join(file, "data")), file, /is a file, not a directory/);
  });

  it("a parent that is a dangling symbolic link", async () => {
    const link = join(root, "dangling");
    symlinkSync(join(root, "no-such-target"), link);
    assertRefused(await runOn(join(link, "data")), link, /symbolic link to nowhere/);
  });

  it("a read-only file system", async (t) => {
    const mount = join(root, "read-only");
    if (!mountTmpfs(t, mount, "size=1m,ro")) return;
    try {
      assertRefused(await runOn(mount), mount, /read-only file system/);
      assertRefused(await runOn(join(mount, "data")), mount, /read-only file system/);
    } finally {
      unmount(mount);
    }
  });

  it("missing parents are created, as the default .data is", async () => {
    const dataDir = join(root, "missing", "parents", "data");
    const server = await spawnServer(runtimeUnderTest, [], { dataDir });
    await server.close();
  });
});

describe(`two servers on one --data-dir (${runtimeUnderTest})`, () => {
  it("the second is refused while the first runs, even after a SIGKILL; then one starts", async () => {
    const dataDir = join(root, "shared");
    const start = () => spawnServer(runtimeUnderTest, [], { dataDir });
    const inUse = /another chat server is using it/;

    const first = await start();
    try {
      assertRefused(await runOn(dataDir), dataDir, inUse);
    } finally {
      await first.stop("SIGKILL");
    }
    // Killed: no shutdown ran, and still nothing stale is left behind.
    const second = await start();
    try {
      assertRefused(await runOn(dataDir), dataDir, inUse);
    } finally {
      await second.close();
    }
    const third = await start();
    await third.close();
  });
});

describe(`a full disk (${runtimeUnderTest})`, () => {
  it("answers resource_exhausted and logs SQLITE_FULL; reads still work", async (t) => {
    const mount = join(root, "full");
    if (!mountTmpfs(t, mount, "size=1m")) return;
    const server = await spawnServer(runtimeUnderTest, [], { dataDir: mount });
    try {
      const client = createClient(ChatService, createGrpcTransport({ baseUrl: server.url }));
      const text = "x".repeat(4000);
      let sent = 0;
      let failure: ConnectError | undefined;
      // 1 MiB holds fewer than 260 such messages (and the WAL), however SQLite lays them out.
      while (failure === undefined && sent < 1000) {
        try {
          await client.send({ room: "full", sender: "s", text });
          sent++;
        } catch (e) {
          failure = ConnectError.from(e);
        }
      }
      assert.ok(failure, `the disk filled up after ${sent} messages`);
      assert.equal(Code[failure.code], "ResourceExhausted", failure.message);
      assert.match(failure.rawMessage, /storage is full/);

      const errorLines = () =>
        server.log.filter((l) => l.level >= 50).map((l) => JSON.stringify(l));
      // The log line may reach our pipe after the answer reached the client.
      await eventually(() => errorLines().length > 0, 5000, "the failure in the log");
      const errors = errorLines();
      assert.ok(
        errors.every((l) => /SQLITE_FULL|database or disk is full/.test(l)),
        errors.join("\n"),
      );
      assert.ok(!errors.some((l) => /cannot rollback/.test(l)), errors.join("\n"));

      const history = await client.getHistory({ room: "full", limit: 500 });
      assert.equal(history.messages.length, sent);
    } finally {
      await server.stop("SIGKILL");
      unmount(mount);
    }
  });
});
