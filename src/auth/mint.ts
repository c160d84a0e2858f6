import { SignJWT } from "jose";

/** What a minted token says; see `identity.ts` for the claims' meaning. */
export interface MintOptions {
  /** HS256 secret, the same bytes the server reads from `--jwt-secret-file`. */
  secret: Uint8Array;
  sub: string;
  name?: string;
  /** Patterns readable and writable (`rooms` claim). */
  rooms?: string[];
  /** Patterns readable only (`read_rooms` claim). */
  readRooms?: string[];
  /** Patterns writable only (`write_rooms` claim). */
  writeRooms?: string[];
  /** Lifetime in seconds from now. */
  ttlSec: number;
  issuer?: string;
  audience?: string;
  /** Clock in ms, for tests. Default `Date.now`. */
  now?: () => number;
}

/** An HS256 JWT for development and tests (production tokens come from an identity provider). */
export async function mintToken(o: MintOptions): Promise<string> {
  const iat = Math.floor((o.now ?? Date.now)() / 1000);
  const claims: Record<string, unknown> = {};
  if (o.name !== undefined) claims.name = o.name;
  if (o.rooms?.length) claims.rooms = o.rooms;
  if (o.readRooms?.length) claims.read_rooms = o.readRooms;
  if (o.writeRooms?.length) claims.write_rooms = o.writeRooms;
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(o.sub)
    .setIssuedAt(iat)
    .setExpirationTime(iat + o.ttlSec);
  if (o.issuer !== undefined) jwt.setIssuer(o.issuer);
  if (o.audience !== undefined) jwt.setAudience(o.audience);
  return jwt.sign(o.secret);
}
