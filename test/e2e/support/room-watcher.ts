import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { ChatService, type Event } from "../../../src/gen/chat/v1/chat_pb.ts";
import { createTestTransport, type TransportKind } from "../../support/transports.ts";

/** A Subscribe read in the background, with what it got so far. */
export interface RoomWatcher {
  /** Every event, in order. */
  readonly events: Event[];
  /** `seq:text` of each message event, in order. */
  readonly messages: string[];
  /** The epoch of the `ready` event (or of a `reset`); "" before. */
  readonly epoch: string;
  /** Seq of the last message (or of the head at `ready`). */
  readonly lastSeq: bigint;
  readonly ready: boolean;
  /** Set when the stream ended: the code ("OK" for a clean end) and message. */
  readonly ended: { code: string; message: string } | undefined;
  /** Names in the member list: `ready`'s members, then joins and leaves. */
  readonly members: Set<string>;
  stop(): void;
}

export interface WatchOptions {
  baseUrl: string;
  kind: TransportKind;
  room: string;
  name?: string;
  afterSeq?: bigint;
  epoch?: string;
}

/** Opens a Subscribe on `baseUrl` and records everything it delivers. */
export function watchRoom(options: WatchOptions): RoomWatcher {
  const { transport, close } = createTestTransport(options.baseUrl, options.kind);
  const abort = new AbortController();
  const state = {
    events: [] as Event[],
    messages: [] as string[],
    epoch: "",
    lastSeq: 0n,
    ready: false,
    ended: undefined as { code: string; message: string } | undefined,
    members: new Set<string>(),
    stop() {
      abort.abort();
      close();
    },
  };
  const stream = createClient(ChatService, transport).subscribe(
    {
      room: options.room,
      name: options.name ?? "",
      start: { case: "afterSeq", value: options.afterSeq ?? 0n },
      epoch: options.epoch ?? "",
    },
    { signal: abort.signal },
  );
  void (async () => {
    try {
      for await (const { event } of stream) {
        if (event === undefined) continue;
        state.events.push(event);
        const { kind } = event;
        if (kind.case === "message") {
          state.messages.push(`${kind.value.seq}:${kind.value.text}`);
          state.lastSeq = kind.value.seq;
        } else if (kind.case === "ready") {
          state.ready = true;
          state.epoch = kind.value.epoch;
          state.lastSeq = kind.value.headSeq;
          for (const m of kind.value.members) state.members.add(m.name);
        } else if (kind.case === "reset") {
          state.epoch = kind.value.epoch;
        } else if (kind.case === "memberJoined") {
          state.members.add(kind.value.member?.name ?? "");
        } else if (kind.case === "memberLeft") {
          state.members.delete(kind.value.name);
        }
      }
      state.ended = { code: "OK", message: "" };
    } catch (e) {
      const error = ConnectError.from(e);
      state.ended = { code: Code[error.code], message: error.rawMessage };
    }
  })();
  return state;
}
