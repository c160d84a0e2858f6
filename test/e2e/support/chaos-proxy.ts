import { connect, createServer, type Server, type Socket } from "node:net";

/** A TCP proxy in front of a server whose connections a test can cut at will. */
export interface ChaosProxy {
  /** `http://127.0.0.1:PORT` of the proxy. */
  url: string;
  /** Where new connections go; change it to follow a restarted server. */
  targetPort: number;
  /** Open client connections. */
  readonly open: number;
  /** Connections cut so far. */
  readonly cuts: number;
  /** Destroys one random open connection (both sides); false if none is open. */
  cutOne(): boolean;
  /** Destroys every open connection. */
  cutAll(): void;
  close(): Promise<void>;
}

export async function startChaosProxy(targetPort: number): Promise<ChaosProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let cuts = 0;
  const proxy = {
    targetPort,
    url: "",
    get open() {
      return pairs.size;
    },
    get cuts() {
      return cuts;
    },
    cutOne() {
      const all = [...pairs];
      const pair = all[Math.floor(Math.random() * all.length)];
      if (pair === undefined) return false;
      cut(pair);
      return true;
    },
    cutAll() {
      for (const pair of pairs) cut(pair);
    },
    close: () =>
      new Promise<void>((resolve) => {
        proxy.cutAll();
        server.close(() => resolve());
      }),
  };
  function cut(pair: [Socket, Socket]): void {
    if (!pairs.delete(pair)) return;
    cuts++;
    // resetAndDestroy: an RST, as a dropped network or a killed NAT entry does.
    for (const socket of pair) socket.resetAndDestroy();
  }
  const server: Server = createServer((client) => {
    const upstream = connect(proxy.targetPort, "127.0.0.1");
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const drop = () => {
      if (pairs.delete(pair)) {
        client.destroy();
        upstream.destroy();
      }
    };
    for (const socket of pair) {
      socket.on("error", drop);
      socket.on("close", drop);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no proxy address");
  proxy.url = `http://127.0.0.1:${address.port}`;
  return proxy;
}
