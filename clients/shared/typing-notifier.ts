/**
 * Tells the room when we type, cheaply: the caller reports every keystroke,
 * and a notice goes out only when typing starts, when a throttle interval has
 * passed (receivers expire notices that are not renewed), and once when it
 * stops. Best effort: a lost notice expires on the receivers anyway.
 */
import type { CallOptions, Client } from "@connectrpc/connect";
import type { ChatService } from "../../src/gen/chat/v1/chat_pb.ts";
import type { CallAuth } from "./call-auth.ts";

export interface TypingNotifierOptions {
  client: Client<typeof ChatService>;
  room: string;
  /** The name the notices are about; blank: none are sent. */
  name: string;
  auth: CallAuth;
  /** While typing, at most one notice per this interval. */
  throttleMs: number;
  /** Deadline of each notice. */
  timeoutMs: number;
  /** The session's: once aborted, no notice is sent. */
  signal: AbortSignal;
  /** Notices are sent only while this holds: before that, nobody would see them. */
  isLive: () => boolean;
}

export interface TypingNotifier {
  /** Call it on every keystroke (true) and when the input is left or emptied (false). */
  set(typing: boolean): void;
  /** We sent a message: receivers drop our notice when it arrives, so nothing is left to stop. */
  messageSent(): void;
  /**
   * Before the session closes: the others would see "typing…" until it
   * expires, so say it stopped. Not tied to the signal, which is about to abort.
   */
  stop(): void;
}

export function createTypingNotifier(options: TypingNotifierOptions): TypingNotifier {
  const { client, room, name, auth, signal, isLive } = options;
  /** Whether the others were last told that we are typing, and when. */
  let typingSent = false;
  let typingSentAt = 0;

  function notify(typing: boolean, callOptions: CallOptions): void {
    auth
      .options(callOptions)
      .then((o) => client.setTyping({ room, name, typing }, o))
      .catch(() => {});
  }

  return {
    set(typing) {
      if (signal.aborted || !isLive() || name.trim() === "") return;
      const now = Date.now();
      if (typing && typingSent && now - typingSentAt < options.throttleMs) return;
      if (!typing && !typingSent) return;
      typingSent = typing;
      typingSentAt = now;
      notify(typing, { signal, timeoutMs: options.timeoutMs });
    },
    messageSent() {
      typingSent = false;
    },
    stop() {
      if (!typingSent || !isLive()) return;
      notify(false, { timeoutMs: options.timeoutMs });
      typingSent = false;
    },
  };
}
