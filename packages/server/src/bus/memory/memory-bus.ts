// MemoryBus: the Bus for a single node; delivers synchronously-queued messages inside this process.
import type { Bus, BusHandler, BusMessage } from "../bus.js";

export class MemoryBus implements Bus {
  private readonly handlers = new Map<string, Set<BusHandler>>();

  async publish(topic: string, message: BusMessage): Promise<void> {
    const set = this.handlers.get(topic);
    if (!set) return;
    for (const handler of [...set]) {
      try {
        handler(topic, message);
      } catch {
        // A failing subscriber must not affect the publisher or other subscribers.
      }
    }
  }

  async subscribe(topic: string, handler: BusHandler): Promise<() => Promise<void>> {
    let set = this.handlers.get(topic);
    if (!set) this.handlers.set(topic, (set = new Set()));
    set.add(handler);
    return async () => {
      set.delete(handler);
      if (set.size === 0) this.handlers.delete(topic);
    };
  }

  async close(): Promise<void> {
    this.handlers.clear();
  }
}
