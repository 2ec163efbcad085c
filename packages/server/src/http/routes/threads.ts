// Chat thread operations: CreateChatThread, ListChatThreads, GetChatThreadProperties,
// UpdateChatThreadProperties, DeleteChatThread.
import type { FastifyInstance } from "fastify";
import {
  JSON_CONTENT_TYPE, chatVersionHasThreadMetadata, createChatThreadRequestSchema, updateChatThreadRequestSchema,
} from "@natter/wire";
import type { CreateChatThreadRequest, CreateChatThreadResult, UpdateChatThreadRequest } from "@natter/wire";
import type { ChatService } from "../../domain/chat-service.js";
import { validationError } from "../../domain/errors.js";
import { isStorableId } from "../../domain/limits.js";
import { fromWireParticipant, fromWireRetention, toWireThread, toWireThreadItem } from "../mappers/chat.js";
import { decodeState, encodeState, intParam, nextLink, threadPath, timeParam } from "../paging.js";
import { caller } from "../plugins/request-context.js";

const chat = (limit: string) => ({ api: "chat" as const, auth: "bearer" as const, limit });
export type WireThreadCursor = { a: number; c: number; i: string };
/**
 * A cursor this service made: the last item's activity and creation times (integral epoch ms) and its thread
 * id without U+0000. (Cursors of the older `{a, i}` form, from before the order had a creation tie-break,
 * are refused with 400 like any other foreign syncState.)
 */
export const isThreadCursor = (v: unknown): v is WireThreadCursor =>
  typeof v === "object" && v !== null && Number.isSafeInteger((v as WireThreadCursor).a) && Number.isSafeInteger((v as WireThreadCursor).c)
  && typeof (v as WireThreadCursor).i === "string" && isStorableId((v as WireThreadCursor).i);

export function threadRoutes(app: FastifyInstance, chatService: ChatService): void {
  // CreateChatThread: POST /chat/threads
  app.post<{ Body: CreateChatThreadRequest }>("/chat/threads", { config: chat("createThread"), schema: { body: createChatThreadRequestSchema } }, async (request, reply) => {
    const body = request.body;
    const withMetadata = chatVersionHasThreadMetadata(request.apiVersion);
    const key = request.headers["repeatability-request-id"];
    if (key !== undefined && (typeof key !== "string" || key.length === 0 || key.length > 256)) {
      throw validationError("repeatability-request-id must be a non-empty string of at most 256 characters.", "repeatability-request-id");
    }
    const result = await chatService.createThread(caller(request), {
      topic: body.topic,
      participants: (body.participants ?? []).map((p) => fromWireParticipant(p, request.apiVersion)),
      metadata: withMetadata ? body.metadata : undefined,
      retention: withMetadata && body.retentionPolicy ? fromWireRetention(body.retentionPolicy) : undefined,
      idempotencyKey: key,
    });
    const wire: CreateChatThreadResult = { chatThread: toWireThread(result.thread, request.apiVersion) };
    if (result.invalidParticipants.length > 0) wire.invalidParticipants = result.invalidParticipants;
    return reply.status(201).header("location", threadPath(result.thread.id)).type(JSON_CONTENT_TYPE).send(wire);
  });

  // ListChatThreads: GET /chat/threads
  app.get("/chat/threads", { config: chat("listThreads") }, async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const maxPageSize = intParam(query, "maxPageSize", 1);
    const startTime = timeParam(query, "startTime");
    const cursor = decodeState(query, isThreadCursor);
    const page = await chatService.listThreads(caller(request), { maxPageSize, startTime, after: cursor && { activityAt: cursor.a, createdAt: cursor.c, id: cursor.i } });
    const body: { value: unknown[]; nextLink?: string } = { value: page.items.map(toWireThreadItem) };
    if (page.next) {
      body.nextLink = nextLink("/chat/threads", {
        "api-version": request.apiVersion, maxPageSize, startTime: query.startTime as string | undefined,
        syncState: encodeState({ a: page.next.activityAt, c: page.next.createdAt, i: page.next.id }),
      });
    }
    return reply.type(JSON_CONTENT_TYPE).send(body);
  });

  // GetChatThreadProperties: GET /chat/threads/{chatThreadId}
  app.get<{ Params: { threadId: string } }>("/chat/threads/:threadId", { config: chat("getThread") }, async (request, reply) => {
    const thread = await chatService.getThread(caller(request), request.params.threadId);
    return reply.type(JSON_CONTENT_TYPE).send(toWireThread(thread, request.apiVersion));
  });

  // UpdateChatThreadProperties: PATCH /chat/threads/{chatThreadId}
  app.patch<{ Params: { threadId: string }; Body: UpdateChatThreadRequest }>(
    "/chat/threads/:threadId",
    { config: chat("updateThread"), schema: { body: updateChatThreadRequestSchema } },
    async (request, reply) => {
      const body = request.body ?? {};
      const withMetadata = chatVersionHasThreadMetadata(request.apiVersion);
      await chatService.updateThread(caller(request), request.params.threadId, {
        topic: body.topic,
        metadata: withMetadata ? body.metadata : undefined,
        retention: withMetadata && body.retentionPolicy ? fromWireRetention(body.retentionPolicy) : undefined,
      });
      return reply.status(204).send();
    },
  );

  // DeleteChatThread: DELETE /chat/threads/{chatThreadId}
  app.delete<{ Params: { threadId: string } }>("/chat/threads/:threadId", { config: chat("deleteThread") }, async (request, reply) => {
    await chatService.deleteThread(caller(request), request.params.threadId);
    return reply.status(204).send();
  });
}
