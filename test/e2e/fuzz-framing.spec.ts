/**
 * Fuzz of the protocol sniffing and framing layer (issue 11, "Hostile-input tests"):
 * thousands of raw TCP connections carrying random and truncated prefaces, invalid HTTP/2
 * frames, gRPC envelopes whose length prefix lies (up to 2^32-1), malformed HTTP/1.1
 * requests, and half-closes, from many loopback addresses. Meanwhile a well-behaved client
 * sends and receives on a connection of its own. Cases come from a seeded PRNG: a failure
 * prints the seed, and `FUZZ_SEED=<seed>` replays it.
 */
import * as net from "node:net";
import { describe, it } from "node:test";
import { startServer } from "../support/server.ts";
import { type ByteCase, drawByteCase, splitWrites } from "./support/fuzz-bytes.ts";
import { errorLines, fuzzRound } from "./support/fuzz-round.ts";
import {
  bystander,
  connectionsDropTo,
  createRandom,
  fuzzSeed,
  type Random,
  runPool,
  withSeed,
} from "./support/hostile.ts";
import { assertStillServes } from "./support/still-serves.ts";

/** `FUZZ_CASES` runs more (or fewer), for a longer hunt than `npm test` affords. */
const cases = Number(process.env.FUZZ_CASES) || 3000;
const concurrency = 48;
/** How long a case waits for the server to close before closing itself. */
const caseCapMs = 1500;

/** A source address of 127.0.0.0/8 other than the bystander's, so per-IP state is spread. */
function randomLoopback(random: Random): string {
  return `127.${1 + random.int(254)}.${random.int(256)}.${1 + random.int(254)}`;
}

/** Sends one case over a raw connection; resolves with what came back (latin1). */
async function runCase(port: number, c: ByteCase, random: Random): Promise<string> {
  const writes = splitWrites(random, c.chunks);
  const pauses = writes.map(() => (random.chance(0.3) ? random.int(20) : 0));
  const socket = net.connect({ port, host: "127.0.0.1", localAddress: randomLoopback(random) });
  let response = "";
  socket.on("data", (d: Buffer) => {
    if (response.length < 65_536) response += d.toString("latin1");
  });
  socket.on("error", () => {});
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  const connected = await Promise.race([
    new Promise<boolean>((resolve) => socket.once("connect", () => resolve(true))),
    closed.then(() => false),
  ]);
  if (!connected) return response;
  for (const [i, write] of writes.entries()) {
    if (socket.destroyed) break;
    socket.write(write);
    if (pauses[i]) await new Promise((resolve) => setTimeout(resolve, pauses[i]));
  }
  if (c.ending === "fin") socket.end();
  if (c.ending === "destroy") socket.destroy();
  const cap = setTimeout(() => socket.destroy(), caseCapMs);
  await closed;
  clearTimeout(cap);
  return response;
}

/** What the server must never answer to bad input: a 5xx, or gRPC INTERNAL/UNKNOWN. */
function serverFault(response: string): string | undefined {
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(response)?.[1];
  if (status !== undefined && /^50[0-3]$/.test(status)) return `HTTP ${status}`;
  if (/grpc-status: ?(13|2)\r\n/i.test(response)) return "gRPC INTERNAL or UNKNOWN";
  if (/"code":"(internal|unknown)"/.test(response)) return "Connect internal or unknown";
  return undefined;
}

describe("fuzz: sniffing and framing", { timeout: 120_000 }, () => {
  it(`${cases} hostile connections: no crash, no 5xx, memory and connections back to baseline, a bystander served throughout`, async (t) => {
    const seed = fuzzSeed();
    t.diagnostic(`seed ${seed}`);
    const { stream: sink, errors } = errorLines();
    const server = await startServer({
      // pino takes a stream next to the level; BuildOptions names only the level.
      logger: { level: "warn", stream: sink } as { level: string },
      sniffTimeoutMs: 300,
      requestTimeoutMs: 1000,
      retention: { maxMessagesPerRoom: 50 },
    });
    const { client, close } = bystander(server.url);
    try {
      await withSeed(seed, async () => {
        const random = createRandom(seed);
        await fuzzRound({
          t,
          server,
          client,
          cases,
          errors,
          faultsShown: 20,
          releaseMs: caseCapMs + 2000,
          async run(count, faults) {
            const drawn = Array.from({ length: count }, () => {
              const c = drawByteCase(random);
              return { c, caseSeed: random.int(2 ** 31) + 1 };
            });
            await runPool(drawn, concurrency, async ({ c, caseSeed }, i) => {
              const response = await runCase(server.port, c, createRandom(caseSeed));
              const fault = serverFault(response);
              if (fault !== undefined) faults.push(`case ${i} (${c.kind}): ${fault}`);
            });
          },
          beforeBaseline: async () => {
            await connectionsDropTo(server, 1, 3000);
          },
        });
      });
      await assertStillServes(server);
    } finally {
      close();
      await server.close();
    }
  });
});
