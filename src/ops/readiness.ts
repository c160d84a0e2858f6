import type { MessageStore } from "../core/message-store.ts";
import { type HealthService, ServingStatus } from "../services/health.ts";

/** Whether the server should get traffic now, and if not, why (in words safe to show anyone). */
export interface ReadinessReport {
  ready: boolean;
  /** Empty when ready: `not serving (shutting down)`, `store unreachable`. */
  reasons: string[];
}

export interface Readiness {
  check(): Promise<ReadinessReport>;
}

export interface ReadinessOptions {
  /** Ready only while the overall ("") status is SERVING: NOT_SERVING from shutdown on. */
  health: Pick<HealthService, "status">;
  /** Probed with a read of one room's bounds: the cheapest read every store has. */
  store: Pick<MessageStore, "bounds">;
  /** A store slower than this to answer counts as unreachable. Default 1 s. */
  storeTimeoutMs?: number;
  /**
   * Told when the store becomes unreachable (with the cause, for the log:
   * it may name files, so `/readyz` does not show it) and when it answers
   * again (`undefined`). Once per change, not per probe.
   */
  onStoreChange?: (problem: string | undefined) => void;
}

/**
 * A room name no client can use (rooms are 1 to 64 characters), so the probe
 * reads nothing real and creates nothing.
 */
const probeRoom = "";

/**
 * Readiness for `/readyz`: not ready while shutting down (health NOT_SERVING)
 * or while the store does not answer. Probes that arrive while a store
 * probe is in flight share it, so a flood of `/readyz` costs one store read
 * at a time.
 */
export function createReadiness({
  health,
  store,
  storeTimeoutMs = 1000,
  onStoreChange = () => {},
}: ReadinessOptions): Readiness {
  let inFlight: Promise<string | undefined> | undefined;
  let lastProblem: string | undefined;

  /** Undefined when the store answered in time, else why not. */
  async function probeStore(): Promise<string | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`no answer in ${storeTimeoutMs} ms`), storeTimeoutMs);
    });
    try {
      const problem = await Promise.race([
        store.bounds(probeRoom).then(
          () => undefined,
          (e: unknown) => (e instanceof Error ? e.message : String(e)),
        ),
        timeout,
      ]);
      if (problem !== lastProblem) onStoreChange(problem);
      lastProblem = problem;
      return problem;
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    async check() {
      if (health.status("") !== ServingStatus.SERVING) {
        return { ready: false, reasons: ["not serving (shutting down)"] };
      }
      inFlight ??= probeStore().finally(() => {
        inFlight = undefined;
      });
      const problem = await inFlight;
      return problem === undefined
        ? { ready: true, reasons: [] }
        : { ready: false, reasons: ["store unreachable"] };
    },
  };
}
