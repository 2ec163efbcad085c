// The Event Grid chat events built from real durable events: a real server is driven over HTTP through every
// kind of change, its stream is read back, and every event is parsed with the consumer libraries ACS users run
// (@azure/eventgrid's EventGridDeserializer + isSystemEvent, and the cloudevents SDK).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { EventGridDeserializer, isSystemEvent } from "@azure/eventgrid";
import { HTTP, type CloudEvent } from "cloudevents";
import { CHAT_EVENT, type ChatEventEnvelope } from "../domain/events.js";
import { userTopic } from "../bus/bus.js";
import type { EventRecord } from "../store/store.js";
import type { TestNatter } from "../test-support/test-natter.js";
import { createTestUser, startTestNatter } from "../test-support/test-natter.js";
import { createTestDatabase, type TestDatabase } from "../test-support/cluster.js";
import {
  CHAT_EVENT_TYPES,
  PER_RECIPIENT_EVENT_TYPES,
  eventGridTopic,
  outgoingEventsFor,
  outgoingTypingEvents,
  toCloudEventSchema,
  toEventGridSchema,
  type OutgoingEvent,
} from "./chat-event-grid.js";

const V = "api-version=2025-03-15";
const identifier = (id: string) => ({ rawId: id, communicationUser: { id } });
const topic = eventGridTopic("natter-test");
const deserializer = new EventGridDeserializer();

let natter: TestNatter;
let alice: { userId: string; token: string };
let bob: { userId: string; token: string };
let carol: { userId: string; token: string };
let threadId: string;
let messageId: string;
let records: EventRecord[];
let events: OutgoingEvent[];
let typing: OutgoingEvent[];

async function call(token: string, method: string, path: string, body?: unknown) {
  const res = await fetch(new URL(path, natter.httpUrl), {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}



async function driveServer(start: () => Promise<TestNatter>) {
  natter = await start();
  alice = await createTestUser(natter);
  bob = await createTestUser(natter);
  carol = await createTestUser(natter);
  const typingSeen = new Promise<ChatEventEnvelope>((resolve) => {
    void natter.bus.subscribe(userTopic(bob.userId), (_topic, m) => {
      const envelope = m.data as ChatEventEnvelope;
      if (m.type === CHAT_EVENT && envelope.event.type === "typingIndicatorReceived") resolve(envelope);
    });
  });
  const created = await call(alice.token, "POST", `/chat/threads?${V}`, {
    topic: "Launch", metadata: { team: "red" },
    participants: [{ communicationIdentifier: identifier(alice.userId), displayName: "Alice" }, { communicationIdentifier: identifier(bob.userId), displayName: "Bob", metadata: { role: "dev" } }],
  });
  threadId = created.chatThread.id;
  const t = `/chat/threads/${encodeURIComponent(threadId)}`;
  const sent = await call(alice.token, "POST", `${t}/messages?${V}`, { content: "hello", senderDisplayName: "Alice", metadata: { k: "v" } });
  messageId = sent.id;
  await call(alice.token, "PATCH", `${t}/messages/${messageId}?${V}`, { content: "hello again" });
  await call(alice.token, "DELETE", `${t}/messages/${messageId}?${V}`);
  await call(alice.token, "PATCH", `${t}?${V}`, { topic: "Launch day" });
  await call(alice.token, "POST", `${t}/participants/:add?${V}`, { participants: [{ communicationIdentifier: identifier(carol.userId), displayName: "Carol" }] });
  await call(alice.token, "POST", `${t}/participants/:remove?${V}`, identifier(carol.userId));
  await call(alice.token, "POST", `${t}/typing?${V}`, { senderDisplayName: "Alice" });
  const typingEvent = (await typingSeen).event;
  assert.equal(typingEvent.type, "typingIndicatorReceived");
  if (typingEvent.type === "typingIndicatorReceived") typing = outgoingTypingEvents(typingEvent);
  await call(alice.token, "DELETE", `${t}?${V}`);
  // PostgreSQL serves events below its horizon only, which any transaction open on the server (another test
  // file's) holds back: the head waits until everything committed before this call is readable.
  await natter.store.headPosition();
  records = (await natter.store.readStream(0, 1000)).filter((r) => r.threadId === threadId);
  events = records.flatMap(outgoingEventsFor);
}

/** The fields each type's typed model (@azure/eventgrid AcsChat…EventData) requires or ACS's examples fill. */
const MESSAGE = ["messageId", "senderCommunicationIdentifier", "senderDisplayName", "composeTime", "type", "version", "transactionId", "threadId"];
const THREAD = ["createTime", "version", "transactionId", "threadId"];
const USER = ["recipientCommunicationIdentifier"];
const FILLED: Record<string, string[]> = {
  "Microsoft.Communication.ChatMessageReceived": [...MESSAGE, ...USER, "messageBody", "metadata"],
  "Microsoft.Communication.ChatMessageEdited": [...MESSAGE, ...USER, "messageBody", "metadata", "editTime"],
  "Microsoft.Communication.ChatMessageDeleted": [...MESSAGE, ...USER, "deleteTime"],
  "Microsoft.Communication.ChatMessageReceivedInThread": [...MESSAGE, "messageBody", "metadata"],
  "Microsoft.Communication.ChatMessageEditedInThread": [...MESSAGE, "messageBody", "metadata", "editTime"],
  "Microsoft.Communication.ChatMessageDeletedInThread": [...MESSAGE, "deleteTime"],
  "Microsoft.Communication.ChatThreadCreatedWithUser": [...THREAD, ...USER, "createdByCommunicationIdentifier", "properties", "metadata", "participants"],
  "Microsoft.Communication.ChatThreadCreated": [...THREAD, "createdByCommunicationIdentifier", "properties", "metadata", "participants"],
  "Microsoft.Communication.ChatThreadWithUserDeleted": [...THREAD, ...USER, "deletedByCommunicationIdentifier", "deleteTime"],
  "Microsoft.Communication.ChatThreadDeleted": [...THREAD, "deletedByCommunicationIdentifier", "deleteTime"],
  "Microsoft.Communication.ChatThreadPropertiesUpdatedPerUser": [...THREAD, ...USER, "editedByCommunicationIdentifier", "editTime", "properties", "metadata"],
  "Microsoft.Communication.ChatThreadPropertiesUpdated": [...THREAD, "editedByCommunicationIdentifier", "editTime", "properties", "metadata"],
  "Microsoft.Communication.ChatParticipantAddedToThreadWithUser": [...THREAD, ...USER, "time", "addedByCommunicationIdentifier", "participantAdded"],
  "Microsoft.Communication.ChatParticipantRemovedFromThreadWithUser": [...THREAD, ...USER, "time", "removedByCommunicationIdentifier", "participantRemoved"],
  "Microsoft.Communication.ChatThreadParticipantAdded": [...THREAD, "time", "addedByCommunicationIdentifier", "participantAdded"],
  "Microsoft.Communication.ChatThreadParticipantRemoved": [...THREAD, "time", "removedByCommunicationIdentifier", "participantRemoved"],
  // A typing notification has no body: messageBody is "" (asserted below).
  "Microsoft.Communication.ChatTypingIndicatorReceivedInThread": [...MESSAGE, "metadata"],
};

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const IDENTIFIER_FIELDS = /CommunicationIdentifier$/;

function assertFilled(type: string, data: Record<string, unknown>) {
  for (const field of FILLED[type] ?? assert.fail(`no field list for ${type}`)) {
    const value = data[field];
    assert.ok(value !== undefined && value !== null && value !== "", `${type}: ${field} is filled`);
    if (/Time$|^time$/.test(field)) assert.match(String(value), ISO, `${type}: ${field} is ISO 8601`);
    if (IDENTIFIER_FIELDS.test(field)) {
      const model = value as { rawId?: string; kind?: string; communicationUser?: { id: string } };
      assert.equal(model.kind, "communicationUser", `${type}: ${field}.kind`);
      assert.equal(model.communicationUser?.id, model.rawId, `${type}: ${field} is a CommunicationIdentifierModel`);
    }
  }
  assert.equal(data.threadId, threadId);
  if (typeof data.version !== "undefined") assert.equal(typeof data.version, "number", `${type}: version is a number`);
}

function defineSuite(store: string, start: () => Promise<TestNatter>, stop: () => Promise<void>, skip?: string) {
  describe(`chat events for Event Grid, from a real server's stream (${store})`, { skip }, () => {
    before(() => driveServer(start));
    after(async () => {
      await natter?.stop();
      await stop();
    });

    it("produces every type ACS publishes except the Azure Bot command, which Natter never emits", () => {
      const produced = new Set([...events, ...typing].map((e) => e.eventType));
      const expected = CHAT_EVENT_TYPES.filter((t) => t !== "Microsoft.Communication.ChatAzureBotCommandReceivedInThread");
      assert.equal(CHAT_EVENT_TYPES.length, 18);
      assert.deepEqual([...produced].sort(), [...expected].sort());
    });

    it("parses every event with EventGridDeserializer; isSystemEvent narrows it and the typed fields are filled", async () => {
      const body = JSON.stringify([...events, ...typing].map((e) => toEventGridSchema(e, topic)));
      const parsed = await deserializer.deserializeEventGridEvents(body);
      assert.equal(parsed.length, events.length + typing.length);
      for (const e of parsed) {
        assert.ok(CHAT_EVENT_TYPES.includes(e.eventType), e.eventType);
        assert.equal(e.topic, topic);
        assert.equal(e.dataVersion, "1.0");
        assert.ok(e.eventTime instanceof Date && !Number.isNaN(e.eventTime.getTime()), "eventTime parses");
        assert.ok(e.subject.startsWith(`thread/${threadId}/`), e.subject);
        assertFilled(e.eventType, e.data as Record<string, unknown>);
        // The typed models, through the library's own type guard (compile-time field names, run-time values).
        if (isSystemEvent("Microsoft.Communication.ChatMessageReceived", e)) {
          assert.equal(e.data.messageBody, "hello");
          assert.deepEqual(e.data.metadata, { k: "v" });
          assert.equal(e.data.senderDisplayName, "Alice");
          assert.equal(e.data.type, "Text");
          assert.equal(e.data.messageId, messageId);
          assert.equal(e.data.recipientCommunicationIdentifier.rawId, bob.userId);
          assert.equal(e.subject, `thread/${threadId}/sender/${alice.userId}/recipient/${bob.userId}`);
        } else if (isSystemEvent("Microsoft.Communication.ChatMessageEditedInThread", e)) {
          assert.equal(e.data.messageBody, "hello again");
          assert.equal(e.subject, `thread/${threadId}/sender/${alice.userId}`);
        } else if (isSystemEvent("Microsoft.Communication.ChatMessageDeleted", e)) {
          assert.ok(Date.parse(e.data.deleteTime) >= Date.parse(e.data.composeTime ?? ""));
        } else if (isSystemEvent("Microsoft.Communication.ChatThreadCreated", e)) {
          assert.equal((e.data.properties as Record<string, unknown>).topic, "Launch");
          assert.deepEqual(e.data.metadata, { team: "red" });
          assert.deepEqual(
            e.data.participants.map((p) => [p.participantCommunicationIdentifier.rawId, p.displayName, p.metadata]),
            [[alice.userId, "Alice", {}], [bob.userId, "Bob", { role: "dev" }]],
          );
          assert.equal(e.data.createdByCommunicationIdentifier.rawId, alice.userId);
          assert.equal(e.subject, `thread/${threadId}/createdBy/${alice.userId}`);
        } else if (isSystemEvent("Microsoft.Communication.ChatThreadPropertiesUpdatedPerUser", e)) {
          assert.equal((e.data.properties as Record<string, unknown>).topic, "Launch day");
          assert.equal(e.subject, `thread/${threadId}/editedBy/${alice.userId}/recipient/${bob.userId}`);
        } else if (isSystemEvent("Microsoft.Communication.ChatThreadParticipantAdded", e)) {
          assert.equal(e.data.participantAdded.participantCommunicationIdentifier.rawId, carol.userId);
          assert.equal(e.data.participantAdded.displayName, "Carol");
          assert.equal(e.data.addedByCommunicationIdentifier.rawId, alice.userId);
          assert.equal(e.subject, `thread/${threadId}/participantadded/${carol.userId}`);
        } else if (isSystemEvent("Microsoft.Communication.ChatParticipantRemovedFromThreadWithUser", e)) {
          assert.equal(e.data.participantRemoved.participantCommunicationIdentifier.rawId, carol.userId);
          assert.match(e.subject, new RegExp(`^thread/${threadId}/participantRemoved/${carol.userId}/recipient/`));
        } else if (isSystemEvent("Microsoft.Communication.ChatThreadDeleted", e)) {
          assert.equal(e.data.deletedByCommunicationIdentifier.rawId, alice.userId);
          assert.equal(e.subject, `thread/${threadId}/deletedBy/${alice.userId}`);
        } else if (isSystemEvent("Microsoft.Communication.ChatTypingIndicatorReceivedInThread", e)) {
          assert.equal(e.data.senderCommunicationIdentifier.rawId, alice.userId);
          assert.equal(e.data.senderDisplayName, "Alice");
          assert.equal(e.data.messageBody, "");
          assert.equal(e.data.type, "Control/Typing");
        }
      }
    });

    it("sends per-recipient events to every participant but the one who caused the change, as ACS", () => {
      const to = (type: string) => events.filter((e) => e.eventType === type).map((e) => (e.data.recipientCommunicationIdentifier as { rawId: string }).rawId).sort();
      assert.deepEqual(to("Microsoft.Communication.ChatMessageReceived"), [bob.userId]);
      assert.deepEqual(to("Microsoft.Communication.ChatThreadCreatedWithUser"), [bob.userId]);
      assert.deepEqual(to("Microsoft.Communication.ChatParticipantAddedToThreadWithUser"), [bob.userId, carol.userId].sort());
      assert.deepEqual(to("Microsoft.Communication.ChatParticipantRemovedFromThreadWithUser"), [bob.userId, carol.userId].sort());
      assert.deepEqual(to("Microsoft.Communication.ChatThreadWithUserDeleted"), [bob.userId]);
      for (const type of PER_RECIPIENT_EVENT_TYPES) {
        for (const e of events.filter((x) => x.eventType === type)) {
          assert.ok("recipientCommunicationIdentifier" in e.data, `${type} names its recipient`);
          assert.ok(e.subject.endsWith(`/recipient/${(e.data.recipientCommunicationIdentifier as { rawId: string }).rawId}`));
        }
      }
      // One per-thread event per change.
      assert.equal(events.filter((e) => e.eventType === "Microsoft.Communication.ChatMessageReceivedInThread").length, 1);
    });

    it("builds the same ids on every call (a retry or another node), unique across events; one transactionId per change", () => {
      const again = records.flatMap(outgoingEventsFor);
      assert.deepEqual(again, events);
      assert.equal(new Set(events.map((e) => e.id)).size, events.length);
      for (const r of records) {
        const ids = new Set(outgoingEventsFor(r).map((e) => e.data.transactionId));
        assert.equal(ids.size, 1, `one transactionId for ${r.type}`);
      }
      for (const e of events) assert.match(e.id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    });

    it("maps read receipts and unknown or malformed payloads to nothing", () => {
      assert.deepEqual(outgoingEventsFor({ position: 1, threadId, type: "readReceiptReceived", recipients: [bob.userId], payload: { type: "readReceiptReceived", threadId, at: 1, actor: alice.userId }, createdAt: 1 }), []);
      assert.deepEqual(outgoingEventsFor({ position: 2, threadId, type: "x", recipients: [], payload: "plain", createdAt: 1 }), []);
      assert.deepEqual(outgoingEventsFor({ position: 3, threadId, type: "x", recipients: [], payload: null, createdAt: 1 }), []);
    });

    it("a retention purge tells every participant, the creator too; an older event without threadCreatedAt still has a createTime", () => {
      const at = Date.UTC(2026, 0, 1);
      const purge = outgoingEventsFor({
        position: 7, threadId, type: "chatThreadDeleted", recipients: [alice.userId, bob.userId],
        payload: { type: "chatThreadDeleted", threadId, at, actor: alice.userId, reason: "deletedByPolicy" }, createdAt: at,
      });
      const perUser = purge.filter((e) => e.eventType === "Microsoft.Communication.ChatThreadWithUserDeleted");
      assert.deepEqual(perUser.map((e) => (e.data.recipientCommunicationIdentifier as { rawId: string }).rawId), [alice.userId, bob.userId]);
      for (const e of purge) assert.equal(e.data.createTime, new Date(at).toISOString());
      assert.equal(purge.filter((e) => e.eventType === "Microsoft.Communication.ChatThreadDeleted").length, 1);
    });

    it("the CloudEvents form parses with the cloudevents SDK (HTTP binding, structured mode) and validates", async () => {
      for (const e of [...events, ...typing]) {
        const json = toCloudEventSchema(e, topic);
        const received = HTTP.toEvent({ headers: { "content-type": "application/cloudevents+json; charset=utf-8" }, body: JSON.stringify(json) });
        const ce = (Array.isArray(received) ? received[0] : received) as CloudEvent<Record<string, unknown>>;
        assert.equal(ce.validate(), true);
        assert.equal(ce.specversion, "1.0");
        assert.equal(ce.type, e.eventType);
        assert.equal(ce.source, topic);
        assert.equal(ce.subject, e.subject);
        assert.equal(ce.id, e.id);
        assert.equal(ce.time, e.eventTime);
        assert.deepEqual(ce.data, e.data);
      }
      // And as @azure/eventgrid's consumer reads CloudEvents.
      const parsed = await deserializer.deserializeCloudEvents(JSON.stringify(events.map((e) => toCloudEventSchema(e, topic))));
      for (const ce of parsed) {
        assert.ok(ce.subject?.startsWith(`thread/${threadId}/`));
        assertFilled(ce.type, ce.data as Record<string, unknown>);
      }
    });
  });
}

defineSuite("sqlite", () => startTestNatter(), async () => {});

// The same on PostgreSQL: the stream's payloads come back from jsonb.
const pgUrl = process.env.NATTER_TEST_PG_URL;
let database: TestDatabase | undefined;
defineSuite(
  "postgres",
  async () => {
    database = await createTestDatabase(pgUrl!, "natter_events");
    return startTestNatter({ store: "postgres", databaseUrl: database.url });
  },
  async () => {
    await database?.drop();
  },
  pgUrl ? undefined : "NATTER_TEST_PG_URL is not set",
);
