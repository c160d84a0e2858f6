/**
 * Name, room and protocol: remembered in localStorage so a returning user
 * finds them filled in; URL parameters (`?name=&room=&protocol=`) win, so a
 * link can open a given room (and a test can pick gRPC-Web). A token
 * (`?token=`, or typed into the form) is a credential: it is never stored.
 */
export type Protocol = "connect" | "grpc-web";

export interface Settings {
  name: string;
  room: string;
  protocol: Protocol;
  /** Bearer token for a server with auth on; empty: none. */
  token: string;
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
  const token = params.get("token") ?? "";
  return {
    name,
    room,
    protocol,
    token,
    fromUrl: (params.has("name") || params.has("token")) && params.has("room"),
  };
}

export function saveSettings(settings: Settings): void {
  const { token: _secret, ...kept } = settings;
  try {
    localStorage.setItem(storageKey, JSON.stringify(kept));
  } catch {
    // Best effort.
  }
}

/** The server's room rule (proto: chat.v1.SendRequest.room), checked before joining. */
export const roomPattern = /^[a-z0-9][a-z0-9._-]{0,63}$/;
