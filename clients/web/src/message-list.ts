/**
 * The message log: held messages in seq order, inline notices (gaps, resets)
 * where they happened, and the sender's own pending messages below the log
 * until the server delivers them back. Follows the newest message while the
 * reader is at the bottom, and leaves the scroll alone when they scrolled up.
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Message } from "../../../src/gen/chat/v1/chat_pb.ts";
import { el } from "./dom.ts";

export interface MessageList {
  add(message: Message): void;
  notice(text: string, kind: "gap" | "reset"): void;
  clear(): void;
  addPending(clientId: string, text: string): void;
  failPending(clientId: string, reason: string): void;
  removePending(clientId: string): void;
}

export interface MessageListElements {
  scroller: HTMLElement;
  log: HTMLOListElement;
  pending: HTMLOListElement;
}

/** Oldest entries are dropped beyond this many, so a tab open for days stays light. */
const maxEntries = 2000;

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

export function createMessageList(elements: MessageListElements, me: string): MessageList {
  const { scroller, log, pending } = elements;

  function atBottom(): boolean {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 48;
  }

  /** Runs a DOM change, then keeps following the newest entry if the reader was. */
  function follow(change: () => void): void {
    const stick = atBottom();
    change();
    while (log.childElementCount > maxEntries) log.firstElementChild?.remove();
    if (stick) scroller.scrollTop = scroller.scrollHeight;
  }

  function render(sender: string, text: string, sentAt: Date | undefined): HTMLLIElement {
    const item = el("li", sender === me ? "msg own" : "msg");
    const meta = el("p", "meta");
    meta.append(el("span", "sender", sender));
    if (sender === me) meta.append(el("span", "you", " (you)"));
    if (sentAt) {
      const time = el("time", "time", timeFormat.format(sentAt));
      time.dateTime = sentAt.toISOString();
      meta.append(" ", time);
    }
    item.append(meta, el("p", "text", text));
    return item;
  }

  function pendingItem(clientId: string): Element | null {
    return pending.querySelector(`[data-client-id="${CSS.escape(clientId)}"]`);
  }

  return {
    add(message) {
      follow(() => {
        const item = render(
          message.sender,
          message.text,
          message.sentAt ? timestampDate(message.sentAt) : undefined,
        );
        item.dataset.seq = String(message.seq);
        log.append(item);
        if (message.clientId) pendingItem(message.clientId)?.remove();
      });
    },
    notice(text, kind) {
      follow(() => log.append(el("li", `notice ${kind}`, text)));
    },
    clear() {
      log.replaceChildren();
    },
    addPending(clientId, text) {
      follow(() => {
        const item = render(me, text, undefined);
        item.classList.add("pending");
        item.dataset.clientId = clientId;
        item.querySelector(".meta")?.append(el("span", "status", " sending…"));
        pending.append(item);
      });
    },
    failPending(clientId, reason) {
      const item = pendingItem(clientId);
      if (!item) return;
      item.classList.replace("pending", "failed");
      const status = item.querySelector(".status");
      if (status) status.textContent = ` not sent: ${reason}`;
    },
    removePending(clientId) {
      pendingItem(clientId)?.remove();
    },
  };
}
