import type { Message } from "../../src/gen/chat/v1/chat_pb.ts";
import type { RoomSession, SessionState } from "../shared/room-session.ts";
import type { CommonOptions } from "./args.ts";
import { formatTime } from "./format.ts";
import type { Palette } from "./palette.ts";
import { createPresenceTracker } from "./presence.ts";
import { neutralise } from "./sanitize.ts";
import type { Screen } from "./screen.ts";
import { formatStatus } from "./status.ts";

/** What the input side asks of the view. */
export interface View {
  notice(text: string): void;
  /** Lists the room's members. */
  who(): void;
  /** Sends `text`; it is shown when it comes back from the server, in seq order. */
  send(text: string): void;
  /** Stops the view's timer; says so if messages are still unsent. */
  close(): void;
}

/**
 * Renders a room session on the screen: messages, presence changes,
 * connection changes as notices, and the status line. The only part of the
 * client that knows how things look; every untrusted string goes through
 * `neutralise` here.
 */
export function createView(
  session: RoomSession,
  screen: Screen,
  palette: Palette,
  options: CommonOptions,
): View {
  const presence = createPresenceTracker(options.name);
  let previous: SessionState = session.state;
  let joined = false;
  /** Messages replayed since the connection was lost: reported as "N missed". */
  let missed = 0;
  let unsent = 0;
  let ticker: ReturnType<typeof setInterval> | undefined;

  const notice = (text: string) => screen.print(palette.dim(`-- ${text}`));
  const alert = (text: string) => screen.print(palette.error(`-- ${text}`));
  const names = (list: Iterable<string>) => [...list].map(neutralise).join(", ");

  function refreshStatus(): void {
    const status = formatStatus({
      state: session.state,
      nextRetryAt: session.nextRetryAt,
      typing: session.typing,
      unsent,
      url: options.url,
      now: Date.now(),
    });
    screen.setStatus(status === "" ? "" : palette.dim(status));
  }

  function showMessage(message: Message): void {
    if (session.state !== "live") missed++;
    const sender = neutralise(message.sender);
    const who = message.sender === options.name ? palette.bold(sender) : palette.name(sender);
    screen.print(`${palette.dim(formatTime(message))} ${who}: ${neutralise(message.text)}`);
  }

  function showPresence(): void {
    const { joined: came, left } = presence.update(session.members.keys());
    for (const name of came) notice(`${neutralise(name)} joined`);
    for (const name of left) notice(`${neutralise(name)} left`);
  }

  function showJoined(): void {
    joined = true;
    presence.update(session.members.keys());
    // Ready lists who was there before us; we are there too.
    const here = [...new Set([...session.members.keys(), options.name])].sort();
    notice(
      `joined ${neutralise(options.room)} as ${neutralise(options.name)} · here: ${names(here)} · /help for commands`,
    );
  }

  function onState(state: SessionState): void {
    if (state !== previous) {
      if (state === "live" && !joined) showJoined();
      else if (state === "live") {
        notice(`reconnected; resumed with ${missed} missed message${missed === 1 ? "" : "s"}`);
        showPresence();
      } else if (state === "reconnecting" && previous !== "reconnecting") {
        const reason = session.lastError?.message ?? "unknown";
        notice(
          joined
            ? `connection lost (${reason}); reconnecting…`
            : `cannot connect (${reason}); retrying…`,
        );
        missed = 0;
      } else if (state === "failed") {
        alert(session.lastError?.message ?? "the server refused the subscription");
      }
      previous = state;
    }
    // Counts the reconnect wait down in the status line.
    clearInterval(ticker);
    ticker = state === "reconnecting" ? setInterval(refreshStatus, 1000) : undefined;
    refreshStatus();
  }

  session.on("message", showMessage);
  session.on("state", onState);
  session.on("members", () => {
    if (session.state === "live") showPresence();
  });
  session.on("typing", refreshStatus);
  session.on("gap", (gap) =>
    notice(`messages ${gap.afterSeq + 1n} to ${gap.nextSeq - 1n} are no longer kept by the server`),
  );
  session.on("reset", () =>
    notice("the server's history of this room was reset; showing it from the start"),
  );
  refreshStatus();

  return {
    notice,
    who() {
      const members = [...session.members.keys()].sort();
      notice(`${members.length} here: ${names(members)}`);
    },
    send(text) {
      unsent++;
      refreshStatus();
      const settled = () => {
        unsent--;
        refreshStatus();
      };
      session.send(text).then(settled, (e: unknown) => {
        settled();
        alert(`not sent (${e instanceof Error ? e.message : String(e)}): ${neutralise(text)}`);
      });
    },
    close() {
      clearInterval(ticker);
      if (unsent > 0) alert(`${unsent} message${unsent === 1 ? " was" : "s were"} not sent`);
    },
  };
}
