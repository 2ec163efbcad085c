// The one error catalogue: every failure Natter reports is a ChatError with an ACS code and HTTP status.
// docs/errors.md lists the same catalogue; a test keeps the two in sync.

export interface ErrorKind {
  status: number;
  code: string;
  /** Default message; callers may give a more precise one. */
  message: string;
}

export const ERRORS = {
  badRequest: { status: 400, code: "BadRequest", message: "The request is invalid." },
  validation: { status: 400, code: "ValidationError", message: "One or more fields are invalid." },
  invalidIdentifier: { status: 400, code: "BadRequest", message: "Identifier format is invalid." },
  apiVersionUnspecified: { status: 400, code: "ApiVersionUnspecified", message: "An API version is required, but was not specified." },
  unsupportedApiVersion: { status: 400, code: "UnsupportedApiVersion", message: "The HTTP resource does not support the API version." },
  unauthorized: { status: 401, code: "Unauthorized", message: "Request is not authorized." },
  forbidden: { status: 403, code: "Forbidden", message: "The initiator doesn't have the permission to perform the requested operation." },
  notFound: { status: 404, code: "NotFound", message: "The requested resource was not found." },
  methodNotAllowed: { status: 405, code: "MethodNotAllowed", message: "The method is not allowed for this resource." },
  requestTimeout: { status: 408, code: "RequestTimeout", message: "The request was not received in time." },
  conflict: { status: 409, code: "Conflict", message: "The request conflicts with the current state." },
  payloadTooLarge: { status: 413, code: "RequestEntityTooLarge", message: "The request body is too large." },
  unsupportedMediaType: { status: 415, code: "UnsupportedMediaType", message: "The request content type is not supported." },
  tooManyRequests: { status: 429, code: "TooManyRequests", message: "Rate limit exceeded." },
  headersTooLarge: { status: 431, code: "RequestHeaderFieldsTooLarge", message: "The request headers are too large." },
  internal: { status: 500, code: "InternalError", message: "The server encountered an internal error." },
  serviceUnavailable: { status: 503, code: "ServiceUnavailable", message: "The server is currently unable to handle the request." },
} as const satisfies Record<string, ErrorKind>;

export type ErrorName = keyof typeof ERRORS;

export class ChatError extends Error {
  readonly status: number;
  readonly code: string;
  readonly target?: string;
  /** Seconds the client should wait (429/503). */
  readonly retryAfterSeconds?: number;

  constructor(kind: ErrorName, message?: string, options: { target?: string; retryAfterSeconds?: number } = {}) {
    const entry = ERRORS[kind];
    super(message ?? entry.message);
    this.name = "ChatError";
    this.status = entry.status;
    this.code = entry.code;
    this.target = options.target;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export const badRequest = (message: string, target?: string) => new ChatError("badRequest", message, { target });
export const validationError = (message: string, target?: string) => new ChatError("validation", message, { target });
export const forbidden = (message?: string) => new ChatError("forbidden", message);
export const notFound = (message?: string) => new ChatError("notFound", message);
