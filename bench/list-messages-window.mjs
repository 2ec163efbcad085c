// One listMessages page for a participant whose shareHistoryTime is in the future, on a 150,000-message thread:
// the Store's query (a version range starting at max(minVersion, minCreatedAt)) against the query before issue
// #18 item 10 (a version range from minVersion, every row filtered on created_at). Median of 30 pages, ms.
// Usage: node bench/list-messages-window.mjs [messages]   (PostgreSQL too when NATTER_TEST_PG_URL is set)
// Needs a build (npx tsc -b).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import Database from "better-sqlite3";
import pg from "pg";
import { SqliteStore } from "../packages/server/dist/store/sqlite/sqlite-store.js";
import { PostgresStore } from "../packages/server/dist/store/postgres/postgres-store.js";

const N = Number(process.argv[2] ?? 150_000);
const RUNS = 30;
const THREAD = "19:bench@thread.v2";
const BASE = 1_700_000_000_000;
const FUTURE = BASE + N + 86_400_000;
const OLD_SQLITE = `SELECT * FROM messages WHERE thread_id = @threadId AND version < @before AND version >= @minVersion AND created_at >= @minCreatedAt
      ORDER BY version DESC LIMIT @limit`;
const OLD_PG = `SELECT * FROM messages WHERE thread_id = $1 AND version < $2 AND version >= $3 AND created_at >= $4
      ORDER BY version DESC LIMIT $5`;

async function median(fn) {
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const t = process.hrtime.bigint();
    const rows = await fn();
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (rows.length !== 0) throw new Error("expected an empty page");
  }
  times.sort((a, b) => a - b);
  return times[RUNS >> 1].toFixed(3);
}

async function sqlite() {
  const dir = mkdtempSync(join(tmpdir(), "natter-bench-lm-"));
  const path = join(dir, "natter.db");
  const store = new SqliteStore(path);
  await store.migrate();
  for (let start = 1; start <= N; start += 5_000) {
    await store.transaction(async (tx) => {
      for (let i = start; i < start + 5_000 && i <= N; i++) {
        await tx.insertMessage({ threadId: THREAD, id: String(BASE + i), sequence: i, type: "text", body: { message: `m${i}` }, sender: "8:acs:x_y",
          senderDisplayName: "", createdAt: BASE + i, editedAt: null, deletedAt: null, version: BASE + i, metadata: null });
      }
    });
  }
  const db = new Database(path, { readonly: true });
  const old = db.prepare(OLD_SQLITE);
  const params = { threadId: THREAD, before: Number.MAX_SAFE_INTEGER, minVersion: Number.MIN_SAFE_INTEGER, minCreatedAt: FUTURE, limit: 51 };
  const before = await median(() => old.all(params));
  const after = await median(() => store.listMessages(THREAD, { minCreatedAt: FUTURE, limit: 51 }));
  db.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return { before, after };
}

async function postgres(url) {
  const schema = `natter_bench_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const store = new PostgresStore({ connectionString: url, options: `-c search_path=${schema}`, max: 2 });
  const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
  try {
    await store.migrate();
    await client.connect();
    await client.query(`INSERT INTO messages (thread_id, id, sequence, type, body, sender, sender_display_name, created_at, version)
      SELECT $1, ($2::bigint + i)::text, i, 'text', '{"message":"m"}', '8:acs:x_y', '', $2::bigint + i, $2::bigint + i FROM generate_series(1, $3::int) i`, [THREAD, BASE, N]);
    await client.query("VACUUM ANALYZE messages");
    const before = await median(async () => (await client.query({ name: "old", text: OLD_PG, values: [THREAD, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, FUTURE, 51] })).rows);
    const after = await median(() => store.listMessages(THREAD, { minCreatedAt: FUTURE, limit: 51 }));
    return { before, after };
  } finally {
    await client.end().catch(() => undefined);
    await store.close();
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
}

console.log(`listMessages page, shareHistoryTime in the future, ${N} messages, median of ${RUNS} (ms):`);
console.log("SQLite    ", await sqlite());
if (process.env.NATTER_TEST_PG_URL) console.log("PostgreSQL", await postgres(process.env.NATTER_TEST_PG_URL));
