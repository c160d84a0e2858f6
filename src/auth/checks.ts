/**
 * What an identity may do, as small pure checks that every path serving the
 * chat calls before acting: the Connect services and the streaming fast path
 * alike. Each takes the caller's identity, `undefined` when auth is off (then
 * every check passes and names are taken from the request, as before auth
 * existed), and throws a ConnectError `PermissionDenied` when the call is
 * not allowed.
 *
 * Names: with auth on, a caller speaks only as `identity.name`. A request
 * that names someone else is refused, one that names no one (empty) means
 * the caller. The returned name is the one to use.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { Identity } from "./identity.ts";

function denied(message: string): ConnectError {
  return new ConnectError(message, Code.PermissionDenied);
}

function ownName(identity: Identity, requested: string, what: string): string {
  if (requested === "" || requested === identity.name) return identity.name;
  throw denied(`${what} must be your own name (${JSON.stringify(identity.name)}) or empty`);
}

/** Throws PermissionDenied unless the caller may read `room` (GetHistory, ListMembers, streams). */
export function checkRead(identity: Identity | undefined, room: string): void {
  if (identity !== undefined && !identity.canRead(room)) {
    throw denied(`no read access to room ${JSON.stringify(room)}`);
  }
}

/** Throws PermissionDenied unless the caller may post to `room`. */
export function checkWrite(identity: Identity | undefined, room: string): void {
  if (identity !== undefined && !identity.canWrite(room)) {
    throw denied(`no write access to room ${JSON.stringify(room)}`);
  }
}

/**
 * A subscription (chat.v1 Subscribe, the first request of Chat, the seed's
 * ChatStream with `requestedName` ""): needs read access. Returns the
 * presence name to use. An empty name keeps its meaning from the API,
 * "watch without being listed", with auth on too; any other name must be
 * the caller's own.
 */
export function checkSubscribe(
  identity: Identity | undefined,
  room: string,
  requestedName: string,
): string {
  checkRead(identity, room);
  if (identity === undefined || requestedName === "") return requestedName;
  return ownName(identity, requestedName, "name");
}

/**
 * A message (chat.v1 Send, a Chat send, the seed's SendNote with
 * `Note.name` as `sender`): needs write access. Returns the sender to store:
 * the caller's name when auth is on, the request's otherwise.
 */
export function checkSend(identity: Identity | undefined, room: string, sender: string): string {
  checkWrite(identity, room);
  return identity === undefined ? sender : ownName(identity, sender, "sender");
}

/** A typing notice (SetTyping, a Chat typing request): as {@link checkSend}, for the typing name. */
export function checkTyping(identity: Identity | undefined, room: string, name: string): string {
  checkWrite(identity, room);
  return identity === undefined ? name : ownName(identity, name, "name");
}
