import { parseArgs as parseNodeArgs } from "node:util";
import { tokenName } from "../shared/token.ts";

/** The three RPC protocols the server speaks on its one port. */
export type Protocol = "grpc" | "grpc-web" | "connect";

const protocols: readonly Protocol[] = ["grpc", "grpc-web", "connect"];

/** How to reach the server: everything the transport needs. */
export interface ConnectionOptions {
  /** Base URL, `http://` (cleartext, h2c for HTTP/2) or `https://`. */
  url: string;
  protocol: Protocol;
  /** HTTP/1.1 instead of HTTP/2 (Connect and gRPC-Web only). */
  http1: boolean;
  /** PEM file of a CA (or a self-signed certificate) to trust, besides the system's. */
  ca: string | undefined;
  /** Skip certificate verification entirely. */
  insecure: boolean;
  /** Bearer token for a server with auth on (`--token`, else $CHAT_TOKEN), sent on every call. */
  token?: string;
}

export interface CommonOptions extends ConnectionOptions {
  room: string;
  name: string;
}

/** What the command line asks for. */
export type Command =
  | { kind: "help"; text: string }
  | { kind: "interactive"; options: CommonOptions }
  | { kind: "send"; options: CommonOptions; text: string; json: boolean }
  | { kind: "follow"; options: CommonOptions; last: number; json: boolean };

/** A mistake on the command line: exit 2 with the message and a hint. */
export class UsageError extends Error {
  override name = "UsageError";
}

export const defaultUrl = "http://127.0.0.1:11912";

/** Newest messages replayed by `follow --last`, at most (the server's limit). */
const maxLast = 500;

export const usage = `Usage:
  chat [options]                   interactive chat (stdin must be a terminal)
  chat [options] send <text...>    send one message, print its seq
  chat [options] follow            print one line per message until killed

Options:
  --url URL          server base URL (default ${defaultUrl}); https:// for TLS
  --room ROOM        room to join (default lobby)
  --name NAME        your display name (default: the token's name, else $USER)
  --protocol P       grpc | grpc-web | connect (default grpc)
  --http1            use HTTP/1.1 (connect and grpc-web only; gRPC needs HTTP/2)
  --ca FILE          trust this PEM CA or self-signed certificate
  --insecure         do not verify the server's certificate (testing only)
  --token JWT        bearer token, for a server with auth on (default $CHAT_TOKEN)
  --json             send, follow: print JSON objects instead of text
  --last N           follow: replay the newest N messages first (default 0, at most ${maxLast})
  -h, --help         show this help

Interactive commands: /who lists the room's members, /quit (or Ctrl-D) leaves,
/help lists commands; start a message with // to send a line beginning with /.`;

/**
 * Parses argv (without the runtime and script) into a command. Throws
 * {@link UsageError} for anything it cannot run, so that a typo never turns
 * into a message sent to the wrong room or as the wrong person.
 */
export function parseArgs(argv: string[], env: Record<string, string | undefined>): Command {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: "help", text: usage };

  const options = commonOptions(values, env);
  const [command, ...rest] = positionals;
  const json = values.json ?? false;
  if (command === "send") {
    const text = rest.join(" ");
    if (text.trim() === "") throw new UsageError("send needs the message text: send <text...>");
    return { kind: "send", options, text, json };
  }
  if (command === "follow") {
    if (rest.length > 0) throw new UsageError(`follow takes no arguments, got "${rest[0]}"`);
    return { kind: "follow", options, last: parseLast(values.last), json };
  }
  if (command !== undefined) {
    throw new UsageError(`unknown command "${command}" (expected send or follow)`);
  }
  if (values.json !== undefined || values.last !== undefined) {
    throw new UsageError("--json and --last are for the send and follow commands");
  }
  return { kind: "interactive", options };
}

function parse(argv: string[]) {
  return parseNodeArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      url: { type: "string" },
      room: { type: "string" },
      name: { type: "string" },
      protocol: { type: "string" },
      http1: { type: "boolean" },
      ca: { type: "string" },
      insecure: { type: "boolean" },
      token: { type: "string" },
      json: { type: "boolean" },
      last: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}

type Values = ReturnType<typeof parse>["values"];

function commonOptions(values: Values, env: Record<string, string | undefined>): CommonOptions {
  const url = values.url ?? defaultUrl;
  let scheme: string;
  try {
    scheme = new URL(url).protocol;
  } catch {
    throw new UsageError(`--url: not a URL: "${url}"`);
  }
  if (scheme !== "http:" && scheme !== "https:") {
    throw new UsageError(`--url must start with http:// or https://, got "${url}"`);
  }
  const protocol = (values.protocol ?? "grpc") as Protocol;
  if (!protocols.includes(protocol)) {
    throw new UsageError(`--protocol must be one of ${protocols.join(", ")}, got "${protocol}"`);
  }
  const http1 = values.http1 ?? false;
  if (http1 && protocol === "grpc") {
    throw new UsageError("--http1: gRPC needs HTTP/2; use --protocol connect or grpc-web");
  }
  const token = values.token ?? (env.CHAT_TOKEN || undefined);
  if (token !== undefined && !/^[\w-]+\.[\w-]+\.[\w-]*$/.test(token)) {
    throw new UsageError(
      "--token (or $CHAT_TOKEN) must be a JWT: three base64url parts joined by dots",
    );
  }
  const name =
    values.name ?? (token && tokenName(token)) ?? env.USER ?? env.LOGNAME ?? env.USERNAME ?? "";
  if (name.trim() === "") throw new UsageError("--name is required ($USER is not set)");
  return {
    url,
    protocol,
    http1,
    ca: values.ca,
    insecure: values.insecure ?? false,
    room: values.room ?? "lobby",
    name,
    ...(token === undefined ? {} : { token }),
  };
}

function parseLast(value: string | undefined): number {
  if (value === undefined) return 0;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > maxLast) {
    throw new UsageError(`--last must be a whole number from 0 to ${maxLast}, got "${value}"`);
  }
  return n;
}
