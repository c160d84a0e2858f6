import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { DescMessage, DescMethodStreaming, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  createMethodSerializationLookup,
  pipe,
  transformDecompressEnvelope,
  transformParseEnvelope,
  transformSplitEnvelope,
} from "@connectrpc/connect/protocol";
import type { FastifyInstance } from "fastify";
import type { ChatRooms, SubscribeParams } from "../core/chat-rooms.ts";
import type { EventSink } from "../core/event-sink.ts";
import type { OpenStreams } from "../services/open-streams.ts";
import type { EventFrames } from "./event-frames.ts";
import { detectStreamProtocol, type StreamProtocol } from "./stream-protocols.ts";
import { createStreamWriter } from "./stream-writer.ts";

/** A server-streaming chat method served by the fast path. */
export interface FastStreamMethod<I extends DescMessage = DescMessage> {
  method: DescMethodStreaming<I, DescMessage>;
  /**
   * The subscription a request asks for. Throws a ConnectError for a request
   * that is not valid (InvalidArgument), exactly as the Connect handler of
   * the same method does: both call the same function.
   */
  params(request: MessageShape<I>, signal: AbortSignal, headers: Headers): SubscribeParams;
  frames: EventFrames;
}

export interface FastStreamOptions {
  rooms: ChatRooms;
  methods: FastStreamMethod[];
  streams: OpenStreams;
  /** Ends every open stream; its reason is what the client gets. */
  shutdownSignal: AbortSignal;
  /** Largest request message, as for Connect's handlers. */
  readMaxBytes: number;
  /** What may wait for one client before it is cut off as too slow. */
  budgetBytes: number;
  /** Maps what ended a call to what the client gets, and logs what must be heard. */
  mapError(e: unknown, signal: AbortSignal): ConnectError;
}

/** What the fast path did, for tests and metrics. */
export interface FastStreams {
  /** Calls taken by the fast path since the start (the rest went to Connect). */
  served(): number;
}

type NodeRequest = IncomingMessage | Http2ServerRequest;
type NodeResponse = ServerResponse | Http2ServerResponse;

/**
 * Serves the live chat streams (chat.v1 Subscribe, the seed's ChatStream)
 * without Connect-ES's per-message pipeline, which costs several promises,
 * generator hops and listeners per delivered event and was the limit of
 * fan-out (issue 9; the design and its measurements are in
 * docs/fast-stream.md).
 *
 * An `onRequest` hook takes a request when it is a POST to one of these
 * methods in a form it serves (gRPC over HTTP/2, gRPC-Web and Connect over
 * either HTTP version, protobuf or Connect JSON, no request compression);
 * everything else falls through to Connect's handlers unchanged. Once taken,
 * events flow from the room's bus listener into the response in the
 * publisher's turn: an encoded frame shared by every subscriber, coalesced
 * per turn, with back-pressure from `write()`'s return value.
 *
 * What the client sees is what Connect's handler would send: the same
 * content types, request parsing and errors (Connect's own protocol
 * functions), deadlines, trailers and end-stream messages, and the same
 * error mapping.
 */
export function registerFastStreams(app: FastifyInstance, options: FastStreamOptions): FastStreams {
  let served = 0;
  const byPath = new Map(
    options.methods.map((m) => [`/${m.method.parent.typeName}/${m.method.name}`, m]),
  );
  app.addHook("onRequest", (req, reply, done) => {
    const method = req.method === "POST" ? byPath.get(req.url) : undefined;
    const protocol = method && detectStreamProtocol(req.headers, req.raw.httpVersion);
    if (method === undefined || protocol === undefined) {
      done();
      return;
    }
    reply.hijack();
    served++;
    const headers = reply.getHeaders();
    void serve(options, method, protocol, req.raw, reply.raw, headers);
  });
  return { served: () => served };
}

async function serve(
  options: FastStreamOptions,
  spec: FastStreamMethod,
  protocol: StreamProtocol,
  req: NodeRequest,
  res: NodeResponse,
  replyHeaders: Record<string, unknown>,
): Promise<void> {
  const writer = createStreamWriter(res, {
    protocol,
    headers: replyHeaders as Record<string, string>,
    budgetBytes: options.budgetBytes,
  });
  const call = new AbortController();
  const clientGone = new ConnectError("the client went away", Code.Canceled);
  // A response that closes before we ended it: the client left.
  const onClose = () => {
    if (!res.writableEnded) call.abort(clientGone);
  };
  res.once("close", onClose);
  const onShutdown = () => call.abort(options.shutdownSignal.reason);
  if (options.shutdownSignal.aborted) onShutdown();
  else options.shutdownSignal.addEventListener("abort", onShutdown, { once: true });
  let deadline: ReturnType<typeof setTimeout> | undefined;
  const leave = options.streams.enter(`${spec.method.parent.typeName}/${spec.method.name}`);

  try {
    const timeout = protocol.timeout(req.headers);
    if (timeout.error) throw timeout.error;
    if (timeout.timeoutMs !== undefined) {
      deadline = setTimeout(
        () => call.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)),
        timeout.timeoutMs,
      );
    }
    const request = await readRequest(req, spec, protocol, options.readMaxBytes, call.signal);
    call.signal.throwIfAborted();
    const params = spec.params(request, call.signal, toHeaders(req.headers));
    const sink: EventSink = {
      write(event) {
        const frame = spec.frames.frame(event, protocol.binary);
        return frame === undefined || writer.write(frame);
      },
      ready: () => writer.ready(),
    };
    await options.rooms.feed(params, sink);
  } catch (e) {
    if (call.signal.reason !== clientGone) {
      writer.end(options.mapError(e, call.signal));
    }
  } finally {
    clearTimeout(deadline);
    options.shutdownSignal.removeEventListener("abort", onShutdown);
    res.off("close", onClose);
    leave();
  }
}

/**
 * The one request message, parsed by Connect's own envelope and message
 * functions: the same limits and the same errors for a malformed,
 * oversized, compressed, missing or repeated message.
 */
async function readRequest<I extends DescMessage>(
  req: NodeRequest,
  spec: FastStreamMethod<I>,
  protocol: StreamProtocol,
  readMaxBytes: number,
  signal: AbortSignal,
): Promise<MessageShape<I>> {
  const serialization = createMethodSerializationLookup(spec.method, undefined, undefined, {
    readMaxBytes,
    writeMaxBytes: 0xffffffff,
  });
  const parse = serialization.getI(protocol.binary);
  const messages = pipe(
    abortable(req as AsyncIterable<Uint8Array>, signal),
    transformSplitEnvelope(readMaxBytes),
    transformDecompressEnvelope(null, readMaxBytes),
    protocol.requestEndFlag === undefined
      ? transformParseEnvelope(parse)
      : transformParseEnvelope(parse, protocol.requestEndFlag),
  );
  let first: MessageShape<I> | undefined;
  let count = 0;
  for await (const message of messages) {
    if (count++ > 0) {
      throw new ConnectError(
        "protocol error: received extra input message for server-streaming method",
        Code.Unimplemented,
      );
    }
    first = message;
  }
  if (first === undefined) {
    throw new ConnectError(
      "protocol error: missing input message for server-streaming method",
      Code.Unimplemented,
    );
  }
  return first;
}

/** The request body, ending with the call's abort reason if it aborts first. */
async function* abortable(
  body: AsyncIterable<Uint8Array>,
  signal: AbortSignal,
): AsyncGenerator<Uint8Array> {
  const it = body[Symbol.asyncIterator]();
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  aborted.catch(() => {});
  try {
    for (;;) {
      signal.throwIfAborted();
      const r = await Promise.race([it.next(), aborted]);
      if (r.done) return;
      yield r.value;
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    void it.return?.();
  }
}

function toHeaders(headers: IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [key, value] of Object.entries(headers)) {
    if (key.startsWith(":") || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.append(key, v);
    else out.set(key, value);
  }
  return out;
}
