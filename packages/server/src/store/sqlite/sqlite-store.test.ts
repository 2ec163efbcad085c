// Runs the Store contract against SqliteStore: a fresh database file in a temp folder per test; a second
// SqliteStore on the same file plays a second node.
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Worker } from "node:worker_threads";
import Database from "better-sqlite3";
import type { Store } from "../store.js";
import { defineStoreContract } from "../contract/store-contract.js";
import { SEARCH_MESSAGES_SQL, SqliteStore } from "./sqlite-store.js";
import { SQLITE_MIGRATIONS } from "./migrations.js";

defineStoreContract("SqliteStore", async () => {
  const dir = mkdtempSync(join(tmpdir(), "natter-store-"));
  const path = join(dir, "natter.db");
  const stores: Store[] = [new SqliteStore(path)];
  return {
    store: stores[0],
    serialWriters: true,
    async reopen() {
      const store = new SqliteStore(path);
      stores.push(store);
      return store;
    },
    async cleanup() {
      for (const store of stores.reverse()) await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe("SqliteStore specifics", () => {
  it("several processes migrating one new database file at the same moment all succeed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "natter-migrate-"));
    const path = join(dir, "natter.db");
    const workers = 6;
    // Each worker opens its own SqliteStore (own connections, like another process), waits at a barrier, migrates.
    const code = `
      const { workerData, parentPort } = require("node:worker_threads");
      import(workerData.module).then(async ({ SqliteStore }) => {
        const store = new SqliteStore(workerData.path);
        const barrier = new Int32Array(workerData.barrier);
        Atomics.add(barrier, 0, 1);
        while (Atomics.load(barrier, 0) < workerData.workers) Atomics.wait(barrier, 0, Atomics.load(barrier, 0), 10);
        let result;
        try { await store.migrate(); result = "ok"; } catch (e) { result = String(e); }
        await store.close();
        parentPort.postMessage(result);
      });`;
    const barrier = new SharedArrayBuffer(4);
    const module = new URL("./sqlite-store.js", import.meta.url).href;
    try {
      const results = await Promise.all(Array.from({ length: workers }, () => new Promise<string>((resolve, reject) => {
        const worker = new Worker(code, { eval: true, workerData: { module, path, barrier, workers } });
        worker.once("message", (m: string) => resolve(m));
        worker.once("error", reject);
      })));
      assert.deepEqual(results, Array(workers).fill("ok"));
      const store = new SqliteStore(path);
      await store.migrate();
      await store.insertUser({ id: "8:acs:x", createdAt: 1, deletedAt: null, tokenGeneration: 0, customId: null, lastTokenIssuedAt: null });
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("migration 3 starts the retention marker below the oldest surviving event of an existing database", async () => {
    const dir = mkdtempSync(join(tmpdir(), "natter-migrate3-"));
    const path = join(dir, "natter.db");
    try {
      const db = new Database(path);
      for (const [i, sql] of SQLITE_MIGRATIONS.slice(0, 2).entries()) {
        db.exec(sql);
        db.pragma(`user_version = ${i + 1}`);
      }
      const add = db.prepare("INSERT INTO events (thread_id, type, recipients, payload, created_at) VALUES ('t', 'x', '[]', '{}', ?)");
      for (let i = 1; i <= 5; i++) add.run(i * 1_000);
      db.prepare("DELETE FROM events WHERE created_at < 3000").run(); // purged by the old code: positions 1 and 2
      db.close();
      const store = new SqliteStore(path);
      try {
        await store.migrate();
        assert.equal(await store.purgedThrough(), 2);
        assert.equal(await store.headPosition(), 5);
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the thread_sets migration lists the recipient sets of existing events, so purgeThread still deletes them", async () => {
    const dir = mkdtempSync(join(tmpdir(), "natter-migrate-thread-sets-"));
    const path = join(dir, "natter.db");
    try {
      const before = SQLITE_MIGRATIONS.findIndex((sql) => sql.includes("CREATE TABLE thread_sets"));
      assert.ok(before > 0);
      const db = new Database(path);
      for (const [i, sql] of SQLITE_MIGRATIONS.slice(0, before).entries()) {
        db.exec(sql);
        db.pragma(`user_version = ${i + 1}`);
      }
      db.exec(`INSERT INTO recipient_sets (id, members) VALUES (1, '["8:acs:a"]'), (2, '["8:acs:a","8:acs:b"]');
        INSERT INTO recipient_set_users (user_id, set_id) VALUES ('8:acs:a', 1), ('8:acs:a', 2), ('8:acs:b', 2);`);
      const add = db.prepare("INSERT INTO events (thread_id, type, set_id, payload, created_at) VALUES (?, 'x', ?, '{}', 1000)");
      add.run("19:a@thread.v2", 1);
      add.run("19:a@thread.v2", 2);
      add.run("19:b@thread.v2", 2);
      db.close();
      const store = new SqliteStore(path);
      try {
        await store.migrate();
        await store.transaction((tx) => tx.purgeThread("19:a@thread.v2"));
        assert.deepEqual((await store.readStream(0, 10)).map((e) => e.threadId), ["19:b@thread.v2"]);
        assert.deepEqual((await store.readEvents("8:acs:a", 0, 10)).map((e) => e.threadId), ["19:b@thread.v2"]);
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("migration 4 indexes the recipients of existing events, so they can still be resumed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "natter-migrate4-"));
    const path = join(dir, "natter.db");
    try {
      const db = new Database(path);
      for (const [i, sql] of SQLITE_MIGRATIONS.slice(0, 3).entries()) {
        db.exec(sql);
        db.pragma(`user_version = ${i + 1}`);
      }
      const add = db.prepare("INSERT INTO events (thread_id, type, recipients, payload, created_at) VALUES ('t', 'x', ?, '{}', 1000)");
      add.run(JSON.stringify(["8:acs:a", "8:acs:b"]));
      add.run(JSON.stringify(["8:acs:b"]));
      db.close();
      const store = new SqliteStore(path);
      try {
        await store.migrate();
        assert.deepEqual((await store.readEvents("8:acs:a", 0, 10)).map((e) => e.position), [1]);
        assert.deepEqual((await store.readEvents("8:acs:b", 0, 10)).map((e) => e.position), [1, 2]);
        // Migration 5 turned the lists into recipient sets, same members.
        assert.deepEqual((await store.readStream(0, 10)).map((e) => e.recipients), [["8:acs:a", "8:acs:b"], ["8:acs:b"]]);
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Writes that keep the writer busy: 16 concurrent streams of events with a 2 KB payload (a few pages each).
  const writeEvents = (store: SqliteStore, count: number) => Promise.all(Array.from({ length: 16 }, async (_, stream) => {
    for (let i = stream; i < count; i += 16) {
      await store.appendEvent({ threadId: `19:w${i % 64}@thread.v2`, type: "chatMessageReceived", recipients: ["8:acs:a"], payload: { text: "x".repeat(2048), i }, createdAt: i });
    }
  }));
  const sizeOf = (file: string) => (existsSync(file) ? statSync(file).size : 0);

  it("under steady writes the WAL starts over once it is large, instead of growing with every write", async () => {
    const dir = mkdtempSync(join(tmpdir(), "natter-wal-restart-"));
    const path = join(dir, "natter.db");
    const store = new SqliteStore(path, { restartFrames: 512, checkpointIntervalMs: 20 });
    try {
      await store.migrate();
      await writeEvents(store, 6_000);
      // Everything is there, and the WAL holds a fraction of it (without restarts it held every frame written).
      assert.equal((await store.readStream(0, 10_000)).length, 6_000);
      assert.ok(sizeOf(`${path}-wal`) < sizeOf(path) / 2, `WAL ${sizeOf(`${path}-wal`)} B, database ${sizeOf(path)} B`);
      assert.ok(store.stats.walRestarts >= 1, `the WAL started over ${store.stats.walRestarts} times`);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a reader that holds an old snapshot delays the WAL's restart, never the writes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "natter-wal-pinned-"));
    const path = join(dir, "natter.db");
    const store = new SqliteStore(path, { restartFrames: 512, checkpointIntervalMs: 20 });
    const reader = new Database(path);
    try {
      await store.migrate();
      reader.exec("BEGIN");
      reader.prepare("SELECT count(*) FROM events").get(); // the snapshot is taken here, and kept
      await writeEvents(store, 3_000);
      assert.equal(store.stats.walRestarts, 0);
      assert.equal((await store.readStream(0, 10_000)).length, 3_000);
      reader.exec("COMMIT");
      await writeEvents(store, 3_000);
      assert.ok(store.stats.walRestarts >= 1, `the WAL started over ${store.stats.walRestarts} times`);
    } finally {
      reader.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a recipient set created by a transaction that rolls back is not reused from the writer's cache", async () => {
    const dir = mkdtempSync(join(tmpdir(), "natter-sets-rollback-"));
    const store = new SqliteStore(join(dir, "natter.db"));
    try {
      await store.migrate();
      const event = (recipients: string[]) => ({ threadId: "19:r@thread.v2", type: "chatMessageReceived", recipients, payload: {}, createdAt: 1 });
      // Same batch: a job that creates the set and fails, and one that commits an unrelated set.
      const failed = store.transaction(async (tx) => {
        await tx.appendEvent(event(["8:acs:x", "8:acs:y"]));
        throw new Error("rolled back");
      });
      const other = store.transaction((tx) => tx.appendEvent(event(["8:acs:z"])));
      await assert.rejects(failed, /rolled back/);
      await other;
      const position = await store.appendEvent(event(["8:acs:y", "8:acs:x"]));
      const stream = await store.readStream(0, 10);
      assert.deepEqual(stream.map((e) => [e.position, e.recipients]), [[stream[0].position, ["8:acs:z"]], [position, ["8:acs:x", "8:acs:y"]]]);
      assert.deepEqual((await store.readEvents("8:acs:x", 0, 10)).map((e) => e.position), [position]);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the writer's cached participant lists follow upserts, deletes, purges and rollbacks", async () => {
    const dir = mkdtempSync(join(tmpdir(), "natter-participant-cache-"));
    const store = new SqliteStore(join(dir, "natter.db"));
    try {
      await store.migrate();
      const threadId = "19:p@thread.v2";
      await store.insertThread({
        id: threadId, topic: "t", createdAt: 1, createdBy: "8:acs:a", deletedAt: null, metadata: null, retention: null,
        nextSequence: 1, clock: 1, lastMessageAt: null, expiresAt: null,
      });
      const join_ = (userId: string, joinedAt: number) => ({ threadId, userId, displayName: null, shareHistoryTime: 0, metadata: null, joinedAt });
      const idsInTx = () => store.transaction(async (tx) => [...(await tx.listParticipantIds(threadId))]);
      await store.upsertParticipant(join_("8:acs:a", 1));
      assert.deepEqual(await idsInTx(), ["8:acs:a"]); // now cached
      const shared = await store.transaction((tx) => tx.listParticipantIds(threadId));
      assert.ok(Object.isFrozen(shared), "the shared list cannot be changed by a caller");
      // The domain's common case hands this very list to appendEvent (its recipient-set cache is keyed by it).
      await store.transaction(async (tx) => {
        const windows = await tx.listParticipantWindows(threadId);
        assert.equal(windows.ids, shared, "listParticipantWindows shares the cached list");
        assert.equal(await tx.listParticipantWindows(threadId), windows);
        assert.ok(Object.isFrozen(windows) && Object.isFrozen(windows.shareHistoryTimes));
      });
      await store.upsertParticipant(join_("8:acs:b", 2));
      assert.deepEqual(await idsInTx(), ["8:acs:a", "8:acs:b"]);
      await store.deleteParticipant(threadId, "8:acs:a");
      assert.deepEqual(await idsInTx(), ["8:acs:b"]);
      // A rolled-back add that was listed (and so cached) inside its transaction is forgotten.
      const failed = store.transaction(async (tx) => {
        await tx.upsertParticipant(join_("8:acs:c", 3));
        assert.deepEqual(await tx.listParticipantIds(threadId), ["8:acs:b", "8:acs:c"]);
        throw new Error("rolled back");
      });
      await assert.rejects(failed, /rolled back/);
      assert.deepEqual(await idsInTx(), ["8:acs:b"]);
      await store.purgeThread(threadId);
      assert.deepEqual(await idsInTx(), []);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("event payloads are stored without the fields that repeat the row, and read back exactly (keys in order)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "natter-payload-"));
    const path = join(dir, "natter.db");
    const store = new SqliteStore(path);
    try {
      await store.migrate();
      const threadId = "19:pay@thread.v2";
      const message = { threadId, id: "5", sequence: 1, type: "text", body: { message: "hi" }, sender: "8:acs:a", createdAt: 5 };
      const payloads: unknown[] = [
        { type: "chatMessageReceived", threadId, at: 5, actor: "8:acs:a", message }, // every field left out (7)
        { type: "chatMessageEdited", threadId, at: 5, actor: "8:acs:b", message }, // actor differs from the sender (3)
        { type: "chatThreadDeleted", threadId, at: 5, actor: "8:acs:a" }, // no message (1)
        { type: "chatMessageReceived", threadId, at: 6, actor: "8:acs:a", message }, // `at` differs: kept whole
        { "~": 1, type: "x", threadId, at: 5 }, // a payload of its own that looks compacted
        { sequence: 3 }, [1, 2], "text", null,
      ];
      await store.transaction(async (tx) => {
        for (const [i, payload] of payloads.entries()) {
          const type = (payload as { type?: string } | null)?.type ?? `t${i}`;
          await tx.appendEvent({ threadId, type, recipients: ["8:acs:a"], payload, createdAt: 5 });
        }
      });
      const stream = await store.readStream(0, 100);
      assert.deepEqual(stream.map((e) => JSON.stringify(e.payload)), payloads.map((p) => JSON.stringify(p)));
      const events = await store.readEvents("8:acs:a", 0, 100);
      assert.deepEqual(events.map((e) => JSON.stringify(e.payload)), payloads.map((p) => JSON.stringify(p)));
      const db = new Database(path, { readonly: true });
      try {
        const stored = db.prepare("SELECT payload FROM events ORDER BY position LIMIT 1").pluck().get() as string;
        assert.ok(!stored.includes(threadId) && stored.length < JSON.stringify(payloads[0]).length - 100, stored);
        assert.equal(db.prepare("SELECT json_extract(payload, '$.message.id') FROM events ORDER BY position LIMIT 1").pluck().get(), "5");
      } finally {
        db.close();
      }
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the writer's cached thread rows follow updates and rollbacks, and another store's commits", async () => {
    const dir = mkdtempSync(join(tmpdir(), "natter-thread-cache-"));
    const path = join(dir, "natter.db");
    const store = new SqliteStore(path);
    const other = new SqliteStore(path);
    try {
      await store.migrate();
      const threadId = "19:c@thread.v2";
      await store.insertThread({
        id: threadId, topic: "t", createdAt: 1, createdBy: "8:acs:a", deletedAt: null, metadata: null, retention: null,
        nextSequence: 1, clock: 1, lastMessageAt: null, expiresAt: null,
      });
      const inTx = () => store.transaction((tx) => tx.lockThread(threadId));
      assert.equal((await inTx())?.nextSequence, 1); // now cached
      await store.transaction(async (tx) => {
        const thread = (await tx.lockThread(threadId))!;
        thread.nextSequence = 99; // a caller's change of its record is not the cache's
        assert.equal((await tx.getThread(threadId))?.nextSequence, 1);
        await tx.updateThread(threadId, { nextSequence: 2, metadata: { k: "v" } });
      });
      assert.deepEqual(await inTx(), { ...(await store.getThread(threadId))!, nextSequence: 2, metadata: { k: "v" } });
      await assert.rejects(store.transaction(async (tx) => {
        await tx.updateThread(threadId, { nextSequence: 3 });
        throw new Error("rolled back");
      }), /rolled back/);
      assert.equal((await inTx())?.nextSequence, 2);
      await other.updateThread(threadId, { nextSequence: 7 });
      assert.equal((await inTx())?.nextSequence, 7);
      await store.purgeThread(threadId);
      assert.equal(await inTx(), undefined);
    } finally {
      await other.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a thread's events share one recipient set until its membership changes; unused sets go with their events", async () => {
    const dir = mkdtempSync(join(tmpdir(), "natter-sets-"));
    const path = join(dir, "natter.db");
    const store = new SqliteStore(path);
    try {
      await store.migrate();
      const members = Array.from({ length: 250 }, (_, i) => `8:acs:user-${String(i).padStart(3, "0")}`);
      const event = (recipients: string[], createdAt: number) => ({ threadId: "19:t@thread.v2", type: "chatMessageReceived", recipients, payload: {}, createdAt });
      for (let i = 0; i < 20; i++) await store.appendEvent(event([...members].reverse(), 1_000)); // order does not matter
      const grown = [...members, "8:acs:late"];
      const last = await store.appendEvent(event(grown, 2_000));
      const db = new Database(path, { readonly: true });
      try {
        const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
        // One row per member per set, not per member per event: 250 + 251, not 21 × 250.
        assert.equal(count("SELECT COUNT(*) AS n FROM recipient_sets"), 2);
        assert.equal(count("SELECT COUNT(*) AS n FROM recipient_set_users"), 501);
        assert.deepEqual((await store.readEvents("8:acs:late", 0, 100)).map((e) => e.position), [last]);
        assert.equal((await store.readEvents(members[7], 0, 100)).length, 21);
        assert.equal((await store.readEvents(members[7], 5, 3)).map((e) => e.position).join(), "6,7,8");
        assert.equal(await store.deleteEventsBefore(2_000), 20);
        assert.equal(count("SELECT COUNT(*) AS n FROM recipient_sets"), 1, "the emptied set is gone");
        assert.equal(count("SELECT COUNT(*) AS n FROM recipient_set_users"), 251);
        await store.purgeThread("19:t@thread.v2");
        assert.equal(count("SELECT COUNT(*) AS n FROM recipient_sets") + count("SELECT COUNT(*) AS n FROM recipient_set_users"), 0);
      } finally {
        db.close();
      }
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the search migration indexes the messages an existing database already has (not deleted or system ones)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "natter-migrate-search-"));
    const path = join(dir, "natter.db");
    try {
      const db = new Database(path);
      const before = SQLITE_MIGRATIONS.findIndex((sql) => sql.includes("message_search_fts"));
      for (const [i, sql] of SQLITE_MIGRATIONS.slice(0, before).entries()) {
        db.exec(sql);
        db.pragma(`user_version = ${i + 1}`);
      }
      db.prepare("INSERT INTO threads (id, topic, created_at, created_by, next_sequence, clock) VALUES ('19:t@thread.v2', 't', 1, 'u', 5000, 1)").run();
      db.prepare("INSERT INTO participants (thread_id, user_id, share_history_time, joined_at) VALUES ('19:t@thread.v2', '8:acs:r_u', 0, 1)").run();
      const add = db.prepare(`INSERT INTO messages (thread_id, id, sequence, type, body, created_at, deleted_at, version)
        VALUES ('19:t@thread.v2', ?, ?, ?, ?, ?, ?, ?)`);
      // More than one backfill batch, so the marker is exercised.
      for (let i = 1; i <= 4_100; i++) add.run(String(i), i, i % 1000 === 0 ? "html" : "text", JSON.stringify({ message: i % 1000 === 0 ? `<b>hedgehog</b> ${i}` : `note ${i}` }), i, null, i);
      add.run("5001", 5001, "text", JSON.stringify({ message: "" }), 5001, 9, 5001);
      add.run("5002", 5002, "topicUpdated", JSON.stringify({ topic: "hedgehog" }), 5002, null, 5002);
      db.close();
      const store = new SqliteStore(path);
      try {
        await store.migrate();
        const hits = await store.searchMessages({ terms: [{ tokens: ["hedgehog"], prefix: false }], userId: "8:acs:r_u", limit: 10 });
        assert.deepEqual(hits.map((h) => h.message.id), ["4000", "3000", "2000", "1000"]);
        assert.equal((await store.searchMessages({ terms: [{ tokens: ["note"], prefix: false }], userId: "8:acs:r_u", limit: 5_000 })).length, 4_096);
        await store.migrate(); // done once: nothing indexed twice
        assert.equal((await store.searchMessages({ terms: [{ tokens: ["hedgehog"], prefix: false }], userId: "8:acs:r_u", limit: 10 })).length, 4);
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the thread-key migration rebuilds messages in place: ids, order, search, receipts and constraints survive", async () => {
    const dir = mkdtempSync(join(tmpdir(), "natter-migrate-keys-"));
    const path = join(dir, "natter.db");
    const T1 = "19:one@thread.v2", T2 = "19:two@thread.v2", GONE = "19:gone@thread.v2", U = "8:acs:r_u";
    try {
      const store = new SqliteStore(path);
      const before = SQLITE_MIGRATIONS.findIndex((sql) => sql.includes("CREATE TABLE thread_keys"));
      try {
        // The schema before migration 12, written by the store of then (the raw SQL of its tables).
        const db = (store as unknown as { writer: Database.Database }).writer;
        for (const [i, sql] of SQLITE_MIGRATIONS.slice(0, before).entries()) {
          db.exec(sql);
          db.pragma(`user_version = ${i + 1}`);
        }
        db.exec("UPDATE search_backfill SET after_rowid = -1");
        for (const t of [T1, T2]) {
          db.prepare("INSERT INTO threads (id, topic, created_at, created_by, next_sequence, clock) VALUES (?, 't', 1, ?, 4, 3000)").run(t, U);
          db.prepare("INSERT INTO participants (thread_id, user_id, share_history_time, joined_at) VALUES (?, ?, 0, 1)").run(t, U);
        }
        const add = db.prepare(`INSERT INTO messages (thread_id, id, sequence, type, body, sender, created_at, edited_at, version, search_id)
          VALUES (?, ?, ?, 'text', ?, ?, ?, ?, ?, ?)`);
        const doc = db.prepare("INSERT INTO message_search (thread_id, message_id, created_at) VALUES (?, ?, ?)");
        const fts = db.prepare("INSERT INTO message_search_fts (rowid, document, thread) VALUES (?, ?, ?)");
        for (const [t, words] of [[T1, ["apple", "banana", "cherry"]], [T2, ["apple", "plum", "pear"]]] as const) {
          for (const [i, word] of words.entries()) {
            const id = String(1000 * (i + 1)), searchId = Number(doc.run(t, id, 1000 * (i + 1)).lastInsertRowid);
            fts.run(searchId, word, `t${t.replace(/[^A-Za-z0-9]/g, "")}`);
            // The first message of each thread was edited last: it lists first.
            add.run(t, id, i + 1, JSON.stringify({ message: word }), U, 1000 * (i + 1), i === 0 ? 2500 : null, i === 0 ? 2500 : 1000 * (i + 1), searchId);
          }
        }
        add.run(GONE, "1000", 1, JSON.stringify({ message: "orphan" }), U, 1000, null, 1000, null); // a message whose thread row is gone
        db.prepare("INSERT INTO read_receipts (thread_id, user_id, message_id, sequence, read_at) VALUES (?, ?, '2000', 2, 2100)").run(T1, U);
        await store.migrate();

        assert.deepEqual((await store.getMessage(T1, "2000"))?.body, { message: "banana" });
        assert.deepEqual((await store.getMessage(T2, "2000"))?.body, { message: "plum" });
        assert.equal((await store.getMessage(GONE, "1000"))?.threadId, GONE);
        assert.deepEqual((await store.listMessages(T1, { limit: 10 })).map((m) => [m.threadId, m.id]), [[T1, "3000"], [T1, "1000"], [T1, "2000"]]);
        assert.deepEqual((await store.listMessagesBySequence(T2, { direction: "newer", from: 0, limit: 10 })).map((m) => m.id), ["1000", "2000", "3000"]);
        const hits = await store.searchMessages({ terms: [{ tokens: ["apple"], prefix: false }], userId: U, limit: 10 });
        assert.deepEqual(hits.map((h) => [h.message.threadId, h.message.id]), [[T2, "1000"], [T1, "1000"]]);
        assert.deepEqual((await store.listReadReceipts(T1, 0, 10, 500)).map((r) => r.messageId), ["2000"]);
        const [summary] = await store.summarizeThreadsForUser({ userId: U, threadIds: [T2], types: ["text"], countLimit: 99 });
        assert.equal(summary.lastMessage?.id, "3000");
        // The constraints came along: a duplicate id or sequence in a thread is refused, the same ones in another thread are not.
        const next = (id: string, sequence: number, threadId = T1) => ({
          threadId, id, sequence, type: "text" as const, body: { message: "new" }, sender: U, senderDisplayName: null,
          createdAt: 4000, editedAt: null, deletedAt: null, version: Number(id), metadata: null,
        });
        await assert.rejects(store.insertMessage(next("3000", 9)));
        await assert.rejects(store.insertMessage(next("9000", 3)));
        await store.insertMessage(next("4000", 4));
        await store.insertMessage(next("5000", 1, "19:new@thread.v2"));
        await store.updateMessage(T1, "4000", { body: { message: "kiwi" }, version: 4500 });
        assert.deepEqual((await store.searchMessages({ terms: [{ tokens: ["kiwi"], prefix: false }], userId: U, limit: 10 })).map((h) => h.message.id), ["4000"]);
        assert.equal(store.integrityCheck(), "ok");
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("search: the FTS5 match drives the query (newest rowid first), joined by primary keys, with no sort", async () => {
    const store = new SqliteStore(":memory:");
    try {
      await store.migrate();
      const db = (store as unknown as { reader: Database.Database }).reader;
      const plan = (sql: string) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all({ match: "x", userId: "u", after: 1, minCreatedAt: 0, limit: 1, threadId: "t" }) as { detail: string }[]).map((r) => r.detail);
      const detail = plan(SEARCH_MESSAGES_SQL);
      assert.match(detail[0], /SCAN f VIRTUAL TABLE INDEX/, detail.join(" | "));
      assert.ok(detail.slice(1).every((d) => /SEARCH (s|p|k|m) USING/.test(d)), detail.join(" | "));
      assert.ok(!detail.some((d) => /TEMP B-TREE/.test(d)), detail.join(" | "));
    } finally {
      await store.close();
    }
  });
});
