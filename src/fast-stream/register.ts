import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { Readable } from "node:stream";
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
import type { AccessControl } from "../auth/access-control.ts";
import { identityDeadline } from "../auth/deadline.ts";
import type { Identity } from "../auth/identity.ts";
import type { ChatRooms, SubscribeParams } from "../core/chat-rooms.ts";
import type { EventSink } from "../core/event-sink.ts";
import type { Event } from "../gen/chat/v1/chat_pb.ts";
import type { ChatMetrics } from "../ops/metrics.ts";
import { countDeliveries, countFailure } from "../ops/rpc-metrics.ts";
import type { OpenStreams } from "../services/open-streams.ts";
import type { EventFrames } from "./event-frames.ts";
import { detectStreamProtocol, type StreamProtocol } from "./stream-protocols.ts";
import { StreamWriter } from "./stream-writer.ts";

/** A server-streaming chat method served by the fast path. */
export interface FastStreamMethod<I extends DescMessage = DescMessage> {
  method: DescMethodStreaming<I, DescMessage>;
  /**
   * The subscription a request asks for, for `identity` (undefined: auth
   * off). Throws a ConnectError for a request that is not valid
   * (InvalidArgument) or not allowed (PermissionDenied), exactly as the
   * Connect handler of the same method does: both call the same checks.
   */
  params(request: MessageShape<I>, signal: AbortSignal, identity?: Identity): SubscribeParams;
  frames: EventFrames;
}

export interface FastStreamOptions {
  rooms: ChatRooms;
  methods: FastStreamMethod[];
  streams: OpenStreams;
  /** Authentication, room access and rate limits, as the Connect interceptors apply them. */
  access: AccessControl;
  /** Deliveries, errors and cut-offs, counted as the Connect path counts them. */
  metrics: ChatMetrics;
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
  // One listener for every open call, not one each.
  const open = new Set<FastCall>();
  const { shutdownSignal } = options;
  shutdownSignal.addEventListener(
    "abort",
    () => {
      for (const call of open) call.abort(shutdownSignal.reason);
    },
    { once: true },
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
    const call = new FastCall(options, method, protocol, reply.raw, reply.getHeaders());
    if (shutdownSignal.aborted) call.abort(shutdownSignal.reason);
    open.add(call);
    void call.serve(req.raw, req.ip).finally(() => open.delete(call));
  });
  return { served: () => served };
}

/** Auth off reads no header: no copy of them per stream. */
const noHeaders = new Headers();

/** The reason of a call whose client left: nothing is written, nothing is counted. */
const clientGone = new ConnectError("the client went away", Code.Canceled);

/**
 * One call on the fast path, from its request to its last frame. It is the
 * feed's sink. A class, not closures: a server holds one per open stream.
 */
class FastCall implements EventSink {
  private readonly options: FastStreamOptions;
  private readonly spec: FastStreamMethod;
  private readonly protocol: StreamProtocol;
  private readonly writer: StreamWriter;
  private readonly controller = new AbortController();
  private readonly delivered: (event: Event) => void;
  private readonly methodName: string;

  constructor(
    options: FastStreamOptions,
    spec: FastStreamMethod,
    protocol: StreamProtocol,
    res: NodeResponse,
    replyHeaders: Record<string, unknown>,
  ) {
    this.options = options;
    this.spec = spec;
    this.protocol = protocol;
    this.writer = new StreamWriter(res, {
      protocol,
      headers: replyHeaders as Record<string, string>,
      budgetBytes: options.budgetBytes,
    });
    this.delivered = countDeliveries(options.metrics);
    this.methodName = `${spec.method.parent.typeName}/${spec.method.name}`;
    res.once("close", () => {
      this.writer.onClose();
      // A response that closes before we ended it: the client left.
      if (!res.writableEnded) this.abort(clientGone);
    });
  }

  abort(reason: unknown): void {
    this.controller.abort(reason);
  }

  write(event: Event): boolean {
    const frame = this.spec.frames.frame(event, this.protocol.binary);
    if (frame !== undefined && !this.writer.write(frame)) return false;
    this.delivered(event);
    return true;
  }

  ready(): Promise<void> | undefined {
    return this.writer.ready();
  }

  async serve(req: NodeRequest, peerAddress: string): Promise<void> {
    const { options, spec, protocol } = this;
    const signal = this.controller.signal;
    const leave = options.streams.enter(this.methodName);
    let deadline: ReturnType<typeof setTimeout> | undefined;
    let clearTokenDeadline = () => {};
    try {
      const timeout = protocol.timeout(req.headers);
      if (timeout.error) throw timeout.error;
      if (timeout.timeoutMs !== undefined) {
        deadline = setTimeout(timedOut, timeout.timeoutMs, this);
      }
      // In the order of the Connect path's interceptors: who, how often, then the request.
      const headers = options.access.authenticator.enabled ? toHeaders(req.headers) : noHeaders;
      const identity = await options.access.admitStream(headers, peerAddress, signal);
      const tokenDeadline = identityDeadline(identity, signal);
      clearTokenDeadline = tokenDeadline.clear;
      const request = await readRequest(req, spec, protocol, options.readMaxBytes, signal);
      signal.throwIfAborted();
      await options.rooms.feed(spec.params(request, tokenDeadline.signal, identity), this);
    } catch (e) {
      if (signal.reason !== clientGone) {
        const error = options.mapError(e, signal);
        countFailure(options.metrics, this.methodName, error);
        this.writer.end(error);
      }
    } finally {
      clearTokenDeadline();
      clearTimeout(deadline);
      leave();
    }
  }
}

function timedOut(call: FastCall): void {
  call.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded));
}

const parsers = new WeakMap<FastStreamMethod, ReturnType<typeof createMethodSerializationLookup>>();

/** Connect's request serialization of a method, made once. */
function requestParser<I extends DescMessage>(spec: FastStreamMethod<I>, readMaxBytes: number) {
  let lookup = parsers.get(spec);
  if (lookup === undefined) {
    lookup = createMethodSerializationLookup(spec.method, undefined, undefined, {
      readMaxBytes,
      writeMaxBytes: 0xffffffff,
    });
    parsers.set(spec, lookup);
  }
  return lookup;
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
  const parse = requestParser(spec, readMaxBytes).getI(protocol.binary);
  const messages = pipe(
    abortable(req, signal),
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
    first = message as MessageShape<I>;
  }
  if (first === undefined) {
    throw new ConnectError(
      "protocol error: missing input message for server-streaming method",
      Code.Unimplemented,
    );
  }
  return first;
}

/**
 * The request body, ending with the call's abort reason if it aborts first.
 * Stopping early leaves the request alone (no `destroyOnReturn`): destroying
 * it would take the response, and with it the error for the client, along.
 */
async function* abortable(body: NodeRequest, signal: AbortSignal): AsyncGenerator<Uint8Array> {
  const it = (body as unknown as Readable).iterator({ destroyOnReturn: false });
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
