/**
 * `npm run --silent token -- --sub alice --rooms 'lobby,team-*' --ttl 1h`:
 * prints an HS256 token signed with the server's secret (`--jwt-secret-file`
 * or CHAT_JWT_SECRET_FILE), and nothing else, so that
 * `CHAT_TOKEN=$(npm run --silent token -- --sub alice)` works.
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { KeyFileError, readSecretFile } from "./key-files.ts";
import { mintToken } from "./mint.ts";

const usage = `Usage: npm run --silent token -- --sub SUBJECT [options]

Prints a JWT (HS256) for the chat server's --jwt-secret-file.

  --sub SUBJECT            who the token is for (required)
  --name NAME              the name they speak as (default: SUBJECT)
  --rooms LIST             comma-separated room patterns to read and write, * as wildcard
                           (default * when no room option is given)
  --read-rooms LIST        patterns to read only
  --write-rooms LIST       patterns to write only
  --ttl DURATION           lifetime: 90s, 30m, 1h, 7d (default 1h)
  --jwt-secret-file FILE   the server's secret (default $CHAT_JWT_SECRET_FILE)
  --issuer ISS             iss claim (default $CHAT_JWT_ISSUER)
  --audience AUD           aud claim (default $CHAT_JWT_AUDIENCE)`;

class UsageError extends Error {}

const units: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

function parseTtl(raw: string): number {
  const match = /^(\d+)(s|m|h|d)$/.exec(raw);
  const n = Number(match?.[1]);
  if (match === null || n <= 0)
    throw new UsageError(`--ttl must be like 90s, 30m, 1h or 7d, got "${raw}"`);
  return n * (units[match[2] as string] ?? 1);
}

function list(raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  return raw
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "");
}

async function main(argv: string[], env: Record<string, string | undefined>): Promise<string> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        sub: { type: "string" },
        name: { type: "string" },
        rooms: { type: "string" },
        "read-rooms": { type: "string" },
        "write-rooms": { type: "string" },
        ttl: { type: "string" },
        "jwt-secret-file": { type: "string" },
        issuer: { type: "string" },
        audience: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) return usage;
  const str = (k: string) => values[k] as string | undefined;
  const sub = str("sub");
  if (sub === undefined || sub.trim() === "") throw new UsageError("--sub is required");
  const secretFile = str("jwt-secret-file") ?? env.CHAT_JWT_SECRET_FILE;
  if (secretFile === undefined || secretFile === "") {
    throw new UsageError("--jwt-secret-file (or CHAT_JWT_SECRET_FILE) is required");
  }
  const readRooms = list(str("read-rooms"));
  const writeRooms = list(str("write-rooms"));
  const rooms = list(str("rooms")) ?? (readRooms || writeRooms ? undefined : ["*"]);
  return mintToken({
    secret: readSecretFile(secretFile),
    sub,
    name: str("name"),
    rooms,
    readRooms,
    writeRooms,
    ttlSec: parseTtl(str("ttl") ?? "1h"),
    issuer: str("issuer") ?? (env.CHAT_JWT_ISSUER || undefined),
    audience: str("audience") ?? (env.CHAT_JWT_AUDIENCE || undefined),
  });
}

try {
  process.stdout.write(`${await main(process.argv.slice(2), process.env)}\n`);
} catch (e) {
  if (!(e instanceof UsageError || e instanceof KeyFileError)) throw e;
  process.stderr.write(`${e.message}\n${e instanceof UsageError ? "Try --help.\n" : ""}`);
  process.exit(e instanceof UsageError ? 2 : 1);
}
