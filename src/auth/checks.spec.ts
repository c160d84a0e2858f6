import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { checkRead, checkSend, checkSubscribe, checkTyping } from "./checks.ts";
import { identityDeadline } from "./deadline.ts";
import { identityFromClaims } from "./identity.ts";

const alice = identityFromClaims({
  sub: "u-1",
  name: "alice",
  rooms: ["lobby"],
  read_rooms: ["news"],
  write_rooms: ["inbox"],
});

function denied(fn: () => unknown): void {
  assert.throws(fn, (e: unknown) => e instanceof ConnectError && e.code === Code.PermissionDenied);
}

describe("auth checks", () => {
  it("pass everything through with auth off", () => {
    assert.equal(checkSend(undefined, "any", "whoever"), "whoever");
    assert.equal(checkTyping(undefined, "any", ""), "");
    assert.equal(checkSubscribe(undefined, "any", "bob"), "bob");
    checkRead(undefined, "any");
  });

  it("speak as the token's name: empty means me, anyone else is refused", () => {
    assert.equal(checkSend(alice, "lobby", ""), "alice");
    assert.equal(checkSend(alice, "lobby", "alice"), "alice");
    denied(() => checkSend(alice, "lobby", "bob"));
    assert.equal(checkTyping(alice, "lobby", ""), "alice");
    denied(() => checkTyping(alice, "lobby", "bob"));
    assert.equal(checkSubscribe(alice, "lobby", "alice"), "alice");
    denied(() => checkSubscribe(alice, "lobby", "bob"));
    // An unlisted watch stays unlisted.
    assert.equal(checkSubscribe(alice, "lobby", ""), "");
  });

  it("read and write by room claims", () => {
    checkRead(alice, "news");
    denied(() => checkSend(alice, "news", ""));
    assert.equal(checkSend(alice, "inbox", ""), "alice");
    denied(() => checkSubscribe(alice, "inbox", ""));
    denied(() => checkRead(alice, "elsewhere"));
    denied(() => checkTyping(alice, "elsewhere", ""));
  });
});

describe("identityDeadline", () => {
  const expiring = (ms: number) =>
    identityFromClaims({ sub: "x", exp: Math.floor((Date.now() + ms) / 1000) });

  it("is the parent signal when there is no expiry", () => {
    const parent = new AbortController();
    assert.equal(identityDeadline(undefined, parent.signal).signal, parent.signal);
    assert.equal(
      identityDeadline(identityFromClaims({ sub: "x" }), parent.signal).signal,
      parent.signal,
    );
  });

  it("aborts with Unauthenticated when the token expires", async () => {
    const parent = new AbortController();
    const { signal } = identityDeadline(expiring(1000), parent.signal);
    assert.equal(signal.aborted, false);
    // The expiry timer does not keep a process alive by itself (it is unref'd).
    const keepAlive = setTimeout(() => {}, 5000);
    await new Promise((resolve) => signal.addEventListener("abort", resolve));
    clearTimeout(keepAlive);
    assert.ok(signal.reason instanceof ConnectError);
    assert.equal(signal.reason.code, Code.Unauthenticated);
  });

  it("follows the parent, and stops once cleared", async () => {
    const parent = new AbortController();
    const d = identityDeadline(expiring(60_000), parent.signal);
    parent.abort(new Error("client left"));
    assert.equal((d.signal.reason as Error).message, "client left");
    const other = new AbortController();
    const cleared = identityDeadline(expiring(-1000), other.signal);
    assert.equal(cleared.signal.aborted, true, "already expired");
    const later = identityDeadline(expiring(60_000), other.signal);
    later.clear();
    other.abort();
    assert.equal(later.signal.aborted, false);
  });
});
