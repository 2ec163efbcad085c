// Participant, typing and read-receipt operations: ListChatParticipants, AddChatParticipants,
// RemoveChatParticipant, SendTypingNotification, SendChatReadReceipt, ListChatReadReceipts.
import type { FastifyInstance } from "fastify";
import {
  JSON_CONTENT_TYPE, addChatParticipantsRequestSchema, chatVersionHasMessageMetadata, identifierModelSchema, sendReadReceiptRequestSchema, sendTypingNotificationRequestSchema,
} from "@natter/wire";
import type { AddChatParticipantsRequest, AddChatParticipantsResult, SendReadReceiptRequest, SendTypingNotificationRequest } from "@natter/wire";
import type { ChatService } from "../../domain/chat-service.js";
import { rawIdFromModel } from "../../domain/identifiers.js";
import { fromWireParticipant, toWireParticipant, toWireReadReceipt } from "../mappers/chat.js";
import { intParam, nextLink, threadPath } from "../paging.js";
import { caller, clientRequestId } from "../plugins/request-context.js";

const chat = (limit: string) => ({ api: "chat" as const, auth: "bearer" as const, limit });
type Params = { threadId: string };

export function participantRoutes(app: FastifyInstance, chatService: ChatService): void {
  // ListChatParticipants: GET /chat/threads/{chatThreadId}/participants
  app.get<{ Params: Params }>("/chat/threads/:threadId/participants", { config: chat("listParticipants") }, async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const maxPageSize = intParam(query, "maxPageSize", 1);
    const skip = intParam(query, "skip", 0);
    const page = await chatService.listParticipants(caller(request), request.params.threadId, { maxPageSize, skip });
    const body: { value: unknown[]; nextLink?: string } = { value: page.items.map((p) => toWireParticipant(p, request.apiVersion)) };
    if (page.next !== undefined) {
      body.nextLink = nextLink(`${threadPath(request.params.threadId)}/participants`, { "api-version": request.apiVersion, maxPageSize, skip: page.next });
    }
    return reply.type(JSON_CONTENT_TYPE).send(body);
  });

  // AddChatParticipants: POST /chat/threads/{chatThreadId}/participants/:add
  app.post<{ Params: Params; Body: AddChatParticipantsRequest }>(
    "/chat/threads/:threadId/participants/::add",
    { config: chat("participants"), schema: { body: addChatParticipantsRequestSchema } },
    async (request, reply) => {
      const inputs = request.body.participants.map((p) => fromWireParticipant(p, request.apiVersion));
      const invalid = await chatService.addParticipants(caller(request), request.params.threadId, inputs, clientRequestId(request));
      const body: AddChatParticipantsResult = invalid.length > 0 ? { invalidParticipants: invalid } : {};
      return reply.status(201).type(JSON_CONTENT_TYPE).send(body);
    },
  );

  // RemoveChatParticipant: POST /chat/threads/{chatThreadId}/participants/:remove (body: the identifier model)
  app.post<{ Params: Params; Body: unknown }>(
    "/chat/threads/:threadId/participants/::remove",
    { config: chat("participants"), schema: { body: identifierModelSchema } },
    async (request, reply) => {
      await chatService.removeParticipant(caller(request), request.params.threadId, rawIdFromModel(request.body));
      return reply.status(204).send();
    },
  );

  // SendTypingNotification: POST /chat/threads/{chatThreadId}/typing
  app.post<{ Params: Params; Body: SendTypingNotificationRequest | undefined }>(
    "/chat/threads/:threadId/typing",
    { config: chat("typing"), schema: { body: sendTypingNotificationRequestSchema } },
    async (request, reply) => {
      // 2021-03-07 defines no body for this operation (its typing event carries no display name).
      const announceName = chatVersionHasMessageMetadata(request.apiVersion);
      await chatService.sendTyping(caller(request), request.params.threadId, request.body?.senderDisplayName, { announceName });
      return reply.status(200).send();
    },
  );

  // SendChatReadReceipt: POST /chat/threads/{chatThreadId}/readReceipts
  app.post<{ Params: Params; Body: SendReadReceiptRequest }>(
    "/chat/threads/:threadId/readReceipts",
    { config: chat("sendReadReceipt"), schema: { body: sendReadReceiptRequestSchema } },
    async (request, reply) => {
      await chatService.sendReadReceipt(caller(request), request.params.threadId, request.body.chatMessageId, clientRequestId(request));
      return reply.status(200).send();
    },
  );

  // ListChatReadReceipts: GET /chat/threads/{chatThreadId}/readReceipts
  app.get<{ Params: Params }>("/chat/threads/:threadId/readReceipts", { config: chat("listReadReceipts") }, async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const maxPageSize = intParam(query, "maxPageSize", 1);
    const skip = intParam(query, "skip", 0);
    const page = await chatService.listReadReceipts(caller(request), request.params.threadId, { maxPageSize, skip });
    const body: { value: unknown[]; nextLink?: string } = { value: page.items.map((r) => toWireReadReceipt(r, request.apiVersion)) };
    if (page.next !== undefined) {
      body.nextLink = nextLink(`${threadPath(request.params.threadId)}/readReceipts`, { "api-version": request.apiVersion, maxPageSize, skip: page.next });
    }
    return reply.type(JSON_CONTENT_TYPE).send(body);
  });
}
