/**
 * The browser client's bundle, built once per test process. The server serves
 * it at `/` and warns at startup when it is missing; `npm start` builds it
 * first (`prestart`), so a server under test must find it too, whichever spec
 * file happens to run first.
 */
import { buildWebClient } from "../../clients/web/build.ts";

let built: Promise<unknown> | undefined;

/** Builds clients/web/dist/ once per test process, so `npm test` works on a fresh clone. */
export function ensureWebClientBuilt(): Promise<unknown> {
  built ??= buildWebClient();
  return built;
}
