import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { type Event, EventSchema, type Message } from "../gen/chat/v1/chat_pb.ts";
import { FellBehindError, SeqAheadError, SubscriberOverflowError } from "./errors.ts";
import type { EventBus } from "./event-bus.ts";
import type { EventSink } from "./event-sink.ts";
import type { MessageStore } from "./message-store.ts";
import type { Presence } from "./presence.ts";

/** Where a subscription's replay starts. */
export type ReplayFrom =
  | { case: "afterSeq"; value: bigint }
  | { case: "last"; value: number }
  | { case: undefined; value?: undefined };

export interface SubscribeParams {
  room: string;
  from: ReplayFrom;
  /** The history epoch `from.afterSeq` belongs to, when the client knows it. */
  epoch?: string;
  /** Presence name; empty or absent: not listed. */
  name?: string;
  /** Ends the subscription: client gone, deadline or shutdown. */
  signal: AbortSignal;
}

export interface FeedContext {
  store: MessageStore;
  bus: EventBus<Event>;
  presence: Presence;
  /** Live events held while the feed catches up from the store (replay, a hole). */
  maxQueue: number;
  replayPageSize: number;
  /** Heartbeat on a live feed that wrote nothing for this long; 0 disables. */
  heartbeatMs: number;
}

export function event(kind: MessageInitShape<typeof EventSchema>["kind"]): Event {
  return create(EventSchema, { kind });
}

/**
 * Feeds one subscriber: history from the requested position, an
 * `Event.ready`, then live events, with no gap and no duplicate between
 * replay and live. History that retention removed is announced with
 * `Event.gap`, a history that is not the one the client resumes from with
 * `Event.reset`: never a silently partial replay.
 *
 * Live events go from the bus listener straight into the sink, in the
 * publisher's turn: nothing per delivery but a seq comparison and the
 * sink's write. Only while the feed reads from the store (the replay, or a
 * hole in the live sequence) are live events held, at most `maxQueue` of
 * them.
 *
 * Never resolves. Rejects with `signal.reason` when the signal aborts, with
 * `FellBehindError` when the consumer cannot keep up (the queue overflowed
 * or the sink refused an event), with `SeqAheadError` for a position the
 * room has not reached, or with a store error. The subscription, its
 * presence and its timer are released before it settles.
 */
export function runFeed(
  ctx: FeedContext,
  params: SubscribeParams,
  sink: EventSink,
): Promise<never> {
  const { store, bus, presence, maxQueue } = ctx;
  const { room, name, signal } = params;
  let fail!: (reason: unknown) => void;
  const settled = new Promise<never>((_, reject) => {
    fail = reject;
  });
  if (signal.aborted) {
    fail(signal.reason);
    return settled;
  }

  /** Seq of the last message handed to the sink (or announced missing by a gap). */
  let lastSeq = 0n;
  /** Live events held while catching up from the store; undefined when live. */
  let held: Event[] | undefined = [];
  let done = false;
  let lastWrite = Date.now();
  let timer: ReturnType<typeof setTimeout> | undefined;

  // Listen before reading anything: whatever happens from here on is either
  // in the replay or in the held events (or both: dropped by seq). The
  // member list is read in the same turn, so the joins and leaves held are
  // exactly those that follow it.
  const unlisten = bus.listen(room, onLive);
  const members = presence.members(room);
  const joined = name ? presence.join(room, name) : undefined;
  if (joined) bus.publish(room, event({ case: "memberJoined", value: { member: joined } }));
  signal.addEventListener("abort", onAbort, { once: true });
  armHeartbeat(ctx.heartbeatMs);

  function onAbort(): void {
    end(signal.reason);
  }

  /** Releases everything at once: a consumer stuck on a dead connection must not keep the client listed (issue 13). */
  function end(reason: unknown): void {
    if (done) return;
    done = true;
    held = undefined;
    clearTimeout(timer);
    unlisten();
    signal.removeEventListener("abort", onAbort);
    if (name && presence.leave(room, name)) {
      bus.publish(room, event({ case: "memberLeft", value: { name } }));
    }
    fail(reason);
  }

  function fellBehind(): void {
    end(new FellBehindError(lastSeq, new SubscriberOverflowError("subscriber fell behind")));
  }

  /** Hands one event to the sink; false (and the feed ended) when refused. */
  function write(e: Event): boolean {
    if (!sink.write(e)) {
      fellBehind();
      return false;
    }
    lastWrite = Date.now();
    return true;
  }

  /** A stored message: the gap before it, if any, then itself. */
  function writeStored(message: Message, e?: Event): boolean {
    if (message.seq <= lastSeq) return true;
    if (message.seq > lastSeq + 1n) {
      const gap = event({ case: "gap", value: { afterSeq: lastSeq, nextSeq: message.seq } });
      if (!write(gap)) return false;
    }
    // The published event itself where there is one: shared by every
    // subscriber (and its encodings with it), not rebuilt per subscriber.
    if (!write(e ?? event({ case: "message", value: message }))) return false;
    lastSeq = message.seq;
    return true;
  }

  function onLive(e: Event): void {
    if (held !== undefined) {
      if (held.length >= maxQueue) fellBehind();
      else held.push(e);
      return;
    }
    deliverLive(e);
  }

  function deliverLive(e: Event): void {
    if (e.kind.case !== "message") {
      write(e);
      return;
    }
    const message = e.kind.value;
    if (message.seq <= lastSeq) return;
    if (message.seq > lastSeq + 1n) {
      // A hole in the live sequence (events reordered on their way here):
      // filled from the store before going on, live events held meanwhile.
      held = [e];
      void catchUp(readFrom(lastSeq, message.seq - 1n)).catch(end);
      return;
    }
    writeStored(message, e);
  }

  /**
   * Messages of the room after `afterSeq`, page by page, up to `untilSeq`
   * (inclusive; undefined: until a short page).
   */
  async function* readFrom(afterSeq: bigint, untilSeq?: bigint): AsyncGenerator<Message> {
    const pageSize = ctx.replayPageSize;
    for (let last = afterSeq; untilSeq === undefined || last < untilSeq; ) {
      const limit =
        untilSeq === undefined || untilSeq - last > BigInt(pageSize)
          ? pageSize
          : Number(untilSeq - last);
      const page = await store.readAfter(room, last, limit);
      for (const message of page) {
        if (untilSeq !== undefined && message.seq > untilSeq) return;
        yield message;
        last = message.seq;
      }
      if (page.length < limit) return;
    }
  }

  /** Writes stored messages at the consumer's pace; false when the feed ended meanwhile. */
  async function writeAll(messages: AsyncIterable<Message> | Message[]): Promise<boolean> {
    for await (const message of messages) {
      if (done || !writeStored(message)) return false;
      const ready = sink.ready();
      if (ready) await ready;
    }
    return !done;
  }

  /** Fills a hole in the live sequence, then goes on with what was held meanwhile. */
  async function catchUp(messages: AsyncIterable<Message>): Promise<void> {
    if (await writeAll(messages)) goLive();
  }

  function goLive(): void {
    const queue = held ?? [];
    held = undefined;
    for (let i = 0; i < queue.length && !done; i++) {
      // deliverLive may have started a new catch-up (TypeScript cannot see it).
      const current = held as Event[] | undefined;
      if (current !== undefined) {
        // A hole started another catch-up: it goes on with the rest.
        current.push(...queue.slice(i));
        return;
      }
      deliverLive(queue[i] as Event);
    }
  }

  // Re-armed for exactly the time left until the feed has been quiet for a
  // whole interval, so a heartbeat follows the last event by `intervalMs`,
  // not by up to twice that. One timer per feed, firing at most once per
  // interval; busy feeds never see a heartbeat.
  function armHeartbeat(delay: number): void {
    const intervalMs = ctx.heartbeatMs;
    if (intervalMs <= 0 || done) return;
    timer = setTimeout(() => {
      const quiet = Date.now() - lastWrite;
      if (quiet < intervalMs) {
        armHeartbeat(intervalMs - quiet);
        return;
      }
      if (held === undefined) {
        write(event({ case: "heartbeat", value: { serverTime: timestampNow() } }));
      }
      armHeartbeat(intervalMs);
    }, delay);
  }

  async function replay(): Promise<void> {
    const { from, epoch } = params;
    const bounds = await store.bounds(room);
    let messages: AsyncIterable<Message> | Message[] = [];
    if (from.case === "afterSeq") {
      if (epoch && epoch !== store.epoch) {
        if (!write(event({ case: "reset", value: { epoch: store.epoch } }))) return;
        lastSeq = bounds.firstSeq - 1n;
      } else if (from.value > bounds.headSeq) {
        throw new SeqAheadError(from.value, bounds.headSeq);
      } else {
        lastSeq = from.value;
      }
      messages = readFrom(lastSeq);
    } else if (from.case === "last") {
      // One page read backwards, complete up to the head at that moment;
      // anything newer is already held.
      messages = await store.readBefore(room, 0n, from.value);
      lastSeq = (messages[0]?.seq ?? bounds.headSeq + 1n) - 1n;
    } else {
      lastSeq = bounds.headSeq;
    }
    if (!(await writeAll(messages))) return;
    // Everything up to the head read above was committed, so what the
    // replay did not find there was removed by retention.
    if (lastSeq < bounds.headSeq) {
      const gap = event({
        case: "gap",
        value: { afterSeq: lastSeq, nextSeq: bounds.headSeq + 1n },
      });
      if (!write(gap)) return;
      lastSeq = bounds.headSeq;
    }
    if (
      !write(event({ case: "ready", value: { headSeq: lastSeq, epoch: store.epoch, members } }))
    ) {
      return;
    }
    goLive();
  }

  replay().catch(end);
  return settled;
}
