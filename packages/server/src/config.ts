// One typed, validated configuration from flags, NATTER_* environment variables and defaults.
// Nothing else in the server reads the environment.
import { parseArgs } from "node:util";
import { DEFAULT_MAX_SOCKETS, DEFAULT_MAX_SOCKETS_PER_USER } from "./realtime/connection-limits.js";
import { CHAT_EVENT_TYPES } from "./events/chat-event-grid.js";

export interface NatterConfig {
  host: string;
  /** HTTP port; 0 picks a free one. */
  port: number;
  /** HTTPS port; 0 picks a free one. */
  httpsPort: number;
  dataDir: string;
  /** Base64 access key; generated once into the data folder when absent. */
  accessKey?: string;
  tlsCert?: string;
  tlsKey?: string;
  store: "sqlite" | "postgres";
  databaseUrl?: string;
  /** PostgreSQL connections per node (pool size): enough to cover sends/s × round trips per send × round-trip time. */
  databasePoolSize: number;
  bus: "memory" | "redis";
  redisUrl?: string;
  /** With --bus redis: "node" = one bus message per event per node with recipients; "topic" = one per recipient (earlier versions; for comparison). */
  busFanOut: "node" | "topic";
  limits: "none" | "acs";
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** Log lines: "json" (one JSON object a line), "pretty" (short human lines), "auto" = pretty when stdout is a terminal. */
  logFormat: "auto" | "json" | "pretty";
  /** Largest request body accepted, in bytes. */
  bodyLimit: number;
  /** How long durable events stay available for realtime resume (hours). */
  eventRetentionHours: number;
  /** How often expired threads and old records are purged (seconds). */
  housekeepingSeconds: number;
  /** Demo sign-in endpoints: "auto" turns them on only when bound to a loopback address. */
  demoAuth: "on" | "off" | "auto";
  /** Seconds a client has to send the request headers before the connection is closed (slowloris guard). */
  headersTimeoutSeconds: number;
  /** Seconds a client has to send a whole request. */
  requestTimeoutSeconds: number;
  /**
   * Origins whose pages may call the API cross-origin (bearer and HMAC calls, no credentials): "*" for any,
   * or a list of exact origins ([] = none). The demo sign-in and /metrics never answer cross-origin.
   */
  corsOrigins: "*" | string[];
  /** Host names (besides localhost and IP addresses) the demo sign-in accepts in the Host header. */
  demoHosts: string[];
  /** GET /metrics: "on" serves it (behind metricsToken when set), "off" removes it. */
  metrics: "on" | "off";
  /** When set, GET /metrics requires `Authorization: Bearer <metricsToken>`. */
  metricsToken?: string;
  /** Open realtime sockets per node, both protocols, authenticated or not (upgrades beyond it get 503). */
  realtimeMaxSockets: number;
  /** Open realtime sockets per user per node, both protocols (429 at the upgrade, or close 4429 after hello). */
  realtimeMaxSocketsPerUser: number;
  /** Event subscriptions created (or updated) at start: --events-subscription, repeatable (docs/events.md). */
  eventsSubscriptions: EventsSubscriptionFlag[];
  /** First retry delay of an event delivery (seconds; doubles per attempt up to eventsRetryMaxSeconds). */
  eventsRetryMinSeconds: number;
  eventsRetryMaxSeconds: number;
}

/** One --events-subscription: name=url[,types=A,B][,schema=eventgrid|cloudevents][,secret=whsec_…]. */
export interface EventsSubscriptionFlag {
  name: string;
  url: string;
  types?: string[];
  schema?: string;
  secret?: string;
}

export class ConfigError extends Error {}

interface Option {
  flag: string;
  env: string;
  description: string;
  default?: string;
}

export const OPTIONS: Option[] = [
  { flag: "host", env: "NATTER_HOST", description: "address to listen on", default: "127.0.0.1" },
  { flag: "port", env: "NATTER_PORT", description: "HTTP port (0 = any free port)", default: "8080" },
  { flag: "https-port", env: "NATTER_HTTPS_PORT", description: "HTTPS port (0 = any free port)", default: "8443" },
  { flag: "data", env: "NATTER_DATA", description: "data folder (database, access key, certificate)", default: "./natter-data" },
  { flag: "access-key", env: "NATTER_ACCESS_KEY", description: "base64 access key (default: generated once into the data folder)" },
  { flag: "tls-cert", env: "NATTER_TLS_CERT", description: "PEM certificate file for HTTPS (default: self-signed, generated)" },
  { flag: "tls-key", env: "NATTER_TLS_KEY", description: "PEM private key file for HTTPS" },
  { flag: "store", env: "NATTER_STORE", description: "sqlite | postgres", default: "sqlite" },
  { flag: "database-url", env: "NATTER_DATABASE_URL", description: "postgres://… URL (with --store postgres)" },
  { flag: "database-pool-size", env: "NATTER_DATABASE_POOL_SIZE", description: "PostgreSQL connections per node; raise it when the database is far away (docs/scaling.md)", default: "20" },
  { flag: "bus", env: "NATTER_BUS", description: "memory | redis", default: "memory" },
  { flag: "redis-url", env: "NATTER_REDIS_URL", description: "redis://… URL (with --bus redis)" },
  { flag: "bus-fan-out", env: "NATTER_BUS_FAN_OUT", description: "node | topic: Redis messages per event, one per node with recipients or one per recipient (for comparison)", default: "node" },
  { flag: "limits", env: "NATTER_LIMITS", description: "none | acs (ACS rate limits, 429 + Retry-After)", default: "none" },
  { flag: "log-level", env: "NATTER_LOG_LEVEL", description: "fatal | error | warn | info | debug | trace | silent", default: "info" },
  { flag: "log-format", env: "NATTER_LOG_FORMAT", description: "auto | json | pretty (auto = pretty on a terminal, JSON otherwise)", default: "auto" },
  { flag: "body-limit", env: "NATTER_BODY_LIMIT", description: "largest request body in bytes", default: "1048576" },
  { flag: "event-retention-hours", env: "NATTER_EVENT_RETENTION_HOURS", description: "how long missed realtime events can be resumed", default: "24" },
  { flag: "demo-auth", env: "NATTER_DEMO_AUTH", description: "on | off | auto: demo sign-in for the web app (auto = on only on loopback)", default: "auto" },
  { flag: "housekeeping-seconds", env: "NATTER_HOUSEKEEPING_SECONDS", description: "interval of retention purges", default: "60" },
  { flag: "headers-timeout-seconds", env: "NATTER_HEADERS_TIMEOUT_SECONDS", description: "time a client has to send the request headers", default: "10" },
  { flag: "request-timeout-seconds", env: "NATTER_REQUEST_TIMEOUT_SECONDS", description: "time a client has to send a whole request", default: "30" },
  { flag: "cors-origins", env: "NATTER_CORS_ORIGINS", description: "* | none | comma-separated origins allowed to call the API from browsers (never the demo sign-in)", default: "*" },
  { flag: "demo-hosts", env: "NATTER_DEMO_HOSTS", description: "comma-separated host names the demo sign-in accepts besides localhost and IP addresses" },
  { flag: "metrics", env: "NATTER_METRICS", description: "on | off: Prometheus metrics at GET /metrics", default: "on" },
  { flag: "metrics-token", env: "NATTER_METRICS_TOKEN", description: "when set, GET /metrics requires Authorization: Bearer <token>" },
  { flag: "realtime-max-sockets", env: "NATTER_REALTIME_MAX_SOCKETS", description: "open realtime sockets per node, both protocols (beyond: 503)", default: String(DEFAULT_MAX_SOCKETS) },
  { flag: "events-subscription", env: "NATTER_EVENTS_SUBSCRIPTION", description: "name=url[,types=A,B][,schema=eventgrid|cloudevents][,secret=whsec_…]: an event subscription made at start (repeatable; in the variable, separate several with ;)" },
  { flag: "events-retry-min-seconds", env: "NATTER_EVENTS_RETRY_MIN_SECONDS", description: "first retry delay of a failed event delivery (doubles per attempt, with jitter)", default: "10" },
  { flag: "events-retry-max-seconds", env: "NATTER_EVENTS_RETRY_MAX_SECONDS", description: "longest retry delay of an event delivery", default: "3600" },
  { flag: "realtime-max-sockets-per-user", env: "NATTER_REALTIME_MAX_SOCKETS_PER_USER", description: "open realtime sockets per user per node (beyond: 429 / close 4429)", default: String(DEFAULT_MAX_SOCKETS_PER_USER) },
];

function port(value: string, name: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) throw new ConfigError(`--${name} must be a port number (0-65535), got '${value}'`);
  return Number(value);
}

function positive(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new ConfigError(`--${name} must be a positive number, got '${value}'`);
  return n;
}

function positiveInteger(value: string, name: string): number {
  if (!/^\d{1,9}$/.test(value) || Number(value) < 1) throw new ConfigError(`--${name} must be a positive integer, got '${value}'`);
  return Number(value);
}

function oneOf<T extends string>(value: string, allowed: readonly T[], name: string): T {
  if (!allowed.includes(value as T)) throw new ConfigError(`--${name} must be one of ${allowed.join(", ")}, got '${value}'`);
  return value as T;
}

/** "*", "none" (no origin) or a comma-separated list of origins (scheme://host[:port], no path). */
function corsOrigins(value: string): "*" | string[] {
  if (value.trim() === "*") return "*";
  if (value.trim() === "none") return [];
  return value.split(",").map((s) => s.trim()).filter(Boolean).map((origin) => {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      // reported below
    }
    if (!parsed || !/^https?:$/.test(parsed.protocol) || parsed.pathname !== "/" || parsed.search !== "" || parsed.hash !== "" || parsed.username !== "" || origin.includes("*")) {
      throw new ConfigError(`--cors-origins takes *, none or origins like https://app.example:8443 (no path), got '${origin}'`);
    }
    return parsed.origin;
  });
}

/** Comma-separated host names (no port, no scheme). */
function hostNames(value: string | undefined, name: string): string[] {
  if (value === undefined) return [];
  return value.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean).map((h) => {
    if (!/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/.test(h)) throw new ConfigError(`--${name} takes host names like chat.example.org (no port), got '${h}'`);
    return h;
  });
}

/**
 * --events-subscription values: name=url, then options after commas (types=A,B keeps its commas: a new option
 * starts only at ",types=", ",schema=" or ",secret="). Event types may omit "Microsoft.Communication.".
 */
function eventsSubscriptions(values: string[]): EventsSubscriptionFlag[] {
  const out: EventsSubscriptionFlag[] = [];
  for (const raw of values.map((v) => v.trim()).filter(Boolean)) {
    const fail = (why: string) => new ConfigError(`--events-subscription '${raw.slice(0, 200)}': ${why} (form: name=url[,types=A,B][,schema=eventgrid|cloudevents][,secret=whsec_…])`);
    const [head, ...options] = raw.split(/,(?=(?:types|schema|secret)=)/);
    const eq = head.indexOf("=");
    if (eq < 0) throw fail("expected name=url");
    const name = head.slice(0, eq).trim();
    const url = head.slice(eq + 1).trim();
    if (!/^[A-Za-z0-9-]{3,64}$/.test(name)) throw fail("the name must be 3 to 64 letters, digits or hyphens");
    if (out.some((s) => s.name === name)) throw fail(`the name ${name} is given twice`);
    let parsedUrl: URL | undefined;
    try {
      parsedUrl = new URL(url);
    } catch {
      // reported below
    }
    if (!parsedUrl || !/^https?:$/.test(parsedUrl.protocol)) throw fail("the url must be an http(s) URL");
    const sub: EventsSubscriptionFlag = { name, url: parsedUrl.href };
    for (const option of options) {
      const [key, ...rest] = option.split("=");
      const value = rest.join("=");
      if (key === "types") {
        sub.types = value.split(",").map((t) => t.trim()).filter(Boolean).map((t) => {
          const match = CHAT_EVENT_TYPES.find((k) => k.toLowerCase() === t.toLowerCase() || k.toLowerCase() === `microsoft.communication.${t.toLowerCase()}`);
          if (!match) throw fail(`'${t}' is not a chat event type`);
          return match;
        });
      } else if (key === "schema") {
        if (!["eventgrid", "cloudevents", "eventgridschema", "cloudeventschemav1_0"].includes(value.toLowerCase())) throw fail("schema must be eventgrid or cloudevents");
        sub.schema = value;
      } else {
        if (!/^whsec_[A-Za-z0-9+/]{22,}={0,2}$/.test(value)) throw fail("secret must be whsec_ followed by base64 of at least 16 bytes");
        sub.secret = value;
      }
    }
    out.push(sub);
  }
  return out;
}

/** Reads flags (highest priority), then environment, then defaults. Throws ConfigError on bad values. */
export function loadConfig(args: string[], env: Record<string, string | undefined>): NatterConfig {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: Object.fromEntries(OPTIONS.map((o) => [o.flag, { type: "string" as const, multiple: o.flag === "events-subscription" }])),
      allowPositionals: false,
      strict: true,
    });
  } catch (error) {
    throw new ConfigError(`${(error as Error).message.replace(/\. To specify a positional.*$/s, "")} (natter serve --help lists the options)`);
  }
  const { "events-subscription": subscriptionFlags, ...values } = parsed.values as Record<string, string | undefined> & { "events-subscription"?: string[] };
  const get = (flag: string): string | undefined => {
    const o = OPTIONS.find((x) => x.flag === flag)!;
    const v = values[flag] ?? env[o.env];
    return v === undefined || v === "" ? o.default : v;
  };
  const config: NatterConfig = {
    host: get("host")!,
    port: port(get("port")!, "port"),
    httpsPort: port(get("https-port")!, "https-port"),
    dataDir: get("data")!,
    accessKey: get("access-key"),
    tlsCert: get("tls-cert"),
    tlsKey: get("tls-key"),
    store: oneOf(get("store")!, ["sqlite", "postgres"] as const, "store"),
    databaseUrl: get("database-url"),
    databasePoolSize: positiveInteger(get("database-pool-size")!, "database-pool-size"),
    bus: oneOf(get("bus")!, ["memory", "redis"] as const, "bus"),
    redisUrl: get("redis-url"),
    busFanOut: oneOf(get("bus-fan-out")!, ["node", "topic"] as const, "bus-fan-out"),
    limits: oneOf(get("limits")!, ["none", "acs"] as const, "limits"),
    logLevel: oneOf(get("log-level")!, ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const, "log-level"),
    logFormat: oneOf(get("log-format")!, ["auto", "json", "pretty"] as const, "log-format"),
    bodyLimit: positive(get("body-limit")!, "body-limit"),
    eventRetentionHours: positive(get("event-retention-hours")!, "event-retention-hours"),
    housekeepingSeconds: positive(get("housekeeping-seconds")!, "housekeeping-seconds"),
    demoAuth: oneOf(get("demo-auth")!, ["on", "off", "auto"] as const, "demo-auth"),
    headersTimeoutSeconds: positive(get("headers-timeout-seconds")!, "headers-timeout-seconds"),
    requestTimeoutSeconds: positive(get("request-timeout-seconds")!, "request-timeout-seconds"),
    corsOrigins: corsOrigins(get("cors-origins")!),
    demoHosts: hostNames(get("demo-hosts"), "demo-hosts"),
    metrics: oneOf(get("metrics")!, ["on", "off"] as const, "metrics"),
    metricsToken: get("metrics-token"),
    realtimeMaxSockets: positiveInteger(get("realtime-max-sockets")!, "realtime-max-sockets"),
    realtimeMaxSocketsPerUser: positiveInteger(get("realtime-max-sockets-per-user")!, "realtime-max-sockets-per-user"),
    eventsSubscriptions: eventsSubscriptions(subscriptionFlags?.length ? subscriptionFlags : (env.NATTER_EVENTS_SUBSCRIPTION ?? "").split(";")),
    eventsRetryMinSeconds: positive(get("events-retry-min-seconds")!, "events-retry-min-seconds"),
    eventsRetryMaxSeconds: positive(get("events-retry-max-seconds")!, "events-retry-max-seconds"),
  };
  if (config.eventsRetryMinSeconds > config.eventsRetryMaxSeconds) throw new ConfigError("--events-retry-min-seconds must not exceed --events-retry-max-seconds");
  if (config.metricsToken !== undefined && config.metricsToken.length < 16) throw new ConfigError("--metrics-token must be at least 16 characters");
  if (config.metricsToken !== undefined && config.metrics === "off") throw new ConfigError("--metrics-token needs --metrics on");
  if (config.headersTimeoutSeconds > config.requestTimeoutSeconds) throw new ConfigError("--headers-timeout-seconds must not exceed --request-timeout-seconds");
  if (config.accessKey !== undefined && !isBase64Key(config.accessKey)) {
    throw new ConfigError("--access-key must be base64 of at least 16 bytes");
  }
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) throw new ConfigError("--tls-cert and --tls-key go together");
  if (config.store === "postgres" && !config.databaseUrl) throw new ConfigError("--store postgres needs --database-url (NATTER_DATABASE_URL)");
  if (config.bus === "redis" && !config.redisUrl) throw new ConfigError("--bus redis needs --redis-url (NATTER_REDIS_URL)");
  return config;
}

/** The data folder and certificate file for the small commands (cert, backup, restore): flag, then environment, then default. */
export function commandPaths(flags: { data?: string; tlsCert?: string }, env: Record<string, string | undefined>): { dataDir: string; tlsCert?: string } {
  const pick = (flag: string | undefined, name: string) => (flag !== undefined && flag !== "" ? flag : env[name] || undefined);
  return { dataDir: pick(flags.data, "NATTER_DATA") ?? OPTIONS.find((o) => o.flag === "data")!.default!, tlsCert: pick(flags.tlsCert, "NATTER_TLS_CERT") };
}

/** Whether demo sign-in is on: explicitly, or by default when nothing beyond this machine can reach it. */
export function demoAuthEnabled(config: Pick<NatterConfig, "demoAuth" | "host">): boolean {
  if (config.demoAuth !== "auto") return config.demoAuth === "on";
  return isLoopback(config.host);
}

/** Whether `host` is a loopback address or name (nothing beyond this machine can connect). */
export function isLoopback(host: string): boolean {
  return ["127.0.0.1", "::1", "localhost"].includes(host) || host.startsWith("127.");
}

function isBase64Key(value: string): boolean {
  return /^[A-Za-z0-9+/]+={0,2}$/.test(value) && Buffer.from(value, "base64").length >= 16;
}

/** The commands of the `natter` CLI, one line each (shown by `natter --help`). */
export const COMMANDS = [
  "natter serve [options]                 run the service (natter serve --help lists the options)",
  "natter cert [--data <folder>] [--pem]  print the absolute path of the HTTPS certificate (--pem: the certificate)",
  "natter key                             print a new random access key (base64, 32 bytes) to share between nodes",
  "natter backup <file> [--data <folder>] consistent copy of the live SQLite database (a new file, mode 0600)",
  "natter restore <file> [--data <folder>] put a backup in place as the database (the server must be stopped)",
  "natter events <command> [options]     manage event subscriptions of a running server (natter events --help)",
  "natter --version                       print the version",
];

export function usage(): string {
  const lines = OPTIONS.map((o) => `  --${o.flag.padEnd(29)} ${o.env.padEnd(36)} ${o.description}${o.default ? ` (default ${o.default})` : ""}`);
  return ["Usage:", ...COMMANDS.map((c) => `  ${c}`), "", "Options of natter serve (flag, environment variable, meaning):", ...lines].join("\n");
}
