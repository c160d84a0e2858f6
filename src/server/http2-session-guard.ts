import * as http2 from "node:http2";

/** How long an HTTP/2 session and its streams may take, and who pays for resets. */
export interface Http2SessionGuardOptions {
  /** GOAWAY a session that has had no open stream for this long. */
  idleTimeoutMs: number;
  /** Destroy a session whose client has not acknowledged the server's SETTINGS within this. */
  handshakeTimeoutMs: number;
  /** PING a session this often once it is up; 0 disables. */
  keepaliveMs: number;
  /** Destroy a session that does not answer a PING within this. */
  keepaliveTimeoutMs: number;
  /**
   * Reset (RST_STREAM CANCEL) a stream whose request body has not ended this long after its
   * headers, unless {@link isStreamingRequest} says its body is a stream; 0 disables.
   */
  requestTimeoutMs: number;
  /** Whether the request body of calls to `path` is a stream (client streaming, bidi): no deadline. */
  isStreamingRequest(path: string): boolean;
  /**
   * Charged for each stream the client resets: false when the budget of its address is spent,
   * and the session is then closed with GOAWAY ENHANCE_YOUR_CALM.
   */
  chargeReset(address: string | undefined): boolean;
  /** Whether `address` is refused for now (it spent its reset budget on another session). */
  isCoolingDown(address: string | undefined): boolean;
  /**
   * Stops reading the session's socket at once, where the caller can (Node reads up to 2 MiB
   * per socket per event-loop turn: tens of thousands of rapid-reset streams).
   */
  stopReading?(): void;
}

/** What the request handler asks of a guarded session before it dispatches a stream. */
export interface Http2SessionGate {
  /**
   * False once the session is being closed for resets, or its address is cooling down: the
   * stream is then refused instead of reaching the application (see `createStreamDispatcher`).
   */
  admitsStream(): boolean;
}

/**
 * Ends HTTP/2 sessions that hold a connection without using it, which Node's http2 server
 * does not do by itself:
 *
 * - After a connection error (an invalid frame) nghttp2 sends GOAWAY and stops reading, and
 *   Node tells no one: the socket stays open, in CLOSE-WAIT once the client has gone, until
 *   some timer ends it. A client that never acknowledged our SETTINGS is dropped after
 *   `handshakeTimeoutMs`; one that goes quiet later fails a PING (keepalive).
 * - A request body that never ends held its stream, and so its session, for ever; streaming
 *   calls whose request body is a stream (Chat) are exempt, and a Subscribe's body ends at once.
 * - Rapid reset (CVE-2023-44487): streams the client resets are charged to its address over
 *   all its sessions (see `createIpGuard`). The server cannot tell a reset that came before
 *   its answer from one after (a handler answers the aborted request at once), so every
 *   reset counts; legitimate clients cancel a stream now and then, far below the budget.
 *
 * The timers are unref'd: they never keep a process alive.
 */
export function guardHttp2Session(
  session: http2.ServerHttp2Session,
  options: Http2SessionGuardOptions,
): Http2SessionGate {
  // Read now: once the session is destroyed its socket is gone.
  const address = session.socket?.remoteAddress;
  guardHandshake(session, options);
  let openStreams = 0;
  // Not session.setTimeout(): Node 20 does not clear that timer when the session is
  // destroyed (closeSession marks it destroyed first, and setTimeout(0) then does nothing),
  // so every closed session, its socket and buffers stayed in memory until it fired.
  let idleTimer: NodeJS.Timeout | undefined;
  const armIdleTimer = () => {
    idleTimer = setTimeout(() => session.close(), options.idleTimeoutMs);
    idleTimer.unref();
  };
  armIdleTimer();
  session.once("close", () => clearTimeout(idleTimer));
  let calming = false;
  const calmDown = () => {
    if (calming) return;
    calming = true;
    options.stopReading?.();
    // Not from within this event: it can run inside nghttp2's processing of the client's
    // frames, and destroying the session there never returns (Node 20.20).
    setImmediate(() => {
      if (session.destroyed) return;
      session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      session.destroy();
    });
  };
  session.on("stream", (stream, headers) => {
    openStreams++;
    clearTimeout(idleTimer);
    const bodyDeadline = armBodyDeadline(stream, String(headers[":path"] ?? ""), options);
    // "close" fires once; `on` spares the two objects `once` adds per stream.
    stream.on("close", () => {
      openStreams--;
      if (openStreams === 0 && !session.closed) armIdleTimer();
      clearTimeout(bodyDeadline.timer);
      // A reset while the session lives, not ours: the client's (or, rarely, a handler's
      // destroy(err), counted too: the budget leaves room for such).
      const resetByClient =
        stream.rstCode !== undefined &&
        stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR &&
        !bodyDeadline.fired &&
        !calming &&
        !session.destroyed;
      if (resetByClient && !options.chargeReset(address)) calmDown();
    });
  });
  return {
    admitsStream() {
      if (!calming && options.isCoolingDown(address)) calmDown();
      return !calming;
    },
  };
}

/** Drops a session whose client does not acknowledge our SETTINGS in time, then keeps it honest with PINGs. */
function guardHandshake(session: http2.ServerHttp2Session, options: Http2SessionGuardOptions) {
  const startKeepalive = () => {
    if (options.keepaliveMs > 0)
      keepAlive(session, options.keepaliveMs, options.keepaliveTimeoutMs);
  };
  // Runtimes that do not track it (undefined) are left alone rather than cut.
  if (session.pendingSettingsAck !== true) {
    startKeepalive();
    return;
  }
  const timer = setTimeout(() => {
    if (session.pendingSettingsAck === true) session.destroy();
  }, options.handshakeTimeoutMs);
  timer.unref();
  session.once("localSettings", () => {
    clearTimeout(timer);
    startKeepalive();
  });
  session.once("close", () => clearTimeout(timer));
}

/** Sends a PING every `everyMs`; a session that does not answer within `timeoutMs` is destroyed. */
function keepAlive(session: http2.ServerHttp2Session, everyMs: number, timeoutMs: number): void {
  let timer: NodeJS.Timeout | undefined;
  const schedule = (ms: number, then: () => void) => {
    timer = setTimeout(then, ms);
    timer.unref();
  };
  const probe = () => {
    if (session.destroyed || session.closed) return;
    schedule(timeoutMs, () => session.destroy());
    try {
      session.ping((err) => {
        clearTimeout(timer);
        if (err === null) schedule(everyMs, probe);
      });
    } catch {
      // Closed meanwhile: nothing left to watch.
      clearTimeout(timer);
    }
  };
  schedule(everyMs, probe);
  session.once("close", () => clearTimeout(timer));
}

/** Arms the request-body deadline of a stream whose body is one message; `fired` once it reset it. */
function armBodyDeadline(
  stream: http2.ServerHttp2Stream,
  path: string,
  options: Http2SessionGuardOptions,
): { timer: NodeJS.Timeout | undefined; fired: boolean } {
  const deadline = { timer: undefined as NodeJS.Timeout | undefined, fired: false };
  if (options.requestTimeoutMs <= 0 || stream.endAfterHeaders || options.isStreamingRequest(path)) {
    return deadline;
  }
  deadline.timer = setTimeout(() => {
    deadline.fired = true;
    stream.close(http2.constants.NGHTTP2_CANCEL);
    // Now, as for a client's reset: the handler then sees its call canceled (not logged),
    // rather than its request body cut short first (an "internal" error, logged).
    stream.destroy();
  }, options.requestTimeoutMs);
  deadline.timer.unref();
  stream.once("end", () => {
    clearTimeout(deadline.timer);
    // Not held for the rest of a long stream's life.
    deadline.timer = undefined;
  });
  return deadline;
}
