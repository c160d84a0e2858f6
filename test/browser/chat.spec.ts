/**
 * The browser client in headless Chromium against the real server: two pages
 * chatting with each other and with a gRPC client, presence and typing, no
 * double send on a slow or lossy network, HTML shown as text, gRPC-Web, and
 * screenshots at phone and desktop sizes. Where a second person is needed
 * only as a name or a sender, a gRPC client plays them (cheaper than a page).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { ChatService } from "../../src/gen/chat/v1/chat_pb.ts";
import { eventually } from "../support/server.ts";
import {
  joinByKeyboard,
  joinByUrl,
  messageTexts,
  newPage,
  say,
  screenshot,
  waitForMessage,
} from "./support/browser.ts";
import { useBrowserEnv } from "./support/browser-env.ts";

const env = useBrowserEnv();

describe("browser client", () => {
  it("two pages and a gRPC client chat in one room, with history, presence and typing", async () => {
    const room = "chat-1";
    const client = createClient(ChatService, env.grpc.transport);
    await client.send({ room, sender: "carol", text: "from before anyone came" });

    const ann = await newPage(env.browser);
    await joinByKeyboard(ann, env.server.url, "ann", room);
    // The message box has focus after joining: a keyboard user just types.
    assert.equal(await ann.evaluate(() => document.activeElement?.id), "text");
    const bob = await newPage(env.browser);
    await joinByUrl(bob, env.server.url, { name: "bob", room });

    for (const page of [ann, bob]) {
      await waitForMessage(page, "from before anyone came");
      await page.locator("#members li", { hasText: "bob" }).waitFor();
      await page.locator("#members li", { hasText: "ann" }).waitFor();
    }
    assert.match((await ann.locator("#members li.own").textContent()) ?? "", /^ann \(you\)$/);

    // Typing shows on the other page, and ends when the message arrives.
    await ann.getByLabel("Message", { exact: true }).pressSequentially("hel");
    await bob.locator("#typing", { hasText: "ann is typing…" }).waitFor();
    await ann.getByLabel("Message", { exact: true }).press("Enter");
    await waitForMessage(bob, "hel");
    await bob.locator("#typing", { hasText: /^$/ }).waitFor();

    // Shift+Enter is a newline, not a send.
    const box = bob.getByLabel("Message", { exact: true });
    await box.pressSequentially("line one");
    await box.press("Shift+Enter");
    await box.pressSequentially("line two");
    await box.press("Enter");
    await waitForMessage(ann, "line one\nline two");
    assert.equal(await box.inputValue(), "");

    // The gRPC client sees the pages' messages, and they see its own.
    const seen: string[] = [];
    const ac = new AbortController();
    const following = (async () => {
      for await (const res of client.subscribe(
        { room, start: { case: "afterSeq", value: 0n } },
        { signal: ac.signal },
      )) {
        if (res.event?.kind.case === "message") seen.push(res.event.kind.value.text);
      }
    })().catch(() => {});
    await client.send({ room, sender: "grpc-gus", text: "hi pages, from gRPC" });
    await say(ann, "hi gus");
    for (const page of [ann, bob]) await waitForMessage(page, "hi pages, from gRPC");
    await waitForMessage(bob, "hi gus");
    const deadline = Date.now() + 3000;
    while (!seen.includes("hi gus") && Date.now() < deadline) await sleep(20);
    ac.abort();
    await following;
    assert.deepEqual(seen, [
      "from before anyone came",
      "hel",
      "line one\nline two",
      "hi pages, from gRPC",
      "hi gus",
    ]);

    // Both pages show the same log, once each, own messages marked.
    assert.deepEqual(await messageTexts(ann), seen);
    assert.deepEqual(await messageTexts(bob), seen);
    assert.deepEqual(await ann.locator("#messages li.own .text").allTextContents(), [
      "hel",
      "hi gus",
    ]);

    // Leaving the room updates the others' member list.
    await bob.getByRole("button", { name: "Leave" }).click();
    await ann.locator("#members li", { hasText: "bob" }).waitFor({ state: "detached" });
    await Promise.all([ann.context().close(), bob.context().close()]);
  });

  it("sends once on a slow network however often Enter is pressed, showing it as pending", async () => {
    const room = "slow-net";
    const page = await newPage(env.browser);
    await joinByUrl(page, env.server.url, { name: "sam", room });
    let sendCalls = 0;
    await page.route("**/chat.v1.ChatService/Send", async (route) => {
      sendCalls++;
      await sleep(700);
      await route.continue();
    });
    const box = page.getByLabel("Message", { exact: true });
    await box.fill("only once please");
    await box.press("Enter");
    await box.press("Enter");
    await page.getByRole("button", { name: "Send" }).click();
    await page.locator("#pending li.pending", { hasText: "only once please" }).waitFor();
    await waitForMessage(page, "only once please");
    await page.locator("#pending li").waitFor({ state: "detached" });
    const history = await createClient(ChatService, env.grpc.transport).getHistory({ room });
    assert.deepEqual(
      history.messages.map((m) => m.text),
      ["only once please"],
    );
    assert.equal(sendCalls, 1);
    await page.context().close();
  });

  it("retries a send whose response was lost with the same client_id; the room gets it once", async () => {
    const room = "lost-ack";
    const page = await newPage(env.browser);
    await joinByUrl(page, env.server.url, { name: "lou", room });
    const clientIds: string[] = [];
    await page.route("**/chat.v1.ChatService/Send", async (route) => {
      clientIds.push(JSON.parse(route.request().postData() ?? "{}").clientId);
      if (clientIds.length === 1) {
        // The server stores it, but the page never hears back.
        await route.fetch();
        await route.abort("connectionreset");
        return;
      }
      await route.continue();
    });
    await say(page, "stored once");
    await waitForMessage(page, "stored once");
    await page.locator("#pending li").waitFor({ state: "detached" });
    // The retry goes out although the message already came back on the stream:
    // the page could not know that its first attempt was stored.
    await eventually(() => clientIds.length === 2, 5000, "the retry");
    await sleep(300);
    assert.equal(clientIds.length, 2, "one retry, then acknowledged");
    assert.equal(clientIds[0], clientIds[1]);
    assert.match(clientIds[0] ?? "", /^[0-9a-f-]{36}$/);
    const history = await createClient(ChatService, env.grpc.transport).getHistory({ room });
    assert.deepEqual(
      history.messages.map((m) => m.text),
      ["stored once"],
    );
    assert.deepEqual(await messageTexts(page), ["stored once"]);
    await page.context().close();
  });

  it("shows HTML in messages and names as literal text", async () => {
    const room = "escaping";
    const html = `<img src=x onerror="document.title='pwned'"><b>bold</b>`;
    const page = await newPage(env.browser);
    await joinByUrl(page, env.server.url, { name: "vic", room });
    const eve = present(room, "<i>eve</i>");
    await say(page, html);
    await createClient(ChatService, env.grpc.transport).send({
      room,
      sender: "<script>alert(1)</script>",
      text: "<a href='javascript:alert(1)'>click</a>",
    });
    await waitForMessage(page, html);
    await waitForMessage(page, "<a href='javascript:alert(1)'>click</a>");
    await page.locator("#members li", { hasText: "<i>eve</i>" }).waitFor();
    assert.equal(
      await page.locator("#messages, #members").locator("img, b, a, script, i").count(),
      0,
    );
    assert.deepEqual(await page.locator("#messages .sender").allTextContents(), [
      "vic",
      "<script>alert(1)</script>",
    ]);
    assert.notEqual(await page.title(), "pwned");
    eve.abort();
    await page.context().close();
  });

  it("speaks gRPC-Web when chosen", async () => {
    const room = "grpc-web";
    const web = await newPage(env.browser);
    const contentTypes = new Set<string>();
    web.on("request", (req) => {
      if (req.url().includes("/chat.v1.ChatService/")) {
        contentTypes.add(req.headers()["content-type"] ?? "");
      }
    });
    await web.goto(env.server.url);
    await web.getByLabel("Your name").fill("wendy");
    await web.getByLabel("Room", { exact: true }).fill(room);
    await web.getByLabel("Protocol").selectOption({ label: "gRPC-Web" });
    await web.getByRole("button", { name: "Join" }).click();
    await web.locator('#banner[data-state="live"]').waitFor();
    const client = createClient(ChatService, env.grpc.transport);
    await say(web, "sent over gRPC-Web");
    await client.send({ room, sender: "gus", text: "sent over gRPC" });
    await waitForMessage(web, "sent over gRPC-Web");
    await waitForMessage(web, "sent over gRPC");
    assert.deepEqual(
      (await client.getHistory({ room })).messages.map((m) => m.text),
      ["sent over gRPC-Web", "sent over gRPC"],
    );
    assert.deepEqual([...contentTypes].sort(), ["application/grpc-web+proto"]);
    // The choice is remembered for the next visit.
    await web.goto(env.server.url);
    assert.equal(await web.getByLabel("Protocol").inputValue(), "grpc-web");
    assert.equal(await web.getByLabel("Your name").inputValue(), "wendy");
    await web.context().close();
  });

  it("lays out for a desktop and a phone (screenshots in test-artifacts/)", async () => {
    const room = "design-review";
    const client = createClient(ChatService, env.grpc.transport);
    const lines: [string, string][] = [
      ["maya", "Morning! Did the deploy go out?"],
      ["li", "Yes, 9:40. Metrics look normal so far."],
      ["maya", "Great. I'll watch the error rate for a bit.\nPing me if anything moves."],
    ];
    for (const [sender, text] of lines) await client.send({ room, sender, text });
    const li = present(room, "li");
    const page = await newPage(env.browser, { width: 1280, height: 720 });
    await joinByUrl(page, env.server.url, { name: "maya", room });
    await say(page, "Deploy notes are in the wiki.");
    await waitForMessage(page, "Deploy notes are in the wiki.");
    await page.locator("#members li", { hasText: "li" }).waitFor();
    await client.setTyping({ room, name: "li", typing: true });
    await page.locator("#typing", { hasText: "li is typing…" }).waitFor();

    for (const { file, viewport } of [
      { file: "web-desktop.png", viewport: { width: 1280, height: 720 } },
      { file: "web-phone.png", viewport: { width: 390, height: 760 } },
    ]) {
      await page.setViewportSize(viewport);
      // Nothing overflows sideways: the page never scrolls horizontally.
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
      );
      assert.equal(overflow, 0, `${file}: horizontal overflow`);
      const log = await page.locator("#scroller").boundingBox();
      const people = await page.locator("aside.people").boundingBox();
      const composer = await page.locator("#composer").boundingBox();
      assert.ok(log && people && composer);
      if (viewport.width > 700) {
        assert.ok(people.x >= log.x + log.width - 1, "desktop: people beside the log");
      } else {
        assert.ok(people.y + people.height <= log.y + 1, "phone: people above the log");
        assert.ok(log.width >= viewport.width - 2, "phone: the log takes the full width");
      }
      assert.ok(
        composer.y + composer.height <= viewport.height + 1,
        `${file}: the message box is on screen`,
      );
      await screenshot(page, file);
    }
    li.abort();
    await page.context().close();
  });
});

/** Someone in the room through a gRPC subscription with a name (presence only). */
function present(room: string, name: string): AbortController {
  const ac = new AbortController();
  const client = createClient(ChatService, env.grpc.transport);
  (async () => {
    for await (const _ of client.subscribe({ room, name }, { signal: ac.signal })) {
      // Presence only: events are not needed.
    }
  })().catch(() => {});
  return ac;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
