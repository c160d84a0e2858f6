/** One chat.v1 Subscribe call consumed in the background, cancellable. */
import type { Client } from "@connectrpc/connect";
import type { ChatService, Message } from "../src/gen/chat/v1/chat_pb.ts";

export interface BenchSubscription {
  /** Resolves with the room's head seq once the `ready` event arrived; rejects if the call fails first. */
  readonly ready: Promise<bigint>;
  /** Resolves when the call is over: with its error, or undefined if the server ended it. */
  readonly ended: Promise<unknown>;
  /** True once the call is over, for whatever reason. */
  readonly isEnded: boolean;
  /** Cancels the call (breaking out of `for await` would not). */
  cancel(): void;
}

/** Subscribes live-only (no replay) to `room`; `onMessage` sees each message event. */
export function subscribeLive(
  client: Client<typeof ChatService>,
  room: string,
  onMessage: (message: Message) => void = () => {},
): BenchSubscription {
  const abort = new AbortController();
  let isEnded = false;
  let markReady: (head: bigint) => void = () => {};
  let failReady: (e: unknown) => void = () => {};
  const ready = new Promise<bigint>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  ready.catch(() => {});
  const ended = (async (): Promise<unknown> => {
    try {
      for await (const res of client.subscribe({ room }, { signal: abort.signal })) {
        const kind = res.event?.kind;
        if (kind?.case === "message") onMessage(kind.value);
        else if (kind?.case === "ready") markReady(kind.value.headSeq);
      }
      failReady(new Error("stream ended before ready"));
      return undefined;
    } catch (e) {
      failReady(e);
      return e;
    } finally {
      isEnded = true;
    }
  })();
  return {
    ready,
    ended,
    get isEnded() {
      return isEnded;
    },
    cancel: () => abort.abort(),
  };
}
