// Natter's SDK realtime notifications in Node (Azure's SDK has none there): every event type reaches the other
// participant in the Azure SDK's shapes (Date fields as Date, identifiers as CommunicationIdentifierKind);
// connections cut at random by a TCP proxy while several writers send lose nothing and duplicate nothing;
// a short-lived token is renewed on the open socket; stop() ends delivery.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import type { Server, Socket } from "node:net";
import { startTestNatter, createTestUser } from "@natter/server/testing";
import type { TestNatter } from "@natter/server/testing";
import { ChatClient } from "@natter/communication-chat";
import type { ChatClientOptions } from "@natter/communication-chat";
import { AzureCommunicationTokenCredential } from "@natter/communication-common";
import { sleep } from "./helpers.js";

let natter: TestNatter;

before(async () => {
  natter = await startTestNatter();
});
after(async () => {
  await natter?.stop();
});

type User = Awaited<ReturnType<typeof createTestUser>>;
const clientFor = (user: User, endpoint = natter.endpoint, options: ChatClientOptions = {}) =>
  new ChatClient(endpoint, new AzureCommunicationTokenCredential(user.token), options);

/** Collects a client's events by name, with a wait for the n-th of a kind. */
function recorder(client: ChatClient, names: string[]) {
  const seen: { name: string; e: Record<string, unknown> }[] = [];
  const waiters: (() => void)[] = [];
  for (const name of names) {
    (client.on as unknown as (n: string, l: (e: Record<string, unknown>) => void) => void)(name, (e) => {
      seen.push({ name, e });
      waiters.splice(0).forEach((w) => w());
    });
  }
  const find = (name: string) => seen.find((s) => s.name === name)?.e;
  async function waitFor(name: string, count = 1, ms = 10_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + ms;
    while (seen.filter((s) => s.name === name).length < count) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} × ${name} (have ${seen.map((s) => s.name).join(", ")})`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 200).unref();
      });
    }
    return seen.filter((s) => s.name === name)[count - 1]!.e;
  }
  return { seen, find, waitFor };
}

const ALL_EVENTS = [
  "chatMessageReceived", "chatMessageEdited", "chatMessageDeleted", "typingIndicatorReceived", "readReceiptReceived",
  "chatThreadCreated", "chatThreadDeleted", "chatThreadPropertiesUpdated", "participantsAdded", "participantsRemoved",
];

const user = (id: string) => ({ kind: "communicationUser", communicationUserId: id });

describe("Natter SDK realtime in Node", () => {
  it("delivers all ten event types to the other participant in the Azure SDK's shapes", async () => {
    const [alice, bob, carol] = [await createTestUser(natter), await createTestUser(natter), await createTestUser(natter)];
    const aliceClient = clientFor(alice);
    const bobClient = clientFor(bob);
    let connected = 0;
    bobClient.on("realTimeNotificationConnected", () => connected++);
    await bobClient.startRealtimeNotifications();
    assert.equal(connected, 1);
    const events = recorder(bobClient, ALL_EVENTS);
    try {
      const { chatThread } = await aliceClient.createChatThread(
        { topic: "shapes" },
        { participants: [{ id: { communicationUserId: bob.userId }, displayName: "Bob" }] },
      );
      const threadId = chatThread!.id;
      const thread = aliceClient.getChatThreadClient(threadId);

      const created = await events.waitFor("chatThreadCreated");
      assert.equal(created.threadId, threadId);
      assert.ok(created.createdOn instanceof Date);
      assert.deepEqual(created.createdBy, { id: user(alice.userId), displayName: "", metadata: {} });
      assert.equal((created.properties as { topic: string }).topic, "shapes");

      const { id: messageId } = await thread.sendMessage({ content: "hello" }, { senderDisplayName: "Alice", metadata: { k: "v" } });
      const received = await events.waitFor("chatMessageReceived");
      assert.equal(received.id, messageId);
      assert.equal(received.message, "hello");
      assert.equal(received.senderDisplayName, "Alice");
      assert.equal(received.type, "Text");
      assert.deepEqual(received.sender, user(alice.userId));
      assert.deepEqual(received.recipient, user(bob.userId));
      assert.deepEqual(received.metadata, { k: "v" });
      assert.ok(received.createdOn instanceof Date);

      await thread.updateMessage(messageId, { content: "hello, edited" });
      const edited = await events.waitFor("chatMessageEdited");
      assert.equal(edited.message, "hello, edited");
      assert.ok(edited.editedOn instanceof Date);

      await thread.sendTypingNotification({ senderDisplayName: "Alice" });
      const typing = await events.waitFor("typingIndicatorReceived");
      assert.equal(typing.threadId, threadId);
      assert.ok(typing.receivedOn instanceof Date);

      await thread.sendReadReceipt({ chatMessageId: messageId });
      const read = await events.waitFor("readReceiptReceived");
      assert.equal(read.chatMessageId, messageId);
      assert.ok(read.readOn instanceof Date);

      await thread.deleteMessage(messageId);
      const deleted = await events.waitFor("chatMessageDeleted");
      assert.equal(deleted.id, messageId);
      assert.ok(deleted.deletedOn instanceof Date);

      await thread.updateTopic("renamed");
      const updated = await events.waitFor("chatThreadPropertiesUpdated");
      assert.equal((updated.properties as { topic: string }).topic, "renamed");
      assert.ok(updated.updatedOn instanceof Date);

      await thread.addParticipants({ participants: [{ id: { communicationUserId: carol.userId }, displayName: "Carol" }] });
      const added = await events.waitFor("participantsAdded");
      assert.deepEqual((added.participantsAdded as { id: unknown }[]).map((p) => p.id), [user(carol.userId)]);
      assert.ok(added.addedOn instanceof Date);

      await thread.removeParticipant({ communicationUserId: carol.userId });
      const removed = await events.waitFor("participantsRemoved");
      assert.deepEqual((removed.participantsRemoved as { id: unknown }[]).map((p) => p.id), [user(carol.userId)]);

      await aliceClient.deleteChatThread(threadId);
      const threadDeleted = await events.waitFor("chatThreadDeleted");
      assert.equal(threadDeleted.threadId, threadId);
      assert.ok(threadDeleted.deletedOn instanceof Date);

      // Each durable event exactly once (typing is ephemeral, also once here).
      assert.deepEqual(events.seen.map((s) => s.name).sort(), [...ALL_EVENTS].sort());
    } finally {
      await bobClient.stopRealtimeNotifications();
    }
  });

  it("connections cut at random while three writers send: every message once, in order per thread", { timeout: 90_000 }, async () => {
    const reader = await createTestUser(natter);
    const writers = [await createTestUser(natter), await createTestUser(natter), await createTestUser(natter)];
    const threadIds: string[] = [];
    for (const w of writers) {
      const { chatThread } = await clientFor(w).createChatThread({ topic: "cuts" }, { participants: [{ id: { communicationUserId: reader.userId } }] });
      threadIds.push(chatThread!.id);
    }
    // The reader reaches the service through a TCP proxy that the test cuts at random.
    const proxy = await startProxy(new URL(natter.httpUrl).port);
    const readerClient = clientFor(reader, `http://127.0.0.1:${proxy.port}`, { allowInsecureConnection: true });
    let connects = 0;
    let disconnects = 0;
    readerClient.on("realTimeNotificationConnected", () => connects++);
    readerClient.on("realTimeNotificationDisconnected", () => disconnects++);
    await readerClient.startRealtimeNotifications();
    const got = new Map<string, number[]>(threadIds.map((id) => [id, []]));
    const ids = new Set<string>();
    let duplicates = 0;
    // Message ids are unique per thread only, so deliveries are keyed by thread and id.
    readerClient.on("chatMessageReceived", (e) => {
      const key = `${e.threadId} ${e.id}`;
      if (ids.has(key)) duplicates++;
      ids.add(key);
      got.get(e.threadId)?.push(Number(e.message.slice(1)));
    });

    // Six cuts, each at a random moment after the reader came back, while the writers keep sending.
    const CUTS = 6;
    let cuts = 0;
    const cutter = (async () => {
      while (cuts < CUTS) {
        const before = connects;
        while (connects === before && cuts > 0) await sleep(20);
        await sleep(Math.random() * 300);
        proxy.cutAll();
        cuts++;
      }
    })();
    const sent = await Promise.all(
      writers.map(async (w, i) => {
        const thread = clientFor(w).getChatThreadClient(threadIds[i]!);
        const mine: string[] = [];
        for (let n = 0; n < 40 || cuts < CUTS; n++) {
          mine.push(`${threadIds[i]} ${(await thread.sendMessage({ content: `m${n}` })).id}`);
          await sleep(Math.random() * 20);
        }
        return mine;
      }),
    );
    await cutter;
    try {
      const expected = sent.flat();
      const deadline = Date.now() + 30_000;
      while (expected.some((id) => !ids.has(id)) && Date.now() < deadline) await sleep(100);
      const missing = expected.filter((id) => !ids.has(id));
      assert.equal(missing.length, 0, `missing ${missing.length} of ${expected.length}`);
      assert.equal(duplicates, 0, "duplicated deliveries");
      for (const [threadId, seqs] of got) {
        assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), `order in ${threadId}`);
      }
      assert.ok(disconnects >= CUTS - 1, `the proxy should have cut live connections (disconnects: ${disconnects})`);
      assert.ok(connects >= disconnects, `each cut is followed by a reconnect (connects ${connects}, disconnects ${disconnects})`);
    } finally {
      await readerClient.stopRealtimeNotifications();
      await proxy.close();
    }
  });

  it("a short-lived token is renewed on the open socket (auth frame) instead of dropping it", { timeout: 30_000 }, async () => {
    const bob = await createTestUser(natter, ["chat"], 5 / 60);
    const alice = await createTestUser(natter);
    const credential = new AzureCommunicationTokenCredential({
      tokenRefresher: async () => (await natter.tokens.issue(bob.userId, ["chat"], 5 / 60, 0)).token,
      token: bob.token,
      refreshProactively: true,
    });
    const bobClient = new ChatClient(natter.endpoint, credential);
    let disconnects = 0;
    bobClient.on("realTimeNotificationDisconnected", () => disconnects++);
    await bobClient.startRealtimeNotifications();
    const events = recorder(bobClient, ["chatMessageReceived"]);
    try {
      const { chatThread } = await clientFor(alice).createChatThread({ topic: "renew" }, { participants: [{ id: { communicationUserId: bob.userId } }] });
      await sleep(8_000); // beyond the first token's 5 s life
      await clientFor(alice).getChatThreadClient(chatThread!.id).sendMessage({ content: "still there?" });
      const e = await events.waitFor("chatMessageReceived");
      assert.equal(e.message, "still there?");
      assert.equal(disconnects, 0, "the socket should have stayed open across the token's expiry");
    } finally {
      await bobClient.stopRealtimeNotifications();
      credential.dispose();
    }
  });

  it("stopRealtimeNotifications during a pending start rejects the start, and nothing reconnects", async () => {
    const bob = await createTestUser(natter);
    const bobClient = clientFor(bob);
    let connected = 0;
    bobClient.on("realTimeNotificationConnected", () => connected++);
    const starting = bobClient.startRealtimeNotifications();
    await bobClient.stopRealtimeNotifications();
    await assert.rejects(starting, /stopped before they connected/);
    await sleep(500);
    assert.equal(connected, 0);
  });

  it("stopRealtimeNotifications ends delivery; starting again resumes live delivery", async () => {
    const [alice, bob] = [await createTestUser(natter), await createTestUser(natter)];
    const bobClient = clientFor(bob);
    await bobClient.startRealtimeNotifications();
    const { chatThread } = await clientFor(alice).createChatThread({ topic: "stop" }, { participants: [{ id: { communicationUserId: bob.userId } }] });
    const thread = clientFor(alice).getChatThreadClient(chatThread!.id);
    await bobClient.stopRealtimeNotifications();
    await thread.sendMessage({ content: "while stopped" });
    await bobClient.startRealtimeNotifications();
    const events = recorder(bobClient, ["chatMessageReceived"]);
    await thread.sendMessage({ content: "after restart" });
    const e = await events.waitFor("chatMessageReceived");
    assert.equal(e.message, "after restart");
    await sleep(200);
    assert.deepEqual(events.seen.map((s) => s.e.message), ["after restart"]);
    await bobClient.stopRealtimeNotifications();
  });
});

/** A loopback TCP proxy whose connections can all be cut at once (a network drop, no close frame). */
async function startProxy(targetPort: string): Promise<{ port: number; cutAll(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = new (client.constructor as typeof Socket)();
    upstream.connect(Number(targetPort), "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {});
    }
    client.pipe(upstream).pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    cutAll: () => sockets.forEach((s) => s.destroy()),
    close: () =>
      new Promise<void>((resolve) => {
        sockets.forEach((s) => s.destroy());
        server.close(() => resolve());
      }),
  };
}
