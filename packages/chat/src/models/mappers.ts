// The only code that sees both chat shapes: wire (ACS JSON, @natter/wire) <-> SDK (Dates, identifiers).
// Unknown wire properties pass through to the SDK objects, as with Azure's deserializer.
import type { CommunicationIdentifier, CommunicationIdentifierKind } from "@natter/communication-common";
import { deserializeCommunicationIdentifier, serializeCommunicationIdentifier } from "@natter/communication-common";
import type * as Wire from "@natter/wire";
import type {
  ChatMessage,
  ChatMessageContent,
  ChatMessageReadReceipt,
  ChatParticipant,
  ChatRetentionPolicy,
  ChatThreadItem,
  AddChatParticipantsResult,
  ChatError,
  ChatThreadProperties,
  CreateChatThreadResult,
} from "./models.js";
import { mentionsOf } from "./mentions.js";

const toDate = (value: string): Date => new Date(value);

/**
 * SDK identifier → chat wire identifier. Like Azure's chat serializer: phone numbers carry only `value`,
 * and kinds the chat model lacks (Teams extension users) travel as `rawId` only.
 * @param identifier - The identifier.
 */
export function toWireIdentifier(identifier: CommunicationIdentifier): Wire.CommunicationIdentifierModel {
  const s = serializeCommunicationIdentifier(identifier);
  if (s.communicationUser) return { rawId: s.rawId, communicationUser: s.communicationUser };
  if (s.phoneNumber) return { rawId: s.rawId, phoneNumber: { value: s.phoneNumber.value } };
  if (s.microsoftTeamsUser) return { rawId: s.rawId, microsoftTeamsUser: s.microsoftTeamsUser };
  if (s.microsoftTeamsApp) return { rawId: s.rawId, microsoftTeamsApp: s.microsoftTeamsApp };
  return { rawId: s.rawId };
}

/**
 * Chat wire identifier → SDK identifier (throws on malformed models, like Azure's).
 * @param model - The wire identifier.
 */
export function fromWireIdentifier(model: Wire.CommunicationIdentifierModel): CommunicationIdentifierKind {
  return deserializeCommunicationIdentifier(model);
}

/**
 * SDK participant → wire participant.
 * @param participant - The participant.
 */
export function toWireParticipant(participant: ChatParticipant): Wire.ChatParticipant {
  const wire: Wire.ChatParticipant = { communicationIdentifier: toWireIdentifier(participant.id) };
  if (participant.displayName !== undefined) wire.displayName = participant.displayName;
  if (participant.shareHistoryTime !== undefined) wire.shareHistoryTime = participant.shareHistoryTime.toISOString();
  if (participant.metadata !== undefined) wire.metadata = participant.metadata;
  return wire;
}

/**
 * Wire participant → SDK participant.
 * @param wire - The wire participant.
 */
export function fromWireParticipant(wire: Wire.ChatParticipant): ChatParticipant {
  const { communicationIdentifier, shareHistoryTime, ...rest } = wire;
  const result: ChatParticipant = { ...rest, id: fromWireIdentifier(communicationIdentifier) };
  if (shareHistoryTime !== undefined) result.shareHistoryTime = toDate(shareHistoryTime);
  return result;
}

/**
 * Validates a retention policy from the wire; unknown kinds throw, as in Azure's 1.6 client.
 * @param policy - The wire policy.
 */
export function fromWireRetentionPolicy(policy: Wire.ChatRetentionPolicy): ChatRetentionPolicy {
  if (policy.kind === "threadCreationDate" || policy.kind === "none") return policy;
  throw new Error(`Retention Policy ${(policy as { kind: string }).kind} is not supported`);
}

/**
 * Wire thread properties → SDK thread properties.
 * @param wire - The wire thread.
 */
export function fromWireThreadProperties(wire: Wire.ChatThreadProperties): ChatThreadProperties {
  const { createdByCommunicationIdentifier, retentionPolicy, createdOn, deletedOn, ...rest } = wire;
  const result: ChatThreadProperties = { ...rest, createdOn: toDate(createdOn) };
  if (createdByCommunicationIdentifier) {
    (result as { createdBy?: CommunicationIdentifierKind }).createdBy = fromWireIdentifier(createdByCommunicationIdentifier);
  }
  if (deletedOn !== undefined) result.deletedOn = toDate(deletedOn);
  if (retentionPolicy) result.retentionPolicy = fromWireRetentionPolicy(retentionPolicy);
  return result;
}

/**
 * Wire error → SDK ChatError (`innererror` becomes `innerError`).
 * @param wire - The wire error.
 */
export function fromWireChatError(wire: Wire.CommunicationError): ChatError {
  const { innererror, details, ...rest } = wire;
  const result: { -readonly [K in keyof ChatError]: ChatError[K] } = { ...rest };
  if (details) result.details = details.map(fromWireChatError);
  if (innererror) result.innerError = fromWireChatError(innererror);
  return result;
}

/**
 * Wire create-thread result → SDK result.
 * @param wire - The wire result.
 */
export function fromWireCreateChatThreadResult(wire: Wire.CreateChatThreadResult | undefined): CreateChatThreadResult {
  const { chatThread, invalidParticipants, ...rest } = wire ?? {};
  const result: { -readonly [K in keyof CreateChatThreadResult]: CreateChatThreadResult[K] } = { ...rest };
  if (chatThread) result.chatThread = fromWireThreadProperties(chatThread);
  if (invalidParticipants) result.invalidParticipants = invalidParticipants.map(fromWireChatError);
  return result;
}

/**
 * Wire add-participants result → SDK result.
 * @param wire - The wire result (`{}` when every participant was added).
 */
export function fromWireAddParticipantsResult(wire: Wire.AddChatParticipantsResult | undefined): AddChatParticipantsResult {
  const { invalidParticipants, ...rest } = wire ?? {};
  return invalidParticipants ? { ...rest, invalidParticipants: invalidParticipants.map(fromWireChatError) } : { ...rest };
}

/**
 * Wire thread item of the extension route (GET /natter/chat/threads) → SDK item with unread counts.
 * @param wire - The wire item.
 */
export function fromWireNatterThreadItem(wire: Wire.NatterChatThreadItem): ChatThreadItem {
  const { lastMessage, ...item } = wire;
  const result = fromWireThreadItem(item);
  if (lastMessage) {
    const { senderCommunicationIdentifier, createdOn, ...rest } = lastMessage;
    result.lastMessage = { ...rest, createdOn: toDate(createdOn) };
    if (senderCommunicationIdentifier) result.lastMessage.sender = fromWireIdentifier(senderCommunicationIdentifier);
  }
  return result;
}

/**
 * Wire thread list item → SDK item.
 * @param wire - The wire item.
 */
export function fromWireThreadItem(wire: Wire.ChatThreadItem): ChatThreadItem {
  const { deletedOn, lastMessageReceivedOn, ...rest } = wire;
  const result: ChatThreadItem = { ...rest };
  if (deletedOn !== undefined) result.deletedOn = toDate(deletedOn);
  if (lastMessageReceivedOn !== undefined) {
    (result as { lastMessageReceivedOn?: Date }).lastMessageReceivedOn = toDate(lastMessageReceivedOn);
  }
  return result;
}

function fromWireContent(wire: Wire.ChatMessageContent): ChatMessageContent {
  const { participants, initiatorCommunicationIdentifier, ...rest } = wire;
  const result: ChatMessageContent = { ...rest };
  if (initiatorCommunicationIdentifier) result.initiator = fromWireIdentifier(initiatorCommunicationIdentifier);
  if (participants) result.participants = participants.map(fromWireParticipant);
  return result;
}

/**
 * Wire message → SDK message.
 * @param wire - The wire message.
 */
export function fromWireMessage(wire: Wire.ChatMessage): ChatMessage {
  const { content, senderCommunicationIdentifier, createdOn, deletedOn, editedOn, ...rest } = wire;
  const result: ChatMessage = { ...rest, createdOn: toDate(createdOn) };
  if (content) result.content = fromWireContent(content);
  if (String(wire.type).toLowerCase() === "html") result.mentions = mentionsOf(content?.message ?? "");
  if (senderCommunicationIdentifier) result.sender = fromWireIdentifier(senderCommunicationIdentifier);
  if (deletedOn !== undefined) result.deletedOn = toDate(deletedOn);
  if (editedOn !== undefined) result.editedOn = toDate(editedOn);
  return result;
}

/**
 * Wire read receipt → SDK read receipt.
 * @param wire - The wire read receipt.
 */
export function fromWireReadReceipt(wire: Wire.ChatMessageReadReceipt): ChatMessageReadReceipt {
  const { senderCommunicationIdentifier, readOn, ...rest } = wire;
  return { ...rest, sender: fromWireIdentifier(senderCommunicationIdentifier), readOn: toDate(readOn) };
}
