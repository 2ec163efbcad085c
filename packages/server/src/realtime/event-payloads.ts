// Pure mapping of a domain ChatEvent to its realtime wire payload: the field names of the Azure SDK's event
// types (@azure/communication-signaling), with dates as RFC 3339 strings and identifiers as ACS identifier
// models. Shared by the Natter protocol and (later) the Trouter endpoint. No I/O, no clock.
import type { ChatRetentionPolicy, CommunicationIdentifierModel } from "@natter/wire";
import type { ChatEvent, ChatEventType } from "../domain/events.js";
import { modelFromRawId } from "../domain/identifiers.js";
import type { MessageRecord, ParticipantSnapshot, RetentionRecord, ThreadRecord } from "../store/store.js";

/** A participant as the SDK's events carry it (`id` is the identifier; the SDK turns it into a CommunicationIdentifierKind). */
export interface WireEventParticipant {
  id: CommunicationIdentifierModel;
  displayName: string;
  /** RFC 3339; absent when the participant sees the whole history. */
  shareHistoryTime?: string;
  metadata: Record<string, string>;
}

export interface WireThreadProperties {
  topic: string;
  metadata: Record<string, string>;
}

interface WireUserEventBase {
  threadId: string;
  sender: CommunicationIdentifierModel;
  senderDisplayName: string;
  recipient: CommunicationIdentifierModel;
}

interface WireMessageEventBase extends WireUserEventBase {
  id: string;
  createdOn: string;
  version: string;
  /** "Text" or "RichText/Html", as ACS events spell it (REST: "text"/"html"). */
  type: string;
  /** The message's sequenceId (a Natter extra; ACS events do not carry it). */
  sequenceId: string;
}

export interface WireChatMessageReceived extends WireMessageEventBase {
  message: string;
  metadata: Record<string, string>;
  /** Natter extension: who an html message mentions (absent when nobody). */
  mentions?: CommunicationIdentifierModel[];
  /** Natter extension: true when the recipient is one of `mentions` (absent otherwise). */
  mentioned?: true;
}
export interface WireChatMessageEdited extends WireChatMessageReceived {
  editedOn: string;
}
export interface WireChatMessageDeleted extends WireMessageEventBase {
  deletedOn: string;
}
export interface WireTypingIndicatorReceived extends WireUserEventBase {
  version: string;
  receivedOn: string;
}
export interface WireReadReceiptReceived extends WireUserEventBase {
  chatMessageId: string;
  readOn: string;
}

interface WireThreadEventBase {
  threadId: string;
  version: string;
  recipient: CommunicationIdentifierModel;
}
export interface WireChatThreadCreated extends WireThreadEventBase {
  createdOn: string;
  createdBy: WireEventParticipant;
  participants: WireEventParticipant[];
  properties: WireThreadProperties;
  retentionPolicy: ChatRetentionPolicy;
}
export interface WireChatThreadPropertiesUpdated extends WireThreadEventBase {
  updatedOn: string;
  updatedBy: WireEventParticipant;
  properties: WireThreadProperties;
  retentionPolicy: ChatRetentionPolicy;
}
export interface WireChatThreadDeleted extends WireThreadEventBase {
  deletedOn: string;
  /** null when a retention policy deleted the thread. */
  deletedBy: WireEventParticipant | null;
  reason: "deletedByUser" | "deletedByPolicy";
}
export interface WireParticipantsAdded extends WireThreadEventBase {
  addedOn: string;
  addedBy: WireEventParticipant;
  participantsAdded: WireEventParticipant[];
}
export interface WireParticipantsRemoved extends WireThreadEventBase {
  removedOn: string;
  removedBy: WireEventParticipant;
  participantsRemoved: WireEventParticipant[];
}

/** Natter extension: the recipient's unread counts of a thread changed through their own read receipt. */
export interface WireUnreadCountChanged {
  threadId: string;
  recipient: CommunicationIdentifierModel;
  unreadCount: number;
  unreadMentionCount: number;
  /** RFC 3339: when the counts changed. */
  changedOn: string;
}

/** The wire payload of each event type. */
export interface WireEventPayloads {
  chatMessageReceived: WireChatMessageReceived;
  chatMessageEdited: WireChatMessageEdited;
  chatMessageDeleted: WireChatMessageDeleted;
  typingIndicatorReceived: WireTypingIndicatorReceived;
  readReceiptReceived: WireReadReceiptReceived;
  chatThreadCreated: WireChatThreadCreated;
  chatThreadPropertiesUpdated: WireChatThreadPropertiesUpdated;
  chatThreadDeleted: WireChatThreadDeleted;
  participantsAdded: WireParticipantsAdded;
  participantsRemoved: WireParticipantsRemoved;
  unreadCountChanged: WireUnreadCountChanged;
}

/** One event on the wire: its name and payload (a discriminated union on `event`). */
export type WireEvent = { [K in ChatEventType]: { event: K; data: WireEventPayloads[K] } }[ChatEventType];

const time = (ms: number) => new Date(ms).toISOString();

/** ACS event spelling of a message type. */
export function eventMessageType(type: MessageRecord["type"]): string {
  switch (type) {
    case "text":
      return "Text";
    case "html":
      return "RichText/Html";
    default:
      return type;
  }
}

function participant(p: ParticipantSnapshot): WireEventParticipant {
  const wire: WireEventParticipant = { id: modelFromRawId(p.userId), displayName: p.displayName ?? "", metadata: p.metadata ?? {} };
  if (p.shareHistoryTime > 0) wire.shareHistoryTime = time(p.shareHistoryTime);
  return wire;
}

/** The actor of a thread event, with the name and metadata we know from `known` (else empty). */
function actor(rawId: string, known: ParticipantSnapshot[] = []): WireEventParticipant {
  const p = known.find((k) => k.userId === rawId);
  return p ? participant(p) : { id: modelFromRawId(rawId), displayName: "", metadata: {} };
}

function properties(t: ThreadRecord): WireThreadProperties {
  return { topic: t.topic, metadata: t.metadata ?? {} };
}

function retention(r: RetentionRecord | null): ChatRetentionPolicy {
  return r?.kind === "threadCreationDate" ? { kind: "threadCreationDate", deleteThreadAfterDays: r.deleteThreadAfterDays } : { kind: "none" };
}

function messageBase(m: MessageRecord, threadId: string, recipient: string): WireMessageEventBase {
  return {
    threadId,
    sender: modelFromRawId(m.sender ?? ""),
    senderDisplayName: m.senderDisplayName ?? "",
    recipient: modelFromRawId(recipient),
    id: m.id,
    createdOn: time(m.createdAt),
    version: String(m.version),
    type: eventMessageType(m.type),
    sequenceId: String(m.sequence),
  };
}

/** The mention fields of a message event for `recipient` (none when the message mentions nobody). */
function mentionFields(m: MessageRecord, recipient: string): Pick<WireChatMessageReceived, "mentions" | "mentioned"> {
  const mentions = m.body.mentions;
  if (!mentions || mentions.length === 0) return {};
  return mentions.includes(recipient) ? { mentions: mentions.map(modelFromRawId), mentioned: true } : { mentions: mentions.map(modelFromRawId) };
}

/** Whether `recipient`'s form of `event` differs from the shared frame beyond its recipient (it is mentioned). */
export function isMentionedIn(event: ChatEvent, recipient: string): boolean {
  return (event.type === "chatMessageReceived" || event.type === "chatMessageEdited") && event.message.body.mentions?.includes(recipient) === true;
}

/** The wire form of `event` as `recipient` (a raw id) receives it. */
export function toWireEvent(event: ChatEvent, recipient: string): WireEvent {
  const to = modelFromRawId(recipient);
  switch (event.type) {
    case "chatMessageReceived":
      return {
        event: event.type,
        data: {
          ...messageBase(event.message, event.threadId, recipient), message: event.message.body.message ?? "", metadata: event.message.metadata ?? {},
          ...mentionFields(event.message, recipient),
        },
      };
    case "chatMessageEdited":
      return {
        event: event.type,
        data: {
          ...messageBase(event.message, event.threadId, recipient),
          message: event.message.body.message ?? "",
          metadata: event.message.metadata ?? {},
          ...mentionFields(event.message, recipient),
          editedOn: time(event.message.editedAt ?? event.at),
        },
      };
    case "chatMessageDeleted":
      return { event: event.type, data: { ...messageBase(event.message, event.threadId, recipient), deletedOn: time(event.message.deletedAt ?? event.at) } };
    case "typingIndicatorReceived":
      return {
        event: event.type,
        data: {
          threadId: event.threadId, sender: modelFromRawId(event.actor), senderDisplayName: event.senderDisplayName ?? "", recipient: to,
          version: String(event.at), receivedOn: time(event.at),
        },
      };
    case "readReceiptReceived":
      return {
        event: event.type,
        data: {
          threadId: event.threadId, sender: modelFromRawId(event.receipt.userId), senderDisplayName: "", recipient: to,
          chatMessageId: event.receipt.messageId, readOn: time(event.receipt.readAt),
        },
      };
    case "chatThreadCreated":
      return {
        event: event.type,
        data: {
          threadId: event.threadId, version: String(event.at), recipient: to, createdOn: time(event.thread.createdAt),
          createdBy: actor(event.actor, event.participants), participants: event.participants.map(participant),
          properties: properties(event.thread), retentionPolicy: retention(event.thread.retention),
        },
      };
    case "chatThreadPropertiesUpdated":
      return {
        event: event.type,
        data: {
          threadId: event.threadId, version: String(event.at), recipient: to, updatedOn: time(event.at), updatedBy: actor(event.actor),
          properties: properties(event.thread), retentionPolicy: retention(event.thread.retention),
        },
      };
    case "chatThreadDeleted": {
      // A retention purge carries reason "deletedByPolicy" (durable since the event stream has it; older nodes
      // published it without a position, which still reads as a purge).
      const byPolicy = (event as { reason?: string }).reason === "deletedByPolicy" || event.position === undefined;
      return {
        event: event.type,
        data: {
          threadId: event.threadId, version: String(event.at), recipient: to, deletedOn: time(event.at),
          deletedBy: byPolicy ? null : actor(event.actor), reason: byPolicy ? "deletedByPolicy" : "deletedByUser",
        },
      };
    }
    case "participantsAdded":
      return {
        event: event.type,
        data: {
          threadId: event.threadId, version: String(event.at), recipient: to, addedOn: time(event.at), addedBy: actor(event.actor, event.participants),
          participantsAdded: event.participants.map(participant),
        },
      };
    case "participantsRemoved":
      return {
        event: event.type,
        data: {
          threadId: event.threadId, version: String(event.at), recipient: to, removedOn: time(event.at), removedBy: actor(event.actor, event.participants),
          participantsRemoved: event.participants.map(participant),
        },
      };
    case "unreadCountChanged":
      return {
        event: event.type,
        data: { threadId: event.threadId, recipient: to, unreadCount: event.unreadCount, unreadMentionCount: event.unreadMentionCount, changedOn: time(event.at) },
      };
  }
}
