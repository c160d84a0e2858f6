import type { IncomingHttpHeaders } from "node:http";
import type { ServerHttp2Stream } from "node:http2";
import type { Readable } from "node:stream";
import type { DescMessage, DescMethodStreaming, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { FastifyInstance } from "fastify";
import type { AccessControl } from "../auth/access-control.ts";
import { identityDeadline } from "../auth/deadline.ts";
import type { Identity } from "../auth/identity.ts";
import type { ChatRooms, SubscribeParams } from "../core/chat-rooms.ts";
import type { EventSink } from "../core/event-sink.ts";
import type { Event } from "../gen/chat/v1/chat_pb.ts";
import { clampDeadlines } from "../http/clamp-deadlines.ts";
import { protocolOf } from "../ops/connection-metrics.ts";
import type { ChatMetrics, RpcProtocol } from "../ops/metrics.ts";
import { countDelivery, countFailure } from "../ops/rpc-metrics.ts";
import type { OpenStreams } from "../services/open-streams.ts";
import type { EventFrames } from "./event-frames.ts";
import { type CallResponse, H2StreamResponse } from "./h2-response.ts";
import { abortable, authHeaders, methodNameOf, readRequest } from "./read-request.ts";
import { detectStreamProtocol, type StreamProtocol } from "./stream-protocols.ts";
import { StreamWriter } from "./stream-writer.ts";
import { type FastUnaryMethod, serveUnary } from "./unary-call.ts";

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
  /** Unary methods served the same way (gRPC and gRPC-Web only; Connect's unary protocol goes to Connect). */
  unaryMethods: FastUnaryMethod[];
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

/** What the fast path did, for tests and metrics, and its way in before Fastify. */
export interface FastStreams {
  /** Streaming calls taken by the fast path since the start (the rest went to Connect). */
  served(): number;
  /** Unary calls taken by the fast path since the start. */
  servedUnary(): number;
  /** Calls of both kinds taken from HTTP/2's `stream` event, before Fastify (see `takeH2Stream`). */
  servedBeforeFastify(): number;
  /**
   * The server for a new HTTP/2 stream with these headers, or undefined to
   * let it through to Node's compatibility layer and Fastify: taking the
   * chat's calls from the HTTP/2 server's `stream` event saves the request
   * and response objects of both (see `OnePortHttp2Options.takeStream`).
   * Pages (requests with an Origin) always go through Fastify, for CORS.
   */
  takeH2Stream(headers: IncomingHttpHeaders): ((stream: ServerHttp2Stream) => void) | undefined;
}

/**
 * Serves the chat's hot calls without Connect-ES's pipeline: the live
 * streams (chat.v1 Subscribe, the seed's ChatStream), whose per-message
 * promises, generator hops and listeners were the limit of fan-out, and the
 * unary calls that bring messages in (Send, SendNote, SetTyping over gRPC
 * and gRPC-Web), whose per-call cost was next (issue 9; the design and its
 * measurements are in docs/fast-path.md).
 *
 * Two ways in: `takeH2Stream`, which the one-port server asks for every new
 * HTTP/2 stream before Node's compatibility layer and Fastify see it, and an
 * `onRequest` hook for the rest (HTTP/1.1, TLS, pages with an Origin). Either
 * takes a request when it is a POST to one of these methods in a form it
 * serves (gRPC over HTTP/2, gRPC-Web and, for streams, Connect over either
 * HTTP version, protobuf or Connect JSON, no request compression);
 * everything else falls through to Connect's handlers unchanged. Once
 * taken, events flow from the room's bus listener into the response in the
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
  let servedUnary = 0;
  let servedBeforeFastify = 0;
  const pathOf = (m: { method: { name: string; parent: { typeName: string } } }) =>
    `/${m.method.parent.typeName}/${m.method.name}`;
  const byPath = new Map(options.methods.map((m) => [pathOf(m), m]));
  const unaryByPath = new Map(options.unaryMethods.map((m) => [pathOf(m), m]));
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

  /** How the fast path serves a request, or undefined to leave it to Connect. */
  function route(
    method: string | undefined,
    path: string | undefined,
    headers: IncomingHttpHeaders,
    httpVersion: string,
  ): Route | undefined {
    if (method !== "POST" || path === undefined) return undefined;
    const unary = unaryByPath.get(path);
    const stream = unary === undefined ? byPath.get(path) : undefined;
    if (unary === undefined && stream === undefined) return undefined;
    const protocol = detectStreamProtocol(headers, httpVersion);
    if (protocol === undefined) return undefined;
    if (unary !== undefined) {
      // Connect's unary protocol is not enveloped: Connect serves it.
      return protocol.name === "connect" ? undefined : { unary, protocol };
    }
    return stream && { stream, protocol };
  }

  function serve(
    taken: Route,
    headers: IncomingHttpHeaders,
    body: Readable,
    res: CallResponse,
    replyHeaders: Record<string, string>,
    peerAddress: string,
  ): void {
    if (taken.unary !== undefined) {
      servedUnary++;
      const { unary, protocol } = taken;
      void serveUnary(options, unary, protocol, headers, body, res, replyHeaders, peerAddress);
      return;
    }
    served++;
    const call = new FastCall(options, taken.stream, taken.protocol, res, replyHeaders);
    if (shutdownSignal.aborted) call.abort(shutdownSignal.reason);
    open.add(call);
    void call.serve(headers, body, peerAddress).finally(() => open.delete(call));
  }

  app.addHook("onRequest", (req, reply, done) => {
    const taken = route(req.method, req.url, req.headers, req.raw.httpVersion);
    if (taken === undefined) {
      done();
      return;
    }
    reply.hijack();
    const replyHeaders = reply.getHeaders() as Record<string, string>;
    serve(taken, req.headers, req.raw, reply.raw, replyHeaders, req.ip);
  });

  return {
    served: () => served,
    servedUnary: () => servedUnary,
    servedBeforeFastify: () => servedBeforeFastify,
    takeH2Stream(headers) {
      // A page's request needs the CORS headers of the Fastify hooks.
      if (headers.origin !== undefined) return undefined;
      const { ":method": method, ":path": path } = headers;
      if (typeof method !== "string" || typeof path !== "string") return undefined;
      const taken = route(method, path, headers, "2.0");
      if (taken === undefined) return undefined;
      return (stream) => {
        servedBeforeFastify++;
        clampDeadlines(headers);
        countOpenH2(stream, options.metrics, protocolOf("POST", headers["content-type"], ""));
        const res = new H2StreamResponse(stream, taken.protocol.name === "grpc");
        serve(taken, headers, stream, res, noHeaders, stream.session?.socket?.remoteAddress ?? "");
      };
    },
  };
}

/** What the fast path serves a request with. */
type Route =
  | { unary: FastUnaryMethod; stream?: undefined; protocol: StreamProtocol }
  | { unary?: undefined; stream: FastStreamMethod; protocol: StreamProtocol };

const noHeaders: Record<string, string> = {};

/**
 * Counts an HTTP/2 stream taken before Fastify as open until it closes, as
 * Fastify's hooks count the others. A function of its own so that the close
 * listener's closure holds these two values only: one made inside
 * `takeH2Stream` would keep that call's scope, the request's headers
 * included, for the stream's life (issue 9: idle memory).
 */
function countOpenH2(stream: ServerHttp2Stream, metrics: ChatMetrics, protocol: RpcProtocol): void {
  metrics.requestOpened(protocol, "2");
  stream.on("close", () => metrics.requestClosed(protocol, "2"));
}

const noRequestHeaders: IncomingHttpHeaders = {};
function noop(): void {}

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
  /** Its `ready` was written: messages from now on are live (for the metrics). */
  private live = false;
  private readonly methodName: string;

  constructor(
    options: FastStreamOptions,
    spec: FastStreamMethod,
    protocol: StreamProtocol,
    res: CallResponse,
    replyHeaders: Record<string, unknown>,
  ) {
    this.options = options;
    this.spec = spec;
    this.protocol = protocol;
    this.writer = new StreamWriter(
      res,
      protocol,
      replyHeaders as Record<string, string>,
      options.budgetBytes,
    );
    this.methodName = methodNameOf(spec.method);
    // "close" fires once: `on` spares the wrapper `once` makes per stream.
    res.on("close", () => {
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
    this.live = countDelivery(this.options.metrics, event, this.live);
    return true;
  }

  ready(): Promise<void> | undefined {
    return this.writer.ready();
  }

  async serve(headers: IncomingHttpHeaders, body: Readable, peerAddress: string): Promise<void> {
    const { options, methodName } = this;
    const signal = this.controller.signal;
    options.streams.enter(methodName);
    let deadline: ReturnType<typeof setTimeout> | undefined;
    let clearTokenDeadline = noop;
    try {
      const timeout = this.protocol.timeout(headers);
      if (timeout.error) throw timeout.error;
      if (timeout.timeoutMs !== undefined) {
        deadline = setTimeout(timedOut, timeout.timeoutMs, this);
      }
      // In the order of the Connect path's interceptors: who, how often, then the request.
      const caller = authHeaders(headers, options.access.authenticator.enabled);
      const identity = await options.access.admit("streams", caller, peerAddress, signal);
      const tokenDeadline = identityDeadline(identity, signal);
      clearTokenDeadline = tokenDeadline.clear;
      const request = await readRequest(
        abortable(body, signal),
        this.spec.method,
        "server-streaming",
        this.protocol,
        options.readMaxBytes,
      );
      signal.throwIfAborted();
      const params = this.spec.params(request, tokenDeadline.signal, identity);
      // This call stays suspended for the stream's life: let go of the
      // request's headers (a dictionary of strings) for its duration.
      headers = noRequestHeaders;
      await options.rooms.feed(params, this);
    } catch (e) {
      if (signal.reason !== clientGone) {
        const error = options.mapError(e, signal);
        countFailure(options.metrics, methodName, error);
        this.writer.end(error);
      }
    } finally {
      clearTokenDeadline();
      clearTimeout(deadline);
      options.streams.leave(methodName);
    }
  }
}

function timedOut(call: FastCall): void {
  call.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded));
}
