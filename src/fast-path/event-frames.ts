import type { DescMessage, DescMethodStreaming, MessageShape } from "@bufbuild/protobuf";
import { createMethodSerializationLookup, encodeEnvelope } from "@connectrpc/connect/protocol";
import type { Event } from "../gen/chat/v1/chat_pb.ts";

/**
 * The enveloped response frame of an event, encoded once per event and
 * format and shared by every subscriber that receives it: the same bytes
 * serve gRPC, gRPC-Web and Connect (binary), and one JSON encoding serves
 * every Connect JSON client. The cache is keyed by the object the response
 * is made of (the shared `Message` of a message event, else the `Event`), so
 * a replayed message read once from the store is also encoded once.
 *
 * Serialization is Connect's own for the method, with the options Connect's
 * handlers use, so a frame is byte for byte what the handler would send.
 */
export interface EventFrames {
  /** The frame of `event`, or undefined when this method sends nothing for it. */
  frame(event: Event, binary: boolean): Uint8Array | undefined;
}

export interface ResponseMapping<O extends DescMessage> {
  /** The object the response depends on (cache key), or undefined to skip the event. */
  key(event: Event): object | undefined;
  /** The response message for `event`. */
  response(event: Event): MessageShape<O>;
}

export function createEventFrames<I extends DescMessage, O extends DescMessage>(
  method: DescMethodStreaming<I, O>,
  mapping: ResponseMapping<O>,
): EventFrames {
  // Limits do not apply to what the server writes (it wrote the message).
  const serialization = createMethodSerializationLookup(method, undefined, undefined, {
    readMaxBytes: 0xffffffff,
    writeMaxBytes: 0xffffffff,
  });
  const caches = [new WeakMap<object, Uint8Array>(), new WeakMap<object, Uint8Array>()];
  const serializers = [serialization.getO(false), serialization.getO(true)];
  return {
    frame(event, binary) {
      const key = mapping.key(event);
      if (key === undefined) return undefined;
      const cache = caches[binary ? 1 : 0] as WeakMap<object, Uint8Array>;
      let frame = cache.get(key);
      if (frame === undefined) {
        const data = serializers[binary ? 1 : 0]?.serialize(mapping.response(event)) as Uint8Array;
        frame = encodeEnvelope(0, data);
        cache.set(key, frame);
      }
      return frame;
    },
  };
}
