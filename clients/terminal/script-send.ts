import { toJson } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { SendResponseSchema } from "../../src/gen/chat/v1/chat_pb.ts";
import { backoffDelay, randomId } from "../shared/retry.ts";
import type { CommonOptions } from "./args.ts";
import { writeOut } from "./output.ts";
import { reconnectBackoff } from "./reconnect.ts";
import { terminalSafeJson } from "./sanitize.ts";
import type { ChatConnection } from "./transport.ts";

export interface SendCommand {
  options: CommonOptions;
  text: string;
  json: boolean;
}

/** Attempts before giving up on an unreachable server; Send is idempotent by client id. */
const attempts = 4;
/** Failures another attempt can fix: the server is away, or did not answer in time. */
const retryable = new Set([Code.Unavailable, Code.DeadlineExceeded]);
const perAttemptMs = 10_000;

/**
 * `chat send`: posts one message and prints its seq (or the SendResponse as
 * JSON). Retries only while the server is unavailable or slow, with the same client
 * id, so a retry after a lost response can never post the message twice.
 * Any other error (a bad room, a text too long) is final and thrown.
 */
export async function runSend(connection: ChatConnection, command: SendCommand): Promise<void> {
  const request = {
    room: command.options.room,
    sender: command.options.name,
    text: command.text,
    clientId: randomId(),
  };
  for (let attempt = 1; ; attempt++) {
    try {
      const sent = await connection.client.send(request, { timeoutMs: perAttemptMs });
      const line = command.json
        ? terminalSafeJson(toJson(SendResponseSchema, sent, { alwaysEmitImplicit: true }))
        : String(sent.seq);
      await writeOut(`${line}\n`);
      return;
    } catch (e) {
      const error = ConnectError.from(e);
      if (!retryable.has(error.code) || attempt >= attempts) throw error;
      await new Promise((r) => setTimeout(r, backoffDelay(attempt - 1, reconnectBackoff)));
    }
  }
}
