import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import {
  createClient,
  createCluster,
  ErrorReply,
  RESP_TYPES,
  type RedisArgument,
  RedisClient,
  type RedisClientType,
  type RedisClusterType,
} from "@redis/client";

/** A connection to one Redis server. */
export type RedisNodeClient = RedisClientType;
/** A connection to a Redis Cluster (one client per node, routed by key slot). */
export type RedisClusterClient = RedisClusterType;

/**
 * The library's client, as a discriminated union: the pub/sub side needs
 * `SUBSCRIBE` on a node but `SSUBSCRIBE` (shard channels) on a cluster.
 */
export type RedisClientHandle =
  | { kind: "node"; client: RedisNodeClient }
  | { kind: "cluster"; cluster: RedisClusterClient };

/** A Lua script with its SHA1, for EVALSHA. */
export interface LuaScript {
  readonly source: string;
  readonly sha1: string;
}

/**
 * Lua for protobuf varints, shared by the scripts that write protobuf bytes
 * (the stored message, the presence events). Lua numbers are doubles:
 * exact up to 2^53, far above any seq, length or time here.
 */
export const luaVarint = `
local function varint(n)
  local out = ''
  while n >= 128 do
    out = out .. string.char(n % 128 + 128)
    n = math.floor(n / 128)
  end
  return out .. string.char(n)
end
`;

export function luaScript(source: string): LuaScript {
  return { source, sha1: createHash("sha1").update(source).digest("hex") };
}

/** What the server keeps on disk; of the weakest master on a cluster. */
export interface Persistence {
  aof: boolean;
  appendfsync: string;
  rdbSaves: boolean;
}

export type StatusListener = (up: boolean, problem?: string) => void;

export interface RedisConnectOptions {
  /**
   * `redis://[user:password@]host:port` or `rediss://…`; several seed nodes of
   * a cluster separated by commas. A single URL is probed with `INFO cluster`
   * and connected as a cluster when the server is a cluster node.
   */
  url: string;
  /** CLIENT SETNAME, so the server's CLIENT LIST tells who is who. */
  name?: string;
  /** First listener of {@link RedisConnection.onStatus}. */
  onStatus?: StatusListener;
}

export interface RedisConnection {
  readonly redis: RedisClientHandle;
  /** True once connected, false from the first connection loss until every node is back. */
  readonly up: boolean;
  /**
   * Calls `listener` on each change of `up`, with the error that took it
   * down (and once with "connection closed" when `close` is called). The client's `error` events all end here, so a lost connection
   * never crashes the process. Returns a function that removes the listener.
   */
  onStatus(listener: StatusListener): () => void;
  /** One command, sent to the node that owns `key`'s slot (any node when undefined). */
  command(key: RedisArgument | undefined, args: RedisArgument[]): Promise<unknown>;
  /**
   * EVALSHA on the node owning the slot of `keys[0]` (every key must share
   * that slot), falling back to EVAL when the server does not know the script
   * (first use, or after a restart emptied its script cache). Bulk strings in
   * the reply come back as Buffers: scripts here return binary protobuf.
   */
  script(script: LuaScript, keys: RedisArgument[], args: RedisArgument[]): Promise<unknown>;
  /**
   * SCRIPT LOAD on the node, or on every master of a cluster. Optional (see
   * `script`), but a script loaded ahead never takes the EVAL detour, which
   * could let a later EVALSHA overtake it.
   */
  loadScript(script: LuaScript): Promise<void>;
  /**
   * CONFIG GET appendonly/appendfsync/save, of every master on a cluster.
   * Undefined when the server refuses CONFIG (managed Redis often renames it).
   */
  persistence(): Promise<Persistence | undefined>;
  /**
   * A second, independent connection to the same server(s), with the same
   * settings, e.g. for pub/sub. It hears none of this one's status listeners.
   */
  duplicate(options?: { name?: string; onStatus?: StatusListener }): Promise<RedisConnection>;
  /** Waits for commands in flight, then disconnects; the owner calls it once. */
  close(): Promise<void>;
}

const connectTimeoutMs = 5000;
/** Attempts before the first connection gives up, so a wrong URL fails at startup (~1.5 s). */
const initialAttempts = 5;
const buffers = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } };

/**
 * Reconnect delays: 50 ms doubling up to 2 s, each cut by up to half at
 * random, so that many instances losing one Redis do not all come back in
 * the same millisecond. Before the first success it gives up after a few
 * attempts; after that it retries for as long as the process lives.
 */
function reconnectStrategy(status: StatusTracker) {
  return (retries: number, cause: Error): number | Error => {
    if (!status.everUp && retries >= initialAttempts) {
      return new Error(`cannot reach Redis: ${cause.message}`, { cause });
    }
    const delay = Math.min(2000, 50 * 2 ** Math.min(retries, 6));
    return Math.round(delay / 2 + (Math.random() * delay) / 2);
  };
}

/** Connects, detecting a cluster; see {@link RedisConnectOptions.url}. */
export async function connectRedis(options: RedisConnectOptions): Promise<RedisConnection> {
  const urls = options.url
    .split(",")
    .map((u) => u.trim())
    .filter((u) => u !== "");
  const [first] = urls;
  if (first === undefined) throw new Error("no Redis URL given");
  if (urls.length > 1) return openCluster(urls, options);
  // Probe without the caller's listener, so that it hears "up" once, from
  // the connection it gets.
  const { onStatus, ...rest } = options;
  const probe = await openNode(first, rest);
  let info: string;
  try {
    info = String(await probe.command(undefined, ["INFO", "cluster"]));
  } catch (e) {
    await probe.close();
    throw e;
  }
  if (/^cluster_enabled:1\s*$/m.test(info)) {
    await probe.close();
    return openCluster(urls, options);
  }
  if (onStatus !== undefined) {
    probe.onStatus(onStatus);
    onStatus(true);
  }
  return probe;
}

type Options = Omit<RedisConnectOptions, "url">;

async function openNode(url: string, options: Options): Promise<RedisConnection> {
  const status = statusTracker(options.onStatus);
  const client: RedisNodeClient = createClient({
    url,
    ...(options.name === undefined ? {} : { name: options.name }),
    disableOfflineQueue: true,
    socket: { connectTimeout: connectTimeoutMs, reconnectStrategy: reconnectStrategy(status) },
  });
  client
    .on("error", (e: Error) => status.down("node", e.message))
    .on("reconnecting", () => status.down("node"))
    .on("ready", () => status.ready("node"));
  await client.connect();
  return connectionOf({ kind: "node", client }, status, (more) =>
    openNode(url, { name: options.name, ...more }),
  );
}

interface NodeAddress {
  host: string;
  port: number;
}

async function openCluster(urls: string[], options: Options): Promise<RedisConnection> {
  const status = statusTracker(options.onStatus);
  const { username, password, socket } = RedisClient.parseURL(urls[0] as string);
  const common = { connectTimeout: connectTimeoutMs, reconnectStrategy: reconnectStrategy(status) };
  const cluster: RedisClusterClient = createCluster({
    rootNodes: urls.map((url) => ({ url })),
    defaults: {
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
      ...(options.name === undefined ? {} : { name: options.name }),
      disableOfflineQueue: true,
      socket: socket.tls ? { ...common, tls: true } : common,
    },
  });
  const where = (node: NodeAddress) => `${node.host}:${node.port}`;
  cluster
    .on("error", (e: Error) => status.problem(e.message))
    .on("node-error", (e: Error, node: NodeAddress) => status.down(where(node), e.message))
    .on("node-reconnecting", (node: NodeAddress) => status.down(where(node)))
    .on("node-ready", (node: NodeAddress) => status.ready(where(node)));
  try {
    await cluster.connect();
  } catch (e) {
    cluster.destroy();
    throw e;
  }
  status.ready("cluster");
  return connectionOf({ kind: "cluster", cluster }, status, (more) =>
    openCluster(urls, { name: options.name, ...more }),
  );
}

/** The operations that read the same on a node and on a cluster. */
function connectionOf(
  redis: RedisClientHandle,
  status: StatusTracker,
  duplicate: RedisConnection["duplicate"],
): RedisConnection {
  function send(key: RedisArgument | undefined, args: RedisArgument[], options?: object) {
    return redis.kind === "node"
      ? redis.client.sendCommand(args, options)
      : redis.cluster.sendCommand(key, false, args, options);
  }
  return {
    redis,
    get up() {
      return status.up;
    },
    onStatus: status.listen,
    command: (key, args) => send(key, args),
    async script(script, keys, args) {
      const tail = [String(keys.length), ...keys, ...args];
      try {
        return await send(keys[0], ["EVALSHA", script.sha1, ...tail], buffers);
      } catch (e) {
        if (!(e instanceof ErrorReply && e.message.startsWith("NOSCRIPT"))) throw e;
        return send(keys[0], ["EVAL", script.source, ...tail], buffers);
      }
    },
    async loadScript(script) {
      const load = ["SCRIPT", "LOAD", script.source];
      if (redis.kind === "node") await redis.client.sendCommand(load);
      else {
        const { cluster } = redis;
        await Promise.all(
          cluster.masters.map(async (m) => (await cluster.nodeClient(m)).sendCommand(load)),
        );
      }
    },
    async persistence() {
      if (redis.kind === "node") return persistenceOf(redis.client);
      const masters = await Promise.all(
        redis.cluster.masters.map(async (m) => persistenceOf(await redis.cluster.nodeClient(m))),
      );
      if (masters.some((p) => p === undefined)) return undefined;
      return (masters as Persistence[]).sort((a, b) => strength(a) - strength(b))[0];
    },
    duplicate,
    async close() {
      status.close();
      const client = redis.kind === "node" ? redis.client : redis.cluster;
      try {
        await client.close();
      } catch {
        // Never connected, or reconnecting gave up: nothing to wait for.
        client.destroy();
      }
    },
  };
}

async function persistenceOf(client: RedisNodeClient): Promise<Persistence | undefined> {
  try {
    const config = await client.configGet(["appendonly", "appendfsync", "save"]);
    return {
      aof: String(config.appendonly) === "yes",
      appendfsync: String(config.appendfsync ?? ""),
      rdbSaves: String(config.save ?? "").trim() !== "",
    };
  } catch (e) {
    if (e instanceof ErrorReply) return undefined;
    throw e;
  }
}

/** Orders settings from "keeps nothing" to "every write fsynced", to report the weakest master. */
function strength(p: Persistence): number {
  if (!p.aof) return p.rdbSaves ? 1 : 0;
  return ({ no: 2, everysec: 3, always: 4 } as Record<string, number>)[p.appendfsync] ?? 2;
}

/**
 * A warning for the startup log when Redis keeps nothing on disk (no AOF, no
 * RDB saves): a restart then empties every room and clients see a new epoch.
 * Undefined when something is kept.
 */
export function describePersistence(p: Persistence | undefined): string | undefined {
  if (p === undefined || p.aof || p.rdbSaves) return undefined;
  return 'Redis keeps nothing on disk (appendonly no, save ""): a Redis restart loses every room\'s history; set appendonly yes (appendfsync always for acknowledged = durable)';
}

interface StatusTracker {
  readonly up: boolean;
  readonly everUp: boolean;
  /** The owner closes the connection: down for good, quietly after this last call. */
  close(): void;
  listen(listener: StatusListener): () => void;
  down(node: string, problem?: string): void;
  ready(node: string): void;
  problem(problem: string): void;
}

/**
 * Folds per-node events into one up/down state: down as soon as any node's
 * connection is lost (a cluster without that master cannot serve its slots,
 * and by default refuses everything once it notices), up when all are back.
 */
function statusTracker(first: StatusListener | undefined): StatusTracker {
  const listeners = new Set<StatusListener>(first === undefined ? [] : [first]);
  const downNodes = new Set<string>();
  let up = false;
  let everUp = false;
  let closing = false;
  let lastProblem: string | undefined;
  // Called from the client's event handlers: a throwing listener must not
  // turn into an exception inside an 'error' event.
  const notify = (problem?: string) => {
    for (const listener of listeners) {
      try {
        listener(up, problem);
      } catch {
        // The listener's own failure; the others still hear of the change.
      }
    }
  };
  return {
    get up() {
      return up;
    },
    get everUp() {
      return everUp;
    },
    listen(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    down(node, problem) {
      if (problem !== undefined) lastProblem = problem;
      if (closing) return;
      downNodes.add(node);
      if (!up) return;
      up = false;
      notify(lastProblem ?? "connection lost");
    },
    ready(node) {
      // "cluster": the cluster client connected every master it found.
      if (node === "cluster") downNodes.clear();
      downNodes.delete(node);
      if (up || downNodes.size > 0 || closing) return;
      up = true;
      everUp = true;
      lastProblem = undefined;
      notify();
    },
    problem(problem) {
      lastProblem = problem;
    },
    close() {
      if (closing) return;
      closing = true;
      if (!up) return;
      up = false;
      notify("connection closed");
    },
  };
}
