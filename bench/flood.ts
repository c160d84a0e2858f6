/**
 * `npm run bench:flood`: does one flooding client move another client's Send
 * latency? (issue 11: without limits, p50 went from 3 to 27.5 ms.)
 *
 * The server runs as its own process with auth on (`src/main.ts`); the
 * flooder runs in another process (this file with `--flooder`), so neither
 * the server nor the measuring client shares an event loop with it. The
 * victim, on its own identity and connection, sends one message at a time
 * (25 a second) to a room with 20 subscribers and records each Send's
 * latency; the flooder sends as fast as it can, 32 calls in flight, to the
 * same room.
 *
 * Scenarios: no flood; a flood with rate limits off; a flood with the
 * default limits; a flood with a tight per-user limit. Prints a table and
 * writes bench/results/flood.json. `--quick` shortens every phase.
 */
import { fork } from "node:child_process";
import { setMaxListeners } from "node:events";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { mintToken } from "../src/auth/mint.ts";
import { ChatService } from "../src/gen/chat/v1/chat_pb.ts";
import { spawnBenchServer } from "./server-process.ts";
import { type Summary, summarize } from "./stats.ts";

const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    role: { type: "string" },
    url: { type: "string" },
    token: { type: "string" },
  },
});

const room = "flood";
/** The victim sends one message per this interval: 25/s. */
const victimIntervalMs = 40;
const secret = new TextEncoder().encode("bench secret: long enough for HS256, not secret");

function chatClient(baseUrl: string) {
  const sessionManager = new Http2SessionManager(baseUrl);
  const transport = createGrpcTransport({ baseUrl, sessionManager });
  return { client: createClient(ChatService, transport), close: () => sessionManager.abort() };
}

/** The watchers process: twenty subscribers of the room that read and drop every event. */
async function watch(baseUrl: string, token: string): Promise<void> {
  const { client, close } = chatClient(baseUrl);
  const headers = { authorization: `Bearer ${token}` };
  const stop = new AbortController();
  setMaxListeners(0, stop.signal);
  process.on("message", () => stop.abort());
  let ready = 0;
  const reader = async () => {
    try {
      for await (const res of client.subscribe({ room }, { headers, signal: stop.signal })) {
        if (res.event?.kind.case === "ready" && ++ready === 20) process.send?.("started");
      }
    } catch {
      // Stopped.
    }
  };
  await Promise.all(Array.from({ length: 20 }, reader));
  close();
  process.disconnect?.();
}

/** The flooder process: sends until told to stop, then reports what got through. */
async function flood(baseUrl: string, token: string): Promise<void> {
  const { client, close } = chatClient(baseUrl);
  const headers = { authorization: `Bearer ${token}` };
  let running = true;
  let accepted = 0;
  let refused = 0;
  process.on("message", () => {
    running = false;
  });
  const worker = async () => {
    while (running) {
      try {
        await client.send({ room, text: "flood ".repeat(20) }, { headers });
        accepted++;
      } catch (e) {
        if (ConnectError.from(e).code !== Code.ResourceExhausted) throw e;
        refused++;
      }
    }
  };
  process.send?.("started");
  await Promise.all(Array.from({ length: 32 }, worker));
  close();
  process.send?.({ accepted, refused });
  process.disconnect?.();
}

/** Runs this file as `role` in a child process; resolves once it says it started. */
async function child(role: string, baseUrl: string, token: string) {
  const proc = fork(
    fileURLToPath(import.meta.url),
    ["--role", role, "--url", baseUrl, "--token", token],
    {
      execArgv: ["--import", "tsx"],
    },
  );
  const reports: unknown[] = [];
  let started: () => void = () => {};
  const startedP = new Promise<void>((resolve) => {
    started = resolve;
  });
  proc.on("message", (m) => (m === "started" ? started() : reports.push(m)));
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  await startedP;
  return {
    /** Tells it to stop; resolves with its last report. */
    async stop(): Promise<unknown> {
      proc.send("stop");
      await exited;
      return reports.at(-1);
    },
  };
}

interface Phase {
  name: string;
  serverArgs: string[];
  flood: boolean;
}

interface PhaseResult {
  name: string;
  victim: Summary;
  flooder?: { accepted: number; refused: number; acceptedPerSec: number };
}

async function runPhase(phase: Phase, sends: number, secretFile: string): Promise<PhaseResult> {
  const server = await spawnBenchServer([
    "--store",
    "memory",
    "--jwt-secret-file",
    secretFile,
    ...phase.serverArgs,
  ]);
  const victimToken = await mintToken({ secret, sub: "victim", rooms: ["*"], ttlSec: 3600 });
  const flooderToken = await mintToken({ secret, sub: "flooder", rooms: ["*"], ttlSec: 3600 });
  const watcherToken = await mintToken({ secret, sub: "watchers", rooms: ["*"], ttlSec: 3600 });
  const victim = chatClient(server.baseUrl);
  const headers = { authorization: `Bearer ${victimToken}` };
  // Subscribers in a process of their own: every accepted message costs a fan-out.
  const watchers = await child("watchers", server.baseUrl, watcherToken);
  try {
    for (let i = 0; i < 5; i++) await victim.client.send({ room, text: "warm-up" }, { headers });
    const flooder = phase.flood ? await child("flooder", server.baseUrl, flooderToken) : undefined;
    if (flooder) await new Promise((resolve) => setTimeout(resolve, 500));
    const started = performance.now();
    const latencies: number[] = [];
    for (let i = 0; i < sends; i++) {
      const t = performance.now();
      await victim.client.send({ room, text: `victim ${i}` }, { headers });
      const latency = performance.now() - t;
      latencies.push(latency);
      // A person (or a polite bot) sends at a pace, under any limit below.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, victimIntervalMs - latency)));
    }
    const seconds = (performance.now() - started + 500) / 1000;
    const counts = (await flooder?.stop()) as { accepted: number; refused: number } | undefined;
    return {
      name: phase.name,
      victim: summarize(latencies),
      ...(counts
        ? { flooder: { ...counts, acceptedPerSec: Math.round(counts.accepted / seconds) } }
        : {}),
    };
  } finally {
    await watchers.stop();
    victim.close();
    await server.stop();
  }
}

async function main(): Promise<void> {
  const sends = flags.quick ? 100 : 300;
  const dir = mkdtempSync(join(tmpdir(), "bench-flood-"));
  const secretFile = join(dir, "secret");
  writeFileSync(secretFile, secret);
  const phases: Phase[] = [
    { name: "no flood", serverArgs: [], flood: false },
    { name: "flood, no rate limit", serverArgs: ["--rate-limit-sends", "0"], flood: true },
    { name: "flood, default limits", serverArgs: [], flood: true },
    { name: "flood, 50/1s per user", serverArgs: ["--rate-limit-sends", "50/1s"], flood: true },
  ];
  const results: PhaseResult[] = [];
  for (const phase of phases) {
    process.stderr.write(`${phase.name}...\n`);
    results.push(await runPhase(phase, sends, secretFile));
  }
  const ms = (x: number) => x.toFixed(2).padStart(7);
  process.stdout.write(
    `\nvictim Send latency (ms), ${sends} sends at 25/s; room with 20 subscribers\n\n` +
      `${"scenario".padEnd(24)}    p50     p90     p99  flooder accepted/s  refused\n`,
  );
  for (const r of results) {
    const f = r.flooder;
    process.stdout.write(
      `${r.name.padEnd(24)}${ms(r.victim.p50)} ${ms(r.victim.p90)} ${ms(r.victim.p99)}  ${String(f?.acceptedPerSec ?? "-").padStart(18)}  ${String(f?.refused ?? "-").padStart(7)}\n`,
    );
  }
  const out = new URL("./results/", import.meta.url);
  mkdirSync(out, { recursive: true });
  writeFileSync(new URL("flood.json", out), `${JSON.stringify({ sends, results }, null, 2)}\n`);
}

if (flags.role === "flooder" && flags.url && flags.token) {
  await flood(flags.url, flags.token);
} else if (flags.role === "watchers" && flags.url && flags.token) {
  await watch(flags.url, flags.token);
} else {
  await main();
}
