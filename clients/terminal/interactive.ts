import process from "node:process";
import { createInterface } from "node:readline";
import { createRoomSession, type RoomSession } from "../shared/room-session.ts";
import type { CommonOptions } from "./args.ts";
import { commandHelp, type Input, isCommand, parseInput } from "./commands.ts";
import { createPalette } from "./palette.ts";
import { reconnectBackoff } from "./reconnect.ts";
import { neutralise } from "./sanitize.ts";
import { createScreen } from "./screen.ts";
import type { ChatConnection } from "./transport.ts";
import { createTypingIdle, type TypingIdle } from "./typing-idle.ts";
import { createView, type View } from "./view.ts";

/** Messages shown when joining a room. */
const historyOnJoin = 50;

/**
 * Interactive chat on a terminal: history, then live messages above a
 * prompt that keeps the line being typed; presence and typing notices;
 * connection state while the session reconnects and resumes. Resolves with
 * the exit code once the user leaves (/quit, Ctrl-D, Ctrl-C, SIGTERM: 0) or
 * the server refuses to let us join (1).
 */
export function runInteractive(
  connection: ChatConnection,
  options: CommonOptions,
): Promise<number> {
  const output = process.stdout;
  const colours = output.hasColors?.() === true && process.env.NO_COLOR === undefined;
  const rl = createInterface({
    input: process.stdin,
    output,
    prompt: `${neutralise(options.room)}> `,
    terminal: true,
    historySize: 100,
  });
  const screen = createScreen(rl, output);
  const session = createRoomSession({
    client: connection.client,
    room: options.room,
    name: options.name,
    history: historyOnJoin,
    backoff: reconnectBackoff,
  });
  const view = createView(session, screen, createPalette(colours), options);
  const typing = createTypingIdle((on) => session.setTyping(on));

  // readline handled the key first, so rl.line is the line as it is now.
  // Typing a command is not typing a message: "/quit" must not tell the room.
  process.stdin.on("keypress", () => typing.keystroke(isCommand(rl.line) ? "" : rl.line));
  rl.on("line", (line) => {
    screen.eraseSubmitted(line);
    runInput(parseInput(line), { view, session, typing, quit: () => rl.close() });
  });
  rl.on("SIGINT", () => rl.close());
  rl.prompt();

  // A subscription the server refuses before we ever joined (a bad room
  // name, say) will not get better by waiting: leave with exit code 1. The
  // view has shown the reason.
  let exitCode = 0;
  let joined = false;
  session.on("state", (state) => {
    if (state === "live") joined = true;
    if (state === "failed" && !joined) {
      exitCode = 1;
      rl.close();
    }
  });

  return new Promise<number>((resolve) => {
    rl.once("close", () => {
      typing.stop();
      view.close();
      session.close();
      screen.close();
      resolve(exitCode);
    });
    process.once("SIGTERM", () => rl.close());
  });
}

interface InputTargets {
  view: View;
  session: RoomSession;
  typing: TypingIdle;
  quit(): void;
}

/** Does what one typed line asks. */
function runInput(input: Input, { view, session, typing, quit }: InputTargets): void {
  switch (input.kind) {
    case "send":
      typing.stop();
      view.send(input.text);
      return;
    case "quit":
      quit();
      return;
    case "retry":
      session.retryNow();
      return;
    case "who":
      view.who();
      return;
    case "help":
      for (const text of commandHelp) view.notice(text);
      return;
    case "unknown":
      view.notice(`unknown command ${neutralise(input.command)}; /help lists them`);
      return;
    case "empty":
      return;
  }
}
