// Natter extension shapes (docs/extensions.md): full-text search hits and the messages around one message.
// Served only at NATTER_EXTENSIONS_API_VERSION under NATTER_EXTENSIONS_PREFIX; ACS spelling for shared parts.
import type { ChatMessage } from "./chat.js";

/** A marked part of a snippet: UTF-16 offset into the snippet, and length. */
export interface SearchHighlight {
  offset: number;
  length: number;
}

/** One search hit: the thread, the message as ListChatMessages shows it, and a plain-text excerpt with its matches. */
export interface ChatMessageSearchHit {
  chatThreadId: string;
  message: ChatMessage;
  /** Plain text (never html), at most ~160 characters, "…" where it was cut. */
  snippet: string;
  highlights: SearchHighlight[];
}

/** GET /natter/chat/search/messages */
export interface ChatMessageSearchHitsCollection {
  value: ChatMessageSearchHit[];
  nextLink?: string;
}

/**
 * GET /natter/chat/threads/{chatThreadId}/messages/around/{chatMessageId}: the anchor page (newest first) with
 * links to the pages older and newer than it. With `direction`, one page of a walk away from the anchor, whose
 * `nextLink` continues it.
 */
export interface ChatMessagesAroundCollection {
  value: ChatMessage[];
  /** The anchor page only: messages older than its oldest (absent when there are none). */
  olderLink?: string;
  /** The anchor page only: messages newer than its newest (absent when there are none yet). */
  newerLink?: string;
  /** A direction page: the next page in that direction. */
  nextLink?: string;
}
