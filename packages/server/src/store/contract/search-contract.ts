// The Store contract for full-text search (searchMessages) and sequence paging (listMessagesBySequence): part of
// the one contract suite every Store passes (called from store-contract.ts). Queries go through the domain's
// parser, as the service sends them.
import { describe } from "node:test";
import assert from "node:assert/strict";
import type { MessageRecord, ParticipantRecord, Store, ThreadRecord } from "../store.js";
import { parseSearchQuery } from "../../domain/search-text.js";

const A = "8:acs:natter_a";
const B = "8:acs:natter_b";
const T1 = "19:s1@thread.v2";
const T2 = "19:s2@thread.v2";

function thread(id: string): ThreadRecord {
  return {
    id, topic: "Topic", createdAt: 1_000, createdBy: A, deletedAt: null, metadata: null, retention: null,
    nextSequence: 1, clock: 999, lastMessageAt: null, expiresAt: null,
  };
}
function participant(threadId: string, userId: string, shareHistoryTime = 0): ParticipantRecord {
  return { threadId, userId, displayName: null, shareHistoryTime, metadata: null, joinedAt: 1_000 };
}

let clock = 10_000;
function message(threadId: string, content: string, over: Partial<MessageRecord> = {}): MessageRecord {
  clock += 10;
  return {
    threadId, id: String(clock), sequence: clock, type: "text", body: { message: content }, sender: A, senderDisplayName: "A",
    createdAt: clock, editedAt: null, deletedAt: null, version: clock, metadata: null, ...over,
  };
}

type Test = (title: string, fn: (store: Store) => Promise<void>) => void;

/** Two threads: A is in both, B only in T2. */
async function setUp(store: Store): Promise<void> {
  for (const t of [T1, T2]) await store.insertThread(thread(t));
  await store.upsertParticipant(participant(T1, A));
  await store.upsertParticipant(participant(T2, A));
  await store.upsertParticipant(participant(T2, B));
}

async function ids(store: Store, text: string, userId = A, extra: { threadId?: string; minCreatedAt?: number; after?: number; limit?: number } = {}) {
  const hits = await store.searchMessages({ terms: parseSearchQuery(text).terms, userId, limit: 50, ...extra });
  return hits.map((h) => h.message.body.message);
}

export function defineSearchContract(test: Test): void {
  describe("search (searchMessages)", () => {
    test("words (any order, all of them), prefixes, phrases; case and diacritics ignored; newest first", async (store) => {
      await setUp(store);
      await store.insertMessage(message(T1, "Pineapple pizza is great"));
      await store.insertMessage(message(T1, "the pine tree by the Café"));
      await store.insertMessage(message(T2, "great tree, no pizza"));
      assert.deepEqual(await ids(store, "pizza"), ["great tree, no pizza", "Pineapple pizza is great"]);
      assert.deepEqual(await ids(store, "PIZZA great"), ["great tree, no pizza", "Pineapple pizza is great"]);
      assert.deepEqual(await ids(store, "pine"), ["the pine tree by the Café"]);
      assert.deepEqual(await ids(store, "pine*"), ["the pine tree by the Café", "Pineapple pizza is great"]);
      assert.deepEqual(await ids(store, "cafe"), ["the pine tree by the Café"]);
      assert.deepEqual(await ids(store, '"pizza is great"'), ["Pineapple pizza is great"]);
      assert.deepEqual(await ids(store, '"great pizza"'), []);
      assert.deepEqual(await ids(store, "pizza tree"), ["great tree, no pizza"]);
    });

    test("operators and quotes are plain text, never query syntax", async (store) => {
      await setUp(store);
      await store.insertMessage(message(T1, "cats AND dogs OR birds (NEAR) not: here"));
      await store.insertMessage(message(T1, "dogs only"));
      for (const q of ["AND", "OR", "NOT", "NEAR", "dogs OR", "NEAR(dogs", "dogs)", "\"dogs", "dogs\"\"", "dogs -cats", "dogs^", "col:dogs", "{dogs}", "dogs AND NOT cats"]) {
        const found = await ids(store, q);
        assert.ok(Array.isArray(found), q);
      }
      assert.deepEqual(await ids(store, "dogs OR"), ["cats AND dogs OR birds (NEAR) not: here"]);
      assert.deepEqual(await ids(store, "NOT"), ["cats AND dogs OR birds (NEAR) not: here"]);
      // Punctuation inside a chunk joins its words into a phrase, as in the message.
      assert.deepEqual(await ids(store, "(NEAR)not:"), ["cats AND dogs OR birds (NEAR) not: here"]);
      assert.deepEqual(await ids(store, "NEAR(dogs"), []);
      assert.deepEqual(await ids(store, "dogs -cats"), ["cats AND dogs OR birds (NEAR) not: here"]);
    });

    test("html is searched as its text: tags and attributes are not words, entities are decoded", async (store) => {
      await setUp(store);
      await store.insertMessage(message(T1, '<p class="lead">Fish &amp; <b>chips</b></p><img src="x.png" alt="secret">', { type: "html" }));
      assert.equal((await ids(store, "chips")).length, 1);
      assert.equal((await ids(store, '"fish chips"')).length, 1);
      for (const q of ["lead", "class", "img", "png", "secret", "amp", "p"]) assert.deepEqual(await ids(store, q), [], q);
    });

    test("Korean, Japanese and Chinese are found by the words a user types", async (store) => {
      await setUp(store);
      await store.insertMessage(message(T1, "안녕하세요 여러분, 오늘 회의는 세시에 시작합니다"));
      await store.insertMessage(message(T1, "東京タワーに行きました。とても綺麗でした"));
      await store.insertMessage(message(T1, "我们明天去北京吃烤鸭"));
      await store.insertMessage(message(T1, "黒猫が好きです"));
      assert.deepEqual(await ids(store, "여러분"), ["안녕하세요 여러분, 오늘 회의는 세시에 시작합니다"]);
      assert.deepEqual(await ids(store, "회의"), ["안녕하세요 여러분, 오늘 회의는 세시에 시작합니다"]);
      assert.deepEqual(await ids(store, "안녕하세요"), ["안녕하세요 여러분, 오늘 회의는 세시에 시작합니다"]);
      assert.deepEqual(await ids(store, "東京"), ["東京タワーに行きました。とても綺麗でした"]);
      assert.deepEqual(await ids(store, "タワー"), ["東京タワーに行きました。とても綺麗でした"]);
      assert.deepEqual(await ids(store, "綺麗"), ["東京タワーに行きました。とても綺麗でした"]);
      assert.deepEqual(await ids(store, "北京"), ["我们明天去北京吃烤鸭"]);
      assert.deepEqual(await ids(store, "烤鸭"), ["我们明天去北京吃烤鸭"]);
      assert.deepEqual(await ids(store, "北京 烤鸭"), ["我们明天去北京吃烤鸭"]);
      assert.deepEqual(await ids(store, "猫"), ["黒猫が好きです"]);
      assert.deepEqual(await ids(store, "上海"), []);
      assert.deepEqual(await ids(store, "京都"), []);
      assert.deepEqual(await ids(store, "烤鸭北京"), []);
    });

    test("only the caller's threads, inside their shared history; threadId and minCreatedAt narrow it", async (store) => {
      await setUp(store);
      await store.insertMessage(message(T1, "apple one"));
      const early = message(T2, "apple early");
      await store.insertMessage(early);
      const late = message(T2, "apple late");
      await store.insertMessage(late);
      assert.deepEqual(await ids(store, "apple"), ["apple late", "apple early", "apple one"]);
      assert.deepEqual(await ids(store, "apple", B), ["apple late", "apple early"]);
      assert.deepEqual(await ids(store, "apple", "8:acs:natter_nobody"), []);
      assert.deepEqual(await ids(store, "apple", A, { threadId: T1 }), ["apple one"]);
      assert.deepEqual(await ids(store, "apple", A, { minCreatedAt: early.createdAt }), ["apple late", "apple early"]);
      // B's history in T2 starts after the early message.
      await store.upsertParticipant(participant(T2, B, early.createdAt + 1));
      assert.deepEqual(await ids(store, "apple", B), ["apple late"]);
      await store.deleteParticipant(T2, B);
      assert.deepEqual(await ids(store, "apple", B), []);
    });

    test("limit and keyset paging with the hit cursors", async (store) => {
      await setUp(store);
      for (let i = 0; i < 7; i++) await store.insertMessage(message(i % 2 ? T1 : T2, `page item ${i}`));
      const seen: string[] = [];
      let after: number | undefined;
      for (;;) {
        const hits = await store.searchMessages({ terms: parseSearchQuery("item").terms, userId: A, limit: 3, after });
        seen.push(...hits.map((h) => h.message.body.message!));
        if (hits.length < 3) break;
        after = hits[hits.length - 1].cursor;
      }
      assert.deepEqual(seen, [6, 5, 4, 3, 2, 1, 0].map((i) => `page item ${i}`));
    });

    test("edits are searched by their new text at once (same place in the order); deleted messages and system messages never", async (store) => {
      await setUp(store);
      const first = message(T1, "old words here");
      await store.insertMessage(first);
      await store.insertMessage(message(T1, "newer words"));
      await store.insertMessage(message(T1, "", { type: "topicUpdated", body: { topic: "words in a topic", initiator: A }, sender: null }));
      assert.deepEqual(await ids(store, "words"), ["newer words", "old words here"]);
      await store.transaction(async (tx) => tx.updateMessage(T1, first.id, { body: { message: "fresh words here" }, editedAt: 99_999, version: 99_999 }));
      assert.deepEqual(await ids(store, "old"), []);
      assert.deepEqual(await ids(store, "fresh"), ["fresh words here"]);
      assert.deepEqual(await ids(store, "words"), ["newer words", "fresh words here"]);
      // Metadata-only patches leave the index alone.
      await store.updateMessage(T1, first.id, { metadata: { k: "v" } });
      assert.deepEqual(await ids(store, "fresh"), ["fresh words here"]);
      await store.updateMessage(T1, first.id, { body: { message: "" }, deletedAt: 100_000, version: 100_000 });
      assert.deepEqual(await ids(store, "words"), ["newer words"]);
      assert.deepEqual(await ids(store, "fresh"), []);
    });

    test("a message with no words at first becomes searchable when edited to have some", async (store) => {
      await setUp(store);
      const m = message(T1, "🙂 !!!");
      await store.insertMessage(m);
      await store.updateMessage(T1, m.id, { body: { message: "now with words" }, editedAt: 50_000, version: 50_000 });
      assert.deepEqual(await ids(store, "words"), ["now with words"]);
    });

    test("deleteThreadContent and purgeThread drop the thread's documents only", async (store) => {
      await setUp(store);
      await store.insertMessage(message(T1, "kiwi in one"));
      await store.insertMessage(message(T2, "kiwi in two"));
      await store.deleteThreadContent(T1);
      assert.deepEqual(await ids(store, "kiwi"), ["kiwi in two"]);
      await store.purgeThread(T2);
      assert.deepEqual(await ids(store, "kiwi"), []);
    });

    test("a rolled-back transaction leaves nothing in the index", async (store) => {
      await setUp(store);
      await assert.rejects(store.transaction(async (tx) => {
        await tx.insertMessage(message(T1, "ghost mango"));
        throw new Error("boom");
      }), /boom/);
      assert.deepEqual(await ids(store, "mango"), []);
      await store.insertMessage(message(T1, "real mango"));
      assert.deepEqual(await ids(store, "mango"), ["real mango"]);
    });

    test("transactions committed together: the one that fails leaves no document, the others' are all searchable", async (store) => {
      await setUp(store);
      const results = await Promise.allSettled([0, 1, 2, 3].map((i) => store.transaction(async (tx) => {
        await tx.insertMessage(message(T1, `batch lemur ${i}`));
        if (i === 1) throw new Error("boom");
      })));
      assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled", "fulfilled"]);
      // (Concurrent transactions on PostgreSQL take document ids in their own order.)
      assert.deepEqual((await ids(store, "lemur")).sort(), ["batch lemur 0", "batch lemur 2", "batch lemur 3"]);
    });
  });

  describe("listMessagesBySequence", () => {
    test("older: sequence descending below `from`; newer: ascending above it; minCreatedAt; limit; deleted ones included", async (store) => {
      await setUp(store);
      const ms: MessageRecord[] = [];
      for (let i = 1; i <= 6; i++) {
        const m = message(T1, `m${i}`, { sequence: i });
        ms.push(m);
        await store.insertMessage(m);
      }
      await store.insertMessage(message(T2, "elsewhere", { sequence: 3 }));
      await store.updateMessage(T1, ms[1].id, { body: { message: "" }, deletedAt: 1, version: 999_999 });
      const seqs = (rows: MessageRecord[]) => rows.map((m) => m.sequence);
      assert.deepEqual(seqs(await store.listMessagesBySequence(T1, { direction: "older", from: 4, limit: 10 })), [3, 2, 1]);
      assert.deepEqual(seqs(await store.listMessagesBySequence(T1, { direction: "older", from: 4, limit: 2 })), [3, 2]);
      assert.deepEqual(seqs(await store.listMessagesBySequence(T1, { direction: "newer", from: 4, limit: 10 })), [5, 6]);
      assert.deepEqual(seqs(await store.listMessagesBySequence(T1, { direction: "newer", from: 0, limit: 3 })), [1, 2, 3]);
      assert.deepEqual(seqs(await store.listMessagesBySequence(T1, { direction: "older", from: 4, minCreatedAt: ms[1].createdAt, limit: 10 })), [3, 2]);
      const deleted = (await store.listMessagesBySequence(T1, { direction: "older", from: 3, limit: 1 }))[0];
      assert.equal(deleted.deletedAt, 1);
    });
  });
}
