// The chat conformance suite: every ACS chat operation and rule (contract §1–§2, §6), driven through an
// unmodified chat SDK against a real Natter node over HTTPS. Written once; each client runs it from its own
// test file with defineChatConformance(client).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { startTestNatter } from "@natter/server/testing";
import type { TestNatter } from "@natter/server/testing";
import type {
  ChatClientLike, ChatClientUnderTest, ChatMessageLike, ChatThreadClientLike, IdentityClientLike, TokenScopeLike, UserIdentifier,
} from "./clients.js";
import { AZURE_IDENTITY_131 } from "./clients.js";
import { assertPaging, collect, expectRestError, pagesOf, rawIdOf, sleep } from "./helpers.js";

const MINUTE = 60_000;

interface User {
  id: UserIdentifier;
  rawId: string;
  token: string;
  chat: ChatClientLike;
}

/** Messages of a thread in sequence order (the list itself is newest first). */
async function bySequence(thread: ChatThreadClientLike): Promise<ChatMessageLike[]> {
  const all = await collect(thread.listMessages({ maxPageSize: 200 }));
  return all.sort((a, b) => Number(a.sequenceId) - Number(b.sequenceId));
}

/** A service the suite runs against instead of its own in-process node (e.g. several nodes behind a balancer). */
export interface ConformanceTarget {
  /** https://…/: the SDKs' endpoint. */
  endpoint: string;
  httpsUrl: string;
  connectionString: string;
  resourceId: string;
  stop(): Promise<void>;
}

export interface ChatConformanceOptions {
  /** Shown after the client's name in the suite's title. */
  label?: string;
  /**
   * Starts the service to test. Without it the suite starts an in-process node and also runs the tests that move
   * the server's clock (token expiry, rate limits); with it, those are skipped.
   */
  target?: () => Promise<ConformanceTarget>;
}

export function defineChatConformance(client: ChatClientUnderTest, options: ChatConformanceOptions = {}): void {
  const external = options.target !== undefined;
  const needsClock = external ? "needs the in-process server's fake clock" : false;
  const title = options.label ? `${client.name}, ${options.label}` : client.name;
  describe(`chat conformance: ${title}`, () => {
    /** Added to the server's clock (token expiry tests). */
    let clockOffset = 0;
    let natter: ConformanceTarget | TestNatter;
    let identity: IdentityClientLike;
    let alice: User, bob: User, carol: User, dave: User, outsider: User, pager: User, joiner: User, limited: User;
    let crowd: User[];

    const connect = (token: string) => new client.ChatClient(natter.endpoint, client.credential(token));
    const thread = (user: User, threadId: string) => user.chat.getChatThreadClient(threadId);
    async function newUser(scopes: TokenScopeLike[] = ["chat"]): Promise<User> {
      const { user, token } = await identity.createUserAndToken(scopes);
      return { id: user, rawId: user.communicationUserId, token, chat: connect(token) };
    }
    /** A thread created by `creator` with `members` (no display names), returned as the creator's thread client. */
    async function newThread(creator: User, members: User[] = [], topic = "conformance"): Promise<ChatThreadClientLike> {
      const result = await creator.chat.createChatThread({ topic }, { participants: members.map((m) => ({ id: m.id })) });
      assert.ok(result.chatThread?.id, "createChatThread returns the thread");
      assert.equal(result.invalidParticipants, undefined);
      return thread(creator, result.chatThread.id);
    }
    const unknownUserOfThisResource = () => `8:acs:${natter.resourceId}_${randomUUID()}`;

    before(async () => {
      natter = options.target ? await options.target() : await startTestNatter({}, { now: () => Date.now() + clockOffset });
      identity = AZURE_IDENTITY_131.create(natter.connectionString);
      [alice, bob, carol, dave, outsider, pager, joiner, limited, ...crowd] = await Promise.all([
        ...Array.from({ length: 6 }, () => newUser()),
        newUser(["chat.join"]),
        newUser(["chat.join.limited"]),
        ...Array.from({ length: 7 }, () => newUser()),
      ]);
    });
    after(() => natter?.stop());

    describe("threads", () => {
      it("createChatThread: the creator joins, participants with display names, 201 result mapped by the SDK", async () => {
        const before = Date.now();
        const result = await alice.chat.createChatThread({ topic: "Hello" }, { participants: [{ id: bob.id, displayName: "Bob" }] });
        const t = result.chatThread!;
        assert.match(t.id, /^19:.+@thread\.v2$/);
        assert.equal(t.topic, "Hello");
        assert.ok(t.createdOn instanceof Date && t.createdOn.getTime() >= before - 2000);
        assert.equal(t.createdBy?.kind, "communicationUser");
        assert.equal(rawIdOf(t.createdBy), alice.rawId);
        assert.equal(result.invalidParticipants, undefined);
        const participants = await collect(thread(alice, t.id).listParticipants());
        assert.deepEqual(participants.map((p) => rawIdOf(p.id)).sort(), [alice.rawId, bob.rawId].sort());
        const bobEntry = participants.find((p) => rawIdOf(p.id) === bob.rawId)!;
        assert.equal(bobEntry.displayName, "Bob");
        const aliceEntry = participants.find((p) => rawIdOf(p.id) === alice.rawId)!;
        assert.equal(aliceEntry.displayName, undefined);
        assert.equal(aliceEntry.shareHistoryTime?.getTime(), 0);
      });

      it("getProperties returns the thread; bob (a participant) sees it too", async () => {
        const t = await newThread(alice, [bob], "props");
        const props = await thread(bob, t.threadId).getProperties();
        assert.equal(props.id, t.threadId);
        assert.equal(props.topic, "props");
        assert.equal(rawIdOf(props.createdBy), alice.rawId);
        assert.equal(props.deletedOn, undefined);
      });

      it("updateTopic changes the topic and adds a topicUpdated message with the initiator", async () => {
        const t = await newThread(alice, [bob], "old");
        await t.updateTopic("new topic");
        assert.equal((await t.getProperties()).topic, "new topic");
        const last = (await bySequence(t)).at(-1)!;
        assert.equal(last.type, "topicUpdated");
        assert.equal(last.content?.topic, "new topic");
        assert.equal(rawIdOf(last.content?.initiator), alice.rawId);
        assert.equal(last.sender, undefined);
      });

      it("deleteChatThread: the thread is gone (404 on getProperties), repeated delete is fine", async () => {
        const t = await newThread(alice, [bob]);
        await alice.chat.deleteChatThread(t.threadId);
        await expectRestError(t.getProperties(), 404, "NotFound");
        await expectRestError(thread(bob, t.threadId).sendMessage({ content: "late" }), 404);
        await alice.chat.deleteChatThread(t.threadId);
        // Natter keeps a deleted thread in the list, with deletedOn (contract §2.4, chat-service deleteThread).
        const listed = (await collect(bob.chat.listChatThreads({ maxPageSize: 200 }))).find((x) => x.id === t.threadId);
        assert.ok(listed?.deletedOn instanceof Date);
      });

      it("idempotent createChatThread: the same idempotencyToken returns the same thread; another token a new one", async () => {
        const idempotencyToken = randomUUID();
        const participants = [{ id: bob.id }];
        const first = await alice.chat.createChatThread({ topic: "once" }, { participants, idempotencyToken });
        const again = await alice.chat.createChatThread({ topic: "once" }, { participants, idempotencyToken });
        assert.equal(again.chatThread?.id, first.chatThread?.id);
        const other = await alice.chat.createChatThread({ topic: "once" }, { participants, idempotencyToken: randomUUID() });
        assert.notEqual(other.chatThread?.id, first.chatThread?.id);
        const listed = await collect(alice.chat.listChatThreads({ maxPageSize: 200 }));
        assert.equal(listed.filter((x) => x.id === first.chatThread?.id).length, 1);
      });

      it("listChatThreads pages: pages == ceil(n/size), no empty last page, nothing missing or duplicated", async () => {
        const ids: string[] = [];
        for (let i = 0; i < 7; i++) ids.push((await newThread(pager, [], `page ${i}`)).threadId);
        const pages = await pagesOf(pager.chat.listChatThreads({ maxPageSize: 3 }), 3);
        assertPaging(pages, 3, ids, (t) => t.id);
        // An exact multiple: no empty last page.
        assertPaging(await pagesOf(pager.chat.listChatThreads({ maxPageSize: 7 }), 7), 7, ids, (t) => t.id);
        for (const item of pages.flat()) assert.match(item.topic, /^page \d$/);
        // Without maxPageSize the default page (10) holds them all.
        const all = await pagesOf(pager.chat.listChatThreads());
        assert.equal(all.length, 1);
        assert.equal(all[0].length, 7);
        // Most recent activity first: a message moves the oldest thread to the top, with lastMessageReceivedOn.
        await thread(pager, ids[0]).sendMessage({ content: "activity" });
        const [top] = await collect(pager.chat.listChatThreads());
        assert.equal(top.id, ids[0]);
        assert.ok(top.lastMessageReceivedOn instanceof Date);
      });

      it("listChatThreads lists the caller's threads only", async () => {
        const t = await newThread(alice, [bob]);
        assert.ok((await collect(bob.chat.listChatThreads())).some((x) => x.id === t.threadId));
        assert.ok(!(await collect(outsider.chat.listChatThreads())).some((x) => x.id === t.threadId));
      });
    });

    describe("messages", () => {
      it("sendMessage and getMessage: text with senderDisplayName and metadata; html; default senderDisplayName ''", async () => {
        const t = await newThread(alice, [bob]);
        const { id } = await t.sendMessage({ content: "hello" }, { senderDisplayName: "Alice", type: "text", metadata: { k: "v" } });
        assert.match(id, /^\d+$/);
        const m = await thread(bob, t.threadId).getMessage(id);
        assert.equal(m.id, id);
        assert.equal(m.type, "text");
        assert.equal(m.content?.message, "hello");
        assert.equal(m.senderDisplayName, "Alice");
        assert.deepEqual(m.metadata, { k: "v" });
        assert.equal(m.sender?.kind, "communicationUser");
        assert.equal(rawIdOf(m.sender), alice.rawId);
        assert.ok(m.createdOn instanceof Date);
        assert.equal(m.sequenceId, "3");
        assert.equal(m.version, id);
        assert.equal(m.editedOn, undefined);
        assert.equal(m.deletedOn, undefined);

        const html = await t.sendMessage({ content: "<b>bold</b>" }, { type: "html" });
        const h = await t.getMessage(html.id);
        assert.equal(h.type, "html");
        assert.equal(h.senderDisplayName, "");
        assert.equal(h.sequenceId, "4");
      });

      it("system messages: creation makes seq 1 participantAdded (incl. creator) and seq 2 topicUpdated; first user message is seq 3", async () => {
        const result = await alice.chat.createChatThread({ topic: "sys" }, { participants: [{ id: bob.id, displayName: "Bob" }] });
        const t = thread(alice, result.chatThread!.id);
        await t.sendMessage({ content: "first" });
        const [added, topic, first] = await bySequence(t);
        assert.equal(added.sequenceId, "1");
        assert.equal(added.type, "participantAdded");
        assert.deepEqual(added.content?.participants?.map((p) => rawIdOf(p.id)).sort(), [alice.rawId, bob.rawId].sort());
        assert.equal(added.content?.participants?.find((p) => rawIdOf(p.id) === bob.rawId)?.displayName, "Bob");
        assert.equal(rawIdOf(added.content?.initiator), alice.rawId);
        assert.equal(added.sender, undefined);
        assert.equal(added.senderDisplayName, undefined);
        assert.equal(added.content?.participants?.find((p) => rawIdOf(p.id) === alice.rawId)?.shareHistoryTime?.getTime(), 0);
        assert.equal(topic.sequenceId, "2");
        assert.equal(topic.type, "topicUpdated");
        assert.equal(topic.content?.topic, "sys");
        assert.equal(rawIdOf(topic.content?.initiator), alice.rawId);
        assert.equal(first.sequenceId, "3");
        assert.equal(first.type, "text");
        // A system message can be read by id too.
        assert.equal((await t.getMessage(added.id)).type, "participantAdded");
      });

      it("system messages for :add, :remove and topic changes; sequenceIds contiguous from 1 across types", async () => {
        const t = await newThread(alice, [bob]);
        await t.sendMessage({ content: "a" });
        await t.addParticipants({ participants: [{ id: carol.id, displayName: "Carol" }] });
        await t.sendMessage({ content: "b" });
        await t.removeParticipant(carol.id);
        await t.updateTopic("renamed");
        // Adding someone already present is a no-op: no system message.
        await t.addParticipants({ participants: [{ id: bob.id }] });
        const all = await bySequence(t);
        assert.deepEqual(all.map((m) => m.sequenceId), all.map((_, i) => String(i + 1)));
        assert.deepEqual(all.map((m) => m.type), ["participantAdded", "topicUpdated", "text", "participantAdded", "text", "participantRemoved", "topicUpdated"]);
        const [, , , add, , remove, rename] = all;
        assert.deepEqual(add.content?.participants?.map((p) => rawIdOf(p.id)), [carol.rawId]);
        assert.equal(add.content?.participants?.[0].displayName, "Carol");
        assert.equal(rawIdOf(add.content?.initiator), alice.rawId);
        assert.deepEqual(remove.content?.participants?.map((p) => rawIdOf(p.id)), [carol.rawId]);
        assert.equal(rawIdOf(remove.content?.initiator), alice.rawId);
        assert.equal(rename.content?.topic, "renamed");
        assert.equal(rawIdOf(rename.content?.initiator), alice.rawId);
      });

      it("updateMessage: content replaced, metadata merged ('' removes a key), editedOn set, version bumped, moves to the top", async () => {
        const t = await newThread(alice, [bob]);
        const { id } = await t.sendMessage({ content: "draft" }, { metadata: { a: "1", b: "2" } });
        await t.sendMessage({ content: "later" });
        const before = await t.getMessage(id);
        await t.updateMessage(id, { content: "final", metadata: { b: "", c: "3" } });
        const m = await thread(bob, t.threadId).getMessage(id);
        assert.equal(m.content?.message, "final");
        assert.deepEqual(m.metadata, { a: "1", c: "3" });
        assert.ok(m.editedOn instanceof Date);
        assert.ok(Number(m.version) > Number(before.version), "version bumped");
        assert.equal(m.sequenceId, before.sequenceId);
        assert.equal(m.id, id);
        // Newest first by version: the edited message is now the first one listed.
        const [top] = await collect(t.listMessages());
        assert.equal(top.id, id);
        // Metadata only.
        await t.updateMessage(id, { metadata: { d: "4" } });
        assert.deepEqual((await t.getMessage(id)).metadata, { a: "1", c: "3", d: "4" });
      });

      it("deleteMessage: soft delete (deletedOn, empty content, same sequenceId, version bumped), still listed", async () => {
        const t = await newThread(alice, [bob]);
        const { id } = await t.sendMessage({ content: "oops" });
        const before = await t.getMessage(id);
        await t.deleteMessage(id);
        const m = await thread(bob, t.threadId).getMessage(id);
        assert.ok(m.deletedOn instanceof Date);
        assert.equal(m.content?.message ?? "", "");
        assert.equal(m.sequenceId, before.sequenceId);
        assert.ok(Number(m.version) > Number(before.version));
        assert.equal(rawIdOf(m.sender), alice.rawId);
        const listed = (await collect(t.listMessages())).find((x) => x.id === id);
        assert.ok(listed?.deletedOn instanceof Date);
      });

      it("listMessages: newest first; paging pages == ceil(n/size) with no empty last page", async () => {
        const t = await newThread(alice, [bob]);
        for (let i = 0; i < 11; i++) await t.sendMessage({ content: `m${i}` });
        const all = await collect(t.listMessages());
        assert.equal(all.length, 13);
        const versions = all.map((m) => Number(m.version));
        assert.deepEqual(versions, [...versions].sort((a, b) => b - a), "newest (highest version) first");
        assert.deepEqual(all.map((m) => m.sequenceId), Array.from({ length: 13 }, (_, i) => String(13 - i)));
        const pages = await pagesOf(t.listMessages({ maxPageSize: 4 }), 4);
        assertPaging(pages, 4, all.map((m) => m.id), (m) => m.id);
        assert.deepEqual(pages.flat().map((m) => m.id), all.map((m) => m.id), "paging keeps the order");
        // Exact multiples: no empty last page.
        assertPaging(await pagesOf(t.listMessages({ maxPageSize: 13 }), 13), 13, all.map((m) => m.id), (m) => m.id);
        await t.sendMessage({ content: "m11" });
        const fourteen = (await collect(t.listMessages())).map((m) => m.id);
        assertPaging(await pagesOf(t.listMessages({ maxPageSize: 7 }), 7), 7, fourteen, (m) => m.id);
      });

      it("listMessages without maxPageSize: pages of 10", async () => {
        const t = await newThread(alice);
        for (let i = 0; i < 23; i++) await t.sendMessage({ content: `m${i}` });
        const pages = await pagesOf(t.listMessages());
        assert.deepEqual(pages.map((p) => p.length), [10, 10, 5]);
      });

      it("listMessages with startTime returns only later messages", async () => {
        const t = await newThread(alice, [bob]);
        await t.sendMessage({ content: "early 1" });
        await t.sendMessage({ content: "early 2" });
        await sleep(30);
        const startTime = new Date();
        await sleep(30);
        const late = [(await t.sendMessage({ content: "late 1" })).id, (await t.sendMessage({ content: "late 2" })).id];
        const listed = await collect(t.listMessages({ startTime }));
        assert.deepEqual(listed.map((m) => m.id), [...late].reverse());
        // The filter survives paging (nextLink carries startTime).
        const pages = await pagesOf(t.listMessages({ startTime, maxPageSize: 1 }), 1);
        assertPaging(pages, 1, late, (m) => m.id);
      });

      it("shareHistoryTime hides older messages from a newly added participant", async () => {
        const t = await newThread(alice, [bob]);
        const old = await t.sendMessage({ content: "before dave" });
        await sleep(30);
        const shareHistoryTime = new Date();
        await sleep(30);
        await t.addParticipants({ participants: [{ id: dave.id, shareHistoryTime }] });
        const fresh = await t.sendMessage({ content: "after dave" });
        const seen = await collect(thread(dave, t.threadId).listMessages());
        const ids = seen.map((m) => m.id);
        assert.ok(ids.includes(fresh.id));
        assert.ok(!ids.includes(old.id), "a message older than shareHistoryTime is hidden");
        assert.ok(seen.every((m) => m.createdOn.getTime() >= shareHistoryTime.getTime()));
        await expectRestError(thread(dave, t.threadId).getMessage(old.id), 404);
        const daveEntry = (await collect(t.listParticipants())).find((p) => rawIdOf(p.id) === dave.rawId);
        assert.equal(daveEntry?.shareHistoryTime?.getTime(), shareHistoryTime.getTime());
        // Bob (full history) still sees it.
        assert.ok((await collect(thread(bob, t.threadId).listMessages())).some((m) => m.id === old.id));
      });

      it("edit or delete of another user's message is 403", async () => {
        const t = await newThread(alice, [bob]);
        const { id } = await t.sendMessage({ content: "mine" });
        await expectRestError(thread(bob, t.threadId).updateMessage(id, { content: "yours" }), 403, "Forbidden");
        await expectRestError(thread(bob, t.threadId).deleteMessage(id), 403, "Forbidden");
        assert.equal((await t.getMessage(id)).content?.message, "mine");
      });
    });

    describe("participants", () => {
      it("addParticipants, listParticipants, removeParticipant", async () => {
        const t = await newThread(alice);
        const result = await t.addParticipants({ participants: [{ id: bob.id, displayName: "Bob" }, { id: carol.id }] });
        assert.equal(result.invalidParticipants, undefined);
        const ids = (await collect(t.listParticipants())).map((p) => rawIdOf(p.id));
        assert.deepEqual([...ids].sort(), [alice.rawId, bob.rawId, carol.rawId].sort());
        await t.removeParticipant(carol.id);
        const after = (await collect(t.listParticipants())).map((p) => rawIdOf(p.id));
        assert.deepEqual([...after].sort(), [alice.rawId, bob.rawId].sort());
      });

      it("listParticipants pages with maxPageSize", async () => {
        const t = await newThread(alice, crowd);
        const expected = [alice, ...crowd].map((u) => u.rawId);
        const pages = await pagesOf(t.listParticipants({ maxPageSize: 3 }), 3);
        assertPaging(pages, 3, expected, (p) => rawIdOf(p.id)!);
        assertPaging(await pagesOf(t.listParticipants({ maxPageSize: 4 }), 4), 4, expected, (p) => rawIdOf(p.id)!);
        // Without maxPageSize, one page of 8 (default 10).
        assert.deepEqual((await pagesOf(t.listParticipants())).map((p) => p.length), [8]);
      });

      it("a removed participant gets 403 on sendMessage; a user may remove themselves", async () => {
        const t = await newThread(alice, [bob, carol]);
        const bobsView = thread(bob, t.threadId);
        await bobsView.sendMessage({ content: "still here" });
        await t.removeParticipant(bob.id);
        await expectRestError(bobsView.sendMessage({ content: "gone" }), 403, "Forbidden");
        await thread(carol, t.threadId).removeParticipant(carol.id);
        await expectRestError(thread(carol, t.threadId).sendMessage({ content: "gone" }), 403);
      });

      it("invalidParticipants: an unknown user of this resource and another resource's user (create and :add)", async () => {
        const unknown = unknownUserOfThisResource();
        const foreign = "8:acs:00000000-0000-0000-0000-000000000000_x";
        const created = await alice.chat.createChatThread({ topic: "invalid" }, {
          participants: [{ id: bob.id }, { id: { communicationUserId: unknown } }, { id: { communicationUserId: foreign } }],
        });
        assert.ok(created.chatThread?.id, "the thread is still created");
        assert.deepEqual(created.invalidParticipants?.map((e) => e.target).sort(), [unknown, foreign].sort());
        for (const e of created.invalidParticipants ?? []) {
          assert.equal(e.code, "403");
          assert.equal(e.message, "Permissions check failed");
        }
        const t = thread(alice, created.chatThread.id);
        assert.deepEqual((await collect(t.listParticipants())).map((p) => rawIdOf(p.id)).sort(), [alice.rawId, bob.rawId].sort());
        const added = await t.addParticipants({ participants: [{ id: carol.id }, { id: { communicationUserId: unknownUserOfThisResource() } }, { id: { communicationUserId: foreign } }] });
        assert.equal(added.invalidParticipants?.length, 2);
        assert.ok(added.invalidParticipants?.some((e) => e.target === foreign));
        assert.ok((await collect(t.listParticipants())).some((p) => rawIdOf(p.id) === carol.rawId));
      });

      it("a malformed identifier (8:acs:fakeid) is 400", async () => {
        const t = await newThread(alice, [bob]);
        const e = await expectRestError(t.addParticipants({ participants: [{ id: { communicationUserId: "8:acs:fakeid" } }] }), 400, "BadRequest");
        assert.match(e.message, /Identifier format is invalid \(8:acs:fakeid\)/);
        await expectRestError(t.removeParticipant({ communicationUserId: "8:acs:fakeid" }), 400);
      });
    });

    describe("typing and read receipts", () => {
      it("sendTypingNotification: true, then false within 8 s (client throttle)", async () => {
        const t = await newThread(alice, [bob]);
        assert.equal(await t.sendTypingNotification({ senderDisplayName: "Alice" }), true);
        assert.equal(await t.sendTypingNotification(), false);
        assert.equal(await thread(bob, t.threadId).sendTypingNotification(), true);
        // sendMessage resets the client's typing clock.
        await t.sendMessage({ content: "typed" });
        assert.equal(await t.sendTypingNotification(), true);
        await expectRestError(thread(outsider, t.threadId).sendTypingNotification(), 403);
      });

      it("sendReadReceipt and listReadReceipts: the latest receipt per user, with the sender identifier", async () => {
        const t = await newThread(alice, [bob]);
        const m1 = (await t.sendMessage({ content: "1" })).id;
        const m2 = (await t.sendMessage({ content: "2" })).id;
        await t.sendReadReceipt({ chatMessageId: m1 });
        await t.sendReadReceipt({ chatMessageId: m2 });
        // An older message read later does not replace the latest.
        await t.sendReadReceipt({ chatMessageId: m1 });
        await thread(bob, t.threadId).sendReadReceipt({ chatMessageId: m1 });
        const receipts = await collect(t.listReadReceipts());
        assert.equal(receipts.length, 2);
        const bySender = new Map(receipts.map((r) => [rawIdOf(r.sender), r]));
        assert.equal(bySender.get(alice.rawId)?.chatMessageId, m2);
        assert.equal(bySender.get(bob.rawId)?.chatMessageId, m1);
        for (const r of receipts) {
          assert.equal(r.sender.kind, "communicationUser");
          assert.ok(r.readOn instanceof Date);
        }
        await expectRestError(t.sendReadReceipt({ chatMessageId: "1" }), 404);
      });

      it("listReadReceipts pages with maxPageSize", async () => {
        const t = await newThread(alice, crowd);
        const { id } = await t.sendMessage({ content: "read me" });
        for (const u of crowd) await thread(u, t.threadId).sendReadReceipt({ chatMessageId: id });
        const pages = await pagesOf(t.listReadReceipts({ maxPageSize: 3 }), 3);
        assertPaging(pages, 3, crowd.map((u) => u.rawId), (r) => rawIdOf(r.sender)!);
        assertPaging(await pagesOf(t.listReadReceipts({ maxPageSize: 7 }), 7), 7, crowd.map((u) => u.rawId), (r) => rawIdOf(r.sender)!);
      });
    });

    describe("access control", () => {
      it("an unknown thread is 404", async () => {
        const missing = thread(alice, "19:00000000000000000000000000000000@thread.v2");
        const e = await expectRestError(missing.getProperties(), 404, "NotFound");
        assert.ok(e.message.length > 0);
        await expectRestError(missing.sendMessage({ content: "x" }), 404);
        await expectRestError(collect(missing.listMessages()), 404);
      });

      it("a non-participant is 403 with the ACS error body", async () => {
        const t = await newThread(alice, [bob]);
        const theirs = thread(outsider, t.threadId);
        const e = await expectRestError(theirs.getProperties(), 403, "Forbidden");
        assert.match(e.message, /permission/);
        await expectRestError(theirs.sendMessage({ content: "x" }), 403);
        await expectRestError(collect(theirs.listMessages()), 403);
        await expectRestError(collect(theirs.listParticipants()), 403);
        await expectRestError(theirs.addParticipants({ participants: [{ id: outsider.id }] }), 403);
        await expectRestError(outsider.chat.deleteChatThread(t.threadId), 403);
      });

      it("chat.join cannot create, update or delete threads but can add participants", async () => {
        await expectRestError(joiner.chat.createChatThread({ topic: "nope" }), 403, "Forbidden");
        const t = await newThread(alice, [joiner]);
        const theirs = thread(joiner, t.threadId);
        await expectRestError(theirs.updateTopic("nope"), 403, "Forbidden");
        await expectRestError(joiner.chat.deleteChatThread(t.threadId), 403, "Forbidden");
        const result = await theirs.addParticipants({ participants: [{ id: bob.id }] });
        assert.equal(result.invalidParticipants, undefined);
        await theirs.removeParticipant(bob.id);
        await theirs.sendMessage({ content: "joined" });
        assert.equal((await t.getProperties()).topic, "conformance");
      });

      it("chat.join.limited cannot add or remove others but can send messages", async () => {
        const t = await newThread(alice, [limited, bob]);
        const theirs = thread(limited, t.threadId);
        await expectRestError(theirs.addParticipants({ participants: [{ id: carol.id }] }), 403, "Forbidden");
        await expectRestError(theirs.removeParticipant(bob.id), 403, "Forbidden");
        const { id } = await theirs.sendMessage({ content: "limited but here" });
        assert.equal((await t.getMessage(id)).content?.message, "limited but here");
        assert.ok((await collect(theirs.listMessages())).length > 0);
      });

      it("a revoked token is 401; a new token works", async () => {
        const user = await newUser();
        const t = await newThread(alice, [user]);
        await thread(user, t.threadId).sendMessage({ content: "before" });
        await identity.revokeTokens(user.id);
        await expectRestError(thread(user, t.threadId).getProperties(), 401, "Unauthorized");
        const { token } = await identity.getToken(user.id, ["chat"]);
        assert.equal((await connect(token).getChatThreadClient(t.threadId).getProperties()).id, t.threadId);
      });

      it("an expired token is 401", { skip: needsClock }, async () => {
        const { user, token } = await identity.createUserAndToken(["chat"], { tokenExpiresInMinutes: 60 });
        const chat = connect(token);
        const created = await chat.createChatThread({ topic: "expiring" });
        const t = chat.getChatThreadClient(created.chatThread!.id);
        await t.getProperties();
        clockOffset = 61 * MINUTE;
        try {
          await expectRestError(t.getProperties(), 401, "Unauthorized");
        } finally {
          clockOffset = 0;
        }
        assert.equal(rawIdOf(created.chatThread?.createdBy), user.communicationUserId);
      });
    });

    describe("limits", () => {
      it("message content: 28 KB is accepted, 28 KB + 1 is 400", async () => {
        const t = await newThread(alice);
        await t.sendMessage({ content: "a".repeat(28 * 1024) });
        await expectRestError(t.sendMessage({ content: "a".repeat(28 * 1024 + 1) }), 400);
        const { id } = await t.sendMessage({ content: "short" });
        await expectRestError(t.updateMessage(id, { content: "a".repeat(28 * 1024 + 1) }), 400);
      });

      it("201 participants in one add is 400", async () => {
        const t = await newThread(alice);
        const participants = Array.from({ length: 201 }, () => ({ id: { communicationUserId: unknownUserOfThisResource() } }));
        await expectRestError(t.addParticipants({ participants }), 400);
        await expectRestError(alice.chat.createChatThread({ topic: "too many" }, { participants }), 400);
      });
    });

    describe("api-version 2025-03-15 features (1.6)", { skip: client.supportsV16Features ? false : "the client does not speak api-version 2025-03-15" }, () => {
      it("createChatThread with metadata and a retention policy; getProperties reads them back", async () => {
        const result = await alice.chat.createChatThread({ topic: "kept" }, {
          participants: [{ id: bob.id, metadata: { role: "guest" } }],
          metadata: { project: "natter" },
          retentionPolicy: { kind: "threadCreationDate", deleteThreadAfterDays: 40 },
        });
        const props = await thread(bob, result.chatThread!.id).getProperties();
        assert.deepEqual(props.metadata, { project: "natter" });
        assert.deepEqual(props.retentionPolicy, { kind: "threadCreationDate", deleteThreadAfterDays: 40 });
        const bobEntry = (await collect(thread(alice, result.chatThread!.id).listParticipants())).find((p) => rawIdOf(p.id) === bob.rawId);
        assert.deepEqual(bobEntry?.metadata, { role: "guest" });
      });

      it("updateProperties: topic, metadata, retentionPolicy", async () => {
        const t = await newThread(alice, [bob], "before");
        await t.updateProperties!({ topic: "after", metadata: { a: "b" }, retentionPolicy: { kind: "threadCreationDate", deleteThreadAfterDays: 60 } });
        let props = await t.getProperties();
        assert.equal(props.topic, "after");
        assert.deepEqual(props.metadata, { a: "b" });
        assert.deepEqual(props.retentionPolicy, { kind: "threadCreationDate", deleteThreadAfterDays: 60 });
        const last = (await bySequence(t)).at(-1)!;
        assert.equal(last.type, "topicUpdated");
        assert.equal(last.content?.topic, "after");
        // Merge-patch: absent keys are unchanged; a metadata-only patch adds no system message.
        const count = (await bySequence(t)).length;
        await t.updateProperties!({ retentionPolicy: { kind: "none" } });
        props = await t.getProperties();
        assert.equal(props.topic, "after");
        assert.deepEqual(props.metadata, { a: "b" });
        assert.deepEqual(props.retentionPolicy, { kind: "none" });
        assert.equal((await bySequence(t)).length, count);
        await expectRestError(thread(joiner, t.threadId).updateProperties!({ topic: "x" }), 403);
      });

      it("metadata over 1 KB is 400", async () => {
        const big = { big: "x".repeat(1024) };
        await expectRestError(alice.chat.createChatThread({ topic: "big" }, { metadata: big }), 400);
        const t = await newThread(alice);
        await expectRestError(t.updateProperties!({ metadata: big }), 400);
        await t.updateProperties!({ metadata: { ok: "x".repeat(1000) } });
      });

      it("retention deleteThreadAfterDays 29 is 400, 30 is accepted", async () => {
        await expectRestError(alice.chat.createChatThread({ topic: "r" }, { retentionPolicy: { kind: "threadCreationDate", deleteThreadAfterDays: 29 } }), 400);
        const ok = await alice.chat.createChatThread({ topic: "r" }, { retentionPolicy: { kind: "threadCreationDate", deleteThreadAfterDays: 30 } });
        const t = thread(alice, ok.chatThread!.id);
        assert.deepEqual((await t.getProperties()).retentionPolicy, { kind: "threadCreationDate", deleteThreadAfterDays: 30 });
        await expectRestError(t.updateProperties!({ retentionPolicy: { kind: "threadCreationDate", deleteThreadAfterDays: 29 } }), 400);
        await expectRestError(t.updateProperties!({ retentionPolicy: { kind: "threadCreationDate", deleteThreadAfterDays: 91 } }), 400);
      });
    });
  });

  describe(`chat conformance with --limits acs: ${title}`, { skip: needsClock }, () => {
    let rateOffset = 0;
    let natter: TestNatter;
    before(async () => {
      natter = await startTestNatter({ limits: "acs" }, { now: () => Date.now() + rateOffset });
    });
    after(() => natter?.stop());

    it("updateTopic over 5 per 10 s: a raw call sees 429 + Retry-After + ACS body; the SDK retries transparently", async () => {
      const identity = AZURE_IDENTITY_131.create(natter.connectionString);
      const { token } = await identity.createUserAndToken(["chat"]);
      const chat = new client.ChatClient(natter.endpoint, client.credential(token));
      const created = await chat.createChatThread({ topic: "t0" });
      const t = chat.getChatThreadClient(created.chatThread!.id);
      // Move the server's clock to 8.6 s into a 10 s window, so the SDK's wait below is about 2 s.
      const serverNow = Date.now() + rateOffset;
      rateOffset += (((8_600 - (serverNow % 10_000)) % 10_000) + 10_000) % 10_000;
      for (let i = 1; i <= 5; i++) await t.updateTopic(`t${i}`);
      const url = new URL(`chat/threads/${encodeURIComponent(t.threadId)}?api-version=${client.apiVersion}`, natter.httpsUrl);
      const raw = await fetch(url, {
        method: "PATCH",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/merge-patch+json" },
        body: JSON.stringify({ topic: "raw" }),
      });
      assert.equal(raw.status, 429);
      const retryAfter = Number(raw.headers.get("retry-after"));
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 10, `Retry-After: ${raw.headers.get("retry-after")}`);
      assert.match(raw.headers.get("content-type") ?? "", /application\/json/);
      const body = (await raw.json()) as { error?: { code?: string; message?: string } };
      assert.equal(body.error?.code, "TooManyRequests");
      assert.equal(typeof body.error?.message, "string");
      const started = Date.now();
      await t.updateTopic("t6");
      assert.ok(Date.now() - started >= 500, "the SDK waited for Retry-After before retrying");
      assert.equal((await t.getProperties()).topic, "t6");
      const topics = (await bySequence(t)).filter((m) => m.type === "topicUpdated").map((m) => m.content?.topic);
      assert.deepEqual(topics, ["t0", "t1", "t2", "t3", "t4", "t5", "t6"]);
    });
  });
}
