// The Store contract for server-side events (EventSubscriptionOps): subscriptions, their cursors, the lease that
// picks one delivering node, the retry queue and dead letters. Run on every Store (SQLite, PostgreSQL).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { EventSubscriptionRecord, NewEventDelivery, Store } from "../store.js";
import type { OpenedStore } from "./store-contract.js";

function subscription(over: Partial<EventSubscriptionRecord> = {}): EventSubscriptionRecord {
  return { name: "sub-1", definition: { url: "http://127.0.0.1:1/hook", types: ["A"] }, secret: "whsec_x", state: "Succeeded", createdAt: 1_000, updatedAt: 1_000, cursor: 5, ...over };
}
function delivery(n: number, over: Partial<NewEventDelivery> = {}): NewEventDelivery {
  return { eventId: `e${n}`, threadId: "19:t@thread.v2", position: n, event: { id: `e${n}`, data: { n } }, attempts: 1, at: 2_000, reason: null, lastError: "HTTP 503", ...over };
}

export function defineEventSubscriptionContract(name: string, open: () => Promise<OpenedStore>): void {
  async function withStore(fn: (store: Store, opened: OpenedStore) => Promise<void>): Promise<void> {
    const opened = await open();
    try {
      await opened.store.migrate();
      await fn(opened.store, opened);
    } finally {
      await opened.cleanup();
    }
  }

  describe(`${name} event subscriptions contract`, () => {
    it("inserts once, reads back, updates the definition only, lists by name and deletes with its deliveries", () => withStore(async (store) => {
      assert.equal(await store.insertEventSubscription(subscription()), true);
      assert.equal(await store.insertEventSubscription(subscription({ secret: "whsec_other" })), false, "the name is taken");
      assert.deepEqual(await store.getEventSubscription("sub-1"), subscription());
      assert.equal(await store.updateEventSubscription("sub-1", { definition: { url: "http://127.0.0.1:2/" }, updatedAt: 3_000 }), true);
      assert.deepEqual(await store.getEventSubscription("sub-1"), subscription({ definition: { url: "http://127.0.0.1:2/" }, updatedAt: 3_000 }));
      assert.equal(await store.updateEventSubscription("sub-1", { secret: "whsec_rotated", updatedAt: 4_000 }), true);
      assert.deepEqual(await store.getEventSubscription("sub-1"), subscription({ definition: { url: "http://127.0.0.1:2/" }, secret: "whsec_rotated", updatedAt: 4_000 }));
      assert.equal(await store.updateEventSubscription("nope", { state: "Succeeded" }), false);
      await store.insertEventSubscription(subscription({ name: "a-first" }));
      assert.deepEqual((await store.listEventSubscriptions()).map((s) => s.name), ["a-first", "sub-1"]);
      assert.equal(await store.acquireEventSubscriptionLease("sub-1", "node-a", 10_000, 5_000), true);
      assert.equal(await store.advanceEventSubscription("sub-1", "node-a", 9, [delivery(7)], [delivery(8, { reason: "DeliveryFailed" })]), true);
      assert.equal(await store.deleteEventSubscription("sub-1"), true);
      assert.equal(await store.deleteEventSubscription("sub-1"), false);
      assert.equal(await store.getEventSubscription("sub-1"), undefined);
      assert.deepEqual(await store.listParkedDeliveries("sub-1", 10), []);
      assert.deepEqual(await store.listDeadLetters("sub-1", 10), [], "dead letters go with their subscription");
      // A new subscription of the same name starts clean.
      await store.insertEventSubscription(subscription());
      assert.deepEqual(await store.listParkedDeliveries("sub-1", 10), []);
    }));

    it("the lease: one holder at a time, renewable, taken over only after it expires, released at once", () => withStore(async (store) => {
      await store.insertEventSubscription(subscription());
      assert.equal(await store.acquireEventSubscriptionLease("sub-1", "node-a", 10_000, 5_000), true);
      assert.equal(await store.acquireEventSubscriptionLease("sub-1", "node-b", 14_999, 5_000), false, "held until 15 000");
      assert.equal(await store.acquireEventSubscriptionLease("sub-1", "node-a", 14_000, 5_000), true, "renewed to 19 000");
      assert.equal(await store.acquireEventSubscriptionLease("sub-1", "node-b", 18_000, 5_000), false);
      assert.equal(await store.acquireEventSubscriptionLease("sub-1", "node-b", 19_001, 5_000), true, "expired: taken over");
      assert.equal(await store.acquireEventSubscriptionLease("sub-1", "node-a", 19_002, 5_000), false);
      // The old holder is fenced off: it can neither move the cursor nor settle.
      assert.equal(await store.advanceEventSubscription("sub-1", "node-a", 100, [delivery(1)], []), false);
      assert.equal(await store.settleParkedDeliveries("sub-1", "node-a", { delivered: [], retry: [], deadLetter: [] }, 1), false);
      assert.equal((await store.getEventSubscription("sub-1"))!.cursor, 5);
      assert.deepEqual(await store.listParkedDeliveries("sub-1", 10), []);
      await store.releaseEventSubscriptionLease("sub-1", "node-a"); // not the holder: no effect
      assert.equal(await store.acquireEventSubscriptionLease("sub-1", "node-c", 19_003, 5_000), false);
      await store.releaseEventSubscriptionLease("sub-1", "node-b");
      assert.equal(await store.acquireEventSubscriptionLease("sub-1", "node-c", 19_004, 5_000), true);
      assert.equal(await store.acquireEventSubscriptionLease("missing", "node-c", 19_004, 5_000), false);
    }));

    it("two nodes racing for a free lease: exactly one wins", () => withStore(async (store, opened) => {
      await store.insertEventSubscription(subscription());
      const other = opened.reopen ? await opened.reopen() : store;
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? other : store).acquireEventSubscriptionLease("sub-1", `node-${i}`, 10_000, 5_000)));
      assert.equal(results.filter(Boolean).length, 1);
    }));

    it("the cursor only moves forward; parked deliveries queue in order and settle atomically", () => withStore(async (store) => {
      await store.insertEventSubscription(subscription());
      await store.acquireEventSubscriptionLease("sub-1", "n", 10_000, 60_000);
      assert.equal(await store.advanceEventSubscription("sub-1", "n", 20, [delivery(11), delivery(12), delivery(13)], [delivery(14, { reason: "DeliveryFailed", lastError: "HTTP 400" })]), true);
      assert.equal(await store.advanceEventSubscription("sub-1", "n", 15, [], []), true);
      assert.equal((await store.getEventSubscription("sub-1"))!.cursor, 20, "never back");
      const parked = await store.listParkedDeliveries("sub-1", 10);
      assert.deepEqual(parked.map((p) => p.eventId), ["e11", "e12", "e13"]);
      assert.ok(parked[0].seq < parked[1].seq && parked[1].seq < parked[2].seq);
      assert.deepEqual(parked[0].event, { id: "e11", data: { n: 11 } });
      assert.equal(parked[0].subscription, "sub-1");
      assert.equal(parked[0].attempts, 1);
      assert.equal(parked[0].lastError, "HTTP 503");
      assert.deepEqual((await store.listParkedDeliveries("sub-1", 2)).map((p) => p.eventId), ["e11", "e12"]);
      const ok = await store.settleParkedDeliveries("sub-1", "n", {
        delivered: [parked[0].seq],
        retry: [{ seq: parked[1].seq, attempts: 2, at: 5_000, lastError: "timeout" }],
        deadLetter: [{ seq: parked[2].seq, attempts: 30, reason: "MaxDeliveryAttemptsExceeded", lastError: "HTTP 500" }],
      }, 6_000);
      assert.equal(ok, true);
      const after = await store.listParkedDeliveries("sub-1", 10);
      assert.deepEqual(after.map((p) => [p.eventId, p.attempts, p.at, p.lastError]), [["e12", 2, 5_000, "timeout"]]);
      const dead = await store.listDeadLetters("sub-1", 10);
      assert.deepEqual(dead.map((d) => [d.eventId, d.reason, d.attempts]), [["e13", "MaxDeliveryAttemptsExceeded", 30], ["e14", "DeliveryFailed", 1]], "in queue order");
      assert.equal(dead[0].at, 6_000);
      assert.deepEqual((await store.listDeadLetters(undefined, 1)).map((d) => d.eventId), ["e13"]);
      assert.deepEqual((await store.listDeadLetters(undefined, 10, dead[0].seq)).map((d) => d.eventId), ["e14"], "paged after a seq");
      assert.deepEqual(await store.listDeadLetters("other", 10), []);
    }));

    it("redelivery moves dead letters back to the end of the queue, attempts reset, in their order", () => withStore(async (store) => {
      await store.insertEventSubscription(subscription());
      await store.insertEventSubscription(subscription({ name: "sub-2" }));
      await store.acquireEventSubscriptionLease("sub-1", "n", 10_000, 60_000);
      await store.acquireEventSubscriptionLease("sub-2", "n", 10_000, 60_000);
      await store.advanceEventSubscription("sub-1", "n", 20, [delivery(3)], [delivery(1, { reason: "DeliveryFailed" }), delivery(2, { reason: "DeliveryFailed" })]);
      await store.advanceEventSubscription("sub-2", "n", 20, [], [delivery(9, { reason: "DeliveryFailed" })]);
      assert.equal(await store.redeliverDeadLetters("sub-1", 7_000), 2);
      const parked = await store.listParkedDeliveries("sub-1", 10);
      assert.deepEqual(parked.map((p) => [p.eventId, p.attempts, p.at, p.reason]), [["e3", 1, 2_000, null], ["e1", 0, 7_000, null], ["e2", 0, 7_000, null]]);
      assert.deepEqual(parked[1].event, { id: "e1", data: { n: 1 } });
      assert.deepEqual(await store.listDeadLetters("sub-1", 10), []);
      assert.deepEqual((await store.listDeadLetters("sub-2", 10)).map((d) => d.eventId), ["e9"], "other subscriptions untouched");
      assert.equal(await store.redeliverDeadLetters("sub-1", 8_000), 0);
    }));
  });
}
