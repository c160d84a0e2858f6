import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { bearerToken, createAuthenticator } from "./authenticator.ts";
import { mintToken } from "./mint.ts";

const secret = new TextEncoder().encode("a test secret that is long enough for HS256!");
const bearer = (token: string) => new Headers({ authorization: `Bearer ${token}` });

async function rejects(p: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ConnectError);
    assert.equal(e.code, Code.Unauthenticated);
    assert.match(e.rawMessage, message);
    return true;
  });
}

describe("authenticator", () => {
  it("is off without keys: every call is anonymous", async () => {
    const auth = createAuthenticator();
    assert.equal(auth.enabled, false);
    assert.equal(await auth.authenticate(new Headers()), undefined);
    assert.equal(await auth.authenticate(bearer("garbage")), undefined);
  });

  it("refuses a secret shorter than 32 bytes", () => {
    assert.throws(() => createAuthenticator({ secret: new Uint8Array(16) }), /at least 32 bytes/);
  });

  it("reads the bearer token, scheme case-insensitive", () => {
    assert.equal(bearerToken(new Headers({ authorization: "bearer abc.def.ghi" })), "abc.def.ghi");
    assert.equal(bearerToken(new Headers({ authorization: "Basic abc" })), undefined);
    assert.equal(bearerToken(new Headers({ authorization: "Bearer a b" })), undefined);
    assert.equal(bearerToken(new Headers()), undefined);
  });

  it("accepts an HS256 token and reads the identity from its claims", async () => {
    const auth = createAuthenticator({ secret });
    const token = await mintToken({
      secret,
      sub: "u-1",
      name: "alice",
      rooms: ["lobby", "team-*"],
      readRooms: ["news"],
      writeRooms: ["drop.box"],
      ttlSec: 60,
    });
    const id = await auth.authenticate(bearer(token));
    assert.ok(id);
    assert.deepEqual([id.name, id.sub], ["alice", "u-1"]);
    assert.ok(id.expiresAt && Math.abs(id.expiresAt.getTime() - Date.now() - 60_000) < 2000);
    assert.deepEqual(
      ["lobby", "team-a", "team-", "teams", "news", "drop.box", "dropxbox"].map((r) => [
        id.canRead(r),
        id.canWrite(r),
      ]),
      [
        [true, true],
        [true, true],
        [true, true],
        [false, false],
        [true, false],
        [false, true],
        [false, false],
      ],
    );
    // The name defaults to sub; no room claim grants nothing.
    const bare = await auth.authenticate(
      bearer(await mintToken({ secret, sub: "bob", ttlSec: 60 })),
    );
    assert.equal(bare?.name, "bob");
    assert.equal(bare?.canRead("lobby"), false);
  });

  it("rejects missing, malformed, badly signed, expired and unsigned tokens", async () => {
    const auth = createAuthenticator({ secret });
    await rejects(auth.authenticate(new Headers()), /missing token/);
    await rejects(auth.authenticate(bearer("not-a-jwt")), /^invalid token$/);
    const other = new TextEncoder().encode("another secret, also long enough for HS256");
    await rejects(
      auth.authenticate(bearer(await mintToken({ secret: other, sub: "x", ttlSec: 60 }))),
      /^invalid token$/,
    );
    const past = () => Date.now() - 3_600_000;
    await rejects(
      auth.authenticate(bearer(await mintToken({ secret, sub: "x", ttlSec: 60, now: past }))),
      /token expired/,
    );
    const unsigned = `${btoa(JSON.stringify({ alg: "none" }))}.${btoa(JSON.stringify({ sub: "x" }))}.`;
    await rejects(auth.authenticate(bearer(unsigned.replaceAll("=", ""))), /^invalid token$/);
  });

  it("rejects tokens whose claims have the wrong shape", async () => {
    const auth = createAuthenticator({ secret });
    const sign = (claims: Record<string, unknown>) =>
      new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1m").sign(secret);
    await rejects(auth.authenticate(bearer(await sign({ rooms: ["*"] }))), /sub/);
    await rejects(auth.authenticate(bearer(await sign({ sub: "x", rooms: "*" }))), /rooms/);
    await rejects(auth.authenticate(bearer(await sign({ sub: "x", name: 5 }))), /name/);
  });

  it("checks issuer and audience when configured", async () => {
    const auth = createAuthenticator({ secret, issuer: "chat-idp", audience: "chat" });
    const good = await mintToken({
      secret,
      sub: "x",
      ttlSec: 60,
      issuer: "chat-idp",
      audience: "chat",
    });
    assert.equal((await auth.authenticate(bearer(good)))?.sub, "x");
    const wrong = await mintToken({
      secret,
      sub: "x",
      ttlSec: 60,
      issuer: "evil",
      audience: "chat",
    });
    await rejects(auth.authenticate(bearer(wrong)), /claim iss/);
  });

  it("verifies ES256 and RS256 tokens with a JWKS, and never an HS256 one signed with a public key", async () => {
    const es = await generateKeyPair("ES256");
    const rs = await generateKeyPair("RS256");
    const keys = [
      { ...(await exportJWK(es.publicKey)), kid: "es", alg: "ES256" },
      { ...(await exportJWK(rs.publicKey)), kid: "rs", alg: "RS256" },
    ];
    const auth = createAuthenticator({ jwks: { keys } });
    for (const [alg, key, kid] of [
      ["ES256", es.privateKey, "es"],
      ["RS256", rs.privateKey, "rs"],
    ] as const) {
      const token = await new SignJWT({ rooms: ["*"] })
        .setProtectedHeader({ alg, kid })
        .setSubject(`by-${kid}`)
        .setExpirationTime("1m")
        .sign(key);
      assert.equal((await auth.authenticate(bearer(token)))?.sub, `by-${kid}`);
    }
    // HS256 "signed" with the public key's bytes: no HS256 key is configured.
    const confused = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("mallory")
      .setExpirationTime("1m")
      .sign(new TextEncoder().encode(JSON.stringify(keys[1])));
    await rejects(auth.authenticate(bearer(confused)), /^invalid token$/);
  });

  it("remembers a verified token only until it expires", async () => {
    let clock = Date.now();
    const auth = createAuthenticator({ secret, now: () => clock });
    const token = await mintToken({ secret, sub: "x", ttlSec: 10, now: () => clock });
    assert.equal((await auth.authenticate(bearer(token)))?.sub, "x");
    assert.equal((await auth.authenticate(bearer(token)))?.sub, "x");
    clock += 11_000;
    await rejects(auth.authenticate(bearer(token)), /token expired/);
  });
});
