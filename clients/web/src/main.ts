/**
 * The browser chat client: a join form, then one room session rendered into
 * the page. All connection logic (reconnect, resume, dedupe, retries) lives
 * in the shared room session; this file only wires it to the DOM.
 */
import { ConnectError } from "@connectrpc/connect";
import { randomId } from "../../shared/retry.ts";
import { createRoomSession, type RoomSession } from "../../shared/room-session.ts";
import { tokenName } from "../../shared/token.ts";
import { attachComposer } from "./composer.ts";
import { byId } from "./dom.ts";
import { createMessageList } from "./message-list.ts";
import {
  loadSettings,
  type Protocol,
  roomPattern,
  type Settings,
  saveSettings,
} from "./settings.ts";
import { createBanner, renderMembers, typingText } from "./status-view.ts";
import { createChatClient } from "./transport.ts";
import "./styles.css";

const joinView = byId("join-view");
const chatView = byId("chat-view");
const joinForm = byId<HTMLFormElement>("join");
const nameInput = byId<HTMLInputElement>("name");
const roomInput = byId<HTMLInputElement>("room");
const protocolSelect = byId<HTMLSelectElement>("protocol");
const tokenInput = byId<HTMLInputElement>("token");
const joinError = byId("join-error");
const where = byId("where");
const leaveButton = byId<HTMLButtonElement>("leave");
const retryButton = byId<HTMLButtonElement>("retry");
const text = byId<HTMLTextAreaElement>("text");
const typingLine = byId("typing");
const membersList = byId<HTMLUListElement>("members");
const memberCount = byId("member-count");

const banner = createBanner({
  banner: byId("banner"),
  text: byId("banner-text"),
  retry: retryButton,
});

let current: { settings: Settings; session: RoomSession; detach: () => void } | undefined;

function join(settings: Settings): void {
  leave();
  saveSettings(settings);
  const { name, room, protocol } = settings;
  let asked = 0;
  const session = createRoomSession({
    client: createChatClient(protocol, window.location.origin),
    room,
    name,
    // The token given, then, once it has expired, a fresh one from the user.
    getToken: () =>
      asked++ === 0
        ? settings.token || undefined
        : (window.prompt("Your token has expired. Paste a fresh one to go on:")?.trim() ??
            undefined) ||
          undefined,
  });
  const list = createMessageList(
    {
      scroller: byId("scroller"),
      log: byId<HTMLOListElement>("messages"),
      pending: byId<HTMLOListElement>("pending"),
    },
    name,
  );
  list.clear();
  byId("pending").replaceChildren();
  typingLine.textContent = "";
  renderMembers(membersList, memberCount, new Map(), name);

  const offs = [
    session.on("message", (m) => list.add(m)),
    session.on("state", () => banner.show(session)),
    session.on("members", (members) => renderMembers(membersList, memberCount, members, name)),
    session.on("typing", (names) => {
      typingLine.textContent = typingText(names);
    }),
    session.on("gap", (gap) =>
      list.notice(
        `Messages ${gap.afterSeq + 1n} to ${gap.nextSeq - 1n} are no longer kept by the server.`,
        "gap",
      ),
    ),
    session.on("reset", () => {
      list.clear();
      list.notice(
        "The server's history of this room started over; showing it from the beginning.",
        "reset",
      );
    }),
    attachComposer(
      { form: byId<HTMLFormElement>("composer"), text },
      {
        send(value) {
          const clientId = randomId();
          list.addPending(clientId, value);
          session.send(value, clientId).then(
            (ack) => {
              // Normally the message comes back on the stream and replaces
              // the pending entry; if it is already behind us, drop it here.
              if (session.lastSeq >= ack.seq) list.removePending(clientId);
            },
            (e: unknown) => list.failPending(clientId, ConnectError.from(e).rawMessage),
          );
        },
        typing: (typing) => session.setTyping(typing),
      },
    ),
  ];
  const onOnline = () => session.retryNow();
  window.addEventListener("online", onOnline);
  current = {
    settings,
    session,
    detach() {
      for (const off of offs) off();
      window.removeEventListener("online", onOnline);
      session.close();
    },
  };

  where.textContent = `#${room} as ${name}`;
  where.hidden = false;
  leaveButton.hidden = false;
  joinView.hidden = true;
  chatView.hidden = false;
  banner.show(session);
  text.focus();
}

function leave(): void {
  if (!current) return;
  current.detach();
  current = undefined;
  banner.hide();
  where.hidden = true;
  leaveButton.hidden = true;
  chatView.hidden = true;
  joinView.hidden = false;
}

const initial = loadSettings(window.location.search);
nameInput.value = initial.name;
roomInput.value = initial.room;
protocolSelect.value = initial.protocol;
tokenInput.value = initial.token;
if (initial.token) {
  // A credential does not belong in the address bar, history or a screenshot.
  const url = new URL(window.location.href);
  url.searchParams.delete("token");
  window.history.replaceState(null, "", url);
}

/** The name a token speaks as, unless the user typed one. */
function nameFor(token: string): string {
  return nameInput.value.trim() || (token ? (tokenName(token) ?? "") : "");
}
tokenInput.addEventListener("change", () => {
  nameInput.value = nameFor(tokenInput.value.trim());
});

joinForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const token = tokenInput.value.trim();
  const name = nameFor(token);
  const room = roomInput.value.trim();
  if (name === "") {
    joinError.textContent = "Please enter a name.";
    nameInput.focus();
    return;
  }
  if (!roomPattern.test(room)) {
    joinError.textContent = "Room: 1 to 64 of a-z 0-9 . _ -, starting with a letter or digit.";
    roomInput.focus();
    return;
  }
  joinError.textContent = "";
  join({ name, room, protocol: protocolSelect.value as Protocol, token });
});

leaveButton.addEventListener("click", () => {
  leave();
  nameInput.focus();
});
retryButton.addEventListener("click", () => current?.session.retryNow());
// Closing the stream promptly lets the others see us leave; a page restored
// from the back-forward cache joins again (and resumes nothing: it is new).
window.addEventListener("pagehide", () => current?.session.close());
window.addEventListener("pageshow", (event) => {
  if (event.persisted && current?.session.state === "closed") join(current.settings);
});

const initialName = initial.name.trim() || (initial.token ? (tokenName(initial.token) ?? "") : "");
if (initial.fromUrl && initialName !== "" && roomPattern.test(initial.room)) {
  join({ name: initialName, room: initial.room, protocol: initial.protocol, token: initial.token });
} else {
  (initial.name === "" ? nameInput : joinForm.querySelector("button"))?.focus();
}
