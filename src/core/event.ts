import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { type Event, EventSchema } from "../gen/chat/v1/chat_pb.ts";

/** An `Event` of one kind: what feeds and rooms publish and write. */
export function event(kind: MessageInitShape<typeof EventSchema>["kind"]): Event {
  return create(EventSchema, { kind });
}
