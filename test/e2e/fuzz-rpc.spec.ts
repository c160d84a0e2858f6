/**
 * Fuzz of RPC inputs (issue 11, "Hostile-input tests"): random and mutated protobuf bytes
 * and random JSON to every method of chat.v1.ChatService and of the seed's grpc.ChatServer,
 * over Connect (HTTP/1.1 and h2c), gRPC (h2c) and gRPC-Web (HTTP/1.1 and h2c), as raw
 * requests whose bytes the test controls. Every answer must be a proper status (success,
 * InvalidArgument, ResourceExhausted, Unimplemented...), never Internal or Unknown, never
 * an HTTP 5xx, never a hang, and nothing is logged at error level. Cases come from a
 * seeded PRNG: a failure prints the seed, and `FUZZ_SEED=<seed>` replays it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { startServer } from "../support/server.ts";
import {
  callH1,
  callH2,
  createH1Pool,
  createH2Pool,
  isServerFault,
  outcome,
  protocols,
  requestFor,
} from "./support/fuzz-calls.ts";
import { fuzzBinary, fuzzJson, fuzzMethods } from "./support/fuzz-messages.ts";
import { errorLines, fuzzRound } from "./support/fuzz-round.ts";
import { bystander, createRandom, fuzzSeed, runPool, withSeed } from "./support/hostile.ts";
import { assertStillServes } from "./support/still-serves.ts";

/** `FUZZ_CASES` runs more (or fewer), for a longer hunt than `npm test` affords. */
const cases = Number(process.env.FUZZ_CASES) || 5000;
const concurrency = 24;
describe("inputs the fuzz found", () => {
  it("a JSON request holding an unpaired surrogate gets InvalidArgument over gRPC and gRPC-Web, unary and streaming", async () => {
    // `"\ud800"` fails to decode with a message quoting it; encoding that message into
    // grpc-message threw, and the call ended with no status (h2) or hung (HTTP/1.1).
    const server = await startServer({ logger: false });
    const h1 = createH1Pool();
    const h2 = createH2Pool(server.url);
    try {
      const random = createRandom(1);
      const message = Buffer.from('"\\ud800"');
      for (const m of fuzzMethods) {
        for (const protocol of ["grpc-h2", "grpcweb-h1", "grpcweb-h2"] as const) {
          // Bidi over HTTP/1.1 is refused before any decoding (505).
          if (m.method.methodKind === "bidi_streaming" && protocol.endsWith("h1")) continue;
          const request = requestFor(protocol, m, true, message, createRandom(1));
          const answer = protocol.endsWith("h1")
            ? await callH1(server.port, h1.pick(random), m.path, request)
            : await callH2(h2.pick(random), m.path, request);
          assert.equal(outcome(protocol, m, answer), "grpc 3", `${m.path} over ${protocol}`);
        }
      }
    } finally {
      h1.close();
      h2.close();
      await server.close();
    }
  });
});

describe("fuzz: RPC inputs", { timeout: 120_000 }, () => {
  it(`${cases} random protobuf and JSON requests to every method over every protocol: proper statuses, memory and connections back to baseline`, async (t) => {
    const seed = fuzzSeed();
    t.diagnostic(`seed ${seed}`);
    const { stream: sink, errors } = errorLines();
    const server = await startServer({
      // pino takes a stream next to the level; BuildOptions names only the level.
      logger: { level: "warn", stream: sink } as { level: string },
      retention: { maxMessagesPerRoom: 50 },
    });
    const { client, close } = bystander(server.url);
    const h1 = createH1Pool();
    const h2 = createH2Pool(server.url);
    try {
      await withSeed(seed, async () => {
        const random = createRandom(seed);
        const tally = new Map<string, number>();
        await fuzzRound({
          t,
          server,
          client,
          cases,
          errors,
          faultsShown: 10,
          releaseMs: 3000,
          async run(count, faults) {
            const drawn = Array.from({ length: count }, () => ({
              m: random.pick(fuzzMethods),
              protocol: random.pick(protocols),
              json: random.chance(0.4),
              caseSeed: random.int(2 ** 31) + 1,
            }));
            await runPool(drawn, concurrency, async ({ m, protocol, json, caseSeed }, i) => {
              const r = createRandom(caseSeed);
              const message = json ? fuzzJson(r, m) : fuzzBinary(r, m);
              const request = requestFor(protocol, m, json, message, r);
              const what = `case ${i} ${m.path} ${protocol} ${json ? "json" : "proto"} ${message.toString("hex").slice(0, 80)}`;
              try {
                const answer = protocol.endsWith("h1")
                  ? await callH1(server.port, h1.pick(r), m.path, request)
                  : await callH2(h2.pick(r), m.path, request);
                const result = outcome(protocol, m, answer);
                tally.set(result, (tally.get(result) ?? 0) + 1);
                if (isServerFault(result)) faults.push(`${what}: ${result}`);
              } catch (e) {
                faults.push(`${what}: ${(e as Error).message}`);
              }
            });
          },
          afterRun: () => {
            h1.close();
            h2.close();
          },
          describeRun: () =>
            [...tally]
              .sort((a, b) => b[1] - a[1])
              .map(([k, n]) => `${k}: ${n}`)
              .join(", "),
        });
      });
      await assertStillServes(server);
    } finally {
      h1.close();
      h2.close();
      close();
      await server.close();
    }
  });
});
