import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  DisconnectsClientError,
  ErrorReply,
  ReconnectStrategyError,
  RootNodesUnavailableError,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
} from "@redis/client";
import { StoreUnavailableError } from "../../core/errors.ts";

/** Causes that mean "Redis cannot be reached now", not "this request is wrong". */
export function isConnectionError(e: unknown): boolean {
  if (e instanceof ErrorReply) {
    return /^(LOADING|CLUSTERDOWN|MASTERDOWN|TRYAGAIN|READONLY)\b/.test(e.message);
  }
  const classes = [
    ClientClosedError,
    ClientOfflineError,
    ConnectionTimeoutError,
    DisconnectsClientError,
    ReconnectStrategyError,
    RootNodesUnavailableError,
    SocketClosedUnexpectedlyError,
    SocketTimeoutError,
  ];
  if (classes.some((c) => e instanceof c)) return true;
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && /^(ECONN|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH)/.test(code);
}

/** Rethrows a lost connection as {@link StoreUnavailableError}, anything else as it is. */
export function mapError(e: unknown): never {
  if (isConnectionError(e)) {
    throw new StoreUnavailableError("the message store (Redis) is unreachable", { cause: e });
  }
  throw e;
}
