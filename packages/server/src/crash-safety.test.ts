// Crash safety: SIGKILL the service at random moments while 8 clients send, restart, and check that every
// message that got a 201 is there exactly once, sequence ids have no gap or double, and the database is
// sound: SQLite's integrity check, or on PostgreSQL (when NATTER_TEST_PG_URL is set; a fresh database per
// run) the same consistency queries plus amcheck. 20 rounds per store.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { createUserOverHttp, spawnNatter } from "./test-support/natter-process.js";

const ROUNDS = 20;
const CLIENTS = 8;
const V = "api-version=2024-03-07";
const pgUrl = process.env.NATTER_TEST_PG_URL;
const dataDirs: string[] = [];
after(() => dataDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

interface Message {
  id: string;
  type: string;
  sequenceId: string;
  content?: { message?: string };
}

/** A store's consistency check after a crash: returns the problems found (none: []). */
type Check = () => Promise<string[]>;

/**
 * Consistency queries shared by both stores (the SQL differs only in how a JSON field is read). Each returns
 * the rows that break a rule: per-thread sequence ids are exactly 1..n (no gap, no double), the thread's
 * next sequence follows the last one, its clock is not behind any message version, and every user message has
 * exactly one chatMessageReceived event (and every such event its message), in position order the events of a
 * thread follow its sequence ids (on PostgreSQL: positions from transaction ids, docs/scaling.md), positions unique.
 */
function consistencyQueries(field: (column: string, path: "id" | "sequence") => string): [string, string][] {
  const messageIdOf = (column: string) => field(column, "id");
  return [
    ["sequence ids not 1..n", `SELECT thread_id FROM messages GROUP BY thread_id HAVING MIN(sequence) <> 1 OR MAX(sequence) <> COUNT(*) OR COUNT(DISTINCT sequence) <> COUNT(*)`],
    ["next_sequence not after the last message", `SELECT t.id FROM threads t WHERE t.next_sequence <> 1 + COALESCE((SELECT MAX(sequence) FROM messages m WHERE m.thread_id = t.id), 0)`],
    ["clock behind a message version", `SELECT t.id FROM threads t WHERE t.clock < (SELECT MAX(version) FROM messages m WHERE m.thread_id = t.id)`],
    ["message without exactly one event", `SELECT m.id FROM messages m LEFT JOIN (SELECT thread_id, ${messageIdOf("payload")} AS message_id, COUNT(*) AS n
      FROM events WHERE type = 'chatMessageReceived' GROUP BY 1, 2) e ON e.thread_id = m.thread_id AND e.message_id = m.id
      WHERE m.type IN ('text', 'html') AND COALESCE(e.n, 0) <> 1`],
    ["event without its message", `SELECT e.position FROM events e WHERE e.type = 'chatMessageReceived'
      AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.thread_id = e.thread_id AND m.id = ${messageIdOf("e.payload")})`],
    // The stream order (what realtime readers deliver) keeps each thread's sequence order, and positions are unique.
    ["a thread's events out of sequence order", `SELECT thread_id, position FROM (SELECT thread_id, position, CAST(${field("payload", "sequence")} AS BIGINT) AS seq,
      LAG(CAST(${field("payload", "sequence")} AS BIGINT)) OVER (PARTITION BY thread_id ORDER BY position) AS prev
      FROM events WHERE type = 'chatMessageReceived') x WHERE seq <= prev`],
    ["positions not unique", `SELECT position FROM events GROUP BY position HAVING COUNT(*) > 1`],
  ];
}

async function listAll(baseUrl: string, token: string, threadId: string): Promise<Message[]> {
  const all: Message[] = [];
  let next: string | undefined = `/chat/threads/${encodeURIComponent(threadId)}/messages?${V}&maxPageSize=200`;
  while (next) {
    const res = await fetch(new URL(next, baseUrl), { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    const page = (await res.json()) as { value: Message[]; nextLink?: string };
    all.push(...page.value);
    next = page.nextLink;
  }
  return all;
}

async function crashRounds(args: string[], check: Check): Promise<{ acknowledged: number }> {
  let node = await spawnNatter(args);
  const users = await Promise.all(Array.from({ length: CLIENTS }, () => createUserOverHttp(node.httpUrl, node.accessKey)));
  const created = await fetch(new URL(`/chat/threads?${V}`, node.httpUrl), {
    method: "POST",
    headers: { authorization: `Bearer ${users[0].token}`, "content-type": "application/json" },
    body: JSON.stringify({ topic: "crash", participants: users.slice(1).map((u) => ({ communicationIdentifier: { rawId: u.id, communicationUser: { id: u.id } } })) }),
  });
  const threadId = ((await created.json()) as { chatThread: { id: string } }).chatThread.id;
  const acknowledged = new Map<string, string>(); // content -> id answered with 201
  let attempt = 0;

  for (let round = 0; round < ROUNDS; round++) {
    const url = new URL(`/chat/threads/${encodeURIComponent(threadId)}/messages?${V}`, node.httpUrl);
    let running = true;
    const clients = users.map(async (user, c) => {
      while (running) {
        const content = `r${round}-c${c}-${attempt++}`;
        try {
          const res = await fetch(url, { method: "POST", headers: { authorization: `Bearer ${user.token}`, "content-type": "application/json" }, body: JSON.stringify({ content }) });
          if (res.status === 201) acknowledged.set(content, ((await res.json()) as { id: string }).id);
          else await res.body?.cancel();
        } catch {
          return; // the server died mid-request: the outcome of this one is unknown
        }
      }
    });
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 350));
    node.child.kill("SIGKILL");
    await node.exited;
    running = false;
    await Promise.all(clients);

    assert.deepEqual(await check(), [], `the database is consistent after round ${round}`);

    node = await spawnNatter(args);
    const messages = await listAll(node.httpUrl, users[0].token, threadId);
    const sequences = messages.map((m) => Number(m.sequenceId)).sort((a, b) => a - b);
    assert.deepEqual(sequences, sequences.map((_, i) => i + 1), `sequence ids are 1..n without gaps or doubles after round ${round}`);
    const byContent = new Map<string, string[]>();
    for (const m of messages) if (m.type === "text") byContent.set(m.content!.message!, [...(byContent.get(m.content!.message!) ?? []), m.id]);
    for (const [content, id] of acknowledged) {
      assert.deepEqual(byContent.get(content), [id], `${content} answered 201 (id ${id}) and must be stored exactly once`);
    }
    for (const [content, ids] of byContent) assert.equal(ids.length, 1, `${content} is stored once`);
  }
  assert.ok(acknowledged.size > ROUNDS, `messages were acknowledged (${acknowledged.size})`);
  node.child.kill("SIGTERM");
  assert.equal(await node.exited, 0);
  return { acknowledged: acknowledged.size };
}

// The two stores share nothing: run them side by side to keep the file's wall time down.
describe("crash safety", { concurrency: 2 }, () => {
  it(`SQLite: survives ${ROUNDS} SIGKILLs during concurrent sends without losing or doubling a message`, async (t) => {
    const data = mkdtempSync(join(tmpdir(), "natter-crash-"));
    dataDirs.push(data);
    const queries = consistencyQueries((column, path) => `json_extract(${column}, '$.message.${path}')`);
    const { acknowledged } = await crashRounds(["--data", data, "--port", "0", "--https-port", "0"], async () => {
      const db = new Database(join(data, "natter.db"));
      try {
        // The shared checks name a message's thread by id; SQLite's rows hold the thread's key (migration 12). A
        // temporary view of this connection (temp names come first) puts the id back.
        db.exec("CREATE TEMP VIEW messages AS SELECT k.thread_id, m.* FROM main.messages m JOIN main.thread_keys k ON k.key = m.thread_key");
        const problems: string[] = [];
        const integrity = db.pragma("integrity_check", { simple: true });
        if (integrity !== "ok") problems.push(`integrity_check: ${String(integrity)}`);
        for (const [rule, sql] of queries) {
          const rows = db.prepare(sql).all();
          if (rows.length > 0) problems.push(`${rule}: ${JSON.stringify(rows.slice(0, 5))}`);
        }
        return problems;
      } finally {
        db.close();
      }
    });
    t.diagnostic(`${acknowledged} messages acknowledged`);
  });

  it(`PostgreSQL: survives ${ROUNDS} SIGKILLs during concurrent sends without losing or doubling a message`, { skip: pgUrl ? false : "NATTER_TEST_PG_URL not set" }, async (t) => {
    const database = `natter_crash_${randomBytes(6).toString("hex")}`;
    const admin = new pg.Client({ connectionString: pgUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    const url = new URL(pgUrl!);
    url.pathname = `/${database}`;
    const db = new pg.Client({ connectionString: url.toString() });
    try {
      await db.connect();
      // amcheck verifies every B-tree index against its table (unique indexes: no duplicate keys; every row
      // indexed) and the heap itself. It is a contrib module: skipped, with a note, where it is not installed.
      const amcheck = (await db.query("SELECT 1 FROM pg_available_extensions WHERE name = 'amcheck'")).rowCount === 1;
      if (amcheck) await db.query("CREATE EXTENSION IF NOT EXISTS amcheck");
      else t.diagnostic("amcheck is not available on this server: only the consistency queries run");
      const queries = consistencyQueries((column, path) => `(${column}::jsonb #>> '{message,${path}}')`);
      const data = mkdtempSync(join(tmpdir(), "natter-crash-pg-"));
      dataDirs.push(data);
      const args = ["--data", data, "--port", "0", "--https-port", "0", "--store", "postgres", "--database-url", url.toString()];
      let indexesChecked = 0;
      const { acknowledged } = await crashRounds(args, async () => {
        const problems: string[] = [];
        for (const [rule, sql] of queries) {
          const { rows } = await db.query(sql);
          if (rows.length > 0) problems.push(`${rule}: ${JSON.stringify(rows.slice(0, 5))}`);
        }
        if (amcheck) {
          const { rows: indexes } = await db.query<{ name: string }>(`SELECT c.oid::regclass::text AS name FROM pg_index i
            JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE a.amname = 'btree' AND n.nspname = current_schema()`);
          indexesChecked = indexes.length;
          for (const { name } of indexes) {
            try {
              await db.query("SELECT bt_index_check($1::regclass, true)", [name]);
            } catch (error) {
              problems.push(`bt_index_check(${name}): ${String(error)}`);
            }
          }
          const { rows: heap } = await db.query(`SELECT c.relname, v.* FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
            LATERAL verify_heapam(c.oid) v WHERE c.relkind = 'r' AND n.nspname = current_schema()`);
          if (heap.length > 0) problems.push(`verify_heapam: ${JSON.stringify(heap.slice(0, 5))}`);
        }
        return problems;
      });
      t.diagnostic(`${acknowledged} messages acknowledged; amcheck: ${amcheck ? `${indexesChecked} B-tree indexes and every table checked each round` : "skipped"}`);
      if (amcheck) assert.ok(indexesChecked >= 10, `amcheck saw the schema's indexes (${indexesChecked})`);
    } finally {
      await db.end().catch(() => undefined);
      await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.end();
    }
  });
});
