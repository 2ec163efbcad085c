// NUL characters (U+0000) and malformed continuation tokens get the same 4xx and ACS error body on every
// store. PostgreSQL cannot store U+0000 in TEXT and rejects non-integers for BIGINT, so before the input was
// checked ahead of the Store these requests were 500 on PostgreSQL and 4xx (or 2xx) on SQLite. The rule
// (docs/errors.md): U+0000 in a text field is 400 ValidationError naming the field; U+0000 in a thread or
// message id names nothing that exists: 404 NotFound; a continuation token that this service did not make is
// 400 ValidationError (syncState). The table runs against a SQLite node and a PostgreSQL node
// (NATTER_TEST_PG_URL; skipped with the reason printed when unset) and compares the answers row by row.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createTestUser, startTestNatter } from "../test-support/test-natter.js";
import type { TestNatter } from "../test-support/test-natter.js";
import { createTestDatabase } from "../test-support/cluster.js";
import type { TestDatabase } from "../test-support/cluster.js";

const V = "api-version=2025-03-15";
const NUL = "a\u0000b";
const identifier = (id: string) => ({ rawId: id, communicationUser: { id } });
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
type User = Awaited<ReturnType<typeof createTestUser>>;

interface Fixture {
  threadId: string;
  messageId: string;
  t: string;
  m: string;
  bob: User;
}

interface Row {
  name: string;
  method: string;
  path: (f: Fixture) => string;
  body?: (f: Fixture) => unknown;
  status: number;
  code: string;
  target?: string;
}

const ROWS: Row[] = [
  { name: "createThread topic", method: "POST", path: () => "/chat/threads", body: () => ({ topic: NUL }), status: 400, code: "ValidationError", target: "topic" },
  { name: "createThread participant displayName", method: "POST", path: () => "/chat/threads", body: (f) => ({ topic: "t", participants: [{ communicationIdentifier: identifier(f.bob.userId), displayName: NUL }] }), status: 400, code: "ValidationError", target: "displayName" },
  { name: "createThread metadata value", method: "POST", path: () => "/chat/threads", body: () => ({ topic: "t", metadata: { k: NUL } }), status: 400, code: "ValidationError", target: "metadata" },
  { name: "updateThread topic", method: "PATCH", path: (f) => f.t, body: () => ({ topic: NUL }), status: 400, code: "ValidationError", target: "topic" },
  { name: "sendMessage content", method: "POST", path: (f) => `${f.t}/messages`, body: () => ({ content: NUL }), status: 400, code: "ValidationError", target: "content" },
  { name: "sendMessage senderDisplayName", method: "POST", path: (f) => `${f.t}/messages`, body: () => ({ content: "hi", senderDisplayName: NUL }), status: 400, code: "ValidationError", target: "senderDisplayName" },
  { name: "sendMessage metadata key", method: "POST", path: (f) => `${f.t}/messages`, body: () => ({ content: "hi", metadata: { [NUL]: "v" } }), status: 400, code: "ValidationError", target: "metadata" },
  { name: "sendMessage metadata value", method: "POST", path: (f) => `${f.t}/messages`, body: () => ({ content: "hi", metadata: { k: NUL } }), status: 400, code: "ValidationError", target: "metadata" },
  { name: "updateMessage content", method: "PATCH", path: (f) => f.m, body: () => ({ content: NUL }), status: 400, code: "ValidationError", target: "content" },
  { name: "updateMessage metadata", method: "PATCH", path: (f) => f.m, body: () => ({ metadata: { k: NUL } }), status: 400, code: "ValidationError", target: "metadata" },
  { name: "addParticipants displayName", method: "POST", path: (f) => `${f.t}/participants/:add`, body: (f) => ({ participants: [{ communicationIdentifier: identifier(f.bob.userId), displayName: NUL }] }), status: 400, code: "ValidationError", target: "displayName" },
  { name: "addParticipants metadata", method: "POST", path: (f) => `${f.t}/participants/:add`, body: (f) => ({ participants: [{ communicationIdentifier: identifier(f.bob.userId), metadata: { k: NUL } }] }), status: 400, code: "ValidationError", target: "participant metadata" },
  { name: "typing senderDisplayName", method: "POST", path: (f) => `${f.t}/typing`, body: () => ({ senderDisplayName: NUL }), status: 400, code: "ValidationError", target: "senderDisplayName" },
  { name: "readReceipt chatMessageId", method: "POST", path: (f) => `${f.t}/readReceipts`, body: () => ({ chatMessageId: "1\u00002" }), status: 404, code: "NotFound" },
  { name: "getThread %00 in the thread id", method: "GET", path: () => "/chat/threads/19%3Aa%00b%40thread.v2", status: 404, code: "NotFound" },
  { name: "listMessages %00 in the thread id", method: "GET", path: () => "/chat/threads/%00/messages", status: 404, code: "NotFound" },
  { name: "sendMessage %00 in the thread id", method: "POST", path: () => "/chat/threads/19%3A%00%40thread.v2/messages", body: () => ({ content: "hi" }), status: 404, code: "NotFound" },
  { name: "deleteThread %00 in the thread id", method: "DELETE", path: () => "/chat/threads/19%3A%00%40thread.v2", status: 404, code: "NotFound" },
  { name: "getMessage %00 in the message id", method: "GET", path: (f) => `${f.t}/messages/1%002`, status: 404, code: "NotFound" },
  { name: "updateMessage %00 in the message id", method: "PATCH", path: (f) => `${f.t}/messages/%00`, body: () => ({ content: "x" }), status: 404, code: "NotFound" },
  { name: "deleteMessage %00 in the message id", method: "DELETE", path: (f) => `${f.t}/messages/%00`, status: 404, code: "NotFound" },
  { name: "listThreads cursor a = 1.5", method: "GET", path: () => `/chat/threads?syncState=${b64({ a: 1.5, c: 1, i: "x" })}`, status: 400, code: "ValidationError", target: "syncState" },
  { name: "listThreads cursor a = 1e30", method: "GET", path: () => `/chat/threads?syncState=${b64({ a: 1e30, c: 1, i: "x" })}`, status: 400, code: "ValidationError", target: "syncState" },
  { name: "listThreads cursor c = 1.5", method: "GET", path: () => `/chat/threads?syncState=${b64({ a: 1, c: 1.5, i: "x" })}`, status: 400, code: "ValidationError", target: "syncState" },
  { name: "listThreads cursor NUL in i", method: "GET", path: () => `/chat/threads?syncState=${b64({ a: 1, c: 1, i: NUL })}`, status: 400, code: "ValidationError", target: "syncState" },
  { name: "listMessages cursor v = 1e30", method: "GET", path: (f) => `${f.t}/messages?syncState=${b64({ v: 1e30 })}`, status: 400, code: "ValidationError", target: "syncState" },
];

async function request(natter: TestNatter, user: User, row: Row, f: Fixture) {
  const path = row.path(f);
  const url = `http://127.0.0.1:${natter.config.port}${path}${path.includes("?") ? "&" : "?"}${V}`;
  const body = row.body?.(f);
  const res = await fetch(url, {
    method: row.method,
    headers: {
      authorization: `Bearer ${user.token}`,
      ...(body !== undefined ? { "content-type": row.method === "PATCH" ? "application/merge-patch+json" : "application/json" } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as { error?: { code: string; message: string; target?: string } }) : undefined };
}

async function fixture(natter: TestNatter): Promise<{ alice: User; f: Fixture }> {
  const alice = await createTestUser(natter);
  const bob = await createTestUser(natter);
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`http://127.0.0.1:${natter.config.port}${path}?${V}`, {
      method: "POST", headers: { authorization: `Bearer ${alice.token}`, "content-type": "application/json" }, body: JSON.stringify(body),
    });
    assert.equal(res.status, 201);
    return (await res.json()) as Record<string, { id: string } & Record<string, unknown>>;
  };
  const threadId = (await post("/chat/threads", { topic: "nul" })).chatThread.id;
  const t = `/chat/threads/${encodeURIComponent(threadId)}`;
  const messageId = (await post(`${t}/messages`, { content: "hi" })).id as unknown as string;
  return { alice, f: { threadId, messageId, t, m: `${t}/messages/${messageId}`, bob } };
}

/** Every row's answer on one node: [status, code, target] and the full body, in table order. */
async function answers(natter: TestNatter) {
  const { alice, f } = await fixture(natter);
  const out: { name: string; status: number; code?: string; target?: string; message?: string }[] = [];
  for (const row of ROWS) {
    const r = await request(natter, alice, row, f);
    out.push({ name: row.name, status: r.status, code: r.body?.error?.code, target: r.body?.error?.target, message: r.body?.error?.message });
  }
  return out;
}

function expectTable(result: Awaited<ReturnType<typeof answers>>, store: string) {
  for (const [i, row] of ROWS.entries()) {
    const got = result[i];
    assert.deepEqual({ status: got.status, code: got.code, target: got.target }, { status: row.status, code: row.code, target: row.target }, `${store}: ${row.name}`);
    assert.equal(typeof got.message, "string", `${store}: ${row.name} has an ACS error message`);
  }
}

const pgUrl = process.env.NATTER_TEST_PG_URL;
if (!pgUrl) console.log("# nul-input: the PostgreSQL half is skipped: NATTER_TEST_PG_URL is not set");

describe("NUL characters and malformed cursors: the same 4xx on SQLite and PostgreSQL", () => {
  let sqlite: TestNatter;
  let postgres: TestNatter | undefined;
  let database: TestDatabase | undefined;
  let sqliteAnswers: Awaited<ReturnType<typeof answers>>;
  before(async () => {
    sqlite = await startTestNatter();
    sqliteAnswers = await answers(sqlite);
  });
  after(async () => {
    await sqlite?.stop();
    await postgres?.stop();
    await database?.drop();
  });

  it("SQLite node: each row answers its 4xx with the ACS error body", () => {
    expectTable(sqliteAnswers, "SQLite");
  });

  it("PostgreSQL node: each row answers exactly what the SQLite node answered", { skip: pgUrl ? false : "NATTER_TEST_PG_URL not set" }, async () => {
    database = await createTestDatabase(pgUrl!, "natter_nul");
    postgres = await startTestNatter({ store: "postgres", databaseUrl: database.url });
    const pgAnswers = await answers(postgres);
    expectTable(pgAnswers, "PostgreSQL");
    assert.deepEqual(pgAnswers, sqliteAnswers);
  });
});
