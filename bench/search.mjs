// Scenario: full-text search (the search extension). 1,000,000 messages in 10,000 threads (--quick: 100,000 in
// 1,000), bulk-loaded through the Store (SqliteStore, or PostgresStore with NATTER_BENCH_PG_URL) while the node
// is stopped, then queried through the real HTTP API (GET /natter/chat/search/messages) one request at a time:
// p50/p99 per kind of query, for users in ~40 threads each, with listMessages' first page as the same-run baseline.
import { statSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { ROOT, createUser, startNatterProcess } from "./lib.mjs";

const VERSION = "2026-12-01-natter";
const WORDS = 5_000;
const CJK = [
  "안녕하세요 여러분 오늘 회의는 세시에 시작합니다", "내일 점심은 같이 먹을까요", "明日の会議は東京本社で行います", "新しいプロジェクトの資料を送りました",
  "我们下周在上海见面吧", "这个问题我们明天再讨论", "週末は京都に行きました", "주말에 부산에 다녀왔어요",
];

/** Deterministic pseudo-random numbers (mulberry32), so every run loads the same corpus. */
function rng(seed) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A vocabulary of made-up words; word i is drawn with a Zipf-like weight ~ 1/(i+1). */
function vocabulary(random) {
  const syllables = ["ka", "lo", "mi", "ren", "to", "sa", "vi", "nor", "el", "pa", "qu", "ith", "ba", "dor", "fe", "gan"];
  const words = new Set();
  while (words.size < WORDS) {
    let w = "";
    const n = 2 + Math.floor(random() * 3);
    for (let i = 0; i < n; i++) w += syllables[Math.floor(random() * syllables.length)];
    words.add(w);
  }
  const list = [...words];
  const cumulative = [];
  let total = 0;
  for (let i = 0; i < list.length; i++) cumulative.push((total += 1 / (i + 1)));
  const pick = () => {
    const x = random() * total;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return list[lo];
  };
  return { list, pick };
}

async function openStore(pgUrl, dataDir) {
  if (pgUrl) {
    const { PostgresStore } = await import(join(ROOT, "packages/server/dist/store/postgres/postgres-store.js"));
    return new PostgresStore(pgUrl);
  }
  const { SqliteStore } = await import(join(ROOT, "packages/server/dist/store/sqlite/sqlite-store.js"));
  return new SqliteStore(join(dataDir, "natter.db"));
}

/** Loads threads, participants (each query user in `perUser` threads) and messages, round by round across threads. */
async function bulkLoad(store, { threads, perThread, users, perUser, random, vocab }) {
  const now = Date.now() - threads * perThread - 1_000;
  const threadIds = Array.from({ length: threads }, (_, i) => `19:search${String(i).padStart(6, "0")}@thread.v2`);
  const membership = new Map(threadIds.map((id) => [id, new Set([`8:acs:bench_other_${Math.floor(random() * 1000)}`, `8:acs:bench_other_${Math.floor(random() * 1000)}`])]));
  const userThreads = new Map(users.map((u) => [u.id, []]));
  for (const u of users) {
    while (userThreads.get(u.id).length < perUser) {
      const t = threadIds[Math.floor(random() * threads)];
      if (membership.get(t).has(u.id)) continue;
      membership.get(t).add(u.id);
      userThreads.get(u.id).push(t);
    }
  }
  const chunk = 1_000;
  for (let i = 0; i < threads; i += chunk) {
    await store.transaction(async (tx) => {
      for (const id of threadIds.slice(i, i + chunk)) {
        await tx.insertThread({ id, topic: "bench", createdAt: now, createdBy: users[0].id, deletedAt: null, metadata: null, retention: null,
          nextSequence: perThread + 1, clock: now + threads * perThread, lastMessageAt: now, expiresAt: null });
        for (const userId of membership.get(id)) await tx.upsertParticipant({ threadId: id, userId, displayName: null, shareHistoryTime: 0, metadata: null, joinedAt: now });
      }
    });
  }
  const samples = [];
  let clock = now;
  const rows = [];
  for (let round = 1; round <= perThread; round++) {
    for (const threadId of threadIds) {
      clock++;
      let content;
      if (random() < 0.05) content = CJK[Math.floor(random() * CJK.length)];
      else {
        const n = 6 + Math.floor(random() * 10);
        const words = [];
        for (let k = 0; k < n; k++) words.push(vocab.pick());
        content = words.join(" ");
        if (random() < 0.0005) samples.push(content);
      }
      rows.push({ threadId, id: String(clock), sequence: round, type: "text", body: { message: content }, sender: users[0].id, senderDisplayName: "Bench",
        createdAt: clock, editedAt: null, deletedAt: null, version: clock, metadata: null });
      if (rows.length === 2_000) {
        const batch = rows.splice(0);
        await store.transaction(async (tx) => {
          for (const m of batch) await tx.insertMessage(m);
        });
      }
    }
  }
  if (rows.length > 0) await store.transaction(async (tx) => {
    for (const m of rows) await tx.insertMessage(m);
  });
  return { userThreads, samples };
}

async function timed(url, token) {
  const started = process.hrtime.bigint();
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  const body = await res.json();
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${JSON.stringify(body)}`);
  return { ms, hits: body.value.length };
}

const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

export async function run({ quick }) {
  const pgUrl = process.env.NATTER_BENCH_PG_URL;
  const threads = quick ? 1_000 : 10_000;
  const perThread = 100;
  const queryUsers = quick ? 5 : 20;
  const perKind = quick ? 40 : 100;
  const random = rng(42);
  const vocab = vocabulary(random);
  let database;
  if (pgUrl) {
    // A fresh database per run, dropped afterwards.
    database = `natter_bench_search_${Date.now()}`;
    const admin = new pg.Client({ connectionString: pgUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    await admin.end();
  }
  const dbUrl = pgUrl ? Object.assign(new URL(pgUrl), { pathname: `/${database}` }).toString() : undefined;
  const storeArgs = dbUrl ? ["--store", "postgres", "--database-url", dbUrl] : [];
  let node = await startNatterProcess(storeArgs);
  const data = node.data;
  const users = [];
  for (let i = 0; i < queryUsers; i++) users.push(await createUser(node));
  node.child.kill("SIGTERM");
  await new Promise((r) => node.child.once("exit", r));

  const store = await openStore(dbUrl, data);
  await store.migrate();
  const loadStarted = Date.now();
  const { userThreads, samples } = await bulkLoad(store, { threads, perThread, users, perUser: 40, random, vocab });
  const loadSeconds = (Date.now() - loadStarted) / 1000;
  await store.close();
  const size = pgUrl ? undefined : statSync(join(data, "natter.db")).size + statSync(join(data, "natter.db-wal"), { throwIfNoEntry: false })?.size;

  node = await startNatterProcess([...storeArgs], {}, [], data);
  try {
    const q = (text, extra = "") => `${node.httpUrl.replace(/\/$/, "")}/natter/chat/search/messages?q=${encodeURIComponent(text)}&maxPageSize=20${extra}&api-version=${VERSION}`;
    const phraseOf = (s) => s.split(" ").slice(1, 3).join(" ");
    const kinds = {
      "common word": (i) => vocab.list[i % 3],
      "mid word": (i) => vocab.list[50 + (i % 50)],
      "rare word": (i) => vocab.list[3000 + (i % 1000)],
      "two words": (i) => `${vocab.list[i % 10]} ${vocab.list[20 + (i % 30)]}`,
      "prefix": (i) => `${vocab.list[10 + (i % 40)].slice(0, 3)}*`,
      "phrase": (i) => `"${phraseOf(samples[i % samples.length])}"`,
      "CJK word": (i) => ["여러분", "東京", "上海", "会議", "회의", "京都"][i % 6],
      "no match": (i) => `zzqx${i}`,
    };
    const results = {};
    const all = [];
    // Warm-up: a pass of each kind.
    for (const make of Object.values(kinds)) for (let i = 0; i < 5; i++) await timed(q(make(i)), users[i % users.length].token);
    for (const [kind, make] of Object.entries(kinds)) {
      const ms = [];
      let hits = 0;
      for (let i = 0; i < perKind; i++) {
        const r = await timed(q(make(i)), users[i % users.length].token);
        ms.push(r.ms);
        hits += r.hits;
      }
      all.push(...ms);
      results[kind] = { p50: percentile(ms, 50), p99: percentile(ms, 99), meanHits: hits / perKind };
    }
    // One thread (threadId filter) and the baseline: listMessages' first page of the same threads.
    const inThread = [];
    const listing = [];
    for (let i = 0; i < perKind; i++) {
      const u = users[i % users.length];
      const t = userThreads.get(u.id)[i % 40];
      inThread.push((await timed(q(vocab.list[i % 20], `&threadId=${encodeURIComponent(t)}`), u.token)).ms);
      listing.push((await timed(`${node.httpUrl.replace(/\/$/, "")}/chat/threads/${encodeURIComponent(t)}/messages?maxPageSize=20&api-version=2025-03-15`, u.token)).ms);
    }
    results["common word, one thread"] = { p50: percentile(inThread, 50), p99: percentile(inThread, 99), meanHits: NaN };
    results["baseline: listMessages 20"] = { p50: percentile(listing, 50), p99: percentile(listing, 99), meanHits: NaN };
    const rows = Object.entries(results).map(([kind, r]) => ({
      query: kind, "p50 ms": r.p50.toFixed(2), "p99 ms": r.p99.toFixed(2), "hits/page": Number.isNaN(r.meanHits) ? "-" : r.meanHits.toFixed(1),
    }));
    rows.push({ query: "all search kinds above", "p50 ms": percentile(all, 50).toFixed(2), "p99 ms": percentile(all, 99).toFixed(2), "hits/page": "-" });
    const total = threads * perThread;
    return {
      name: pgUrl ? "search-postgres" : "search",
      description: `GET /natter/chat/search/messages (maxPageSize 20) over ${total.toLocaleString("en")} messages in ${threads.toLocaleString("en")} threads on ${pgUrl ? "PostgreSQL" : "SQLite"}, ${queryUsers} users in 40 threads each, ${perKind} sequential queries per kind`,
      rows,
      results,
      notes: `Bulk load through the Store: ${loadSeconds.toFixed(0)} s (${Math.round(total / loadSeconds)} messages/s, index included)${size ? `; database ${(size / 2 ** 20).toFixed(0)} MiB` : ""}. Words: ${WORDS} made-up words with Zipf weights (the 3 commonest are in ~10% of messages each); 5% of messages are Korean, Japanese or Chinese sentences.`,
    };
  } finally {
    await node.stop();
    if (database) {
      const admin = new pg.Client({ connectionString: pgUrl });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.end();
    }
  }
}

// Run directly: node bench/search.mjs [--quick]
if (import.meta.url === `file://${process.argv[1]}`) {
  const { table } = await import("./lib.mjs");
  const result = await run({ quick: process.argv.includes("--quick") });
  console.log(`\n## ${result.name}: ${result.description}\n\n${table(result.rows)}\n\n${result.notes}\n`);
}
