// Chat rules through the real HTTP API: retried POSTs do not duplicate, concurrent sends get contiguous
// sequence ids, and retention really deletes expired threads.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { TestNatter } from "../test-support/test-natter.js";
import { createTestUser, startTestNatter } from "../test-support/test-natter.js";

let fakeNow = Date.now();
let natter: TestNatter;
let alice: { userId: string; token: string };
let bob: { userId: string; token: string };

before(async () => {
  natter = await startTestNatter({}, { now: () => fakeNow });
  alice = await createTestUser(natter);
  bob = await createTestUser(natter);
});
after(() => natter.stop());

const V = "api-version=2025-03-15";
const identifier = (id: string) => ({ rawId: id, communicationUser: { id } });

async function call(token: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(new URL(path, natter.httpUrl), {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function createThread(extra: Record<string, unknown> = {}) {
  const r = await call(alice.token, "POST", `/chat/threads?${V}`, { topic: "rules", participants: [{ communicationIdentifier: identifier(bob.userId) }], ...extra });
  assert.equal(r.status, 201);
  return r.body.chatThread.id as string;
}

const messagesPath = (threadId: string) => `/chat/threads/${encodeURIComponent(threadId)}/messages`;

/** Sends a POST and drops the connection as soon as the status line arrives: the client never reads the answer. */
function postAndCut(path: string, token: string, body: unknown, requestId: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, natter.httpUrl);
    const req = http.request(url, {
      method: "POST",
      agent: false,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "x-ms-client-request-id": requestId },
    });
    req.on("response", (res) => {
      res.socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

async function listAll(threadId: string) {
  const r = await call(alice.token, "GET", `${messagesPath(threadId)}?${V}&maxPageSize=200`);
  assert.equal(r.status, 200);
  return r.body.value as { id: string; type: string; sequenceId: string; content: { message?: string } }[];
}

describe("retried POSTs", () => {
  it("a sendMessage replayed with the same x-ms-client-request-id returns the first id and writes nothing", async () => {
    const threadId = await createThread();
    assert.equal(await postAndCut(`${messagesPath(threadId)}?${V}`, alice.token, { content: "once" }, "req-1"), 201);
    const retry = await call(alice.token, "POST", `${messagesPath(threadId)}?${V}`, { content: "once" }, { "x-ms-client-request-id": "req-1" });
    assert.equal(retry.status, 201);
    const texts = (await listAll(threadId)).filter((m) => m.type === "text");
    assert.equal(texts.length, 1);
    assert.equal(texts[0].id, retry.body.id);
    // Another user, or another request id, is a new message.
    const other = await call(bob.token, "POST", `${messagesPath(threadId)}?${V}`, { content: "once" }, { "x-ms-client-request-id": "req-1" });
    assert.notEqual(other.body.id, retry.body.id);
    const fresh = await call(alice.token, "POST", `${messagesPath(threadId)}?${V}`, { content: "once" }, { "x-ms-client-request-id": "req-2" });
    assert.notEqual(fresh.body.id, retry.body.id);
    assert.equal((await listAll(threadId)).filter((m) => m.type === "text").length, 3);
  });

  it("addParticipants and sendReadReceipt replays write nothing new", async () => {
    const threadId = await createThread();
    const carol = await createTestUser(natter);
    const addPath = `/chat/threads/${encodeURIComponent(threadId)}/participants/:add?${V}`;
    const body = { participants: [{ communicationIdentifier: identifier(carol.userId) }] };
    assert.equal(await postAndCut(addPath, alice.token, body, "add-1"), 201);
    // Carol leaves; a replay of the original add must not bring her back.
    assert.equal((await call(carol.token, "POST", `/chat/threads/${encodeURIComponent(threadId)}/participants/:remove?${V}`, identifier(carol.userId))).status, 204);
    assert.equal((await call(alice.token, "POST", addPath, body, { "x-ms-client-request-id": "add-1" })).status, 201);
    const participants = await call(alice.token, "GET", `/chat/threads/${encodeURIComponent(threadId)}/participants?${V}`);
    assert.ok(!participants.body.value.some((p: { communicationIdentifier: { rawId: string } }) => p.communicationIdentifier.rawId === carol.userId));

    const sent = await call(alice.token, "POST", `${messagesPath(threadId)}?${V}`, { content: "read me" });
    const receiptPath = `/chat/threads/${encodeURIComponent(threadId)}/readReceipts?${V}`;
    assert.equal(await postAndCut(receiptPath, bob.token, { chatMessageId: sent.body.id }, "rr-1"), 200);
    assert.equal((await call(bob.token, "POST", receiptPath, { chatMessageId: sent.body.id }, { "x-ms-client-request-id": "rr-1" })).status, 200);
    const receipts = await call(bob.token, "GET", receiptPath);
    assert.equal(receipts.body.value.length, 1);
  });
});

describe("sequence ids", () => {
  it("60 concurrent sends from two users get contiguous sequence ids and distinct, increasing ids", async () => {
    const threadId = await createThread();
    const sends = Array.from({ length: 60 }, (_, i) => call(i % 2 ? alice.token : bob.token, "POST", `${messagesPath(threadId)}?${V}`, { content: `m${i}` }));
    const results = await Promise.all(sends);
    assert.ok(results.every((r) => r.status === 201));
    const all = await listAll(threadId);
    assert.equal(all.length, 62);
    const bySequence = [...all].sort((a, b) => Number(a.sequenceId) - Number(b.sequenceId));
    assert.deepEqual(bySequence.map((m) => Number(m.sequenceId)), Array.from({ length: 62 }, (_, i) => i + 1));
    const ids = bySequence.map((m) => Number(m.id));
    assert.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]), "ids increase with the sequence");
  });
});

describe("retention", () => {
  it("a thread with threadCreationDate retention is purged after its days; others stay", async () => {
    const expiring = await createThread({ retentionPolicy: { kind: "threadCreationDate", deleteThreadAfterDays: 30 } });
    const keep = await createThread({ retentionPolicy: { kind: "none" } });
    const travel = async (days: number) => {
      fakeNow += days * 86_400_000;
      alice.token = (await natter.tokens.issue(alice.userId, ["chat"], 60, 0)).token; // the old one expired
    };
    await travel(29);
    await natter.chat.runHousekeeping();
    assert.equal((await call(alice.token, "GET", `/chat/threads/${encodeURIComponent(expiring)}?${V}`)).status, 200);
    await travel(2);
    const { purgedThreads } = await natter.chat.runHousekeeping();
    assert.ok(purgedThreads >= 1);
    assert.equal((await call(alice.token, "GET", `/chat/threads/${encodeURIComponent(expiring)}?${V}`)).status, 404);
    assert.equal(await natter.store.getThread(expiring), undefined, "the row is really gone");
    assert.equal((await natter.store.listMessages(expiring, { limit: 10 })).length, 0);
    assert.equal((await call(alice.token, "GET", `/chat/threads/${encodeURIComponent(keep)}?${V}`)).status, 200);
  });
});
