// The event → wire payload mapping: ACS field names, RFC 3339 dates, identifier models.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { MessageRecord, ThreadRecord } from "../store/store.js";
import { isMentionedIn, toWireEvent } from "./event-payloads.js";
import { isAcsEvent } from "../domain/events.js";

const alice = "8:acs:r_alice";
const bob = "8:acs:r_bob";
const at = Date.UTC(2025, 0, 2, 3, 4, 5, 6);
const model = (id: string) => ({ kind: "communicationUser", rawId: id, communicationUser: { id } });
const message: MessageRecord = {
  threadId: "19:t@thread.v2", id: "1735787045006", sequence: 3, type: "html", body: { message: "<b>hi</b>" }, sender: alice,
  senderDisplayName: "Alice", createdAt: at, editedAt: null, deletedAt: null, version: 1735787045006, metadata: { k: "v" },
};
const thread: ThreadRecord = {
  id: "19:t@thread.v2", topic: "T", createdAt: at, createdBy: alice, deletedAt: null, metadata: null,
  retention: { kind: "threadCreationDate", deleteThreadAfterDays: 30 }, nextSequence: 4, clock: at, lastMessageAt: null, expiresAt: null,
};

describe("toWireEvent", () => {
  it("maps a received message to the SDK's ChatMessageReceivedEvent fields", () => {
    const wire = toWireEvent({ type: "chatMessageReceived", threadId: thread.id, at, actor: alice, position: 9, message }, bob);
    assert.deepEqual(wire, {
      event: "chatMessageReceived",
      data: {
        threadId: thread.id, sender: model(alice), senderDisplayName: "Alice", recipient: model(bob), id: message.id,
        createdOn: "2025-01-02T03:04:05.006Z", version: "1735787045006", type: "RichText/Html", sequenceId: "3",
        message: "<b>hi</b>", metadata: { k: "v" },
      },
    });
  });

  it("maps thread creation with participants, creator and retention policy", () => {
    const participants = [
      { userId: alice, displayName: "Alice", shareHistoryTime: 0, metadata: null },
      { userId: bob, displayName: null, shareHistoryTime: at, metadata: { role: "x" } },
    ];
    const wire = toWireEvent({ type: "chatThreadCreated", threadId: thread.id, at, actor: alice, position: 1, thread, participants }, bob);
    assert.equal(wire.event, "chatThreadCreated");
    assert.deepEqual(wire.data, {
      threadId: thread.id, version: String(at), recipient: model(bob), createdOn: "2025-01-02T03:04:05.006Z",
      createdBy: { id: model(alice), displayName: "Alice", metadata: {} },
      participants: [
        { id: model(alice), displayName: "Alice", metadata: {} },
        { id: model(bob), displayName: "", metadata: { role: "x" }, shareHistoryTime: "2025-01-02T03:04:05.006Z" },
      ],
      properties: { topic: "T", metadata: {} },
      retentionPolicy: { kind: "threadCreationDate", deleteThreadAfterDays: 30 },
    });
  });

  it("a thread deletion without a position is a retention purge: deletedBy null", () => {
    const purge = toWireEvent({ type: "chatThreadDeleted", threadId: thread.id, at, actor: alice }, bob);
    assert.equal(purge.event === "chatThreadDeleted" && purge.data.reason, "deletedByPolicy");
    assert.equal(purge.event === "chatThreadDeleted" && purge.data.deletedBy, null);
    const byUser = toWireEvent({ type: "chatThreadDeleted", threadId: thread.id, at, actor: alice, position: 5 }, bob);
    assert.equal(byUser.event === "chatThreadDeleted" && byUser.data.reason, "deletedByUser");
  });

  it("maps typing and read receipts", () => {
    const typing = toWireEvent({ type: "typingIndicatorReceived", threadId: thread.id, at, actor: bob, senderDisplayName: null }, alice);
    assert.deepEqual(typing.data, {
      threadId: thread.id, sender: model(bob), senderDisplayName: "", recipient: model(alice), version: String(at), receivedOn: "2025-01-02T03:04:05.006Z",
    });
    const receipt = toWireEvent(
      { type: "readReceiptReceived", threadId: thread.id, at, actor: bob, position: 2, receipt: { threadId: thread.id, userId: bob, messageId: "m1", sequence: 1, readAt: at } },
      alice,
    );
    assert.deepEqual(receipt.data, {
      threadId: thread.id, sender: model(bob), senderDisplayName: "", recipient: model(alice), chatMessageId: "m1", readOn: "2025-01-02T03:04:05.006Z",
    });
  });
});

describe("toWireEvent: Natter extensions", () => {
  const mentioning: MessageRecord = { ...message, body: { message: `<msft-mention id="${bob}">Bob</msft-mention>`, mentions: [bob] } };
  it("a message that mentions someone carries mentions; the mentioned recipient also gets mentioned: true", () => {
    const event = { type: "chatMessageReceived" as const, threadId: thread.id, at, actor: alice, position: 9, message: mentioning };
    const toBob = toWireEvent(event, bob).data as unknown as Record<string, unknown>;
    const toAlice = toWireEvent(event, alice).data as unknown as Record<string, unknown>;
    assert.deepEqual(toBob.mentions, [model(bob)]);
    assert.equal(toBob.mentioned, true);
    assert.deepEqual(toAlice.mentions, [model(bob)]);
    assert.equal("mentioned" in toAlice, false);
    assert.equal(isMentionedIn(event, bob), true);
    assert.equal(isMentionedIn(event, alice), false);
    // No mention: neither field.
    const plain = toWireEvent({ ...event, message }, bob).data as unknown as Record<string, unknown>;
    assert.equal("mentions" in plain || "mentioned" in plain, false);
  });

  it("unreadCountChanged maps to its documented fields and is no ACS event (Trouter never carries it)", () => {
    const event = { type: "unreadCountChanged" as const, threadId: thread.id, at, actor: bob, unreadCount: 2, unreadMentionCount: 1 };
    assert.deepEqual(toWireEvent(event, bob), {
      event: "unreadCountChanged",
      data: { threadId: thread.id, recipient: model(bob), unreadCount: 2, unreadMentionCount: 1, changedOn: "2025-01-02T03:04:05.006Z" },
    });
    assert.equal(isAcsEvent(event), false);
    assert.equal(isAcsEvent({ type: "chatMessageReceived", threadId: thread.id, at, actor: alice, message }), true);
  });
});
