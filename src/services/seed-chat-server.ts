import type { ServiceImpl } from "@connectrpc/connect";
import { checkSend, checkSubscribe } from "../auth/checks.ts";
import { identityKey } from "../auth/context.ts";
import type { Identity } from "../auth/identity.ts";
import type { ChatRooms, SubscribeParams } from "../core/chat-rooms.ts";
import type { ChatServer, Note } from "../gen/grpc/chat_pb.ts";
import type { ChatLimits } from "./limits.ts";
import { validateTextSize } from "./validate.ts";

/**
 * The subscription of the seed's ChatStream: every retained note of `room`,
 * then new ones, unlisted. Needs read access to `room` (PermissionDenied
 * otherwise). Shared by the Connect handler and the streaming fast path.
 */
export function seedStreamParams(
  room: string,
  signal: AbortSignal,
  identity: Identity | undefined,
): SubscribeParams {
  checkSubscribe(identity, room, "");
  // Its Note has no heartbeat: none is made for it.
  return { room, from: { case: "afterSeq", value: 0n }, signal, heartbeats: false };
}

/**
 * The seed's SendNote for `room`: appends the note as a message from its
 * name. The seed accepted any note; only the size is bounded here, and with
 * auth on, Note.name must be the caller's own (empty: the caller's). Shared
 * by the Connect handler and the unary fast path.
 */
export function createSendNote(
  rooms: ChatRooms,
  room: string,
  limits: ChatLimits,
): (note: Note, identity: Identity | undefined) => Promise<void> {
  return async (note, identity) => {
    const sender = checkSend(identity, room, note.name);
    validateTextSize(note.message, limits);
    await rooms.send({ room, sender, text: note.message, clientId: "" });
  };
}

/**
 * The seed's `grpc.ChatServer`, with the seed's semantics: ChatStream replays
 * every retained note and then streams new ones; SendNote appends and returns
 * Empty. Notes live in `room`, so chat.v1 clients of that room see them and
 * the other way round.
 */
export function createSeedChatServer(
  rooms: ChatRooms,
  room: string,
  limits: ChatLimits,
): ServiceImpl<typeof ChatServer> {
  const sendNote = createSendNote(rooms, room, limits);
  return {
    async *chatStream(_req, ctx) {
      const params = seedStreamParams(room, ctx.signal, ctx.values.get(identityKey));
      for await (const event of rooms.subscribe(params)) {
        if (event.kind.case !== "message") continue;
        const { sender, text } = event.kind.value;
        yield { name: sender, message: text };
      }
    },

    async sendNote(note, ctx) {
      await sendNote(note, ctx.values.get(identityKey));
      return {};
    },
  };
}
