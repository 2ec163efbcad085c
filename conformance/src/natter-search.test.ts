// The search and jump-to-message extensions (docs/extensions.md) through Natter's SDK against the real server,
// on SQLite and on PostgreSQL (when NATTER_TEST_PG_URL is set): what a user finds (across threads, shared history,
// edits, deletes, html, CJK), paging, the messages around one, and bad input answered 4xx in the ACS error body.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createTestDatabase, createTestUser, startTestNatter } from "@natter/server/testing";
import type { TestDatabase, TestNatter } from "@natter/server/testing";
import { ChatClient } from "@natter/communication-chat";
import type { ChatMessage, ChatMessageSearchHit } from "@natter/communication-chat";
import { AzureCommunicationTokenCredential } from "@natter/communication-common";
/** The extensions' api-version, as docs/extensions.md documents it. */
const NATTER_EXTENSIONS_API_VERSION = "2026-12-01-natter";
import { collect, expectRestError } from "./helpers.js";

const STORES: { name: string; skip: string | false; database?: () => Promise<TestDatabase> }[] = [
  { name: "sqlite", skip: false },
  {
    name: "postgres",
    skip: process.env.NATTER_TEST_PG_URL ? false : "NATTER_TEST_PG_URL is not set",
    database: () => createTestDatabase(process.env.NATTER_TEST_PG_URL!, "natter_search"),
  },
];

type User = Awaited<ReturnType<typeof createTestUser>>;

for (const storeUnderTest of STORES) {
  describe(`search and messages around (extensions) on ${storeUnderTest.name}`, { skip: storeUnderTest.skip }, () => {
    let natter: TestNatter;
    let database: TestDatabase | undefined;
    let alice: User;
    let bob: User;
    let carol: User;
    const client = (user: User) => new ChatClient(natter.endpoint, new AzureCommunicationTokenCredential(user.token));
    const content = (hits: ChatMessageSearchHit[]) => hits.map((h) => h.message.content?.message);

    before(async () => {
      database = await storeUnderTest.database?.();
      natter = await startTestNatter(database ? { store: "postgres", databaseUrl: database.url } : {});
      [alice, bob, carol] = [await createTestUser(natter), await createTestUser(natter), await createTestUser(natter)];
    });
    after(async () => {
      await natter?.stop();
      await database?.drop();
    });

    async function thread(owner: User, members: User[], topic = "search"): Promise<string> {
      const { chatThread } = await client(owner).createChatThread(
        { topic }, { participants: members.map((m) => ({ id: { communicationUserId: m.userId } })) },
      );
      return chatThread!.id;
    }

    it("finds messages across the caller's threads, newest first, with a snippet and highlights; never another user's threads", async () => {
      const ab = await thread(alice, [bob]);
      const ac = await thread(alice, [carol]);
      await client(bob).getChatThreadClient(ab).sendMessage({ content: "Shall we order pineapple pizza tonight?" });
      await client(carol).getChatThreadClient(ac).sendMessage({ content: "<p>The <b>pizza</b> place is closed &amp; dark</p>" }, { type: "html" });
      const hits = await collect(client(alice).searchMessages("pizza"));
      assert.deepEqual(content(hits), ["<p>The <b>pizza</b> place is closed &amp; dark</p>", "Shall we order pineapple pizza tonight?"]);
      assert.equal(hits[0].threadId, ac);
      assert.equal(hits[0].snippet, "The pizza place is closed & dark");
      assert.deepEqual(hits[0].highlights, [{ offset: 4, length: 5 }]);
      assert.equal(hits[1].snippet.slice(hits[1].highlights[0].offset, hits[1].highlights[0].offset + hits[1].highlights[0].length), "pizza");
      assert.equal(hits[1].message.sender && "communicationUserId" in hits[1].message.sender ? hits[1].message.sender.communicationUserId : undefined, bob.userId);
      assert.deepEqual(content(await collect(client(bob).searchMessages("pizza"))), ["Shall we order pineapple pizza tonight?"]);
      assert.deepEqual(content(await collect(client(alice).searchMessages("pizza", { threadId: ab }))), ["Shall we order pineapple pizza tonight?"]);
      assert.deepEqual(content(await collect(client(alice).searchMessages("pine*"))), ["Shall we order pineapple pizza tonight?"]);
      assert.deepEqual(content(await collect(client(alice).searchMessages('"pizza tonight"'))), ["Shall we order pineapple pizza tonight?"]);
      assert.deepEqual(content(await collect(client(alice).searchMessages('"tonight pizza"'))), []);
    });

    it("edits are found by their new words at once; deleted messages never; system messages never", async () => {
      const t = await thread(alice, [bob], "walrus topic");
      const tc = client(alice).getChatThreadClient(t);
      const { id } = await tc.sendMessage({ content: "the walrus sleeps" });
      assert.equal((await collect(client(bob).searchMessages("walrus"))).length, 1);
      await tc.updateMessage(id, { content: "the narwhal swims" });
      assert.deepEqual(content(await collect(client(bob).searchMessages("walrus"))), []);
      assert.deepEqual(content(await collect(client(bob).searchMessages("narwhal"))), ["the narwhal swims"]);
      await tc.deleteMessage(id);
      assert.deepEqual(content(await collect(client(bob).searchMessages("narwhal"))), []);
      await client(alice).deleteChatThread(t);
    });

    it("a participant added with a shareHistoryTime finds only what their history shows; a removed one finds nothing", async () => {
      const t = await thread(alice, []);
      const tc = client(alice).getChatThreadClient(t);
      await tc.sendMessage({ content: "quokka before" });
      const cut = new Date(Date.now() + 5);
      await new Promise((r) => setTimeout(r, 20));
      await tc.sendMessage({ content: "quokka after" });
      await tc.addParticipants({ participants: [{ id: { communicationUserId: carol.userId }, shareHistoryTime: cut }] });
      assert.deepEqual(content(await collect(client(carol).searchMessages("quokka"))), ["quokka after"]);
      assert.deepEqual(content(await collect(client(alice).searchMessages("quokka"))), ["quokka after", "quokka before"]);
      assert.deepEqual(content(await collect(client(alice).searchMessages("quokka", { startTime: cut }))), ["quokka after"]);
      await tc.removeParticipant({ communicationUserId: carol.userId });
      assert.deepEqual(content(await collect(client(carol).searchMessages("quokka"))), []);
    });

    it("Korean, Japanese and Chinese sentences are found by the words a user types", async () => {
      const t = await thread(bob, [alice]);
      const tc = client(bob).getChatThreadClient(t);
      await tc.sendMessage({ content: "안녕하세요 여러분, 내일 회의는 취소되었습니다" });
      await tc.sendMessage({ content: "明日の会議は東京本社で行います" });
      await tc.sendMessage({ content: "我们下周在上海见面吧" });
      const one = async (q: string) => content(await collect(client(alice).searchMessages(q)));
      assert.deepEqual(await one("여러분"), ["안녕하세요 여러분, 내일 회의는 취소되었습니다"]);
      assert.deepEqual(await one("회의"), ["안녕하세요 여러분, 내일 회의는 취소되었습니다"]);
      assert.deepEqual(await one("東京"), ["明日の会議は東京本社で行います"]);
      assert.deepEqual(await one("会議"), ["明日の会議は東京本社で行います"]);
      assert.deepEqual(await one("上海"), ["我们下周在上海见面吧"]);
      assert.deepEqual(await one("见面"), ["我们下周在上海见面吧"]);
      assert.deepEqual(await one("北京"), []);
      const [hit] = await collect(client(alice).searchMessages("여러분"));
      assert.equal(hit.snippet.slice(hit.highlights[0].offset, hit.highlights[0].offset + hit.highlights[0].length), "여러분");
    });

    it("pages with maxPageSize and nextLinks: every hit once, in order", async () => {
      const t = await thread(alice, []);
      const tc = client(alice).getChatThreadClient(t);
      for (let i = 0; i < 7; i++) await tc.sendMessage({ content: `platypus number ${i}` });
      const pages: string[][] = [];
      for await (const page of client(alice).searchMessages("platypus", { maxPageSize: 3 }).byPage()) pages.push(content(page) as string[]);
      assert.deepEqual(pages.map((p) => p.length), [3, 3, 1]);
      assert.deepEqual(pages.flat(), [6, 5, 4, 3, 2, 1, 0].map((i) => `platypus number ${i}`));
    });

    it("query syntax a user may type by accident is text, never an error", async () => {
      const t = await thread(alice, []);
      await client(alice).getChatThreadClient(t).sendMessage({ content: "meet at (NEAR) the AND gate OR not" });
      for (const q of ['"unclosed', "AND", "OR NOT", "NEAR(", "a:b", "-x", "*", "pine**", "^x", "'); DROP TABLE messages; --", "\\", "%_%", "{x}"]) {
        try {
          await collect(client(alice).searchMessages(q));
        } catch (error) {
          assert.equal((error as { statusCode?: number }).statusCode, 400, `${q}: ${(error as Error).message}`);
        }
      }
      assert.equal((await collect(client(alice).searchMessages("AND gate"))).length, 1);
      assert.equal((await collect(client(alice).searchMessages('"(NEAR) the'))).length, 1);
    });

    it("bad input: 400/403/404 in the ACS error body", async () => {
      const c = client(alice);
      await expectRestError(collect(c.searchMessages("")), 400, "ValidationError");
      await expectRestError(collect(c.searchMessages("   ")), 400, "ValidationError");
      await expectRestError(collect(c.searchMessages("!!! ???")), 400, "ValidationError");
      await expectRestError(collect(c.searchMessages("x".repeat(1001))), 400, "ValidationError");
      await expectRestError(collect(c.searchMessages("a ".repeat(65))), 400, "ValidationError");
      await expectRestError(collect(c.searchMessages("pizza", { maxPageSize: 0 })), 400);
      await expectRestError(collect(c.searchMessages("pizza", { maxPageSize: 201 })), 400, "ValidationError");
      await expectRestError(collect(c.searchMessages("pizza", { threadId: "19:nope@thread.v2" })), 404, "NotFound");
      const foreign = await thread(bob, []);
      await expectRestError(collect(c.searchMessages("pizza", { threadId: foreign })), 403, "Forbidden");
      await expectRestError(c.getChatThreadClient(foreign).listMessagesAround("1"), 403, "Forbidden");
      const mine = await thread(alice, []);
      await expectRestError(c.getChatThreadClient(mine).listMessagesAround("123"), 404, "NotFound");
      await expectRestError(c.getChatThreadClient("19:nope@thread.v2").listMessagesAround("1"), 404, "NotFound");
      await expectRestError(c.getChatThreadClient(mine).listMessagesAround("1", { maxPageSize: 500 }), 400, "ValidationError");
    });

    it("REST: api-versions, startTime, syncState and a 100 KB query answer 4xx in the ACS error body", async () => {
      const get = async (path: string) => {
        const res = await fetch(new URL(path, natter.httpUrl), { headers: { authorization: `Bearer ${alice.token}` } });
        const text = await res.text();
        return { status: res.status, body: text ? JSON.parse(text) : undefined };
      };
      const V = `api-version=${NATTER_EXTENSIONS_API_VERSION}`;
      const ok = await get(`/natter/chat/search/messages?q=pizza&${V}`);
      assert.equal(ok.status, 200);
      assert.ok(Array.isArray(ok.body.value));
      const cases: [string, number, string][] = [
        ["/natter/chat/search/messages?q=pizza", 400, "ApiVersionUnspecified"],
        ["/natter/chat/search/messages?q=pizza&api-version=2025-03-15", 400, "UnsupportedApiVersion"],
        ["/natter/chat/search/messages?q=pizza&api-version=2026-12-01", 400, "UnsupportedApiVersion"],
        [`/natter/chat/search/messages?${V}`, 400, "ValidationError"],
        [`/natter/chat/search/messages?q=a&q=b&${V}`, 400, "ValidationError"],
        [`/natter/chat/search/messages?q=pizza&startTime=yesterday&${V}`, 400, "ValidationError"],
        [`/natter/chat/search/messages?q=pizza&maxPageSize=abc&${V}`, 400, "ValidationError"],
        [`/natter/chat/search/messages?q=pizza&maxPageSize=-1&${V}`, 400, "ValidationError"],
        [`/natter/chat/search/messages?q=pizza&syncState=garbage&${V}`, 400, "ValidationError"],
        [`/natter/chat/search/messages?q=${encodeURIComponent("\u0000")}&${V}`, 400, "ValidationError"],
        [`/natter/chat/threads/x/messages/around/1?direction=sideways&${V}`, 400, "ValidationError"],
      ];
      for (const [path, status, code] of cases) {
        const r = await get(path);
        assert.equal(r.status, status, path);
        assert.equal(r.body?.error?.code, code, path);
        assert.equal(typeof r.body.error.message, "string");
      }
      // 100 KB of query: longer than any URL the server reads, refused before it reaches a route.
      const huge = await get(`/natter/chat/search/messages?q=${"x".repeat(100 * 1024)}&${V}`);
      assert.ok(huge.status === 400 || huge.status === 414 || huge.status === 431, String(huge.status));
      assert.equal(typeof huge.body?.error?.code, "string");
      // A continuation token of another list is not one of ours.
      const alien = Buffer.from(JSON.stringify({ v: 5 })).toString("base64url");
      assert.equal((await get(`/natter/chat/search/messages?q=pizza&syncState=${alien}&${V}`)).status, 400);
    });

    it("messages around one: the page centred on it, then older (newest first) and newer (oldest first) to the ends", async () => {
      const t = await thread(alice, [bob]);
      const tc = client(alice).getChatThreadClient(t);
      const ids: string[] = [];
      for (let i = 0; i < 25; i++) ids.push((await tc.sendMessage({ content: `m${i}` })).id);
      const texts = (ms: ChatMessage[]) => ms.map((m) => m.content?.message ?? `<${m.type}>`);
      const around = await client(bob).getChatThreadClient(t).listMessagesAround(ids[12], { maxPageSize: 5 });
      assert.deepEqual(texts(around.messages), ["m14", "m13", "m12", "m11", "m10"]);
      assert.equal(around.hasOlder, true);
      assert.equal(around.hasNewer, true);
      const older = texts((await collect(around.older)).filter((m) => m.type === "text"));
      assert.deepEqual(older, ["m9", "m8", "m7", "m6", "m5", "m4", "m3", "m2", "m1", "m0"]);
      const olderPages: number[] = [];
      for await (const page of around.older.byPage()) olderPages.push(page.length);
      assert.ok(olderPages.every((n) => n <= 5) && olderPages.length >= 2, String(olderPages));
      assert.deepEqual(texts(await collect(around.newer)), ["m15", "m16", "m17", "m18", "m19", "m20", "m21", "m22", "m23", "m24"]);
      // At the newest message: nothing newer, the rest older.
      const end = await tc.listMessagesAround(ids[24], { maxPageSize: 4 });
      assert.deepEqual(texts(end.messages), ["m24", "m23", "m22", "m21"]);
      assert.equal(end.hasNewer, false);
      assert.deepEqual(await collect(end.newer), []);
      // A deleted message still opens (as listMessages shows it, with deletedOn).
      await tc.deleteMessage(ids[3]);
      const gone = await tc.listMessagesAround(ids[3], { maxPageSize: 3 });
      assert.ok(gone.messages[1].deletedOn instanceof Date);
      // Carol, added with history from now on, cannot open an older message, and sees only her part around a newer one.
      await tc.addParticipants({ participants: [{ id: { communicationUserId: carol.userId }, shareHistoryTime: new Date() }] });
      await expectRestError(client(carol).getChatThreadClient(t).listMessagesAround(ids[12]), 404, "NotFound");
      const { id: late } = await tc.sendMessage({ content: "late" });
      const carolView = await client(carol).getChatThreadClient(t).listMessagesAround(late, { maxPageSize: 10 });
      assert.ok(!texts(carolView.messages).some((m) => /^m\d+$/.test(m)), texts(carolView.messages).join());
      assert.equal(carolView.hasOlder, false);
    });

    it("REST: a direction walk without syncState starts next to the message, leaves it out, and 404s outside the caller's history", async () => {
      const t = await thread(alice, [bob]);
      const tc = client(alice).getChatThreadClient(t);
      const ids: string[] = [];
      for (let i = 0; i < 8; i++) ids.push((await tc.sendMessage({ content: `w${i}` })).id);
      await tc.addParticipants({ participants: [{ id: { communicationUserId: carol.userId }, shareHistoryTime: new Date() }] });
      const walk = async (user: User, id: string, direction: string) => {
        const res = await fetch(new URL(`/natter/chat/threads/${encodeURIComponent(t)}/messages/around/${id}?direction=${direction}&maxPageSize=3&api-version=${NATTER_EXTENSIONS_API_VERSION}`, natter.httpUrl),
          { headers: { authorization: `Bearer ${user.token}` } });
        return { status: res.status, body: await res.json() };
      };
      const older = await walk(bob, ids[4], "older");
      assert.equal(older.status, 200);
      assert.deepEqual(older.body.value.map((m: { content?: { message?: string } }) => m.content?.message), ["w3", "w2", "w1"]);
      assert.match(older.body.nextLink, /direction=older/);
      const newer = await walk(bob, ids[4], "newer");
      assert.deepEqual(newer.body.value.map((m: { content?: { message?: string } }) => m.content?.message), ["w5", "w6", "w7"]);
      const hidden = await walk(carol, ids[4], "older");
      assert.equal(hidden.status, 404);
      assert.equal(hidden.body.error.code, "NotFound");
    });

    it("a search hit opens in context: listMessagesAround at the hit's message", async () => {
      const t = await thread(bob, [alice]);
      const tc = client(bob).getChatThreadClient(t);
      for (let i = 0; i < 5; i++) await tc.sendMessage({ content: `filler ${i}` });
      await tc.sendMessage({ content: "the secret ocelot" });
      for (let i = 5; i < 10; i++) await tc.sendMessage({ content: `filler ${i}` });
      const [hit] = await collect(client(alice).searchMessages("ocelot"));
      const around = await client(alice).getChatThreadClient(hit.threadId).listMessagesAround(hit.message.id, { maxPageSize: 3 });
      assert.deepEqual(around.messages.map((m) => m.content?.message), ["filler 5", "the secret ocelot", "filler 4"]);
    });
  });
}
