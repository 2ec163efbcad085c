// Runs the Store contract against PostgresStore when NATTER_TEST_PG_URL is set: every test gets a fresh
// schema (natter_test_<random>, selected with search_path), dropped afterwards. A second pool plays a second node.
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import type { Store } from "../store.js";
import { defineStoreContract } from "../contract/store-contract.js";
import { PostgresStore } from "./postgres-store.js";
import { isUnavailableError } from "../unavailable.js";
import { POSTGRES_MIGRATIONS } from "./migrations.js";

const url = process.env.NATTER_TEST_PG_URL;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

if (!url) {
  it("PostgresStore contract", { skip: "NATTER_TEST_PG_URL not set" }, () => {});
} else {
  defineStoreContract("PostgresStore", async () => {
    const schema = `natter_test_${randomBytes(6).toString("hex")}`;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
    const open = () => new PostgresStore({ connectionString: url, options: `-c search_path=${schema}`, max: 10 });
    const stores: Store[] = [open()];
    return {
      store: stores[0],
      async reopen() {
        const store = open();
        stores.push(store);
        return store;
      },
      async cleanup() {
        for (const store of stores) await store.close();
        const cleaner = new pg.Client({ connectionString: url });
        await cleaner.connect();
        try {
          await cleaner.query(`DROP SCHEMA ${schema} CASCADE`);
        } finally {
          await cleaner.end();
        }
      },
    };
  });

  describe("PostgresStore specifics", () => {
    it("every pooled connection commits synchronously, even when the server's or URL's default says off", async () => {
      const store = new PostgresStore({ connectionString: url, options: "-c synchronous_commit=off", max: 3 });
      try {
        const clients = await Promise.all([1, 2, 3].map(() => store.pool.connect()));
        try {
          for (const client of clients) assert.equal((await client.query("SHOW synchronous_commit")).rows[0].synchronous_commit, "on");
        } finally {
          clients.forEach((c) => c.release());
        }
      } finally {
        await store.close();
      }
    });

    it("an unreachable server fails queries with an error isUnavailableError recognises, and does not crash", async () => {
      const store = new PostgresStore({ connectionString: "postgres://postgres@127.0.0.1:1/postgres", connectionTimeoutMillis: 1_000 });
      try {
        const error = await store.ping().then(() => undefined, (e: unknown) => e);
        assert.ok(error instanceof Error);
        assert.ok(isUnavailableError(error), String(error));
        const txError = await store.transaction((tx) => tx.getThread("x")).then(() => undefined, (e: unknown) => e);
        assert.ok(isUnavailableError(txError), String(txError));
      } finally {
        await store.close();
      }
    });

    it("connections killed by the server: idle ones are replaced, a transaction's fails as unavailable, nothing crashes", async () => {
      const errors: Error[] = [];
      const store = new PostgresStore({ connectionString: url, max: 1, onError: (e) => errors.push(e) });
      const killer = new pg.Client({ connectionString: url });
      await killer.connect();
      const pid = async () => (await store.pool.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0].pid;
      try {
        // An idle pooled connection dies: the pool's 'error' event must not crash the process.
        await killer.query("SELECT pg_terminate_backend($1)", [await pid()]);
        await sleep(100);
        await store.ping();
        // The connection of a running transaction dies: the transaction rejects with an unavailable error.
        const victim = await pid(); // max: 1, so the transaction gets this very connection
        const txError = await store.transaction(async (tx) => {
          await killer.query("SELECT pg_terminate_backend($1)", [victim]);
          await sleep(100);
          return tx.getThread("x");
        }).then(() => undefined, (e: unknown) => e);
        assert.ok(txError !== undefined && isUnavailableError(txError), String(txError));
        await store.ping();
      } finally {
        await killer.end();
        await store.close();
      }
      assert.ok(errors.length >= 1);
      assert.ok(errors.every((e) => isUnavailableError(e)), errors.map(String).join("; "));
    });

    it("isUnavailableError: connection codes and messages yes, SQL errors no", () => {
      assert.ok(isUnavailableError(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" })));
      assert.ok(isUnavailableError(new Error("Connection terminated unexpectedly")));
      assert.ok(isUnavailableError(Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" })));
      assert.ok(isUnavailableError(Object.assign(new Error("x"), { code: "08006" })));
      assert.ok(isUnavailableError(new AggregateError([Object.assign(new Error("a"), { code: "ECONNREFUSED" })], "")));
      assert.ok(!isUnavailableError(Object.assign(new Error("duplicate key value"), { code: "23505" })));
      assert.ok(!isUnavailableError("ECONNREFUSED"));
    });
  
    it("migration 3 starts the retention marker below the oldest surviving event of an existing database", async () => {
      const schema = `natter_test_${randomBytes(6).toString("hex")}`;
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      const store = new PostgresStore({ connectionString: url, options: `-c search_path=${schema}`, max: 2 });
      try {
        await admin.query(`CREATE SCHEMA ${schema}`);
        await admin.query(`SET search_path = ${schema}`);
        await admin.query("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
        for (const [i, sql] of POSTGRES_MIGRATIONS.slice(0, 2).entries()) {
          await admin.query(sql);
          await admin.query("INSERT INTO schema_migrations (version) VALUES ($1)", [i + 1]);
        }
        for (let i = 1; i <= 5; i++) {
          await admin.query("INSERT INTO events (position, thread_id, type, recipients, payload, created_at) VALUES (nextval('events_position'), 't', 'x', '{}', '{}', $1)", [i * 1_000]);
        }
        await admin.query("DELETE FROM events WHERE created_at < 3000"); // purged by the old code: positions 1 and 2
        await store.migrate();
        assert.equal(await store.purgedThrough(), 2);
        assert.equal(await store.headPosition(), 5);
      } finally {
        await store.close();
        await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await admin.end();
      }
    });

    it("the search migration indexes the messages an existing database already has (not deleted or system ones)", async () => {
      const schema = `natter_test_${randomBytes(6).toString("hex")}`;
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      const store = new PostgresStore({ connectionString: url, options: `-c search_path=${schema}`, max: 2 });
      try {
        await admin.query(`CREATE SCHEMA ${schema}`);
        await admin.query(`SET search_path = ${schema}`);
        await admin.query("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
        const before = POSTGRES_MIGRATIONS.findIndex((sql) => sql.includes("message_search"));
        for (const [i, sql] of POSTGRES_MIGRATIONS.slice(0, before).entries()) {
          await admin.query(sql);
          await admin.query("INSERT INTO schema_migrations (version) VALUES ($1)", [i + 1]);
        }
        await admin.query("INSERT INTO threads (id, topic, created_at, created_by, next_sequence, clock) VALUES ('19:t@thread.v2', 't', 1, 'u', 5000, 1)");
        await admin.query("INSERT INTO participants (thread_id, user_id, share_history_time, joined_at) VALUES ('19:t@thread.v2', '8:acs:r_u', 0, 1)");
        await admin.query(`INSERT INTO messages (thread_id, id, sequence, type, body, created_at, deleted_at, version)
          SELECT '19:t@thread.v2', i::text, i, CASE WHEN i % 1000 = 0 THEN 'html' ELSE 'text' END,
            CASE WHEN i % 1000 = 0 THEN json_build_object('message', '<b>hedgehog</b> ' || i)::text ELSE json_build_object('message', 'note ' || i)::text END, i, NULL, i
          FROM generate_series(1, 4100) i`);
        await admin.query(`INSERT INTO messages (thread_id, id, sequence, type, body, created_at, deleted_at, version) VALUES
          ('19:t@thread.v2', '5001', 5001, 'text', '{"message":""}', 5001, 9, 5001), ('19:t@thread.v2', '5002', 5002, 'topicUpdated', '{"topic":"hedgehog"}', 5002, NULL, 5002)`);
        await store.migrate();
        const hits = await store.searchMessages({ terms: [{ tokens: ["hedgehog"], prefix: false }], userId: "8:acs:r_u", limit: 10 });
        assert.deepEqual(hits.map((h) => h.message.id).sort(), ["1000", "2000", "3000", "4000"]);
        assert.equal((await store.searchMessages({ terms: [{ tokens: ["note"], prefix: false }], userId: "8:acs:r_u", limit: 5_000 })).length, 4_096);
        await store.migrate();
        assert.equal((await store.searchMessages({ terms: [{ tokens: ["hedgehog"], prefix: false }], userId: "8:acs:r_u", limit: 10 })).length, 4);
      } finally {
        await store.close();
        await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await admin.end();
      }
    });

    it("a transaction whose prepared statement was outdated by a schema change fails once, then runs on a fresh connection", async () => {
      const schema = `natter_test_${randomBytes(6).toString("hex")}`;
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      const store = new PostgresStore({ connectionString: url, options: `-c search_path=${schema}`, max: 1 });
      try {
        await admin.query(`CREATE SCHEMA ${schema}`);
        await store.migrate();
        await store.insertThread({ id: "t", topic: "t", createdAt: 1, createdBy: "u", deletedAt: null, metadata: null, retention: null, nextSequence: 1, clock: 1, lastMessageAt: null, expiresAt: null });
        const read = () => store.transaction((tx) => tx.getThread("t"));
        assert.equal((await read())?.topic, "t");
        await admin.query(`ALTER TABLE ${schema}.threads ADD COLUMN later_column TEXT`);
        await assert.rejects(read, /cached plan must not change result type/);
        assert.equal((await read())?.topic, "t");
      } finally {
        await store.close();
        await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await admin.end();
      }
    });

    it("migration 12 moves the search documents onto the messages, and mirrors there what a node of the previous version writes to message_search", async () => {
      const schema = `natter_test_${randomBytes(6).toString("hex")}`;
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      const store = new PostgresStore({ connectionString: url, options: `-c search_path=${schema}`, max: 2 });
      const search = async (token: string) => (await store.searchMessages({ terms: [{ tokens: [token], prefix: false }], userId: "8:acs:r_u", limit: 10 }))
        .map((h) => ({ id: h.message.id, cursor: h.cursor }));
      // The statements of the previous version's insertMessage and updateMessage (its edit and its delete).
      const oldInsert = (id: string, word: string) => admin.query(`WITH w0 AS (INSERT INTO messages (thread_id, id, sequence, type, body, sender,
        sender_display_name, created_at, edited_at, deleted_at, version, metadata) VALUES ('19:t@thread.v2', $1, $2, 'text', $3, 'u', NULL, $2, NULL, NULL, $2, NULL))
        INSERT INTO message_search (thread_id, message_id, created_at, document) VALUES ('19:t@thread.v2', $1, $2, $4::tsvector)`,
      [id, Number(id), JSON.stringify({ message: word }), `'${word}':1`]);
      const oldUpsert = (id: string, word: string) => admin.query(`INSERT INTO message_search (thread_id, message_id, created_at, document)
        VALUES ('19:t@thread.v2', $1, 0, $2::tsvector) ON CONFLICT (thread_id, message_id) DO UPDATE SET document = excluded.document`, [id, `'${word}':1`]);
      try {
        await admin.query(`CREATE SCHEMA ${schema}`);
        await admin.query(`SET search_path = ${schema}`);
        await admin.query("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
        const before = POSTGRES_MIGRATIONS.findIndex((sql) => sql.includes("ADD COLUMN search_id"));
        for (const [i, sql] of POSTGRES_MIGRATIONS.slice(0, before).entries()) {
          await admin.query(sql);
          await admin.query("INSERT INTO schema_migrations (version) VALUES ($1)", [i + 1]);
        }
        await admin.query("UPDATE search_backfill SET done = true");
        await admin.query("INSERT INTO threads (id, topic, created_at, created_by, next_sequence, clock) VALUES ('19:t@thread.v2', 't', 1, 'u', 100, 1)");
        await admin.query("INSERT INTO participants (thread_id, user_id, share_history_time, joined_at) VALUES ('19:t@thread.v2', '8:acs:r_u', 0, 1)");
        await oldInsert("1", "hedgehog");
        await oldInsert("2", "hedgehog");
        await store.migrate();
        const copied = await search("hedgehog");
        assert.deepEqual(copied.map((h) => h.id), ["2", "1"]);

        // A node of the previous version, after the migration: its writes to message_search reach the messages.
        await oldInsert("3", "otter");
        const [otter] = await search("otter");
        assert.equal(otter.id, "3");
        assert.ok(otter.cursor > copied[0].cursor, "a mirrored document is newer than the copied ones");
        await oldUpsert("1", "badger");
        assert.deepEqual(await search("badger"), [{ id: "1", cursor: copied[1].cursor }], "an edit keeps its place in the order");
        assert.deepEqual((await search("hedgehog")).map((h) => h.id), ["2"]);
        await admin.query("DELETE FROM message_search WHERE thread_id = '19:t@thread.v2' AND message_id = '2'");
        assert.deepEqual(await search("hedgehog"), []);

        // This version writes the document on the message row, newest first.
        await store.insertMessage({ threadId: "19:t@thread.v2", id: "4", sequence: 4, type: "text", body: { message: "otter again" }, sender: "u",
          senderDisplayName: null, createdAt: 4, editedAt: null, deletedAt: null, version: 4, metadata: null });
        assert.deepEqual((await search("otter")).map((h) => h.id), ["4", "3"]);
        assert.equal((await admin.query("SELECT count(*)::int AS n FROM message_search WHERE message_id = '4'")).rows[0].n, 0);
      } finally {
        await store.close();
        await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await admin.end();
      }
    });

    it("the search backfill indexes messages written before search existed, a batch per statement, in (thread, id) order", async () => {
      const schema = `natter_test_${randomBytes(6).toString("hex")}`;
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      const store = new PostgresStore({ connectionString: url, options: `-c search_path=${schema}`, max: 2 });
      try {
        await admin.query(`CREATE SCHEMA ${schema}`);
        await store.migrate();
        await admin.query(`SET search_path = ${schema}`);
        // Rows as an upgraded database holds them: no search document yet, and the backfill not started.
        for (const [thread, id, body, deleted] of [
          ["19:b@thread.v2", "20", { message: "walrus two" }, null], ["19:a@thread.v2", "10", { message: "walrus one" }, null],
          ["19:a@thread.v2", "11", { message: "<p>walrus &amp; html</p>" }, null], ["19:a@thread.v2", "12", { message: "walrus gone" }, 5],
          ["19:b@thread.v2", "21", { message: "nothing here" }, null],
        ] as const) {
          await admin.query(`INSERT INTO messages (thread_id, id, sequence, type, body, sender, created_at, deleted_at, version)
            VALUES ($1, $2, $3, 'text', $4, 'u', $3, $5, $3)`, [thread, id, Number(id), JSON.stringify(body), deleted]);
        }
        for (const t of ["19:a@thread.v2", "19:b@thread.v2"]) {
          await admin.query("INSERT INTO participants (thread_id, user_id, share_history_time, joined_at) VALUES ($1, '8:acs:r_u', 0, 1)", [t]);
        }
        await admin.query("UPDATE search_backfill SET done = false, after_thread = '', after_message = ''");
        const batch = () => store.transaction((tx) => (tx as unknown as { backfillSearch(n: number): Promise<boolean> }).backfillSearch(2));
        let batches = 0;
        while (await batch()) batches++;
        assert.equal(batches, 2, "five messages in batches of two: two full batches, then the last");
        assert.equal(await batch(), false, "done stays done");
        const hits = await store.searchMessages({ terms: [{ tokens: ["walrus"], prefix: false }], userId: "8:acs:r_u", limit: 10 });
        // Newest search id first: the backfill drew them in (thread, id) order; the deleted message is not indexed.
        assert.deepEqual(hits.map((h) => h.message.id), ["20", "11", "10"]);
        assert.equal((await store.searchMessages({ terms: [{ tokens: ["nothing"], prefix: false }], userId: "8:acs:r_u", limit: 10 })).length, 1);
      } finally {
        await store.close();
        await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await admin.end();
      }
    });
  });
}
