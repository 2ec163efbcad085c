// Natter extensions in the SDK (docs/extensions.md): full-text search hits and the messages around one message.
import type { OperationOptions, PagedAsyncIterableIterator, PageSettings } from "@natter/communication-common";
import type { ChatMessage } from "./models.js";

/** Options of ChatClient.searchMessages. */
export interface SearchMessagesOptions extends OperationOptions {
  /** Only this thread (the caller must be a participant). */
  threadId?: string;
  /** Maximum hits per page (1 to 200). */
  maxPageSize?: number;
  /** Only messages created at or after this time. */
  startTime?: Date;
}

/** A marked part of a snippet: UTF-16 offset into the snippet, and length. */
export interface SearchHighlight {
  offset: number;
  length: number;
}

/** One hit of ChatClient.searchMessages. */
export interface ChatMessageSearchHit {
  /** The thread of the message. */
  threadId: string;
  /** The message, as listMessages returns it. */
  message: ChatMessage;
  /** A plain-text excerpt of the message around its first match (never html), "…" where cut. */
  snippet: string;
  /** The matching words in `snippet`. */
  highlights: SearchHighlight[];
}

/** Options of ChatThreadClient.listMessagesAround. */
export interface ListMessagesAroundOptions extends OperationOptions {
  /** Messages in the first page, the anchor included (1 to 200), and per page of `older` and `newer`. */
  maxPageSize?: number;
}

/** What ChatThreadClient.listMessagesAround returns: the page around a message and the ways on from it. */
export interface ChatMessagesAround {
  /** The anchor message and the messages around it, newest first (as listMessages orders them). */
  messages: ChatMessage[];
  /** Whether older messages than the oldest of `messages` exist. */
  hasOlder: boolean;
  /** Whether newer messages than the newest of `messages` existed when the page was read. */
  hasNewer: boolean;
  /** Messages older than `messages`, newest first, page by page (nothing when `hasOlder` is false). */
  older: PagedAsyncIterableIterator<ChatMessage, ChatMessage[], PageSettings>;
  /** Messages newer than `messages`, oldest first, page by page (nothing when `hasNewer` is false). */
  newer: PagedAsyncIterableIterator<ChatMessage, ChatMessage[], PageSettings>;
}
