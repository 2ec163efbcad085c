// Per-request context: body parsing that keeps the raw bytes (for HMAC), api-version checks and
// authentication, driven by each route's `config` ({ api, auth }).
import type { FastifyInstance, FastifyRequest } from "fastify";
import secureJson from "secure-json-parse";
import { CHAT_API_VERSIONS, IDENTITY_API_VERSIONS, NATTER_EXTENSIONS_API_VERSION } from "@natter/wire";
import type { Caller } from "../../domain/caller.js";
import { ChatError } from "../../domain/errors.js";
import type { TokenService } from "../../auth/tokens.js";
import { verifyHmacRequest } from "../../auth/hmac.js";

export type ApiKind = "chat" | "identity" | "realtime" | "natter";
export type AuthKind = "bearer" | "hmac" | "none";

export interface RouteContext {
  api?: ApiKind;
  auth?: AuthKind;
}

declare module "fastify" {
  interface FastifyRequest {
    caller?: Caller;
    rawBody?: Buffer;
    apiVersion: string;
  }
  interface FastifyContextConfig {
    api?: ApiKind;
    auth?: AuthKind;
    /** Rate-limit rule name (see rate-limits.ts). */
    limit?: string;
    /** false: @fastify/cors adds no header to this route's answers (same-origin-only endpoints). */
    cors?: false;
  }
}

const VERSIONS: Record<ApiKind, readonly string[]> = {
  chat: CHAT_API_VERSIONS,
  identity: IDENTITY_API_VERSIONS,
  realtime: ["2024-09-01", ...CHAT_API_VERSIONS],
  // Natter's extensions (/natter/...): their own api-version only, so no ACS version ever reaches them.
  natter: [NATTER_EXTENSIONS_API_VERSION],
};

function parseJson(raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  try {
    return secureJson.parse(raw.toString("utf8"), undefined, { protoAction: "remove", constructorAction: "remove" });
  } catch {
    throw new ChatError("badRequest", "The request body is not valid JSON.");
  }
}

export function caller(request: FastifyRequest): Caller {
  if (!request.caller) throw new ChatError("unauthorized");
  return request.caller;
}

/** The client's own x-ms-client-request-id (the Azure SDKs repeat it on retries), if it sent a usable one. */
export function clientRequestId(request: FastifyRequest): string | undefined {
  const id = request.headers["x-ms-client-request-id"];
  return typeof id === "string" && id.length > 0 && id.length <= 128 ? id : undefined;
}

export function registerRequestContext(app: FastifyInstance, deps: { tokens: TokenService; accessKey: Uint8Array; now: () => number }): void {
  app.decorateRequest("caller", undefined);
  app.decorateRequest("rawBody", undefined);
  app.decorateRequest("apiVersion", "");

  app.removeAllContentTypeParsers();
  app.addContentTypeParser(["application/json", "application/merge-patch+json", "text/json"], { parseAs: "buffer" }, (request, body, done) => {
    try {
      request.rawBody = body as Buffer;
      done(null, parseJson(body as Buffer));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  // Callback-style hooks (not async): an async hook is a promise and a microtask hop on every request. A throw
  // here is passed on by Fastify as the request's error, as a rejection was.
  app.addHook("onRequest", (request, _reply, done) => {
    const config = request.routeOptions.config;
    if (config.api) {
      const version = (request.query as Record<string, unknown>)["api-version"];
      if (version === undefined || version === "") throw new ChatError("apiVersionUnspecified");
      if (typeof version !== "string" || !VERSIONS[config.api].includes(version)) {
        const shown = String(version).slice(0, 40);
        throw new ChatError("unsupportedApiVersion", `The HTTP resource that matches the request URI does not support the API version '${shown}'.`);
      }
      request.apiVersion = version;
    }
    if (config.auth !== "bearer") return done();
    const header = request.headers.authorization;
    const match = header && /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new ChatError("unauthorized", "A Bearer access token is required.");
    // A token seen before answers from memory without a promise; otherwise verify() reads what it needs.
    const known = deps.tokens.cachedCaller(match[1]);
    if (known) {
      request.caller = known;
      return done();
    }
    deps.tokens.verify(match[1]).then((verified) => {
      request.caller = verified;
      done();
    }, done);
  });

  app.addHook("preValidation", (request, _reply, done) => {
    // An absent body validates as an empty object: required fields then produce a clear 400.
    if (request.body === undefined && (request.method === "POST" || request.method === "PATCH")) request.body = {};
    if (request.routeOptions.config.auth === "hmac") {
      verifyHmacRequest(
        { method: request.method, url: request.raw.url ?? request.url, headers: request.headers, body: request.rawBody ?? Buffer.alloc(0) },
        deps.accessKey,
        deps.now(),
      );
    }
    done();
  });
}
