/**
 * Serves the browser client (clients/web/dist/, built by `npm run build:web`)
 * at `/` on the RPC port. The page itself is same-origin and needs no CORS
 * (pages of other sites: see `registerCors`).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance } from "fastify";

/** Where `npm run build:web` puts the bundle. */
export const defaultWebRoot = fileURLToPath(new URL("../../clients/web/dist/", import.meta.url));

export interface WebClientOptions {
  /** Directory of the built client; `false` serves no page. Default clients/web/dist/. */
  root?: string | false;
}

/**
 * The page renders user text with textContent only; this policy is the second
 * line of defence: no inline script, no third-party anything, RPCs to our own
 * origin only.
 */
const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const notBuilt =
  "The browser client has not been built: run `npm run build:web` (npm start does it), then reload.\n";

export async function registerWebClient(
  app: FastifyInstance,
  options: WebClientOptions = {},
): Promise<void> {
  const root = options.root ?? defaultWebRoot;
  if (root === false) return;

  // Encapsulated: the static routes and reply.sendFile stay in this scope.
  await app.register(async (scope) => {
    await scope.register(fastifyStatic, {
      root,
      prefix: "/",
      index: false,
      setHeaders(res, path) {
        res.setHeader("x-content-type-options", "nosniff");
        res.setHeader("referrer-policy", "no-referrer");
        if (path.endsWith(".html")) {
          res.setHeader("content-security-policy", contentSecurityPolicy);
        }
      },
    });
    // Checked per request: building while the server runs makes `/` work
    // without a restart.
    scope.get("/", (_req, reply) => {
      if (!existsSync(join(root, "index.html"))) {
        return reply.code(503).type("text/plain; charset=utf-8").send(notBuilt);
      }
      return reply.sendFile("index.html");
    });
  });
}
