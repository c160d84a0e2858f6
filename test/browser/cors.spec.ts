/**
 * Cross-origin browser clients, in a real browser's CORS enforcement: a page
 * of a configured origin may call the RPCs (Connect and gRPC-Web, reading
 * gRPC-Web's status headers); a page of any other origin may not, and with
 * no origin configured no page of another site may.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { startServer, type TestServer } from "../support/server.ts";
import { launchBrowser, newPage } from "./support/browser.ts";

/** Another site: serves an empty page, from which the tests call the chat server. */
let site: Server;
let sitePort: number;
let browser: Browser;

before(async () => {
  site = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>site</title>");
  });
  await new Promise<void>((resolve) => site.listen(0, "127.0.0.1", resolve));
  sitePort = (site.address() as AddressInfo).port;
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await new Promise((resolve) => site?.close(resolve));
});

interface CallResult {
  ok: boolean;
  status?: number;
  body?: string;
  grpcStatus?: string | null;
  error?: string;
}

/** A Connect unary Send, as connect-web would make it, from the page's origin. */
function connectSend(page: Page, baseUrl: string): Promise<CallResult> {
  return page.evaluate(async (url) => {
    try {
      const res = await fetch(`${url}/chat.v1.ChatService/Send`, {
        method: "POST",
        headers: { "content-type": "application/json", "connect-protocol-version": "1" },
        body: JSON.stringify({ room: "cors", sender: "site", text: "hello from another site" }),
      });
      return { ok: true, status: res.status, body: await res.text() };
    } catch (e) {
      return { ok: false, error: String(e) };
    }
  }, baseUrl);
}

/**
 * A gRPC-Web call answered trailers-only (a bidi method over HTTP/1.1): its
 * status is only in the headers, which the page can read only if exposed.
 */
function grpcWebStatus(page: Page, baseUrl: string): Promise<CallResult> {
  return page.evaluate(async (url) => {
    try {
      const res = await fetch(`${url}/chat.v1.ChatService/Chat`, {
        method: "POST",
        headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
        body: new Uint8Array(5),
      });
      return { ok: true, status: res.status, grpcStatus: res.headers.get("grpc-status") };
    } catch (e) {
      return { ok: false, error: String(e) };
    }
  }, baseUrl);
}

async function pageAt(origin: string): Promise<Page> {
  const page = await newPage(browser);
  await page.goto(`${origin}/`);
  return page;
}

describe("CORS for browser clients of other sites", () => {
  it("lets a configured origin call with Connect and gRPC-Web, and refuses others", async () => {
    const allowed = `http://127.0.0.1:${sitePort}`;
    const server: TestServer = await startServer({ corsOrigins: [allowed] });
    try {
      const page = await pageAt(allowed);
      const sent = await connectSend(page, server.url);
      assert.equal(sent.ok, true, sent.error);
      assert.equal(sent.status, 200);
      assert.match(sent.body ?? "", /"seq":"1"/);
      const status = await grpcWebStatus(page, server.url);
      assert.equal(status.ok, true, status.error);
      assert.equal(status.grpcStatus, "12", "grpc-status is exposed (unimplemented over HTTP/1.1)");

      // Same site server, but "localhost" is another origin, not configured.
      const other = await pageAt(`http://localhost:${sitePort}`);
      const refused = await connectSend(other, server.url);
      assert.equal(refused.ok, false);
      assert.match(refused.error ?? "", /Failed to fetch/);
      await Promise.all([page.context().close(), other.context().close()]);
    } finally {
      await server.close();
    }
  });

  it("refuses every other origin when none is configured", async () => {
    const server = await startServer();
    try {
      const page = await pageAt(`http://127.0.0.1:${sitePort}`);
      const refused = await connectSend(page, server.url);
      assert.equal(refused.ok, false);
      assert.match(refused.error ?? "", /Failed to fetch/);
      await page.context().close();
    } finally {
      await server.close();
    }
  });
});
