// The HTTP layer shared by Natter's SDK clients: fetch with per-attempt authorization, the same
// x-ms-client-request-id on every attempt, Azure-style retries (Retry-After throttling, exponential backoff
// for 408/5xx and transient network errors), exact expected-status matching, JSON parsing and RestError.
// Not part of the Azure-compatible surface; used by @natter/communication-chat and -identity.
import type { AbortSignalLike } from "./abort.js";
import { AbortError, abortableDelay, linkAbortSignal } from "./abort.js";
import { generateUuid } from "./encoding.js";
import type { PipelineRequestInfo, PipelineResponse } from "./rest-error.js";
import { RestError, toHttpHeaders } from "./rest-error.js";

/** Retry settings (same names and defaults as Azure's `PipelineRetryOptions`). */
export interface PipelineRetryOptions {
  /** Retries after the first attempt. Default 3. */
  maxRetries?: number;
  /** Base delay of the exponential backoff, ms. Default 1000. */
  retryDelayInMs?: number;
  /** Cap of the exponential backoff, ms. Default 64000. */
  maxRetryDelayInMs?: number;
}

/** Per-call HTTP options (subset of Azure's `OperationRequestOptions`). */
export interface OperationRequestOptions {
  /** Extra headers for this call. */
  customHeaders?: Record<string, string>;
  /** Per-attempt timeout in ms; a timed-out attempt counts as a transient network error. */
  timeout?: number;
}

/** Options every SDK operation accepts (the subset of Azure's `OperationOptions` Natter honours). */
export interface OperationOptions {
  /** Cancels the operation, including pending retries. */
  abortSignal?: AbortSignalLike;
  /** HTTP options for this call. */
  requestOptions?: OperationRequestOptions;
  /** Accepted for compatibility with Azure's option bags; ignored (Natter's SDK does no tracing). */
  tracingOptions?: Record<string, unknown>;
  /**
   * Called with the raw response of the final attempt, on success and on HTTP errors.
   * @param rawResponse - The response.
   * @param flatResponse - The parsed body.
   * @param error - The error about to be thrown, if any.
   */
  onResponse?: (rawResponse: PipelineResponse, flatResponse: unknown, error?: unknown) => void;
}

/** Client-level HTTP options shared by Natter's clients (a subset of Azure's `CommonClientOptions`). */
export interface CommonClientOptions {
  /** Retry settings. */
  retryOptions?: PipelineRetryOptions;
  /** Permit `http://` endpoints for bearer-token calls (Azure refuses them; Natter allows with this flag). */
  allowInsecureConnection?: boolean;
  /** User-agent settings. */
  userAgentOptions?: {
    /** Prepended to the SDK's user agent. */
    userAgentPrefix?: string;
  };
  /** The fetch implementation to use (defaults to the global `fetch`). */
  fetch?: typeof fetch;
}

/** One HTTP call as an SDK client describes it. */
export interface HttpRequest {
  /** HTTP method. */
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Absolute URL, query included. */
  url: string;
  /** Statuses that mean success; any other status is a RestError (contract §0.1-2). */
  expectedStatus: readonly number[];
  /** JSON body (serialised with JSON.stringify), if any. */
  body?: unknown;
  /** Content-Type for the body. Default application/json. */
  contentType?: string;
  /** Send Content-Type even without a body (Azure's identity createUser does). */
  contentTypeWithoutBody?: boolean;
  /** Extra headers. */
  headers?: Record<string, string>;
}

/** What the authorizer may read and change on an attempt. */
export interface AuthorizableRequest {
  /** HTTP method. */
  method: string;
  /** Absolute URL. */
  url: string;
  /** Mutable request headers. */
  headers: Record<string, string>;
  /** The exact body string, if any. */
  body?: string;
}

/** Adds authentication headers to one attempt (called again for every retry). */
export type RequestAuthorizer = (request: AuthorizableRequest, abortSignal?: AbortSignalLike) => Promise<void>;

/** Settings of an {@link HttpPipeline}. */
export interface HttpPipelineOptions extends CommonClientOptions {
  /** SDK name for the user agent, e.g. "communication-chat". */
  sdkName: string;
  /** SDK version for the user agent. */
  sdkVersion: string;
  /** Adds authentication headers. */
  authorize: RequestAuthorizer;
}

const DEFAULT_MAX_RETRIES = 3;
const DEFAULT_RETRY_DELAY_MS = 1000;
const DEFAULT_MAX_RETRY_DELAY_MS = 64 * 1000;
const TRANSIENT_CODES = new Set([
  "ETIMEDOUT",
  "ESOCKETTIMEDOUT",
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOENT",
  "ENOTFOUND",
  "EPIPE",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/**
 * The delay a 429/503 response asks for (retry-after-ms, x-ms-retry-after-ms, Retry-After seconds or
 * HTTP date), or undefined when it names none. Other statuses never yield a delay.
 * @param status - The response status.
 * @param headers - Header lookup.
 * @param now - Current time in epoch ms.
 */
export function getRetryAfterMs(
  status: number,
  headers: { get(name: string): string | null | undefined },
  now: number = Date.now(),
): number | undefined {
  if (status !== 429 && status !== 503) return undefined;
  for (const [name, factor] of [
    ["retry-after-ms", 1],
    ["x-ms-retry-after-ms", 1],
    ["retry-after", 1000],
  ] as const) {
    const raw = headers.get(name);
    if (raw === null || raw === undefined || raw.trim() === "") continue;
    const value = Number(raw);
    if (Number.isFinite(value)) return Math.max(0, value * factor);
  }
  const raw = headers.get("retry-after");
  if (!raw) return undefined;
  const date = Date.parse(raw);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}

/**
 * Exponential backoff with jitter: `min(max, base * 2^retry)`, then a random value in its upper half.
 * @param retryCount - Zero-based retry number.
 * @param retryDelayInMs - Base delay.
 * @param maxRetryDelayInMs - Cap.
 */
export function exponentialDelayMs(retryCount: number, retryDelayInMs: number, maxRetryDelayInMs: number): number {
  const clamped = Math.min(maxRetryDelayInMs, retryDelayInMs * 2 ** retryCount);
  return clamped / 2 + Math.floor(Math.random() * (Math.floor(clamped / 2) + 1));
}

/**
 * Whether a status is retried with exponential backoff (408, and 5xx except 501 and 505).
 * @param status - HTTP status.
 */
export function isExponentialRetryStatus(status: number): boolean {
  return (status === 408 || status >= 500) && status !== 501 && status !== 505;
}

function networkErrorCode(error: unknown): string | undefined {
  const e = error as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code = e?.cause?.code ?? e?.code;
  return typeof code === "string" ? code : undefined;
}

function isTransientNetworkError(error: unknown): boolean {
  const code = networkErrorCode(error);
  // Browsers report network failures as a bare TypeError without a code; treat those as transient too.
  return code === undefined ? error instanceof TypeError : TRANSIENT_CODES.has(code);
}

function isJsonContentType(contentType: string | null): boolean {
  if (!contentType) return true;
  return contentType
    .split(";")
    .map((part) => part.trim().toLowerCase())
    .some((part) => part === "application/json" || part === "text/json");
}

function userAgent(options: HttpPipelineOptions): { header: string; value: string } {
  const proc = (globalThis as { process?: { versions?: { node?: string }; platform?: string; arch?: string } }).process;
  const isNode = typeof proc?.versions?.node === "string";
  const platform = isNode ? `Node/${proc?.versions?.node} (${proc?.platform}; ${proc?.arch})` : "browser";
  const base = `natter-js-${options.sdkName}/${options.sdkVersion} ${platform}`;
  const prefix = options.userAgentOptions?.userAgentPrefix;
  // Browsers forbid setting User-Agent; Azure's SDKs send x-ms-useragent there instead.
  return { header: isNode ? "User-Agent" : "x-ms-useragent", value: prefix ? `${prefix} ${base}` : base };
}

/** Sends SDK requests with Azure-compatible retry, request-id and error behaviour. */
export class HttpPipeline {
  private readonly options: HttpPipelineOptions;

  /**
   * Creates a pipeline.
   * @param options - SDK identity, authorizer, retry and transport options.
   */
  constructor(options: HttpPipelineOptions) {
    this.options = options;
  }

  /**
   * Sends a request, retrying as Azure's pipeline does, and returns the final response with its parsed
   * body. Throws a RestError for an unexpected status, an AbortError when aborted.
   * @param request - The request.
   * @param operationOptions - The caller's operation options.
   */
  async send(request: HttpRequest, operationOptions: OperationOptions = {}): Promise<PipelineResponse> {
    const { abortSignal, requestOptions, onResponse } = operationOptions;
    const retry = this.options.retryOptions ?? {};
    const maxRetries = retry.maxRetries ?? DEFAULT_MAX_RETRIES;
    const baseDelay = retry.retryDelayInMs ?? DEFAULT_RETRY_DELAY_MS;
    const maxDelay = retry.maxRetryDelayInMs ?? DEFAULT_MAX_RETRY_DELAY_MS;
    const fetchImpl = this.options.fetch ?? globalThis.fetch;
    const requestId = generateUuid();
    const body = request.body === undefined ? undefined : JSON.stringify(request.body);
    const ua = userAgent(this.options);

    for (let attempt = 0; ; attempt++) {
      if (abortSignal?.aborted) throw new AbortError();
      const headers: Record<string, string> = {
        Accept: "application/json",
        "x-ms-client-request-id": requestId,
        [ua.header]: ua.value,
        ...request.headers,
        ...requestOptions?.customHeaders,
      };
      if (body !== undefined || request.contentTypeWithoutBody) {
        headers["Content-Type"] = request.contentType ?? "application/json";
      }
      await this.options.authorize({ method: request.method, url: request.url, headers, body }, abortSignal);
      const info: PipelineRequestInfo = {
        url: request.url,
        method: request.method,
        headers: toHttpHeaders(redact(headers)),
        requestId,
      };

      const link = linkAbortSignal(abortSignal, requestOptions?.timeout);
      let response: Response;
      let text: string;
      try {
        response = await fetchImpl(request.url, { method: request.method, headers, body, signal: link.signal });
        text = await response.text();
      } catch (error) {
        if (abortSignal?.aborted) throw new AbortError();
        const code = link.timedOut() ? "ETIMEDOUT" : (networkErrorCode(error) ?? RestError.REQUEST_SEND_ERROR);
        const transient = link.timedOut() || isTransientNetworkError(error);
        if (transient && attempt < maxRetries) {
          await abortableDelay(exponentialDelayMs(attempt, baseDelay, maxDelay), abortSignal);
          continue;
        }
        const cause = (error as { cause?: { message?: string } })?.cause?.message;
        const message = link.timedOut()
          ? `Request timed out after ${requestOptions?.timeout} ms: ${request.method} ${request.url}`
          : `${(error as Error)?.message ?? String(error)}${cause ? ` (${cause})` : ""}`;
        throw new RestError(message, { code, request: info });
      } finally {
        link.dispose();
      }

      const status = response.status;
      const expected = request.expectedStatus.includes(status);
      if (!expected && attempt < maxRetries) {
        const throttleMs = getRetryAfterMs(status, response.headers);
        const delayMs =
          throttleMs !== undefined
            ? throttleMs
            : isExponentialRetryStatus(status)
              ? exponentialDelayMs(attempt, baseDelay, maxDelay)
              : undefined;
        if (delayMs !== undefined) {
          await abortableDelay(delayMs, abortSignal);
          continue;
        }
      }

      const pipelineResponse: PipelineResponse = {
        request: info,
        status,
        headers: toHttpHeaders(response.headers),
        bodyAsText: text,
      };
      if (text && isJsonContentType(response.headers.get("content-type"))) {
        try {
          pipelineResponse.parsedBody = JSON.parse(text);
        } catch (e) {
          const error = new RestError(`Error "${(e as Error).message}" occurred while parsing the response body - ${text}.`, {
            code: RestError.PARSE_ERROR,
            statusCode: status,
            request: info,
            response: pipelineResponse,
          });
          onResponse?.(pipelineResponse, undefined, error);
          throw error;
        }
      }
      if (!expected) {
        const error = toRestError(pipelineResponse);
        onResponse?.(pipelineResponse, pipelineResponse.parsedBody, error);
        throw error;
      }
      onResponse?.(pipelineResponse, pipelineResponse.parsedBody);
      return pipelineResponse;
    }
  }
}

function redact(headers: Record<string, string>): Record<string, string> {
  const copy = { ...headers };
  for (const name of Object.keys(copy)) if (name.toLowerCase() === "authorization") copy[name] = "REDACTED";
  return copy;
}

/** Turns an unexpected response into a RestError, taking code and message from an ACS error body. */
function toRestError(response: PipelineResponse): RestError {
  const body = response.parsedBody as { error?: { code?: unknown; message?: unknown } } | undefined;
  const inner = body && typeof body === "object" && body.error && typeof body.error === "object" ? body.error : undefined;
  const code = typeof inner?.code === "string" ? inner.code : undefined;
  const message =
    typeof inner?.message === "string" && inner.message
      ? inner.message
      : response.bodyAsText || `Unexpected status code: ${response.status}`;
  return new RestError(message, {
    code,
    statusCode: response.status,
    request: response.request,
    response,
    details: response.parsedBody,
  });
}
