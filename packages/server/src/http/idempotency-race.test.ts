// Idempotency under concurrency, through a real node on each Store: 20 identical requests fired together
// (same repeatability-request-id for CreateChatThread, same x-ms-client-request-id for SendChatMessage) all get
// the first result (same status, same body), and exactly one thread / one message / one event is written. On
// PostgreSQL the requests really race (the losers find no record, then lose the unique insert).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { TestNatter } from "../test-support/test-natter.js";
import { createTestUser, startTestNatter } from "../test-support/test-natter.js";

const V = "api-version=2024-03-07";
const N = 20;
const identifier = (id: string) => ({ rawId: id, communicationUser: { id } });
const pgUrl = process.env.NATTER_TEST_PG_URL;

interface Answer {
  status: number;
  location: string | null;
  body: string;
}

async function post(natter: TestNatter, path: string, token: string, body: unknown, headers: Record<string, string>): Promise<Answer> {
  const res = await fetch(new URL(path, `http://127.0.0.1:${natter.config.port}/`), {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, location: res.headers.get("location"), body: await res.text() };
}

async function get(natter: TestNatter, path: string, token: string): Promise<{ value: Record<string, unknown>[] }> {
  const res = await fetch(new URL(path, `http://127.0.0.1:${natter.config.port}/`), { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  return (await res.json()) as { value: Record<string, unknown>[] };
}

async function race(natter: TestNatter): Promise<void> {
  const [alice, bob] = await Promise.all([createTestUser(natter), createTestUser(natter)]);

  // CreateChatThread x N with one repeatability-request-id.
  const topic = `race ${randomBytes(4).toString("hex")}`;
  const key = randomBytes(8).toString("hex");
  const created = await Promise.all(Array.from({ length: N }, () =>
    post(natter, `/chat/threads?${V}`, alice.token, { topic, participants: [{ communicationIdentifier: identifier(bob.userId), displayName: "Bob" }] }, { "repeatability-request-id": key })));
  assert.deepEqual(created.map((a) => a.status), created.map(() => 201), created.map((a) => a.body).join("\n"));
  for (const answer of created) assert.deepEqual(answer, created[0]);
  const threadId = (JSON.parse(created[0].body) as { chatThread: { id: string } }).chatThread.id;
  const threads = (await get(natter, `/chat/threads?${V}&maxPageSize=200`, alice.token)).value;
  assert.deepEqual(threads.map((t) => t.id), [threadId], "exactly one thread was created");
  await natter.store.headPosition(); // readers see every event committed before the head
  const creations = (await natter.store.readEvents(bob.userId, 0, 1_000)).filter((e) => e.type === "chatThreadCreated");
  assert.deepEqual(creations.map((e) => e.threadId), [threadId], "exactly one chatThreadCreated event");

  // SendChatMessage x N with one x-ms-client-request-id (a client retrying a POST it thinks was lost).
  const requestId = randomBytes(8).toString("hex");
  const path = `/chat/threads/${encodeURIComponent(threadId)}/messages?${V}`;
  const sent = await Promise.all(Array.from({ length: N }, () =>
    post(natter, path, alice.token, { content: "only once", senderDisplayName: "Alice" }, { "x-ms-client-request-id": requestId })));
  assert.deepEqual(sent.map((a) => a.status), sent.map(() => 201), sent.map((a) => a.body).join("\n"));
  for (const answer of sent) assert.deepEqual(answer, sent[0]);
  const messages = (await get(natter, `/chat/threads/${encodeURIComponent(threadId)}/messages?${V}&maxPageSize=200`, bob.token)).value;
  const texts = messages.filter((m) => m.type === "text");
  assert.deepEqual(texts.map((m) => m.id), [(JSON.parse(sent[0].body) as { id: string }).id], "exactly one message was stored");
  // Sequence ids stay contiguous: no rolled-back attempt left a hole or a double.
  const sequences = messages.map((m) => Number(m.sequenceId)).sort((a, b) => a - b);
  assert.deepEqual(sequences, sequences.map((_, i) => i + 1));
  await natter.store.headPosition();
  const received = (await natter.store.readEvents(bob.userId, 0, 1_000)).filter((e) => e.type === "chatMessageReceived");
  assert.equal(received.length, 1, "exactly one chatMessageReceived event");

  // The same key with a different body is still a conflict (409), not a replay, even when racing.
  const other = await Promise.all(Array.from({ length: 4 }, () =>
    post(natter, `/chat/threads?${V}`, alice.token, { topic: `${topic} (changed)` }, { "repeatability-request-id": key })));
  assert.deepEqual(other.map((a) => a.status), [409, 409, 409, 409]);
}

describe("idempotency under concurrent identical requests", () => {
  it(`SQLite: ${N} identical createChatThread / sendMessage requests answer the first result, one write`, async () => {
    const natter = await startTestNatter();
    try {
      await race(natter);
    } finally {
      await natter.stop();
    }
  });

  it(`PostgreSQL: ${N} identical createChatThread / sendMessage requests answer the first result, one write`, { skip: pgUrl ? false : "NATTER_TEST_PG_URL not set" }, async () => {
    const pg = await import("pg");
    const schema = `natter_test_${randomBytes(6).toString("hex")}`;
    const admin = new pg.default.Client({ connectionString: pgUrl });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    const url = new URL(pgUrl!);
    url.searchParams.set("options", `-c search_path=${schema}`);
    try {
      const natter = await startTestNatter({ store: "postgres", databaseUrl: url.toString() });
      try {
        // Several rounds: each one is a fresh race.
        for (let round = 0; round < 3; round++) await race(natter);
      } finally {
        await natter.stop();
      }
    } finally {
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
    }
  });
});
