import { Code, ConnectError } from "@connectrpc/connect";
import {
  createAsyncIterable,
  type UniversalHandler,
  type UniversalServerResponse,
} from "@connectrpc/connect/protocol";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { grpcWebTrailerFrame, wrapHandlers } from "./response-rewriting.ts";

/** What the client gets instead; the only way in for such text is its own request. */
const replacement = new ConnectError(
  "the request holds text that is not valid Unicode (an unpaired surrogate)",
  Code.InvalidArgument,
);

/**
 * Answers gRPC and gRPC-Web calls whose error message cannot be sent.
 *
 * A JSON request such as `"\ud800"` fails to decode with a message that quotes it, unpaired
 * surrogate and all. Connect-ES (2.1) puts the message into `grpc-message` with
 * `encodeURIComponent`, which throws URIError on an unpaired surrogate: the call then ended
 * with no status at all (h2: no trailers; HTTP/1.1: no end, the request hung until a
 * timeout), and each one printed a stack to stderr. Found by test/e2e/fuzz-rpc.spec.ts.
 *
 * Connect's own JSON errors (the Connect protocol) are not affected. Replaces the handlers
 * of `handlers` (a router's) in place; to remove once Connect-ES encodes such text.
 */
export function answerUnencodableErrors(handlers: UniversalHandler[]): void {
  wrapHandlers(handlers, (handler) => async (req) => {
    let res: UniversalServerResponse;
    try {
      res = await handler(req);
    } catch (e) {
      // The error came with the first response bytes (a request that did not decode).
      if (!(e instanceof URIError)) throw e;
      return errorResponse(req.header.get("content-type") ?? "");
    }
    const type = res.header?.get("content-type") ?? "";
    if (res.body === undefined || !type.startsWith("application/grpc")) return res;
    return { ...res, body: recover(res.body, type, res.trailer) };
  });
}

/** A gRPC or gRPC-Web response holding nothing but the replacement status. */
function errorResponse(contentType: string): UniversalServerResponse {
  const header = new Headers({ "content-type": contentType });
  const trailer = new Headers();
  setTrailerStatus(trailer, replacement);
  if (contentType.startsWith("application/grpc-web")) {
    return {
      status: 200,
      header,
      body: createAsyncIterable([grpcWebTrailerFrame(trailer)]),
    };
  }
  return { status: 200, header, body: createAsyncIterable([]), trailer };
}

/** The body, ended properly if producing its status fails later (a stream's request message). */
async function* recover(
  body: AsyncIterable<Uint8Array>,
  contentType: string,
  trailer: Headers | undefined,
): AsyncGenerator<Uint8Array> {
  try {
    yield* body;
  } catch (e) {
    if (!(e instanceof URIError)) throw e;
    if (contentType.startsWith("application/grpc-web")) {
      const headers = new Headers();
      setTrailerStatus(headers, replacement);
      yield grpcWebTrailerFrame(headers);
    } else if (trailer !== undefined) {
      setTrailerStatus(trailer, replacement);
    }
  }
}
