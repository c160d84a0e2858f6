import { readFileSync } from "node:fs";
import type { JSONWebKeySet } from "jose";
import { minSecretBytes } from "./authenticator.ts";

/** A key file that cannot be used: the operator's to fix, said in one line. */
export class KeyFileError extends Error {
  override name = "KeyFileError";
}

function read(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    const reason = (e as { code?: string }).code ?? (e instanceof Error ? e.message : String(e));
    throw new KeyFileError(`cannot read the ${what} ${file}: ${reason}`);
  }
}

/**
 * The HS256 secret in `file`: its bytes, less a trailing newline (as
 * `openssl rand -base64 48 > secret` writes). At least 32 bytes.
 */
export function readSecretFile(file: string): Uint8Array {
  const bytes = read(file, "JWT secret file");
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
  if (end < minSecretBytes) {
    throw new KeyFileError(
      `the JWT secret file ${file} holds ${end} bytes; use at least ${minSecretBytes} (e.g. openssl rand -base64 48 > ${file})`,
    );
  }
  return new Uint8Array(bytes.subarray(0, end));
}

/** The JWKS (`{"keys": [...]}`, public keys only) in `file`. */
export function readJwksFile(file: string): JSONWebKeySet {
  const text = read(file, "JWKS file").toString("utf8");
  let jwks: unknown;
  try {
    jwks = JSON.parse(text);
  } catch (e) {
    throw new KeyFileError(`the JWKS file ${file} is not JSON: ${(e as Error).message}`);
  }
  const keys = (jwks as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new KeyFileError(`the JWKS file ${file} must hold {"keys": [...]} with at least one key`);
  }
  if (keys.some((k) => typeof k !== "object" || k === null || "d" in k || k.kty === "oct")) {
    throw new KeyFileError(
      `the JWKS file ${file} must hold public keys only (no "d", no symmetric "oct" keys)`,
    );
  }
  return jwks as JSONWebKeySet;
}
