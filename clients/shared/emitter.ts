/**
 * Listener signatures by event name, as an interface of methods
 * (`{ message: (m: Message) => void; ... }`).
 */
export type EventMap<E> = { [K in keyof E]: (...args: never[]) => void };

/**
 * A typed event emitter small enough to run anywhere: the session must not
 * depend on Node's `EventEmitter` or the DOM's `EventTarget`.
 */
export interface Emitter<E extends EventMap<E>> {
  /** Adds `listener`; the function returned removes it. */
  on<K extends keyof E>(event: K, listener: E[K]): () => void;
  /**
   * Calls the listeners of `event` in the order they were added. A listener
   * that throws does not stop the others nor the emitter's caller: its error
   * is rethrown on a microtask, where uncaught errors are reported.
   */
  emit<K extends keyof E>(event: K, ...args: Parameters<E[K]>): void;
}

export function createEmitter<E extends EventMap<E>>(): Emitter<E> {
  const listeners = new Map<keyof E, Set<E[keyof E]>>();
  return {
    on(event, listener) {
      const set = listeners.get(event) ?? new Set();
      listeners.set(event, set);
      set.add(listener);
      return () => {
        set.delete(listener);
      };
    },
    emit(event, ...args) {
      // A snapshot: a listener may add or remove listeners while we call them.
      for (const listener of [...(listeners.get(event) ?? [])]) {
        try {
          (listener as (...a: Parameters<E[typeof event]>) => void)(...args);
        } catch (e) {
          queueMicrotask(() => {
            throw e;
          });
        }
      }
    },
  };
}
