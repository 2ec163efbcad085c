// The HTTP side of the chat clients: URLs (percent-encoded path params, api-version, nextLinks), bearer
// authentication from the user's token credential, and the shared retrying pipeline.
import type {
  AbortSignalLike,
  AuthorizableRequest,
  CommunicationTokenCredential,
  HttpRequest,
  OperationOptions,
  PipelineResponse,
} from "@natter/communication-common";
import { HttpPipeline } from "@natter/communication-common";

import type { ChatClientOptions } from "./models/options.js";

/** The chat api-version sent by default (that of @azure/communication-chat 1.6.0). */
export const CHAT_DEFAULT_API_VERSION = "2025-03-15";
/**
 * Natter's extension routes: path prefix and api-version. Copies of @natter/wire's NATTER_EXTENSIONS_PREFIX and
 * NATTER_EXTENSIONS_API_VERSION (the SDK imports only types from @natter/wire, so it has no runtime dependency
 * beyond the common package); a test keeps them equal.
 */
export const NATTER_EXTENSIONS_PREFIX = "/natter";
export const NATTER_EXTENSIONS_API_VERSION = "2026-12-01-natter";
/** This package's version, for the user agent. */
export const SDK_VERSION = "0.1.0";

type QueryValue = string | number | Date | undefined;

/** Shared by ChatClient and ChatThreadClient; not exported from the package. */
export class ChatRestClient {
  /** The api-version sent. */
  readonly apiVersion: string;
  private readonly base: string;
  private readonly overrideApiVersion: boolean;
  private readonly pipeline: HttpPipeline;

  /**
   * @param endpoint - The service endpoint (a trailing slash is ignored).
   * @param credential - The user's token credential.
   * @param options - Client options.
   */
  constructor(endpoint: string, credential: CommunicationTokenCredential, options: ChatClientOptions = {}) {
    this.base = endpoint.replace(/\/+$/, "");
    this.apiVersion = options.apiVersion ?? CHAT_DEFAULT_API_VERSION;
    this.overrideApiVersion = options.apiVersion !== undefined;
    const allowInsecure = options.allowInsecureConnection ?? false;
    this.pipeline = new HttpPipeline({
      ...options,
      sdkName: "communication-chat",
      sdkVersion: SDK_VERSION,
      authorize: async (request: AuthorizableRequest, abortSignal?: AbortSignalLike) => {
        if (!allowInsecure && !request.url.toLowerCase().startsWith("https:")) {
          throw new Error("Bearer token authentication is not permitted for non-TLS protected (non-https) URLs.");
        }
        const token = await credential.getToken({ abortSignal });
        request.headers["Authorization"] = `Bearer ${token.token}`;
      },
    });
  }

  /**
   * Builds `{endpoint}{path}?{query}`; `api-version` goes after maxPageSize/skip, before startTime, as Azure's.
   * @param path - Path with already-encoded parameters.
   * @param query - Optional query values; undefined values are omitted.
   */
  url(path: string, query: { maxPageSize?: number; skip?: number; startTime?: Date } = {}): string {
    const parts: string[] = [];
    const add = (name: string, value: QueryValue): void => {
      if (value === undefined) return;
      const text = value instanceof Date ? value.toISOString() : String(value);
      parts.push(`${name}=${encodeURIComponent(text)}`);
    };
    add("maxPageSize", query.maxPageSize);
    add("skip", query.skip);
    add("api-version", this.apiVersion);
    add("startTime", query.startTime);
    return `${this.base}${path}?${parts.join("&")}`;
  }

  /**
   * Builds the URL of a Natter extension route (docs/extensions.md): `{endpoint}/natter{path}` at the extension
   * api-version, whatever the client's chat api-version is.
   * @param path - Path after the prefix, with already-encoded parameters.
   * @param query - Query values; undefined values are omitted.
   */
  extensionUrl(path: string, query: Record<string, QueryValue> = {}): string {
    const search = new URLSearchParams();
    const add = (name: string, value: QueryValue): void => {
      if (value !== undefined) search.set(name, value instanceof Date ? value.toISOString() : String(value));
    };
    // The ACS routes' parameter order (url()), so an extension request differs from its ACS twin only in the path
    // and the api-version's value.
    add("maxPageSize", query.maxPageSize);
    add("skip", query.skip);
    search.set("api-version", NATTER_EXTENSIONS_API_VERSION);
    for (const [name, value] of Object.entries(query)) if (name !== "maxPageSize" && name !== "skip") add(name, value);
    return `${this.base}${NATTER_EXTENSIONS_PREFIX}${path}?${search.toString()}`;
  }

  /**
   * Resolves an extension route's nextLink: relative ones are appended to the endpoint, the api-version kept.
   * @param nextLink - The service's link.
   */
  extensionNextUrl(nextLink: string): string {
    return /^[a-z][a-z0-9+.-]*:/i.test(nextLink) ? nextLink : `${this.base}${nextLink.startsWith("/") ? "" : "/"}${nextLink}`;
  }

  /**
   * Resolves a nextLink: absolute links are used verbatim, relative ones are appended to the endpoint.
   * Only a caller-set apiVersion rewrites the link's api-version.
   * @param nextLink - The service's nextLink.
   */
  nextUrl(nextLink: string): string {
    const absolute = /^[a-z][a-z0-9+.-]*:/i.test(nextLink)
      ? nextLink
      : `${this.base}${nextLink.startsWith("/") ? "" : "/"}${nextLink}`;
    if (!this.overrideApiVersion) return absolute;
    const url = new URL(absolute);
    url.searchParams.set("api-version", this.apiVersion);
    return url.toString();
  }

  /**
   * Sends a request through the pipeline and returns the parsed body.
   * @param request - The request.
   * @param options - Operation options.
   */
  async send<T = unknown>(request: HttpRequest, options: OperationOptions = {}): Promise<T> {
    const response: PipelineResponse = await this.pipeline.send(request, pickOperationOptions(options));
    return response.parsedBody as T;
  }
}

/**
 * Keeps only the transport-relevant part of an option bag (option bags also carry body fields).
 * @param options - The caller's options.
 */
export function pickOperationOptions(options: OperationOptions): OperationOptions {
  return { abortSignal: options.abortSignal, requestOptions: options.requestOptions, onResponse: options.onResponse };
}

/**
 * Percent-encodes a path parameter (thread or message id).
 * @param value - The raw id.
 */
export const encodePathParam = (value: string): string => encodeURIComponent(value);
