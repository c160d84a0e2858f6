import type { DescMethod } from "@bufbuild/protobuf";
import { ConnectError, type Interceptor } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { FellBehindError } from "../core/errors.ts";
import { ChatService, type Event } from "../gen/chat/v1/chat_pb.ts";
import { ChatServer } from "../gen/grpc/chat_pb.ts";
import type { ChatMetrics } from "./metrics.ts";

/** Where a delivering stream's response message holds its event (Note: none, it is the message). */
type EventOf = (response: unknown) => Event | undefined;

const subscribeEvent: EventOf = (r) => (r as { event?: Event }).event;
const chatEvent: EventOf = (r) => {
  const { kind } = r as { kind: { case: string | undefined; value?: unknown } };
  return kind.case === "event" ? (kind.value as Event) : undefined;
};

/** The streams that carry chat messages to subscribers; the seed's ChatStream is handled apart. */
const deliveringMethods = new Map<DescMethod, EventOf>([
  [ChatService.method.subscribe, subscribeEvent],
  [ChatService.method.chat, chatEvent],
]);

/**
 * Counts one event a stream wrote to its subscriber: message events after
 * `ready` are live (Send-to-delivery latency observed), those before it are
 * replayed history (counted only). Returns whether the stream is live from
 * now on, for the caller to keep (a field, not a closure per stream).
 */
export function countDelivery(metrics: ChatMetrics, event: Event, live: boolean): boolean {
  if (event.kind.case === "message") {
    if (live) metrics.delivered(event.kind.value);
    else metrics.deliveredUntimed();
  } else if (event.kind.case === "ready") {
    return true;
  }
  return live;
}

/**
 * `countDelivery` with the stream's state in a closure, one call per event
 * written. For the Connect path below.
 */
export function countDeliveries(metrics: ChatMetrics): (event: Event | undefined) => void {
  let live = false;
  return (event) => {
    if (event !== undefined) live = countDelivery(metrics, event, live);
  };
}

/**
 * Records a call of `method` that ended with `error` (as its client gets
 * it, after error mapping): its code, and a cut-off when the subscriber was
 * too slow. For the Connect path below and any path that ends calls without
 * Connect.
 */
export function countFailure(metrics: ChatMetrics, method: string, error: unknown): void {
  const ce = ConnectError.from(error);
  metrics.rpcError(method, codeToString(ce.code));
  if (ce.cause instanceof FellBehindError || error instanceof FellBehindError) {
    metrics.cutOff(method);
  }
}

/**
 * Feeds the RPC metrics of every call that passes through Connect: errors by
 * code, slow subscribers cut off, and deliveries of chat messages.
 *
 * Put it first among the interceptors (outermost): it then sees the codes
 * the client sees, after error mapping, and the rejections of every
 * interceptor after it (authentication, rate limits). Errors Connect raises
 * before any interceptor runs (an undecodable unary request, an oversized
 * one) are not seen.
 *
 * Deliveries are counted when a message event is handed to Connect for
 * writing (see {@link countDeliveries}); every note of the seed's ChatStream
 * is counted without latency, as a Note carries no time. A cut-off is
 * counted when the subscriber's FellBehindError reaches this edge, which is
 * when its stream resumes writing: a client that never reads again ends as
 * Canceled instead.
 */
export function createRpcMetricsInterceptor(metrics: ChatMetrics): Interceptor {
  return (next) => async (req) => {
    const method = `${req.service.typeName}/${req.method.name}`;
    let res: Awaited<ReturnType<typeof next>>;
    try {
      res = await next(req);
    } catch (e) {
      countFailure(metrics, method, e);
      throw e;
    }
    if (!res.stream) return res;
    const source = res.message;
    const eventOf = deliveringMethods.get(req.method);
    const seed = req.method === ChatServer.method.chatStream;
    return {
      ...res,
      message: (async function* () {
        try {
          if (eventOf !== undefined) {
            const delivered = countDeliveries(metrics);
            for await (const response of source) {
              delivered(eventOf(response));
              yield response;
            }
          } else if (seed) {
            for await (const note of source) {
              metrics.deliveredUntimed();
              yield note;
            }
          } else {
            yield* source;
          }
        } catch (e) {
          countFailure(metrics, method, e);
          throw e;
        }
      })(),
    };
  };
}
