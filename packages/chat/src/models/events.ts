// Realtime notification payloads (what ChatClient.on listeners receive), mirroring the event types
// @azure/communication-chat 1.6 re-exports from @azure/communication-signaling.
import type { CommunicationIdentifierKind } from "@natter/communication-common";
import type { ChatAttachment, ChatRetentionPolicy } from "./models.js";

/** Names of the events ChatClient emits. */
export type ChatEventId =
  | "chatMessageReceived"
  | "chatMessageEdited"
  | "chatMessageDeleted"
  | "typingIndicatorReceived"
  | "readReceiptReceived"
  | "chatThreadCreated"
  | "chatThreadDeleted"
  | "chatThreadPropertiesUpdated"
  | "participantsAdded"
  | "participantsRemoved"
  | "unreadCountChanged"
  | "realTimeNotificationConnected"
  | "realTimeNotificationDisconnected";

/** A participant as carried in realtime events. */
export interface ChatEventParticipant {
  /** The participant's identifier. */
  id: CommunicationIdentifierKind;
  /** Display name of the participant. */
  displayName: string;
  /** Time from which the chat history is shared with the participant. */
  shareHistoryTime?: Date;
  /** Participant metadata. */
  metadata: Record<string, string>;
}

/** Thread properties as carried in realtime events. */
export interface ChatEventThreadProperties {
  /** Thread topic. */
  topic: string;
  /** Thread metadata. */
  metadata: Record<string, string>;
}

/** Fields of every user-level chat event. */
export interface BaseChatEvent {
  /** Thread of the event. */
  threadId: string;
  /** Who caused the event. */
  sender: CommunicationIdentifierKind;
  /** Display name of the sender. */
  senderDisplayName: string;
  /** Who receives the event. */
  recipient: CommunicationIdentifierKind;
}

/** Fields of every message event. */
export interface BaseChatMessageEvent extends BaseChatEvent {
  /** Message id. */
  id: string;
  /** When the message arrived at the server. */
  createdOn: Date;
  /** Message version (epoch-ms string). */
  version: string;
  /** Message type, as the service spells it in events (e.g. "Text"). */
  type: string;
}

/** Fields of every thread event. */
export interface BaseChatThreadEvent {
  /** Thread of the event. */
  threadId: string;
  /** Thread version (epoch-ms string). */
  version: string;
}

/** A message was received (the sender receives it too). */
export interface ChatMessageReceivedEvent extends BaseChatMessageEvent {
  /** Message content. */
  message: string;
  /** Message metadata. */
  metadata: Record<string, string>;
  /** Attachments. */
  attachments?: ChatAttachment[];
  /** Natter extension: who an html message mentions (absent when nobody). */
  mentions?: CommunicationIdentifierKind[];
  /** Natter extension: true when the recipient is one of `mentions` (absent otherwise). */
  mentioned?: boolean;
}

/** A message was edited. */
export interface ChatMessageEditedEvent extends ChatMessageReceivedEvent {
  /** When it was edited. */
  editedOn: Date;
}

/** A message was deleted. */
export interface ChatMessageDeletedEvent extends BaseChatMessageEvent {
  /** When it was deleted. */
  deletedOn: Date;
}

/** A participant is typing. */
export interface TypingIndicatorReceivedEvent extends BaseChatEvent {
  /** Version. */
  version: string;
  /** When the notification arrived at the server. */
  receivedOn: Date;
}

/** A read receipt was sent. */
export interface ReadReceiptReceivedEvent extends BaseChatEvent {
  /** Id of the last message read. */
  chatMessageId: string;
  /** When it was read. */
  readOn: Date;
}

/** A thread was created. */
export interface ChatThreadCreatedEvent extends BaseChatThreadEvent {
  /** When the thread was created. */
  createdOn: Date;
  /** Thread properties. */
  properties: ChatEventThreadProperties;
  /** The participants. */
  participants: ChatEventParticipant[];
  /** Who created the thread. */
  createdBy: ChatEventParticipant;
  /** Retention policy. */
  retentionPolicy: ChatRetentionPolicy;
}

/** Thread properties were updated. */
export interface ChatThreadPropertiesUpdatedEvent extends BaseChatThreadEvent {
  /** The new properties. */
  properties: ChatEventThreadProperties;
  /** When they were updated. */
  updatedOn: Date;
  /** Who updated them. */
  updatedBy: ChatEventParticipant;
  /** Retention policy. */
  retentionPolicy: ChatRetentionPolicy;
}

/** A thread was deleted. */
export interface ChatThreadDeletedEvent extends BaseChatThreadEvent {
  /** When it was deleted. */
  deletedOn: Date;
  /** Who deleted it. */
  deletedBy: ChatEventParticipant;
  /** Why ("deletedByUser" or "deletedByPolicy"). */
  reason: string;
}

/** Participants were added. */
export interface ParticipantsAddedEvent extends BaseChatThreadEvent {
  /** When they were added. */
  addedOn: Date;
  /** The added participants. */
  participantsAdded: ChatEventParticipant[];
  /** Who added them. */
  addedBy: ChatEventParticipant;
}

/** Participants were removed. */
export interface ParticipantsRemovedEvent extends BaseChatThreadEvent {
  /** When they were removed. */
  removedOn: Date;
  /** The removed participants. */
  participantsRemoved: ChatEventParticipant[];
  /** Who removed them. */
  removedBy: ChatEventParticipant;
}

/** Natter extension: the user's unread counts of a thread changed through the user's own read receipt. */
export interface UnreadCountChangedEvent {
  /** The thread. */
  threadId: string;
  /** The user (the recipient of the event). */
  recipient: CommunicationIdentifierKind;
  /** The new unread count (see ChatThreadItem.unreadCount). */
  unreadCount: number;
  /** The new count of unread messages that mention the user. */
  unreadMentionCount: number;
  /** When the counts changed. */
  changedOn: Date;
}

/** Maps each event name to its payload (`void` for the two connection events). */
export interface ChatEventMap {
  /** See {@link ChatMessageReceivedEvent}. */
  chatMessageReceived: ChatMessageReceivedEvent;
  /** See {@link ChatMessageEditedEvent}. */
  chatMessageEdited: ChatMessageEditedEvent;
  /** See {@link ChatMessageDeletedEvent}. */
  chatMessageDeleted: ChatMessageDeletedEvent;
  /** See {@link TypingIndicatorReceivedEvent}. */
  typingIndicatorReceived: TypingIndicatorReceivedEvent;
  /** See {@link ReadReceiptReceivedEvent}. */
  readReceiptReceived: ReadReceiptReceivedEvent;
  /** See {@link ChatThreadCreatedEvent}. */
  chatThreadCreated: ChatThreadCreatedEvent;
  /** See {@link ChatThreadDeletedEvent}. */
  chatThreadDeleted: ChatThreadDeletedEvent;
  /** See {@link ChatThreadPropertiesUpdatedEvent}. */
  chatThreadPropertiesUpdated: ChatThreadPropertiesUpdatedEvent;
  /** See {@link ParticipantsAddedEvent}. */
  participantsAdded: ParticipantsAddedEvent;
  /** See {@link ParticipantsRemovedEvent}. */
  participantsRemoved: ParticipantsRemovedEvent;
  /** See {@link UnreadCountChangedEvent} (Natter extension). */
  unreadCountChanged: UnreadCountChangedEvent;
  /** The realtime connection is (re)established. */
  realTimeNotificationConnected: void;
  /** The realtime connection was lost. */
  realTimeNotificationDisconnected: void;
}
