// The Bus contract: one node:test suite that every Bus implementation must pass (MemoryBus, RedisBus). It checks
// the guarantees written in bus.ts with two instances standing for two nodes: delivery to every subscriber of a
// topic on every node (publish and publishMany), counted subscriptions, isolation of failing handlers, JSON payloads, close(), and volume.
// Nothing is asserted on timing: positive checks wait for a condition, negative ones wait for a later sentinel.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Bus, BusHandler, BusMessage } from "../bus.js";

export interface OpenedBuses {
  /** Two Bus instances standing for two nodes (a single-process Bus may return the same instance twice). */
  buses: [Bus, Bus];
  /** Closes both instances and releases whatever the test used. */
  cleanup(): Promise<void>;
}

/** Waits until `condition()` holds; fails with `describe()` after `timeoutMs`. */
export async function waitFor(condition: () => boolean, describe: () => string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`condition not met within ${timeoutMs} ms: ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A handler that records what it receives. */
function recorder() {
  const received: { topic: string; message: BusMessage }[] = [];
  const handler: BusHandler = (topic, message) => {
    received.push({ topic, message });
  };
  return { received, handler };
}

let unique = 0;
/** A topic no other test uses. */
const topicName = (label: string) => `user:8:acs:contract-${label}-${process.pid}-${++unique}`;

/**
 * Publishes a sentinel on a topic of its own from `from`, and waits until `to` (which subscribes to it) receives
 * it. Messages published before the sentinel have had the same path to travel, so a message that has not
 * arrived by then is taken as not delivered (a wrong "not delivered" can only make a test pass, never fail).
 */
async function settle(from: Bus, to: Bus): Promise<void> {
  const topic = topicName("sentinel");
  const sentinel = recorder();
  const unsubscribe = await to.subscribe(topic, sentinel.handler);
  await from.publish(topic, { type: "sentinel", data: null });
  await waitFor(() => sentinel.received.length > 0, () => "sentinel not received");
  await new Promise((resolve) => setTimeout(resolve, 20));
  await unsubscribe();
}

export function defineBusContract(name: string, open: () => Promise<OpenedBuses>): void {
  describe(`Bus contract: ${name}`, () => {
    /** Runs `fn` with a fresh pair of buses and always cleans up. */
    const withBuses = (fn: (a: Bus, b: Bus) => Promise<void>) => async () => {
      const opened = await open();
      try {
        await fn(...opened.buses);
      } finally {
        await opened.cleanup();
      }
    };

    it("publish reaches the subscribers of that topic on both nodes, and no other topic", withBuses(async (a, b) => {
      const topic = topicName("reach");
      const other = topicName("other");
      const onA = recorder();
      const onB = recorder();
      const onOther = recorder();
      await a.subscribe(topic, onA.handler);
      await b.subscribe(topic, onB.handler);
      await b.subscribe(other, onOther.handler);
      const message = { type: "chatEvent", data: { n: 1 } };
      await a.publish(topic, message);
      await waitFor(() => onA.received.length === 1 && onB.received.length === 1, () => `a=${onA.received.length} b=${onB.received.length}`);
      assert.deepEqual(onA.received, [{ topic, message }]);
      assert.deepEqual(onB.received, [{ topic, message }]);
      // Published from the other node too.
      await b.publish(topic, { type: "chatEvent", data: { n: 2 } });
      await waitFor(() => onA.received.length === 2 && onB.received.length === 2, () => `a=${onA.received.length} b=${onB.received.length}`);
      await settle(a, b);
      assert.equal(onOther.received.length, 0);
      assert.equal(onA.received.length, 2);
      assert.equal(onB.received.length, 2);
    }));

    it("delivers to every handler of a topic", withBuses(async (a, b) => {
      const topic = topicName("multi");
      const handlers = [recorder(), recorder(), recorder(), recorder()];
      await a.subscribe(topic, handlers[0].handler);
      await a.subscribe(topic, handlers[1].handler);
      await b.subscribe(topic, handlers[2].handler);
      await b.subscribe(topic, handlers[3].handler);
      await a.publish(topic, { type: "t", data: "x" });
      await waitFor(() => handlers.every((h) => h.received.length === 1), () => handlers.map((h) => h.received.length).join(","));
      await settle(a, b);
      assert.deepEqual(handlers.map((h) => h.received.length), [1, 1, 1, 1]);
    }));

    it("unsubscribe stops delivery; it is idempotent", withBuses(async (a, b) => {
      const topic = topicName("unsub");
      const kept = recorder();
      const dropped = recorder();
      await a.subscribe(topic, kept.handler);
      const unsubscribe = await b.subscribe(topic, dropped.handler);
      await a.publish(topic, { type: "t", data: 1 });
      await waitFor(() => kept.received.length === 1 && dropped.received.length === 1, () => `kept=${kept.received.length} dropped=${dropped.received.length}`);
      await unsubscribe();
      await unsubscribe();
      await a.publish(topic, { type: "t", data: 2 });
      await waitFor(() => kept.received.length === 2, () => `kept=${kept.received.length}`);
      await settle(a, b);
      assert.equal(dropped.received.length, 1);
      assert.equal(kept.received.length, 2);
    }));

    it("subscriptions are counted: subscribing twice and unsubscribing once keeps the other", withBuses(async (a, b) => {
      const topic = topicName("counted");
      const rec = recorder();
      const first = await b.subscribe(topic, rec.handler);
      const second = await b.subscribe(topic, rec.handler);
      await first();
      await first(); // a repeated call must not remove the second subscription
      await a.publish(topic, { type: "t", data: 1 });
      await waitFor(() => rec.received.length >= 1, () => "nothing received after one of two unsubscribes");
      await settle(a, b);
      assert.equal(rec.received.length, 1);
      await second();
      await a.publish(topic, { type: "t", data: 2 });
      await settle(a, b);
      assert.equal(rec.received.length, 1);
      // Subscribing again after the last unsubscribe works.
      await b.subscribe(topic, rec.handler);
      await a.publish(topic, { type: "t", data: 3 });
      await waitFor(() => rec.received.length === 2, () => `received ${rec.received.length}`);
      assert.deepEqual(rec.received[1].message, { type: "t", data: 3 });
    }));

    it("publishing to a topic nobody subscribes to is fine", withBuses(async (a, b) => {
      await a.publish(topicName("nobody"), { type: "t", data: null });
      await b.publish(topicName("nobody"), { type: "t", data: { deep: [1, 2, 3] } });
    }));

    it("a throwing handler does not affect the other handlers or the publisher", withBuses(async (a, b) => {
      const topic = topicName("throw");
      const before = recorder();
      const after = recorder();
      const remote = recorder();
      await a.subscribe(topic, before.handler);
      await a.subscribe(topic, () => {
        throw new Error("handler failure (expected by the test)");
      });
      await a.subscribe(topic, after.handler);
      await b.subscribe(topic, () => {
        throw new Error("handler failure (expected by the test)");
      });
      await b.subscribe(topic, remote.handler);
      await a.publish(topic, { type: "t", data: 1 });
      await a.publish(topic, { type: "t", data: 2 });
      await waitFor(
        () => before.received.length === 2 && after.received.length === 2 && remote.received.length === 2,
        () => `before=${before.received.length} after=${after.received.length} remote=${remote.received.length}`,
      );
    }));

    it("payloads round-trip as JSON", withBuses(async (a, b) => {
      const topic = topicName("json");
      const rec = recorder();
      await b.subscribe(topic, rec.handler);
      const payloads: BusMessage[] = [
        { type: "nested", data: { event: { id: "1700000000000", body: { message: "hi", metadata: { k: "v" } }, recipients: ["8:acs:a", "8:acs:b"] }, n: 1.5, ok: true, none: null } },
        { type: "unicode", data: "héllo wörld — 你好 🎉 \u0000 \"quoted\" \\ \n" },
        { type: "array", data: [1, "two", { three: [3] }, [], {}] },
        { type: "scalar", data: 42 },
        { type: "null", data: null },
        { type: "tÿpe 🎉", data: "" },
      ];
      for (const p of payloads) await a.publish(topic, p);
      await waitFor(() => rec.received.length === payloads.length, () => `received ${rec.received.length}/${payloads.length}`);
      // Order within one publisher and one topic is not promised: compare as sets.
      const byType = new Map(rec.received.map((r) => [r.message.type, r.message]));
      for (const p of payloads) assert.deepEqual(byType.get(p.type), JSON.parse(JSON.stringify(p)));
    }));

    it("close() stops delivery and is idempotent", withBuses(async (a, b) => {
      const topic = topicName("close");
      const onA = recorder();
      const onB = recorder();
      await a.subscribe(topic, onA.handler);
      await b.subscribe(topic, onB.handler);
      await a.publish(topic, { type: "t", data: 1 });
      await waitFor(() => onA.received.length === 1 && onB.received.length === 1, () => `a=${onA.received.length} b=${onB.received.length}`);
      await b.close();
      await b.close();
      // A closed bus neither throws nor delivers.
      await b.publish(topic, { type: "t", data: "from closed" });
      await a.publish(topic, { type: "t", data: 2 });
      if (a !== b) {
        await waitFor(() => onA.received.length === 2, () => `a=${onA.received.length}`);
        await settle(a, a);
      }
      assert.equal(onB.received.length, 1);
    }));

    it("publishMany reaches every subscriber of each topic on both nodes, once per topic, and no other topic", withBuses(async (a, b) => {
      const topics = Array.from({ length: 6 }, (_, i) => topicName(`many-of-${i}`));
      const other = topicName("many-other");
      const got: { node: string; topic: string; message: BusMessage }[] = [];
      const on = (node: string): BusHandler => (topic, message) => got.push({ node, topic, message });
      // Topics 0-1 on a only, 2-3 on b only, 4 on both, 5 nowhere; `both` subscribes two topics with one handler.
      await a.subscribe(topics[0], on("a"));
      await a.subscribe(topics[1], on("a"));
      await b.subscribe(topics[2], on("b"));
      await b.subscribe(topics[3], on("b"));
      await a.subscribe(topics[4], on("a"));
      await b.subscribe(topics[4], on("b"));
      await b.subscribe(other, on("b"));
      const message = { type: "chatEvent", data: { event: { n: 1, text: "héllo" } } };
      await a.publishMany(topics, message);
      const expected = ["a " + topics[0], "a " + topics[1], "b " + topics[2], "b " + topics[3], "a " + topics[4], "b " + topics[4]].sort();
      await waitFor(() => got.length >= expected.length, () => `received ${got.length}/${expected.length}`);
      await settle(a, b);
      assert.deepEqual(got.map((g) => `${g.node} ${g.topic}`).sort(), expected);
      for (const g of got) assert.deepEqual(g.message, message);
      // From the other node, after one topic lost its last handler on b.
      got.length = 0;
      const unsubscribe = await b.subscribe(topics[5], on("b"));
      await unsubscribe();
      await b.publishMany([topics[2], topics[5], other], { type: "t", data: 2 });
      await waitFor(() => got.length >= 2, () => `received ${got.length}/2`);
      await settle(b, a);
      await settle(a, b);
      assert.deepEqual(got.map((g) => `${g.node} ${g.topic}`).sort(), [`b ${topics[2]}`, `b ${other}`].sort());
    }));

    it("publishMany with no topics, or topics nobody subscribes to, reaches no one", withBuses(async (a, b) => {
      const got: string[] = [];
      await b.subscribe(topicName("somebody"), (topic) => void got.push(topic));
      await a.publishMany([], { type: "t", data: null });
      await b.publishMany([topicName("nobody-1"), topicName("nobody-2")], { type: "t", data: { deep: [1] } });
      await settle(a, b);
      await settle(b, b);
      assert.deepEqual(got, []);
    }));

    it("publishMany to 1000 users split over both nodes: each gets exactly one", withBuses(async (a, b) => {
      const users = Array.from({ length: 1000 }, (_, i) => topicName(`fan${i}`));
      const got = new Map<string, number>();
      const handler: BusHandler = (topic) => got.set(topic, (got.get(topic) ?? 0) + 1);
      await Promise.all(users.map((topic, i) => (i % 2 === 0 ? a : b).subscribe(topic, handler)));
      await a.publishMany(users, { type: "t", data: { pad: "x".repeat(64) } });
      await waitFor(() => got.size === users.length, () => `${got.size}/${users.length} topics received`);
      await settle(a, b);
      await settle(b, a);
      assert.ok([...got.values()].every((n) => n === 1), "each topic received exactly one message");
    }));

    it("many topics: one message to each of 1000 users arrives", withBuses(async (a, b) => {
      const users = Array.from({ length: 1000 }, (_, i) => topicName(`many${i}`));
      const got = new Map<string, number>();
      const handler: BusHandler = (topic) => got.set(topic, (got.get(topic) ?? 0) + 1);
      await Promise.all(users.map((topic) => b.subscribe(topic, handler)));
      await Promise.all(users.map((topic, i) => a.publish(topic, { type: "t", data: { i } })));
      await waitFor(() => got.size === users.length, () => `${got.size}/${users.length} topics received`);
      await settle(a, b);
      assert.ok([...got.values()].every((n) => n === 1), "each topic received exactly one message");
    }));

    it("a burst of 2000 messages on one topic all arrive on both nodes", withBuses(async (a, b) => {
      const topic = topicName("burst");
      const seenA = new Set<number>();
      const seenB = new Set<number>();
      await a.subscribe(topic, (_t, m) => seenA.add((m.data as { i: number }).i));
      await b.subscribe(topic, (_t, m) => seenB.add((m.data as { i: number }).i));
      const publishes: Promise<void>[] = [];
      for (let i = 0; i < 2000; i++) publishes.push(a.publish(topic, { type: "t", data: { i, pad: "x".repeat(64) } }));
      await Promise.all(publishes);
      await waitFor(() => seenA.size === 2000 && seenB.size === 2000, () => `a=${seenA.size} b=${seenB.size} of 2000`, 15_000);
    }));
  });
}
