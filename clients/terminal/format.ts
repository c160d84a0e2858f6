import { toJson } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { type Message, MessageSchema } from "../../src/gen/chat/v1/chat_pb.ts";
import { neutralise, terminalSafeJson } from "./sanitize.ts";

/** The script-mode line: `[seq] name: text`, stable for grep and awk. */
export function formatPlain(message: Message): string {
  return `[${message.seq}] ${neutralise(message.sender)}: ${neutralise(message.text)}`;
}

/**
 * The script-mode JSON line: protobuf's canonical JSON of the message (seq as
 * a string, sentAt as RFC 3339), so that any protobuf JSON reader parses it.
 */
export function formatJson(message: Message): string {
  return terminalSafeJson(toJson(MessageSchema, message));
}

/** Local wall-clock time of a message, `HH:MM`; empty when the server sent none. */
export function formatTime(message: Message): string {
  if (message.sentAt === undefined) return "";
  const d = timestampDate(message.sentAt);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

/** "alice is typing…", "alice and bob are typing…", "3 people are typing…". */
export function formatTyping(names: readonly string[]): string {
  const safe = names.map(neutralise);
  if (safe.length === 0) return "";
  if (safe.length === 1) return `${safe[0]} is typing…`;
  if (safe.length === 2) return `${safe[0]} and ${safe[1]} are typing…`;
  return `${safe.length} people are typing…`;
}
