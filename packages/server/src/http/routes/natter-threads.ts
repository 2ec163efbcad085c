// Natter extension: the caller's threads with unread counts and last message.
// ListChatThreadsWithUnread: GET /natter/chat/threads (api-version 2026-12-01-natter; docs/extensions.md).
import type { FastifyInstance } from "fastify";
import { CHAT_API_VERSIONS, JSON_CONTENT_TYPE, NATTER_EXTENSIONS_PREFIX } from "@natter/wire";
import type { NatterChatThreadItem, NatterChatThreadsItemCollection } from "@natter/wire";
import type { ThreadWithSummary, UnreadService } from "../../domain/unread.js";
import { toWireIdentifier, toWireThreadItem, toWireTime } from "../mappers/chat.js";
import { decodeState, encodeState, intParam, nextLink, timeParam } from "../paging.js";
import { caller } from "../plugins/request-context.js";
import { isThreadCursor } from "./threads.js";

const natter = (limit: string) => ({ api: "natter" as const, auth: "bearer" as const, limit });
/** Identifiers in extension responses take the newest ACS form (with `kind`). */
const IDENTIFIER_VERSION = CHAT_API_VERSIONS[CHAT_API_VERSIONS.length - 1];

export function toWireThreadWithSummary(item: ThreadWithSummary): NatterChatThreadItem {
  const { unreadCount, unreadMentionCount, lastMessage } = item.summary;
  const wire: NatterChatThreadItem = { ...toWireThreadItem(item), unreadCount, unreadMentionCount };
  if (lastMessage) {
    wire.lastMessage = { id: lastMessage.id, senderDisplayName: lastMessage.senderDisplayName ?? "", preview: lastMessage.preview, createdOn: toWireTime(lastMessage.createdAt) };
    if (lastMessage.sender !== null) wire.lastMessage = { ...wire.lastMessage, senderCommunicationIdentifier: toWireIdentifier(lastMessage.sender, IDENTIFIER_VERSION) };
  }
  return wire;
}

export function natterThreadRoutes(app: FastifyInstance, unread: UnreadService): void {
  const path = `${NATTER_EXTENSIONS_PREFIX}/chat/threads`;
  // ListChatThreadsWithUnread: GET /natter/chat/threads — ListChatThreads' order and paging, plus counts.
  app.get(path, { config: natter("listThreads") }, async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const maxPageSize = intParam(query, "maxPageSize", 1);
    const startTime = timeParam(query, "startTime");
    const cursor = decodeState(query, isThreadCursor);
    const page = await unread.listThreads(caller(request), { maxPageSize, startTime, after: cursor && { activityAt: cursor.a, createdAt: cursor.c, id: cursor.i } });
    const body: NatterChatThreadsItemCollection = { value: page.items.map(toWireThreadWithSummary) };
    if (page.next) {
      body.nextLink = nextLink(path, {
        "api-version": request.apiVersion, maxPageSize, startTime: query.startTime as string | undefined,
        syncState: encodeState({ a: page.next.activityAt, c: page.next.createdAt, i: page.next.id }),
      });
    }
    return reply.type(JSON_CONTENT_TYPE).send(body);
  });
}
