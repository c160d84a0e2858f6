/**
 * A page across server restarts (same port, as a redeploy looks to a user):
 * with the durable SQLite store it keeps its history, shows that it is away,
 * resumes from the last seq it holds and shows nothing twice, including a
 * message typed while the server was down; with an in-memory store the
 * history really is new, and the page says so instead of mixing the two.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import type { Browser } from "playwright-core";
import { ChatService } from "../../src/gen/chat/v1/chat_pb.ts";
import { openSqliteStore } from "../../src/stores/sqlite/open-store.ts";
import { cleanUpAll, closeEach } from "../support/clean-up.ts";
import { startServer, type TestServer } from "../support/server.ts";
import { createTestTransport } from "../support/transports.ts";
import { ensureWebClientBuilt } from "../support/web-client.ts";
import {
  joinByUrl,
  launchBrowser,
  messageTexts,
  newPage,
  say,
  waitForMessage,
  waitLive,
} from "./support/browser.ts";

let browser: Browser;
const dataDir = mkdtempSync(join(tmpdir(), "chat-browser-"));
const servers = new Set<TestServer>();

async function start(port: number, durable: boolean): Promise<TestServer> {
  const store = durable ? await openSqliteStore({ dataDir, durability: "normal" }) : undefined;
  const server = await startServer({ port, store });
  servers.add(server);
  return server;
}

/** A connect-node client of `url`, as a second user of the page's room. */
const nodeClient = (url: string) =>
  createClient(ChatService, createTestTransport(url, "connect-h1").transport);

async function stop(server: TestServer): Promise<void> {
  servers.delete(server);
  await server.close();
}

before(async () => {
  await ensureWebClientBuilt();
  browser = await launchBrowser();
});
after(() =>
  cleanUpAll(
    () => browser?.close(),
    () => closeEach(servers, (s) => s.close()),
    () => rmSync(dataDir, { recursive: true, force: true }),
  ),
);

describe("browser client across server restarts", () => {
  it("keeps its history and resumes without duplicates after a restart (SQLite store)", async () => {
    const room = "restart";
    const first = await start(0, true);
    const { port, url } = first;
    const node = () => nodeClient(url);
    await node().send({ room, sender: "ops", text: "one" });
    await node().send({ room, sender: "ops", text: "two" });

    const page = await newPage(browser);
    await joinByUrl(page, url, { name: "rita", room });
    await waitForMessage(page, "two");
    await say(page, "three");
    await waitForMessage(page, "three");

    await stop(first);
    await page.locator('#banner[data-state="reconnecting"]').waitFor();
    await page.locator("#banner", { hasText: "Connection lost" }).waitFor();
    // Typed while the server is away: shown as pending, sent once it is back.
    await say(page, "typed while the server was down");
    await page
      .locator("#pending li.pending", { hasText: "typed while the server was down" })
      .waitFor();

    const second = await start(port, true);
    await node().send({ room, sender: "ops", text: "sent while the page was away" });
    await waitLive(page, 15_000);
    await waitForMessage(page, "sent while the page was away");
    await waitForMessage(page, "typed while the server was down", 10_000);
    await page.locator("#pending li").waitFor({ state: "detached" });

    const texts = await messageTexts(page);
    assert.deepEqual(texts.slice(0, 3), ["one", "two", "three"]);
    assert.deepEqual(texts.slice(3).sort(), [
      "sent while the page was away",
      "typed while the server was down",
    ]);
    const history = await node().getHistory({ room });
    assert.deepEqual(
      history.messages.map((m) => m.text),
      texts,
      "the page shows exactly the server's history, in order",
    );
    assert.equal(await page.locator("#messages li.notice").count(), 0, "no reset, no gap");

    // And it is live again: new messages keep coming, once each.
    await node().send({ room, sender: "ops", text: "after the restart" });
    await waitForMessage(page, "after the restart");
    assert.equal((await messageTexts(page)).length, 6);
    await page.context().close();
    await stop(second);
  });

  it("replaces its history, with a notice, when the restarted server's history is new (memory store)", async () => {
    const room = "amnesia";
    const first = await start(0, false);
    const { port, url } = first;
    const node = () => nodeClient(url);
    const page = await newPage(browser);
    await joinByUrl(page, url, { name: "max", room });
    await say(page, "old world");
    await waitForMessage(page, "old world");

    await stop(first);
    await page.locator('#banner[data-state="reconnecting"]').waitFor();
    const second = await start(port, false);
    await node().send({ room, sender: "ops", text: "new world" });
    await page.locator("#messages li.notice.reset").waitFor({ timeout: 15_000 });
    await waitForMessage(page, "new world");
    await waitLive(page);
    assert.deepEqual(await messageTexts(page), ["new world"]);
    await page.context().close();
    await stop(second);
  });
});
