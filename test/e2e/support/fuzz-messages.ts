/**
 * Generators of hostile request messages for the RPC fuzz suite: random and mutated
 * protobuf bytes, and random or mutated JSON, for every method served. Each takes a seeded
 * {@link Random}, so a case replays.
 */
import {
  create,
  type DescMessage,
  type DescMethod,
  toBinary,
  toJsonString,
} from "@bufbuild/protobuf";
import { ChatService } from "../../../src/gen/chat/v1/chat_pb.ts";
import { ChatServer } from "../../../src/gen/grpc/chat_pb.ts";
import type { Random } from "./hostile.ts";

/** A method under test: its URL path, kind and a valid request to mutate. */
export interface FuzzMethod {
  path: string;
  method: DescMethod;
  streaming: boolean;
  valid: { binary: Uint8Array; json: string };
}

/** Valid requests, by method name: a room that exists, short names. */
const validInit: Record<string, Record<string, unknown>> = {
  Send: { room: "fuzz", sender: "fuzzer", text: "hello", clientId: "c1" },
  Subscribe: { room: "fuzz", name: "fuzzer", last: 5 },
  Chat: { kind: { case: "subscribe", value: { room: "fuzz", name: "fuzzer" } } },
  GetHistory: { room: "fuzz", limit: 10 },
  ListMembers: { room: "fuzz" },
  SetTyping: { room: "fuzz", name: "fuzzer", typing: true },
  ChatStream: {},
  SendNote: { name: "fuzzer", message: "hello" },
};

/** Every method of chat.v1.ChatService and of the seed's grpc.ChatServer. */
export const fuzzMethods: FuzzMethod[] = [ChatService, ChatServer].flatMap((service) =>
  service.methods.map((method) => {
    const message = create(method.input as DescMessage, validInit[method.name] ?? {});
    return {
      path: `/${service.typeName}/${method.name}`,
      method,
      streaming: method.methodKind !== "unary",
      valid: {
        binary: toBinary(method.input as DescMessage, message),
        json: toJsonString(method.input as DescMessage, message),
      },
    };
  }),
);

/** `n` as a protobuf varint. */
function encodeVarint(n: number): number[] {
  const out: number[] = [];
  let rest = n;
  do {
    out.push((rest % 128) | (rest >= 128 ? 0x80 : 0));
    rest = Math.floor(rest / 128);
  } while (rest > 0);
  return out;
}

/** A random varint, possibly overlong (10 bytes of 0xff and more: no valid varint). */
function randomVarint(random: Random): number[] {
  if (random.chance(0.1)) return Array.from({ length: 10 + random.int(3) }, () => 0xff);
  return encodeVarint(random.pick([0, 1, 127, 128, 300, 2 ** 31, random.int(2 ** 32)]));
}

/** Fields of random numbers and wire types, with lengths that may lie and strings that may be no UTF-8. */
function protobufLike(random: Random, depth = 0): Buffer {
  const parts: number[] = [];
  for (let i = random.int(6); i >= 0; i--) {
    const field = random.chance(0.8) ? 1 + random.int(8) : random.int(2 ** 29);
    const wire = random.chance(0.9) ? random.pick([0, 1, 2, 5]) : random.int(8);
    parts.push(...encodeVarint(field * 8 + wire));
    if (wire === 0) parts.push(...randomVarint(random));
    else if (wire === 1) parts.push(...random.bytes(8));
    else if (wire === 5) parts.push(...random.bytes(4));
    else if (wire === 2) {
      const content =
        depth < 2 && random.chance(0.3)
          ? protobufLike(random, depth + 1)
          : random.chance(0.3)
            ? Buffer.from([0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80]) // no UTF-8
            : random.bytes(random.int(40));
      const length = random.chance(0.15) ? content.length + 1 + random.int(1000) : content.length;
      parts.push(...encodeVarint(length), ...content);
    }
  }
  return Buffer.from(parts);
}

/** Protobuf bytes for `m`: random, mutated from a valid request, or shaped like fields. */
export function fuzzBinary(random: Random, m: FuzzMethod): Buffer {
  const roll = random.int(3);
  if (roll === 0) return random.bytes(random.int(128));
  if (roll === 1) return protobufLike(random);
  const bytes = Buffer.from(m.valid.binary);
  for (let i = 1 + random.int(3); i > 0 && bytes.length > 0; i--) {
    bytes[random.int(bytes.length)] = random.int(256);
  }
  const cut = random.chance(0.3) ? random.int(bytes.length + 1) : bytes.length;
  const tail = random.chance(0.3) ? random.bytes(random.int(16)) : Buffer.alloc(0);
  return Buffer.concat([bytes.subarray(0, cut), tail]);
}

/** A random JSON value; deep, odd numbers and odd strings included. */
function randomJson(random: Random, depth = 0): unknown {
  const roll = random.int(depth > 2 ? 5 : 7);
  if (roll === 0) return null;
  if (roll === 1) return random.chance(0.5);
  if (roll === 2) return random.pick([0, -1, 1.5, 2 ** 53, -(2 ** 63), 1e308, 4294967296]);
  if (roll === 3)
    return random.pick(["", " ", "fuzz", "\u0000", "\ud800", "é", "a".repeat(5000), "1"]);
  if (roll === 4) return random.pick(["NaN", "Infinity", "-1", "18446744073709551616", "0x10"]);
  if (roll === 5) return Array.from({ length: random.int(4) }, () => randomJson(random, depth + 1));
  const out: Record<string, unknown> = {};
  const keys = [
    "room",
    "sender",
    "text",
    "clientId",
    "client_id",
    "name",
    "last",
    "afterSeq",
    "limit",
    "typing",
    "message",
    "subscribe",
    "send",
    "__proto__",
    "x",
  ];
  for (let i = random.int(4); i > 0; i--) out[random.pick(keys)] = randomJson(random, depth + 1);
  return out;
}

/** JSON text for `m`: random, mutated from a valid request, or not JSON at all. */
export function fuzzJson(random: Random, m: FuzzMethod): Buffer {
  const roll = random.int(4);
  if (roll === 0) return Buffer.from(JSON.stringify(randomJson(random)) ?? "null");
  if (roll === 1) {
    const valid = JSON.parse(m.valid.json) as Record<string, unknown>;
    const keys = Object.keys(valid);
    const key = keys.length > 0 && random.chance(0.7) ? random.pick(keys) : "unknownField";
    valid[key] = randomJson(random, 1);
    return Buffer.from(JSON.stringify(valid));
  }
  if (roll === 2) {
    const text = m.valid.json;
    return Buffer.from(
      text.slice(0, random.int(text.length + 1)) + random.pick(["", "}", ",", '"', "\\u12"]),
    );
  }
  return Buffer.from(
    random.pick([
      "",
      "{",
      "[]",
      '"room"',
      "[".repeat(10_000),
      `{"room":${"9".repeat(400)}}`,
      random.bytes(32).toString("latin1"),
    ]),
    "latin1",
  );
}

/** Frames `data` as one envelope (1 flag byte, 4-byte length); the flag may be odd. */
export function fuzzEnvelope(random: Random, data: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(random.chance(0.9) ? 0 : random.pick([1, 2, 0x80, random.int(256)]), 0);
  head.writeUInt32BE(data.length, 1);
  const one = Buffer.concat([head, data]);
  // Now and then two messages where one is expected.
  return random.chance(0.1) ? Buffer.concat([one, one]) : one;
}
