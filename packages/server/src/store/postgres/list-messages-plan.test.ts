// listMessages on PostgreSQL examines only the rows of its version range, whose lower end is
// max(minVersion, minCreatedAt): with a shareHistoryTime in the future a page reads no row instead of the
// whole thread. Counted with EXPLAIN (ANALYZE): rows returned plus rows removed by a filter, per scan node.
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { LIST_MESSAGES_SQL, PostgresStore } from "./postgres-store.js";

const url = process.env.NATTER_TEST_PG_URL;

interface PlanNode {
  "Node Type": string;
  "Index Name"?: string;
  "Index Cond"?: string;
  "Actual Rows": number;
  "Actual Loops": number;
  "Rows Removed by Filter"?: number;
  Plans?: PlanNode[];
}

/** Rows the scans of the plan looked at (returned plus filtered out), for the busiest scan node (a bitmap heap scan and its index scan see the same rows). */
function examined(node: PlanNode): number {
  return Math.max(0, ...scans(node).map((s) => (s["Actual Rows"] + (s["Rows Removed by Filter"] ?? 0)) * s["Actual Loops"]));
}

function scans(node: PlanNode): PlanNode[] {
  return [...(/Scan/.test(node["Node Type"]) ? [node] : []), ...(node.Plans ?? []).flatMap(scans)];
}

describe("PostgresStore listMessages bound", { skip: url ? false : "NATTER_TEST_PG_URL not set" }, () => {
  it("a page examines only its version range: none with a future minCreatedAt, not the thread", async () => {
    const schema = `natter_test_${randomBytes(6).toString("hex")}`;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    const store = new PostgresStore({ connectionString: url, options: `-c search_path=${schema}`, max: 2 });
    const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
    try {
      await store.migrate();
      await client.connect();
      const threadId = "19:plan@thread.v2";
      const N = 3_000;
      // Messages 1..N created (and versioned) at 1..N; a second thread around it.
      await client.query(`INSERT INTO messages (thread_id, id, sequence, type, body, created_at, version)
        SELECT t, i::text, i, 'text', '{"message":"m"}', i, i FROM generate_series(1, $1::int) i, (VALUES ($2), ('19:other@thread.v2')) v(t)`, [N, threadId]);
      await client.query("ANALYZE messages");
      const explain = async (minCreatedAt: number) => {
        const { rows } = await client.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${LIST_MESSAGES_SQL}`, [threadId, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, minCreatedAt, 51]);
        return (rows[0]["QUERY PLAN"] as { Plan: PlanNode }[])[0].Plan;
      };
      const future = await explain(N + 1_000_000);
      assert.equal(examined(future), 0, JSON.stringify(future));
      assert.ok(scans(future).some((s) => s["Index Name"] === "messages_version") && !scans(future).some((s) => s["Node Type"] === "Seq Scan"), JSON.stringify(future));
      const recent = await explain(N - 9);
      assert.equal(examined(recent), 10, JSON.stringify(recent));
      assert.deepEqual(await store.listMessages(threadId, { limit: 50, minCreatedAt: N + 1_000_000 }), []);
      assert.equal((await store.listMessages(threadId, { limit: 50, minCreatedAt: N - 9 })).length, 10);
    } finally {
      await client.end().catch(() => undefined);
      await store.close();
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
    }
  });
});
