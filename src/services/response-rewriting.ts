/**
 * What the router wrappers that rewrite Connect-ES responses share
 * (`unary-decode-failures.ts`, `unicode-error-messages.ts`): each works
 * around one Connect-ES behaviour below the interceptors, where only the
 * written response can still be changed.
 */
import {
  encodeEnvelope,
  type UniversalHandler,
  type UniversalHandlerFn,
} from "@connectrpc/connect/protocol";
import { trailerFlag, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";

/**
 * Replaces each of `handlers` (a router's) in place with what `wrap` makes of
 * it, keeping the handler's own properties (method, service, request path,
 * content types) that the adapters route by. `wrap` returns the handler
 * itself to leave it as it is.
 */
export function wrapHandlers(
  handlers: UniversalHandler[],
  wrap: (handler: UniversalHandler) => UniversalHandlerFn,
): void {
  handlers.forEach((handler, i) => {
    const wrapped = wrap(handler);
    if (wrapped !== handler) handlers[i] = Object.assign(wrapped, handler);
  });
}

/** The frame that carries a gRPC-Web call's status: `trailer`, serialized as gRPC-Web sends it. */
export function grpcWebTrailerFrame(trailer: Headers): Uint8Array {
  return encodeEnvelope(trailerFlag, trailerSerialize(trailer));
}
