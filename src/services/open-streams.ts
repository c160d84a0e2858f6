import type { Interceptor } from "@connectrpc/connect";

/**
 * Streaming calls whose handler has not finished yet, by method
 * (`chat.v1.ChatService/Subscribe`). A call counts from the moment its
 * handler starts until its response iterator is finished or closed, so a
 * call whose client left but whose handler is stuck (a write that never
 * completes, a generator never resumed) stays visible here. The leak tests
 * assert this returns to zero; metrics can export it.
 */
export interface OpenStreams {
  interceptor: Interceptor;
  /**
   * Counts a call served without Connect's handlers (the streaming fast
   * path) until `leave` is called for it, once (no closure per stream).
   */
  enter(method: string): void;
  leave(method: string): void;
  /** Open streaming calls of one method, or of all. */
  count(method?: string): number;
  /** Methods with at least one open streaming call (for metrics). */
  methods(): IterableIterator<string>;
}

export function createOpenStreams(): OpenStreams {
  const open = new Map<string, number>();
  function add(method: string, delta: number): void {
    const n = (open.get(method) ?? 0) + delta;
    if (n === 0) open.delete(method);
    else open.set(method, n);
  }
  return {
    interceptor: (next) => async (req) => {
      const res = await next(req);
      if (!res.stream) return res;
      const method = `${req.service.typeName}/${req.method.name}`;
      return {
        ...res,
        message: (async function* () {
          // Counted once started: an unstarted generator's finally never runs.
          add(method, 1);
          try {
            yield* res.message;
          } finally {
            add(method, -1);
          }
        })(),
      };
    },
    enter: (method) => add(method, 1),
    leave: (method) => add(method, -1),
    count(method) {
      if (method !== undefined) return open.get(method) ?? 0;
      let n = 0;
      for (const v of open.values()) n += v;
      return n;
    },
    methods: () => open.keys(),
  };
}
