// ACS's Event Grid chat events from Natter's durable event stream: which of the 18 `Microsoft.Communication.Chat…`
// events one stream event becomes, their `data` in the field names of @azure/eventgrid's AcsChat…EventData models,
// and the two envelopes (Event Grid schema, CloudEvents 1.0). Pure: no I/O, no clock, no randomness for durable
// events, so every retry and every node builds byte-identical events.
import { createHash, randomUUID } from "node:crypto";
import type { CommunicationIdentifierModel } from "@natter/wire";
import type { ChatEvent } from "../domain/events.js";
import { modelFromRawId } from "../domain/identifiers.js";
import { eventMessageType } from "../realtime/event-payloads.js";
import type { EventRecord, MessageRecord, ParticipantSnapshot, ThreadRecord } from "../store/store.js";

/** One event for the subscribers, before it is put in an envelope. */
export interface OutgoingEvent {
  /** Stable for (stream position, event type, recipient, participant): identical on every retry and every node. */
  id: string;
  /** "Microsoft.Communication.ChatMessageReceived" etc. */
  eventType: string;
  /** `thread/{threadId}/sender/{rawId}/recipient/{rawId}` and the other forms ACS uses (see docs/events.md). */
  subject: string;
  threadId: string;
  /** ISO 8601: when the change happened (not when it is delivered). */
  eventTime: string;
  dataVersion: string;
  data: Record<string, unknown>;
}

const NS = "Microsoft.Communication.";

/** Per recipient: one event for each participant of the thread except the user who caused it (as ACS). */
export const PER_RECIPIENT_EVENT_TYPES = [
  `${NS}ChatMessageReceived`,
  `${NS}ChatMessageEdited`,
  `${NS}ChatMessageDeleted`,
  `${NS}ChatThreadCreatedWithUser`,
  `${NS}ChatThreadWithUserDeleted`,
  `${NS}ChatThreadPropertiesUpdatedPerUser`,
  `${NS}ChatParticipantAddedToThreadWithUser`,
  `${NS}ChatParticipantRemovedFromThreadWithUser`,
] as const;

/** Per thread: one event per change (per participant for additions and removals). */
export const PER_THREAD_EVENT_TYPES = [
  `${NS}ChatMessageReceivedInThread`,
  `${NS}ChatMessageEditedInThread`,
  `${NS}ChatMessageDeletedInThread`,
  `${NS}ChatThreadCreated`,
  `${NS}ChatThreadDeleted`,
  `${NS}ChatThreadPropertiesUpdated`,
  `${NS}ChatThreadParticipantAdded`,
  `${NS}ChatThreadParticipantRemoved`,
  `${NS}ChatTypingIndicatorReceivedInThread`,
  // Accepted in filters for compatibility; never emitted: Natter has no Azure Bot Service channel (docs/events.md).
  `${NS}ChatAzureBotCommandReceivedInThread`,
] as const;

/** The 18 chat event types ACS publishes, full names. */
export const CHAT_EVENT_TYPES: readonly string[] = [...PER_RECIPIENT_EVENT_TYPES, ...PER_THREAD_EVENT_TYPES];

const DATA_VERSION = "1.0";
/** Name-based (v5) ids live under this namespace (a fixed random UUID). */
const ID_NAMESPACE = Buffer.from("5b1f7c0e9a4d4e2b8c3f6d1a2e9b7c40", "hex");

/** RFC 4122 version 5 UUID of `name` in Natter's namespace. */
function uuidV5(name: string): string {
  const hash = createHash("sha1").update(ID_NAMESPACE).update(name).digest();
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const h = hash.subarray(0, 16).toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const time = (ms: number) => new Date(ms).toISOString();
const id = (rawId: string): CommunicationIdentifierModel => modelFromRawId(rawId);

function participant(p: ParticipantSnapshot): Record<string, unknown> {
  return { displayName: p.displayName ?? "", participantCommunicationIdentifier: id(p.userId), metadata: p.metadata ?? {} };
}

function threadProperties(t: ThreadRecord): Record<string, unknown> {
  return { topic: t.topic };
}

/** Builds the events of one stream position: ids and transactionId derive from it. */
class Builder {
  readonly out: OutgoingEvent[] = [];
  /** The correlation id shared by every event of one change (ACS: `transactionId`). */
  private readonly transactionId: string;
  private readonly eventTime: string;
  constructor(
    private readonly position: number | undefined,
    private readonly threadId: string,
    at: number,
  ) {
    this.transactionId = position === undefined ? randomUUID() : uuidV5(`natter-transaction/${position}`);
    this.eventTime = time(at);
  }

  add(type: string, subject: string, data: Record<string, unknown>, key: { recipient?: string; participant?: string } = {}): void {
    const eventId =
      this.position === undefined
        ? randomUUID()
        : uuidV5(`natter-event/${this.position}/${type}/${key.recipient ?? ""}/${key.participant ?? ""}`);
    this.out.push({
      id: eventId,
      eventType: type,
      subject,
      threadId: this.threadId,
      eventTime: this.eventTime,
      dataVersion: DATA_VERSION,
      data: { ...data, transactionId: this.transactionId, threadId: this.threadId },
    });
  }
}

/** Recipients of the per-user events: everyone the stream event reached except the user who caused it. */
function others(record: EventRecord, actor: string | undefined): string[] {
  return record.recipients.filter((r) => r !== actor);
}

function messageData(m: MessageRecord): Record<string, unknown> {
  return {
    messageId: m.id,
    senderCommunicationIdentifier: id(m.sender ?? ""),
    senderDisplayName: m.senderDisplayName ?? "",
    composeTime: time(m.createdAt),
    type: eventMessageType(m.type),
    version: m.version,
  };
}

type Payload<T extends ChatEvent["type"]> = Extract<ChatEvent, { type: T }>;

/**
 * The Event Grid events one durable stream event becomes (0..n): per-recipient events first (in the stream's
 * recipient order), then the per-thread ones. Read receipts and unknown types become none (ACS publishes no
 * read-receipt event).
 */
export function outgoingEventsFor(record: EventRecord): OutgoingEvent[] {
  const event = record.payload as ChatEvent | null;
  if (!event || typeof event !== "object" || typeof (event as { type?: unknown }).type !== "string") return [];
  const threadId = record.threadId;
  const at = typeof event.at === "number" ? event.at : record.createdAt;
  const b = new Builder(record.position, threadId, at);
  const t = `thread/${threadId}`;
  switch (event.type) {
    case "chatMessageReceived":
    case "chatMessageEdited":
    case "chatMessageDeleted": {
      const m = event.message;
      const sender = m.sender ?? event.actor;
      const base = messageData(m);
      const [userType, threadType, extra] = messageVariant(event, m);
      for (const r of others(record, sender)) {
        b.add(userType, `${t}/sender/${sender}/recipient/${r}`, { ...base, senderId: sender, ...extra, recipientId: r, recipientCommunicationIdentifier: id(r) }, { recipient: r });
      }
      b.add(threadType, `${t}/sender/${sender}`, { ...base, ...extra });
      return b.out;
    }
    case "chatThreadCreated": {
      const th = event.thread;
      const data = {
        createdBy: event.actor,
        createdByCommunicationIdentifier: id(event.actor),
        properties: threadProperties(th),
        metadata: th.metadata ?? {},
        participants: event.participants.map(participant),
        createTime: time(th.createdAt),
        version: at,
      };
      for (const r of others(record, event.actor)) {
        b.add(`${NS}ChatThreadCreatedWithUser`, `${t}/createdBy/${event.actor}/recipient/${r}`, { ...data, recipientId: r, recipientCommunicationIdentifier: id(r) }, { recipient: r });
      }
      const { createdBy: _legacy, ...inThread } = data;
      b.add(`${NS}ChatThreadCreated`, `${t}/createdBy/${event.actor}`, inThread);
      return b.out;
    }
    case "chatThreadPropertiesUpdated": {
      const th = event.thread;
      const data = {
        editedBy: event.actor,
        editedByCommunicationIdentifier: id(event.actor),
        editTime: time(at),
        properties: threadProperties(th),
        metadata: th.metadata ?? {},
        createTime: time(th.createdAt),
        version: at,
      };
      for (const r of others(record, event.actor)) {
        b.add(`${NS}ChatThreadPropertiesUpdatedPerUser`, `${t}/editedBy/${event.actor}/recipient/${r}`, { ...data, recipientId: r, recipientCommunicationIdentifier: id(r) }, { recipient: r });
      }
      const { editedBy: _legacy, ...inThread } = data;
      b.add(`${NS}ChatThreadPropertiesUpdated`, `${t}/editedBy/${event.actor}`, inThread);
      return b.out;
    }
    case "chatThreadDeleted": {
      const byPolicy = (event as Payload<"chatThreadDeleted">).reason === "deletedByPolicy";
      const data = {
        deletedBy: event.actor,
        deletedByCommunicationIdentifier: id(event.actor),
        deleteTime: time(at),
        createTime: time(event.threadCreatedAt ?? at),
        version: at,
      };
      // A retention purge has no user behind it: every participant hears of it (deletedBy is the creator).
      for (const r of others(record, byPolicy ? undefined : event.actor)) {
        b.add(`${NS}ChatThreadWithUserDeleted`, `${t}/deletedBy/${event.actor}/recipient/${r}`, { ...data, recipientId: r, recipientCommunicationIdentifier: id(r) }, { recipient: r });
      }
      const { deletedBy: _legacy, ...inThread } = data;
      b.add(`${NS}ChatThreadDeleted`, `${t}/deletedBy/${event.actor}`, inThread);
      return b.out;
    }
    case "participantsAdded":
    case "participantsRemoved": {
      const added = event.type === "participantsAdded";
      const by = added ? "addedByCommunicationIdentifier" : "removedByCommunicationIdentifier";
      const field = added ? "participantAdded" : "participantRemoved";
      const userType = added ? `${NS}ChatParticipantAddedToThreadWithUser` : `${NS}ChatParticipantRemovedFromThreadWithUser`;
      const threadType = added ? `${NS}ChatThreadParticipantAdded` : `${NS}ChatThreadParticipantRemoved`;
      const recipients = others(record, event.actor);
      for (const p of event.participants) {
        const data = { time: time(at), [by]: id(event.actor), [field]: participant(p), createTime: time(event.threadCreatedAt ?? at), version: at };
        for (const r of recipients) {
          b.add(userType, `${t}/${field}/${p.userId}/recipient/${r}`, { ...data, recipientCommunicationIdentifier: id(r) }, { recipient: r, participant: p.userId });
        }
        // ACS spells the thread-level subjects in lower case: thread/{id}/participantadded/{rawId}.
        b.add(threadType, `${t}/${field.toLowerCase()}/${p.userId}`, data, { participant: p.userId });
      }
      return b.out;
    }
    default:
      return [];
  }
}

function messageVariant(event: Payload<"chatMessageReceived" | "chatMessageEdited" | "chatMessageDeleted">, m: MessageRecord): [string, string, Record<string, unknown>] {
  switch (event.type) {
    case "chatMessageReceived":
      return [`${NS}ChatMessageReceived`, `${NS}ChatMessageReceivedInThread`, { messageBody: m.body.message ?? "", metadata: m.metadata ?? {} }];
    case "chatMessageEdited":
      return [
        `${NS}ChatMessageEdited`,
        `${NS}ChatMessageEditedInThread`,
        { messageBody: m.body.message ?? "", metadata: m.metadata ?? {}, editTime: time(m.editedAt ?? event.at) },
      ];
    case "chatMessageDeleted":
      return [`${NS}ChatMessageDeleted`, `${NS}ChatMessageDeletedInThread`, { deleteTime: time(m.deletedAt ?? event.at) }];
  }
}

/**
 * The typing notification as ACS's `ChatTypingIndicatorReceivedInThread` (per thread only; ephemeral, so not from
 * the stream and never redelivered after a restart). The message fields are those of a Teams typing control
 * message: an empty body, type "Control/Typing", and the notification time as id and version.
 */
export function outgoingTypingEvents(event: Extract<ChatEvent, { type: "typingIndicatorReceived" }>): OutgoingEvent[] {
  const b = new Builder(undefined, event.threadId, event.at);
  b.add(`${NS}ChatTypingIndicatorReceivedInThread`, `thread/${event.threadId}/sender/${event.actor}`, {
    messageBody: "",
    messageId: String(event.at),
    senderCommunicationIdentifier: id(event.actor),
    senderDisplayName: event.senderDisplayName ?? "",
    composeTime: time(event.at),
    type: "Control/Typing",
    version: event.at,
    metadata: {},
  });
  return b.out;
}

/** The topic of this Natter resource: an ACS-like ARM resource path (Event Grid's `topic`, CloudEvents' `source`). */
export function eventGridTopic(resourceName: string): string {
  return `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/natter/providers/Microsoft.Communication/communicationServices/${resourceName}`;
}

/** The Event Grid schema envelope, as ACS delivers it (one element of the delivered array). */
export function toEventGridSchema(e: OutgoingEvent, topic: string): Record<string, unknown> {
  return {
    id: e.id,
    topic,
    subject: e.subject,
    data: e.data,
    eventType: e.eventType,
    dataVersion: e.dataVersion,
    metadataVersion: "1",
    eventTime: e.eventTime,
  };
}

/** The CloudEvents 1.0 (structured JSON) form, as Event Grid delivers system events with CloudEventSchemaV1_0. */
export function toCloudEventSchema(e: OutgoingEvent, source: string): Record<string, unknown> {
  return {
    specversion: "1.0",
    id: e.id,
    source,
    type: e.eventType,
    subject: e.subject,
    time: e.eventTime,
    datacontenttype: "application/json",
    data: e.data,
  };
}
