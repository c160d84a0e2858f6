/**
 * The client side of the RPC fuzz suite: one raw request per protocol (Connect, gRPC,
 * gRPC-Web; HTTP/1.1 and h2c) whose body bytes the caller controls, and the status each
 * answer ends with.
 */
import * as http from "node:http";
import * as http2 from "node:http2";
import { grpcWebTrailers, parseEnvelopes } from "./envelope.ts";
import { type FuzzMethod, fuzzEnvelope } from "./fuzz-messages.ts";
import type { Random } from "./hostile.ts";

/** No answer at all within this is a hang. */
const answerMs = 3000;

export type Protocol = "connect-h1" | "connect-h2" | "grpc-h2" | "grpcweb-h1" | "grpcweb-h2";
export const protocols: Protocol[] = [
  "connect-h1",
  "connect-h2",
  "grpc-h2",
  "grpcweb-h1",
  "grpcweb-h2",
];

/** What came back: enough to tell a proper status from a server fault. */
export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  trailers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The test ended a stream that was still open (a valid streaming call). */
  leftOpen: boolean;
}

/** Headers and body of one request of `protocol` carrying `message` (proto or JSON). */
export function requestFor(
  protocol: Protocol,
  m: FuzzMethod,
  json: boolean,
  message: Buffer,
  random: Random,
): { headers: Record<string, string>; body: Buffer } {
  const codec = json ? "json" : "proto";
  if (protocol.startsWith("connect") && !m.streaming) {
    return {
      headers: { "content-type": `application/${codec}`, "connect-protocol-version": "1" },
      body: message,
    };
  }
  const contentType = protocol.startsWith("connect")
    ? `application/connect+${codec}`
    : protocol.startsWith("grpcweb")
      ? `application/grpc-web+${codec}`
      : json
        ? "application/grpc+json"
        : "application/grpc";
  return {
    headers: { "content-type": contentType, te: "trailers" },
    body: fuzzEnvelope(random, message),
  };
}

/** Loopback addresses for the fuzz clients (per-IP rate limits and reset budgets are per address). */
const clientAddresses = Array.from({ length: 8 }, (_, i) => `127.0.${10 + i}.1`);

export function createH1Pool() {
  const agents = clientAddresses.map(
    (localAddress) => new http.Agent({ keepAlive: true, maxSockets: 4, localAddress }),
  );
  return {
    pick: (random: Random) => random.pick(agents),
    close: () => {
      for (const agent of agents) agent.destroy();
    },
  };
}

export function createH2Pool(url: string) {
  const sessions = new Map<string, http2.ClientHttp2Session>();
  const open = (localAddress: string) => {
    const session = http2.connect(url, { localAddress } as http2.ClientSessionOptions);
    session.on("error", () => {});
    sessions.set(localAddress, session);
    return session;
  };
  return {
    pick(random: Random) {
      const address = random.pick(clientAddresses);
      const session = sessions.get(address);
      return session && !session.closed && !session.destroyed ? session : open(address);
    },
    close() {
      for (const session of sessions.values()) session.destroy();
    },
  };
}

/** Sends one request over HTTP/1.1; a stream still open after its first bytes is ended. */
export function callH1(
  port: number,
  agent: http.Agent,
  path: string,
  request: { headers: Record<string, string>; body: Buffer },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: "127.0.0.1",
      port,
      agent,
      method: "POST",
      path,
      headers: request.headers,
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer in ${answerMs} ms`));
    }, answerMs);
    req.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      let leftOpen = false;
      let ender: NodeJS.Timeout | undefined;
      res.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        ender ??= setTimeout(() => {
          leftOpen = true;
          res.destroy();
        }, 50);
      });
      res.on("error", () => {});
      res.on("close", () => {
        clearTimeout(timer);
        clearTimeout(ender);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          trailers: res.trailers,
          body: Buffer.concat(chunks),
          leftOpen: leftOpen || !res.complete,
        });
      });
    });
    req.end(request.body);
  });
}

/** Sends one request over h2c; a stream still open after its first bytes is cancelled. */
export function callH2(
  session: http2.ClientHttp2Session,
  path: string,
  request: { headers: Record<string, string>; body: Buffer },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":method": "POST", ":path": path, ...request.headers });
    const answer: Answer = {
      status: 0,
      headers: {},
      trailers: {},
      body: Buffer.alloc(0),
      leftOpen: false,
    };
    const chunks: Buffer[] = [];
    let ender: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      reject(new Error(`no answer in ${answerMs} ms`));
    }, answerMs);
    stream.on("response", (headers) => {
      answer.headers = headers;
      answer.status = Number(headers[":status"]);
    });
    stream.on("trailers", (trailers) => {
      answer.trailers = trailers;
    });
    stream.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      ender ??= setTimeout(() => {
        answer.leftOpen = true;
        stream.close(http2.constants.NGHTTP2_CANCEL);
      }, 50);
    });
    stream.on("error", () => {});
    stream.on("close", () => {
      clearTimeout(timer);
      clearTimeout(ender);
      answer.body = Buffer.concat(chunks);
      if (answer.status === 0)
        reject(new Error(`stream closed without an answer (RST ${stream.rstCode})`));
      else resolve(answer);
    });
    stream.end(request.body);
  });
}

const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

/** The status an answer ends with, as `grpc <n>`, `connect <code>` or `http <status>`. */
export function outcome(protocol: Protocol, m: FuzzMethod, a: Answer): string {
  if (protocol.startsWith("connect")) {
    if (!m.streaming || a.status !== 200) {
      if (a.status === 200) return "ok";
      try {
        return `connect ${(JSON.parse(a.body.toString()) as { code: string }).code}`;
      } catch {
        return `http ${a.status}`;
      }
    }
    const end = parseEnvelopes(a.body).envelopes.find((e) => (e.flags & 0x02) !== 0);
    // A stream that ended must say how, in its end-of-stream message.
    if (end === undefined) return a.leftOpen ? "open" : "connect no end-of-stream";
    const error = (JSON.parse(Buffer.from(end.data).toString()) as { error?: { code: string } })
      .error;
    return error ? `connect ${error.code}` : "ok";
  }
  const fromWeb = protocol.startsWith("grpcweb") ? grpcWebTrailers(a.body) : undefined;
  const status =
    first(a.trailers["grpc-status"]) ?? fromWeb?.["grpc-status"] ?? first(a.headers["grpc-status"]);
  if (status !== undefined) return `grpc ${status}`;
  if (a.leftOpen) return "open";
  // A gRPC answer with HTTP 200 must carry a status (a client reports its absence as an error).
  return a.status === 200 ? "grpc no status" : `http ${a.status}`;
}

/** Outcomes that mean the server failed rather than refused bad input. */
export function isServerFault(result: string): boolean {
  if (/^grpc (13|2|15|14|no status)$/.test(result)) return true;
  if (result === "connect no end-of-stream") return true;
  if (/^connect (internal|unknown|data_loss|unavailable)$/.test(result)) return true;
  // 505: bidi over HTTP/1.1 is refused that way on purpose.
  return /^http 5\d\d$/.test(result) && result !== "http 505";
}
