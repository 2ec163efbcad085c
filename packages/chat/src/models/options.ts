// Option bags of ChatClient and ChatThreadClient, mirroring @azure/communication-chat 1.6 (every one
// extends OperationOptions, so every call accepts abortSignal), plus Natter's realtime transport seam option.
import type { CommonClientOptions, OperationOptions } from "@natter/communication-common";
import type { ChatMessageType, ChatParticipant, ChatRetentionPolicy } from "./models.js";
import type { RealtimeTransportFactory } from "../realtime/realtime-transport.js";

/** Options of ChatClient. */
export interface ChatClientOptions extends CommonClientOptions {
  /** Chat REST api-version; when set, it replaces the api-version of every request, nextLinks included. Default "2025-03-15". */
  apiVersion?: string;
  /** Natter extension: the realtime transport to use instead of the package default. */
  realtimeTransport?: RealtimeTransportFactory;
}

/** Options of ChatThreadClient. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- an interface, as in Azure's API
export interface ChatThreadClientOptions extends ChatClientOptions {}

/** Options of listChatThreads. */
export interface RestListChatThreadsOptions extends OperationOptions {
  /** Maximum threads per page. */
  maxPageSize?: number;
  /** The earliest point in time to get chat threads up to. */
  startTime?: Date;
}

/** Options of listMessages. */
export interface RestListMessagesOptions extends OperationOptions {
  /** Maximum messages per page. */
  maxPageSize?: number;
  /** The earliest point in time to get messages after. */
  startTime?: Date;
}

/** Options of listParticipants. */
export interface RestListParticipantsOptions extends OperationOptions {
  /** Maximum participants per page. */
  maxPageSize?: number;
  /** Skips participants up to this position. */
  skip?: number;
}

/** Options of listReadReceipts. */
export interface RestListReadReceiptsOptions extends OperationOptions {
  /** Maximum read receipts per page. */
  maxPageSize?: number;
  /** Skips read receipts up to this position. */
  skip?: number;
}

/** Options of updateTopic. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- an interface, as in Azure's API
export interface UpdateTopicOptions extends OperationOptions {}

/** Options of updateProperties. */
export interface UpdateChatThreadPropertiesOptions extends OperationOptions {
  /** New topic. */
  topic?: string;
  /** Thread metadata. */
  metadata?: Record<string, string>;
  /** Data retention policy. */
  retentionPolicy?: ChatRetentionPolicy;
}

/** Options of listChatThreads. */
export type ListChatThreadsOptions = RestListChatThreadsOptions;

/** Options of sendMessage. */
export interface SendMessageOptions extends OperationOptions {
  /** Display name of the sender (used for push notifications). */
  senderDisplayName?: string;
  /** The message type (compared case-insensitively). */
  type?: ChatMessageType;
  /** Message metadata. */
  metadata?: Record<string, string>;
}

/** Options of updateMessage. */
export interface UpdateMessageOptions extends OperationOptions {
  /** New content. */
  content?: string;
  /** Message metadata (keys merged by the service). */
  metadata?: Record<string, string>;
}

/** Options of listMessages. */
export type ListMessagesOptions = RestListMessagesOptions;

/** Options of createChatThread. */
export interface CreateChatThreadOptions extends OperationOptions {
  /** Participants to add to the thread. */
  participants?: ChatParticipant[];
  /** Makes the request repeatable: sent as `repeatability-request-id` (a UUID is generated if absent). */
  idempotencyToken?: string;
  /** Thread metadata. */
  metadata?: Record<string, string>;
  /** Data retention policy. */
  retentionPolicy?: ChatRetentionPolicy;
}

/** Options of getProperties. */
export type GetPropertiesOptions = OperationOptions;
/** Options of deleteChatThread. */
export type DeleteChatThreadOptions = OperationOptions;
/** Options of getMessage. */
export type GetMessageOptions = OperationOptions;
/** Options of deleteMessage. */
export type DeleteMessageOptions = OperationOptions;
/** Options of addParticipants. */
export type AddParticipantsOptions = OperationOptions;
/** Options of listParticipants. */
export type ListParticipantsOptions = RestListParticipantsOptions;
/** Options of removeParticipant. */
export type RemoveParticipantOptions = OperationOptions;

/** Options of sendTypingNotification. */
export interface SendTypingNotificationOptions extends OperationOptions {
  /** Display name of the typing user. */
  senderDisplayName?: string;
}

/** Options of sendReadReceipt. */
export type SendReadReceiptOptions = OperationOptions;
/** Options of listReadReceipts. */
export type ListReadReceiptsOptions = RestListReadReceiptsOptions;
