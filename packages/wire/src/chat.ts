// Chat REST bodies, ACS spelling. Dates are RFC 3339 strings; sequenceId and version are strings.
import type { CommunicationIdentifierModel } from "./identifiers.js";
import type { CommunicationError } from "./errors.js";

export type ChatMessageType = "text" | "html" | "topicUpdated" | "participantAdded" | "participantRemoved";

export interface ChatParticipant {
  communicationIdentifier: CommunicationIdentifierModel;
  displayName?: string;
  shareHistoryTime?: string;
  metadata?: Record<string, string>;
}

export type ChatRetentionPolicy =
  | { kind: "threadCreationDate"; deleteThreadAfterDays: number }
  | { kind: "none" };

export interface CreateChatThreadRequest {
  topic: string;
  participants?: ChatParticipant[];
  metadata?: Record<string, string>;
  retentionPolicy?: ChatRetentionPolicy;
}

export interface ChatThreadProperties {
  id: string;
  topic: string;
  createdOn: string;
  createdByCommunicationIdentifier: CommunicationIdentifierModel;
  deletedOn?: string;
  metadata?: Record<string, string>;
  retentionPolicy?: ChatRetentionPolicy;
  /** 2024-06-05-preview: `textOnlyChat` (absent means false). */
  messagingPolicy?: { textOnlyChat?: boolean };
}

export interface CreateChatThreadResult {
  chatThread?: ChatThreadProperties;
  invalidParticipants?: CommunicationError[];
}

export interface ChatThreadItem {
  id: string;
  topic: string;
  deletedOn?: string;
  lastMessageReceivedOn?: string;
}

export interface ChatThreadsItemCollection {
  value: ChatThreadItem[];
  nextLink?: string;
}

export interface UpdateChatThreadRequest {
  topic?: string;
  metadata?: Record<string, string>;
  retentionPolicy?: ChatRetentionPolicy;
}

export interface SendChatMessageRequest {
  content: string;
  senderDisplayName?: string;
  type?: ChatMessageType;
  metadata?: Record<string, string>;
  /** The previews (2024-03-15-preview, 2024-06-05-preview) only. */
  attachments?: ChatAttachment[];
}

export interface SendChatMessageResult {
  id: string;
}

export interface ChatAttachment {
  id: string;
  attachmentType: "image" | "file";
  name?: string;
  url?: string;
  previewUrl?: string;
}

export interface ChatMessageContent {
  message?: string;
  topic?: string;
  participants?: ChatParticipant[];
  attachments?: ChatAttachment[];
  initiatorCommunicationIdentifier?: CommunicationIdentifierModel;
}

export interface ChatMessage {
  id: string;
  type: ChatMessageType;
  sequenceId: string;
  version: string;
  content?: ChatMessageContent;
  senderDisplayName?: string;
  createdOn: string;
  senderCommunicationIdentifier?: CommunicationIdentifierModel;
  deletedOn?: string;
  editedOn?: string;
  metadata?: Record<string, string>;
  /** 2024-06-05-preview: set when content moderation acted on the message (Natter never sets it). */
  policyViolation?: { state: "contentBlocked" | "warning" };
}

export interface ChatMessagesCollection {
  value: ChatMessage[];
  nextLink?: string;
}

export interface UpdateChatMessageRequest {
  content?: string;
  metadata?: Record<string, string>;
  /** The previews only: replaces the message's attachments. */
  attachments?: ChatAttachment[];
}

/** UploadChatImage's answer (the previews): the image id to name in a message's attachments. */
export interface UploadChatImageResult {
  id: string;
  attachmentType?: "image" | "file";
  name?: string;
}

export interface ChatParticipantsCollection {
  value: ChatParticipant[];
  nextLink?: string;
}

export interface AddChatParticipantsRequest {
  participants: ChatParticipant[];
}

export interface AddChatParticipantsResult {
  invalidParticipants?: CommunicationError[];
}

export interface SendTypingNotificationRequest {
  senderDisplayName?: string;
}

export interface SendReadReceiptRequest {
  chatMessageId: string;
}

export interface ChatMessageReadReceipt {
  senderCommunicationIdentifier: CommunicationIdentifierModel;
  chatMessageId: string;
  readOn: string;
}

export interface ChatMessageReadReceiptsCollection {
  value: ChatMessageReadReceipt[];
  nextLink?: string;
}

/** GET /chat/config/realTimeNotifications (api-version 2024-09-01), used by Azure's signaling client. */
export interface RealTimeNotificationConfiguration {
  trouterServiceUrl: string;
  registrarServiceUrl: string;
  cloudType: string;
}

/** ACS chat limits (contract §6). */
export const CHAT_LIMITS = {
  participantsPerThread: 250,
  participantsPerBatch: 200,
  maxPageSize: 200,
  defaultPageSize: 10,
  messageContentBytes: 28 * 1024,
  metadataBytes: 1024,
  topicLength: 256,
  displayNameLength: 256,
  retentionMinDays: 30,
  retentionMaxDays: 90,
  typingAndReceiptsMaxParticipants: 20,
  /** Largest chat image (UploadChatImage, the previews): 20 MB, the limit the ACS UI library enforces for ACS. */
  imageBytes: 20 * 1024 * 1024,
} as const;
