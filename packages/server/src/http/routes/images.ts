// Chat image operations of the chat previews (2024-03-15-preview, 2024-06-05-preview): UploadChatImage,
// GetChatImage, DeleteChatImage. Other api-versions define none of them and get UnsupportedApiVersion.
import type { FastifyInstance, FastifyRequest } from "fastify";
import { JSON_CONTENT_TYPE, chatVersionHasAttachments } from "@natter/wire";
import type { UploadChatImageResult } from "@natter/wire";
import type { ChatService } from "../../domain/chat-service.js";
import { ChatError, validationError } from "../../domain/errors.js";
import { LIMITS } from "../../domain/limits.js";
import { threadPath } from "../paging.js";
import { caller } from "../plugins/request-context.js";

const chat = (limit?: string) => ({ api: "chat" as const, auth: "bearer" as const, limit });
type Params = { threadId: string };
type ImageParams = { threadId: string; imageId: string };
type ViewParams = ImageParams & { viewType: string };

function requirePreview(request: FastifyRequest): void {
  if (!chatVersionHasAttachments(request.apiVersion)) {
    throw new ChatError("unsupportedApiVersion", `Chat images are not part of api-version '${request.apiVersion}'; use 2024-03-15-preview or 2024-06-05-preview.`);
  }
}

export function imageRoutes(app: FastifyInstance, chatService: ChatService): void {
  // Encapsulated: only these routes take a raw body (application/octet-stream, as the SDK sends, or image/*).
  void app.register(async (scope) => {
    const raw = (_request: unknown, body: string | Buffer, done: (error: Error | null, body?: unknown) => void) => done(null, body);
    scope.addContentTypeParser("application/octet-stream", { parseAs: "buffer", bodyLimit: LIMITS.imageBytes }, raw);
    scope.addContentTypeParser(/^image\/[\w.+-]+$/, { parseAs: "buffer", bodyLimit: LIMITS.imageBytes }, raw);

    // UploadChatImage: POST /chat/threads/{chatThreadId}/images (header image-filename; body: the image bytes)
    scope.post<{ Params: Params }>("/chat/threads/:threadId/images", { config: chat(), bodyLimit: LIMITS.imageBytes }, async (request, reply) => {
      requirePreview(request);
      if (!Buffer.isBuffer(request.body) || request.body.length === 0) {
        throw validationError("The request body must be the image's bytes (Content-Type application/octet-stream).", "chatImageFile");
      }
      const header = request.headers["image-filename"];
      if (Array.isArray(header)) throw validationError("image-filename must be given once.", "image-filename");
      const name = header === undefined || header === "" ? undefined : decodeFileName(header);
      const image = await chatService.uploadImage(caller(request), request.params.threadId, { data: request.body, name });
      const body: UploadChatImageResult = { id: image.id, attachmentType: "image" };
      if (image.name !== null) body.name = image.name;
      return reply
        .status(201)
        .header("location", `${threadPath(request.params.threadId)}/images/${image.id}`)
        .type(JSON_CONTENT_TYPE)
        .send(body);
    });
  });

  // GetChatImage: GET /chat/threads/{chatThreadId}/images/{imageId}/view/{imageViewType} ("original" or "small";
  // Natter keeps one size and answers it for both). Also under /views/, the form the swagger's attachment URLs show.
  for (const segment of ["view", "views"]) {
    app.get<{ Params: ViewParams }>(`/chat/threads/:threadId/images/:imageId/${segment}/:viewType`, { config: chat("getMessage") }, async (request, reply) => {
      requirePreview(request);
      if (request.params.viewType !== "original" && request.params.viewType !== "small") {
        throw validationError("imageViewType must be original or small.", "imageViewType");
      }
      const image = await chatService.getImage(caller(request), request.params.threadId, request.params.imageId);
      return reply
        .type(image.contentType)
        .header("cache-control", "private, max-age=3600")
        .header("content-disposition", "inline")
        .send(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength));
    });
  }

  // DeleteChatImage: DELETE /chat/threads/{chatThreadId}/images/{imageId}
  app.delete<{ Params: ImageParams }>("/chat/threads/:threadId/images/:imageId", { config: chat() }, async (request, reply) => {
    requirePreview(request);
    await chatService.deleteImage(caller(request), request.params.threadId, request.params.imageId);
    return reply.status(204).send();
  });
}

/** The image-filename header: sent as is by the SDK; a percent-encoded name (non-ASCII) is decoded. */
function decodeFileName(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
