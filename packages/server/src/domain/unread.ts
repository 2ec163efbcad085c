// Unread counts and last message (Natter extension): what counts as unread, and the thread list with them.
// Computed at read time (no per-send write): see StoreOps.summarizeThreadsForUser for the cost.
import type { MessageRecord, MessageType, Store, ThreadListItem, ThreadSummaryRecord } from "../store/store.js";
import type { Caller } from "./caller.js";
import type { ChatService, Page, ThreadCursor } from "./chat-service.js";
import { htmlToText } from "./html-text.js";
import { strictPageSize } from "./limits.js";

/** Messages that count as unread and can be a thread's last message: what people write, not system messages. */
export const COUNTED_MESSAGE_TYPES: readonly MessageType[] = ["text", "html"];
/** Counts stop here (a badge shows "999+"): a thread with a million unread messages costs what 999 cost. */
export const UNREAD_COUNT_LIMIT = 999;
/** Characters of a last message's preview (plain text; a longer one ends with "…"). */
export const PREVIEW_LENGTH = 120;

export interface LastMessage {
  id: string;
  sender: string | null;
  senderDisplayName: string | null;
  /** Short plain text: html as its text, whitespace collapsed, at most PREVIEW_LENGTH characters. */
  preview: string;
  createdAt: number;
}

export interface ThreadSummary {
  unreadCount: number;
  unreadMentionCount: number;
  lastMessage: LastMessage | null;
}

export interface ThreadWithSummary extends ThreadListItem {
  summary: ThreadSummary;
}

/** A message's preview: its text (html as text), whitespace collapsed, cut at PREVIEW_LENGTH. */
export function previewOf(message: Pick<MessageRecord, "type" | "body">): string {
  const raw = message.body.message ?? "";
  const text = message.type === "html" ? htmlToText(raw) : raw.replace(/\s+/g, " ").trim();
  if (text.length <= PREVIEW_LENGTH) return text;
  // Cut on a code point boundary (never half a surrogate pair).
  return Array.from(text).slice(0, PREVIEW_LENGTH - 1).join("").trimEnd() + "…";
}

export function toThreadSummary(record: ThreadSummaryRecord | undefined): ThreadSummary {
  const m = record?.lastMessage;
  return {
    unreadCount: record?.unreadCount ?? 0,
    unreadMentionCount: record?.unreadMentionCount ?? 0,
    lastMessage: m ? { id: m.id, sender: m.sender, senderDisplayName: m.senderDisplayName, preview: previewOf(m), createdAt: m.createdAt } : null,
  };
}

/** The extension's thread list: ListChatThreads' page (same order, paging and rules) with each thread's summary. */
export class UnreadService {
  constructor(private readonly chat: ChatService, private readonly store: Store) {}

  async listThreads(caller: Caller, options: { maxPageSize?: number; startTime?: number; after?: ThreadCursor }): Promise<Page<ThreadWithSummary, ThreadCursor>> {
    const page = await this.chat.listThreads(caller, { ...options, maxPageSize: strictPageSize(options.maxPageSize) });
    // Deleted threads have no content left: nothing unread, no last message.
    const live = page.items.filter((i) => i.thread.deletedAt === null).map((i) => i.thread.id);
    const records = await this.store.summarizeThreadsForUser({ userId: caller.userId, threadIds: live, types: COUNTED_MESSAGE_TYPES, countLimit: UNREAD_COUNT_LIMIT });
    const byThread = new Map(records.map((r) => [r.threadId, r]));
    const items = page.items.map((i) => ({ ...i, summary: toThreadSummary(byThread.get(i.thread.id)) }));
    return { items, next: page.next };
  }
}
