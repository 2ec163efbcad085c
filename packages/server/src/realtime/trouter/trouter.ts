// The WebSocket half of the Trouter subset (routes.ts is the HTTP half): accepts socket.io 0.9 WebSockets
// at /socket.io/1/websocket/<sid> on both listeners, binds each to the user named by its signed session id,
// and pushes that user's chat events as Trouter notifications. Like a Natter session, a connection keeps a
// stream cursor and reads durable events from the Store (through the node's StreamTail), the Bus only wakes
// it, and BUS_RESUMED (a Redis outage may have lost wake-ups) makes it read again. Typing indicators come
// straight from the Bus.
//
// Resume. Trouter itself has none, but Azure's client reconnects with the same `epid` (its registration id),
// so the server keeps a durable cursor per (user, epid) in the Store: the position up to which the client
// acknowledged notifications (it answers each `3:::` request with a `3:::` response carrying its id). A new
// socket with that epid starts there, also after a restart or on another node, so nothing committed while the
// client was away is lost. Saves are throttled (cursorSaveIntervalMs) and flushed when the socket closes; a
// crash may replay the last interval's events, a graceful restart replays none. Beyond event retention (or
// beyond the head: a restore) the socket starts at the head, as without an epid.
// Keeps the client's timers happy (heartbeats, acks of `ping`/`user.activity`) so it never reconnects
// spuriously; closes sockets when the token expires or is revoked, and at shutdown.
//
// Abuse bounds: every write respects the socket's send-buffer limit (over it the socket is terminated;
// the client reconnects and resumes), acks are only sent for short ids, each heartbeat re-checks the user's
// token generation (a revocation whose Bus message was lost ends the socket within one heartbeat plus the
// token cache's 5 s), and the node's socket caps (ConnectionLimits) are checked before the WebSocket opens.
import type http from "node:http";
import type https from "node:https";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import type { RawData, WebSocket } from "ws";
import type { BusMessage } from "../../bus/bus.js";
import { BUS_RESUMED, CONTROL_TOPIC, userTopic } from "../../bus/bus.js";
import type { ChatEvent, ChatEventEnvelope } from "../../domain/events.js";
import { CHAT_EVENT, isAcsEvent } from "../../domain/events.js";
import { TOKENS_REVOKED } from "../../domain/identity-service.js";
import type { RealtimeDeps } from "../gateway.js";
import { reject } from "../gateway.js";
import { ConnectionLimits } from "../connection-limits.js";
import { ChatError } from "../../domain/errors.js";
import { REALTIME_PATH } from "../protocol.js";
import { StreamTail } from "../stream-tail.js";
import type { Store } from "../../store/store.js";
import type { StreamEvent } from "../../store/store.js";
import { toTrouterPayload } from "./payloads.js";
import type { Ticket, TrouterOptions } from "./protocol.js";
import { CONNECTION_TTL_SECONDS, DEFAULT_TROUTER_OPTIONS, FRAMES, MAX_ACK_ID_DIGITS, TROUTER_PATHS, TicketSigner, parseFrame } from "./protocol.js";

export interface TrouterDeps extends RealtimeDeps {
  /** The access key (session ids are signed with a key derived from it; see routes.ts). */
  accessKey: Uint8Array;
  /** Timers and buffer limit (tests shorten them); defaults in protocol.ts. */
  trouterOptions?: Partial<TrouterOptions>;
}

export interface TrouterGateway {
  /** Open Trouter sockets, for metrics. */
  connectionCount(): number;
  /** Disconnects every socket and stops listening for upgrades. */
  close(): Promise<void>;
}

const MAX_TIMER_MS = 2 ** 31 - 1;
const MAX_PAYLOAD_BYTES = 64 * 1024;
const SHUTDOWN_GRACE_MS = 2_000;
/** Events per Store read when a connection is behind the StreamTail's window. */
const READ_PAGE = 200;
/** Notifications awaiting the client's response, per socket; beyond it the oldest are forgotten (never acked). */
const MAX_UNACKED = 4096;
/** What an `epid` may look like (Azure's client sends a UUID); anything else gets no resume. */
const ENDPOINT_ID = /^[\w-]{1,64}$/;
/** Saved cursors kept per user (the most recently saved): a client inventing epids cannot grow the table. */
const MAX_CURSORS_PER_USER = 100;
/**
 * The cursor row that records where a user last asked for realtime (GET /chat/config/realTimeNotifications): not
 * a valid epid, so no client can name it. A new endpoint starts there when it was saved within the window.
 */
const REQUESTED_ENDPOINT = "~requested";
const REQUESTED_WINDOW_MS = 60_000;
/** Disconnect reason that makes the client fetch a fresh token before it reconnects. */
const UNAUTHORIZED = JSON.stringify({ reason: "unauthorized" });

export function attachTrouter(deps: TrouterDeps): TrouterGateway {
  return new Trouter(deps);
}

class Trouter implements TrouterGateway {
  readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD_BYTES, perMessageDeflate: false });
  readonly connections = new Set<Connection>();
  readonly signer: TicketSigner;
  readonly tail: StreamTail;
  readonly limits: ConnectionLimits;
  readonly options: TrouterOptions;
  /** The open socket of each resumable endpoint (`user\nepid`): a new socket of the endpoint replaces it. */
  readonly endpoints = new Map<string, Connection>();
  /** Final cursor saves in flight, per endpoint: a new socket of the endpoint reads its cursor after them. */
  readonly flushing = new Map<string, Promise<void>>();
  /** Open sockets whose acknowledged position moved since their last save: saved together, one transaction. */
  readonly dirty = new Set<Connection>();
  private saveTimer?: NodeJS.Timeout;
  private closing = false;
  private readonly listeners = new Map<http.Server | https.Server, (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void>();
  private readonly control: Promise<(() => Promise<void>) | undefined>;

  constructor(readonly deps: TrouterDeps) {
    this.signer = new TicketSigner(deps.accessKey);
    this.tail = deps.tail ?? new StreamTail(deps.store);
    this.limits = deps.limits ?? new ConnectionLimits();
    this.options = { ...DEFAULT_TROUTER_OPTIONS, ...deps.trouterOptions };
    for (const server of deps.servers) {
      const listener = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head);
      this.listeners.set(server, listener);
      server.on("upgrade", listener);
    }
    this.control = deps.bus
      .subscribe(CONTROL_TOPIC, (_topic, message) => {
        if (message.type !== TOKENS_REVOKED) return;
        const { userId } = message.data as { userId: string };
        for (const c of this.connections) if (c.ticket.userId === userId) c.disconnect(UNAUTHORIZED);
      })
      .catch((error: unknown) => {
        deps.log.error({ err: error }, "trouter: cannot subscribe to the control topic");
        return undefined;
      });
  }

  /** Queues `c`'s cursor for the node's next batched save (at most one per cursorSaveIntervalMs). */
  markDirty(c: Connection): void {
    this.dirty.add(c);
    if (this.saveTimer || this.closing) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      void this.saveDirty();
    }, this.options.cursorSaveIntervalMs);
    this.saveTimer.unref();
  }

  private async saveDirty(): Promise<void> {
    const batch = [...this.dirty].flatMap((c) => {
      const pending = c.pendingSave();
      return pending ? [{ c, ...pending }] : [];
    });
    this.dirty.clear();
    if (batch.length === 0) return;
    const at = this.deps.now();
    try {
      await this.deps.store.transaction(async (tx) => {
        for (const { userId, endpointId, position } of batch) await tx.saveEndpointCursor(userId, endpointId, position, at);
      });
      for (const { c, position } of batch) c.savedUpTo(position);
    } catch (error) {
      // Retried by the next acknowledgement or the socket's final save; a resume meanwhile replays a little.
      this.deps.log.warn({ err: error }, "trouter: cannot save endpoint cursors");
    }
  }

  connectionCount(): number {
    return this.connections.size;
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.saveTimer);
    for (const [server, listener] of this.listeners) server.off("upgrade", listener);
    await Promise.all([...this.connections].map((c) => c.shutdown()));
    await Promise.all([...this.flushing.values()]); // the cursors are saved before the Store closes
    const unsubscribe = await this.control;
    await unsubscribe?.().catch(() => undefined);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://localhost");
    } catch {
      return;
    }
    if (!url.pathname.startsWith(TROUTER_PATHS.websocketPrefix)) {
      // Not ours. The Natter gateway owns its path; answer anything else rather than leave it hanging.
      if (url.pathname !== (this.deps.options?.path ?? REALTIME_PATH)) reject(socket, 404, "NotFound", "No WebSocket endpoint at this path.");
      return;
    }
    socket.on("error", () => socket.destroy());
    if (this.closing) return reject(socket, 503, "ServiceUnavailable", "The server is shutting down.");
    const now = this.deps.now();
    const sid = url.pathname.slice(TROUTER_PATHS.websocketPrefix.length).replace(/\/$/, "");
    const ticket = this.signer.verify(sid, now);
    if (!ticket || ticket.tokenExpiresAt <= now) return reject(socket, 401, "Unauthorized", "The session id is invalid or expired.");
    // Counted until the socket closes, with the /realtime sockets (one ConnectionLimits per node).
    const slot = this.limits.reserveFor(socket);
    if (!slot) return reject(socket, 503, "ServiceUnavailable", "This node has reached its limit of realtime connections.");
    if (!slot.bindUser(ticket.userId)) return reject(socket, 429, "TooManyRequests", "This user has reached the limit of realtime connections.");
    // The token was checked at the handshake; a revocation since then shows in the user's token generation.
    this.deps.store.getUser(ticket.userId).then(
      (user) => {
        if (!user || user.deletedAt !== null || user.tokenGeneration !== ticket.generation) return reject(socket, 401, "Unauthorized", "The access token has been revoked.");
        if (this.closing) return reject(socket, 503, "ServiceUnavailable", "The server is shutting down.");
        this.wss.handleUpgrade(req, socket, head, (ws) => {
          const ccid = url.searchParams.get("ccid");
          const base = `${"encrypted" in req.socket && req.socket.encrypted ? "https" : "http"}://${req.headers.host ?? "localhost"}${TROUTER_PATHS.trouter}/c/${ccid && /^[\w-]{1,64}$/.test(ccid) ? ccid : "0"}/`;
          const epid = url.searchParams.get("epid");
          const connection = new Connection(this, ws, ticket, base, epid !== null && ENDPOINT_ID.test(epid) ? epid : undefined);
          this.connections.add(connection);
          ws.once("close", () => this.connections.delete(connection));
        });
      },
      (error: unknown) => {
        this.deps.log.warn({ err: error }, "trouter: cannot check the user at connect");
        reject(socket, 503, "ServiceUnavailable", "The server cannot check the user right now.");
      },
    );
  }
}

class Connection {
  private requestId = 0;
  private lastReceivedAt: number;
  private readonly heartbeat: NodeJS.Timeout;
  private expiryTimer?: NodeJS.Timeout;
  private unsubscribe?: Promise<(() => Promise<void>) | undefined>;
  private closed = false;
  /** The last durable position delivered (or the stream head at connect); undefined until connected. */
  private cursor?: number;
  /** The highest position a Bus wake-up announced (the read waits for the tail to reach it). */
  private wanted?: number;
  private reading = false;
  private readAgain = false;
  /** `user\nepid` when the client named a resumable endpoint. */
  private readonly endpointKey?: string;
  /** [request id, position] of the durable notifications sent and not yet answered, oldest first. */
  private readonly unacked: [number, number][] = [];
  /** The position up to which the client answered every notification (the resume point); set at connect. */
  private acked?: number;
  /** The last position saved to the Store for this endpoint. */
  private saved?: number;

  constructor(
    private readonly trouter: Trouter,
    private readonly ws: WebSocket,
    readonly ticket: Ticket,
    /** This connection's public URL (the allocation's `url`); notifications are addressed below it. */
    private readonly baseUrl: string,
    /** The client's `epid` (resume key), when it sent a usable one. */
    private readonly endpointId?: string,
  ) {
    if (endpointId !== undefined) {
      this.endpointKey = `${ticket.userId}\n${endpointId}`;
      // The endpoint's previous socket, if still here, is dead (the client has one socket per epid): it goes
      // now, and its final save is awaited before the cursor is read.
      trouter.endpoints.get(this.endpointKey)?.replaced();
      trouter.endpoints.set(this.endpointKey, this);
    }
    this.lastReceivedAt = Date.now();
    ws.on("message", (data, isBinary) => this.onMessage(data, isBinary));
    ws.on("close", () => this.cleanup());
    ws.on("error", () => ws.terminate());
    this.heartbeat = setInterval(() => this.tick(), trouter.options.heartbeatIntervalMs);
    this.armExpiry();
    this.open();
  }

  /**
   * Subscribes, takes the endpoint's saved cursor (or the stream head) as the cursor, then says "connected" and
   * delivers what the endpoint missed: every durable event committed after its last acknowledged one (or, for a
   * new endpoint, after the client sees Connected) is delivered (a wake-up that arrived meanwhile is served
   * once the cursor is set).
   */
  private open(): void {
    const { bus, log } = this.trouter.deps;
    this.unsubscribe = bus.subscribe(userTopic(this.ticket.userId), (_topic, message) => this.onBus(message)).then(
      async (unsubscribe) => {
        try {
          this.cursor = await this.startPosition();
        } catch (error) {
          // The Store cannot say where to start: the client reconnects (and resumes then).
          log.warn({ err: error }, "trouter: cannot read the stream position at connect");
          void unsubscribe().catch(() => undefined);
          this.ws.close(1011, "internal error");
          return undefined;
        }
        this.acked = this.cursor;
        if (this.closed) {
          void unsubscribe().catch(() => undefined);
          return undefined;
        }
        this.send(FRAMES.connect);
        this.send(FRAMES.event("trouter.connected", [{ ttl: CONNECTION_TTL_SECONDS }]));
        this.catchUp();
        return unsubscribe;
      },
      (error: unknown) => {
        log.error({ err: error }, "trouter: cannot subscribe to the user's topic");
        this.ws.close(1011, "internal error");
        return undefined;
      },
    );
  }

  /**
   * Where this socket starts: the endpoint's saved cursor when every event after it is still in the Store,
   * else the head (saved at once, so a drop before the first event still resumes from here).
   */
  private async startPosition(): Promise<number> {
    const { store } = this.trouter.deps;
    if (this.endpointKey === undefined) return store.headPosition();
    await this.trouter.flushing.get(this.endpointKey);
    const [saved, head] = await Promise.all([store.getEndpointCursor(this.ticket.userId, this.endpointId!), store.headPosition()]);
    if (saved !== undefined && (await resumable(store, this.ticket.userId, saved, head))) {
      this.saved = saved;
      return saved;
    }
    // A new endpoint starts where its user asked for realtime moments ago (the configuration request of
    // startRealtimeNotifications), so a message committed before its first socket opens is delivered too.
    const start = saved === undefined ? await requestedPosition(store, this.ticket.userId, head, this.trouter.deps.now()) : head;
    // replace: a cursor beyond the head (a restore) must come back down, or every later resume would fail too.
    try {
      await store.saveEndpointCursor(this.ticket.userId, this.endpointId!, start, this.trouter.deps.now(), saved !== undefined && saved > head);
      this.saved = start;
      if (saved === undefined) await store.trimEndpointCursors(this.ticket.userId, MAX_CURSORS_PER_USER, this.endpointId!);
    } catch (error) {
      // Not fatal: the first answered notification (or the close) saves it; a drop before that starts at the head.
      this.trouter.deps.log.warn({ err: error }, "trouter: cannot save the endpoint's cursor");
    }
    return start;
  }

  /** The client answered notification `id` (and, in order, every one before it): its position is acknowledged. */
  private onAnswered(id: number): void {
    let position: number | undefined;
    while (this.unacked.length > 0 && this.unacked[0][0] <= id) position = this.unacked.shift()![1];
    if (position === undefined || this.acked === undefined || position <= this.acked) return;
    this.acked = position;
    this.trouter.markDirty(this);
  }

  /** The cursor to save in the node's next batch, if it moved since the last save. */
  pendingSave(): { userId: string; endpointId: string; position: number } | undefined {
    const position = this.acked;
    if (this.endpointId === undefined || position === undefined || position === this.saved) return undefined;
    return { userId: this.ticket.userId, endpointId: this.endpointId, position };
  }

  /** The batch holding `position` committed. */
  savedUpTo(position: number): void {
    this.saved = Math.max(this.saved ?? 0, position);
  }

  /** The final save of the acknowledged position, when it moved (a failure is logged: a resume replays a little). */
  private async save(): Promise<void> {
    const pending = this.pendingSave();
    if (pending === undefined) return;
    try {
      await this.trouter.deps.store.saveEndpointCursor(pending.userId, pending.endpointId, pending.position, this.trouter.deps.now());
      this.savedUpTo(pending.position);
    } catch (error) {
      this.trouter.deps.log.warn({ err: error }, "trouter: cannot save the endpoint's cursor");
    }
  }

  /** A newer socket of the same endpoint opened: this one is dead. */
  replaced(): void {
    this.ws.terminate();
    this.cleanup();
  }

  /** Every write goes through here: a socket whose unsent data is over the limit is dropped, whatever the frame. */
  private send(frame: string): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    if (this.ws.bufferedAmount > this.trouter.options.maxBufferedBytes) {
      this.trouter.deps.log.info({ userId: this.ticket.userId, buffered: this.ws.bufferedAmount }, "trouter: dropping a slow consumer");
      this.ws.terminate();
      this.cleanup(); // at once: nothing more is written, even before the close event
      return;
    }
    this.ws.send(frame);
  }

  private onBus(message: BusMessage): void {
    if (this.closed) return;
    if (message.type === BUS_RESUMED) return this.catchUp(); // wake-ups may have been lost: read the Store again
    if (message.type !== CHAT_EVENT) return;
    const { event } = message.data as ChatEventEnvelope;
    if (event.position === undefined) {
      this.notify(event); // ephemeral (typing): straight through
      return;
    }
    if (this.cursor !== undefined && event.position <= this.cursor) return;
    this.wanted = Math.max(this.wanted ?? 0, event.position);
    this.catchUp();
  }

  /** Reads and delivers every stored event after the cursor; one read loop at a time, wake-ups coalesce. */
  private catchUp(): void {
    this.readAgain = true;
    if (this.reading || this.cursor === undefined) return;
    this.reading = true;
    void this.read();
  }

  private async read(): Promise<void> {
    try {
      while (this.readAgain && !this.closed) {
        this.readAgain = false;
        const wanted = this.wanted;
        this.wanted = undefined;
        const batch = await this.trouter.tail.read(this.ticket.userId, this.cursor!, wanted, READ_PAGE);
        this.deliver(batch.events);
        this.cursor = Math.max(this.cursor!, batch.upTo);
        if (batch.more) this.readAgain = true;
      }
    } catch (error) {
      // The client reconnects and resumes from its endpoint's saved cursor.
      this.trouter.deps.log.error({ err: error }, "trouter: reading events failed");
      this.ws.terminate();
    } finally {
      this.reading = false;
    }
  }

  private deliver(events: StreamEvent[]): void {
    for (const record of events) {
      if (this.closed) return;
      if (record.position <= this.cursor!) continue;
      this.cursor = record.position;
      // Stored payloads were written before their position was known (chatThreadDeleted's reason reads it).
      const id = this.notify({ ...(record.payload as ChatEvent), position: record.position });
      if (id !== undefined && this.endpointKey !== undefined) {
        this.unacked.push([id, record.position]);
        if (this.unacked.length > MAX_UNACKED) this.unacked.shift();
      }
    }
  }

  /** Sends one chat event as a Trouter notification (a socket.io message carrying an HTTP-like request); its id. */
  private notify(event: ChatEvent): number | undefined {
    // Natter's extension events are not Azure's: its SDK gets nothing for them.
    if (this.closed || !isAcsEvent(event)) return undefined;
    const recipient = this.ticket.userId;
    const id = ++this.requestId;
    this.send(
      FRAMES.message(
        JSON.stringify({
          id,
          method: "POST",
          url: `${this.baseUrl}chat`,
          headers: { "MS-CV": `natter${id}.0` },
          body: JSON.stringify(toTrouterPayload(event, recipient)),
        }),
      ),
    );
    return id;
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    this.lastReceivedAt = Date.now();
    if (isBinary) return;
    const frame = parseFrame(data.toString());
    if (!frame) return;
    switch (frame.type) {
      case 0: // disconnect (stopRealtimeNotifications)
        this.ws.close(1000);
        return;
      case 5: // events: `user.activity` and `ping` wait for an ack (10 s / 5 s) or the client reconnects
        // Ids are the client's counter; a longer one is not echoed (an ack must not cost more than its frame).
        if (frame.id && frame.id.length <= MAX_ACK_ID_DIGITS) this.send(FRAMES.ack(frame.id));
        return;
      case 3: {
        // The client's response to a notification: 200 handled, 404 no handler (unknown or malformed payload).
        try {
          const response = JSON.parse(frame.data) as { id?: unknown; status?: unknown };
          // Any answer (also 404: the client could not use it) means the notification arrived.
          const id = typeof response.id === "number" ? response.id : typeof response.id === "string" && /^[0-9]{1,15}$/.test(response.id) ? Number(response.id) : undefined;
          if (id !== undefined && id <= this.requestId) this.onAnswered(id);
          if (response.status !== 200) this.trouter.deps.log.debug({ id: response.id, status: response.status }, "trouter: notification not handled");
        } catch {
          // not a response: ignore
        }
        return;
      }
      default: // 2:: heartbeat echoes and anything else
        return;
    }
  }

  private tick(): void {
    if (Date.now() - this.lastReceivedAt > this.trouter.options.idleTimeoutMs) {
      this.ws.terminate();
      return;
    }
    this.send(FRAMES.heartbeat);
    this.recheck();
  }

  /**
   * Re-checks that the user still exists and its tokens were not revoked since the handshake (as the upgrade
   * does): this bounds how long a revocation whose Bus message was lost (Redis down, another node) goes unseen.
   */
  private recheck(): void {
    if (this.closed) return;
    this.trouter.deps.tokens.checkCurrent(this.ticket.userId, this.ticket.generation).then(
      () => undefined,
      (error: unknown) => {
        if (error instanceof ChatError && error.status === 401) this.disconnect(UNAUTHORIZED);
        else this.trouter.deps.log.debug({ err: error }, "trouter: cannot re-check the user's token");
      },
    );
  }

  private armExpiry(): void {
    const fire = () => {
      const left = this.ticket.tokenExpiresAt - this.trouter.deps.now();
      if (left > 0) {
        this.expiryTimer = setTimeout(fire, Math.min(left, MAX_TIMER_MS));
        return;
      }
      this.disconnect(UNAUTHORIZED);
    };
    fire();
  }

  /** Sends a socket.io disconnect (optionally with a reason) and closes the WebSocket. */
  disconnect(reason?: string): void {
    if (this.closed) return;
    this.send(FRAMES.disconnect(reason));
    this.ws.close(1000);
  }

  /** Disconnects and waits for the close handshake (bounded). */
  shutdown(): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.ws.readyState === this.ws.CLOSED) return resolve();
      const timer = setTimeout(() => {
        this.ws.terminate();
        resolve();
      }, SHUTDOWN_GRACE_MS);
      this.ws.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      this.disconnect();
    });
  }

  private cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.expiryTimer);
    this.trouter.dirty.delete(this);
    if (this.endpointKey !== undefined) {
      const key = this.endpointKey;
      if (this.trouter.endpoints.get(key) === this) this.trouter.endpoints.delete(key);
      // The final save; the endpoint's next socket (and the Store's close at shutdown) waits for it.
      const previous = this.trouter.flushing.get(key);
      const flush = (previous ?? Promise.resolve()).then(() => this.save());
      this.trouter.flushing.set(key, flush);
      void flush.finally(() => {
        if (this.trouter.flushing.get(key) === flush) this.trouter.flushing.delete(key);
      });
    }
    void this.unsubscribe?.then((unsubscribe) => unsubscribe?.()).catch(() => undefined);
  }
}

/**
 * True when every event of `userId` after `since` is still in the Store (as a /realtime resume decides): not
 * beyond the head, and at or above the retention marker, or below it with the user's event at `since` still
 * there (retention deletes oldest first).
 */
async function resumable(store: Store, userId: string, since: number, head: number): Promise<boolean> {
  if (since > head) return false;
  if (since >= (await store.purgedThrough())) return true;
  if (since === 0) return false;
  const [first] = await store.readEvents(userId, since - 1, 1);
  return first?.position === since;
}

/**
 * Records the stream head as the point where `userId` asked for realtime (the configuration request that
 * startRealtimeNotifications makes before it allocates a socket): that user's next new endpoint starts there.
 */
export async function noteRealtimeRequested(store: Store, userId: string, now: number): Promise<void> {
  await store.saveEndpointCursor(userId, REQUESTED_ENDPOINT, await store.headPosition(), now, true);
}

/** Where a new endpoint of `userId` starts: the recent request's position when it is still resumable, else the head. */
async function requestedPosition(store: Store, userId: string, head: number, now: number): Promise<number> {
  const requested = await store.getEndpointCursor(userId, REQUESTED_ENDPOINT, now - REQUESTED_WINDOW_MS);
  return requested !== undefined && requested <= head && (await resumable(store, userId, requested, head)) ? requested : head;
}
