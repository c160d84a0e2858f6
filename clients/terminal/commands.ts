/** What one line typed in the interactive client asks for. */
export type Input =
  | { kind: "empty" }
  | { kind: "send"; text: string }
  | { kind: "who" }
  | { kind: "quit" }
  | { kind: "retry" }
  | { kind: "help" }
  | { kind: "unknown"; command: string };

export const commandHelp = [
  "/who    list who is in the room",
  "/retry  reconnect now instead of waiting",
  "/quit   leave (also Ctrl-D, Ctrl-C)",
  "//text  send a message that starts with /",
];

/** Whether `line` is (the start of) a command rather than a message: no typing notice for it. */
export function isCommand(line: string): boolean {
  return line.startsWith("/") && !line.startsWith("//");
}

/**
 * Lines starting with "/" are commands, so that a mistyped "/qiut" is never
 * sent to the room; "//" escapes a message that really starts with "/".
 */
export function parseInput(line: string): Input {
  if (line.trim() === "") return { kind: "empty" };
  if (line.startsWith("//")) return { kind: "send", text: line.slice(1) };
  if (!line.startsWith("/")) return { kind: "send", text: line };
  const command = line.trim().split(/\s+/, 1)[0]?.toLowerCase() ?? "";
  switch (command) {
    case "/who":
      return { kind: "who" };
    case "/quit":
    case "/exit":
      return { kind: "quit" };
    case "/retry":
      return { kind: "retry" };
    case "/help":
      return { kind: "help" };
    default:
      return { kind: "unknown", command };
  }
}
