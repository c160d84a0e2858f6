import process from "node:process";
import { createRoomSession, type SessionState } from "../shared/room-session.ts";
import type { CommonOptions } from "./args.ts";
import { formatJson, formatPlain } from "./format.ts";
import { writeOut } from "./output.ts";
import { reconnectBackoff } from "./reconnect.ts";
import type { ChatConnection } from "./transport.ts";

export interface FollowCommand {
  options: CommonOptions;
  /** Newest messages replayed before live ones; 0: live only. */
  last: number;
  json: boolean;
}

/**
 * `chat follow`: one line per message on stdout, in seq order, each exactly
 * once, across reconnects and server restarts (the room session resumes from
 * the last seq printed). Connection notices go to stderr so stdout stays
 * machine-readable. Runs until SIGINT or SIGTERM (exit 0), or until the
 * server refuses the subscription itself, such as a bad room name (exit 1).
 */
export function runFollow(connection: ChatConnection, command: FollowCommand): Promise<number> {
  // No presence name: a script watching a room is not a member of it.
  const session = createRoomSession({
    client: connection.client,
    room: command.options.room,
    name: "",
    history: command.last,
    backoff: reconnectBackoff,
  });
  const format = command.json ? formatJson : formatPlain;
  // Lines are written in order; the chain lets the exit wait for the last one.
  let written = Promise.resolve();
  const print = (line: string) => {
    written = written.then(() => writeOut(`${line}\n`));
  };
  const notice = (line: string) => process.stderr.write(`chat: ${line}\n`);

  session.on("message", (message) => print(format(message)));
  session.on("gap", (gap) =>
    notice(`messages ${gap.afterSeq + 1n} to ${gap.nextSeq - 1n} are no longer retained`),
  );
  session.on("reset", () => notice("the room's history was reset; replaying the new history"));

  return new Promise<number>((resolve) => {
    let previous: SessionState = session.state;
    const finish = (code: number) => {
      session.close();
      written.then(
        () => resolve(code),
        () => resolve(1),
      );
    };
    session.on("state", (state) => {
      if (state === previous) return;
      if (state === "reconnecting") {
        notice(`connection lost (${session.lastError?.message ?? "unknown"}); reconnecting…`);
      } else if (state === "live" && previous === "reconnecting") {
        notice("reconnected; resumed");
      } else if (state === "failed") {
        notice(session.lastError?.message ?? "the server refused the subscription");
        finish(1);
      }
      previous = state;
    });
    const stop = () => finish(0);
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}
