import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import {
  Health,
  type HealthCheckRequest,
  type HealthCheckResponse,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../gen/grpc/health/v1/health_pb.ts";

/** Re-exported so callers of setStatus need not reach into generated code. */
export { ServingStatus };

/**
 * The standard gRPC health service (grpc.health.v1.Health), which Connect-ES
 * does not ship. Load balancers, Kubernetes `grpc` probes and `grpc_health_probe`
 * speak it, so the server is checkable without any chat-specific knowledge.
 *
 * Statuses live in memory and are keyed by service name; "" is the server as a
 * whole. `Watch` streams are event-driven: each one is a single pending promise
 * that `setStatus` resolves, so an idle watcher costs no CPU and no timer.
 */
export interface HealthService {
  /** Serves Check, List and Watch on `router`. */
  register(router: ConnectRouter): void;
  /**
   * Records the status of `service` ("" for the whole server) and wakes its
   * watchers. Ignored after {@link shutdown}, so a late "SERVING" from a
   * component cannot undo a drain in progress.
   */
  setStatus(service: string, status: ServingStatus): void;
  /**
   * Marks every known service NOT_SERVING and freezes the statuses. Call it
   * first on graceful shutdown, before closing the server, so that probes and
   * watchers steer traffic away while in-flight calls drain.
   */
  shutdown(): void;
  /** Number of open Watch streams. For tests and metrics. */
  watcherCount(): number;
  /** The status of `service` ("" for the whole server); SERVICE_UNKNOWN if never set. For `/readyz`. */
  status(service: string): ServingStatus;
}

/** Most statuses List returns; more is RESOURCE_EXHAUSTED, as the spec says. */
export const maxListedServices = 100;

/**
 * Creates a health service. `initial` defaults to `{ "": SERVING }`: a server
 * that is up enough to answer is serving until told otherwise.
 */
export function createHealthService(
  initial: Readonly<Record<string, ServingStatus>> = { "": ServingStatus.SERVING },
): HealthService {
  const statuses = new Map<string, ServingStatus>(Object.entries(initial));
  const watchers = new Map<string, Set<() => void>>();
  let frozen = false;

  function notify(service: string): void {
    for (const wake of watchers.get(service) ?? []) wake();
  }

  function addWatcher(service: string, wake: () => void): () => void {
    let set = watchers.get(service);
    if (set === undefined) {
      set = new Set();
      watchers.set(service, set);
    }
    set.add(wake);
    return () => {
      if (set.delete(wake) && set.size === 0) watchers.delete(service);
    };
  }

  function check(request: HealthCheckRequest): { status: ServingStatus } {
    const status = statuses.get(request.service);
    if (status === undefined) {
      throw new ConnectError(`unknown service "${request.service}"`, Code.NotFound);
    }
    return { status };
  }

  function list(): { statuses: Record<string, { status: ServingStatus }> } {
    if (statuses.size > maxListedServices) {
      throw new ConnectError(
        `${statuses.size} services exceed the limit of ${maxListedServices}`,
        Code.ResourceExhausted,
      );
    }
    const out: Record<string, { status: ServingStatus }> = {};
    for (const [service, status] of statuses) out[service] = { status };
    return { statuses: out };
  }

  /**
   * Sends the current status, then each change. Only the newest status
   * matters to a watcher, so changes that happen while the client is slow to
   * read collapse into one message instead of queueing up.
   */
  async function* watch(
    request: HealthCheckRequest,
    ctx: HandlerContext,
  ): AsyncGenerator<Pick<HealthCheckResponse, "status">> {
    const { signal } = ctx;
    let wakeUp: (() => void) | undefined;
    const wake = () => wakeUp?.();
    const removeWatcher = addWatcher(request.service, wake);
    signal.addEventListener("abort", wake);
    try {
      let sent: ServingStatus | undefined;
      for (;;) {
        // A change first: on shutdown, NOT_SERVING is set in the same turn
        // as the abort, and watchers must still be told before the end.
        const status = statuses.get(request.service) ?? ServingStatus.SERVICE_UNKNOWN;
        if (status !== sent) {
          sent = status;
          yield { status };
          continue;
        }
        if (signal.aborted) break;
        await new Promise<void>((resolve) => {
          wakeUp = resolve;
        });
        wakeUp = undefined;
      }
      // Client gone or server shutting down: end with the abort reason (for
      // example connect-fastify's `shutdownError`), not with a misleading OK.
      signal.throwIfAborted();
    } finally {
      removeWatcher();
      signal.removeEventListener("abort", wake);
    }
  }

  return {
    register(router) {
      router.service(Health, { check, list, watch });
    },
    setStatus(service, status) {
      if (frozen) return;
      statuses.set(service, status);
      notify(service);
    },
    shutdown() {
      frozen = true;
      for (const service of statuses.keys()) {
        statuses.set(service, ServingStatus.NOT_SERVING);
        notify(service);
      }
    },
    status(service) {
      return statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN;
    },
    watcherCount() {
      let count = 0;
      for (const set of watchers.values()) count += set.size;
      return count;
    },
  };
}
