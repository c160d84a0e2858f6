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

/**
 * A POST from the page's origin: what the page may read of the answer, or
 * the error `fetch` threw (as it does when CORS refuses). A byte body is
 * passed as numbers, which the page turns back into bytes.
 */
function postFromPage(
  page: Page,
  url: string,
  headers: Record<string, string>,
  body: string | number[],
): Promise<CallResult> {
  return page.evaluate(
    async ({ url, headers, body }) => {
      try {
        const bytes = typeof body === "string" ? body : new Uint8Array(body);
        const res = await fetch(url, { method: "POST", headers, body: bytes });
        const grpcStatus = res.headers.get("grpc-status");
        return { ok: true, status: res.status, body: await res.text(), grpcStatus };
      } catch (e) {
        return { ok: false, error: String(e) };
      }
    },
    { url, headers, body },
  );
}

/** A Connect unary Send, as connect-web would make it. */
function connectSend(page: Page, baseUrl: string): Promise<CallResult> {
  return postFromPage(
    page,
    `${baseUrl}/chat.v1.ChatService/Send`,
    { "content-type": "application/json", "connect-protocol-version": "1" },
    JSON.stringify({ room: "cors", sender: "site", text: "hello from another site" }),
  );
}

/**
 * A gRPC-Web call answered trailers-only (a bidi method over HTTP/1.1): its
 * status is only in the headers, which the page can read only if exposed.
 */
function grpcWebStatus(page: Page, baseUrl: string): Promise<CallResult> {
  return postFromPage(
    page,
    `${baseUrl}/chat.v1.ChatService/Chat`,
    { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
    [0, 0, 0, 0, 0],
  );
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
