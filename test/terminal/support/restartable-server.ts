import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MessageStore } from "../../../src/core/message-store.ts";
import { createMemoryStore } from "../../../src/stores/memory-store.ts";
import { openSqliteStore } from "../../../src/stores/sqlite/open-store.ts";
import { startServer, type TestServer } from "../../support/server.ts";

/**
 * A chat server that can be stopped and started again on the same port, as
 * a connected client sees a production restart. With `persistent`, history
 * lives in a SQLite file and survives (same epoch); without, each start has
 * a new in-memory store (new epoch: clients are told their history is gone).
 */
export interface RestartableServer {
  url: string;
  /**
   * Stops the server (open streams end with Unavailable), runs `whileDown`
   * while nothing listens (it gets the store of the next start, to add
   * history no client saw live), then serves again on the same port.
   */
  restart(whileDown?: (store: MessageStore) => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

export async function startRestartableServer({
  persistent,
}: {
  persistent: boolean;
}): Promise<RestartableServer> {
  const dataDir = mkdtempSync(join(tmpdir(), "chat-terminal-test-"));
  const openStore = async () =>
    persistent ? await openSqliteStore({ dataDir }) : createMemoryStore();
  let current: TestServer | undefined = await startServer({ store: await openStore() });
  const { port, url } = current;
  return {
    url,
    async restart(whileDown) {
      await current?.close();
      current = undefined;
      const store = await openStore();
      try {
        await whileDown?.(store);
      } catch (e) {
        await store.close();
        throw e;
      }
      current = await startServer({ store, port });
    },
    async close() {
      await current?.close();
      current = undefined;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
