// MemoryBus: the Bus for a single node; delivers synchronously-queued messages inside this process.
import type { Bus, BusHandler, BusMessage, BusStats } from "../bus.js";

/** One subscribe() call: the same handler subscribed twice is two subscriptions (the Bus counts them). */
interface Subscription {
  handler: BusHandler;
}

export class MemoryBus implements Bus {
  private readonly topics = new Map<string, Set<Subscription>>();

  async publish(topic: string, message: BusMessage): Promise<void> {
    const subs = this.topics.get(topic);
    if (!subs) return;
    for (const sub of [...subs]) {
      try {
        sub.handler(topic, message);
      } catch {
        // A failing subscriber must not affect the publisher or other subscribers.
      }
    }
  }

  async publishMany(topics: readonly string[], message: BusMessage): Promise<void> {
    // In-process there is no wire to save: one publish per topic that has subscribers (tests that stub publish()
    // drop these too). Not awaited one by one: publish() delivers synchronously, and an await per topic was a
    // microtask hop per recipient (64 per send to a 64-member thread, ~10 µs in bench/durable-sends-profile.mjs).
    // Duplicates are skipped among the subscribed topics only (no set of every recipient's topic per message).
    let done: Set<string> | undefined;
    for (const topic of topics) {
      if (!this.topics.has(topic) || done?.has(topic)) continue;
      (done ??= new Set()).add(topic);
      void this.publish(topic, message);
    }
  }

  async subscribe(topic: string, handler: BusHandler): Promise<() => Promise<void>> {
    let subs = this.topics.get(topic);
    if (!subs) this.topics.set(topic, (subs = new Set()));
    const sub: Subscription = { handler };
    subs.add(sub);
    return async () => {
      // Idempotent: a second call finds nothing to remove (and never removes a newer subscription).
      if (!subs.delete(sub)) return;
      if (subs.size === 0 && this.topics.get(topic) === subs) this.topics.delete(topic);
    };
  }

  stats(): BusStats {
    return { messages: 0, bytes: 0 };
  }

  async close(): Promise<void> {
    this.topics.clear();
  }
}
