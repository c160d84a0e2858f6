/**
 * The bearer token every call of a session carries, for a server with auth
 * on. One holder for the subscription, sends and typing notices, so that a
 * token refreshed for one of them serves the others too.
 */
import type { CallOptions } from "@connectrpc/connect";

/** Where tokens come from: see `RoomSessionOptions.getToken`. */
export type GetToken = () => string | undefined | Promise<string | undefined>;

export interface CallAuth {
  /** The token calls carry now, asked for on first use; undefined: none. */
  current(): Promise<string | undefined> | undefined;
  /** `options` with the current token as `authorization`, if there is one. */
  options(options: CallOptions): Promise<CallOptions>;
  /**
   * After an `unauthenticated` answer to a call made with `refused` (what
   * `current()` was then): asks for a fresh token, once for all the calls
   * refused with it. False when there is none to try.
   */
  refresh(refused: Promise<string | undefined> | undefined): Promise<boolean>;
}

/** Without `getToken`, calls carry no token and `refresh` is always false. */
export function createCallAuth(getToken: GetToken | undefined): CallAuth {
  let token: Promise<string | undefined> | undefined;

  /** Asks for a token; one that cannot be had is none. */
  function ask(): Promise<string | undefined> | undefined {
    return (
      getToken &&
      Promise.resolve()
        .then(getToken)
        .catch(() => undefined)
    );
  }

  const auth: CallAuth = {
    current() {
      token ??= ask();
      return token;
    },
    async options(options) {
      const current = await auth.current();
      return current === undefined
        ? options
        : { ...options, headers: { authorization: `Bearer ${current}` } };
    },
    async refresh(refused) {
      if (getToken === undefined) return false;
      // Concurrent calls refused with the same token share one refresh.
      if (token === refused) token = ask();
      return (await token) !== undefined;
    },
  };
  return auth;
}
