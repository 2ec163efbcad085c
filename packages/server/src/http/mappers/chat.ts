// Mappers between the ACS wire shapes (@natter/wire) and domain records. The only code that sees both.
import type { FastifyRequest } from "fastify";
import type {
  ChatAttachment, ChatMessage, ChatMessageReadReceipt, ChatParticipant, ChatRetentionPolicy, ChatThreadItem, ChatThreadProperties,
  CommunicationIdentifierModel,
} from "@natter/wire";
import {
  chatVersionEchoesRetention, chatVersionHasAttachments, chatVersionHasIdentifierKind, chatVersionHasMessageMetadata, chatVersionHasTeamsAppIdentifier, chatVersionHasThreadMetadata,
} from "@natter/wire";
import type { ParticipantInput } from "../../domain/chat-service.js";
import { validationError } from "../../domain/errors.js";
import { modelFromRawId, rawIdFromModel } from "../../domain/identifiers.js";
import type {
  AttachmentRef, MessageRecord, ParticipantRecord, ParticipantSnapshot, ReadReceiptRecord, RetentionRecord, ThreadListItem, ThreadRecord,
} from "../../store/store.js";

export const toWireTime = (ms: number) => new Date(ms).toISOString();

/** Parses an RFC 3339 date-time from a request; 400 when it is not one. */
export function fromWireTime(value: string, target: string): number {
  const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw validationError(`${target} must be an RFC 3339 date-time with a time zone.`, target);
  return ms;
}

/**
 * The identifier model of `rawId` as the request's api-version defines it: no `kind` before 2023-11-07 (the
 * 1.x common package throws on a model with `kind` next to a nested object), and a Teams app only as its rawId
 * before 2024-03-07 (those versions have no microsoftTeamsApp; their SDKs read it as an unknown identifier).
 */
export function toWireIdentifier(rawId: string, apiVersion: string): CommunicationIdentifierModel {
  const model = modelFromRawId(rawId);
  if (model.microsoftTeamsApp !== undefined && !chatVersionHasTeamsAppIdentifier(apiVersion)) return { rawId };
  if (!chatVersionHasIdentifierKind(apiVersion)) delete model.kind;
  // The chat API's phone model is {value}: a plain number is served exactly so; the 2025-06-30 additions
  // (an asserted id, an anonymous caller) carry information and are kept.
  const phone = model.phoneNumber as { isAnonymous?: boolean; assertedId?: string } | undefined;
  if (phone && phone.isAnonymous === false && phone.assertedId === undefined) delete phone.isAnonymous;
  return model;
}

export function toWireRetention(r: RetentionRecord): ChatRetentionPolicy {
  return r.kind === "none" ? { kind: "none" } : { kind: "threadCreationDate", deleteThreadAfterDays: r.deleteThreadAfterDays };
}

export function fromWireRetention(r: { kind: string; deleteThreadAfterDays?: number }): RetentionRecord {
  if (r.kind === "none") return { kind: "none" };
  if (r.deleteThreadAfterDays === undefined) {
    throw validationError("deleteThreadAfterDays is required for a threadCreationDate retention policy.", "retentionPolicy.deleteThreadAfterDays");
  }
  return { kind: "threadCreationDate", deleteThreadAfterDays: r.deleteThreadAfterDays };
}

export function toWireThread(t: ThreadRecord, apiVersion: string): ChatThreadProperties {
  const wire: ChatThreadProperties = {
    id: t.id,
    topic: t.topic,
    createdOn: toWireTime(t.createdAt),
    createdByCommunicationIdentifier: toWireIdentifier(t.createdBy, apiVersion),
  };
  if (t.deletedAt !== null) wire.deletedOn = toWireTime(t.deletedAt);
  if (chatVersionHasThreadMetadata(apiVersion)) {
    if (t.metadata) wire.metadata = t.metadata;
    if (t.retention) wire.retentionPolicy = toWireRetention(t.retention);
  }
  // 2025-03-15 always answers with a policy, {"kind":"none"} when none was set (seen in recordings of the
  // real service for create; Natter gives get the same shape, docs/architecture.md "api-version differences").
  if (chatVersionEchoesRetention(apiVersion) && wire.retentionPolicy === undefined) wire.retentionPolicy = { kind: "none" };
  return wire;
}

export function toWireThreadItem(item: ThreadListItem): ChatThreadItem {
  const wire: ChatThreadItem = { id: item.thread.id, topic: item.thread.topic };
  if (item.thread.deletedAt !== null) wire.deletedOn = toWireTime(item.thread.deletedAt);
  if (item.thread.lastMessageAt !== null) wire.lastMessageReceivedOn = toWireTime(item.thread.lastMessageAt);
  return wire;
}

export function toWireParticipant(p: ParticipantRecord | ParticipantSnapshot, apiVersion: string): ChatParticipant {
  const wire: ChatParticipant = { communicationIdentifier: toWireIdentifier(p.userId, apiVersion), shareHistoryTime: toWireTime(p.shareHistoryTime) };
  if (p.displayName !== null) wire.displayName = p.displayName;
  if (p.metadata && chatVersionHasThreadMetadata(apiVersion)) wire.metadata = p.metadata;
  return wire;
}

export function fromWireParticipant(p: ChatParticipant, apiVersion: string): ParticipantInput {
  const input: ParticipantInput = { userId: rawIdFromModel(p.communicationIdentifier) };
  if (p.displayName !== undefined) input.displayName = p.displayName;
  if (p.shareHistoryTime !== undefined) input.shareHistoryTime = fromWireTime(p.shareHistoryTime, "shareHistoryTime");
  if (p.metadata !== undefined && chatVersionHasThreadMetadata(apiVersion)) input.metadata = p.metadata;
  return input;
}

/** The scheme and host the client called (attachment URLs are absolute: clients fetch them as they are). */
export function requestOrigin(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

/**
 * A message's attachment as the chat previews define ChatAttachment: its image's view URLs (`original` and, as
 * `previewUrl`, `small`) on the origin the client called, at the api-version of the request.
 */
export function toWireAttachment(threadId: string, a: AttachmentRef, apiVersion: string, origin: string): ChatAttachment {
  const base = `${origin}/chat/threads/${encodeURIComponent(threadId)}/images/${encodeURIComponent(a.id)}/view`;
  const query = `?api-version=${encodeURIComponent(apiVersion)}`;
  const wire: ChatAttachment = { id: a.id, attachmentType: a.type };
  if (a.name !== null) wire.name = a.name;
  wire.url = `${base}/original${query}`;
  wire.previewUrl = `${base}/small${query}`;
  return wire;
}

/** A message at `apiVersion`; `origin` (scheme and host) builds attachment URLs, shown at the chat previews only. */
export function toWireMessage(m: MessageRecord, apiVersion: string, origin = ""): ChatMessage {
  const wire: ChatMessage = {
    id: m.id,
    type: m.type,
    sequenceId: String(m.sequence),
    version: String(m.version),
    createdOn: toWireTime(m.createdAt),
    content: {},
  };
  const content = wire.content!;
  if (m.body.message !== undefined) content.message = m.body.message;
  if (m.body.topic !== undefined) content.topic = m.body.topic;
  if (m.body.participants !== undefined) content.participants = m.body.participants.map((p) => toWireParticipant(p, apiVersion));
  if (m.body.attachments !== undefined && m.body.attachments.length > 0 && chatVersionHasAttachments(apiVersion)) {
    content.attachments = m.body.attachments.map((a) => toWireAttachment(m.threadId, a, apiVersion, origin));
  }
  if (m.body.initiator !== undefined) content.initiatorCommunicationIdentifier = toWireIdentifier(m.body.initiator, apiVersion);
  if (m.sender !== null) {
    wire.senderCommunicationIdentifier = toWireIdentifier(m.sender, apiVersion);
    wire.senderDisplayName = m.senderDisplayName ?? "";
  }
  if (m.deletedAt !== null) wire.deletedOn = toWireTime(m.deletedAt);
  if (m.editedAt !== null) wire.editedOn = toWireTime(m.editedAt);
  if (m.metadata && chatVersionHasMessageMetadata(apiVersion)) wire.metadata = m.metadata;
  return wire;
}

export function toWireReadReceipt(r: ReadReceiptRecord, apiVersion: string): ChatMessageReadReceipt {
  return { senderCommunicationIdentifier: toWireIdentifier(r.userId, apiVersion), chatMessageId: r.messageId, readOn: toWireTime(r.readAt) };
}
