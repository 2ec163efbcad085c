// Scenario: unread counts (Natter extension, #15). A user in 10,000 threads (20 messages each, some html
// mentioning the user, some deleted; no receipt, a receipt half-way, or everything read) lists a page of threads:
// GET /chat/threads (ListChatThreads, no counts) against GET /natter/chat/threads (the same page with unread
// counts, mention counts and last message, computed at read time). Target: with counts ≤ 2× without.
// The two are measured interleaved on the same node, one connection (latency), median of several runs.
// Usage: node bench/run.mjs --only unread [--quick]   (or node bench/unread.mjs for a quick standalone run)
import Database from "better-sqlite3";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createUser, load, median, startNatterProcess } from "./lib.mjs";

const THREADS = 10_000;
const PER_THREAD = 20;

function seed(dbPath, userId, otherId) {
  const db = new Database(dbPath);
  const now = Date.now() - THREADS * 1000 - 60_000;
  const t = db.prepare("INSERT INTO threads (id, topic, created_at, created_by, next_sequence, clock, last_message_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
  const p = db.prepare("INSERT INTO participants (thread_id, user_id, share_history_time, joined_at) VALUES (?, ?, 0, ?)");
  // Messages name their thread by its key (SQLite migration 12).
  const k = db.prepare("INSERT OR IGNORE INTO thread_keys (thread_id) VALUES (?)");
  const m = db.prepare(`INSERT INTO messages (thread_key, id, sequence, type, body, sender, sender_display_name, created_at, edited_at, deleted_at, version, metadata)
    VALUES ((SELECT key FROM thread_keys WHERE thread_id = ?), ?, ?, ?, ?, ?, 'Bench', ?, NULL, ?, ?, NULL)`);
  const r = db.prepare("INSERT INTO read_receipts (thread_id, user_id, message_id, sequence, read_at) VALUES (?, ?, ?, ?, ?)");
  db.transaction(() => {
    for (let i = 0; i < THREADS; i++) {
      const id = `19:unread${String(i).padStart(8, "0")}@thread.v2`;
      const base = now + i * 1000;
      k.run(id);
      p.run(id, userId, base);
      p.run(id, otherId, base);
      for (let s = 1; s <= PER_THREAD; s++) {
        const at = base + s;
        const html = s % 5 === 0;
        const body = html ? { message: `<p>see <msft-mention id="${userId}">You</msft-mention> #${s}</p>`, mentions: [userId] } : { message: `message ${s} of thread ${i}` };
        const deleted = i % 7 === 0 && s === PER_THREAD ? at + 1 : null;
        const sender = s % 4 === 0 ? userId : otherId;
        m.run(id, String(at), s, html ? "html" : "text", JSON.stringify(deleted ? { message: "" } : body), sender, at, deleted, deleted ?? at);
      }
      const read = i % 3 === 0 ? 0 : i % 3 === 1 ? PER_THREAD / 2 : PER_THREAD;
      if (read > 0) r.run(id, userId, String(base + read), read, base + PER_THREAD + 2);
      t.run(id, `thread ${i}`, base, otherId, PER_THREAD + 1, base + PER_THREAD + 1, base + PER_THREAD);
    }
  })();
  db.close();
}

export async function run({ quick }) {
  const seconds = quick ? 1.5 : 5;
  const runs = quick ? 2 : 5;
  let node = await startNatterProcess();
  const data = node.data;
  const bob = await createUser(node);
  const alice = await createUser(node);
  node.child.kill("SIGTERM");
  await new Promise((r) => node.child.once("exit", r));
  const loadStarted = Date.now();
  seed(join(data, "natter.db"), bob.id, alice.id);
  const loadSeconds = Math.round((Date.now() - loadStarted) / 1000);
  node = await startNatterProcess([], {}, [], data);
  try {
    const get = (path) => ({ method: "GET", path, headers: { authorization: `Bearer ${bob.token}` } });
    const rows = [];
    const results = {};
    for (const pageSize of [20, 200]) {
      const cases = {
        without: get(`/chat/threads?api-version=2025-03-15&maxPageSize=${pageSize}`),
        with: get(`/natter/chat/threads?api-version=2026-12-01-natter&maxPageSize=${pageSize}`),
      };
      const samples = { without: [], with: [] };
      for (const request of Object.values(cases)) await load({ url: node.httpUrl, connections: 1, seconds: 0.5, requestsFor: () => request }); // warm-up
      // Interleaved, so drift on a shared machine hits both alike.
      for (let r = 0; r < runs; r++) {
        for (const [name, request] of Object.entries(cases)) samples[name].push(await load({ url: node.httpUrl, connections: 1, seconds, requestsFor: () => request }));
      }
      const summary = (list) => ({ rps: Math.round(median(list.map((s) => s.rps))), mean: Math.round(median(list.map((s) => s.mean)) * 100) / 100, p99: median(list.map((s) => s.p99)), errors: list.reduce((a, s) => a + s.errors, 0) });
      const without = summary(samples.without);
      const withCounts = summary(samples.with);
      const ratio = Math.round((withCounts.mean / Math.max(without.mean, 0.001)) * 100) / 100;
      results[`page ${pageSize}`] = { without, with: withCounts, ratio };
      rows.push({ case: `page of ${pageSize}, without counts (GET /chat/threads)`, "req/s (median)": without.rps, "mean ms": without.mean, "p99 ms": without.p99, errors: without.errors, ratio: "" });
      rows.push({ case: `page of ${pageSize}, with counts (GET /natter/chat/threads)`, "req/s (median)": withCounts.rps, "mean ms": withCounts.mean, "p99 ms": withCounts.p99, errors: withCounts.errors, ratio });
    }
    return {
      name: "unread",
      description: `user in ${THREADS} threads of ${PER_THREAD} messages, one connection (latency), ${runs} interleaved runs of ${seconds} s (median); seeded in ${loadSeconds} s`,
      rows,
      results,
      notes: "ratio = mean latency with counts / without (target ≤ 2). Counts are computed at read time: a send writes nothing extra.",
    };
  } finally {
    await node.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { table } = await import("./lib.mjs");
  const result = await run({ quick: process.argv.includes("--quick") });
  console.log(`${result.description}\n\n${table(result.rows)}\n\n${result.notes}`);
}
