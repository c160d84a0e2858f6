import { cors as connectCors } from "@connectrpc/connect";
import fastifyCors from "@fastify/cors";
import type { FastifyInstance } from "fastify";

/**
 * Lets pages of `origins` (`https://chat.example.com`) call the RPCs from
 * the browser; with none (the default) no CORS header is sent at all. It
 * answers preflights for every route, so register it before any hook that
 * could reply first.
 *
 * Connect's lists: gRPC-Web needs grpc-status/grpc-message exposed, Connect
 * its protocol headers allowed. Plus the bearer token (auth) and the rate
 * limits' retry hint.
 */
export async function registerCors(
  app: FastifyInstance,
  origins: readonly string[] = [],
): Promise<void> {
  if (origins.length === 0) return;
  await app.register(fastifyCors, {
    origin: [...origins],
    methods: [...connectCors.allowedMethods],
    allowedHeaders: [...connectCors.allowedHeaders, "Authorization"],
    exposedHeaders: [...connectCors.exposedHeaders, "Retry-After-Ms"],
    maxAge: 2 * 60 * 60,
  });
}
