import type { Event } from "../gen/chat/v1/chat_pb.ts";
import { createEventBus } from "./event-bus.ts";
import { presenceContract } from "./presence.case.ts";
import { createPresence } from "./presence.ts";

presenceContract("in-process", { shared: false }, async () => {
  const bus = createEventBus<Event>();
  const presence = createPresence({ bus });
  return { instance: async () => ({ presence, bus }) };
});
