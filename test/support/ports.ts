import { once } from "node:events";
import { connect, createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * A port on 127.0.0.1 that nobody listened on a moment ago (the OS picks it),
 * for a process that needs a real number: Redis takes `--port 0` for "no
 * TCP", nginx and a benchmark's peer servers have no way to report the port
 * they took.
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  await once(server, "close");
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  return address.port;
}

/**
 * Resolves once 127.0.0.1:`port` accepts connections, for a server that
 * does not say when it listens; rejects, with `log`, if `exited` settles
 * first, or after 20 s.
 */
export async function waitForPort(
  port: number,
  exited: Promise<unknown>,
  log: readonly string[],
): Promise<void> {
  let dead = false;
  exited.then(() => {
    dead = true;
  });
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (dead) throw new Error(`server exited during start-up:\n${log.join("\n")}`);
    const socket = connect(port, "127.0.0.1");
    const up = await new Promise<boolean>((resolve) => {
      socket.once("connect", () => resolve(true));
      socket.once("error", () => resolve(false));
    });
    socket.destroy();
    if (up) return;
    await sleep(50);
  }
  throw new Error("server did not listen within 20 s");
}
