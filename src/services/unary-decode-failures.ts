import { Code, ConnectError } from "@connectrpc/connect";
import {
  createAsyncIterable,
  type UniversalHandler,
  type UniversalServerResponse,
} from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  errorFromJsonBytes,
  errorToJsonBytes,
} from "@connectrpc/connect/protocol-connect";
import { findTrailerError, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag, trailerParse } from "@connectrpc/connect/protocol-grpc-web";
import { asInvalidArgument, isUndecodableRequest } from "./error-mapping.ts";
import { grpcWebTrailerFrame, wrapHandlers } from "./response-rewriting.ts";

/**
 * Makes unary calls whose request cannot be decoded end with
 * InvalidArgument, as streaming calls do through the error-mapping
 * interceptor.
 *
 * Connect-ES decodes a unary request before any interceptor runs, so its
 * Internal ("parse binary: ...", HTTP 500 for Connect) is already written
 * into the response by then. This wrapper rewrites that one error in the
 * response of each protocol, with Connect's own codecs: gRPC's trailers,
 * gRPC-Web's trailer frame (the body's only frame then), Connect's JSON
 * error body. Any other response passes unchanged. To remove once Connect-ES
 * reports undecodable requests as InvalidArgument.
 *
 * Replaces the unary handlers of `handlers` (a router's) in place.
 */
export function mapUnaryDecodeFailures(handlers: UniversalHandler[]): void {
  wrapHandlers(handlers, (handler) =>
    handler.method.methodKind === "unary" ? async (req) => rewrite(await handler(req)) : handler,
  );
}

async function rewrite(res: UniversalServerResponse): Promise<UniversalServerResponse> {
  const type = res.header?.get("content-type") ?? "";
  if (type.startsWith("application/grpc-web")) return rewriteGrpcWeb(res);
  if (type.startsWith("application/grpc")) return rewriteGrpc(res);
  if (res.status !== 200 && type.startsWith("application/json")) return rewriteConnect(res);
  return res;
}

/** gRPC: the status is in the trailers, complete once the handler has returned. */
function rewriteGrpc(res: UniversalServerResponse): UniversalServerResponse {
  const error = res.trailer && findTrailerError(res.trailer);
  if (res.trailer && error && isUndecodableRequest(error)) {
    setTrailerStatus(res.trailer, asInvalidArgument(error));
  }
  return res;
}

/** gRPC-Web: a failed call's body is one uncompressed trailer frame. */
async function rewriteGrpcWeb(res: UniversalServerResponse): Promise<UniversalServerResponse> {
  if (res.body === undefined) return res;
  const it = res.body[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return { ...res, body: createAsyncIterable([]) };
  let frame = first.value;
  if (frame[0] === trailerFlag) {
    const trailer = trailerParse(frame.subarray(5));
    const error = findTrailerError(trailer);
    if (error && isUndecodableRequest(error)) {
      setTrailerStatus(trailer, asInvalidArgument(error));
      frame = grpcWebTrailerFrame(trailer);
    }
  }
  return { ...res, body: prepend(frame, it) };
}

/** Connect unary: an error is a JSON body with an HTTP status of its own. */
async function rewriteConnect(res: UniversalServerResponse): Promise<UniversalServerResponse> {
  if (res.body === undefined || res.header?.has("content-encoding")) return res;
  const chunks: Uint8Array[] = [];
  for await (const chunk of res.body) chunks.push(chunk);
  let body = concat(chunks);
  let status = res.status;
  const header = new Headers(res.header);
  const error = errorFromJsonBytes(body, undefined, new ConnectError("", Code.Unknown));
  if (isUndecodableRequest(error)) {
    const mapped = asInvalidArgument(error);
    body = errorToJsonBytes(mapped, undefined);
    status = codeToHttpStatus(mapped.code);
    header.set("content-length", String(body.byteLength));
  }
  return { ...res, status, header, body: createAsyncIterable([body]) };
}

/** `first`, then the rest of the body; a consumer that stops early closes the rest too. */
async function* prepend(
  first: Uint8Array,
  rest: AsyncIterator<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  try {
    yield first;
    for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value;
  } finally {
    await rest.return?.();
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}
