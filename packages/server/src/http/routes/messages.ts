// Chat message operations: SendChatMessage, ListChatMessages, GetChatMessage, UpdateChatMessage, DeleteChatMessage.
import type { FastifyInstance } from "fastify";
import {
  JSON_CONTENT_TYPE, chatVersionHasAttachments, chatVersionHasMessageMetadata, sendChatMessageRequestSchema, updateChatMessageRequestSchema,
} from "@natter/wire";
import type { SendChatMessageRequest, UpdateChatMessageRequest } from "@natter/wire";
import type { ChatService } from "../../domain/chat-service.js";
import { validationError } from "../../domain/errors.js";
import { requestOrigin, toWireMessage } from "../mappers/chat.js";
import { decodeState, encodeState, intParam, nextLink, threadPath, timeParam } from "../paging.js";
import { caller, clientRequestId } from "../plugins/request-context.js";

const chat = (limit: string) => ({ api: "chat" as const, auth: "bearer" as const, limit });
type Params = { threadId: string };
type MessageParams = { threadId: string; messageId: string };
type MessageCursor = { v: number };
const isMessageCursor = (v: unknown): v is MessageCursor => typeof v === "object" && v !== null && Number.isSafeInteger((v as MessageCursor).v);

/** Message types a client may send (case-insensitive); system types are the service's alone. */
function userMessageType(type: string | undefined): "text" | "html" {
  const t = (type ?? "text").toLowerCase();
  if (t === "text" || t === "html") return t;
  throw validationError(`Message type '${String(type).slice(0, 40)}' cannot be sent; use text or html.`, "type");
}

export function messageRoutes(app: FastifyInstance, chatService: ChatService): void {
  // SendChatMessage: POST /chat/threads/{chatThreadId}/messages
  app.post<{ Params: Params; Body: SendChatMessageRequest }>(
    "/chat/threads/:threadId/messages",
    { config: chat("sendMessage"), schema: { body: sendChatMessageRequestSchema } },
    async (request, reply) => {
      const { content, senderDisplayName, type } = request.body;
      // 2021-03-07 has no message metadata: a field that version does not define is ignored, as ACS does.
      const metadata = chatVersionHasMessageMetadata(request.apiVersion) ? request.body.metadata : undefined;
      // Attachments exist at the chat previews only; other versions ignore the field, as ACS does.
      const attachments = chatVersionHasAttachments(request.apiVersion) ? request.body.attachments : undefined;
      const message = await chatService.sendMessage(caller(request), request.params.threadId, {
        content, senderDisplayName, metadata, attachments, type: userMessageType(type),
      }, clientRequestId(request));
      return reply
        .status(201)
        .header("location", `${threadPath(request.params.threadId)}/messages/${message.id}`)
        .type(JSON_CONTENT_TYPE)
        .send({ id: message.id });
    },
  );

  // ListChatMessages: GET /chat/threads/{chatThreadId}/messages
  app.get<{ Params: Params }>("/chat/threads/:threadId/messages", { config: chat("listMessages") }, async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const maxPageSize = intParam(query, "maxPageSize", 1);
    const startTime = timeParam(query, "startTime");
    const cursor = decodeState(query, isMessageCursor);
    const page = await chatService.listMessages(caller(request), request.params.threadId, { maxPageSize, startTime, beforeVersion: cursor?.v });
    const body: { value: unknown[]; nextLink?: string } = { value: page.items.map((m) => toWireMessage(m, request.apiVersion, requestOrigin(request))) };
    if (page.next !== undefined) {
      body.nextLink = nextLink(`${threadPath(request.params.threadId)}/messages`, {
        "api-version": request.apiVersion, maxPageSize, startTime: query.startTime as string | undefined, syncState: encodeState({ v: page.next }),
      });
    }
    return reply.type(JSON_CONTENT_TYPE).send(body);
  });

  // GetChatMessage: GET /chat/threads/{chatThreadId}/messages/{chatMessageId}
  app.get<{ Params: MessageParams }>("/chat/threads/:threadId/messages/:messageId", { config: chat("getMessage") }, async (request, reply) => {
    const message = await chatService.getMessage(caller(request), request.params.threadId, request.params.messageId);
    return reply.type(JSON_CONTENT_TYPE).send(toWireMessage(message, request.apiVersion, requestOrigin(request)));
  });

  // UpdateChatMessage: PATCH /chat/threads/{chatThreadId}/messages/{chatMessageId}
  app.patch<{ Params: MessageParams; Body: UpdateChatMessageRequest }>(
    "/chat/threads/:threadId/messages/:messageId",
    { config: chat("updateMessage"), schema: { body: updateChatMessageRequestSchema } },
    async (request, reply) => {
      const body = request.body ?? {};
      await chatService.updateMessage(caller(request), request.params.threadId, request.params.messageId, {
        content: body.content, metadata: chatVersionHasMessageMetadata(request.apiVersion) ? body.metadata : undefined,
        attachments: chatVersionHasAttachments(request.apiVersion) ? body.attachments : undefined,
      });
      return reply.status(204).send();
    },
  );

  // DeleteChatMessage: DELETE /chat/threads/{chatThreadId}/messages/{chatMessageId}
  app.delete<{ Params: MessageParams }>("/chat/threads/:threadId/messages/:messageId", { config: chat("deleteMessage") }, async (request, reply) => {
    await chatService.deleteMessage(caller(request), request.params.threadId, request.params.messageId);
    return reply.status(204).send();
  });
}
