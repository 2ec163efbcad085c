// The Store contract: one node:test suite that every Store implementation must pass (SqliteStore,
// PostgresStore). It checks the guarantees written in store.ts: record round trips, ordering and keyset paging,
// atomic transactions, per-thread sequences without duplicates under concurrency (also across two nodes),
// and stream positions that readers never see filled in behind them.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type {
  DirectoryOps, EventRecord, ImageRecord, MessageRecord, ParticipantRecord, ReadReceiptRecord, Store, StoreOps, ThreadRecord, UserRecord,
} from "../store.js";
import { IdempotencyConflictError } from "../store.js";
import { defineSearchContract } from "./search-contract.js";

export interface OpenedStore {
  /** A Store on a fresh, empty database (not migrated yet). */
  store: Store;
  /** Closes every Store opened for this database and removes the database. */
  cleanup(): Promise<void>;
  /** Opens one more Store on the same database: another "node". Optional; cleanup() closes it too. */
  reopen?(): Promise<Store>;
  /** The backend runs one write transaction at a time across all its stores (SQLite): nothing to interleave. */
  serialWriters?: boolean;
}

const USER = (n: number | string) => `8:acs:natter_${n}`;

function user(over: Partial<UserRecord> = {}): UserRecord {
  return { id: USER("a"), createdAt: 1_000, deletedAt: null, tokenGeneration: 0, customId: null, lastTokenIssuedAt: null, ...over };
}
function thread(over: Partial<ThreadRecord> = {}): ThreadRecord {
  return {
    id: "19:t1@thread.v2", topic: "Topic", createdAt: 1_000, createdBy: USER("a"), deletedAt: null, metadata: null, retention: null,
    nextSequence: 1, clock: 999, lastMessageAt: null, expiresAt: null, ...over,
  };
}
function participant(over: Partial<ParticipantRecord> = {}): ParticipantRecord {
  return { threadId: "19:t1@thread.v2", userId: USER("a"), displayName: null, shareHistoryTime: 0, metadata: null, joinedAt: 1_000, ...over };
}
function message(over: Partial<MessageRecord> = {}): MessageRecord {
  return {
    threadId: "19:t1@thread.v2", id: "1000", sequence: 1, type: "text", body: { message: "hi" }, sender: null, senderDisplayName: null,
    createdAt: 1_000, editedAt: null, deletedAt: null, version: 1_000, metadata: null, ...over,
  };
}
function image(over: Partial<ImageRecord> = {}): ImageRecord {
  return {
    threadId: "19:t1@thread.v2", id: "img1", name: "cat.png", contentType: "image/png", data: new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 255, 1]),
    uploadedBy: USER("a"), createdAt: 1_000, ...over,
  };
}
function receipt(over: Partial<ReadReceiptRecord> = {}): ReadReceiptRecord {
  return { threadId: "19:t1@thread.v2", userId: USER("a"), messageId: "1000", sequence: 1, readAt: 2_000, ...over };
}
function event(over: Partial<Omit<EventRecord, "position">> = {}): Omit<EventRecord, "position"> {
  return { threadId: "19:t1@thread.v2", type: "chatMessageReceived", recipients: [USER("a")], payload: { n: 1 }, createdAt: 1_000, ...over };
}

const isDirectory = (store: Store): store is Store & DirectoryOps =>
  typeof (store as Partial<DirectoryOps>).findProfileByName === "function";

/** The domain's append: lock the thread, take its next sequence and clock, write, move the thread on, record the event. */
async function appendMessage(store: Store, threadId: string, recipients: string[], extraReads = 0): Promise<{ sequence: number; position: number }> {
  return store.transaction(async (tx) => {
    const t = await tx.lockThread(threadId);
    if (!t) throw new Error(`no thread ${threadId}`);
    const sequence = t.nextSequence;
    const clock = Math.max(Date.now(), t.clock + 1);
    await tx.insertMessage(message({ threadId, id: String(clock), sequence, version: clock, createdAt: clock, body: { message: `m${sequence}` } }));
    await tx.updateThread(threadId, { nextSequence: sequence + 1, clock, lastMessageAt: clock });
    const position = await tx.appendEvent(event({ threadId, recipients, payload: { sequence }, createdAt: clock }));
    // Work after the append keeps the transaction open a little longer: commits then finish out of order.
    for (let i = 0; i < extraReads; i++) await tx.getThread(threadId);
    return { sequence, position };
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function defineStoreContract(name: string, open: () => Promise<OpenedStore>): void {
  /** Opens a fresh migrated store, runs `fn`, and always cleans up. */
  async function withStore(fn: (store: Store, opened: OpenedStore) => Promise<void>): Promise<void> {
    const opened = await open();
    try {
      await opened.store.migrate();
      await fn(opened.store, opened);
    } finally {
      await opened.cleanup();
    }
  }
  const test = (title: string, fn: (store: Store, opened: OpenedStore) => Promise<void>) => it(title, () => withStore(fn));

  describe(`Store contract: ${name}`, () => {
    defineSearchContract(test);
    describe("images", () => {
      test("an image round-trips byte for byte (also a large one), is per thread, and deleteImage says whether it found one", async (store) => {
        await store.insertThread(thread());
        await store.insertThread(thread({ id: "19:t2@thread.v2" }));
        await store.transaction((tx) => tx.insertImage(image()));
        const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 31) % 256);
        await store.insertImage(image({ id: "big", name: null, contentType: "image/jpeg", data: big }));
        const got = await store.getImage("19:t1@thread.v2", "img1");
        assert.ok(got);
        assert.deepEqual({ ...got, data: [...got.data] }, { ...image(), data: [...image().data] });
        const gotBig = await store.getImage("19:t1@thread.v2", "big");
        assert.equal(gotBig?.name, null);
        assert.equal(Buffer.compare(Buffer.from(gotBig!.data), Buffer.from(big)), 0);
        assert.equal(await store.getImage("19:t2@thread.v2", "img1"), undefined, "an image belongs to its thread only");
        assert.equal(await store.deleteImage("19:t2@thread.v2", "img1"), false);
        assert.equal(await store.transaction((tx) => tx.deleteImage("19:t1@thread.v2", "img1")), true);
        assert.equal(await store.getImage("19:t1@thread.v2", "img1"), undefined);
        assert.equal(await store.deleteImage("19:t1@thread.v2", "img1"), false);
      });

      test("deleteThreadContent and purgeThread delete the thread's images, not another thread's", async (store) => {
        for (const id of ["19:a@thread.v2", "19:b@thread.v2", "19:c@thread.v2"]) {
          await store.insertThread(thread({ id }));
          await store.insertImage(image({ threadId: id }));
        }
        await store.deleteThreadContent("19:a@thread.v2");
        await store.transaction((tx) => tx.purgeThread("19:b@thread.v2"));
        assert.equal(await store.getImage("19:a@thread.v2", "img1"), undefined);
        assert.equal(await store.getImage("19:b@thread.v2", "img1"), undefined);
        assert.ok(await store.getImage("19:c@thread.v2", "img1"));
      });

      test("a failed transaction writes no image", async (store) => {
        await store.insertThread(thread());
        await assert.rejects(store.transaction(async (tx) => {
          await tx.insertImage(image());
          throw new Error("boom");
        }), /boom/);
        assert.equal(await store.getImage("19:t1@thread.v2", "img1"), undefined);
      });
    });

    describe("migrations", () => {
      test("migrate() is idempotent and keeps data", async (store) => {
        await store.insertUser(user());
        await store.migrate();
        await store.migrate();
        assert.deepEqual(await store.getUser(USER("a")), user());
        await store.ping();
      });

      it("two nodes migrating together on an empty database both succeed", async (t) => {
        const opened = await open();
        try {
          if (!opened.reopen) return t.skip("the backend cannot open a second store");
          const other = await opened.reopen();
          await Promise.all([opened.store.migrate(), other.migrate(), opened.store.migrate()]);
          await other.insertUser(user());
          assert.deepEqual(await opened.store.getUser(USER("a")), user());
        } finally {
          await opened.cleanup();
        }
      });
    });

    describe("users", () => {
      test("round trip, optional fields null and set; missing is undefined", async (store) => {
        await store.insertUser(user());
        await store.insertUser(user({ id: USER("b"), deletedAt: 5_000, tokenGeneration: 3 }));
        assert.deepEqual(await store.getUser(USER("a")), user());
        assert.deepEqual(await store.getUser(USER("b")), user({ id: USER("b"), deletedAt: 5_000, tokenGeneration: 3 }));
        assert.equal(await store.getUser(USER("zz")), undefined);
      });

      test("duplicate id is rejected", async (store) => {
        await store.insertUser(user());
        await assert.rejects(store.insertUser(user()));
      });

      test("customId: round trip, lookup, unique among holders (insert answers false), released by clearing", async (store) => {
        assert.equal(await store.insertUser(user({ customId: "sally@contoso.com", lastTokenIssuedAt: 2_000 })), true);
        assert.deepEqual(await store.getUser(USER("a")), user({ customId: "sally@contoso.com", lastTokenIssuedAt: 2_000 }));
        assert.deepEqual(await store.getUserByCustomId("sally@contoso.com"), user({ customId: "sally@contoso.com", lastTokenIssuedAt: 2_000 }));
        assert.equal(await store.getUserByCustomId("SALLY@contoso.com"), undefined, "exact match");
        assert.equal(await store.insertUser(user({ id: USER("b"), customId: "sally@contoso.com" })), false);
        assert.equal(await store.getUser(USER("b")), undefined, "nothing written");
        assert.equal(await store.insertUser(user({ id: USER("c") })), true, "any number of users without one");
        assert.equal(await store.insertUser(user({ id: USER("d") })), true);
        await assert.rejects(store.insertUser(user({ id: USER("c"), customId: "other" })), "a duplicate id still throws");
        await store.updateUser(USER("a"), { customId: null, lastTokenIssuedAt: 3_000 });
        assert.deepEqual(await store.getUser(USER("a")), user({ lastTokenIssuedAt: 3_000 }));
        assert.equal(await store.insertUser(user({ id: USER("b"), customId: "sally@contoso.com" })), true, "free again");
        assert.equal((await store.getUserByCustomId("sally@contoso.com"))?.id, USER("b"));
      });

      test("customId: concurrent inserts of one customId, exactly one wins", async (store) => {
        const results = await Promise.all([0, 1, 2, 3].map((i) =>
          store.transaction((tx) => tx.insertUser(user({ id: USER(`racer${i}`), customId: "same" })))));
        assert.equal(results.filter(Boolean).length, 1);
        const winner = await store.getUserByCustomId("same");
        assert.equal(winner?.id, USER(`racer${results.indexOf(true)}`));
      });

      test("updateUser patches each field; undefined and unknown keys are ignored", async (store) => {
        await store.insertUser(user());
        await store.insertUser(user({ id: USER("b") }));
        await store.updateUser(USER("a"), { tokenGeneration: 7 });
        assert.deepEqual(await store.getUser(USER("a")), user({ tokenGeneration: 7 }));
        await store.updateUser(USER("a"), { deletedAt: 9_000 });
        assert.deepEqual(await store.getUser(USER("a")), user({ tokenGeneration: 7, deletedAt: 9_000 }));
        await store.updateUser(USER("a"), { deletedAt: null, createdAt: 42 });
        assert.deepEqual(await store.getUser(USER("a")), user({ tokenGeneration: 7, createdAt: 42 }));
        await store.updateUser(USER("a"), { tokenGeneration: undefined, id: "x" } as Partial<UserRecord>);
        await store.updateUser(USER("a"), {});
        assert.deepEqual(await store.getUser(USER("a")), user({ tokenGeneration: 7, createdAt: 42 }));
        assert.deepEqual(await store.getUser(USER("b")), user({ id: USER("b") }), "other rows untouched");
      });
    });

    describe("threads", () => {
      const full = thread({
        id: "19:full@thread.v2", topic: "Ünïcødé 💬 \"quoted\"", deletedAt: 7_000, metadata: { a: "1", "b c": "ä" },
        retention: { kind: "threadCreationDate", deleteThreadAfterDays: 30 }, nextSequence: 12, clock: 1_700_000_000_123,
        lastMessageAt: 1_700_000_000_000, expiresAt: 1_800_000_000_000,
      });

      test("round trip, optional fields null and set; lockThread reads the same", async (store) => {
        await store.insertThread(thread());
        await store.insertThread(full);
        await store.insertThread(thread({ id: "19:none@thread.v2", retention: { kind: "none" }, metadata: {} }));
        assert.deepEqual(await store.getThread(thread().id), thread());
        assert.deepEqual(await store.getThread(full.id), full);
        assert.deepEqual(await store.getThread("19:none@thread.v2"), thread({ id: "19:none@thread.v2", retention: { kind: "none" }, metadata: {} }));
        assert.equal(await store.getThread("19:missing@thread.v2"), undefined);
        assert.deepEqual(await store.lockThread(full.id), full, "outside a transaction lockThread is a read");
        const inTx = await store.transaction(async (tx) => [await tx.lockThread(full.id), await tx.lockThread("19:missing@thread.v2")]);
        assert.deepEqual(inTx, [full, undefined]);
        await assert.rejects(store.insertThread(thread()), "duplicate id");
      });

      test("updateThread patches each field, to a value and back to null", async (store) => {
        await store.insertThread(thread());
        await store.insertThread(thread({ id: "19:other@thread.v2" }));
        const patches: Partial<ThreadRecord>[] = [
          { topic: "New" }, { createdAt: 5 }, { createdBy: USER("b") }, { deletedAt: 8_000 }, { metadata: { k: "v" } },
          { retention: { kind: "threadCreationDate", deleteThreadAfterDays: 90 } }, { nextSequence: 5 }, { clock: 123_456 },
          { lastMessageAt: 4_000 }, { expiresAt: 9_999 },
        ];
        let expected = thread();
        for (const patch of patches) {
          await store.updateThread(expected.id, patch);
          expected = { ...expected, ...patch };
          assert.deepEqual(await store.getThread(expected.id), expected, JSON.stringify(patch));
        }
        const nulls: Partial<ThreadRecord> = { deletedAt: null, metadata: null, retention: null, lastMessageAt: null, expiresAt: null };
        await store.updateThread(expected.id, nulls);
        expected = { ...expected, ...nulls };
        assert.deepEqual(await store.getThread(expected.id), expected);
        await store.updateThread(expected.id, { topic: undefined });
        await store.updateThread(expected.id, {});
        assert.deepEqual(await store.getThread(expected.id), expected);
        // Several fields at once, inside a transaction.
        await store.transaction((tx) => tx.updateThread(expected.id, { nextSequence: 9, clock: 200_000, lastMessageAt: 200_000 }));
        assert.deepEqual(await store.getThread(expected.id), { ...expected, nextSequence: 9, clock: 200_000, lastMessageAt: 200_000 });
        assert.deepEqual(await store.getThread("19:other@thread.v2"), thread({ id: "19:other@thread.v2" }), "other rows untouched");
      });

      test("listThreadsForUser: activity second desc then creation asc, only the user's, limit, keyset after, minActivityAt", async (store) => {
        const me = USER("me");
        // activity = lastMessageAt ?? createdAt; ordered by its whole second, newest first, then creation order
        const specs: [string, number, number | null][] = [
          ["19:a@thread.v2", 1_000, null], // second 1
          ["19:b@thread.v2", 500, 3_000], // second 3
          ["19:c@thread.v2", 2_000, null], // second 2, created 2000 (tie with e on creation: id asc → c first)
          ["19:d@thread.v2", 100, 2_000], // second 2, created 100 → first of second 2
          ["19:e@thread.v2", 2_000, null], // second 2, created 2000
          ["19:f@thread.v2", 4_000, null], // not mine
        ];
        for (const [id, createdAt, lastMessageAt] of specs) {
          await store.insertThread(thread({ id, createdAt, lastMessageAt }));
          await store.upsertParticipant(participant({ threadId: id, userId: id === "19:f@thread.v2" ? USER("x") : me }));
        }
        await store.upsertParticipant(participant({ threadId: "19:a@thread.v2", userId: USER("x") }));
        const expected = ["19:b@thread.v2", "19:d@thread.v2", "19:c@thread.v2", "19:e@thread.v2", "19:a@thread.v2"];
        const all = await store.listThreadsForUser(me, { limit: 100 });
        assert.deepEqual(all.map((i) => i.thread.id), expected);
        assert.deepEqual(all.map((i) => i.activityAt), [3_000, 2_000, 2_000, 2_000, 1_000]);
        assert.deepEqual(all[0].thread, thread({ id: "19:b@thread.v2", createdAt: 500, lastMessageAt: 3_000 }));
        assert.deepEqual((await store.listThreadsForUser(me, { limit: 2 })).map((i) => i.thread.id), expected.slice(0, 2));
        // Keyset paging, page size 2, through ties.
        const paged: string[] = [];
        let after: { activityAt: number; createdAt: number; id: string } | undefined;
        for (;;) {
          const page = await store.listThreadsForUser(me, { limit: 2, after });
          paged.push(...page.map((i) => i.thread.id));
          if (page.length < 2) break;
          const last = page[page.length - 1];
          after = { activityAt: last.activityAt, createdAt: last.thread.createdAt, id: last.thread.id };
        }
        assert.deepEqual(paged, expected);
        assert.deepEqual((await store.listThreadsForUser(me, { limit: 10, after: { activityAt: 2_000, createdAt: 100, id: "19:d@thread.v2" } })).map((i) => i.thread.id),
          ["19:c@thread.v2", "19:e@thread.v2", "19:a@thread.v2"]);
        assert.deepEqual((await store.listThreadsForUser(me, { limit: 10, minActivityAt: 2_000 })).map((i) => i.thread.id), expected.slice(0, 4));
        assert.deepEqual((await store.listThreadsForUser(me, { limit: 10, minActivityAt: 2_001 })).map((i) => i.thread.id), ["19:b@thread.v2"]);
        assert.deepEqual(await store.listThreadsForUser(USER("nobody"), { limit: 10 }), []);
        // Activity moves with lastMessageAt.
        await store.updateThread("19:a@thread.v2", { lastMessageAt: 10_000 });
        assert.equal((await store.listThreadsForUser(me, { limit: 1 }))[0].thread.id, "19:a@thread.v2");
      });

      test("listThreadsForUser: threads active within one second come in creation order, also across pages (ACS recording)", async (store) => {
        const me = USER("me");
        // As recorded from ACS: created within one second, same lastMessageReceivedOn at second precision, first
        // created listed first, although the second one's activity is newer by the millisecond.
        const specs: [string, number, number | null][] = [
          ["19:z-first@thread.v2", 7_100, null], // second 7
          ["19:a-second@thread.v2", 7_900, null], // second 7, created later; its id sorts first
          ["19:m-old@thread.v2", 1_000, 7_950], // second 7 by its last message, created long before: first of second 7
          ["19:newer@thread.v2", 8_000, null], // second 8
          ["19:older@thread.v2", 6_999, null], // second 6
        ];
        for (const [id, createdAt, lastMessageAt] of specs) {
          await store.insertThread(thread({ id, createdAt, lastMessageAt }));
          await store.upsertParticipant(participant({ threadId: id, userId: me }));
        }
        const expected = ["19:newer@thread.v2", "19:m-old@thread.v2", "19:z-first@thread.v2", "19:a-second@thread.v2", "19:older@thread.v2"];
        assert.deepEqual((await store.listThreadsForUser(me, { limit: 10 })).map((i) => i.thread.id), expected);
        for (const size of [1, 2, 3]) {
          const paged: string[] = [];
          let after: { activityAt: number; createdAt: number; id: string } | undefined;
          for (let pages = 0; pages < 10; pages++) {
            const page = await store.listThreadsForUser(me, { limit: size, after });
            paged.push(...page.map((i) => i.thread.id));
            if (page.length < size) break;
            const last = page[page.length - 1];
            after = { activityAt: last.activityAt, createdAt: last.thread.createdAt, id: last.thread.id };
          }
          assert.deepEqual(paged, expected, `page size ${size}`);
        }
      });

      test("listExpiredThreads: expiresAt <= now, never null, limited", async (store) => {
        await store.insertThread(thread({ id: "19:a@thread.v2", expiresAt: 1_000 }));
        await store.insertThread(thread({ id: "19:b@thread.v2", expiresAt: 2_000 }));
        await store.insertThread(thread({ id: "19:c@thread.v2", expiresAt: 3_000 }));
        await store.insertThread(thread({ id: "19:d@thread.v2", expiresAt: null }));
        assert.deepEqual((await store.listExpiredThreads(2_000, 10)).sort(), ["19:a@thread.v2", "19:b@thread.v2"]);
        assert.deepEqual(await store.listExpiredThreads(999, 10), []);
        assert.equal((await store.listExpiredThreads(10_000, 2)).length, 2);
        assert.equal((await store.listExpiredThreads(10_000, 10)).length, 3);
        await store.purgeThread("19:a@thread.v2");
        assert.deepEqual((await store.listExpiredThreads(2_000, 10)).sort(), ["19:b@thread.v2"]);
      });

      test("deleteThreadContent drops messages and receipts, keeps thread and participants; purgeThread drops everything", async (store) => {
        for (const id of ["19:a@thread.v2", "19:b@thread.v2"]) {
          await store.insertThread(thread({ id }));
          await store.upsertParticipant(participant({ threadId: id }));
          await store.insertMessage(message({ threadId: id }));
          await store.upsertReadReceipt(receipt({ threadId: id }));
          await store.transaction((tx) => tx.appendEvent(event({ threadId: id })));
        }
        await store.deleteThreadContent("19:a@thread.v2");
        assert.ok(await store.getThread("19:a@thread.v2"));
        assert.equal(await store.countParticipants("19:a@thread.v2"), 1);
        assert.deepEqual(await store.listMessages("19:a@thread.v2", { limit: 10 }), []);
        assert.equal(await store.getReadReceipt("19:a@thread.v2", USER("a")), undefined);
        await store.headPosition(); // readers see every event committed before the head (PostgreSQL: older transactions ended)
        assert.equal((await store.readEvents(USER("a"), 0, 10)).length, 2, "events stay");

        const marker = await store.purgedThrough();
        // As the retention job does: purge, then record the deletion, in one transaction. The new event stays.
        const deletion = await store.transaction(async (tx) => {
          await tx.purgeThread("19:a@thread.v2");
          return tx.appendEvent(event({ threadId: "19:a@thread.v2", type: "chatThreadDeleted", createdAt: 9_000 }));
        });
        assert.equal(await store.getThread("19:a@thread.v2"), undefined);
        assert.equal(await store.countParticipants("19:a@thread.v2"), 0);
        await store.headPosition();
        assert.deepEqual((await store.readEvents(USER("a"), 0, 10)).map((e) => [e.threadId, e.type]),
          [["19:b@thread.v2", event().type], ["19:a@thread.v2", "chatThreadDeleted"]]);
        assert.equal(await store.headPosition(), deletion);
        assert.equal(await store.purgedThrough(), marker, "a thread purge does not move the retention marker");
        // The other thread is untouched.
        assert.ok(await store.getThread("19:b@thread.v2"));
        assert.equal(await store.countParticipants("19:b@thread.v2"), 1);
        assert.equal((await store.listMessages("19:b@thread.v2", { limit: 10 })).length, 1);
        assert.ok(await store.getReadReceipt("19:b@thread.v2", USER("a")));
        await store.purgeThread("19:missing@thread.v2"); // no-op
      });
    });

    describe("participants", () => {
      test("round trip, upsert keeps join order, skip/limit, ids, count, delete", async (store) => {
        await store.insertThread(thread());
        const b = participant({ userId: USER("b"), joinedAt: 2_000 });
        const a = participant({ userId: USER("a"), joinedAt: 2_000, displayName: "Ann ✓", shareHistoryTime: 1_500, metadata: { role: "x" } });
        const c = participant({ userId: USER("c"), joinedAt: 1_000 });
        const d = participant({ userId: USER("d"), joinedAt: 3_000 });
        // Insertion order b, a (same joinedAt), c (earlier), d.
        for (const p of [b, a, c, d]) await store.upsertParticipant(p);
        assert.deepEqual(await store.getParticipant(thread().id, USER("a")), a);
        assert.deepEqual(await store.getParticipant(thread().id, USER("b")), b);
        assert.equal(await store.getParticipant(thread().id, USER("zz")), undefined);
        assert.equal(await store.getParticipant("19:other@thread.v2", USER("a")), undefined);
        const order = [USER("c"), USER("b"), USER("a"), USER("d")];
        assert.deepEqual(await store.listParticipantIds(thread().id), order);
        assert.deepEqual((await store.listParticipants(thread().id, 0, 100)).map((p) => p.userId), order);
        assert.deepEqual(await store.listParticipants(thread().id, 1, 2), [b, a]);
        assert.deepEqual(await store.listParticipants(thread().id, 4, 2), []);
        assert.equal(await store.countParticipants(thread().id), 4);

        // Upsert updates displayName, shareHistoryTime and metadata; joinedAt and the order stay.
        const b2 = { ...b, displayName: "Bob", shareHistoryTime: 99, metadata: { m: "1" }, joinedAt: 9_999 };
        await store.upsertParticipant(b2);
        assert.deepEqual(await store.getParticipant(thread().id, USER("b")), { ...b2, joinedAt: 2_000 });
        await store.upsertParticipant({ ...b2, displayName: null, metadata: null });
        assert.deepEqual(await store.getParticipant(thread().id, USER("b")), { ...b2, displayName: null, metadata: null, joinedAt: 2_000 });
        assert.deepEqual(await store.listParticipantIds(thread().id), order);
        assert.equal(await store.countParticipants(thread().id), 4);

        await store.deleteParticipant(thread().id, USER("b"));
        await store.deleteParticipant(thread().id, USER("zz"));
        assert.deepEqual(await store.listParticipantIds(thread().id), [USER("c"), USER("a"), USER("d")]);
        assert.equal(await store.countParticipants(thread().id), 3);
        assert.equal(await store.countParticipants("19:other@thread.v2"), 0);
        assert.deepEqual(await store.listParticipantIds("19:other@thread.v2"), []);
      });

      test("participant windows: ids in join order with their shareHistoryTime and the latest, current inside transactions", async (store) => {
        await store.insertThread(thread());
        const windows = async () => {
          const w = await store.transaction((tx) => tx.listParticipantWindows(thread().id));
          return { ids: [...w.ids], shareHistoryTimes: [...w.shareHistoryTimes], latestShareHistoryTime: w.latestShareHistoryTime };
        };
        assert.deepEqual(await windows(), { ids: [], shareHistoryTimes: [], latestShareHistoryTime: Number.NEGATIVE_INFINITY });
        await store.upsertParticipant(participant({ userId: USER("b"), joinedAt: 2_000, shareHistoryTime: 0 }));
        await store.upsertParticipant(participant({ userId: USER("a"), joinedAt: 1_000, shareHistoryTime: 5_000 }));
        await store.upsertParticipant(participant({ userId: USER("c"), joinedAt: 3_000, shareHistoryTime: 1_500 }));
        assert.deepEqual(await windows(), { ids: [USER("a"), USER("b"), USER("c")], shareHistoryTimes: [5_000, 0, 1_500], latestShareHistoryTime: 5_000 });
        // The same list as listParticipantIds, inside a transaction and outside.
        await store.transaction(async (tx) => {
          assert.deepEqual([...(await tx.listParticipantWindows(thread().id)).ids], [...(await tx.listParticipantIds(thread().id))]);
        });
        assert.deepEqual([...(await store.listParticipantWindows(thread().id)).ids], [USER("a"), USER("b"), USER("c")]);
        // A changed shareHistoryTime and a removal show at once (a store that caches must forget).
        await store.upsertParticipant(participant({ userId: USER("a"), joinedAt: 1_000, shareHistoryTime: 100 }));
        assert.deepEqual(await windows(), { ids: [USER("a"), USER("b"), USER("c")], shareHistoryTimes: [100, 0, 1_500], latestShareHistoryTime: 1_500 });
        await store.deleteParticipant(thread().id, USER("c"));
        assert.deepEqual(await windows(), { ids: [USER("a"), USER("b")], shareHistoryTimes: [100, 0], latestShareHistoryTime: 100 });
        // A rolled-back change leaves no trace.
        await assert.rejects(store.transaction(async (tx) => {
          await tx.upsertParticipant(participant({ userId: USER("d"), joinedAt: 4_000, shareHistoryTime: 9_000 }));
          assert.equal((await tx.listParticipantWindows(thread().id)).latestShareHistoryTime, 9_000);
          throw new Error("roll back");
        }), /roll back/);
        assert.deepEqual(await windows(), { ids: [USER("a"), USER("b")], shareHistoryTimes: [100, 0], latestShareHistoryTime: 100 });
      });

      test("a transaction that waited for lockThread sees what the lock's previous holder committed (thread and participants)", async (store) => {
        // The send path reads the participants right after locking (a store may read them with the lock): they
        // must be read after the lock was granted, or a send would miss a participant added just before it.
        await store.insertThread(thread());
        await store.upsertParticipant(participant({ userId: USER("a"), joinedAt: 1_000 }));
        let second: Promise<{ ids: string[]; nextSequence: number | undefined }> | undefined;
        await store.transaction(async (tx) => {
          const t = await tx.lockThread(thread().id);
          await tx.upsertParticipant(participant({ userId: USER("b"), joinedAt: 2_000 }));
          await tx.updateThread(thread().id, { nextSequence: t!.nextSequence + 1 });
          second = store.transaction(async (tx2) => {
            const locked = await tx2.lockThread(thread().id);
            return { ids: [...(await tx2.listParticipantWindows(thread().id)).ids], nextSequence: locked?.nextSequence };
          });
          second.catch(() => undefined);
          await sleep(100); // the second transaction waits for the lock meanwhile (where writers run concurrently)
        });
        assert.deepEqual(await second, { ids: [USER("a"), USER("b")], nextSequence: thread().nextSequence + 1 });
      });
    });

    describe("messages", () => {
      const full = message({
        id: "2000", sequence: 2, type: "participantAdded", version: 2_500, createdAt: 2_000, editedAt: 2_400, deletedAt: 2_500,
        sender: USER("a"), senderDisplayName: "Ann", metadata: { k: "v", "ü": "€" },
        body: {
          message: "<p>hé 💬 \u0000 \"q\" \\ </p>", topic: "t", initiator: USER("a"),
          participants: [
            { userId: USER("b"), displayName: null, shareHistoryTime: 0, metadata: null },
            { userId: USER("a"), displayName: "Ann", shareHistoryTime: 5, metadata: { x: "y" } },
          ],
        },
      });

      test("round trip, optional fields null and set; duplicate id or sequence is rejected", async (store) => {
        await store.insertThread(thread());
        await store.insertMessage(message());
        await store.insertMessage(full);
        await store.insertMessage(message({ id: "3000", sequence: 3, version: 3_000, type: "html", senderDisplayName: "", body: {} }));
        assert.deepEqual(await store.getMessage(thread().id, "1000"), message());
        assert.deepEqual(await store.getMessage(thread().id, "2000"), full);
        assert.deepEqual(await store.getMessage(thread().id, "3000"), message({ id: "3000", sequence: 3, version: 3_000, type: "html", senderDisplayName: "", body: {} }));
        assert.equal(await store.getMessage(thread().id, "9999"), undefined);
        assert.equal(await store.getMessage("19:other@thread.v2", "1000"), undefined);
        await assert.rejects(store.insertMessage(message({ sequence: 50, version: 50_000 })), "duplicate id");
        await assert.rejects(store.insertMessage(message({ id: "4000", version: 4_000, sequence: 2 })), "duplicate (thread, sequence)");
        // The same sequence in another thread is fine.
        await store.insertMessage(message({ threadId: "19:other@thread.v2" }));
      });

      test("updateMessage patches each field, and back to null", async (store) => {
        await store.insertMessage(message());
        await store.insertMessage(message({ id: "2000", sequence: 2, version: 2_000 }));
        const patches: Partial<MessageRecord>[] = [
          { body: { message: "edited" } }, { editedAt: 1_500 }, { version: 1_500 }, { metadata: { a: "b" } }, { deletedAt: 1_600 },
        ];
        let expected = message();
        for (const patch of patches) {
          await store.updateMessage(expected.threadId, expected.id, patch);
          expected = { ...expected, ...patch };
          assert.deepEqual(await store.getMessage(expected.threadId, expected.id), expected, JSON.stringify(patch));
        }
        await store.updateMessage(expected.threadId, expected.id, { editedAt: null, deletedAt: null, metadata: null, version: undefined });
        await store.updateMessage(expected.threadId, expected.id, {});
        expected = { ...expected, editedAt: null, deletedAt: null, metadata: null };
        assert.deepEqual(await store.getMessage(expected.threadId, expected.id), expected);
        assert.deepEqual(await store.getMessage(expected.threadId, "2000"), message({ id: "2000", sequence: 2, version: 2_000 }));
      });

      test("listMessages: version desc, beforeVersion (exclusive), minVersion, minCreatedAt, limit", async (store) => {
        // Message i: created at i*1000, version i*1000 unless edited later.
        for (let i = 1; i <= 6; i++) {
          await store.insertMessage(message({ id: String(i * 1_000), sequence: i, createdAt: i * 1_000, version: i * 1_000 }));
        }
        await store.insertMessage(message({ threadId: "19:other@thread.v2", id: "99", version: 99_000 }));
        await store.updateMessage(thread().id, "2000", { editedAt: 10_000, version: 10_000 }); // message 2 is now the newest version
        const ids = async (q: Parameters<StoreOps["listMessages"]>[1]) => (await store.listMessages(thread().id, q)).map((m) => m.id);
        assert.deepEqual(await ids({ limit: 100 }), ["2000", "6000", "5000", "4000", "3000", "1000"]);
        assert.deepEqual(await ids({ limit: 2 }), ["2000", "6000"]);
        assert.deepEqual(await ids({ limit: 100, beforeVersion: 10_000 }), ["6000", "5000", "4000", "3000", "1000"]);
        assert.deepEqual(await ids({ limit: 2, beforeVersion: 5_000 }), ["4000", "3000"]);
        assert.deepEqual(await ids({ limit: 100, minVersion: 5_000 }), ["2000", "6000", "5000"]);
        assert.deepEqual(await ids({ limit: 100, minCreatedAt: 3_000 }), ["6000", "5000", "4000", "3000"]);
        assert.deepEqual(await ids({ limit: 100, minCreatedAt: 2_000, minVersion: 4_000, beforeVersion: 10_000 }), ["6000", "5000", "4000"]);
        assert.deepEqual(await ids({ limit: 100, beforeVersion: 1_000 }), []);
        // Keyset paging with beforeVersion visits everything once.
        const seen: string[] = [];
        let before: number | undefined;
        for (;;) {
          const page = await store.listMessages(thread().id, { limit: 4, beforeVersion: before });
          seen.push(...page.map((m) => m.id));
          if (page.length < 4) break;
          before = page[page.length - 1].version;
        }
        assert.deepEqual(seen, ["2000", "6000", "5000", "4000", "3000", "1000"]);
        assert.deepEqual(await store.listMessages("19:missing@thread.v2", { limit: 10 }), []);
      });

      test("listMessages: minCreatedAt is also the lower end of the version range (version >= createdAt), so a future one reads nothing", async (store) => {
        for (let i = 1; i <= 50; i++) {
          await store.insertMessage(message({ id: String(i * 1_000), sequence: i, createdAt: i * 1_000, version: i * 1_000 }));
        }
        // A record that breaks the invariant (version below createdAt) exists only to show where the range starts:
        // created at 60 000, it matches minCreatedAt 55 000, but its version (54 000) lies below the range.
        await store.insertMessage(message({ id: "60000", sequence: 60, createdAt: 60_000, version: 54_000 }));
        const ids = async (q: Parameters<StoreOps["listMessages"]>[1]) => (await store.listMessages(thread().id, q)).map((m) => m.id);
        assert.deepEqual(await ids({ limit: 100, minCreatedAt: 55_000 }), []);
        assert.deepEqual(await ids({ limit: 100, minCreatedAt: 48_000 }), ["60000", "50000", "49000", "48000"]);
        assert.deepEqual(await ids({ limit: 100, minCreatedAt: 10_000_000 }), []);
        // minVersion still bounds when it is the greater one.
        assert.deepEqual(await ids({ limit: 100, minCreatedAt: 1_000, minVersion: 49_000 }), ["60000", "50000", "49000"]);
      });
    });

    describe("read receipts", () => {
      test("upsert inserts then replaces; newest first with skip/limit", async (store) => {
        await store.upsertReadReceipt(receipt());
        assert.deepEqual(await store.getReadReceipt(thread().id, USER("a")), receipt());
        const moved = receipt({ messageId: "3000", sequence: 3, readAt: 5_000 });
        await store.upsertReadReceipt(moved);
        assert.deepEqual(await store.getReadReceipt(thread().id, USER("a")), moved);
        assert.equal(await store.getReadReceipt(thread().id, USER("zz")), undefined);
        await store.upsertReadReceipt(receipt({ userId: USER("b"), readAt: 3_000 }));
        await store.upsertReadReceipt(receipt({ userId: USER("c"), readAt: 4_000 }));
        await store.upsertReadReceipt(receipt({ userId: USER("d"), readAt: 9_000, threadId: "19:other@thread.v2" }));
        const all = await store.listReadReceipts(thread().id, 0, 100);
        assert.deepEqual(all.map((r) => r.userId), [USER("a"), USER("c"), USER("b")]);
        assert.deepEqual(all[0], moved);
        assert.deepEqual((await store.listReadReceipts(thread().id, 1, 1)).map((r) => r.userId), [USER("c")]);
        assert.deepEqual(await store.listReadReceipts(thread().id, 3, 10), []);
      });

      test("minCreatedAt keeps only receipts of messages created at or after it; skip and limit count those", async (store) => {
        for (const [id, createdAt] of [["1000", 1_000], ["2000", 2_000], ["3000", 3_000]] as const) {
          await store.insertMessage(message({ id, sequence: createdAt / 1_000, createdAt, version: createdAt }));
        }
        await store.upsertReadReceipt(receipt({ userId: USER("a"), messageId: "1000", sequence: 1, readAt: 9_000 }));
        await store.upsertReadReceipt(receipt({ userId: USER("b"), messageId: "2000", sequence: 2, readAt: 8_000 }));
        await store.upsertReadReceipt(receipt({ userId: USER("c"), messageId: "3000", sequence: 3, readAt: 7_000 }));
        const users = async (skip: number, limit: number, minCreatedAt?: number) => (await store.listReadReceipts(thread().id, skip, limit, minCreatedAt)).map((r) => r.userId);
        assert.deepEqual(await users(0, 10), [USER("a"), USER("b"), USER("c")]);
        assert.deepEqual(await users(0, 10, 2_000), [USER("b"), USER("c")]);
        assert.deepEqual(await users(1, 1, 2_000), [USER("c")]);
        assert.deepEqual(await users(0, 10, 3_001), []);
      });
    });

    describe("thread summaries (unread counts and last message)", () => {
      const T2 = "19:t2@thread.v2";
      const summarize = async (store: Store, userId = USER("a"), threadIds = [thread().id, T2], countLimit = 100) =>
        new Map((await store.summarizeThreadsForUser({ userId, threadIds, types: ["text", "html"], countLimit })).map((s) => [s.threadId, s]));
      async function seed(store: Store) {
        await store.insertThread(thread());
        await store.insertThread(thread({ id: T2 }));
        await store.upsertParticipant(participant());
        await store.upsertParticipant(participant({ userId: USER("b") }));
        await store.upsertParticipant(participant({ threadId: T2 }));
        // seq 1: system; 2: b; 3: a (own); 4: b mentions a; 5: b deleted; 6: b html mentions c
        await store.insertMessage(message({ id: "1000", sequence: 1, type: "participantAdded", body: { participants: [] } }));
        await store.insertMessage(message({ id: "2000", sequence: 2, createdAt: 2_000, version: 2_000, sender: USER("b") }));
        await store.insertMessage(message({ id: "3000", sequence: 3, createdAt: 3_000, version: 3_000, sender: USER("a") }));
        await store.insertMessage(message({ id: "4000", sequence: 4, createdAt: 4_000, version: 4_000, sender: USER("b"), type: "html", body: { message: "x", mentions: [USER("a")] } }));
        await store.insertMessage(message({ id: "5000", sequence: 5, createdAt: 5_000, version: 5_500, sender: USER("b"), deletedAt: 5_500, body: { message: "" } }));
        await store.insertMessage(message({ id: "6000", sequence: 6, createdAt: 6_000, version: 6_000, sender: USER("b"), type: "html", body: { message: "y", mentions: [USER("c")] } }));
      }

      test("counts others' countable messages after the receipt, mentions of the user, and the newest countable message", async (store) => {
        await seed(store);
        let s = await summarize(store);
        assert.equal(s.size, 2);
        assert.deepEqual({ ...s.get(thread().id)!, lastMessage: s.get(thread().id)!.lastMessage?.id }, { threadId: thread().id, unreadCount: 3, unreadMentionCount: 1, lastMessage: "6000" });
        assert.deepEqual(s.get(T2), { threadId: T2, unreadCount: 0, unreadMentionCount: 0, lastMessage: null });
        assert.deepEqual(s.get(thread().id)!.lastMessage?.body, { message: "y", mentions: [USER("c")] });
        // The receipt moves the start: only messages with a greater sequence count.
        await store.upsertReadReceipt(receipt({ messageId: "4000", sequence: 4 }));
        s = await summarize(store);
        assert.equal(s.get(thread().id)!.unreadCount, 1);
        assert.equal(s.get(thread().id)!.unreadMentionCount, 0);
        // For b: a's message 3 only (b's own do not count), and no mention.
        const b = await summarize(store, USER("b"));
        assert.deepEqual([...b.keys()], [thread().id]);
        assert.equal(b.get(thread().id)!.unreadCount, 1);
      });

      test("a deleted newest message is skipped; shareHistoryTime bounds counts and the last message; countLimit caps", async (store) => {
        await seed(store);
        await store.updateMessage(thread().id, "6000", { deletedAt: 7_000, version: 7_000 });
        let s = await summarize(store);
        assert.equal(s.get(thread().id)!.lastMessage?.id, "4000");
        assert.equal(s.get(thread().id)!.unreadCount, 2);
        await store.upsertParticipant(participant({ shareHistoryTime: 3_500 }));
        s = await summarize(store);
        assert.equal(s.get(thread().id)!.unreadCount, 1);
        assert.equal(s.get(thread().id)!.unreadMentionCount, 1);
        await store.upsertParticipant(participant({ shareHistoryTime: 9_000 }));
        s = await summarize(store);
        assert.deepEqual(s.get(thread().id), { threadId: thread().id, unreadCount: 0, unreadMentionCount: 0, lastMessage: null });
        await store.upsertParticipant(participant({ shareHistoryTime: 0 }));
        assert.equal((await summarize(store, USER("a"), [thread().id], 1)).get(thread().id)!.unreadCount, 1);
        assert.equal((await store.summarizeThreadsForUser({ userId: USER("a"), threadIds: [], types: ["text"], countLimit: 5 })).length, 0);
        // A removed participant's threads are not summarized.
        await store.deleteParticipant(thread().id, USER("a"));
        assert.deepEqual([...(await summarize(store)).keys()], [T2]);
      });
    });

    describe("idempotency", () => {
      test("insert, get, duplicate rejected, deleteIdempotencyBefore is exclusive and counts", async (store) => {
        const r = { scope: "sendMessage:u", key: "k1", fingerprint: "f", status: 201, body: "{\"id\":\"1\"}", createdAt: 1_000 };
        await store.insertIdempotency(r);
        await store.insertIdempotency({ ...r, key: "k2", createdAt: 2_000, body: "" });
        await store.insertIdempotency({ ...r, scope: "other", createdAt: 3_000 });
        assert.deepEqual(await store.getIdempotency(r.scope, r.key), r);
        assert.deepEqual(await store.getIdempotency(r.scope, "k2"), { ...r, key: "k2", createdAt: 2_000, body: "" });
        assert.equal(await store.getIdempotency(r.scope, "zz"), undefined);
        await assert.rejects(store.insertIdempotency(r), IdempotencyConflictError);
        await assert.rejects(store.transaction((tx) => tx.insertIdempotency({ ...r, fingerprint: "other" })), IdempotencyConflictError);
        assert.equal(await store.deleteIdempotencyBefore(2_000), 1);
        assert.equal(await store.getIdempotency(r.scope, r.key), undefined);
        assert.ok(await store.getIdempotency(r.scope, "k2"));
        assert.equal(await store.deleteIdempotencyBefore(2_000), 0);
        assert.equal(await store.deleteIdempotencyBefore(10_000), 2);
      });

      test("racing inserts of one key: one commits, every other fails with IdempotencyConflictError and writes nothing", async (store) => {
        const racers = 6;
        let read = 0;
        const results = await Promise.allSettled(Array.from({ length: racers }, (_, i) => store.transaction(async (tx) => {
          const before = await tx.getIdempotency("createChatThread:u", "k");
          // Let every racer read "no record" first where transactions do run together (not on one writer).
          read++;
          const deadline = Date.now() + 200;
          while (read < racers && Date.now() < deadline) await sleep(5);
          await tx.insertUser(user({ id: USER(`racer${i}`) }));
          await tx.insertIdempotency({ scope: "createChatThread:u", key: "k", fingerprint: "f", status: 0, body: String(i), createdAt: 1_000 });
          return before;
        })));
        const won = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
        assert.equal(won.length, 1, JSON.stringify(results.map((r) => r.status)));
        for (const r of results) if (r.status === "rejected") assert.ok(r.reason instanceof IdempotencyConflictError, String(r.reason));
        assert.equal((await store.getIdempotency("createChatThread:u", "k"))?.body, String(won[0]));
        for (let i = 0; i < racers; i++) assert.equal((await store.getUser(USER(`racer${i}`))) !== undefined, i === won[0], `racer ${i}`);
      });
    });

    describe("endpoint cursors (Trouter resume)", () => {
      test("per (user, endpoint): saved, only moves forward unless replaced, another user's endpoint id is another cursor, deleted by age", async (store) => {
        const [a, b] = [USER("ca"), USER("cb")];
        assert.equal(await store.getEndpointCursor(a, "ep1"), undefined);
        await store.saveEndpointCursor(a, "ep1", 5, 1_000);
        assert.equal(await store.getEndpointCursor(a, "ep1"), 5);
        assert.equal(await store.getEndpointCursor(b, "ep1"), undefined, "keyed by user: b's ep1 is not a's");
        assert.equal(await store.getEndpointCursor(a, "ep2"), undefined);
        await store.saveEndpointCursor(a, "ep1", 3, 2_000);
        assert.equal(await store.getEndpointCursor(a, "ep1"), 5, "a late, lower save does not move it back");
        await store.saveEndpointCursor(a, "ep1", 9, 2_000);
        assert.equal(await store.getEndpointCursor(a, "ep1"), 9);
        await store.saveEndpointCursor(a, "ep1", 2, 3_000, true);
        assert.equal(await store.getEndpointCursor(a, "ep1"), 2, "replace sets it");
        assert.equal(await store.getEndpointCursor(a, "ep1", 3_000), 2, "saved at 3000: at or after savedSince");
        assert.equal(await store.getEndpointCursor(a, "ep1", 3_001), undefined, "saved before savedSince");
        await store.transaction((tx) => tx.saveEndpointCursor(b, "ep1", 7, 1_500));
        assert.equal(await store.getEndpointCursor(b, "ep1"), 7);
        assert.equal(await store.getEndpointCursor(a, "ep1"), 2);
        assert.equal(await store.deleteEndpointCursorsBefore(3_000), 1, "b's (saved at 1500) is older; a's was stamped 3000");
        assert.equal(await store.getEndpointCursor(b, "ep1"), undefined);
        assert.equal(await store.getEndpointCursor(a, "ep1"), 2);
        assert.equal(await store.deleteEndpointCursorsBefore(3_001), 1);
        assert.equal(await store.getEndpointCursor(a, "ep1"), undefined);
      });

      test("trimEndpointCursors keeps a user's newest cursors and the named one, and touches no other user's", async (store) => {
        const [a, b] = [USER("ta"), USER("tb")];
        for (let i = 0; i < 5; i++) await store.saveEndpointCursor(a, `e${i}`, i, 1_000 + i);
        await store.saveEndpointCursor(b, "e0", 1, 1);
        assert.equal(await store.trimEndpointCursors(a, 3, "e0"), 2, "keeps e0 (named), e4 and e3 (newest)");
        const left = [];
        for (let i = 0; i < 5; i++) if ((await store.getEndpointCursor(a, `e${i}`)) !== undefined) left.push(`e${i}`);
        assert.deepEqual(left, ["e0", "e3", "e4"]);
        assert.equal(await store.getEndpointCursor(b, "e0"), 1);
        assert.equal(await store.trimEndpointCursors(a, 3, "e0"), 0);
      });
    });

    describe("events", () => {
      test("positions strictly increase; readEvents filters by recipient and position; limit; deleteEventsBefore", async (store) => {
        const a = USER("a"), b = USER("b");
        const positions: number[] = [];
        positions.push(await store.transaction((tx) => tx.appendEvent(event({ recipients: [a, b], payload: { n: 1, nested: { x: [1, "ü"] } }, createdAt: 1_000 }))));
        positions.push(await store.appendEvent(event({ recipients: [b], payload: { n: 2 }, createdAt: 2_000 })));
        positions.push(...await store.transaction(async (tx) => [
          await tx.appendEvent(event({ recipients: [a], payload: { n: 3 }, createdAt: 3_000, type: "chatThreadDeleted", threadId: "19:x@thread.v2" })),
          await tx.appendEvent(event({ recipients: [], payload: { n: 4 }, createdAt: 4_000 })),
        ]));
        positions.push(await store.transaction((tx) => tx.appendEvent(event({ recipients: [a], payload: "plain", createdAt: 5_000 }))));
        for (let i = 1; i < positions.length; i++) assert.ok(positions[i] > positions[i - 1], `positions increase: ${positions}`);
        assert.ok(positions[0] > 0);

        await store.headPosition(); // readers see every event committed before the head (PostgreSQL: older transactions ended)
        const forA = await store.readEvents(a, 0, 100);
        assert.deepEqual(forA.map((e) => e.position), [positions[0], positions[2], positions[4]]);
        assert.deepEqual(forA[0], { position: positions[0], threadId: thread().id, type: "chatMessageReceived", payload: { n: 1, nested: { x: [1, "ü"] } }, createdAt: 1_000 });
        assert.deepEqual(forA[1], { position: positions[2], threadId: "19:x@thread.v2", type: "chatThreadDeleted", payload: { n: 3 }, createdAt: 3_000 });
        assert.equal(forA[2].payload, "plain");
        assert.deepEqual((await store.readEvents(b, 0, 100)).map((e) => e.position), [positions[0], positions[1]]);
        assert.deepEqual((await store.readEvents(a, positions[0], 100)).map((e) => e.position), [positions[2], positions[4]]);
        assert.deepEqual((await store.readEvents(a, positions[0], 1)).map((e) => e.position), [positions[2]]);
        assert.deepEqual(await store.readEvents(a, positions[4], 100), []);
        assert.deepEqual(await store.readEvents(USER("nobody"), 0, 100), []);
        // The whole stream, with recipients, in position order (a node's shared read).
        const stream = await store.readStream(0, 100);
        assert.deepEqual(stream.map((e) => [e.position, e.recipients]), [[positions[0], [a, b]], [positions[1], [b]], [positions[2], [a]], [positions[3], []], [positions[4], [a]]]);
        assert.deepEqual(stream[0].payload, { n: 1, nested: { x: [1, "ü"] } });
        assert.deepEqual((await store.readStream(positions[1], 2)).map((e) => e.position), [positions[2], positions[3]]);
        assert.deepEqual(await store.readStream(positions[4], 100), []);

        assert.equal(await store.deleteEventsBefore(3_000), 2);
        assert.deepEqual((await store.readEvents(a, 0, 100)).map((e) => e.position), [positions[2], positions[4]]);
        assert.deepEqual(await store.readEvents(b, 0, 100), []);
        assert.equal(await store.deleteEventsBefore(3_000), 0);
        // Positions never go back, even after deletes.
        const next = await store.appendEvent(event({ recipients: [a] }));
        assert.ok(next > positions[4]);
      });

      test("headPosition: 0 when empty, the highest committed position, never an uncommitted one, never below the marker", async (store) => {
        const a = USER("a");
        assert.equal(await store.headPosition(), 0);
        assert.equal(await store.purgedThrough(), 0);
        const p1 = await store.appendEvent(event({ recipients: [a], createdAt: 1_000 }));
        const p2 = await store.appendEvent(event({ recipients: [USER("b")], createdAt: 2_000 }));
        assert.equal(await store.headPosition(), p2, "the head is global, whoever the recipients");
        assert.equal(await store.transaction((tx) => tx.headPosition()), p2);
        // An append in flight is not the head until it commits; a rolled-back one never is.
        const p3 = await store.transaction(async (tx) => {
          const p = await tx.appendEvent(event({ recipients: [a], createdAt: 3_000 }));
          assert.equal(await store.headPosition(), p2);
          return p;
        });
        assert.equal(await store.headPosition(), p3);
        await assert.rejects(store.transaction(async (tx) => {
          await tx.appendEvent(event({ createdAt: 4_000 }));
          throw new Error("boom");
        }), /boom/);
        assert.equal(await store.headPosition(), p3);
        assert.ok(p1 < p2 && p2 < p3);
        // Deleting every event keeps the head where it was (through the retention marker).
        assert.equal(await store.deleteEventsBefore(10_000), 3);
        assert.equal(await store.headPosition(), p3);
        const p4 = await store.appendEvent(event({ createdAt: 20_000 }));
        assert.ok(p4 > p3);
        assert.equal(await store.headPosition(), p4);
      });

      test("retention marker: deleteEventsBefore raises purgedThrough to the highest position it deleted, never lowers it", async (store) => {
        const a = USER("a");
        const p1 = await store.appendEvent(event({ recipients: [a], createdAt: 1_000 }));
        const p2 = await store.appendEvent(event({ recipients: [a], createdAt: 2_000 }));
        // Out of time order: a later position with an older time (another node's clock) is purged first.
        const p3 = await store.appendEvent(event({ recipients: [a], createdAt: 500 }));
        const p4 = await store.appendEvent(event({ recipients: [a], createdAt: 4_000, threadId: "19:x@thread.v2" }));
        await store.headPosition(); // readers see every event committed before the head (PostgreSQL: older transactions ended)
        assert.equal(await store.purgedThrough(), 0);
        assert.equal(await store.deleteEventsBefore(600), 1);
        assert.equal(await store.purgedThrough(), p3);
        assert.deepEqual((await store.readEvents(a, 0, 100)).map((e) => e.position), [p1, p2, p4]);
        assert.equal(await store.deleteEventsBefore(1_500), 1);
        assert.equal(await store.purgedThrough(), p3, "deleting p1 < p3 does not lower the marker");
        assert.equal(await store.deleteEventsBefore(1_500), 0);
        assert.equal(await store.purgedThrough(), p3);
        // A thread purge deletes its events without moving the marker.
        await store.purgeThread("19:x@thread.v2");
        assert.deepEqual((await store.readEvents(a, 0, 100)).map((e) => e.position), [p2]);
        assert.equal(await store.purgedThrough(), p3);
        assert.equal(await store.headPosition(), p3, "the head never goes below the marker");
        assert.ok(p2 < p3 && p3 < p4);
        // Survives a migrate() (the marker is stored, not computed).
        await store.migrate();
        assert.equal(await store.purgedThrough(), p3);
      });

      test("an event appended in a rolled-back transaction is never visible", async (store) => {
        await assert.rejects(store.transaction(async (tx) => {
          await tx.appendEvent(event());
          throw new Error("boom");
        }), /boom/);
        assert.deepEqual(await store.readEvents(USER("a"), 0, 100), []);
        const p = await store.appendEvent(event());
        await store.headPosition(); // readers see every event committed before the head (PostgreSQL: older transactions ended)
        assert.deepEqual((await store.readEvents(USER("a"), 0, 100)).map((e) => e.position), [p]);
      });
    });

    describe("directory (DirectoryOps, when implemented)", () => {
      it("profiles: case-insensitive name lookup and uniqueness, listing by name", (t) => withStore(async (store) => {
        if (!isDirectory(store)) return t.skip("the store does not implement DirectoryOps");
        await store.insertProfile({ userId: USER("a"), displayName: "bob", createdAt: 1 });
        await store.insertProfile({ userId: USER("b"), displayName: "Alice", createdAt: 2 });
        await store.insertProfile({ userId: USER("c"), displayName: "carol", createdAt: 3 });
        assert.deepEqual(await store.findProfileByName("ALICE"), { userId: USER("b"), displayName: "Alice", createdAt: 2 });
        assert.equal(await store.findProfileByName("dave"), undefined);
        await assert.rejects(store.insertProfile({ userId: USER("d"), displayName: "BOB", createdAt: 4 }));
        assert.deepEqual((await store.listProfiles(10)).map((p) => p.displayName), ["Alice", "bob", "carol"]);
        assert.deepEqual((await store.listProfiles(1, "ALICE")).map((p) => p.displayName), ["bob"]);
        assert.deepEqual((await store.listProfiles(10, "bob")).map((p) => p.displayName), ["carol"]);
      }));
    });

    describe("transactions", () => {
      test("results are returned and writes are visible to plain reads once resolved", async (store) => {
        const result = await store.transaction(async (tx) => {
          await tx.insertUser(user());
          await tx.insertThread(thread());
          assert.deepEqual(await tx.getUser(USER("a")), user(), "a transaction reads its own writes");
          return { ok: 42 };
        });
        assert.deepEqual(result, { ok: 42 });
        assert.deepEqual(await store.getUser(USER("a")), user());
        assert.deepEqual(await store.getThread(thread().id), thread());
        assert.equal(await store.transaction(async () => undefined), undefined);
      });

      test("a throwing transaction writes nothing and rethrows its error", async (store) => {
        await store.insertThread(thread());
        const error = new Error("rule broken");
        const thrown = await store.transaction(async (tx) => {
          await tx.insertUser(user());
          await tx.updateThread(thread().id, { topic: "changed", nextSequence: 50 });
          await tx.insertMessage(message());
          await tx.upsertParticipant(participant());
          await tx.appendEvent(event());
          throw error;
        }).catch((e: unknown) => e);
        assert.equal(thrown, error);
        assert.equal(await store.getUser(USER("a")), undefined);
        assert.deepEqual(await store.getThread(thread().id), thread());
        assert.equal(await store.getMessage(thread().id, "1000"), undefined);
        assert.equal(await store.countParticipants(thread().id), 0);
        assert.deepEqual(await store.readEvents(USER("a"), 0, 10), []);
      });

      test("a failing statement fails the transaction and undoes its earlier writes", async (store) => {
        await store.insertUser(user({ id: USER("taken") }));
        await assert.rejects(store.transaction(async (tx) => {
          await tx.insertUser(user({ id: USER("new") }));
          await tx.insertUser(user({ id: USER("taken") }));
        }));
        assert.equal(await store.getUser(USER("new")), undefined);
      });

      test("a failing write fails its transaction even when nothing is read after it (stores may defer writes)", async (store) => {
        await store.insertThread(thread());
        await store.insertMessage(message());
        // The duplicate insert is the last statement: the transaction must still reject and write nothing.
        await assert.rejects(store.transaction(async (tx) => {
          await tx.updateThread(thread().id, { topic: "changed" });
          await tx.insertMessage(message());
        }));
        assert.equal((await store.getThread(thread().id))?.topic, thread().topic);
        // Followed by a read and more writes: the transaction rejects, nothing of it is written.
        await assert.rejects(store.transaction(async (tx) => {
          await tx.insertMessage(message());
          await tx.getThread(thread().id);
          await tx.updateThread(thread().id, { topic: "changed again" });
          await tx.appendEvent(event());
          return "should not commit";
        }));
        assert.equal((await store.getThread(thread().id))?.topic, thread().topic);
        await store.headPosition();
        assert.deepEqual(await store.readEvents(USER("a"), 0, 10), []);
        // The store is usable afterwards.
        await store.transaction((tx) => tx.updateThread(thread().id, { topic: "ok" }));
        assert.equal((await store.getThread(thread().id))?.topic, "ok");
      });

      test("transactions started together: the failing one writes nothing, the others commit", async (store) => {
        const outcomes = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => store.transaction(async (tx) => {
          await tx.insertUser(user({ id: USER(i) }));
          if (i % 4 === 1) throw new Error(`fail ${i}`);
          return i;
        })));
        for (let i = 0; i < 12; i++) {
          const outcome = outcomes[i];
          if (i % 4 === 1) {
            assert.equal(outcome.status, "rejected");
            assert.match(String((outcome as PromiseRejectedResult).reason), new RegExp(`fail ${i}`));
            assert.equal(await store.getUser(USER(i)), undefined);
          } else {
            assert.deepEqual(outcome, { status: "fulfilled", value: i });
            assert.deepEqual(await store.getUser(USER(i)), user({ id: USER(i) }));
          }
        }
      });
    });

    describe("concurrency", () => {
      async function concurrentAppends(stores: Store[], writers: number, perWriter: number) {
        const threadId = "19:busy@thread.v2";
        await stores[0].insertThread(thread({ id: threadId }));
        const results = await Promise.all(Array.from({ length: writers }, async (_, w) => {
          const store = stores[w % stores.length];
          const mine: { sequence: number; position: number }[] = [];
          for (let i = 0; i < perWriter; i++) mine.push(await appendMessage(store, threadId, [USER("r")], i % 3));
          return mine;
        }));
        const total = writers * perWriter;
        const sequences = results.flat().map((r) => r.sequence).sort((x, y) => x - y);
        assert.deepEqual(sequences, Array.from({ length: total }, (_, i) => i + 1), "sequences are exactly 1..N");
        const t = await stores[stores.length - 1].getThread(threadId);
        assert.equal(t?.nextSequence, total + 1);
        const messages = await stores[0].listMessages(threadId, { limit: total + 10 });
        assert.equal(messages.length, total);
        assert.deepEqual(messages.map((m) => m.sequence).sort((x, y) => x - y), sequences);
        // The thread lock orders whole transactions, so stream positions follow the sequence numbers.
        await stores[0].headPosition();
        const events = await stores[0].readEvents(USER("r"), 0, total + 10);
        assert.deepEqual(events.map((e) => (e.payload as { sequence: number }).sequence), sequences);
      }

      test("8 writers x 50 appends on one thread: sequences exactly 1..400", async (store) => {
        await concurrentAppends([store], 8, 50);
      });

      it("two nodes on one database: 8 writers x 50 appends across both, sequences exactly 1..400", async (t) => {
        const opened = await open();
        try {
          if (!opened.reopen) return t.skip("the backend cannot open a second store");
          const other = await opened.reopen();
          await Promise.all([opened.store.migrate(), other.migrate()]);
          await concurrentAppends([opened.store, other], 8, 50);
        } finally {
          await opened.cleanup();
        }
      });

      /**
       * Writers on different threads (no thread lock orders them) append with work after the append, so their
       * commits interleave; a reader polls readEvents meanwhile. Whatever it has seen must be a prefix of the
       * final stream: an event showing up later below an already-seen position would be lost on resume.
       */
      async function streamPositions(stores: Store[]) {
        const reader = USER("reader");
        const writers = 8, perWriter = 40;
        for (let w = 0; w < writers; w++) await stores[0].insertThread(thread({ id: `19:w${w}@thread.v2` }));
        let done = false;
        const observed: number[] = [];
        let polls = 0;
        const poll = async (store: Store) => {
          const last = observed.length > 0 ? observed[observed.length - 1] : 0;
          const events = await store.readEvents(reader, last, 10_000);
          polls++;
          for (const e of events) {
            assert.ok(e.position > (observed.length > 0 ? observed[observed.length - 1] : 0));
            observed.push(e.position);
          }
        };
        const readerLoop = (async () => {
          const store = stores[stores.length - 1];
          while (!done) {
            await poll(store);
            await sleep(0);
          }
          await store.headPosition(); // the last read sees every committed event
          await poll(store);
        })();
        const appended: number[] = [];
        await Promise.all(Array.from({ length: writers }, async (_, w) => {
          const store = stores[w % stores.length];
          for (let i = 0; i < perWriter; i++) {
            const { position } = await appendMessage(store, `19:w${w}@thread.v2`, [reader, USER(`w${w}`)], (i * 7 + w) % 4);
            appended.push(position);
          }
        }));
        done = true;
        await readerLoop;
        await stores[0].headPosition();
        const final = (await stores[0].readEvents(reader, 0, 10_000)).map((e) => e.position);
        assert.equal(final.length, writers * perWriter);
        assert.deepEqual([...appended].sort((x, y) => x - y), final, "appendEvent returned the stored positions");
        assert.deepEqual(observed, final, "the reader's incremental view equals the final stream (no gap filled in later)");
        assert.ok(polls > 1);
      }

      test("stream positions: concurrent appenders on different threads, a concurrent reader never sees a gap filled later", async (store) => {
        await streamPositions([store]);
      });

      /**
       * 64 writers on 3 stores (3 PostgresStore instances with pools of their own stand for 3 nodes), each on a
       * thread of its own, sleeping a random few milliseconds before COMMIT so commits finish far out of position
       * order. Readers on every store tail the stream meanwhile the way a node does (head first, then pages after
       * its cursor, then the cursor may move to the head) and per user (readEvents). Each must end up with exactly
       * the final stream: no event skipped, none twice, always in position order.
       */
      it("64 writers on 3 nodes, random delays before COMMIT: tailing readers never skip or repeat an event", async (t) => {
        const opened = await open();
        try {
          if (!opened.reopen || opened.serialWriters) return t.skip("the backend cannot run concurrent write transactions on several stores");
          const stores = [opened.store, await opened.reopen(), await opened.reopen()];
          await Promise.all(stores.map((s) => s.migrate()));
          const writers = 64, perWriter = 5, total = writers * perWriter;
          const reader = USER("reader");
          for (let w = 0; w < writers; w++) await stores[0].insertThread(thread({ id: `19:d${w}@thread.v2` }));
          let done = false;
          const tailReader = async (store: Store) => {
            const seen: number[] = [];
            let cursor = 0;
            for (let last = false; !last;) {
              last = done;
              const head = await store.headPosition();
              for (;;) {
                const page = await store.readStream(cursor, 50);
                for (const e of page) {
                  assert.ok(e.position > cursor, `tail: ${e.position} after ${cursor}`);
                  seen.push(e.position);
                  cursor = e.position;
                }
                if (page.length < 50) break;
              }
              cursor = Math.max(cursor, head);
              await sleep(Math.random() * 3);
            }
            return seen;
          };
          const userReader = async (store: Store) => {
            const seen: number[] = [];
            for (let last = false; !last;) {
              last = done;
              if (last) await store.headPosition();
              const events = await store.readEvents(reader, seen.at(-1) ?? 0, 10_000);
              for (const e of events) {
                assert.ok(e.position > (seen.at(-1) ?? 0));
                seen.push(e.position);
              }
              await sleep(Math.random() * 3);
            }
            return seen;
          };
          const readers = Promise.all([...stores.map(tailReader), ...stores.map(userReader)]);
          const appended = (await Promise.all(Array.from({ length: writers }, async (_, w) => {
            const store = stores[w % stores.length];
            const mine: number[] = [];
            await sleep(Math.random() * 5);
            for (let i = 0; i < perWriter; i++) {
              mine.push(await store.transaction(async (tx) => {
                const threadId = `19:d${w}@thread.v2`;
                const th = await tx.lockThread(threadId);
                await tx.updateThread(threadId, { nextSequence: th!.nextSequence + 1 });
                const position = await tx.appendEvent(event({ threadId, recipients: [reader, USER(`d${w}`)], payload: { w, i } }));
                await sleep(Math.random() * 5); // before COMMIT
                return position;
              }));
            }
            return mine;
          }))).flat();
          done = true;
          const views = await readers;
          await stores[0].headPosition();
          const final = (await stores[1].readStream(0, total + 10)).map((e) => e.position);
          assert.equal(final.length, total);
          assert.deepEqual([...appended].sort((x, y) => x - y), final, "appendEvent returned the stored positions");
          for (const [i, view] of views.entries()) assert.deepEqual(view, final, `reader ${i} saw exactly the final stream`);
        } finally {
          await opened.cleanup();
        }
      });

      it("stream positions across two nodes", async (t) => {
        const opened = await open();
        try {
          if (!opened.reopen) return t.skip("the backend cannot open a second store");
          const other = await opened.reopen();
          await Promise.all([opened.store.migrate(), other.migrate()]);
          await streamPositions([opened.store, other]);
        } finally {
          await opened.cleanup();
        }
      });
    });
  });
}
