import type { OutgoingHttpHeaders } from "node:http";
import type { ServerHttp2Stream } from "node:http2";

/** What the fast path's writer needs of a response: the part Node's two response classes share. */
export interface CallResponse {
  readonly writableLength: number;
  readonly writableHighWaterMark: number;
  readonly writableEnded: boolean;
  writeHead(status: number, headers: OutgoingHttpHeaders): unknown;
  write(chunk: Uint8Array): boolean;
  addTrailers(trailers: OutgoingHttpHeaders): void;
  end(): unknown;
  once(event: "close" | "drain", listener: () => void): unknown;
  /** For "close", which fires once anyway: `once` would wrap each listener in two more objects. */
  on(event: "close", listener: () => void): unknown;
  cork?(): void;
  uncork?(): void;
}

/**
 * A raw HTTP/2 stream as a {@link CallResponse}, for calls taken before
 * Node's compatibility layer (and Fastify) make a request and response
 * object pair for them: an idle subscription then costs one stream and
 * this, not four more objects with their listeners (issue 9: idle memory).
 *
 * Headers go out with the first data or at the end; trailers (gRPC's
 * status) with `waitForTrailers`, as the compatibility layer does; a
 * response ended before any data is one HEADERS frame that ends the stream
 * (gRPC's "trailers-only").
 */
export class H2StreamResponse implements CallResponse {
  private readonly stream: ServerHttp2Stream;
  private readonly withTrailers: boolean;
  private head: OutgoingHttpHeaders | undefined;
  private trailers: OutgoingHttpHeaders | undefined;
  private ended = false;

  /** `withTrailers`: the protocol ends with HTTP trailers (gRPC); the others end in the body. */
  constructor(stream: ServerHttp2Stream, withTrailers: boolean) {
    this.stream = stream;
    this.withTrailers = withTrailers;
  }

  get writableLength(): number {
    return this.stream.writableLength;
  }

  get writableHighWaterMark(): number {
    return this.stream.writableHighWaterMark;
  }

  get writableEnded(): boolean {
    return this.ended;
  }

  writeHead(status: number, headers: OutgoingHttpHeaders): this {
    this.head = { ...headers, ":status": status };
    return this;
  }

  write(chunk: Uint8Array): boolean {
    if (this.stream.destroyed) return false;
    this.respond();
    return this.stream.write(chunk);
  }

  addTrailers(trailers: OutgoingHttpHeaders): void {
    this.trailers = trailers;
  }

  end(): this {
    if (this.ended) return this;
    this.ended = true;
    if (this.stream.destroyed) return this;
    if (!this.stream.headersSent) {
      // Nothing was written: the headers end the stream (with the trailers, if any).
      this.stream.respond({ ...this.head, ...this.trailers }, { endStream: true });
      return this;
    }
    if (this.withTrailers) {
      // Node asks for the trailers once the last data is out, which is
      // after this end: the listener is added now, not with the headers, so
      // that an idle stream holds none (issue 9: idle memory). `on`, as it
      // fires once anyway.
      this.stream.on("wantTrailers", () => this.stream.sendTrailers(this.trailers ?? {}));
    }
    this.stream.end();
    return this;
  }

  once(event: "close" | "drain", listener: () => void): this {
    this.stream.once(event, listener);
    return this;
  }

  on(event: "close", listener: () => void): this {
    this.stream.on(event, listener);
    return this;
  }

  cork(): void {
    this.stream.cork();
  }

  uncork(): void {
    this.stream.uncork();
  }

  private respond(): void {
    if (this.stream.headersSent) return;
    const head = this.head ?? { ":status": 200 };
    // Node keeps its own copy of what it sent.
    this.head = undefined;
    if (!this.withTrailers) {
      this.stream.respond(head);
      return;
    }
    // Node holds the stream open until trailers are sent (see `end`): what
    // was added (the status), or none, which ends the stream all the same.
    this.stream.respond(head, { waitForTrailers: true });
  }
}
