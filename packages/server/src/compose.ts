// THE composition root: picks the Store and Bus, builds the services and the app, and starts both listeners.
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";
import type { NatterConfig } from "./config.js";
import { demoAuthEnabled, loadConfig } from "./config.js";
import { DirectoryService } from "./domain/directory-service.js";
import type { DirectoryOps } from "./store/store.js";
import type { Store } from "./store/store.js";
import type { Bus } from "./bus/bus.js";
import { SqliteStore } from "./store/sqlite/sqlite-store.js";
import { MemoryBus } from "./bus/memory/memory-bus.js";
import { ChatService } from "./domain/chat-service.js";
import { UnreadService } from "./domain/unread.js";
import { SearchService } from "./domain/search-service.js";
import { IdentityService, TOKENS_REVOKED } from "./domain/identity-service.js";
import { CONTROL_TOPIC } from "./bus/bus.js";
import { TokenService } from "./auth/tokens.js";
import { buildApp } from "./http/app.js";
import { MemoryRateCounter } from "./http/plugins/rate-limits.js";
import type { RateCounter } from "./http/plugins/rate-limits.js";
import { loadTls } from "./tls.js";
import { Metrics } from "./http/plugins/metrics.js";
import { guardServer } from "./http/plugins/errors.js";
import { ListenerConnections } from "./http/listener-connections.js";
import { attachRealtime } from "./realtime/gateway.js";
import { attachTrouter, noteRealtimeRequested } from "./realtime/trouter/trouter.js";
import { StreamTail } from "./realtime/stream-tail.js";
import { WriteHealth } from "./store/write-health.js";
import { ConnectionLimits } from "./realtime/connection-limits.js";
import type { RealtimeOptions } from "./realtime/protocol.js";
import type { TrouterOptions } from "./realtime/trouter/protocol.js";
import { DeliveryEngine } from "./events/delivery-engine.js";
import type { DeliveryOptions, EventPayloads } from "./events/delivery-engine.js";
import { EventSubscriptions } from "./events/event-subscriptions.js";
import type { HandshakeOptions } from "./events/event-subscriptions.js";
import { CHAT_EVENT_TYPES, eventGridTopic, outgoingEventsFor, outgoingTypingEvents, toCloudEventSchema, toEventGridSchema } from "./events/chat-event-grid.js";

/**
 * Shutdown bounds. Requests in flight get DRAIN_MS to finish while realtime sockets get their close handshake
 * (each gateway bounds that at 2 s); then every connection still open is ended, and one whose client does not
 * take its last bytes within WRITE_GRACE_MS is destroyed. main.ts exits anyway after 10 s.
 */
const DRAIN_MS = 5_000;
const WRITE_GRACE_MS = 1_000;

export interface RunningNatter {
  config: NatterConfig;
  /** https://localhost:<port>/ — what the Azure SDKs take as endpoint. */
  endpoint: string;
  httpUrl: string;
  httpsUrl: string;
  connectionString: string;
  accessKey: string;
  /** Where the access key came from: --access-key / NATTER_ACCESS_KEY, the data folder, or generated now. */
  accessKeySource: AccessKeySource;
  /** Path of the access key file (when the key is not from the configuration). */
  accessKeyPath?: string;
  resourceId: string;
  /** Path of the HTTPS certificate (for NODE_EXTRA_CA_CERTS). */
  certPath: string;
  certGenerated: boolean;
  app: FastifyInstance;
  metrics: Metrics;
  store: Store;
  bus: Bus;
  chat: ChatService;
  identity: IdentityService;
  tokens: TokenService;
  /** Server-side events: subscriptions and the delivery engine. */
  eventSubscriptions: EventSubscriptions;
  events: DeliveryEngine;
  /** Drains in-flight requests, stops background work and closes the database. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** Override the clock (tests). */
  now?: () => number;
  /** Log to stdout as JSON (the CLI); tests keep it off. */
  log?: boolean;
  /** Log as JSON into this stream instead of stdout (turns logging on; tests that inspect the log). */
  logStream?: NodeJS.WritableStream;
  /** Realtime tuning beyond the config (tests: short timers, small buffers); defaults in the protocol files. */
  realtime?: Partial<RealtimeOptions>;
  trouter?: Partial<TrouterOptions>;
  /** Event delivery tuning beyond the config (tests: short leases, timeouts, handshake waits). */
  events?: Partial<DeliveryOptions> & Partial<HandshakeOptions>;
}

function isDirectory(store: Store): store is Store & DirectoryOps {
  return typeof (store as Partial<DirectoryOps>).findProfileByName === "function";
}

export type AccessKeySource = "configured" | "file" | "generated";

/** The access key: given, or read from / generated once into the data folder (owner-only file). */
function resolveAccessKey(config: NatterConfig): { key: string; source: AccessKeySource; path?: string } {
  if (config.accessKey) return { key: config.accessKey, source: "configured" };
  const path = join(config.dataDir, "access-key");
  if (existsSync(path)) {
    chmodSync(path, 0o600);
    return { key: readFileSync(path, "utf8").trim(), source: "file", path };
  }
  const key = randomBytes(32).toString("base64");
  writeFileSync(path, key + "\n", { mode: 0o600 });
  return { key, source: "generated", path };
}

/** A stable resource id (GUID-shaped) derived from the access key, so every node of a cluster agrees. */
function resourceIdOf(accessKey: string): string {
  const h = createHash("sha256").update(`natter resource ${accessKey}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

// The PostgreSQL and Redis adapters are imported only when configured: pg and ioredis would add about a
// quarter of a second to every start-up of the default SQLite node.

async function createStore(config: NatterConfig): Promise<Store> {
  switch (config.store) {
    case "sqlite":
      return new SqliteStore(join(config.dataDir, "natter.db"));
    case "postgres": {
      const { PostgresStore } = await import("./store/postgres/postgres-store.js");
      return new PostgresStore({ connectionString: config.databaseUrl!, max: config.databasePoolSize });
    }
  }
}

async function createBus(config: NatterConfig, onError: (error: Error, context: string) => void): Promise<Bus> {
  switch (config.bus) {
    case "memory":
      return new MemoryBus();
    case "redis": {
      const { RedisBus } = await import("./bus/redis/redis-bus.js");
      const bus = new RedisBus(config.redisUrl!, { onError, fanOut: config.busFanOut });
      await bus.ready(); // fail fast, naming the server, when Redis is unreachable at startup
      return bus;
    }
  }
}

/** The ACS-style rate limits' counter (shared through Redis in a cluster), with its close(). */
async function createRateCounter(config: NatterConfig, onError: (error: Error) => void): Promise<(RateCounter & { close?: () => Promise<void> }) | undefined> {
  if (config.limits !== "acs") return undefined;
  if (config.bus !== "redis") return new MemoryRateCounter();
  const { RedisRateCounter } = await import("./bus/redis/redis-rate-counter.js");
  const counter = new RedisRateCounter(config.redisUrl!, { onError });
  await counter.ready();
  return counter;
}

/** The URL with the values of token-like query parameters replaced. */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:access_token|token|accesskey|sig|signature)=)[^&]*/gi, "$1[redacted]");
}

const listen = (server: http.Server, port: number, host: string) =>
  new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });

/** Starts a Natter node. `overrides` take precedence over the defaults (no environment is read here). */
export async function startNatter(overrides: Partial<NatterConfig> = {}, options: StartOptions = {}): Promise<RunningNatter> {
  const config: NatterConfig = { ...loadConfig([], {}), ...overrides };
  const now = options.now ?? Date.now;
  // Owner-only when we create it: it holds the database, the access key and the TLS key.
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const { key: accessKey, source: accessKeySource, path: accessKeyPath } = resolveAccessKey(config);
  const keyBytes = Buffer.from(accessKey, "base64");
  const resourceId = resourceIdOf(accessKey);

  const store = await createStore(config);
  await store.migrate();
  // Redis failures are survived (ioredis reconnects); they are counted and logged once the app exists.
  let onRedisError = (_error: Error, _context: string): void => {};
  const bus = await createBus(config, (error, context) => onRedisError(error, context));
  const rateCounter = await createRateCounter(config, (error) => onRedisError(error, "rate counter"));
  // Server-side events: the engine logs through the app's logger, which exists only later.
  let appLog: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void } = { warn() {}, error() {} };
  const payloads: EventPayloads = { eventTypes: CHAT_EVENT_TYPES, outgoingEventsFor, toEventGridSchema, toCloudEventSchema, topic: eventGridTopic(resourceId) };
  const events = new DeliveryEngine(store, payloads, { warn: (o, m) => appLog.warn(o, m), error: (o, m) => appLog.error(o, m) }, now, {
    retryMinMs: config.eventsRetryMinSeconds * 1000, retryMaxMs: config.eventsRetryMaxSeconds * 1000, ...options.events,
  }, (result, _events, ms) => {
    metrics.eventDeliveries.inc({ outcome: result.ok ? "delivered" : result.retryable ? "retried" : "failed" });
    if (ms > 0) metrics.eventDeliveryDuration.observe(ms / 1000);
  });
  const eventSubscriptions = new EventSubscriptions(store, events, keyBytes, now, {
    handshakeTimeoutMs: options.events?.handshakeTimeoutMs ?? 30_000, manualValidationMs: options.events?.manualValidationMs ?? 30_000,
  });
  await eventSubscriptions.applyConfigured(config.eventsSubscriptions);
  const chat = new ChatService({
    store, bus, resourceId, now, eventRetentionMs: config.eventRetentionHours * 3_600_000,
    // Typing is not in the durable stream: this node delivers it once, best effort (docs/events.md).
    onTyping: (event) => events.deliverEphemeral(outgoingTypingEvents(event)),
  });
  const search = new SearchService(store);
  const identity = new IdentityService(store, bus, resourceId, now);
  const tokens = new TokenService(keyBytes, identity, now);
  // Revocations (from this node or another) drop what the token cache knows about the user at once.
  await bus.subscribe(CONTROL_TOPIC, (_topic, message) => {
    if (message.type === TOKENS_REVOKED) tokens.forgetUser((message.data as { userId: string }).userId);
  });
  const tls = await loadTls(config.dataDir, config.tlsCert, config.tlsKey);
  const writeHealth = new WriteHealth(store);

  let realtimeConnections = () => 0;
  const metrics = new Metrics({
    realtimeConnections: () => realtimeConnections(),
    storeStats: () => (store as Partial<SqliteStore>).stats,
    busStats: () => bus.stats(),
  });
  let httpServer!: http.Server;
  let httpsServer!: https.Server;
  let accepting = false;
  const app = await buildApp({
    chat, identity, tokens, accessKey: keyBytes, now, metrics, search,
    unread: new UnreadService(chat, store),
    webRoot: fileURLToPath(new URL("../../web/dist", import.meta.url)),
    directory: demoAuthEnabled(config) && isDirectory(store) ? new DirectoryService(store, identity, now) : undefined,
    rateCounter,
    eventSubscriptions,
    realtimeRequested: (userId) => noteRealtimeRequested(store, userId, now()),
    corsOrigins: config.corsOrigins,
    demoHosts: config.demoHosts,
    serveMetrics: config.metrics === "on",
    metricsToken: config.metricsToken,
    ready: async () => {
      if (!accepting) return false;
      await store.ping();
      // 503 while the Store cannot write (a full disk): a balancer sends the writes elsewhere.
      return writeHealth.writable();
    },
    onInfrastructureError: (error) => writeHealth.noteError(error),
    bodyLimit: config.bodyLimit,
    logger: options.log || options.logStream
      ? {
          level: config.logLevel,
          ...(options.logStream ? { stream: options.logStream } : {}),
          redact: ["req.headers.authorization", "req.headers['x-ms-content-sha256']"],
          // Tokens can travel in query strings (realtime connects from browsers): never log them.
          serializers: {
            req: (req: { method: string; url: string; hostname?: string; ip?: string; id?: string }) => ({
              method: req.method, url: redactUrl(req.url), host: req.hostname, remoteAddress: req.ip,
            }),
          },
        }
      : false,
    serverFactory: (handler) => {
      const headersTimeout = config.headersTimeoutSeconds * 1000;
      const requestTimeout = config.requestTimeoutSeconds * 1000;
      // Node enforces both timeouts only when it sweeps its connections: sweep often enough to honour them.
      const connectionsCheckingInterval = Math.min(30_000, Math.max(100, Math.floor(Math.min(headersTimeout, requestTimeout) / 4)));
      httpsServer = https.createServer({ cert: tls.cert, key: tls.key, connectionsCheckingInterval }, handler);
      httpServer = http.createServer({ connectionsCheckingInterval }, handler);
      for (const s of [httpServer, httpsServer]) {
        s.headersTimeout = headersTimeout;
        s.requestTimeout = requestTimeout;
        s.keepAliveTimeout = 5_000;
        guardServer(s);
      }
      return httpsServer;
    },
  });
  await app.ready();
  appLog = app.log;
  onRedisError = (error, context) => {
    metrics.busErrors.inc();
    // A dropped publish is only counted: during an outage there is one per message.
    if (context !== "publish") app.log.warn({ err: error, context }, "redis error");
  };
  // One window on the event stream for both realtime gateways: a message is read once per node.
  const tail = new StreamTail(store);
  // One set of socket caps for both endpoints: they share the process's file descriptors.
  const limits = new ConnectionLimits(config.realtimeMaxSockets, config.realtimeMaxSocketsPerUser);
  const realtime = attachRealtime({
    servers: [httpServer, httpsServer], bus, store, tokens, chat, log: app.log, now, tail, limits,
    eventRetentionMs: config.eventRetentionHours * 3_600_000, options: options.realtime,
  });
  // Azure's browser SDK realtime (Trouter subset) on the same listeners; its HTTP routes are in the app.
  const trouter = attachTrouter({
    servers: [httpServer, httpsServer], bus, store, tokens, chat, log: app.log, now, tail, limits,
    eventRetentionMs: config.eventRetentionHours * 3_600_000, accessKey: keyBytes, options: options.realtime, trouterOptions: options.trouter,
  });
  realtimeConnections = () => realtime.connectionCount() + trouter.connectionCount();
  const connections = new ListenerConnections([httpServer, httpsServer]);
  const httpsPort = await listen(httpsServer, config.httpsPort, config.host);
  const httpPort = await listen(httpServer, config.port, config.host);
  accepting = true;
  events.start();

  const housekeeping = setInterval(() => {
    chat.runHousekeeping().catch((error) => app.log.error({ err: error }, "housekeeping failed"));
  }, config.housekeepingSeconds * 1000);
  housekeeping.unref();

  const publicHost = ["127.0.0.1", "0.0.0.0", "::", "::1", "localhost"].includes(config.host) ? "localhost" : config.host;
  const endpoint = `https://${publicHost}:${httpsPort}/`;
  let closing: Promise<void> | undefined;
  return {
    config: { ...config, port: httpPort, httpsPort },
    endpoint,
    httpUrl: `http://${publicHost}:${httpPort}/`,
    httpsUrl: endpoint,
    connectionString: `endpoint=${endpoint};accesskey=${accessKey}`,
    accessKey,
    accessKeySource,
    accessKeyPath,
    resourceId,
    certPath: tls.certPath,
    certGenerated: tls.generated,
    app, metrics, store, bus, chat, identity, tokens, eventSubscriptions, events,
    close() {
      closing ??= (async () => {
        accepting = false;
        // Deliveries in flight are aborted (re-delivered from the cursor by whichever node delivers next).
        await events.close();
        clearInterval(housekeeping);
        // Stop accepting first (a client's reconnect is refused, not served mid-shutdown). We listen ourselves
        // (two servers share the app), so we close both; close() alone would wait for every connection to end.
        const closed = [httpServer, httpsServer].map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
        // Realtime sockets get their close handshake while requests in flight finish, all within DRAIN_MS.
        const deadline = new Promise<void>((resolve) => setTimeout(resolve, DRAIN_MS).unref());
        await Promise.all([
          Promise.race([realtime.close(), deadline]),
          Promise.race([trouter.close(), deadline]),
          connections.drained(DRAIN_MS),
        ]);
        // What is left has no request in flight: idle keep-alive connections, connections that never sent a
        // request (browser preconnects, TLS handshakes), realtime sockets whose clients ignore the close frame.
        await connections.closeAll(WRITE_GRACE_MS);
        await app.close();
        await Promise.all(closed);
        await bus.close();
        await rateCounter?.close?.();
        await store.close();
      })();
      return closing;
    },
  };
}
