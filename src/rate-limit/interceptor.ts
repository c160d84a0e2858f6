import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { identityKey, peerAddressKey } from "../auth/context.ts";
import type { ChatRequest } from "../gen/chat/v1/chat_pb.ts";
import { type RateLimited, type RateLimits, rateLimitKey, retryAfterMsKey } from "./rate-limits.ts";

/** What each call of the chat services counts against (by `Service/Method`). */
export const rateLimitedMethods: Readonly<Record<string, RateLimited>> = {
  "chat.v1.ChatService/Send": "sends",
  "chat.v1.ChatService/SetTyping": "typing",
  "chat.v1.ChatService/Subscribe": "streams",
  "chat.v1.ChatService/Chat": "streams",
  "grpc.ChatServer/SendNote": "sends",
  "grpc.ChatServer/ChatStream": "streams",
};

const chatMethod = "chat.v1.ChatService/Chat";

/**
 * Each send and typing request of a Chat stream counts like its unary
 * twin. Over a limit the stream ends with ResourceExhausted (it has no
 * per-request error to answer with); the client reconnects after the hint.
 */
async function* limitChatRequests(
  requests: AsyncIterable<ChatRequest>,
  check: (kind: RateLimited) => void,
): AsyncGenerator<ChatRequest> {
  for await (const req of requests) {
    if (req.kind.case === "send") check("sends");
    else if (req.kind.case === "typing") check("typing");
    yield req;
  }
}

/** Sends a refusal only after `ms` (see `RateLimits.holdMs`), or as soon as the client leaves. */
function holdRefusal(error: ConnectError, ms: number, signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      reject(error);
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Counts one `kind` for `key`; over the limit, rejects with the refusal
 * after holding it (`RateLimits.holdMs`), or as soon as `signal` aborts.
 * For the interceptor and for paths that serve calls without Connect.
 */
export async function checkHeld(
  limits: RateLimits,
  kind: RateLimited,
  key: string,
  signal: AbortSignal,
): Promise<void> {
  try {
    limits.check(kind, key);
  } catch (e) {
    if (e instanceof ConnectError && e.code === Code.ResourceExhausted) {
      const wait = Number(e.metadata.get(retryAfterMsKey));
      return holdRefusal(e, limits.holdMs(wait), signal);
    }
    throw e;
  }
}

/**
 * Applies {@link RateLimits} to the chat services' calls, per caller: the
 * identity the auth interceptor set (so it must run after that one), else
 * the peer address. A call over its limit fails with ResourceExhausted and a
 * `retry-after-ms` hint before its handler runs, held for that long
 * first (`RateLimits.holdMs`).
 */
export function createRateLimitInterceptor(limits: RateLimits): Interceptor {
  return (next) => async (req) => {
    const method = `${req.service.typeName}/${req.method.name}`;
    const kind = rateLimitedMethods[method];
    if (kind === undefined) return next(req);
    const key = rateLimitKey(
      req.contextValues.get(identityKey),
      req.contextValues.get(peerAddressKey),
    );
    await checkHeld(limits, kind, key, req.signal);
    if (method !== chatMethod || !req.stream) return next(req);
    const requests = req.message as AsyncIterable<ChatRequest>;
    return next({ ...req, message: limitChatRequests(requests, (k) => limits.check(k, key)) });
  };
}
