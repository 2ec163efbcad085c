// listMessages on SQLite is a search of messages_version bounded at both ends, never a scan. That the lower
// end is max(minVersion, minCreatedAt) (so a shareHistoryTime in the future is an empty range, not the whole
// thread) is shown by the Store contract ("minCreatedAt is also the lower end of the version range"); the
// PostgreSQL twin counts the rows examined with EXPLAIN ANALYZE.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { LIST_MESSAGES_SQL, SqliteStore } from "./sqlite-store.js";

describe("SqliteStore listMessages bound", () => {
  it("searches messages_version with both ends of the version range", async () => {
    const dir = mkdtempSync(join(tmpdir(), "natter-plan-"));
    const path = join(dir, "natter.db");
    const store = new SqliteStore(path);
    try {
      await store.migrate();
      const threadId = "19:plan@thread.v2";
      const N = 2_000;
      await store.transaction(async (tx) => {
        for (let i = 1; i <= N; i++) {
          await tx.insertMessage({
            threadId, id: String(i), sequence: i, type: "text", body: { message: "m" }, sender: null, senderDisplayName: null,
            createdAt: i, editedAt: null, deletedAt: null, version: i, metadata: null,
          });
        }
      });
      const db = new Database(path, { readonly: true });
      try {
        const plan = (db.prepare(`EXPLAIN QUERY PLAN ${LIST_MESSAGES_SQL}`).all({ threadId, before: 1e15, minVersion: -1e15, minCreatedAt: N + 1, limit: 51 }) as { detail: string }[])
          .map((r) => r.detail).join("; ");
        assert.match(plan, /SEARCH messages USING INDEX messages_version \(thread_key=\? AND version>\? AND version<\?\)/, plan);
        // And the store answers accordingly.
        assert.deepEqual(await store.listMessages(threadId, { limit: 50, minCreatedAt: N + 1_000 }), []);
        assert.equal((await store.listMessages(threadId, { limit: 50, minCreatedAt: N - 9 })).length, 10);
      } finally {
        db.close();
      }
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
