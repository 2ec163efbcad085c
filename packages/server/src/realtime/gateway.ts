// The realtime gateway: the Natter WebSocket endpoint on both listeners. Owns sessions (hello, token checks,
// expiry and revocation), heartbeats, backpressure and gap-free resume; protocol in docs/realtime-protocol.md.
//
// Delivery design: the Store's event stream is the only source of durable events. A Bus message about a
// durable event is only a wake-up: the session then reads `readEvents(user, cursor)` and sends what it finds,
// in position order, advancing its cursor. An event is readable only once nothing can appear below it (Store
// guarantee), so a read never skips an event that commits later below the cursor, and the same code path serves replay,
// live delivery and catch-up after a lost Bus message. Reads are coalesced (one in flight per socket) and
// flow-controlled (no read while the socket's send buffer is over its limit). Live reads go through the node's
// StreamTail (stream-tail.ts): one Store read per new event per node, not one per recipient socket, and the
// wake-ups of a commit are served as a batch (Gateway.scheduleWake); a socket behind the tail's window reads
// the Store itself. Ephemeral events (typing) are sent straight from the Bus
// and dropped for a socket whose buffer is full.
//
// Abuse bounds: every write (events, pongs, pings) respects the socket's send-buffer limit, and a buffer that
// stays over it closes the socket (4008); before the session is open a socket is sent nothing but the hello
// exchange and its frames are limited to maxHelloBytes; a token needs a chat scope (4403, as REST's 403); the
// node and each user have a cap on open sockets (ConnectionLimits, shared with the Trouter endpoint).
import type http from "node:http";
import type https from "node:https";
import type { Duplex } from "node:stream";
import { performance } from "node:perf_hooks";
import type { FastifyBaseLogger } from "fastify";
import { WebSocketServer } from "ws";
import type { WebSocket, RawData } from "ws";
import type { Bus, BusMessage } from "../bus/bus.js";
import { BUS_RESUMED, CONTROL_TOPIC, userTopic } from "../bus/bus.js";
import type { Store, StreamEvent } from "../store/store.js";
import type { TokenService } from "../auth/tokens.js";
import type { ChatService } from "../domain/chat-service.js";
import type { Caller } from "../domain/caller.js";
import { hasCapability } from "../domain/caller.js";
import { ChatError } from "../domain/errors.js";
import type { ChatEvent, ChatEventEnvelope } from "../domain/events.js";
import { CHAT_EVENT } from "../domain/events.js";
import { TOKENS_REVOKED } from "../domain/identity-service.js";
import { isMentionedIn, toWireEvent } from "./event-payloads.js";
import { modelFromRawId } from "../domain/identifiers.js";
import { StreamTail } from "./stream-tail.js";
import type { ClientFrame, ErrorFrame, ReadyFrame, RealtimeOptions, ServerFrame } from "./protocol.js";
import { CLOSE, DEFAULT_REALTIME_OPTIONS, MAX_PING_ID_CHARS, PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from "./protocol.js";
import type { ConnectionSlot } from "./connection-limits.js";
import { ConnectionLimits } from "./connection-limits.js";

export interface RealtimeDeps {
  servers: (http.Server | https.Server)[];
  bus: Bus;
  store: Store;
  tokens: TokenService;
  chat: ChatService;
  log: FastifyBaseLogger;
  /** How long missed events can be resumed (ms). */
  eventRetentionMs: number;
  now: () => number;
  /** Tuning (tests use short heartbeats and small buffers); defaults in protocol.ts. */
  options?: Partial<RealtimeOptions>;
  /** The node's window on the event stream, shared with the Trouter gateway (one of its own when absent). */
  tail?: StreamTail;
  /** The node's socket caps, shared with the Trouter gateway (defaults of their own when absent). */
  limits?: ConnectionLimits;
}

export interface RealtimeStats {
  connections: number;
  /** Sockets closed with 4008 since start. */
  slowConsumerCloses: number;
  /** Sockets terminated for missing heartbeats since start. */
  heartbeatTimeouts: number;
}

export interface RealtimeGateway {
  /** Open sockets, for metrics. */
  connectionCount(): number;
  stats(): RealtimeStats;
  /** Closes every socket (with a "going away" code) and stops listening for upgrades. */
  close(): Promise<void>;
}

const MAX_TIMER_MS = 2 ** 31 - 1;
/** Sockets served per event-loop turn (see Gateway.scheduleWake). */
const WAKE_SLICE = 64;
const DRAIN_POLL_MS = 20;
/** How long a socket may take to complete the close handshake at shutdown before it is destroyed. */
const SHUTDOWN_GRACE_MS = 2_000;

interface Authenticated {
  caller: Caller;
  token: string;
}

export function attachRealtime(deps: RealtimeDeps): RealtimeGateway {
  return new Gateway(deps);
}

class Gateway implements RealtimeGateway {
  readonly options: RealtimeOptions;
  readonly wss: WebSocketServer;
  readonly sessions = new Set<Session>();
  readonly counters = { slowConsumerCloses: 0, heartbeatTimeouts: 0 };
  readonly tail: StreamTail;
  readonly limits: ConnectionLimits;
  private closing = false;
  private readonly control: Promise<(() => Promise<void>) | undefined>;
  private readonly listeners = new Map<http.Server | https.Server, (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void>();

  constructor(readonly deps: RealtimeDeps) {
    this.options = { ...DEFAULT_REALTIME_OPTIONS, ...deps.options };
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.options.maxPayloadBytes, perMessageDeflate: false });
    this.tail = deps.tail ?? new StreamTail(deps.store);
    this.limits = deps.limits ?? new ConnectionLimits();
    for (const server of deps.servers) {
      const listener = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(server, req, socket, head);
      this.listeners.set(server, listener);
      server.on("upgrade", listener);
    }
    this.control = deps.bus
      .subscribe(CONTROL_TOPIC, (_topic, message) => this.onControl(message))
      .catch((error: unknown) => {
        deps.log.error({ err: error }, "realtime: cannot subscribe to the control topic");
        return undefined;
      });
  }

  connectionCount(): number {
    return this.sessions.size;
  }

  stats(): RealtimeStats {
    return { connections: this.sessions.size, ...this.counters };
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const [server, listener] of this.listeners) server.off("upgrade", listener);
    const closed = [...this.sessions].map((s) => s.close(CLOSE.goingAway, "server shutting down", SHUTDOWN_GRACE_MS));
    await Promise.all(closed);
    const unsubscribe = await this.control;
    await unsubscribe?.().catch(() => undefined);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private upgrade(server: http.Server | https.Server, req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://localhost");
    } catch {
      return;
    }
    if (url.pathname !== this.options.path) {
      // Other paths belong to other endpoints (Trouter); when nobody else listens, answer rather than hang.
      if (server.listenerCount("upgrade") <= 1) reject(socket, 404, "NotFound", "No WebSocket endpoint at this path.");
      return;
    }
    socket.on("error", () => socket.destroy());
    if (this.closing) return reject(socket, 503, "ServiceUnavailable", "The server is shutting down.");
    const token = url.searchParams.get("access_token");
    const since = parseSince(url.searchParams.get("since"));
    if (since === null) return reject(socket, 400, "BadRequest", "since must be a non-negative integer.");
    // Counted from here until the socket closes, authenticated or not: a full node refuses before any work.
    const slot = this.limits.reserveFor(socket);
    if (!slot) return reject(socket, 503, "ServiceUnavailable", "This node has reached its limit of realtime connections.");
    const auth: Promise<Authenticated | undefined> = token ? this.deps.tokens.verify(token).then((caller) => ({ caller, token })) : Promise.resolve(undefined);
    auth.then(
      (authenticated) => {
        if (this.closing) return reject(socket, 503, "ServiceUnavailable", "The server is shutting down.");
        // Early refusal when the URL names the user; the count itself is taken at hello (Session.start).
        if (authenticated && !this.limits.userHasRoom(authenticated.caller.userId)) {
          return reject(socket, 429, "TooManyRequests", "This user has reached the limit of realtime connections.");
        }
        this.wss.handleUpgrade(req, socket, head, (ws) => {
          if (this.closing) {
            ws.close(CLOSE.goingAway, "server shutting down");
            return;
          }
          const session = new Session(this, ws, slot, authenticated, since);
          this.sessions.add(session);
        });
      },
      (error: unknown) => {
        if (error instanceof ChatError && error.status === 401) return reject(socket, 401, error.code, error.message);
        this.deps.log.warn({ err: error }, "realtime: token verification failed");
        reject(socket, 503, "ServiceUnavailable", "The server cannot verify tokens right now.");
      },
    );
  }

  private onControl(message: BusMessage): void {
    if (message.type !== TOKENS_REVOKED) return;
    const userId = (message.data as { userId?: unknown } | null)?.userId;
    if (typeof userId !== "string") return;
    this.deps.tokens.forgetUser(userId);
    for (const session of this.sessions) if (session.userId === userId) session.recheckToken();
  }

  removed(session: Session): void {
    this.sessions.delete(session);
  }

  /**
   * Wakes a session for a new durable event. The wake-ups of one commit are served together: the StreamTail
   * reads the new events once, then each caught-up socket is sent its frames synchronously (wakeLive), at most
   * WAKE_SLICE sockets per event-loop turn so that HTTP requests, commits and fsync completions are not held
   * behind a whole 250-socket fan-out.
   */
  scheduleWake(session: Session, position: number): void {
    this.wakeTarget = Math.max(this.wakeTarget, position);
    if (this.wakeQueue.has(session)) return;
    this.wakeQueue.add(session);
    if (!this.wakesScheduled) {
      this.wakesScheduled = true;
      setImmediate(this.runWakes);
    }
  }

  private readonly wakeQueue = new Set<Session>();
  private wakesScheduled = false;
  /** The highest position the queued wake-ups announced: the StreamTail reads up to it once for all of them. */
  private wakeTarget = 0;
  private readonly runWakes = () => {
    const target = this.wakeTarget;
    if (!this.tail.reaches(target)) {
      // One read for the whole batch; if it fails, each session's own read loop reports it.
      void this.tail.reach(target).catch(() => undefined).then(() => this.serveWakes(target));
      return;
    }
    this.serveWakes(target);
  };
  private serveWakes(target: number): void {
    let n = 0;
    for (const session of this.wakeQueue) {
      if (n++ === WAKE_SLICE) break;
      this.wakeQueue.delete(session);
      session.wakeLive(target);
    }
    if (this.wakeQueue.size > 0) setImmediate(this.runWakes);
    else this.wakesScheduled = false;
  }
}

/** Answers an upgrade request with an HTTP error (ACS error body) and closes the socket. */
export function reject(socket: Duplex, status: number, code: string, message: string): void {
  if (socket.destroyed) return;
  const body = JSON.stringify({ error: { code, message } });
  const reason = { 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests", 503: "Service Unavailable" }[status] ?? "Error";
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  setTimeout(() => socket.destroy(), 1_000).unref();
}

/**
 * The recipient placeholder of shared frames. It occurs exactly once in a serialized frame: it holds control
 * characters, which identifiers may not (identifiers.ts), and inside any JSON string its quotes are escaped.
 */
const RECIPIENT_SLOT_JSON = JSON.stringify(modelFromRawId("8:acs:\u0001natter-recipient\u0001"));
const RECIPIENT_SLOT = (JSON.parse(RECIPIENT_SLOT_JSON) as { rawId: string }).rawId;
/** Event frames serialized once for all recipients: the frame's JSON split around the recipient's identifier. */
const frameTemplates = new WeakMap<StreamEvent, string[]>();

/**
 * The event frame of a stored event for one recipient (`recipientJson`: its identifier model as JSON). A
 * message to 250 sockets is serialized once (the StreamTail hands every socket the same record), and each
 * socket only splices in its own `recipient`, the one per-recipient field.
 */
function eventFrame(record: StreamEvent, recipientJson: string, recipient: string): string {
  const payload = record.payload as ChatEvent;
  // A mentioned recipient's frame also says so (rare: serialized for that recipient alone).
  if (isMentionedIn(payload, recipient)) {
    return JSON.stringify({ type: "event", position: record.position, ...toWireEvent({ ...payload, position: record.position }, recipient) });
  }
  let parts = frameTemplates.get(record);
  if (!parts) {
    const event = { ...(record.payload as ChatEvent), position: record.position };
    const frame: ServerFrame = { type: "event", position: record.position, ...toWireEvent(event, RECIPIENT_SLOT) };
    parts = JSON.stringify(frame).split(RECIPIENT_SLOT_JSON);
    frameTemplates.set(record, parts);
  }
  return parts[0] + recipientJson + parts[1];
}


const FORBIDDEN_MESSAGE = "The access token's scopes do not allow chat (it needs chat, chat.join or chat.join.limited).";

/** A ping id the server will echo: absent, a finite number, or a short string. */
function validPingId(id: unknown): boolean {
  return id === undefined || (typeof id === "number" && Number.isFinite(id)) || (typeof id === "string" && id.length <= MAX_PING_ID_CHARS);
}

/** undefined: absent; null: malformed. */
function parseSince(value: string | null | undefined): number | undefined | null {
  if (value === null || value === undefined || value === "") return undefined;
  return /^\d{1,15}$/.test(value) ? Number(value) : null;
}

function rawLength(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return data instanceof ArrayBuffer ? data.byteLength : data.length;
}

/** The `exp` claim of a token already verified by TokenService (epoch ms), if any. */
function expiryOf(token: string): number | undefined {
  try {
    const exp = (JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as { exp?: unknown }).exp;
    return typeof exp === "number" ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

type Phase = "hello" | "starting" | "open" | "closed";

/** One WebSocket: its user, its stream cursor and its timers. */
class Session {
  userId?: string;
  private phase: Phase = "hello";
  private token?: string;
  /** Last durable position sent (or the starting point). */
  private cursor = 0;
  private pulling = false;
  private pullAgain = false;
  /** The highest durable position a Bus wake-up announced (the tail must reach it before serving). */
  private wanted?: number;
  /** Set while the send buffer is over the limit with work waiting. */
  private stalledSince?: number;
  private drainTimer?: NodeJS.Timeout;
  private helloTimer?: NodeJS.Timeout;
  private heartbeatTimer?: NodeJS.Timeout;
  private expiryTimer?: NodeJS.Timeout;
  private lastSeen = performance.now();
  /** The user's identifier model as JSON, for eventFrame (set with userId). */
  private recipientJson?: string;
  private unsubscribe?: Promise<(() => Promise<void>) | undefined>;
  private closedPromise: Promise<void>;

  constructor(
    private readonly gw: Gateway,
    private readonly ws: WebSocket,
    private readonly slot: ConnectionSlot,
    private readonly preAuth: Authenticated | undefined,
    private readonly querySince: number | undefined,
  ) {
    this.closedPromise = new Promise((resolve) => ws.once("close", () => resolve()));
    ws.on("error", (error) => {
      // Oversized or invalid frames: ws closes the socket (1009/1002) itself; never the process.
      this.gw.deps.log.debug({ err: error }, "realtime: socket error");
    });
    ws.on("close", () => this.cleanup());
    ws.on("message", (data, isBinary) => this.onMessage(data, isBinary));
    this.helloTimer = setTimeout(() => this.fail(CLOSE.protocolError, "BadRequest", "No hello frame in time."), gw.options.helloTimeoutMs);
    this.heartbeatTimer = setInterval(() => this.heartbeat(), gw.options.heartbeatIntervalMs);
  }

  /** Starts the close handshake; ws destroys the socket if the peer does not answer within 30 s (or `graceMs`). */
  close(code: number, reason: string, graceMs?: number): Promise<void> {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) {
      this.ws.close(code, reason);
      if (graceMs !== undefined) setTimeout(() => this.ws.terminate(), graceMs).unref();
    } else if (this.ws.readyState === this.ws.CLOSED) {
      this.cleanup();
    }
    return this.closedPromise;
  }

  /** After a revocation: closes the socket unless its token is still valid. */
  recheckToken(): void {
    const token = this.token ?? this.preAuth?.token;
    if (!token || this.phase === "closed") return;
    this.gw.deps.tokens.verify(token).then(
      () => undefined,
      (error: unknown) => {
        if (error instanceof ChatError && error.status === 401) this.fail(CLOSE.unauthorized, "Unauthorized", error.message);
      },
    );
  }

  private fail(code: number, errorCode: ErrorFrame["code"], message: string): void {
    if (this.phase === "closed") return;
    this.send({ type: "error", code: errorCode, message });
    void this.close(code, message.slice(0, 120));
    this.phase = "closed";
  }

  private cleanup(): void {
    this.phase = "closed";
    clearTimeout(this.helloTimer);
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.expiryTimer);
    clearTimeout(this.drainTimer);
    this.slot.release();
    this.gw.removed(this);
    const unsubscribe = this.unsubscribe;
    this.unsubscribe = undefined;
    void unsubscribe?.then((u) => u?.()).catch(() => undefined);
  }

  /** A getter, so that checks after an await are not narrowed away by the compiler. */
  private get closed(): boolean {
    return this.phase === "closed";
  }

  /**
   * Writes one control frame (ready, pong, ping, error), never past the send-buffer limit: over it the frame is
   * dropped and the socket counts as stalled (closed with 4008 if the buffer does not drain in slowConsumerMs).
   * A client that floods pings without reading therefore holds at most the limit, not its pongs.
   */
  private send(frame: ServerFrame): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (this.overLimit()) {
      if (!this.closed) this.stalled();
      return;
    }
    this.ws.send(JSON.stringify(frame));
  }

  private overLimit(): boolean {
    return this.ws.bufferedAmount > this.gw.options.maxBufferedBytes;
  }

  // ---- client frames ----

  private onMessage(data: RawData, isBinary: boolean): void {
    this.lastSeen = performance.now();
    if (this.phase === "closed") return;
    if (isBinary) return this.fail(CLOSE.protocolError, "BadRequest", "Frames are JSON text.");
    if (this.phase !== "open" && rawLength(data) > this.gw.options.maxHelloBytes) {
      return this.fail(CLOSE.tooBig, "BadRequest", `Frames before ready are limited to ${this.gw.options.maxHelloBytes} bytes.`);
    }
    let frame: ClientFrame;
    try {
      frame = JSON.parse(data.toString()) as ClientFrame;
    } catch {
      return this.fail(CLOSE.protocolError, "BadRequest", "A frame is not valid JSON.");
    }
    if (typeof frame !== "object" || frame === null || typeof frame.type !== "string") {
      return this.fail(CLOSE.protocolError, "BadRequest", "A frame must be an object with a type.");
    }
    switch (frame.type) {
      case "hello":
        if (this.phase !== "hello") return this.fail(CLOSE.protocolError, "BadRequest", "hello was already received.");
        clearTimeout(this.helloTimer);
        this.phase = "starting";
        void this.start(frame);
        return;
      case "auth":
        if (this.phase !== "open") return this.fail(CLOSE.protocolError, "BadRequest", "auth is only valid after ready.");
        void this.reauthenticate(frame.token);
        return;
      case "ping":
        // Nothing but the hello exchange before the session is open: an unauthenticated socket gets no pong.
        if (this.phase !== "open") return;
        if (!validPingId(frame.id)) {
          return this.fail(CLOSE.protocolError, "BadRequest", `A ping id must be a finite number or a string of at most ${MAX_PING_ID_CHARS} characters.`);
        }
        this.send(frame.id === undefined ? { type: "pong" } : { type: "pong", id: frame.id });
        return;
      case "pong":
        return;
      default:
        return this.fail(CLOSE.protocolError, "BadRequest", `Unknown frame type '${String((frame as { type: unknown }).type).slice(0, 40)}'.`);
    }
  }

  private async start(hello: ClientFrame & { type: "hello" }): Promise<void> {
    const { deps, options } = this.gw;
    if (!SUPPORTED_PROTOCOL_VERSIONS.includes(hello.protocol)) {
      return this.fail(CLOSE.protocolError, "UnsupportedProtocolVersion", `Supported protocol versions: ${SUPPORTED_PROTOCOL_VERSIONS.join(", ")}.`);
    }
    if (hello.token !== undefined && typeof hello.token !== "string") return this.fail(CLOSE.protocolError, "BadRequest", "token must be a string.");
    const since = hello.since === undefined ? this.querySince : Number.isSafeInteger(hello.since) && hello.since >= 0 ? hello.since : null;
    if (since === null) return this.fail(CLOSE.protocolError, "BadRequest", "since must be a non-negative integer.");
    let auth = this.preAuth;
    if (hello.token !== undefined) {
      try {
        auth = { caller: await deps.tokens.verify(hello.token), token: hello.token };
      } catch (error) {
        return this.authFailed(error);
      }
    }
    if (!auth) return this.fail(CLOSE.unauthorized, "Unauthorized", "An access token is required.");
    if (this.closed) return;
    if (!hasCapability(auth.caller, "participate")) return this.fail(CLOSE.forbidden, "Forbidden", FORBIDDEN_MESSAGE);
    if (!this.slot.bindUser(auth.caller.userId)) {
      return this.fail(CLOSE.tooManyConnections, "TooManyConnections", `This user has reached the limit of ${this.gw.limits.maxSocketsPerUser} realtime connections.`);
    }
    this.userId = auth.caller.userId;
    this.recipientJson = JSON.stringify(modelFromRawId(this.userId));
    this.token = auth.token;
    this.armExpiry();
    try {
      // Subscribe first: anything committed from now on either wakes us or is found by the first read.
      this.unsubscribe = deps.bus.subscribe(userTopic(this.userId), (_topic, message) => this.onBus(message));
      await this.unsubscribe;
      const head = await deps.store.headPosition();
      const resumed = since !== undefined && (await this.resumable(since, head));
      const position = resumed ? since : head;
      if (this.closed) return;
      this.cursor = position;
      const ready: ReadyFrame = {
        type: "ready", protocol: PROTOCOL_VERSION, userId: this.userId, position, resumed,
        heartbeat: { intervalMs: options.heartbeatIntervalMs, timeoutMs: options.heartbeatTimeoutMs },
        retentionMs: deps.eventRetentionMs, maxFrameBytes: options.maxPayloadBytes,
      };
      this.send(ready);
      if (since !== undefined && !resumed) this.send({ type: "resyncNeeded", since, position, reason: "beyondRetention" });
      this.phase = "open";
      this.wake();
    } catch (error) {
      deps.log.error({ err: error }, "realtime: session start failed");
      this.fail(CLOSE.internalError, "InternalError", "The session could not start.");
    }
  }

  private authFailed(error: unknown): void {
    if (error instanceof ChatError && error.status === 401) return this.fail(CLOSE.unauthorized, "Unauthorized", error.message);
    this.gw.deps.log.warn({ err: error }, "realtime: token verification failed");
    this.fail(CLOSE.internalError, "InternalError", "The token could not be verified.");
  }

  private async reauthenticate(token: unknown): Promise<void> {
    if (typeof token !== "string") return this.fail(CLOSE.protocolError, "BadRequest", "token must be a string.");
    let caller: Caller;
    try {
      caller = await this.gw.deps.tokens.verify(token);
    } catch (error) {
      return this.authFailed(error);
    }
    if (this.closed) return;
    if (caller.userId !== this.userId) return this.fail(CLOSE.unauthorized, "Unauthorized", "The token is for another user.");
    if (!hasCapability(caller, "participate")) return this.fail(CLOSE.forbidden, "Forbidden", FORBIDDEN_MESSAGE);
    this.token = token;
    this.armExpiry();
  }

  private armExpiry(): void {
    clearTimeout(this.expiryTimer);
    const exp = this.token ? expiryOf(this.token) : undefined;
    if (exp === undefined) return;
    const fire = () => {
      const left = exp - this.gw.deps.now();
      if (left > 0) {
        this.expiryTimer = setTimeout(fire, Math.min(left, MAX_TIMER_MS));
        return;
      }
      this.fail(CLOSE.unauthorized, "Unauthorized", "The access token has expired.");
    };
    fire();
  }

  /**
   * True when every event after `since` is still in the Store. Not when `since` is beyond the head (a position
   * from another deployment, or from before a restore). Yes when `since` is at or above the retention marker:
   * retention never deleted anything after it (this covers `since = 0` on a stream that was never purged).
   * Below the marker, only if the user's event at `since` itself is still there (retention deletes oldest
   * first, so nothing after it went either); otherwise the client gets resyncNeeded.
   */
  private async resumable(since: number, head: number): Promise<boolean> {
    if (since > head) return false;
    const { store } = this.gw.deps;
    if (since >= (await store.purgedThrough())) return true;
    if (since === 0) return false;
    const [first] = await store.readEvents(this.userId!, since - 1, 1);
    return first?.position === since;
  }

  // ---- delivery ----

  private onBus(message: BusMessage): void {
    if (message.type === BUS_RESUMED) return this.wake(); // wake-ups may have been lost: read the Store again
    if (message.type !== CHAT_EVENT || this.phase === "closed") return;
    const { event } = message.data as ChatEventEnvelope;
    if (event.position !== undefined) {
      if (event.position > this.cursor) {
        this.wanted = Math.max(this.wanted ?? 0, event.position);
        this.gw.scheduleWake(this, event.position);
      }
      return;
    }
    // Ephemeral: straight through, or dropped when the socket is backed up.
    if (this.phase !== "open") return;
    if (this.overLimit()) return this.stalled();
    this.send({ type: "event", ...toWireEvent(event, this.userId!) });
  }

  /**
   * A wake-up for new durable events up to `target`, which the StreamTail has read: a socket that is caught up
   * and not backed up is sent its frames from the tail right here; any other takes its read loop (wake).
   */
  wakeLive(target: number): void {
    if (this.phase !== "open") return;
    if (!this.pulling && this.stalledSince === undefined && (this.wanted ?? 0) <= target && !this.overLimit()) {
      const wanted = this.wanted;
      const live = this.gw.tail.peek(this.userId!, this.cursor, wanted ?? 0);
      if (live) {
        this.wanted = undefined;
        if (this.sendEvents(live.events)) {
          this.cursor = Math.max(this.cursor, live.upTo);
          return;
        }
        // Stopped at the buffer limit: the read loop stalls, then goes on from the cursor.
        this.wanted = Math.max(this.wanted ?? 0, wanted ?? 0) || undefined;
      }
    }
    this.wake();
  }

  /** Reads and sends every stored event after the cursor; one read loop at a time per socket. */
  private wake(): void {
    if (this.phase !== "open") return;
    this.pullAgain = true;
    if (this.pulling) return;
    this.pulling = true;
    void this.pull();
  }

  private async pull(): Promise<void> {
    const { log } = this.gw.deps;
    const pageSize = this.gw.options.replayPageSize;
    try {
      // `pulling` is cleared in the same synchronous step as the last `pullAgain` check: no wake-up is lost.
      while (this.pullAgain && this.phase === "open") {
        this.pullAgain = false;
        for (;;) {
          if (this.overLimit()) {
            this.pullAgain = true;
            this.stalled();
            return;
          }
          const wanted = this.wanted;
          this.wanted = undefined;
          // From the tail's window, or a Store page when the socket is behind it (replay).
          const batch = await this.gw.tail.read(this.userId!, this.cursor, wanted, pageSize);
          if (this.closed) return;
          if (!this.sendEvents(batch.events)) {
            // Stopped at the buffer limit (or the socket is closing): read again from the cursor once it drains.
            this.wanted = Math.max(this.wanted ?? 0, wanted ?? 0) || undefined;
            this.pullAgain = true;
            if (this.overLimit()) this.stalled();
            return;
          }
          this.cursor = Math.max(this.cursor, batch.upTo);
          if (!batch.more) break;
        }
      }
    } catch (error) {
      log.error({ err: error }, "realtime: reading events failed");
      this.fail(CLOSE.internalError, "InternalError", "Events could not be read; reconnect and resume.");
    } finally {
      this.pulling = false;
    }
  }

  /** Sends the events after the cursor while the send buffer is under its limit; false if it stopped early. */
  private sendEvents(events: StreamEvent[]): boolean {
    for (const record of events) {
      if (record.position <= this.cursor) continue;
      if (this.ws.readyState !== this.ws.OPEN || this.overLimit()) return false;
      this.ws.send(eventFrame(record, this.recipientJson!, this.userId!));
      this.cursor = record.position;
    }
    return true;
  }

  /** The send buffer is over its limit (work or a control frame waiting): poll until it drains, or close after slowConsumerMs. */
  private stalled(): void {
    this.stalledSince ??= performance.now();
    if (this.drainTimer) return;
    const poll = () => {
      this.drainTimer = undefined;
      if (this.phase === "closed") return;
      if (!this.overLimit()) {
        this.stalledSince = undefined;
        if (this.pullAgain) this.wake();
        return;
      }
      if (performance.now() - this.stalledSince! >= this.gw.options.slowConsumerMs) {
        this.gw.counters.slowConsumerCloses++;
        this.gw.deps.log.info({ userId: this.userId, buffered: this.ws.bufferedAmount }, "realtime: closing a slow consumer");
        this.fail(CLOSE.slowConsumer, "SlowConsumer", "The client reads too slowly; reconnect and resume.");
        return;
      }
      this.drainTimer = setTimeout(poll, DRAIN_POLL_MS);
    };
    this.drainTimer = setTimeout(poll, DRAIN_POLL_MS);
  }

  // ---- heartbeats ----

  private heartbeat(): void {
    if (this.phase === "closed") return;
    if (performance.now() - this.lastSeen > this.gw.options.heartbeatTimeoutMs) {
      this.gw.counters.heartbeatTimeouts++;
      this.phase = "closed";
      this.ws.terminate();
      return;
    }
    if (this.phase !== "open") return;
    this.send({ type: "ping" });
    // Bounds how long a revocation lost on the Bus can go unnoticed.
    this.recheckToken();
  }
}
