/**
 * What surrounds the log: the connection banner (with a countdown while
 * waiting to reconnect), the member list and the "is typing" line.
 */
import type { Member } from "../../../src/gen/chat/v1/chat_pb.ts";
import type { RoomSession } from "../../shared/room-session.ts";
import { el } from "./dom.ts";

export interface BannerElements {
  banner: HTMLElement;
  text: HTMLElement;
  retry: HTMLButtonElement;
}

export interface Banner {
  show(session: RoomSession): void;
  hide(): void;
}

/**
 * The countdown sits in an aria-hidden span: the status region announces
 * "Reconnecting" once, not every second.
 */
export function createBanner(elements: BannerElements): Banner {
  const { banner, text, retry } = elements;
  let ticker: ReturnType<typeof setInterval> | undefined;

  function render(session: RoomSession): void {
    const { state, nextRetryAt, lastError } = session;
    banner.dataset.state = state;
    retry.hidden = state !== "reconnecting" && state !== "failed";
    const reason = lastError ? ` (${lastError.rawMessage})` : "";
    if (state === "connecting") text.textContent = "Connecting…";
    else if (state === "live") text.textContent = "Live";
    else if (state === "failed") text.textContent = `Cannot follow this room${reason}.`;
    else if (state === "closed") text.textContent = "Left the room.";
    else if (nextRetryAt === undefined) text.textContent = "Connection lost. Reconnecting now…";
    else {
      const seconds = Math.max(1, Math.ceil((nextRetryAt - Date.now()) / 1000));
      const countdown = el("span", "countdown", ` in ${seconds} s`);
      countdown.setAttribute("aria-hidden", "true");
      text.replaceChildren(`Connection lost${reason}. Reconnecting`, countdown, "…");
    }
  }

  return {
    show(session) {
      render(session);
      clearInterval(ticker);
      ticker =
        session.nextRetryAt === undefined ? undefined : setInterval(() => render(session), 250);
    },
    hide() {
      clearInterval(ticker);
      banner.dataset.state = "idle";
      text.textContent = "";
      retry.hidden = true;
    },
  };
}

export function renderMembers(
  list: HTMLUListElement,
  count: HTMLElement,
  members: ReadonlyMap<string, Member>,
  me: string,
): void {
  const names = [...members.keys()].sort((a, b) => a.localeCompare(b));
  list.replaceChildren(
    ...names.map((name) => {
      const item = el("li", name === me ? "member own" : "member", name);
      if (name === me) item.append(el("span", "you", " (you)"));
      return item;
    }),
  );
  count.textContent = `(${names.length})`;
}

/** "ann is typing…", "ann and bob are typing…", "ann, bob and 2 others are typing…". */
export function typingText(names: ReadonlySet<string>): string {
  const sorted = [...names].sort((a, b) => a.localeCompare(b));
  const [first, second] = sorted;
  if (first === undefined) return "";
  if (second === undefined) return `${first} is typing…`;
  if (sorted.length === 2) return `${first} and ${second} are typing…`;
  return `${first}, ${second} and ${sorted.length - 2} others are typing…`;
}
