import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { buildWebClient } from "../../clients/web/build.ts";
import { tempDirs } from "../../test/support/temp-dir.ts";
import { type BuildOptions, buildApp } from "../app.ts";
import { parseConfig } from "../config.ts";

const temp = tempDirs("chat-web-");
const tempDir = () => temp.make();
after(() => temp.removeAll());

async function withApp(
  options: BuildOptions,
  body: (app: Awaited<ReturnType<typeof buildApp>>["app"]) => Promise<void>,
): Promise<void> {
  const { app } = await buildApp({ logger: false, ...options });
  try {
    await body(app);
  } finally {
    await app.close();
  }
}

const preflight = (origin: string) => ({
  method: "OPTIONS" as const,
  url: "/chat.v1.ChatService/Send",
  headers: {
    origin,
    "access-control-request-method": "POST",
    "access-control-request-headers": "content-type,connect-protocol-version",
  },
});

describe("web client at /", () => {
  it("serves the built page with a strict content security policy, and its assets", async () => {
    const root = tempDir();
    await buildWebClient({ outdir: root });
    await withApp({ webRoot: root }, async (app) => {
      const page = await app.inject({ url: "/" });
      assert.equal(page.statusCode, 200);
      assert.match(String(page.headers["content-type"]), /^text\/html/);
      assert.match(page.body, /<script type="module" src="app.js"><\/script>/);
      assert.match(String(page.headers["content-security-policy"]), /script-src 'self'/);
      assert.equal(page.headers["x-content-type-options"], "nosniff");
      const script = await app.inject({ url: "/app.js" });
      assert.equal(script.statusCode, 200);
      assert.match(String(script.headers["content-type"]), /javascript/);
      const css = await app.inject({ url: "/app.css" });
      assert.match(String(css.headers["content-type"]), /^text\/css/);
      assert.equal((await app.inject({ url: "/missing.js" })).statusCode, 404);
    });
  });

  it("answers 503 with what to run while the client is not built, and serves it once built", async () => {
    const root = tempDir();
    await withApp({ webRoot: root }, async (app) => {
      const res = await app.inject({ url: "/" });
      assert.equal(res.statusCode, 503);
      assert.match(String(res.headers["content-type"]), /^text\/plain/);
      assert.match(res.body, /npm run build:web/);
      await buildWebClient({ outdir: root });
      assert.equal((await app.inject({ url: "/" })).statusCode, 200);
    });
  });

  it("serves no page with webRoot false", async () => {
    await withApp({ webRoot: false }, async (app) => {
      assert.equal((await app.inject({ url: "/" })).statusCode, 404);
    });
  });
});

describe("CORS", () => {
  it("sends no CORS header at all when no origin is configured", async () => {
    await withApp({ webRoot: false }, async (app) => {
      for (const res of [
        await app.inject(preflight("https://site.example")),
        await app.inject({
          method: "POST",
          url: "/chat.v1.ChatService/Send",
          headers: { origin: "https://site.example", "content-type": "application/json" },
          payload: { room: "r", sender: "s", text: "t" },
        }),
      ]) {
        const cors = Object.keys(res.headers).filter((h) => h.startsWith("access-control-"));
        assert.deepEqual(cors, []);
      }
    });
  });

  it("allows the configured origins only, with Connect's header lists", async () => {
    await withApp(
      { webRoot: false, corsOrigins: ["https://a.example", "http://b.example:8080"] },
      async (app) => {
        for (const origin of ["https://a.example", "http://b.example:8080"]) {
          const res = await app.inject(preflight(origin));
          assert.equal(res.statusCode, 204);
          assert.equal(res.headers["access-control-allow-origin"], origin);
          const allowed = String(res.headers["access-control-allow-headers"]).toLowerCase();
          for (const h of [
            "content-type",
            "connect-protocol-version",
            "x-grpc-web",
            "authorization",
          ]) {
            assert.ok(allowed.includes(h), `${h} allowed`);
          }
          assert.match(String(res.headers["access-control-allow-methods"]), /POST/);
        }
        const send = await app.inject({
          method: "POST",
          url: "/chat.v1.ChatService/Send",
          headers: { origin: "https://a.example", "content-type": "application/json" },
          payload: { room: "r", sender: "s", text: "t" },
        });
        assert.equal(send.statusCode, 200);
        assert.equal(send.headers["access-control-allow-origin"], "https://a.example");
        const exposed = String(send.headers["access-control-expose-headers"]).toLowerCase();
        assert.ok(exposed.includes("grpc-status") && exposed.includes("grpc-message"));
        assert.ok(exposed.includes("retry-after-ms"), "the rate limits' hint is readable");

        const other = await app.inject(preflight("https://evil.example"));
        assert.equal(other.headers["access-control-allow-origin"], undefined);
      },
    );
  });

  it("takes origins from --cors-origin or CHAT_CORS_ORIGINS, exact origins only", () => {
    const parse = (argv: string[], env: Record<string, string> = {}) => {
      const result = parseConfig(argv, env);
      assert.ok("config" in result);
      return result.config.corsOrigins;
    };
    assert.equal(parse([]), undefined);
    assert.deepEqual(parse(["--cors-origin", "https://a.example, http://b.example:8080"]), [
      "https://a.example",
      "http://b.example:8080",
    ]);
    assert.deepEqual(parse([], { CHAT_CORS_ORIGINS: "https://env.example" }), [
      "https://env.example",
    ]);
    assert.deepEqual(
      parse(["--cors-origin", "https://flag.example"], {
        CHAT_CORS_ORIGINS: "https://env.example",
      }),
      ["https://flag.example"],
    );
    for (const bad of [
      "*",
      "https://a.example/",
      "https://a.example/path",
      "a.example",
      "ftp://a",
    ]) {
      assert.throws(() => parse(["--cors-origin", bad]), /--cors-origin \(CHAT_CORS_ORIGINS\)/);
    }
  });
});
