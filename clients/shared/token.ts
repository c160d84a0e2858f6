/**
 * What a client may read from its own bearer token, without verifying it
 * (only the server can): the name it will speak as, to fill in a name field
 * and to label its own messages. Never used to decide anything.
 */
export function tokenName(token: string): string | undefined {
  const payload = token.split(".")[1];
  if (payload === undefined) return undefined;
  try {
    const base64 = payload.replaceAll("-", "+").replaceAll("_", "/");
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes)) as { name?: unknown; sub?: unknown };
    const name = typeof claims.name === "string" ? claims.name : claims.sub;
    return typeof name === "string" && name.trim() !== "" ? name : undefined;
  } catch {
    return undefined;
  }
}
