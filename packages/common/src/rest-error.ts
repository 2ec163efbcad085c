// RestError: the error every Natter SDK call throws for a failed HTTP exchange, shaped like Azure's
// (name "RestError", statusCode, code, message, details, non-enumerable request/response).

/** Read-only, case-insensitive view of HTTP headers (like Azure's HttpHeaders). */
export interface HttpHeadersLike {
  /**
   * Returns a header's value, or undefined.
   * @param name - Header name (case-insensitive).
   */
  get(name: string): string | undefined;
  /**
   * Whether the header is present.
   * @param name - Header name (case-insensitive).
   */
  has(name: string): boolean;
  /** All headers as a plain object with lower-case names. */
  toJSON(): Record<string, string>;
}

/** The request as recorded on a response or error (Authorization is redacted). */
export interface PipelineRequestInfo {
  /** Absolute URL. */
  url: string;
  /** HTTP method. */
  method: string;
  /** Request headers (Authorization redacted). */
  headers: HttpHeadersLike;
  /** The x-ms-client-request-id sent with every attempt of this call. */
  requestId: string;
}

/** A received HTTP response (like Azure's PipelineResponse plus the parsed body). */
export interface PipelineResponse {
  /** The request that produced it. */
  request: PipelineRequestInfo;
  /** HTTP status code. */
  status: number;
  /** Response headers. */
  headers: HttpHeadersLike;
  /** The body text, if any. */
  bodyAsText?: string;
  /** The body parsed as JSON, when it was JSON. */
  parsedBody?: unknown;
}

/** Options for {@link RestError}. */
export interface RestErrorOptions {
  /** Error code: the service's `error.code`, or a transport code such as "REQUEST_SEND_ERROR" / "ECONNREFUSED". */
  code?: string;
  /** HTTP status, when a response was received. */
  statusCode?: number;
  /** The request. */
  request?: PipelineRequestInfo;
  /** The response, if one was received. */
  response?: PipelineResponse;
  /** Parsed error body or other details. */
  details?: unknown;
}

/** A failed HTTP exchange: a non-success status, an unparsable body, or a request that could not be sent. */
export class RestError extends Error {
  /** Code for a request that could not be sent. */
  static readonly REQUEST_SEND_ERROR: string = "REQUEST_SEND_ERROR";
  /** Code for a response body that could not be parsed. */
  static readonly PARSE_ERROR: string = "PARSE_ERROR";
  /** The error code, if known. */
  code?: string;
  /** The HTTP status code, if a response was received. */
  statusCode?: number;
  /** The request (non-enumerable, so it stays out of logs and JSON). */
  declare request?: PipelineRequestInfo;
  /** The response (non-enumerable). */
  declare response?: PipelineResponse;
  /** The parsed error body, if any. */
  details?: unknown;

  /**
   * Creates a RestError.
   * @param message - The error message.
   * @param options - Status, code, request, response and details.
   */
  constructor(message: string, options: RestErrorOptions = {}) {
    super(message);
    this.name = "RestError";
    this.code = options.code;
    this.statusCode = options.statusCode;
    this.details = options.details;
    Object.defineProperty(this, "request", { value: options.request, enumerable: false, writable: true });
    Object.defineProperty(this, "response", { value: options.response, enumerable: false, writable: true });
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/**
 * Tests whether a value is a RestError (ours, Azure's, or anything named "RestError").
 * @param e - The value to test.
 */
export function isRestError(e: unknown): e is RestError {
  return e instanceof RestError || (e instanceof Error && e.name === "RestError");
}

/**
 * Wraps a plain header record in an {@link HttpHeadersLike}.
 * @param headers - Header record or a fetch Headers object.
 */
export function toHttpHeaders(headers: Record<string, string> | Headers): HttpHeadersLike {
  const map = new Map<string, string>();
  if (typeof Headers !== "undefined" && headers instanceof Headers) {
    headers.forEach((value, name) => map.set(name.toLowerCase(), value));
  } else {
    for (const [name, value] of Object.entries(headers)) map.set(name.toLowerCase(), value);
  }
  return {
    get: (name) => map.get(name.toLowerCase()),
    has: (name) => map.has(name.toLowerCase()),
    toJSON: () => Object.fromEntries(map),
  };
}
