import { runtimeUnderTest } from "../../runtimes/runtime-under-test.ts";
import { type SubprocessServer, spawnServer } from "../../support/subprocess-server.ts";

/**
 * One chat instance with `--store redis` on `redisUrl` (a seed node's URL
 * for a cluster), as a subprocess under the runtime under test; `args` add
 * to its flags.
 */
export function spawnRedisInstance(
  redisUrl: string,
  args: string[] = [],
): Promise<SubprocessServer> {
  return spawnServer(runtimeUnderTest, ["--store", "redis", "--redis-url", redisUrl, ...args]);
}
