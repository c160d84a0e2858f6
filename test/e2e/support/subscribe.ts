import type { MessageInitShape } from "@bufbuild/protobuf";
import type { CallOptions, Client } from "@connectrpc/connect";
import type {
  ChatService,
  Message,
  SubscribeRequestSchema,
} from "../../../src/gen/chat/v1/chat_pb.ts";
import { eventually } from "../../support/server.ts";

/** A chat.v1 Subscribe call consumed in the background. */
export interface Subscription {
  readonly messages: Message[];
  /** True once the replay is over (`Event.ready` seen). */
  readonly ready: boolean;
  /** The error the stream ended with, if it ended. */
  readonly error: unknown;
  waitForMessages(count: number, ms?: number): Promise<Message[]>;
  waitForReady(ms?: number): Promise<void>;
  /** Cancels the call and waits for the stream to end. */
  cancel(): Promise<void>;
}

/** `[sender] text`, the way the seed's client prints a note. */
export function formatNote(m: Pick<Message, "sender" | "text">): string {
  return `[${m.sender}] ${m.text}`;
}

export function subscribe(
  client: Client<typeof ChatService>,
  request: MessageInitShape<typeof SubscribeRequestSchema>,
  options: CallOptions = {},
): Subscription {
  const abort = new AbortController();
  const messages: Message[] = [];
  let ready = false;
  let error: unknown;
  const done = (async () => {
    try {
      for await (const res of client.subscribe(request, { ...options, signal: abort.signal })) {
        const kind = res.event?.kind;
        if (kind?.case === "message") messages.push(kind.value);
        if (kind?.case === "ready") ready = true;
      }
    } catch (e) {
      error = e;
    }
  })();
  return {
    messages,
    get ready() {
      return ready;
    },
    get error() {
      return error;
    },
    async waitForMessages(count, ms = 5000) {
      await eventually(
        () => messages.length >= count || error !== undefined,
        ms,
        `${count} messages (got ${messages.length})`,
      );
      if (messages.length < count) throw error;
      return messages;
    },
    async waitForReady(ms = 5000) {
      await eventually(() => ready || error !== undefined, ms, "the end of the replay");
      if (!ready) throw error;
    },
    async cancel() {
      abort.abort();
      await done;
    },
  };
}
