import type { Interceptor, StreamResponse, UnaryResponse } from "@connectrpc/connect";
import type { Authenticator } from "./authenticator.ts";
import { identityKey } from "./context.ts";
import { identityDeadline } from "./deadline.ts";

/**
 * Authenticates every call of `services` (type names, e.g.
 * `chat.v1.ChatService`) and puts the {@link Identity} into the call's
 * context values under {@link identityKey}. Other services (health,
 * reflection) stay open, so that probes and `buf curl` need no token.
 *
 * A call with a missing or invalid token fails with Unauthenticated before
 * its handler runs. A streaming call's handler sees a signal that also
 * aborts when the token expires ({@link identityDeadline}), so the stream
 * ends with Unauthenticated then. With auth off, calls pass untouched.
 */
export function createAuthInterceptor(
  authenticator: Authenticator,
  services: ReadonlySet<string>,
): Interceptor {
  return (next) => async (req) => {
    if (!authenticator.enabled || !services.has(req.service.typeName)) return next(req);
    const identity = await authenticator.authenticate(req.header);
    req.contextValues.set(identityKey, identity);
    if (!req.stream) return next(req);
    const deadline = identityDeadline(identity, req.signal);
    let res: UnaryResponse | StreamResponse;
    try {
      res = await next({ ...req, signal: deadline.signal });
    } catch (e) {
      deadline.clear();
      throw e;
    }
    if (!res.stream) {
      deadline.clear();
      return res;
    }
    const message = res.message;
    return {
      ...res,
      message: (async function* () {
        try {
          yield* message;
        } finally {
          deadline.clear();
        }
      })(),
    };
  };
}
