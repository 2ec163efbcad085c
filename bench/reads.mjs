// Scenario 2: reads. listMessages first page (200) on threads of 1k and 1M messages (cost must not grow with
// history), and listChatThreads for a user in 10k threads. History is bulk-loaded straight into SQLite while
// the node is stopped (through the API it would take minutes), then read through the real HTTP API.
import Database from "better-sqlite3";
import { join } from "node:path";
import { api, createUser, load, median, startNatterProcess } from "./lib.mjs";

function bulkLoad(dbPath, threadId, sender, count) {
  const db = new Database(dbPath);
  const thread = db.prepare("SELECT next_sequence, clock FROM threads WHERE id = ?").get(threadId);
  // Messages name their thread by its key (SQLite migration 12).
  db.prepare("INSERT OR IGNORE INTO thread_keys (thread_id) VALUES (?)").run(threadId);
  const insert = db.prepare(`INSERT INTO messages (thread_key, id, sequence, type, body, sender, sender_display_name, created_at, edited_at, deleted_at, version, metadata)
    VALUES ((SELECT key FROM thread_keys WHERE thread_id = ?), ?, ?, 'text', ?, ?, 'Bench', ?, NULL, NULL, ?, NULL)`);
  let seq = thread.next_sequence;
  let clock = thread.clock;
  const run = db.transaction((n) => {
    for (let i = 0; i < n; i++) {
      clock++;
      insert.run(threadId, String(clock), seq++, JSON.stringify({ message: `history message ${seq}` }), sender, clock, clock);
    }
  });
  for (let done = 0; done < count; done += 50_000) run(Math.min(50_000, count - done));
  db.prepare("UPDATE threads SET next_sequence = ?, clock = ?, last_message_at = ? WHERE id = ?").run(seq, clock, clock, threadId);
  db.close();
}

function bulkThreads(dbPath, userId, count) {
  const db = new Database(dbPath);
  const now = Date.now();
  const t = db.prepare("INSERT INTO threads (id, topic, created_at, created_by, next_sequence, clock, last_message_at) VALUES (?, ?, ?, ?, 1, ?, ?)");
  const p = db.prepare("INSERT INTO participants (thread_id, user_id, share_history_time, joined_at) VALUES (?, ?, 0, ?)");
  db.transaction(() => {
    for (let i = 0; i < count; i++) {
      const id = `19:bench${String(i).padStart(8, "0")}@thread.v2`;
      t.run(id, `thread ${i}`, now - i * 1000, userId, now - i * 1000, now - i * 1000);
      p.run(id, userId, now);
    }
  })();
  db.close();
}

export async function run({ quick }) {
  const seconds = quick ? 1.5 : 8;
  const runs = quick ? 1 : 5;
  let node = await startNatterProcess();
  const data = node.data;
  const alice = await createUser(node);
  const small = (await api(node, alice.token, "POST", "/chat/threads?api-version=2024-03-07", { topic: "1k" })).chatThread.id;
  const large = (await api(node, alice.token, "POST", "/chat/threads?api-version=2024-03-07", { topic: "large" })).chatThread.id;
  const bob = await createUser(node);

  // Stop without deleting the data folder, load history, start again on the same folder.
  node.child.kill("SIGTERM");
  await new Promise((r) => node.child.once("exit", r));
  const dbPath = join(data, "natter.db");
  const bigCount = quick ? 100_000 : 1_000_000; // quick: the bulk load of 1M takes ~15 s
  const bigLabel = quick ? "100k" : "1M";
  const loadStarted = Date.now();
  bulkLoad(dbPath, small, alice.id, 1_000);
  bulkLoad(dbPath, large, alice.id, bigCount);
  bulkThreads(dbPath, bob.id, 10_000);
  const loadSeconds = Math.round((Date.now() - loadStarted) / 1000);
  node = await startNatterProcess([], {}, [], data);
  try {
    const get = (path, token) => ({ method: "GET", path, headers: { authorization: `Bearer ${token}` } });
    const cases = {
      "listMessages, 1k history": get(`/chat/threads/${encodeURIComponent(small)}/messages?api-version=2024-03-07&maxPageSize=200`, alice.token),
      [`listMessages, ${bigLabel} history`]: get(`/chat/threads/${encodeURIComponent(large)}/messages?api-version=2024-03-07&maxPageSize=200`, alice.token),
      "listChatThreads, user in 10k threads": get("/chat/threads?api-version=2024-03-07&maxPageSize=200", bob.token),
    };
    const results = {};
    for (const [name, request] of Object.entries(cases)) {
      await load({ url: node.httpUrl, connections: 1, seconds: quick ? 0.5 : 1, requestsFor: () => request }); // warm-up
      const samples = [];
      for (let r = 0; r < runs; r++) samples.push(await load({ url: node.httpUrl, connections: 1, seconds, requestsFor: () => request }));
      results[name] = { rps: Math.round(median(samples.map((s) => s.rps))), mean: Math.round(median(samples.map((s) => s.mean)) * 100) / 100, p50: median(samples.map((s) => s.p50)), p99: median(samples.map((s) => s.p99)), errors: samples.reduce((a, s) => a + s.errors, 0) };
    }
    const ratio = results[`listMessages, ${bigLabel} history`].mean / Math.max(results["listMessages, 1k history"].mean, 0.001);
    const rows = Object.entries(results).map(([name, r]) => ({ case: name, "req/s (median)": r.rps, "mean ms": r.mean, "p50 ms": r.p50, "p99 ms": r.p99, errors: r.errors }));
    return {
      name: "reads",
      description: `first page of 200, one connection (latency), ${runs} runs of ${seconds} s (median); history bulk-loaded in ${loadSeconds} s`,
      rows,
      results: { ...results, ratio1Mto1k: Math.round(ratio * 100) / 100 },
      notes: `Mean latency ratio ${bigLabel}/1k history: ${Math.round(ratio * 100) / 100} (target ≤ 1.5; keyset paging on (thread, version)). autocannon reports percentiles in whole milliseconds, so the ratio uses the mean.`,
    };
  } finally {
    await node.stop();
  }
}
