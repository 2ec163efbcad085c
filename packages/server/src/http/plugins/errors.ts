// Turns every failure into the ACS error body with its status; never a stack trace, never a non-JSON body.
import { STATUS_CODES } from "node:http";
import type { Server } from "node:http";
import type { Duplex } from "node:stream";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { JSON_CONTENT_TYPE } from "@natter/wire";
import type { CommunicationErrorResponse } from "@natter/wire";
import { ChatError } from "../../domain/errors.js";
import { isStorageFullError, isUnavailableError } from "../../store/unavailable.js";

export function sendError(reply: FastifyReply, error: ChatError): FastifyReply {
  const body: CommunicationErrorResponse = { error: { code: error.code, message: error.message } };
  if (error.target !== undefined) body.error.target = error.target;
  if (error.retryAfterSeconds !== undefined) reply.header("retry-after", String(error.retryAfterSeconds));
  // Also here: errors found before routing (a malformed URL) skip the app's onSend hooks.
  reply.header("x-content-type-options", "nosniff");
  return reply.status(error.status).type(JSON_CONTENT_TYPE).send(body);
}

/** Maps Fastify's own errors (parsing, validation, limits), and Store outages (503, Retry-After), onto the catalogue. */
export function toChatError(error: FastifyError | Error): ChatError {
  if (error instanceof ChatError) return error;
  if (isUnavailableError(error)) return new ChatError("serviceUnavailable", undefined, { retryAfterSeconds: 5 });
  if (isStorageFullError(error)) return new ChatError("serviceUnavailable", "The server cannot store data right now (storage full).", { retryAfterSeconds: 30 });
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

/** Writes an ACS error as a raw HTTP/1.1 answer and closes the connection (for errors below Fastify). */
function answerAndClose(socket: Duplex, error: ChatError): void {
  const started = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
  if (socket.writable && !started) {
    const body = JSON.stringify({ error: { code: error.code, message: error.message } });
    socket.end(
      `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ""}\r\ncontent-type: ${JSON_CONTENT_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `x-content-type-options: nosniff\r\nconnection: close\r\n\r\n${body}`,
    );
    // Read (and drop) what the client still sends, so closing does not reset the connection before it reads the answer.
    socket.resume();
  }
  setTimeout(() => socket.destroy(), 1_000).unref();
}

/**
 * Node's 'clientError' (a request that is not valid HTTP, headers over the size limit, a header or request
 * timeout): answered with the ACS body like every other failure, then the connection is closed.
 */
export function handleClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  const chatError =
    error.code === "HPE_HEADER_OVERFLOW" ? new ChatError("headersTooLarge")
      : error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? new ChatError("requestTimeout")
        : new ChatError("badRequest", "The request is not valid HTTP/1.1.");
  answerAndClose(socket, chatError);
}

/** Failures below Fastify on a listener: malformed HTTP and CONNECT get ACS error answers too. */
export function guardServer(server: Server): void {
  server.on("clientError", handleClientError);
  server.on("connect", (_request, socket: Duplex) => answerAndClose(socket, new ChatError("methodNotAllowed", "CONNECT is not supported.")));
}
