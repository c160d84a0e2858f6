/**
 * Sends that survive reconnects: each message is retried with the same
 * client_id until the server acknowledges it (the server dedupes by it, so a
 * retry after a lost answer is never a second message), and messages go out
 * one at a time, in call order, so that they are sequenced as they were typed.
 */
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import type { ChatService, SendResponse } from "../../src/gen/chat/v1/chat_pb.ts";
import type { CallAuth } from "./call-auth.ts";
import { type Backoff, backoffDelay } from "./retry.ts";
import type { RetryPause } from "./retry-pause.ts";

export interface SendQueueOptions {
  client: Client<typeof ChatService>;
  room: string;
  /** The sender of every message. */
  name: string;
  auth: CallAuth;
  /** Deadline of each attempt; it is then retried with the same client_id. */
  timeoutMs: number;
  backoff: Backoff;
  /** The wait between attempts; it ends early when the session goes live again. */
  pause: RetryPause;
  /** The session's: aborting it cancels the attempt in flight and rejects what is queued. */
  signal: AbortSignal;
}

export interface SendQueue {
  /**
   * Queues `text` behind the sends not yet settled. Rejects on errors a
   * retry cannot fix (invalid_argument, ...) and once the signal aborted;
   * a rejected send does not hold up the ones behind it.
   */
  send(text: string, clientId: string): Promise<SendResponse>;
}

/** Send errors worth retrying with the same client_id: transport or server trouble. */
const retryableCodes = new Set([
  Code.Unavailable,
  Code.Unknown,
  Code.DeadlineExceeded,
  Code.Canceled,
  Code.Aborted,
  Code.Internal,
]);

export function createSendQueue(options: SendQueueOptions): SendQueue {
  const { client, room, name, auth, signal } = options;
  let chain: Promise<unknown> = Promise.resolve();

  async function sendWithRetry(text: string, clientId: string): Promise<SendResponse> {
    /** Whether the token was refreshed for this message already. */
    let refreshed = false;
    for (let failures = 0; ; failures++) {
      if (signal.aborted) throw new ConnectError("session closed", Code.Canceled);
      const used = auth.current();
      try {
        return await client.send(
          { room, sender: name, text, clientId },
          await auth.options({ signal, timeoutMs: options.timeoutMs }),
        );
      } catch (e) {
        const error = ConnectError.from(e);
        if (signal.aborted) throw error;
        if (error.code === Code.Unauthenticated && !refreshed && (await auth.refresh(used))) {
          refreshed = true;
          continue;
        }
        if (!retryableCodes.has(error.code)) throw error;
        await options.pause.wait(backoffDelay(failures, options.backoff));
      }
    }
  }

  return {
    send(text, clientId) {
      const result = chain.then(() => sendWithRetry(text, clientId));
      chain = result.catch(() => undefined);
      return result;
    },
  };
}
