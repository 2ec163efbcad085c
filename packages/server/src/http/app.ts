// Builds the Fastify app (never listens): plugins before routes. Both listeners (HTTP and HTTPS) share it.
import Fastify from "fastify";
import type { FastifyInstance, FastifyServerFactory } from "fastify";
import cors from "@fastify/cors";
import { randomUUID } from "node:crypto";
import type { ChatService } from "../domain/chat-service.js";
import type { IdentityService } from "../domain/identity-service.js";
import type { TokenService } from "../auth/tokens.js";
import { handleClientError, registerErrorHandling, sendError, toChatError } from "./plugins/errors.js";
import { ChatError } from "../domain/errors.js";
import { registerRequestContext } from "./plugins/request-context.js";
import type { RateCounter } from "./plugins/rate-limits.js";
import { registerRateLimits } from "./plugins/rate-limits.js";
import { threadRoutes } from "./routes/threads.js";
import { imageRoutes } from "./routes/images.js";
import { messageRoutes } from "./routes/messages.js";
import { searchRoutes } from "./routes/search.js";
import type { SearchService } from "../domain/search-service.js";
import { participantRoutes } from "./routes/participants.js";
import { identityRoutes } from "./routes/identity.js";
import { eventSubscriptionRoutes } from "./routes/event-subscriptions.js";
import type { EventSubscriptions } from "../events/event-subscriptions.js";
import { JSON_CONTENT_TYPE } from "@natter/wire";
import type { Metrics } from "./plugins/metrics.js";
import { registerWebApp } from "./web-app.js";
import { DEMO_PREFIX, demoRoutes } from "./routes/demo.js";
import type { DirectoryService } from "../domain/directory-service.js";
import { registerMetrics } from "./plugins/metrics.js";
import { registerTrouterRoutes } from "../realtime/trouter/routes.js";
import type { UnreadService } from "../domain/unread.js";
import { natterThreadRoutes } from "./routes/natter-threads.js";

export interface AppDeps {
  chat: ChatService;
  /** Natter extension: unread counts and last message (GET /natter/chat/threads); absent: not served. */
  unread?: UnreadService;
  /** The search and jump-to-message extensions (routes under /natter/); absent: not served. */
  search?: SearchService;
  identity: IdentityService;
  tokens: TokenService;
  accessKey: Uint8Array;
  /** Present when ACS throttles are on (`--limits acs`). */
  rateCounter?: RateCounter;
  /** Resolves when the service can take traffic; rejects (or is false) while it cannot. */
  ready: () => Promise<boolean>;
  /** Called with each error that became a 5xx answer (e.g. to notice that the Store cannot write). */
  onInfrastructureError?: (error: unknown) => void;
  now?: () => number;
  logger?: boolean | object;
  bodyLimit?: number;
  serverFactory?: FastifyServerFactory;
  metrics?: Metrics;
  /** Whether GET /metrics is served (default true when `metrics` is given). */
  serveMetrics?: boolean;
  /** When set, GET /metrics requires `Authorization: Bearer <metricsToken>`. */
  metricsToken?: string;
  /** Origins allowed to call the API cross-origin: "*" (default: any, without credentials) or a list. */
  corsOrigins?: "*" | string[];
  /** Records that a user asked for Azure's realtime (the Trouter configuration request). */
  realtimeRequested?: (userId: string) => Promise<void>;
  /** Present when demo sign-in is on. */
  directory?: DirectoryService;
  /** Host names the demo sign-in accepts besides localhost and IP addresses. */
  demoHosts?: string[];
  /** Event subscriptions (server-side events): their REST routes are served when present. */
  eventSubscriptions?: EventSubscriptions;
  /** Folder of the built web app (index.html and assets); absent: a plain note at /. */
  webRoot?: string;
}

/** Headers browsers may send (the Azure SDK sends x-ms-useragent from browsers) and read. */
const CORS_ALLOWED_HEADERS = [
  "authorization", "content-type", "accept", "x-ms-useragent", "x-ms-client-request-id", "repeatability-request-id",
  "repeatability-first-sent", "x-ms-date", "x-ms-content-sha256", "x-ms-return-client-request-id", "traceparent",
  // Azure's signaling client (realtime) sends the token as X-Skypetoken to /v4/a, the handshake and the registrar.
  "x-skypetoken",
  // UploadChatImage (chat previews): the SDK's browser upload names the file in this header.
  "image-filename",
];
const CORS_EXPOSED_HEADERS = ["location", "retry-after", "x-ms-client-request-id", "x-ms-request-id", "api-supported-versions"];


export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const now = deps.now ?? Date.now;
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: deps.bodyLimit ?? 1024 * 1024,
    serverFactory: deps.serverFactory,
    requestIdHeader: false,
    genReqId: (req) => {
      const id = req.headers["x-ms-client-request-id"];
      return typeof id === "string" && /^[\w.:-]{1,128}$/.test(id) ? id : randomUUID();
    },
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, useDefaults: false } },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1000 },
    return503OnClosing: true,
    connectionTimeout: 0,
    requestTimeout: 30_000,
    keepAliveTimeout: 5_000,
    forceCloseConnections: "idle",
    frameworkErrors: (error, _request, reply) => {
      void sendError(reply, toChatError(error));
    },
    // Malformed HTTP, oversized headers and timeouts: the ACS error body, not Fastify's own.
    clientErrorHandler: handleClientError,
  });

  registerErrorHandling(app, (error) => {
    deps.metrics?.storeErrors.inc();
    deps.onInfrastructureError?.(error);
  });
  if (deps.metrics) registerMetrics(app, deps.metrics, { serve: deps.serveMetrics ?? true, token: deps.metricsToken });
  // The API is called with bearer tokens or HMAC signatures, never cookies: no credentials, so "*" (the origin
  // reflected) lets a page use a token it already holds, and nothing more. --cors-origins narrows it.
  const allowed = deps.corsOrigins ?? "*";
  const corsOptions = {
    origin: allowed === "*" ? true : allowed.length > 0 ? allowed : false,
    credentials: false,
    // Joined once here: @fastify/cors joins an array on every request.
    allowedHeaders: CORS_ALLOWED_HEADERS.join(", "),
    exposedHeaders: CORS_EXPOSED_HEADERS.join(", "),
    methods: "GET, POST, PATCH, DELETE, OPTIONS",
    maxAge: 600,
    // An OPTIONS request that is not a CORS preflight gets 204 too (the strict mode answers it in text/plain).
    strictPreflight: false,
  };
  await app.register(cors, corsOptions);
  // Same-origin-only endpoints (the demo sign-in mints tokens without a credential; /metrics is for scrapers):
  // their routes carry `cors: false`, and so do these preflight routes, which take their paths from the
  // catch-all OPTIONS route. Static options, not a per-request delegator: that cost ~2.5% of a send's CPU.
  const noCorsPreflight = { config: { cors: false as const } };
  for (const path of [`${DEMO_PREFIX}*`, "/metrics"]) {
    app.options(path, noCorsPreflight, async () => {
      throw new ChatError("forbidden", "This endpoint answers same-origin requests only.");
    });
  }
  registerRequestContext(app, { tokens: deps.tokens, accessKey: deps.accessKey, now });
  if (deps.rateCounter) registerRateLimits(app, { counter: deps.rateCounter, now, isParticipant: (userId, threadId) => deps.chat.isParticipant(userId, threadId) });

  // Callback style: no promise and microtask hop per request.
  app.addHook("onSend", (request, reply, payload, done) => {
    reply.header("x-ms-client-request-id", request.id);
    reply.header("x-content-type-options", "nosniff");
    done(null, payload);
  });

  app.get("/healthz", async (_request, reply) => {
    const ok = await deps.ready().catch(() => false);
    return reply.status(ok ? 200 : 503).type(JSON_CONTENT_TYPE).send({ status: ok ? "ok" : "unavailable" });
  });

  threadRoutes(app, deps.chat);
  messageRoutes(app, deps.chat);
  imageRoutes(app, deps.chat);
  participantRoutes(app, deps.chat);
  if (deps.unread) natterThreadRoutes(app, deps.unread);
  if (deps.search) searchRoutes(app, deps.search);
  identityRoutes(app, deps.identity, deps.tokens);
  if (deps.eventSubscriptions) eventSubscriptionRoutes(app, deps.eventSubscriptions);
  registerTrouterRoutes(app, { tokens: deps.tokens, accessKey: deps.accessKey, now, realtimeRequested: deps.realtimeRequested });
  if (deps.directory) demoRoutes(app, deps.directory, deps.tokens, deps.demoHosts);
  await registerWebApp(app, deps.webRoot);
  return app;
}
