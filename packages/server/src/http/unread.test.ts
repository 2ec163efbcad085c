// Natter extension through the real HTTP API: GET /natter/chat/threads (unread counts, mention counts, last
// message) after sends, edits, deletes, read receipts, removal and re-adding and history limits; mentions parsed
// on send and edit; the extension's api-version rules; ACS responses unchanged. On SQLite, and on PostgreSQL
// when NATTER_TEST_PG_URL is set.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { TestNatter } from "../test-support/test-natter.js";
import { createTestUser, startTestNatter } from "../test-support/test-natter.js";
import { createTestDatabase } from "../test-support/cluster.js";

const V = "api-version=2025-03-15";
const NV = "api-version=2026-12-01-natter";
const identifier = (id: string) => ({ rawId: id, communicationUser: { id } });
const mention = (id: string, name: string) => `<msft-mention id="${id}">${name}</msft-mention>`;

type User = { userId: string; token: string };

function suite(name: string, start: () => Promise<{ natter: TestNatter; cleanup: () => Promise<void> }>) {
  describe(`unread counts and mentions (${name})`, () => {
    let natter: TestNatter;
    let cleanup: () => Promise<void>;
    let alice: User;
    let bob: User;
    let carol: User;

    before(async () => {
      ({ natter, cleanup } = await start());
      alice = await createTestUser(natter);
      bob = await createTestUser(natter);
      carol = await createTestUser(natter);
    });
    after(async () => {
      await natter.stop();
      await cleanup();
    });

    async function call(user: User | undefined, method: string, path: string, body?: unknown) {
      const res = await fetch(new URL(path, natter.httpUrl), {
        method,
        headers: { ...(user ? { authorization: `Bearer ${user.token}` } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    }
    const threadPath = (t: string) => `/chat/threads/${encodeURIComponent(t)}`;
    async function createThread(by: User, members: User[], topic = "unread") {
      const r = await call(by, "POST", `/chat/threads?${V}`, { topic, participants: members.map((m) => ({ communicationIdentifier: identifier(m.userId) })) });
      assert.equal(r.status, 201);
      return r.body.chatThread.id as string;
    }
    async function send(by: User, t: string, content: string, type = "text") {
      const r = await call(by, "POST", `${threadPath(t)}/messages?${V}`, { content, type, senderDisplayName: "Sender" });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.id as string;
    }
    async function summary(user: User, t: string) {
      const r = await call(user, "GET", `/natter/chat/threads?${NV}&maxPageSize=200`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return (r.body.value as { id: string; unreadCount: number; unreadMentionCount: number; lastMessage?: Record<string, unknown> }[]).find((i) => i.id === t);
    }

    it("counts others' messages after the read receipt; edits, deletes, receipts and own messages", async () => {
      const t = await createThread(alice, [bob]);
      let s = await summary(bob, t);
      assert.deepEqual({ ...s, lastMessage: undefined }, { id: t, topic: "unread", unreadCount: 0, unreadMentionCount: 0, lastMessage: undefined });
      const m1 = await send(alice, t, "hello   bob\nhow are you");
      await send(alice, t, `<p>see <b>this</b> &amp; ${mention(bob.userId, "Bob")}</p>`, "html");
      await send(bob, t, "my own");
      s = await summary(bob, t);
      assert.equal(s?.unreadCount, 2);
      assert.equal(s?.unreadMentionCount, 1);
      assert.equal(s?.lastMessage?.preview, "my own");
      assert.equal((s?.lastMessage?.senderCommunicationIdentifier as { rawId: string }).rawId, bob.userId);
      assert.equal(s?.lastMessage?.senderDisplayName, "Sender");
      assert.match(String(s?.lastMessage?.createdOn), /^\d{4}-\d\d-\d\dT/);
      // Alice: bob's one message; her own do not count.
      assert.equal((await summary(alice, t))?.unreadCount, 1);
      // A read receipt moves the start.
      assert.equal((await call(bob, "POST", `${threadPath(t)}/readReceipts?${V}`, { chatMessageId: m1 })).status, 200);
      s = await summary(bob, t);
      assert.equal(s?.unreadCount, 1);
      assert.equal(s?.unreadMentionCount, 1);
      // Deleting the last message: the preview falls back; deleting alice's mention clears bob's counts.
      const last = await send(alice, t, "x".repeat(300));
      s = await summary(bob, t);
      assert.equal(s?.unreadCount, 2);
      assert.equal(String(s?.lastMessage?.preview).length, 120);
      assert.ok(String(s?.lastMessage?.preview).endsWith("…"));
      assert.equal((await call(alice, "DELETE", `${threadPath(t)}/messages/${last}?${V}`)).status, 204);
      s = await summary(bob, t);
      assert.equal(s?.unreadCount, 1);
      assert.equal(s?.lastMessage?.preview, "my own");
      // The html message's preview is its text.
      const lastHtml = (await summary(alice, t))!;
      assert.equal(lastHtml.lastMessage?.preview, "my own");
    });

    it("html previews are text; edits add and remove mentions", async () => {
      const t = await createThread(alice, [bob]);
      const id = await send(alice, t, `<p>hi <b>there</b> &amp; ${mention(bob.userId, "Bob")}</p><script>x()</script>`, "html");
      let s = await summary(bob, t);
      assert.equal(s?.lastMessage?.preview, "hi there & Bob");
      assert.equal(s?.unreadMentionCount, 1);
      assert.equal((await call(alice, "PATCH", `${threadPath(t)}/messages/${id}?${V}`, { content: "<p>no mention now</p>" })).status, 204);
      s = await summary(bob, t);
      assert.equal(s?.unreadMentionCount, 0);
      assert.equal(s?.unreadCount, 1);
      assert.equal(s?.lastMessage?.preview, "no mention now");
      assert.equal((await call(alice, "PATCH", `${threadPath(t)}/messages/${id}?${V}`, { content: `again ${mention(bob.userId, "Bob")}` })).status, 204);
      assert.equal((await summary(bob, t))?.unreadMentionCount, 1);
      // A text message's tag is just text: no mention.
      await send(alice, t, mention(bob.userId, "Bob"), "text");
      s = await summary(bob, t);
      assert.equal(s?.unreadCount, 2);
      assert.equal(s?.unreadMentionCount, 1);
    });

    it("a mention of a non-participant becomes its text and counts for nobody; the ACS message keeps valid tags", async () => {
      const t = await createThread(alice, [bob]);
      const content = `hi ${mention(carol.userId, "Carol")} and ${mention(bob.userId, "Bob")} and <msft-mention id="">Nobody</msft-mention><MSFT-MENTION ID='8:acs:unknown'>Ghost`;
      const id = await send(alice, t, content, "html");
      const got = await call(bob, "GET", `${threadPath(t)}/messages/${id}?${V}`);
      assert.equal(got.status, 200);
      assert.equal(got.body.content.message, `hi Carol and ${mention(bob.userId, "Bob")} and NobodyGhost`);
      // The ACS shape is unchanged: no extension field on the message.
      assert.equal(got.body.mentions, undefined);
      assert.deepEqual(Object.keys(got.body.content), ["message"]);
      // carol is not in the thread: the extension lists nothing for her.
      assert.equal(await summary(carol, t), undefined);
      assert.equal((await summary(bob, t))?.unreadMentionCount, 1);
    });

    it("removal and re-adding, and a shared-history limit, bound the counts", async () => {
      const t = await createThread(alice, [bob]);
      await send(alice, t, "one");
      await send(alice, t, `two ${mention(bob.userId, "Bob")}`, "html");
      assert.equal((await call(alice, "POST", `${threadPath(t)}/participants/:remove?${V}`, identifier(bob.userId))).status, 204);
      assert.equal(await summary(bob, t), undefined);
      await send(alice, t, "while away");
      // Re-added with history from now on: earlier messages neither count nor show.
      const since = new Date(Date.now() + 1).toISOString();
      await new Promise((r) => setTimeout(r, 5));
      const add = await call(alice, "POST", `${threadPath(t)}/participants/:add?${V}`, { participants: [{ communicationIdentifier: identifier(bob.userId), shareHistoryTime: since }] });
      assert.equal(add.status, 201);
      let s = await summary(bob, t);
      assert.deepEqual({ unread: s?.unreadCount, mentions: s?.unreadMentionCount, last: s?.lastMessage }, { unread: 0, mentions: 0, last: undefined });
      await send(alice, t, "welcome back");
      s = await summary(bob, t);
      assert.equal(s?.unreadCount, 1);
      assert.equal(s?.lastMessage?.preview, "welcome back");
      // Re-added with the whole history: everything after the old receipt (none) counts again.
      assert.equal((await call(alice, "POST", `${threadPath(t)}/participants/:remove?${V}`, identifier(bob.userId))).status, 204);
      assert.equal((await call(alice, "POST", `${threadPath(t)}/participants/:add?${V}`, { participants: [{ communicationIdentifier: identifier(bob.userId) }] })).status, 201);
      s = await summary(bob, t);
      assert.equal(s?.unreadCount, 4);
      assert.equal(s?.unreadMentionCount, 1);
    });

    it("deleted threads are listed with zero counts; paging follows nextLink at the extension's api-version", async () => {
      const dave = await createTestUser(natter);
      const threads = [await createThread(alice, [dave], "p1"), await createThread(alice, [dave], "p2"), await createThread(alice, [dave], "p3")];
      await send(alice, threads[0], "x");
      assert.equal((await call(alice, "DELETE", `${threadPath(threads[0])}?${V}`)).status, 204);
      const seen: { id: string; unreadCount: number; lastMessage?: unknown; deletedOn?: string }[] = [];
      let next: string | undefined = `/natter/chat/threads?${NV}&maxPageSize=2`;
      while (next) {
        const r = await call(dave, "GET", next);
        assert.equal(r.status, 200);
        seen.push(...r.body.value);
        next = r.body.nextLink;
        if (next) assert.match(next, /^\/natter\/chat\/threads\?api-version=2026-12-01-natter&/);
      }
      assert.deepEqual(seen.map((i) => i.id).sort(), [...threads].sort());
      const deleted = seen.find((i) => i.id === threads[0])!;
      assert.ok(deleted.deletedOn);
      assert.equal(deleted.unreadCount, 0);
      assert.equal(deleted.lastMessage, undefined);
    });

    it("bad input: api-version, auth, maxPageSize, startTime, syncState → ACS errors; ACS list unchanged", async () => {
      const expectError = async (path: string, status: number, code: string, user: User | null = alice) => {
        const r = await call(user ?? undefined, "GET", path);
        assert.equal(r.status, status, `${path}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error.code, code);
        assert.equal(typeof r.body.error.message, "string");
      };
      await expectError("/natter/chat/threads", 400, "ApiVersionUnspecified");
      await expectError(`/natter/chat/threads?${V}`, 400, "UnsupportedApiVersion");
      await expectError(`/chat/threads?${NV}`, 400, "UnsupportedApiVersion");
      await expectError(`/natter/chat/threads?${NV}`, 401, "Unauthorized", null);
      await expectError(`/natter/chat/threads?${NV}&maxPageSize=0`, 400, "ValidationError");
      await expectError(`/natter/chat/threads?${NV}&maxPageSize=201`, 400, "ValidationError");
      await expectError(`/natter/chat/threads?${NV}&maxPageSize=abc`, 400, "ValidationError");
      await expectError(`/natter/chat/threads?${NV}&startTime=yesterday`, 400, "ValidationError");
      await expectError(`/natter/chat/threads?${NV}&syncState=${"x".repeat(2000)}`, 400, "ValidationError");
      const acs = await call(alice, "GET", `/chat/threads?${V}`);
      assert.equal(acs.status, 200);
      for (const item of acs.body.value) assert.deepEqual(Object.keys(item).filter((k) => !["id", "topic", "deletedOn", "lastMessageReceivedOn"].includes(k)), []);
    });
  });
}

suite("SQLite", async () => ({ natter: await startTestNatter(), cleanup: async () => {} }));

const pgUrl = process.env.NATTER_TEST_PG_URL;
if (pgUrl) {
  suite("PostgreSQL", async () => {
    const database = await createTestDatabase(pgUrl, "natter_unread");
    return { natter: await startTestNatter({ store: "postgres", databaseUrl: database.url }), cleanup: () => database.drop() };
  });
} else {
  it("unread counts on PostgreSQL", { skip: "NATTER_TEST_PG_URL is not set" }, () => {});
}
