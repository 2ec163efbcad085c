// The SDK-side chat models (Dates as Date, identifiers as CommunicationIdentifier), mirroring the types
// @azure/communication-chat 1.6 exports. Wire shapes live in @natter/wire.
import type { CommunicationIdentifier, CommunicationIdentifierKind } from "@natter/communication-common";

/** The chat message type. */
export type ChatMessageType = "text" | "html" | "topicUpdated" | "participantAdded" | "participantRemoved";

/** The type of an attachment. */
export type ChatAttachmentType = "image" | "file" | "unknown";

/** An attachment of a chat message (Teams interop). */
export interface ChatAttachment {
  /** Id of the attachment. */
  id: string;
  /** The type of attachment. */
  attachmentType: ChatAttachmentType;
  /** The name of the attachment content. */
  name?: string;
  /** The URL where the attachment can be downloaded. */
  url?: string;
  /** The URL where the preview of the attachment can be downloaded. */
  previewUrl?: string;
}

/** A Communication Services error, as reported for participants that could not be added. */
export interface ChatError {
  /** The error code. */
  code: string;
  /** The error message. */
  message: string;
  /** The error target (e.g. the raw id of the participant). */
  readonly target?: string;
  /** Further details. */
  readonly details?: ChatError[];
  /** The inner error, if any. */
  readonly innerError?: ChatError;
}

/** Thread retention policy based on the thread creation date. */
export interface ThreadCreationDateRetentionPolicy {
  /** Discriminator. */
  kind: "threadCreationDate";
  /** Days after thread creation when the thread is deleted. */
  deleteThreadAfterDays: number;
}

/** No thread retention policy. */
export interface NoneRetentionPolicy {
  /** Discriminator. */
  kind: "none";
}

/** Data retention policy for automatic thread deletion. */
export type ChatRetentionPolicy = ThreadCreationDateRetentionPolicy | NoneRetentionPolicy;

/** Chat thread properties. */
export interface ChatThreadProperties {
  /** Chat thread id. */
  id: string;
  /** Chat thread topic. */
  topic: string;
  /** When the thread was created. */
  createdOn: Date;
  /** Who created the thread. */
  readonly createdBy?: CommunicationIdentifierKind;
  /** When the thread was deleted, if it was. */
  deletedOn?: Date;
  /** Thread metadata. */
  metadata?: Record<string, string>;
  /** Data retention policy for automatic deletion. */
  retentionPolicy?: ChatRetentionPolicy;
}

/** A chat thread as listed by listChatThreads. */
export interface ChatThreadItem {
  /** Chat thread id. */
  id: string;
  /** Chat thread topic. */
  topic: string;
  /** When the thread was deleted, if it was. */
  deletedOn?: Date;
  /** When the last message arrived. */
  readonly lastMessageReceivedOn?: Date;
  /**
   * Natter extension: text and html messages from others after the user's read receipt, within the user's shared
   * history, not deleted (at most 999). Set by listChatThreads.
   */
  unreadCount?: number;
  /** Natter extension: how many of the unread messages mention the user (at most 999). Set by listChatThreads. */
  unreadMentionCount?: number;
  /** Natter extension: the newest text or html message the user can see (absent when there is none). */
  lastMessage?: ChatThreadLastMessage;
}

/** Natter extension: a thread's newest text or html message, as a preview. */
export interface ChatThreadLastMessage {
  /** Message id. */
  id: string;
  /** The sender. */
  sender?: CommunicationIdentifierKind;
  /** Display name of the sender. */
  senderDisplayName: string;
  /** Short plain text (html as its text, at most 120 characters). */
  preview: string;
  /** When the message was sent. */
  createdOn: Date;
}

/** A participant of a chat thread. */
export interface ChatParticipant {
  /** The participant's identifier. */
  id: CommunicationIdentifier;
  /** Display name of the participant. */
  displayName?: string;
  /** Time from which the chat history is shared with the participant. */
  shareHistoryTime?: Date;
  /** Participant metadata. */
  metadata?: Record<string, string>;
}

/** Content of a chat message. */
export interface ChatMessageContent {
  /** Content of text or html messages. */
  message?: string;
  /** Content of topicUpdated messages. */
  topic?: string;
  /** Content of participantAdded / participantRemoved messages. */
  participants?: ChatParticipant[];
  /** Who caused a system message. */
  initiator?: CommunicationIdentifierKind;
  /** Attachments of the message. */
  attachments?: ChatAttachment[];
}

/** A chat message. */
export interface ChatMessage {
  /** Server-generated message id. */
  id: string;
  /** The message type. */
  type: ChatMessageType;
  /** Position of the message in the thread. */
  sequenceId: string;
  /** Version of the message; changes on every edit or delete. */
  version: string;
  /** Content of the message. */
  content?: ChatMessageContent;
  /** Display name of the sender. */
  senderDisplayName?: string;
  /** When the message arrived at the server. */
  createdOn: Date;
  /** The sender (absent on system messages). */
  sender?: CommunicationIdentifierKind;
  /** When the message was deleted, if it was. */
  deletedOn?: Date;
  /** When the message was last edited, if it was. */
  editedOn?: Date;
  /** Message metadata. */
  metadata?: Record<string, string>;
  /**
   * Natter extension: who an html message mentions (`<msft-mention id="{rawId}">` tags of its content, which the
   * service keeps for participants only); absent on other message types.
   */
  mentions?: CommunicationIdentifierKind[];
}

/** A read receipt: the latest message a participant has read. */
export interface ChatMessageReadReceipt {
  /** Who read the message. */
  sender: CommunicationIdentifierKind;
  /** Id of the message read. */
  chatMessageId: string;
  /** When it was read. */
  readOn: Date;
}

/** Result of createChatThread. */
export interface CreateChatThreadResult {
  /** The created thread. */
  chatThread?: ChatThreadProperties;
  /** Participants that could not be added. */
  readonly invalidParticipants?: ChatError[];
}

/** Result of addParticipants. */
export interface AddChatParticipantsResult {
  /** Participants that could not be added. */
  readonly invalidParticipants?: ChatError[];
}

/** Result of sendMessage. */
export interface SendChatMessageResult {
  /** The server-generated message id. */
  id: string;
}

/** Arguments for retrieving the next page of results. */
export interface ListPageSettings {
  /** Token (nextLink) for the next page. */
  continuationToken?: string;
}
