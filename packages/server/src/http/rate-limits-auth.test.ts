// Issue #18 item 7: with --limits acs only authenticated, authorised callers are counted. Unsigned or
// badly signed admin calls do not use up the resource's CreateUser limit; an outsider's requests on a thread
// do not use up the thread's limits; the in-memory counter stays bounded and exact.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { TestNatter } from "../test-support/test-natter.js";
import { createTestUser, startTestNatter } from "../test-support/test-natter.js";
import { signedHeaders } from "../test-support/natter-process.js";
import { MemoryRateCounter } from "./plugins/rate-limits.js";

const V = "api-version=2024-03-07";
const identifier = (id: string) => ({ rawId: id, communicationUser: { id } });

describe("--limits acs counts authenticated, authorised callers only", () => {
  let natter: TestNatter;
  // One fixed instant: every request falls in the same rate window, however slow the machine.
  const instant = Date.now();
  before(async () => (natter = await startTestNatter({ limits: "acs" }, { now: () => instant })));
  after(() => natter.stop());

  it("1,100 unsigned or badly signed CreateUser calls do not use up the limit: a signed one still gets 201", async () => {
    const url = new URL("/identities?api-version=2023-10-01", natter.httpUrl);
    const body = "{}";
    const wrongKey = randomBytes(32).toString("base64");
    for (let batch = 0; batch < 22; batch++) {
      const answers = await Promise.all(Array.from({ length: 50 }, (_, i) =>
        fetch(url, { method: "POST", body, headers: i % 2 === 0 ? { "content-type": "application/json" } : signedHeaders(url, "POST", body, wrongKey) }).then(async (res) => {
          await res.body?.cancel();
          return res.status;
        }),
      ));
      assert.deepEqual([...new Set(answers)], [401], `batch ${batch}`);
    }
    const signed = await fetch(url, { method: "POST", body, headers: signedHeaders(url, "POST", body, natter.accessKey) });
    assert.equal(signed.status, 201, await signed.text());
  });

  it("demo sign-ins have a bucket of their own: they do not use up CreateUser", async () => {
    const signIn = () => fetch(new URL("/demo/sign-in", natter.httpUrl), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ displayName: "Same Name" }) });
    let limited = 0;
    for (let batch = 0; batch < 21; batch++) {
      const statuses = await Promise.all(Array.from({ length: 50 }, async () => {
        const res = await signIn();
        await res.body?.cancel();
        return res.status;
      }));
      limited += statuses.filter((s) => s === 429).length;
    }
    assert.ok(limited > 0, "the demo sign-in is limited itself (1,000 per 30 s)");
    const url = new URL("/identities?api-version=2023-10-01", natter.httpUrl);
    const signed = await fetch(url, { method: "POST", body: "{}", headers: signedHeaders(url, "POST", "{}", natter.accessKey) });
    assert.equal(signed.status, 201);
  });

  it("an outsider's requests on a thread do not produce 429 for its members", async () => {
    const alice = await createTestUser(natter);
    const bob = await createTestUser(natter);
    const mallory = await createTestUser(natter);
    const call = (token: string, method: string, path: string, body?: unknown) =>
      fetch(new URL(path, natter.httpUrl), { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    const created = await call(alice.token, "POST", `/chat/threads?${V}`, { topic: "limits", participants: [{ communicationIdentifier: identifier(bob.userId) }] });
    assert.equal(created.status, 201);
    const threadId = ((await created.json()) as { chatThread: { id: string } }).chatThread.id;
    const thread = `/chat/threads/${encodeURIComponent(threadId)}`;
    // sendMessage allows 10 per 10 s per thread, updateThread 5, listParticipants 250: the outsider sends more.
    for (let i = 0; i < 30; i++) {
      assert.equal((await call(mallory.token, "POST", `${thread}/messages?${V}`, { content: `spam ${i}` })).status, 403);
      assert.equal((await call(mallory.token, "PATCH", `${thread}?${V}`, { topic: `x${i}` })).status, 403);
    }
    for (let i = 0; i < 10; i++) assert.equal((await call(alice.token, "POST", `${thread}/messages?${V}`, { content: `hello ${i}` })).status, 201, `message ${i}`);
    assert.equal((await call(bob.token, "PATCH", `${thread}?${V}`, { topic: "still mine" })).status, 204);
    // The members' own traffic is still limited: the 11th message in the window is refused.
    const eleventh = await call(bob.token, "POST", `${thread}/messages?${V}`, { content: "one too many" });
    assert.equal(eleventh.status, 429);
    assert.ok(Number(eleventh.headers.get("retry-after")) >= 1);
  });
});

describe("MemoryRateCounter", () => {
  it("stays bounded with 200,000 random keys, evicting the oldest, and counts exactly", async () => {
    const counter = new MemoryRateCounter(); // 100,000 keys per window length
    const now = 1_700_000_005_000;
    const windowMs = 10_000;
    for (let i = 0; i < 5; i++) await counter.hit("early", windowMs, now);
    for (let i = 0; i < 200_000; i++) {
      const { count } = await counter.hit(`thread:${randomBytes(8).toString("hex")}`, windowMs, now);
      assert.equal(count, 1);
      if (i % 1000 === 0) assert.ok(counter.size <= 100_000, `size ${counter.size} after ${i + 1} keys`);
      // A hot key, hit all along, keeps being counted (re-added when it was the oldest and evicted).
      if (i % 10_000 === 0) await counter.hit("hot", windowMs, now);
    }
    assert.equal(counter.size, 100_000);
    assert.equal((await counter.hit("early", windowMs, now)).count, 1, "the oldest key was evicted (it starts again)");
    const a = await counter.hit("fresh", windowMs, now);
    const b = await counter.hit("fresh", windowMs, now);
    assert.deepEqual([a.count, b.count], [1, 2]);
    assert.equal(a.resetAt, 1_700_000_010_000);
    // The next window drops the old map whole; a late hit for the previous window still counts there.
    assert.deepEqual(await counter.hit("fresh", windowMs, now + 10_000), { count: 1, resetAt: 1_700_000_020_000 });
    assert.equal((await counter.hit("fresh", windowMs, now)).count, 3);
    assert.ok(counter.size <= 200_001);
    await counter.hit("other", windowMs, now + 20_000);
    assert.equal(counter.size, 2, "two windows later only the current and previous windows are held");
    assert.equal((await counter.hit("fresh", windowMs, now)).count, 0, "a hit older than the previous window counts nowhere");
  });

  it("answers like a plain count per (key, window) while under its bound", async () => {
    const counter = new MemoryRateCounter(1_000);
    const reference = new Map<string, number>();
    let seed = 11;
    const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648);
    let now = 1_700_000_000_000;
    for (let i = 0; i < 5_000; i++) {
      now += next() % 50;
      const windowMs = [1_000, 10_000, 60_000][next() % 3];
      const key = `k${next() % 20}:${windowMs}`;
      const start = Math.floor(now / windowMs) * windowMs;
      const id = `${key}@${start}`;
      reference.set(id, (reference.get(id) ?? 0) + 1);
      assert.deepEqual(await counter.hit(key, windowMs, now), { count: reference.get(id), resetAt: start + windowMs });
    }
  });
});
