// Issue #18 item 11c: a full disk is 503 ServiceUnavailable (ACS body, Retry-After), not 500, and /healthz
// answers 503 until the Store can write again. Reproduced for real: SQLite's max_page_count caps the database
// at its current size, so the next write that needs a page fails with a genuine SQLITE_FULL.
import { after, before, it } from "node:test";
import assert from "node:assert/strict";
import type Database from "better-sqlite3";
import type { TestNatter } from "../test-support/test-natter.js";
import { createTestUser, startTestNatter } from "../test-support/test-natter.js";
import { isStorageFullError, isUnavailableError } from "./unavailable.js";

const V = "api-version=2024-03-07";
let natter: TestNatter;
before(async () => (natter = await startTestNatter()));
after(() => natter.stop());

/** The SqliteStore's write connection (test-only reach into a private field): max_page_count is per connection. */
const writer = () => (natter.store as unknown as { writer: Database.Database }).writer;

it("answers 503 ServiceUnavailable and fails /healthz while the database is full, and recovers", async () => {
  const alice = await createTestUser(natter);
  const call = (method: string, path: string, body?: unknown) =>
    fetch(new URL(path, natter.httpUrl), { method, headers: { authorization: `Bearer ${alice.token}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const created = await call("POST", `/chat/threads?${V}`, { topic: "full" });
  assert.equal(created.status, 201);
  const threadId = ((await created.json()) as { chatThread: { id: string } }).chatThread.id;
  const messages = `/chat/threads/${encodeURIComponent(threadId)}/messages?${V}`;
  assert.equal((await fetch(new URL("/healthz", natter.httpUrl))).status, 200);

  const pages = writer().pragma("page_count", { simple: true }) as number;
  assert.equal(writer().pragma(`max_page_count = ${pages}`, { simple: true }), pages);
  let full: Response | undefined;
  for (let i = 0; i < 50 && !full; i++) {
    const res = await call("POST", messages, { content: "x".repeat(20_000) });
    if (res.status !== 201) full = res;
    else await res.body?.cancel();
  }
  assert.ok(full, "a write failed once the database was full");
  assert.equal(full.status, 503);
  assert.match(full.headers.get("content-type") ?? "", /application\/json/);
  assert.ok(Number(full.headers.get("retry-after")) >= 1);
  const body = (await full.json()) as { error: { code: string; message: string } };
  assert.equal(body.error.code, "ServiceUnavailable");
  const health = await fetch(new URL("/healthz", natter.httpUrl));
  assert.equal(health.status, 503, "healthz reports that the store cannot write");
  assert.deepEqual(await health.json(), { status: "unavailable" });
  assert.equal((await fetch(new URL("/healthz", natter.httpUrl))).status, 503, "still full: the probe fails too");
  // Reads still work while full.
  assert.equal((await call("GET", messages)).status, 200);

  writer().pragma("max_page_count = 1073741823");
  assert.equal((await fetch(new URL("/healthz", natter.httpUrl))).status, 200, "room again: the probe write clears it");
  assert.equal((await call("POST", messages, { content: "x".repeat(20_000) })).status, 201);
});

it("classifies SQLITE_FULL, PostgreSQL disk_full (53100) and ENOSPC as storage full, and not as broken connections", () => {
  const coded = (code: string) => Object.assign(new Error(code), { code });
  for (const code of ["SQLITE_FULL", "53100", "ENOSPC"]) {
    assert.equal(isStorageFullError(coded(code)), true, code);
    assert.equal(isStorageFullError(new Error("wrapped", { cause: coded(code) })), true, `${code} as a cause`);
    assert.equal(isUnavailableError(coded(code)), false, `${code} keeps its connection`);
  }
  for (const code of ["SQLITE_CONSTRAINT_UNIQUE", "23505", "ECONNREFUSED"]) assert.equal(isStorageFullError(coded(code)), false, code);
});
