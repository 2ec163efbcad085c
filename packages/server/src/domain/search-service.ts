// The search and jump-to-message extensions (docs/extensions.md): full-text search across the caller's threads,
// and the messages around one message. Both read only what ListChatMessages would show the caller: threads
// they are in, messages inside their shared history (shareHistoryTime); search never finds a deleted message.
import type { MessageRecord, ParticipantRecord, Store } from "../store/store.js";
import type { Caller } from "./caller.js";
import { requireCapability } from "./caller.js";
import { threadAccess } from "./chat-service.js";
import { notFound } from "./errors.js";
import { isStorableId, strictPageSize } from "./limits.js";
import type { SearchSnippet } from "./search-text.js";
import { parseSearchQuery, searchSnippet, searchableText } from "./search-text.js";

export interface SearchHit {
  threadId: string;
  message: MessageRecord;
  snippet: SearchSnippet;
}

export interface SearchOptions {
  /** Only this thread (404 when it does not exist or was deleted, 403 when the caller is not in it). */
  threadId?: string;
  maxPageSize?: number;
  /** Only messages created at or after this time (epoch ms). */
  startTime?: number;
  /** Continue after this hit cursor (from a previous page). */
  after?: number;
}

export interface SearchPage {
  items: SearchHit[];
  /** The cursor to continue after; absent on the last page. */
  next?: number;
}

/** The page around a message: newest first, with where the older and newer pages start (sequence numbers). */
export interface AroundPage {
  items: MessageRecord[];
  /** Sequence to page older from (exclusive); absent when nothing older is visible. */
  older?: number;
  /** Sequence to page newer from (exclusive); absent when nothing newer exists yet. */
  newer?: number;
}

export interface DirectionPage {
  /** Moving away from the start: newest first when older, oldest first when newer. */
  items: MessageRecord[];
  /** Sequence to continue from (exclusive); absent on the last page. */
  next?: number;
}

export class SearchService {
  constructor(private readonly store: Store) {}

  /** SearchMessages: hits newest first, each with a snippet of the message's text. */
  async searchMessages(caller: Caller, text: string, options: SearchOptions = {}): Promise<SearchPage> {
    requireCapability(caller, "participate");
    const query = parseSearchQuery(text);
    const limit = strictPageSize(options.maxPageSize);
    if (options.threadId !== undefined) await threadAccess(this.store, caller, options.threadId);
    const rows = await this.store.searchMessages({
      terms: query.terms, userId: caller.userId, threadId: options.threadId, minCreatedAt: options.startTime, after: options.after, limit: limit + 1,
    });
    const items = rows.slice(0, limit).map(({ message }) => ({
      threadId: message.threadId, message, snippet: searchSnippet(searchableText(message) ?? "", query),
    }));
    return { items, next: rows.length > limit ? rows[limit - 1].cursor : undefined };
  }

  /**
   * ListMessagesAround: the message and up to maxPageSize - 1 others around it (half older, the rest newer when
   * there are fewer older ones, and the other way round), newest first, inside the caller's shared history.
   */
  async listMessagesAround(caller: Caller, threadId: string, messageId: string, options: { maxPageSize?: number } = {}): Promise<AroundPage> {
    requireCapability(caller, "participate");
    const limit = strictPageSize(options.maxPageSize);
    const { participant } = await threadAccess(this.store, caller, threadId);
    const anchor = await this.visibleMessage(participant, threadId, messageId);
    const minCreatedAt = participant.shareHistoryTime;
    // Read up to a page each way, then keep a window of `limit` centred on the anchor where both sides allow.
    const [older, newer] = await Promise.all([
      this.store.listMessagesBySequence(threadId, { direction: "older", from: anchor.sequence, minCreatedAt, limit }),
      this.store.listMessagesBySequence(threadId, { direction: "newer", from: anchor.sequence, minCreatedAt, limit }),
    ]);
    const room = limit - 1;
    let olderCount = Math.min(older.length, Math.floor(room / 2));
    const newerCount = Math.min(newer.length, room - olderCount);
    olderCount = Math.min(older.length, room - newerCount);
    const keptOlder = older.slice(0, olderCount);
    const keptNewer = newer.slice(0, newerCount);
    const items = [...keptNewer.reverse(), anchor, ...keptOlder];
    const oldest = items[items.length - 1];
    const newest = items[0];
    return {
      items,
      older: older.length > olderCount ? oldest.sequence : undefined,
      newer: newer.length > newerCount ? newest.sequence : undefined,
    };
  }

  /**
   * The messages older or newer than `from`, which is left out: a sequence number (a cursor from a previous page)
   * or a message the caller can see (404 otherwise). Inside the shared history.
   */
  async listMessagesFrom(caller: Caller, threadId: string, direction: "older" | "newer", from: number | { messageId: string }, options: { maxPageSize?: number } = {}): Promise<DirectionPage> {
    requireCapability(caller, "participate");
    const limit = strictPageSize(options.maxPageSize);
    const { participant } = await threadAccess(this.store, caller, threadId);
    const start = typeof from === "number" ? from : (await this.visibleMessage(participant, threadId, from.messageId)).sequence;
    const rows = await this.store.listMessagesBySequence(threadId, { direction, from: start, minCreatedAt: participant.shareHistoryTime, limit: limit + 1 });
    const items = rows.slice(0, limit);
    return { items, next: rows.length > limit ? items[items.length - 1].sequence : undefined };
  }

  /** A message of the thread inside the participant's shared history, else 404 (as GetChatMessage). */
  private async visibleMessage(participant: ParticipantRecord, threadId: string, messageId: string): Promise<MessageRecord> {
    const message = isStorableId(messageId) ? await this.store.getMessage(threadId, messageId) : undefined;
    if (!message || message.createdAt < participant.shareHistoryTime) throw notFound("The chat message was not found.");
    return message;
  }
}
