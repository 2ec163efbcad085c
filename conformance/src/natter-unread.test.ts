// Natter's SDK and the extensions (docs/extensions.md) against the real server: listChatThreads items carry
// unreadCount, unreadMentionCount and lastMessage; ChatMessage.mentions; the mentioned participant's
// chatMessageReceived says so; a read receipt from one client of a user reaches the user's other client as
// unreadCountChanged (a second tab clears its badge). Azure's SDK keeps seeing ACS shapes only.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startTestNatter, createTestUser } from "@natter/server/testing";
import type { TestNatter } from "@natter/server/testing";
import { ChatClient } from "@natter/communication-chat";
import type { ChatMessageReceivedEvent, UnreadCountChangedEvent } from "@natter/communication-chat";
import { AzureCommunicationTokenCredential } from "@natter/communication-common";
import { ChatClient as AzureChatClient } from "@azure/communication-chat";
import { AzureCommunicationTokenCredential as AzureCredential } from "@azure/communication-common";
import { collect } from "./helpers.js";

let natter: TestNatter;
before(async () => {
  natter = await startTestNatter();
});
after(async () => natter?.stop());

type User = Awaited<ReturnType<typeof createTestUser>>;
const clientFor = (user: User) => new ChatClient(natter.endpoint, new AzureCommunicationTokenCredential(user.token));
const mention = (id: string, name: string) => `<msft-mention id="${id}">${name}</msft-mention>`;

/** Resolves with the first event of `name` that `match` accepts (10 s at most). */
function nextEvent<T>(client: ChatClient, name: "chatMessageReceived" | "unreadCountChanged", match: (e: T) => boolean): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${name}`)), 10_000);
    (client.on as unknown as (n: string, l: (e: T) => void) => void)(name, (e) => {
      if (!match(e)) return;
      clearTimeout(timer);
      resolve(e);
    });
  });
}

describe("Natter SDK: unread counts, last message and mentions", () => {
  it("listChatThreads carries counts and the last message; ChatMessage.mentions; realtime says who was mentioned", async () => {
    const [alice, bob, carol] = [await createTestUser(natter), await createTestUser(natter), await createTestUser(natter)];
    const aliceChat = clientFor(alice);
    const bobTab1 = clientFor(bob);
    const bobTab2 = clientFor(bob);
    const { chatThread } = await aliceChat.createChatThread({ topic: "unread" }, { participants: [{ id: { communicationUserId: bob.userId }, displayName: "Bob" }] });
    const threadId = chatThread!.id;
    const aliceThread = aliceChat.getChatThreadClient(threadId);
    await bobTab1.startRealtimeNotifications();
    await bobTab2.startRealtimeNotifications();
    await aliceChat.startRealtimeNotifications();
    try {
      const mentioned = nextEvent<ChatMessageReceivedEvent>(bobTab2, "chatMessageReceived", (e) => e.type === "RichText/Html");
      const sendersCopy = nextEvent<ChatMessageReceivedEvent>(aliceChat, "chatMessageReceived", (e) => e.type === "RichText/Html");
      await aliceThread.sendMessage({ content: "plain" }, { senderDisplayName: "Alice" });
      const { id: htmlId } = await aliceThread.sendMessage(
        { content: `<p>hey ${mention(bob.userId, "Bob")} and ${mention(carol.userId, "Carol")}</p>` },
        { senderDisplayName: "Alice", type: "html" },
      );
      const event = await mentioned;
      assert.equal(event.mentioned, true);
      assert.deepEqual(event.mentions, [{ kind: "communicationUser", communicationUserId: bob.userId }]);
      // Carol is not in the thread: her tag became text, for every reader.
      assert.equal(event.message, `<p>hey ${mention(bob.userId, "Bob")} and Carol</p>`);
      // Everyone hears who was mentioned; only the mentioned are told it is them.
      const aliceEvent = await sendersCopy;
      assert.deepEqual(aliceEvent.mentions, event.mentions);
      assert.equal(aliceEvent.mentioned, undefined);

      const message = await bobTab1.getChatThreadClient(threadId).getMessage(htmlId);
      assert.deepEqual(message.mentions, [{ kind: "communicationUser", communicationUserId: bob.userId }]);
      const plain = (await collect(bobTab1.getChatThreadClient(threadId).listMessages())).find((m) => m.type === "text");
      assert.equal(plain?.mentions, undefined);

      const item = (await collect(bobTab1.listChatThreads())).find((t) => t.id === threadId);
      assert.equal(item?.unreadCount, 2);
      assert.equal(item?.unreadMentionCount, 1);
      assert.equal(item?.lastMessage?.id, htmlId);
      assert.equal(item?.lastMessage?.preview, "hey Bob and Carol");
      assert.equal(item?.lastMessage?.senderDisplayName, "Alice");
      assert.deepEqual(item?.lastMessage?.sender, { kind: "communicationUser", communicationUserId: alice.userId });
      assert.ok(item?.lastMessage?.createdOn instanceof Date);
      // Alice sent both: nothing unread for her.
      assert.equal((await collect(aliceChat.listChatThreads())).find((t) => t.id === threadId)?.unreadCount, 0);

      // Tab 1 reads: tab 2 hears the new counts.
      const cleared = nextEvent<UnreadCountChangedEvent>(bobTab2, "unreadCountChanged", (e) => e.threadId === threadId);
      await bobTab1.getChatThreadClient(threadId).sendReadReceipt({ chatMessageId: htmlId });
      const change = await cleared;
      assert.equal(change.unreadCount, 0);
      assert.equal(change.unreadMentionCount, 0);
      assert.ok(change.changedOn instanceof Date);
      assert.deepEqual(change.recipient, { kind: "communicationUser", communicationUserId: bob.userId });
      assert.equal((await collect(bobTab2.listChatThreads())).find((t) => t.id === threadId)?.unreadCount, 0);

      // Azure's SDK: ACS shapes only (no counts on its thread list, no mentions on its messages).
      const azure = new AzureChatClient(natter.endpoint, new AzureCredential(bob.token));
      const azureItem = (await collect(azure.listChatThreads())).find((t) => t.id === threadId) as unknown as Record<string, unknown>;
      assert.deepEqual(Object.keys(azureItem).filter((k) => ["unreadCount", "unreadMentionCount", "lastMessage"].includes(k)), []);
      const azureMessage = (await azure.getChatThreadClient(threadId).getMessage(htmlId)) as unknown as Record<string, unknown>;
      assert.equal(azureMessage.mentions, undefined);
    } finally {
      await bobTab1.stopRealtimeNotifications();
      await bobTab2.stopRealtimeNotifications();
      await aliceChat.stopRealtimeNotifications();
    }
  });
});
