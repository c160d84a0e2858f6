import type { IncomingHttpHeaders } from "node:http";
import type { Readable } from "node:stream";
import type { DescMethod, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  createMethodSerializationLookup,
  pipe,
  transformDecompressEnvelope,
  transformParseEnvelope,
  transformSplitEnvelope,
} from "@connectrpc/connect/protocol";
import type { StreamProtocol } from "./stream-protocols.ts";

type Serialization = ReturnType<typeof createMethodSerializationLookup>;
const lookups = new WeakMap<DescMethod, Map<number, Serialization>>();

/** Connect's serialization of a method's messages with a request limit, made once. */
export function methodSerialization(method: DescMethod, readMaxBytes: number): Serialization {
  let byLimit = lookups.get(method);
  if (byLimit === undefined) {
    byLimit = new Map();
    lookups.set(method, byLimit);
  }
  let lookup = byLimit.get(readMaxBytes);
  if (lookup === undefined) {
    lookup = createMethodSerializationLookup(method, undefined, undefined, {
      readMaxBytes,
      // Limits do not apply to what the server writes (it made the message).
      writeMaxBytes: 0xffffffff,
    });
    byLimit.set(readMaxBytes, lookup);
  }
  return lookup;
}

const methodNames = new WeakMap<DescMethod, string>();

/** `Service/Method`, made once per method rather than once per call or stream. */
export function methodNameOf(method: DescMethod): string {
  let name = methodNames.get(method);
  if (name === undefined) {
    name = `${method.parent.typeName}/${method.name}`;
    methodNames.set(method, name);
  }
  return name;
}

/**
 * The one request message of a unary or server-streaming call, parsed by
 * Connect's own envelope and message functions: the same limits and the
 * same errors for a malformed, oversized, compressed, missing or repeated
 * message (`kind` names the method kind in them, as Connect does).
 */
export async function readRequest<M extends DescMethod>(
  body: AsyncIterable<Uint8Array>,
  method: M,
  kind: "unary" | "server-streaming",
  protocol: StreamProtocol,
  readMaxBytes: number,
): Promise<MessageShape<M["input"]>> {
  const parse = methodSerialization(method, readMaxBytes).getI(protocol.binary);
  const messages = pipe(
    body,
    transformSplitEnvelope(readMaxBytes),
    transformDecompressEnvelope(null, readMaxBytes),
    protocol.requestEndFlag === undefined
      ? transformParseEnvelope(parse)
      : transformParseEnvelope(parse, protocol.requestEndFlag),
  );
  let first: MessageShape<M["input"]> | undefined;
  let count = 0;
  for await (const message of messages) {
    if (count++ > 0) {
      throw new ConnectError(
        `protocol error: received extra input message for ${kind} method`,
        Code.Unimplemented,
      );
    }
    first = message as MessageShape<M["input"]>;
  }
  if (first === undefined) {
    throw new ConnectError(
      `protocol error: missing input message for ${kind} method`,
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
export async function* abortable(body: Readable, signal: AbortSignal): AsyncGenerator<Uint8Array> {
  const it = body.iterator({ destroyOnReturn: false });
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

/** Auth off reads no header: no copy of them per call. */
const noHeaders = new Headers();

/** A request's headers as Fetch API Headers, for the authenticator; only when auth is on. */
export function authHeaders(headers: IncomingHttpHeaders, authEnabled: boolean): Headers {
  if (!authEnabled) return noHeaders;
  const out = new Headers();
  for (const [key, value] of Object.entries(headers)) {
    if (key.startsWith(":") || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.append(key, v);
    else out.set(key, value);
  }
  return out;
}
