import type { SessionState } from "../shared/room-session.ts";
import { formatTyping } from "./format.ts";

/** Everything the status line depends on. */
export interface StatusInput {
  state: SessionState;
  /** When the next reconnect attempt starts (ms since epoch), while waiting. */
  nextRetryAt: number | undefined;
  /** Messages sent but not yet acknowledged. */
  unsent: number;
  /** Others typing now. */
  typing: Iterable<string>;
  url: string;
  now: number;
}

/**
 * The line above the prompt: connection trouble first (the user must know
 * their messages are not going out), then who is typing. Empty when live and
 * quiet, so the screen stays clean.
 */
export function formatStatus(input: StatusInput): string {
  const parts: string[] = [];
  switch (input.state) {
    case "connecting":
      parts.push(`connecting to ${input.url}…`);
      break;
    case "reconnecting": {
      const at = input.nextRetryAt;
      const seconds = at === undefined ? 0 : Math.ceil((at - input.now) / 1000);
      parts.push(seconds > 0 ? `reconnecting in ${seconds}s… (/retry now)` : "reconnecting…");
      break;
    }
    case "failed":
      parts.push("not connected: /retry or /quit");
      break;
    default:
      break;
  }
  if (input.unsent > 0 && input.state !== "live") parts.push(`${input.unsent} waiting to be sent`);
  if (input.state === "live") {
    const typing = formatTyping([...input.typing].sort());
    if (typing !== "") parts.push(typing);
  }
  return parts.join(" · ");
}
