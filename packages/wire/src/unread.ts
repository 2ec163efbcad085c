// Natter extension wire shapes: unread counts and last message (GET /natter/chat/threads,
// api-version 2026-12-01-natter; docs/extensions.md). ACS spelling where ACS has the field.
import type { ChatThreadItem } from "./chat.js";
import type { CommunicationIdentifierModel } from "./identifiers.js";

/** A thread's newest text or html message the caller can see (not deleted), as a preview. */
export interface NatterLastMessage {
  id: string;
  /** Absent only for a message without a sender (never for text or html sent by a user). */
  senderCommunicationIdentifier?: CommunicationIdentifierModel;
  senderDisplayName: string;
  /** Short plain text: html as its text, whitespace collapsed, at most 120 characters. */
  preview: string;
  /** RFC 3339. */
  createdOn: string;
}

/** ChatThreadItem plus the caller's unread state of the thread. */
export interface NatterChatThreadItem extends ChatThreadItem {
  /** Text and html messages from others after the caller's read receipt, in the caller's shared history; at most 999. */
  unreadCount: number;
  /** Of those, the ones that mention the caller; at most 999. */
  unreadMentionCount: number;
  /** Absent when the caller sees no text or html message in the thread (or it was deleted). */
  lastMessage?: NatterLastMessage;
}

export interface NatterChatThreadsItemCollection {
  value: NatterChatThreadItem[];
  nextLink?: string;
}
