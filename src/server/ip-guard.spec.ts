import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import { createIpGuard, ipKey } from "./ip-guard.ts";

/** A socket as far as the guard cares: an address, and a "close" event. */
function socketFrom(remoteAddress: string) {
  const socket = new EventEmitter() as EventEmitter & { remoteAddress: string };
  socket.remoteAddress = remoteAddress;
  return { socket, close: () => socket.emit("close") };
}

describe("createIpGuard", () => {
  it("admits up to maxConnectionsPerIp per address, and one more once one closes", () => {
    const guard = createIpGuard({ maxConnectionsPerIp: 2 });
    const a = socketFrom("10.0.0.1");
    const b = socketFrom("10.0.0.1");
    assert.equal(guard.admit(a.socket), true);
    assert.equal(guard.admit(b.socket), true);
    assert.equal(guard.admit(socketFrom("10.0.0.1").socket), false);
    assert.equal(guard.admit(socketFrom("10.0.0.2").socket), true);
    a.close();
    assert.equal(guard.connectionsOf("10.0.0.1"), 1);
    assert.equal(guard.admit(socketFrom("10.0.0.1").socket), true);
  });

  it("counts IPv4 clients of a dual-stack server under their IPv4 address", () => {
    assert.equal(ipKey("::ffff:192.0.2.1"), "192.0.2.1");
    assert.equal(ipKey("2001:db8::1"), "2001:db8::1");
    const guard = createIpGuard({ maxConnectionsPerIp: 1 });
    assert.equal(guard.admit(socketFrom("::ffff:192.0.2.1").socket), true);
    assert.equal(guard.admit(socketFrom("192.0.2.1").socket), false);
  });

  it("0 means no per-IP limit", () => {
    const guard = createIpGuard({ maxConnectionsPerIp: 0 });
    for (let i = 0; i < 1000; i++) assert.equal(guard.admit(socketFrom("10.0.0.1").socket), true);
  });

  it("refuses an address that spent its reset budget for cooldownMs, over all its connections", () => {
    let now = 0;
    const guard = createIpGuard({
      streamResets: { count: 3, perMs: 3000 },
      cooldownMs: 10_000,
      now: () => now,
    });
    for (let i = 0; i < 3; i++) assert.equal(guard.chargeReset("10.0.0.1"), true);
    assert.equal(guard.chargeReset("10.0.0.1"), false);
    assert.equal(guard.isCoolingDown("10.0.0.1"), true);
    assert.equal(guard.admit(socketFrom("10.0.0.1").socket), false);
    // Others are not affected.
    assert.equal(guard.chargeReset("10.0.0.2"), true);
    assert.equal(guard.admit(socketFrom("10.0.0.2").socket), true);
    now = 10_000;
    assert.equal(guard.isCoolingDown("10.0.0.1"), false);
    assert.equal(guard.admit(socketFrom("10.0.0.1").socket), true);
    // Refilled meanwhile (3 per 3 s).
    assert.equal(guard.chargeReset("10.0.0.1"), true);
  });
});
