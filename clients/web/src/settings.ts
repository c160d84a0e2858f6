/**
 * Name, room and protocol: remembered in localStorage so a returning user
 * finds them filled in; URL parameters (`?name=&room=&protocol=`) win, so a
 * link can open a given room (and a test can pick gRPC-Web).
 */
export type Protocol = "connect" | "grpc-web";

export interface Settings {
  name: string;
  room: string;
  protocol: Protocol;
}

const storageKey = "connect-chat.settings";

function parseProtocol(value: string | null | undefined): Protocol | undefined {
  return value === "connect" || value === "grpc-web" ? value : undefined;
}

/** Reads storage (if allowed: private modes may throw), then the URL over it. */
export function loadSettings(search: string): Settings & { fromUrl: boolean } {
  let stored: Partial<Settings> = {};
  try {
    stored = JSON.parse(localStorage.getItem(storageKey) ?? "{}") as Partial<Settings>;
  } catch {
    // No storage: start blank.
  }
  const params = new URLSearchParams(search);
  const name = params.get("name") ?? (typeof stored.name === "string" ? stored.name : "");
  const room = params.get("room") ?? (typeof stored.room === "string" ? stored.room : "lobby");
  const protocol =
    parseProtocol(params.get("protocol")) ?? parseProtocol(stored.protocol) ?? "connect";
  return { name, room, protocol, fromUrl: params.has("name") && params.has("room") };
}

export function saveSettings(settings: Settings): void {
  try {
    localStorage.setItem(storageKey, JSON.stringify(settings));
  } catch {
    // Best effort.
  }
}

/** The server's room rule (proto: chat.v1.SendRequest.room), checked before joining. */
export const roomPattern = /^[a-z0-9][a-z0-9._-]{0,63}$/;
