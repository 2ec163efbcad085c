// A tiny typed event dispatcher (browser-safe, no 'events' dependency). A throwing listener neither stops
// the other listeners nor the emitter; its error is rethrown asynchronously so it still surfaces.

/** Listener of one event. */
export type Listener<T> = [T] extends [void] ? () => void : (payload: T) => void;

/** Registers, removes and calls listeners per event name. */
export class EventDispatcher<TMap extends object> {
  private readonly listeners = new Map<keyof TMap, Set<(payload: unknown) => void>>();

  /**
   * Adds a listener (adding the same function twice has no extra effect).
   * @param event - Event name.
   * @param listener - The listener.
   */
  on<K extends keyof TMap>(event: K, listener: Listener<TMap[K]>): void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as (payload: unknown) => void);
  }

  /**
   * Removes a listener.
   * @param event - Event name.
   * @param listener - The listener.
   */
  off<K extends keyof TMap>(event: K, listener: Listener<TMap[K]>): void {
    this.listeners.get(event)?.delete(listener as (payload: unknown) => void);
  }

  /**
   * Calls the event's listeners with the payload, in registration order.
   * @param event - Event name.
   * @param payload - The payload (omit for void events).
   * @returns Whether any listener was registered.
   */
  emit<K extends keyof TMap>(event: K, ...payload: [TMap[K]] extends [void] ? [] : [TMap[K]]): boolean {
    const set = this.listeners.get(event);
    if (!set || set.size === 0) return false;
    for (const listener of [...set]) {
      try {
        listener(payload[0]);
      } catch (error) {
        setTimeout(() => {
          throw error;
        }, 0);
      }
    }
    return true;
  }

  /**
   * Number of listeners of an event.
   * @param event - Event name.
   */
  listenerCount(event: keyof TMap): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  /** Removes every listener of every event. */
  removeAllListeners(): void {
    this.listeners.clear();
  }
}
