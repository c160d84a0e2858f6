import type { IncomingHttpHeaders } from "node:http";
import type { Readable } from "node:stream";
import type {
  DescMessage,
  DescMethodUnary,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { createAsyncIterable, encodeEnvelope } from "@connectrpc/connect/protocol";
import type { AccessControl } from "../auth/access-control.ts";
import type { Identity } from "../auth/identity.ts";
import type { ChatMetrics } from "../ops/metrics.ts";
import { countFailure } from "../ops/rpc-metrics.ts";
import { rateLimitedMethods } from "../rate-limit/interceptor.ts";
import type { CallResponse } from "./h2-response.ts";
import { authHeaders, methodNameOf, methodSerialization, readRequest } from "./read-request.ts";
import type { StreamProtocol } from "./stream-protocols.ts";
import { StreamWriter } from "./stream-writer.ts";

/** A unary chat method served by the fast path (Send, SendNote, SetTyping). */
export interface FastUnaryMethod<
  I extends DescMessage = DescMessage,
  O extends DescMessage = DescMessage,
> {
  /** One of `rateLimitedMethods`: what a call counts against is looked up there. */
  method: DescMethodUnary<I, O>;
  /**
   * The call for `identity` (undefined: auth off): the same function its
   * Connect handler calls, so both paths mean the same. Throws a
   * ConnectError or a core error, mapped as Connect's interceptor maps it.
   */
  handle(
    request: MessageShape<I>,
    identity: Identity | undefined,
  ): Promise<MessageInitShape<O>> | MessageInitShape<O>;
}

export interface FastUnaryOptions {
  access: AccessControl;
  metrics: ChatMetrics;
  readMaxBytes: number;
  mapError(e: unknown, signal: AbortSignal): ConnectError;
}

/** The reason of a call whose client left: nothing is written, nothing is counted. */
const clientGone = new ConnectError("the client went away", Code.Canceled);

/**
 * Serves one unary call of the chat without Connect's handler pipeline,
 * whose cost per call (a dozen promises and generator hops, a linked abort
 * controller, header conversions, Fastify's remaining hooks) was most of a
 * message's cost once deliveries were cheap (issue 9).
 *
 * The request is read whole (it is a few hundred bytes; at most twice the
 * request limit is held before the limit's error answers it), then parsed by
 * Connect's own envelope and message functions, so a bad request gets
 * Connect's error. Admission (token, rate limit) is `AccessControl.admit`,
 * as the interceptors do it; errors go through the same mapper and metrics.
 * The response is what Connect's gRPC or gRPC-Web handler writes: the
 * message frame and the status trailers, or trailers only on error.
 */
export async function serveUnary(
  options: FastUnaryOptions,
  spec: FastUnaryMethod,
  protocol: StreamProtocol,
  headers: IncomingHttpHeaders,
  body: Readable,
  res: CallResponse,
  replyHeaders: Record<string, string>,
  peerAddress: string,
): Promise<void> {
  const writer = new StreamWriter(res, protocol, replyHeaders, Number.POSITIVE_INFINITY);
  const controller = new AbortController();
  const { signal } = controller;
  res.once("close", () => {
    writer.onClose();
    if (!res.writableEnded) controller.abort(clientGone);
  });
  const methodName = methodNameOf(spec.method);
  let deadline: ReturnType<typeof setTimeout> | undefined;
  try {
    const timeout = protocol.timeout(headers);
    if (timeout.error) throw timeout.error;
    if (timeout.timeoutMs !== undefined) {
      deadline = setTimeout(timedOut, timeout.timeoutMs, controller);
    }
    const { access, readMaxBytes } = options;
    const caller = authHeaders(headers, access.authenticator.enabled);
    const kind = rateLimitedMethods[methodName] ?? "sends";
    const identity = await access.admit(kind, caller, peerAddress, signal);
    const chunks = await collectBody(body, 2 * (readMaxBytes + 5), signal);
    const serialization = methodSerialization(spec.method, readMaxBytes);
    const data = singleMessage(chunks, readMaxBytes);
    const request =
      data !== undefined
        ? serialization.getI(protocol.binary).parse(data)
        : await readRequest(
            createAsyncIterable(chunks),
            spec.method,
            "unary",
            protocol,
            readMaxBytes,
          );
    const response = await spec.handle(request, identity);
    signal.throwIfAborted();
    const serialize = serialization.getO(protocol.binary);
    writer.end(
      undefined,
      encodeEnvelope(0, serialize.serialize(create(spec.method.output, response))),
    );
  } catch (e) {
    if (signal.reason !== clientGone) {
      const error = options.mapError(e, signal);
      countFailure(options.metrics, methodName, error);
      writer.end(error);
    }
  } finally {
    clearTimeout(deadline);
  }
}

/**
 * The message of a body that is exactly one uncompressed envelope within
 * the limit (every well-formed request), without Connect's asynchronous
 * envelope pipeline; undefined for anything else, which that pipeline then
 * reads to give its own error.
 */
function singleMessage(chunks: Uint8Array[], readMaxBytes: number): Uint8Array | undefined {
  const bytes = chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks);
  if (bytes.byteLength < 5 || bytes[0] !== 0) return undefined;
  const length = new DataView(bytes.buffer, bytes.byteOffset, 5).getUint32(1);
  if (length > readMaxBytes || bytes.byteLength !== 5 + length) return undefined;
  return bytes.subarray(5);
}

function timedOut(controller: AbortController): void {
  controller.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded));
}

/**
 * The request body's chunks, read in flowing mode (no async iterator per
 * call). Past `maxBytes` it stops reading and returns what it has: that is
 * already more than the largest valid request, and Connect's envelope
 * reader then answers with its own error for it.
 */
function collectBody(req: Readable, maxBytes: number, signal: AbortSignal): Promise<Uint8Array[]> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let bytes = 0;
    const finish = (error?: unknown) => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      signal.removeEventListener("abort", onAbort);
      if (error !== undefined) reject(error);
      else resolve(chunks);
    };
    const onData = (chunk: Uint8Array) => {
      chunks.push(chunk);
      bytes += chunk.byteLength;
      if (bytes > maxBytes) {
        req.pause();
        finish();
      }
    };
    const onEnd = () => finish();
    const onError = (e: unknown) => finish(e);
    const onAbort = () => finish(signal.reason);
    if (signal.aborted) {
      onAbort();
      return;
    }
    // A request whose HEADERS ended it (no body) may have ended already.
    if (req.readableEnded) {
      resolve(chunks);
      return;
    }
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("error", onError);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
