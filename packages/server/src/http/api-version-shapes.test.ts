// Response shapes follow the api-version of the request (issue #21 items 2 and 3): every identifier-bearing field
// of every chat response (thread createdBy, message sender, system-message initiator and participants, the
// participant list, read receipts) carries `kind` only from 2023-11-07 on, as each version's swagger defines
// CommunicationIdentifierModel; 2021-03-07 (chat SDK 1.0.x) is served and has no message metadata.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { CHAT_API_VERSIONS } from "@natter/wire";
import type { TestNatter } from "../test-support/test-natter.js";
import { createTestUser, startTestNatter } from "../test-support/test-natter.js";
import { toWireIdentifier } from "./mappers/chat.js";

let natter: TestNatter;
let alice: { userId: string; token: string };
let bob: { userId: string; token: string };
let threadId: string;

const identifier = (id: string) => ({ rawId: id, communicationUser: { id } });

async function call(token: string, method: string, path: string, version: string, body?: unknown) {
  const url = new URL(path, natter.httpUrl);
  url.searchParams.set("api-version", version);
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const threadPath = () => `/chat/threads/${encodeURIComponent(threadId)}`;

before(async () => {
  natter = await startTestNatter();
  alice = await createTestUser(natter);
  bob = await createTestUser(natter);
  const created = await call(alice.token, "POST", "/chat/threads", "2025-03-15", { topic: "shapes", participants: [{ communicationIdentifier: identifier(bob.userId) }] });
  assert.equal(created.status, 201);
  threadId = created.body.chatThread.id;
  const sent = await call(alice.token, "POST", `${threadPath()}/messages`, "2025-03-15", { content: "hi", metadata: { k: "v" } });
  assert.equal(sent.status, 201);
  assert.equal((await call(bob.token, "POST", `${threadPath()}/readReceipts`, "2025-03-15", { chatMessageId: sent.body.id })).status, 200);
  await call(alice.token, "PATCH", threadPath(), "2025-03-15", { topic: "renamed" });
});
after(() => natter.stop());

/** Every identifier model of the thread's responses at `version`, each named by where it came from. */
async function identifiersAt(version: string): Promise<[string, Record<string, unknown>][]> {
  const found: [string, Record<string, unknown>][] = [];
  const thread = await call(alice.token, "GET", threadPath(), version);
  assert.equal(thread.status, 200, JSON.stringify(thread.body));
  found.push(["thread.createdByCommunicationIdentifier", thread.body.createdByCommunicationIdentifier]);
  const created = await call(alice.token, "POST", "/chat/threads", version, { topic: "at version", participants: [{ communicationIdentifier: identifier(bob.userId) }] });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  found.push(["createChatThread.createdByCommunicationIdentifier", created.body.chatThread.createdByCommunicationIdentifier]);
  const messages = await call(alice.token, "GET", `${threadPath()}/messages`, version);
  assert.equal(messages.status, 200);
  for (const m of messages.body.value) {
    if (m.senderCommunicationIdentifier) found.push([`${m.type}.senderCommunicationIdentifier`, m.senderCommunicationIdentifier]);
    if (m.content?.initiatorCommunicationIdentifier) found.push([`${m.type}.content.initiatorCommunicationIdentifier`, m.content.initiatorCommunicationIdentifier]);
    for (const p of m.content?.participants ?? []) found.push([`${m.type}.content.participants[].communicationIdentifier`, p.communicationIdentifier]);
  }
  const participants = await call(alice.token, "GET", `${threadPath()}/participants`, version);
  for (const p of participants.body.value) found.push(["participants[].communicationIdentifier", p.communicationIdentifier]);
  const receipts = await call(alice.token, "GET", `${threadPath()}/readReceipts`, version);
  for (const r of receipts.body.value) found.push(["readReceipts[].senderCommunicationIdentifier", r.senderCommunicationIdentifier]);
  return found;
}

describe("chat response shapes per api-version", () => {
  for (const version of CHAT_API_VERSIONS) {
    it(`${version}: identifier models ${version >= "2023-11-07" ? "carry" : "do not carry"} kind`, async () => {
      const found = await identifiersAt(version);
      const where = new Set(found.map(([w]) => w));
      for (const field of ["thread.createdByCommunicationIdentifier", "createChatThread.createdByCommunicationIdentifier", "text.senderCommunicationIdentifier",
        "participantAdded.content.initiatorCommunicationIdentifier", "participantAdded.content.participants[].communicationIdentifier",
        "topicUpdated.content.initiatorCommunicationIdentifier", "participants[].communicationIdentifier", "readReceipts[].senderCommunicationIdentifier"]) {
        assert.ok(where.has(field), `${field} was checked`);
      }
      const expected = version >= "2023-11-07" ? ["communicationUser", "kind", "rawId"] : ["communicationUser", "rawId"];
      for (const [field, model] of found) assert.deepEqual(Object.keys(model).sort(), expected, `${field} at ${version}: ${JSON.stringify(model)}`);
    });
  }

  it("2021-03-07 is served; message metadata is in responses from 2021-09-07 on and ignored in 2021-03-07 requests", async () => {
    const messages = async (version: string) => (await call(alice.token, "GET", `${threadPath()}/messages`, version)).body.value as { type: string; metadata?: unknown; content?: { message?: string } }[];
    assert.equal((await messages("2021-03-07")).find((m) => m.type === "text")?.metadata, undefined);
    assert.deepEqual((await messages("2021-09-07")).find((m) => m.type === "text")?.metadata, { k: "v" });
    const sent = await call(alice.token, "POST", `${threadPath()}/messages`, "2021-03-07", { content: "old", metadata: { x: "y" } });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    const got = await call(alice.token, "GET", `${threadPath()}/messages/${sent.body.id}`, "2025-03-15");
    assert.equal(got.body.content.message, "old");
    assert.equal(got.body.metadata, undefined);
    assert.equal((await call(bob.token, "POST", `${threadPath()}/typing`, "2021-03-07")).status, 200);
    // The name is left out of 2021-03-07's typing event, but it is still validated (found by the fuzz test).
    assert.equal((await call(bob.token, "POST", `${threadPath()}/typing`, "2021-03-07", { senderDisplayName: "Bob" })).status, 200);
    const tooLong = await call(bob.token, "POST", `${threadPath()}/typing`, "2021-03-07", { senderDisplayName: "x".repeat(257) });
    assert.equal(tooLong.status, 400, JSON.stringify(tooLong.body));
    assert.equal(tooLong.body.error.code, "ValidationError");
  });

  it("a Teams app identifier is only its rawId before 2024-03-07 (no microsoftTeamsApp in that model)", () => {
    const app = "28:orgid:1b2c3d4e-0000-4000-8000-000000000001";
    assert.deepEqual(toWireIdentifier(app, "2021-09-07"), { rawId: app });
    assert.deepEqual(toWireIdentifier(app, "2023-11-07"), { rawId: app });
    assert.deepEqual(toWireIdentifier(app, "2024-03-07").microsoftTeamsApp, { appId: "1b2c3d4e-0000-4000-8000-000000000001", cloud: "public" });
    assert.deepEqual(toWireIdentifier("4:+14255550123", "2021-03-07"), { rawId: "4:+14255550123", phoneNumber: { value: "+14255550123" } });
  });
});
