// Natter's WebSocket realtime transport (protocol: docs/realtime-protocol.md). Failure modes it handles:
// network drops and server restarts (reconnect with jittered backoff, resume from the last stream position,
// so missed events arrive once and in order), a silent peer (watchdog reset by every frame), an expiring
// token (a refreshed one is sent in an `auth` frame before expiry), 4401 (one forced token refresh, then give up),
// 4403 (the token has no chat scope: give up at once), 4429 (too many sockets: maximum backoff), and a resync signal.
// Uses the global WebSocket (browsers, Node 22+) or the optional `ws` package in Node 20.
import { deserializeCommunicationIdentifier } from "@natter/communication-common";
import type { RealtimeTransport, RealtimeTransportContext } from "./realtime-transport.js";

interface SocketLike {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
type SocketConstructor = new (url: string) => SocketLike;

const PROTOCOL_VERSION = 1;
const MAX_BACKOFF_MS = 30_000;
const DATE_KEYS = /(On|Time)$/;

async function socketConstructor(): Promise<SocketConstructor> {
  const global = (globalThis as { WebSocket?: SocketConstructor }).WebSocket;
  if (global) return global;
  const name = "ws"; // computed so browser bundlers never try to include it
  try {
    const mod = (await import(/* @vite-ignore */ name)) as { default?: SocketConstructor; WebSocket?: SocketConstructor };
    return (mod.WebSocket ?? mod.default)!;
  } catch {
    throw new Error("Realtime notifications in Node 20 need the `ws` package: npm install ws");
  }
}

/** Wire payload → SDK shape: identifier models become CommunicationIdentifierKind, dates become Date. */
export function toSdkPayload(value: unknown, key = ""): unknown {
  if (Array.isArray(value)) return value.map((v) => toSdkPayload(v, key));
  if (value && typeof value === "object") {
    const o = value as Record<string, unknown>;
    if (typeof o.rawId === "string" && ("kind" in o || "communicationUser" in o || "phoneNumber" in o || "microsoftTeamsUser" in o || "microsoftTeamsApp" in o)) {
      return deserializeCommunicationIdentifier(o as Parameters<typeof deserializeCommunicationIdentifier>[0]);
    }
    if (key === "metadata") return o;
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, toSdkPayload(v, k)]));
  }
  if (typeof value === "string" && DATE_KEYS.test(key) && !Number.isNaN(Date.parse(value))) return new Date(value);
  return value;
}

export interface WebSocketTransportOptions {
  /** Path of the realtime endpoint (default "/realtime"). */
  path?: string;
  /** Random backoff base (ms); attempt n waits up to base × 2^n, capped at 30 s. */
  backoffBaseMs?: number;
}

/** A RealtimeTransport speaking Natter's WebSocket protocol. */
export class WebSocketTransport implements RealtimeTransport {
  private socket?: SocketLike;
  /**
   * The resume token: the last position the server sent, stored and sent back as `since`, never computed with
   * (a number today; a string is kept as well, so a server whose tokens carry several partitions' positions
   * needs no SDK change).
   */
  private position?: number | string;
  private attempt = 0;
  private stopped = true;
  private connected = false;
  /** The pending start(): settled by the first `ready`, or by a failure or stop() before it. */
  private starting?: { resolve: () => void; reject: (e: unknown) => void };
  private unauthorizedInARow = 0;
  private watchdog?: ReturnType<typeof setTimeout>;
  private retry?: ReturnType<typeof setTimeout>;
  private tokenRefresh?: ReturnType<typeof setTimeout>;
  private tokenExpiresOn = 0;
  private heartbeatTimeoutMs = 30_000;

  constructor(private readonly context: RealtimeTransportContext, private readonly options: WebSocketTransportOptions = {}) {}

  async start(): Promise<void> {
    this.stopped = false;
    this.position = undefined; // a fresh start begins at the head, as Azure's SDK does; only reconnects resume
    this.attempt = 0;
    this.unauthorizedInARow = 0;
    await new Promise<void>((resolve, reject) => {
      this.starting = { resolve, reject };
      void this.connect();
    });
  }

  /** Fails a pending start(): the caller decides when to try again, nothing retries in the background. */
  private failStart(error: Error): void {
    this.stopped = true;
    const starting = this.starting;
    this.starting = undefined;
    starting?.reject(error);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    clearTimeout(this.watchdog);
    clearTimeout(this.tokenRefresh);
    this.failStart(new Error("Realtime notifications were stopped before they connected."));
    const socket = this.socket;
    this.socket = undefined;
    if (socket) {
      socket.onclose = null;
      socket.close(1000, "stopped");
    }
  }

  private url(token: string): string {
    const base = new URL(this.context.endpoint);
    base.protocol = base.protocol === "http:" ? "ws:" : "wss:";
    base.pathname = this.options.path ?? "/realtime";
    base.search = "";
    base.searchParams.set("access_token", token);
    if (this.position !== undefined) base.searchParams.set("since", String(this.position));
    return base.toString();
  }

  private async connect(): Promise<void> {
    let socket: SocketLike;
    try {
      const Socket = await socketConstructor();
      const { token, expiresOnTimestamp } = await this.context.credential.getToken();
      if (this.stopped) return;
      this.tokenExpiresOn = expiresOnTimestamp;
      socket = new Socket(this.url(token));
    } catch (error) {
      if (this.starting) this.failStart(error instanceof Error ? error : new Error(String(error)));
      else this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => socket.send(JSON.stringify({ type: "hello", protocol: PROTOCOL_VERSION }));
    socket.onmessage = (ev) => {
      this.resetWatchdog();
      let frame: Record<string, unknown>;
      try {
        frame = JSON.parse(typeof ev.data === "string" ? ev.data : String(ev.data)) as Record<string, unknown>;
      } catch {
        return;
      }
      this.onFrame(socket, frame);
    };
    socket.onerror = () => {};
    socket.onclose = (ev) => this.onClosed(socket, ev.code);
  }

  /** Runs once per socket, whether the peer closed it or the watchdog gave up on it. */
  private onClosed(socket: SocketLike, code: number): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    clearTimeout(this.watchdog);
    clearTimeout(this.tokenRefresh);
    if (this.connected) this.context.emit("realTimeNotificationDisconnected");
    this.connected = false;
    if (this.starting) {
      this.failStart(
        new Error(
          code === 4401
            ? "Realtime connection refused: the access token is not valid (4401)."
            : code === 4403
              ? "Realtime connection refused: the access token's scopes do not allow chat (4403)."
              : `Realtime connection failed before it was ready (close code ${code}).`,
        ),
      );
      return;
    }
    if (this.stopped) return;
    // 4403: the token's scopes do not allow chat; the same credential would be refused again.
    if (code === 4403 || (code === 4401 && ++this.unauthorizedInARow > 1)) {
      this.stopped = true;
      return;
    }
    this.scheduleReconnect(code === 4400 || code === 1009 || code === 4429 ? MAX_BACKOFF_MS : code === 4401 ? 0 : undefined);
  }

  private onFrame(socket: SocketLike, frame: Record<string, unknown>): void {
    switch (frame.type) {
      case "ready": {
        this.position = resumeToken(frame.position) ?? this.position;
        const heartbeat = frame.heartbeat as { timeoutMs?: number } | undefined;
        if (heartbeat?.timeoutMs) this.heartbeatTimeoutMs = heartbeat.timeoutMs;
        this.attempt = 0;
        this.unauthorizedInARow = 0;
        this.connected = true;
        this.context.emit("realTimeNotificationConnected");
        this.scheduleTokenRefresh(socket);
        this.starting?.resolve();
        this.starting = undefined;
        return;
      }
      case "resyncNeeded":
        this.position = resumeToken(frame.position) ?? this.position;
        return;
      case "ping":
        socket.send(JSON.stringify(frame.id !== undefined ? { type: "pong", id: frame.id } : { type: "pong" }));
        return;
      case "event": {
        const name = frame.event as string;
        (this.context.emit as (e: string, p: unknown) => void)(name, toSdkPayload(frame.data));
        this.position = resumeToken(frame.position) ?? this.position;
        return;
      }
    }
  }

  private resetWatchdog(): void {
    clearTimeout(this.watchdog);
    const socket = this.socket;
    if (!socket) return;
    // A dead peer never completes a close handshake, so give up on the socket here rather than in onclose.
    this.watchdog = setTimeout(() => {
      socket.close(4000, "heartbeat timeout");
      this.onClosed(socket, 1006);
    }, this.heartbeatTimeoutMs);
  }

  /** Sends a refreshed token a minute before the current one expires, so the socket outlives it. */
  private scheduleTokenRefresh(socket: SocketLike): void {
    clearTimeout(this.tokenRefresh);
    if (!this.tokenExpiresOn) return;
    const delay = Math.max(1_000, this.tokenExpiresOn - Date.now() - 60_000);
    this.tokenRefresh = setTimeout(() => {
      void this.context.credential.getToken().then(
        ({ token, expiresOnTimestamp }) => {
          if (this.socket !== socket) return;
          if (expiresOnTimestamp > this.tokenExpiresOn) {
            this.tokenExpiresOn = expiresOnTimestamp;
            socket.send(JSON.stringify({ type: "auth", token }));
          }
          // Not renewed yet (the credential may refresh in the background): ask again shortly.
          this.scheduleTokenRefresh(socket);
        },
        () => this.socket === socket && this.scheduleTokenRefresh(socket), // at expiry the server closes with 4401
      );
    }, Math.min(delay, 2 ** 31 - 1));
  }

  private scheduleReconnect(fixedMs?: number): void {
    const base = this.options.backoffBaseMs ?? 500;
    const delay = fixedMs ?? Math.random() * Math.min(MAX_BACKOFF_MS, base * 2 ** this.attempt);
    this.attempt++;
    this.retry = setTimeout(() => void this.connect(), delay);
  }
}

/** The default transport factory of ChatClient. */
export const createWebSocketTransport = (context: RealtimeTransportContext) => new WebSocketTransport(context);

/** A frame's position as an opaque resume token (a number or a string), or undefined when it has none. */
function resumeToken(value: unknown): number | string | undefined {
  return typeof value === "number" || (typeof value === "string" && value.length > 0) ? value : undefined;
}
