// Turns every failure into the ACS error body with its status; never a stack trace, never a non-JSON body.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { JSON_CONTENT_TYPE } from "@natter/wire";
import type { CommunicationErrorResponse } from "@natter/wire";
import { ChatError } from "../../domain/errors.js";

export function sendError(reply: FastifyReply, error: ChatError): FastifyReply {
  const body: CommunicationErrorResponse = { error: { code: error.code, message: error.message } };
  if (error.target !== undefined) body.error.target = error.target;
  if (error.retryAfterSeconds !== undefined) reply.header("retry-after", String(error.retryAfterSeconds));
  return reply.status(error.status).type(JSON_CONTENT_TYPE).send(body);
}

/** Connection-level failures of a database or network peer: the client should come back later. */
const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENOTFOUND", "EAI_AGAIN",
  "57P01", "57P02", "57P03", "08000", "08001", "08003", "08004", "08006", "53300", "SQLITE_BUSY", "SQLITE_LOCKED",
]);

export function isUnavailableError(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  if (!e) return false;
  if (typeof e.code === "string" && UNAVAILABLE_CODES.has(e.code)) return true;
  return typeof e.message === "string" && /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(e.message);
}

/** Maps Fastify's own errors (parsing, validation, limits) onto the catalogue. */
export function toChatError(error: FastifyError | Error): ChatError {
  if (error instanceof ChatError) return error;
  if (isUnavailableError(error)) return new ChatError("serviceUnavailable", undefined, { retryAfterSeconds: 5 });
  const e = error as FastifyError & { validationContext?: string };
  if (e.validation) {
    const first = e.validation[0];
    const where = first?.instancePath ? first.instancePath.replace(/^\//, "").replace(/\//g, ".") : e.validationContext ?? "body";
    return new ChatError("validation", `Invalid ${where}: ${first?.message ?? "invalid value"}.`, { target: where || undefined });
  }
  switch (e.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new ChatError("payloadTooLarge");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new ChatError("unsupportedMediaType", "The request content type is not supported; send application/json.");
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new ChatError("badRequest", "The request body is empty.");
    case "FST_ERR_BAD_URL":
      return new ChatError("badRequest", "The request URL is malformed.");
  }
  if (error instanceof SyntaxError || e.code === "FST_ERR_CTP_INVALID_JSON_BODY") return new ChatError("badRequest", "The request body is not valid JSON.");
  if (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
    return new ChatError(e.statusCode === 413 ? "payloadTooLarge" : e.statusCode === 404 ? "notFound" : "badRequest", e.message);
  }
  return new ChatError("internal");
}

export function registerErrorHandling(app: FastifyInstance, onInfrastructureError: (error: unknown) => void = () => {}): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const chatError = toChatError(error);
    if (chatError.status >= 500) onInfrastructureError(error);
    if (chatError.status >= 500) request.log.error({ err: error }, chatError.status === 503 ? "service unavailable" : "request failed");
    return sendError(reply, chatError);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, new ChatError("notFound", `No resource matches ${request.method} ${request.url.split("?")[0].slice(0, 200)}.`)),
  );
}
