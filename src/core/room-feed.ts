import { timestampNow } from "@bufbuild/protobuf/wkt";
import type { Event, Member, Message } from "../gen/chat/v1/chat_pb.ts";
import { FellBehindError, HistoryLostError, SubscriberOverflowError } from "./errors.ts";
import { event } from "./event.ts";
import type { BusListener, EventBus } from "./event-bus.ts";
import type { EventSink } from "./event-sink.ts";
import type { MessageStore } from "./message-store.ts";
import type { Presence } from "./presence.ts";
import { planReplay } from "./replay-plan.ts";
import { SeqCursor } from "./seq-cursor.ts";

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
  /**
   * False for a consumer that drops heartbeats (the seed's ChatStream has
   * none): it gets no heartbeat timer, which an idle stream would otherwise
   * keep and wake for nothing. Default true.
   */
  heartbeats?: boolean;
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
  let fail!: (reason: unknown) => void;
  const settled = new Promise<never>((_, reject) => {
    fail = reject;
  });
  if (params.signal.aborted) fail(params.signal.reason);
  else new RoomFeed(ctx, params, sink, fail).start();
  return settled;
}

/**
 * One feed's state and steps. A class, not a closure per step: a server
 * holds one per open stream (tens of thousands of idle ones), and its
 * methods are shared by all of them (issue 9, idle memory).
 */
class RoomFeed implements BusListener<Event> {
  /** Where this subscriber is in the room's sequence. */
  private readonly cursor = new SeqCursor();
  /** Live events held while catching up from the store; undefined when live. */
  private held: Event[] | undefined = [];
  private done = false;
  /** Whether this feed counted as a presence join (left again when it ends). */
  private joined = false;
  /** A resync arrived while catching up: catch up once more when done. */
  private resyncPending = false;
  /** The store's epoch the feed went live in. */
  private epoch = "";
  private lastWrite = Date.now();
  private timer: ReturnType<typeof setTimeout> | undefined;

  private readonly ctx: FeedContext;
  private readonly params: SubscribeParams;
  private readonly sink: EventSink;
  private readonly fail: (reason: unknown) => void;

  constructor(
    ctx: FeedContext,
    params: SubscribeParams,
    sink: EventSink,
    fail: (reason: unknown) => void,
  ) {
    this.ctx = ctx;
    this.params = params;
    this.sink = sink;
    this.fail = fail;
  }

  start(): void {
    const { room, signal } = this.params;
    // Listen before reading anything: whatever happens from here on is
    // either in the replay or in the held events (or both: dropped by seq).
    const listening = this.ctx.bus.listen(room, this);
    signal.addEventListener("abort", this, { once: true });
    this.armHeartbeat(this.ctx.heartbeatMs);
    this.run(listening).catch((e: unknown) => this.end(e));
  }

  private async run(listening: Promise<void> | undefined): Promise<void> {
    // A shared bus hears other instances only once its join resolved.
    if (listening !== undefined) await listening;
    if (this.done) return;
    const { presence } = this.ctx;
    const { room, name } = this.params;
    // The member list is read before this feed's own join and with the
    // listener in place, so the joins and leaves held are those after it
    // (the in-process presence answers in this very turn).
    const members = presence.members(room);
    if (name) {
      presence.join(room, name);
      this.joined = true;
    }
    await this.replay(await members);
  }

  /** The signal aborted (an EventTarget listener object: no closure per feed). */
  handleEvent(): void {
    this.end(this.params.signal.reason);
  }

  /** Releases everything at once: a consumer stuck on a dead connection must not keep the client listed (issue 13). */
  private end(reason: unknown): void {
    if (this.done) return;
    this.done = true;
    this.held = undefined;
    clearTimeout(this.timer);
    const { bus, presence } = this.ctx;
    const { room, name, signal } = this.params;
    bus.unlisten(room, this);
    signal.removeEventListener("abort", this);
    if (name && this.joined) presence.leave(room, name);
    this.fail(reason);
  }

  private fellBehind(): void {
    this.end(
      new FellBehindError(
        this.cursor.lastSeq,
        new SubscriberOverflowError("subscriber fell behind"),
      ),
    );
  }

  /** Hands one event to the sink; false (and the feed ended) when refused. */
  private write(e: Event): boolean {
    if (!this.sink.write(e)) {
      this.fellBehind();
      return false;
    }
    this.lastWrite = Date.now();
    return true;
  }

  /** A stored message: the gap before it, if any, then itself. */
  private writeStored(message: Message, e?: Event): boolean {
    const { cursor } = this;
    if (!cursor.isNew(message.seq)) return true;
    const gap = cursor.gapBefore(message.seq);
    if (gap !== undefined && !this.write(gap)) return false;
    // The published event itself where there is one: shared by every
    // subscriber (and its encodings with it), not rebuilt per subscriber.
    if (!this.write(e ?? event({ case: "message", value: message }))) return false;
    cursor.moveTo(message.seq);
    return true;
  }

  /** A live event from the bus, in the publisher's turn. */
  onEvent(e: Event): void {
    if (this.held !== undefined) {
      if (this.held.length >= this.ctx.maxQueue) this.fellBehind();
      else this.held.push(e);
      return;
    }
    this.deliverLive(e);
  }

  /**
   * The bus may have lost events (its broker connection came back): re-read
   * from the store what came after the last message written, as for a hole.
   * A store that came back with another history ends the feed; the client
   * resumes with its epoch and gets `Event.reset`.
   */
  onResync(): void {
    if (this.done) return;
    if (this.held !== undefined) {
      this.resyncPending = true;
      return;
    }
    if (this.ctx.store.epoch !== this.epoch) {
      this.end(new HistoryLostError(`the history of room ${this.params.room} was replaced`));
      return;
    }
    this.held = [];
    this.catchUp(this.readFrom(this.cursor.lastSeq)).catch((err: unknown) => this.end(err));
  }

  private deliverLive(e: Event): void {
    if (e.kind.case !== "message") {
      this.write(e);
      return;
    }
    const message = e.kind.value;
    const { cursor } = this;
    if (!cursor.isNew(message.seq)) return;
    if (cursor.isAfterHole(message.seq)) {
      // A hole in the live sequence (events reordered on their way here):
      // filled from the store before going on, live events held meanwhile.
      this.held = [e];
      this.catchUp(this.readFrom(cursor.lastSeq, message.seq - 1n)).catch((err: unknown) =>
        this.end(err),
      );
      return;
    }
    this.writeStored(message, e);
  }

  /**
   * Messages of the room after `afterSeq`, page by page, up to `untilSeq`
   * (inclusive; undefined: until a short page).
   */
  private async *readFrom(afterSeq: bigint, untilSeq?: bigint): AsyncGenerator<Message> {
    const { store, replayPageSize: pageSize } = this.ctx;
    for (let last = afterSeq; untilSeq === undefined || last < untilSeq; ) {
      const limit =
        untilSeq === undefined || untilSeq - last > BigInt(pageSize)
          ? pageSize
          : Number(untilSeq - last);
      const page = await store.readAfter(this.params.room, last, limit);
      for (const message of page) {
        if (untilSeq !== undefined && message.seq > untilSeq) return;
        yield message;
        last = message.seq;
      }
      if (page.length < limit) return;
    }
  }

  /** Writes stored messages at the consumer's pace; false when the feed ended meanwhile. */
  private async writeAll(messages: AsyncIterable<Message> | Message[]): Promise<boolean> {
    for await (const message of messages) {
      if (this.done || !this.writeStored(message)) return false;
      const ready = this.sink.ready();
      if (ready) await ready;
    }
    return !this.done;
  }

  /** Fills a hole in the live sequence, then goes on with what was held meanwhile. */
  private async catchUp(messages: AsyncIterable<Message>): Promise<void> {
    if (await this.writeAll(messages)) this.goLive();
  }

  private goLive(): void {
    const queue = this.held ?? [];
    this.held = undefined;
    for (let i = 0; i < queue.length && !this.done; i++) {
      const current = this.held as Event[] | undefined;
      if (current !== undefined) {
        // A hole started another catch-up: it goes on with the rest.
        current.push(...queue.slice(i));
        return;
      }
      this.deliverLive(queue[i] as Event);
    }
    if (this.resyncPending && this.held === undefined) {
      this.resyncPending = false;
      this.onResync();
    }
  }

  // Re-armed for exactly the time left until the feed has been quiet for a
  // whole interval, so a heartbeat follows the last event by `intervalMs`,
  // not by up to twice that. One timer per feed, firing at most once per
  // interval; busy feeds never see a heartbeat.
  private armHeartbeat(delay: number): void {
    if (this.ctx.heartbeatMs <= 0 || this.params.heartbeats === false || this.done) return;
    this.timer = setTimeout(heartbeat, delay, this);
  }

  /** The heartbeat timer fired. */
  beat(): void {
    const intervalMs = this.ctx.heartbeatMs;
    const quiet = Date.now() - this.lastWrite;
    if (quiet < intervalMs) {
      this.armHeartbeat(intervalMs - quiet);
      return;
    }
    if (this.held === undefined) {
      this.write(event({ case: "heartbeat", value: { serverTime: timestampNow() } }));
    }
    this.armHeartbeat(intervalMs);
  }

  private async replay(members: Member[]): Promise<void> {
    const { store } = this.ctx;
    const { from, epoch, room } = this.params;
    const { cursor } = this;
    // The history this feed reads; a resync that finds another ends the feed.
    this.epoch = store.epoch;
    const bounds = await store.bounds(room);
    const plan = planReplay(from, epoch, this.epoch, bounds);
    let messages: AsyncIterable<Message> | Message[] = [];
    if (plan.kind === "after") {
      if (plan.reset !== undefined) {
        if (!this.write(event({ case: "reset", value: { epoch: plan.reset } }))) return;
      }
      cursor.moveTo(plan.afterSeq);
      messages = this.readFrom(cursor.lastSeq);
    } else if (plan.kind === "last") {
      // One page read backwards, complete up to the head at that moment;
      // anything newer is already held.
      messages = await store.readBefore(room, 0n, plan.count);
      cursor.moveTo((messages[0]?.seq ?? bounds.headSeq + 1n) - 1n);
    } else {
      cursor.moveTo(plan.afterSeq);
    }
    if (!(await this.writeAll(messages))) return;
    // Everything up to the head read above was committed, so what the
    // replay did not find there was removed by retention.
    const gap = cursor.gapBefore(bounds.headSeq + 1n);
    if (gap !== undefined) {
      if (!this.write(gap)) return;
      cursor.moveTo(bounds.headSeq);
    }
    const ready = event({
      case: "ready",
      value: { headSeq: cursor.lastSeq, epoch: this.epoch, members },
    });
    if (this.write(ready)) this.goLive();
  }
}

function heartbeat(feed: RoomFeed): void {
  feed.beat();
}
