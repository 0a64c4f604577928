// Stored type-erased; `on` and `emit` keep the types.
type Handler = (...args: unknown[]) => void;

/** A minimal typed event emitter (browsers and Node alike). */
export class Emitter<Events extends Record<string, unknown[]>> {
  private readonly handlers = new Map<keyof Events, Set<Handler>>();

  /** Calls `handler` on every `event`; returns a function that stops it. */
  on<E extends keyof Events>(event: E, handler: (...args: Events[E]) => void): () => void {
    let set = this.handlers.get(event);
    if (!set) {
      set = new Set();
      this.handlers.set(event, set);
    }
    set.add(handler as unknown as Handler);
    return () => this.off(event, handler);
  }

  /** Calls `handler` on the next `event` only. */
  once<E extends keyof Events>(event: E, handler: (...args: Events[E]) => void): () => void {
    const off = this.on(event, (...args) => {
      off();
      handler(...args);
    });
    return off;
  }

  off<E extends keyof Events>(event: E, handler: (...args: Events[E]) => void): void {
    this.handlers.get(event)?.delete(handler as unknown as Handler);
  }

  protected emit<E extends keyof Events>(event: E, ...args: Events[E]): void {
    for (const h of [...(this.handlers.get(event) ?? [])]) {
      try {
        (h as unknown as (...a: Events[E]) => void)(...args);
      } catch (e) {
        // One handler's bug must not stop the others or the connection.
        console.error(`chat sdk: a "${String(event)}" handler threw`, e);
      }
    }
  }
}
