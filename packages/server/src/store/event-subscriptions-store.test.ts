// Runs the event-subscriptions Store contract on SqliteStore (a fresh file per test) and on PostgresStore (a
// fresh schema per test) when NATTER_TEST_PG_URL is set; a second Store on the same database plays a second node.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { it } from "node:test";
import pg from "pg";
import type { Store } from "./store.js";
import { defineEventSubscriptionContract } from "./contract/event-subscriptions-contract.js";
import { SqliteStore } from "./sqlite/sqlite-store.js";
import { PostgresStore } from "./postgres/postgres-store.js";

defineEventSubscriptionContract("SqliteStore", async () => {
  const dir = mkdtempSync(join(tmpdir(), "natter-events-store-"));
  const path = join(dir, "natter.db");
  const stores: Store[] = [new SqliteStore(path)];
  return {
    store: stores[0],
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

const url = process.env.NATTER_TEST_PG_URL;
if (!url) {
  it("PostgresStore event subscriptions contract", { skip: "NATTER_TEST_PG_URL not set" }, () => {});
} else {
  defineEventSubscriptionContract("PostgresStore", async () => {
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
        await store.migrate();
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
}
