// Natter extensions (docs/extensions.md): SearchMessages and ListMessagesAround, under /natter/ at the extension
// api-version only. Paging as ACS lists do: a nextLink carrying every filter and an opaque syncState.
import type { FastifyInstance } from "fastify";
import { JSON_CONTENT_TYPE, NATTER_EXTENSIONS_PREFIX } from "@natter/wire";
import type { ChatMessageSearchHitsCollection, ChatMessagesAroundCollection } from "@natter/wire";
import type { SearchService } from "../../domain/search-service.js";
import { validationError } from "../../domain/errors.js";
import { requestOrigin, toWireMessage } from "../mappers/chat.js";
import { decodeState, encodeState, intParam, nextLink, timeParam } from "../paging.js";
import { caller } from "../plugins/request-context.js";

const natter = (limit: string) => ({ api: "natter" as const, auth: "bearer" as const, limit });
type Query = Record<string, unknown>;
type Cursor = { c: number };
/** Exactly the state this service writes ({c}), so another list's continuation token is refused, not misread. */
const isCursor = (v: unknown): v is Cursor =>
  typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 1 && Number.isSafeInteger((v as Cursor).c);

function stringParam(query: Query, name: string): string | undefined {
  const v = query[name];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw validationError(`${name} must be given once.`, name);
  return v;
}

function directionParam(query: Query): "older" | "newer" | undefined {
  const v = stringParam(query, "direction");
  if (v === undefined) return undefined;
  if (v !== "older" && v !== "newer") throw validationError("direction must be 'older' or 'newer'.", "direction");
  return v;
}

export const SEARCH_MESSAGES_PATH = `${NATTER_EXTENSIONS_PREFIX}/chat/search/messages`;
const aroundPath = (threadId: string, messageId: string) =>
  `${NATTER_EXTENSIONS_PREFIX}/chat/threads/${encodeURIComponent(threadId)}/messages/around/${encodeURIComponent(messageId)}`;

export function searchRoutes(app: FastifyInstance, search: SearchService): void {
  // SearchMessages: GET /natter/chat/search/messages?q=…[&threadId][&maxPageSize][&startTime]
  app.get(SEARCH_MESSAGES_PATH, { config: natter("searchMessages") }, async (request, reply) => {
    const query = request.query as Query;
    const q = stringParam(query, "q");
    if (q === undefined || q.trim() === "") throw validationError("q (the search text) is required.", "q");
    const threadId = stringParam(query, "threadId");
    const maxPageSize = intParam(query, "maxPageSize", 1);
    const startTime = timeParam(query, "startTime");
    const cursor = decodeState(query, isCursor);
    const page = await search.searchMessages(caller(request), q, { threadId, maxPageSize, startTime, after: cursor?.c });
    const origin = requestOrigin(request);
    const body: ChatMessageSearchHitsCollection = {
      value: page.items.map((hit) => ({
        chatThreadId: hit.threadId, message: toWireMessage(hit.message, request.apiVersion, origin), snippet: hit.snippet.text, highlights: hit.snippet.highlights,
      })),
    };
    if (page.next !== undefined) {
      body.nextLink = nextLink(SEARCH_MESSAGES_PATH, {
        q, threadId, maxPageSize, startTime: query.startTime as string | undefined, "api-version": request.apiVersion, syncState: encodeState({ c: page.next }),
      });
    }
    return reply.type(JSON_CONTENT_TYPE).send(body);
  });

  // ListMessagesAround: GET /natter/chat/threads/{chatThreadId}/messages/around/{chatMessageId}[?maxPageSize][&direction=older|newer]
  app.get<{ Params: { threadId: string; messageId: string } }>(
    `${NATTER_EXTENSIONS_PREFIX}/chat/threads/:threadId/messages/around/:messageId`,
    { config: natter("listMessagesAround") },
    async (request, reply) => {
      const query = request.query as Query;
      const { threadId, messageId } = request.params;
      const maxPageSize = intParam(query, "maxPageSize", 1);
      const direction = directionParam(query);
      const cursor = decodeState(query, isCursor);
      const origin = requestOrigin(request);
      const link = (dir: "older" | "newer", from: number) =>
        nextLink(aroundPath(threadId, messageId), { maxPageSize, direction: dir, "api-version": request.apiVersion, syncState: encodeState({ c: from }) });
      const who = caller(request);
      if (direction === undefined) {
        if (cursor !== undefined) throw validationError("syncState needs a direction.", "direction");
        const page = await search.listMessagesAround(who, threadId, messageId, { maxPageSize });
        const body: ChatMessagesAroundCollection = { value: page.items.map((m) => toWireMessage(m, request.apiVersion, origin)) };
        if (page.older !== undefined) body.olderLink = link("older", page.older);
        if (page.newer !== undefined) body.newerLink = link("newer", page.newer);
        return reply.type(JSON_CONTENT_TYPE).send(body);
      }
      // Without a syncState the walk starts next to the anchor.
      const page = await search.listMessagesFrom(who, threadId, direction, cursor?.c ?? { messageId }, { maxPageSize });
      const body: ChatMessagesAroundCollection = { value: page.items.map((m) => toWireMessage(m, request.apiVersion, origin)) };
      if (page.next !== undefined) body.nextLink = link(direction, page.next);
      return reply.type(JSON_CONTENT_TYPE).send(body);
    },
  );
}
