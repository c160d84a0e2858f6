/**
 * The terminal chat client. Parses the command line, connects, and runs one
 * of three modes: interactive chat (a TTY), `send` or `follow` (scripts).
 * Runs unchanged on Node, Bun and Deno: only `node:` built-ins that all three
 * provide, and connect-node's transports.
 */
import process from "node:process";
import { ConnectError } from "@connectrpc/connect";
import { parseArgs, UsageError } from "./args.ts";
import { runInteractive } from "./interactive.ts";
import { writeErr, writeOut } from "./output.ts";
import { runFollow } from "./script-follow.ts";
import { runSend } from "./script-send.ts";
import { type ChatConnection, createChatConnection } from "./transport.ts";

/** Exit codes: 0 done, 1 the server or the network failed, 2 a usage mistake. */
async function main(argv: string[]): Promise<number> {
  let connection: ChatConnection | undefined;
  try {
    const command = parseArgs(argv, process.env);
    if (command.kind === "help") {
      await writeOut(`${command.text}\n`);
      return 0;
    }
    if (command.kind === "interactive" && !process.stdin.isTTY) {
      throw new UsageError("interactive mode needs a terminal; in scripts use send or follow");
    }
    connection = createChatConnection(command.options, (line) => {
      process.stderr.write(`${line}\n`);
    });
    switch (command.kind) {
      case "send":
        await runSend(connection, command);
        return 0;
      case "follow":
        return await runFollow(connection, command);
      case "interactive":
        return await runInteractive(connection, command.options);
    }
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      await writeErr(`chat: ${e.message}\nTry --help.\n`);
      return 2;
    }
    const message = e instanceof ConnectError || e instanceof Error ? e.message : String(e);
    await writeErr(`chat: ${message}\n`);
    return 1;
  } finally {
    connection?.close();
  }
}

process.exit(await main(process.argv.slice(2)));
