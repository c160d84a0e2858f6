import type { FastifyInstance } from "fastify";
import type { ChatMetrics } from "./metrics.ts";
import type { Readiness } from "./readiness.ts";

export interface OpsRoutesOptions {
  metrics: ChatMetrics;
  readiness: Readiness;
}

const text = "text/plain; charset=utf-8";

/**
 * Plain HTTP endpoints for operators, on the RPC port (HTTP/1.1, h2c and
 * h2 alike), for scrapers and probes that do not speak gRPC:
 *
 * - `GET /metrics`: Prometheus text format (see `ChatMetrics`).
 * - `GET /healthz`: liveness, 200 whenever the process answers HTTP at all.
 * - `GET /readyz`: readiness, 200 when ready, 503 (with the reasons) while
 *   shutting down or while the store does not answer.
 *
 * None is cached (`cache-control: no-store`). Fastify answers HEAD too. Once
 * `app.close()` has begun, Fastify itself answers every request with 503.
 */
export function registerOpsRoutes(
  app: FastifyInstance,
  { metrics, readiness }: OpsRoutesOptions,
): void {
  app.get("/metrics", async (_req, reply) => {
    const body = await metrics.text();
    return reply.header("cache-control", "no-store").type(metrics.contentType).send(body);
  });
  app.get("/healthz", async (_req, reply) =>
    reply.header("cache-control", "no-store").type(text).send("ok\n"),
  );
  app.get("/readyz", async (_req, reply) => {
    const { ready, reasons } = await readiness.check();
    return reply
      .code(ready ? 200 : 503)
      .header("cache-control", "no-store")
      .type(text)
      .send(ready ? "ready\n" : `not ready: ${reasons.join(", ")}\n`);
  });
}
