/**
 * The browser client against a server with auth on: a token from the URL
 * or the join form, the name it speaks as, and a fresh token asked for (and
 * the room resumed) when the one in use expires.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { ChatService } from "../../src/gen/chat/v1/chat_pb.ts";
import { bearer, testSecret, token } from "../e2e/support/tokens.ts";
import { newPage, say, waitForMessage, waitLive } from "./support/browser.ts";
import { useBrowserEnv } from "./support/browser-env.ts";

const env = useBrowserEnv({ auth: { secret: testSecret } });

describe("browser client with auth on", () => {
  it("joins with ?token=, speaks as the token's name, and takes the token out of the URL", async () => {
    const room = "auth-url";
    const jwt = await token("u-ann", { name: "ann" });
    const page = await newPage(env.browser);
    await page.goto(`${env.server.url}/?${new URLSearchParams({ room, token: jwt })}`);
    await waitLive(page);
    assert.doesNotMatch(page.url(), /token=/);
    await page.locator("#members li.own", { hasText: "ann (you)" }).waitFor();
    await say(page, "signed in");
    await waitForMessage(page, "signed in");
    const client = createClient(ChatService, env.grpc.transport);
    const history = await client.getHistory({ room }, bearer(jwt));
    assert.deepEqual(
      history.messages.map((m) => [m.sender, m.text]),
      [["ann", "signed in"]],
    );
    await page.context().close();
  });

  it("takes a token typed into the join form, and names the user after it", async () => {
    const page = await newPage(env.browser);
    await page.goto(env.server.url);
    await page.getByLabel("Room", { exact: true }).fill("auth-form");
    await page.getByLabel("Token").fill(await token("u-bob", { name: "bob" }));
    await page.getByLabel("Token").dispatchEvent("change");
    assert.equal(await page.getByLabel("Your name").inputValue(), "bob");
    await page.getByRole("button", { name: "Join" }).click();
    await waitLive(page);
    await page.locator("#members li.own", { hasText: "bob (you)" }).waitFor();
    await page.context().close();
  });

  it("asks for a fresh token when the one in use expires, and resumes without a gap", async () => {
    const room = "auth-expiry";
    const short = await token("u-cat", { name: "cat", ttlSec: 2, now: () => Date.now() - 500 });
    const fresh = await token("u-cat", { name: "cat" });
    const page = await newPage(env.browser);
    const prompts: string[] = [];
    page.on("dialog", (dialog) => {
      prompts.push(dialog.message());
      void dialog.accept(fresh);
    });
    await page.goto(`${env.server.url}/?${new URLSearchParams({ room, token: short })}`);
    await waitLive(page);
    const client = createClient(ChatService, env.grpc.transport);
    const other = bearer(await token("u-dan", { name: "dan" }));
    // The token expires at the latest 1.5 s after minting: a message after that.
    await new Promise((r) => setTimeout(r, 2000));
    await client.send({ room, text: "while the token was renewed" }, other);
    await waitForMessage(page, "while the token was renewed");
    assert.equal(prompts.length, 1, prompts.join(" / "));
    assert.match(prompts[0] ?? "", /token has expired/);
    await say(page, "still here");
    await waitForMessage(page, "still here");
    await page.context().close();
  });
});
