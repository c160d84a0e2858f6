/**
 * Connection-level limits: how many TCP connections and how many HTTP/2
 * streams per connection one client can hold.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import * as http2 from "node:http2";
import { connect, type Socket } from "node:net";
import { describe, it } from "node:test";
import { withServer } from "../support/server.ts";
import { assertStillServes } from "./support/still-serves.ts";

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => resolve(socket));
    socket.on("error", reject);
  });
}

describe("limits", () => {
  it("advertises the HTTP/2 stream limit in SETTINGS", () =>
    withServer(
      async ({ url }) => {
        const session = http2.connect(url);
        session.on("error", () => {});
        try {
          await once(session, "remoteSettings");
          assert.equal(session.remoteSettings.maxConcurrentStreams, 3);
        } finally {
          session.destroy();
        }
      },
      { maxStreamsPerConnection: 3 },
    ));

  it("closes connections over the limit at accept and keeps serving the others", () =>
    withServer(
      async (server) => {
        // Five sockets that say nothing hold five of the six places.
        const held = await Promise.all(Array.from({ length: 5 }, () => openSocket(server.port)));
        try {
          const extra = await openSocket(server.port);
          const extraExtra = await openSocket(server.port);
          // The sixth gets in; the seventh is closed by the server at once.
          const [hadError] = await Promise.race([
            once(extraExtra, "close"),
            new Promise<never>((_, reject) =>
              setTimeout(() => reject(new Error("the 7th connection stayed open")), 3000),
            ),
          ]);
          assert.equal(typeof hadError, "boolean");
          assert.equal(extra.destroyed, false);
          extra.destroy();
        } finally {
          for (const socket of held) socket.destroy();
        }
        await assertStillServes(server);
      },
      { maxConnections: 6 },
    ));
});
