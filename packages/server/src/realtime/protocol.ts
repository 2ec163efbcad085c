// The Natter realtime protocol, version 1: frame shapes, close codes and defaults. docs/realtime-protocol.md
// is the prose twin of this file; change both together.
import type { WireEvent } from "./event-payloads.js";

export const PROTOCOL_VERSION = 1;
export const SUPPORTED_PROTOCOL_VERSIONS: readonly number[] = [1];
export const REALTIME_PATH = "/realtime";

/** Close codes the server uses (besides 1001 going away, 1009 frame too big, 1011 internal error). */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  tooBig: 1009,
  internalError: 1011,
  /** The send buffer stayed over its limit: the client reads too slowly. Reconnect and resume. */
  slowConsumer: 4008,
  /** Malformed, binary or unexpected frame, no hello in time, or an unsupported protocol version. */
  protocolError: 4400,
  /** Missing, invalid, expired or revoked token. Get a fresh token, then reconnect. */
  unauthorized: 4401,
  /** The token is valid but its scopes do not allow chat (a voip-only token). Do not retry with the same token. */
  forbidden: 4403,
  /** The user already has the maximum number of realtime sockets on this node. Close another one, or retry later. */
  tooManyConnections: 4429,
} as const;

/** Longest string `id` a client ping may carry (numbers must be finite); a longer one is a protocol error. */
export const MAX_PING_ID_CHARS = 64;

// ---- client → server ----

export interface HelloFrame {
  type: "hello";
  protocol: number;
  /** The access token (optional when given as ?access_token= on the URL). */
  token?: string;
  /** Resume after this stream position (optional when given as ?since= on the URL). */
  since?: number;
}

/** Replaces the session's token (same user) before it expires, so a long-lived socket survives token renewal. */
export interface AuthFrame {
  type: "auth";
  token: string;
}

export interface PingFrame {
  type: "ping";
  /** Echoed in the pong: a finite number or a string of at most MAX_PING_ID_CHARS characters. */
  id?: string | number;
}

export interface PongFrame {
  type: "pong";
  id?: string | number;
}

export type ClientFrame = HelloFrame | AuthFrame | PingFrame | PongFrame;

// ---- server → client ----

export interface ReadyFrame {
  type: "ready";
  protocol: number;
  /** Raw id of the authenticated user. */
  userId: string;
  /** Events that follow have positions strictly greater than this; keep it as the resume point. */
  position: number;
  /** True when the stream continues exactly after the client's `since`. */
  resumed: boolean;
  heartbeat: { intervalMs: number; timeoutMs: number };
  /** How long missed events can be resumed (ms). */
  retentionMs: number;
  /** Largest frame the server accepts from the client (bytes). */
  maxFrameBytes: number;
}

export interface ResyncNeededFrame {
  type: "resyncNeeded";
  /** The position the client asked to resume after. */
  since: number;
  /** The stream continues after this position (same as ready.position). */
  position: number;
  reason: "beyondRetention";
}

export type EventFrame = { type: "event"; /** Absent for ephemeral events (typing). */ position?: number } & WireEvent;

export interface ErrorFrame {
  type: "error";
  code: "BadRequest" | "Unauthorized" | "Forbidden" | "TooManyConnections" | "UnsupportedProtocolVersion" | "SlowConsumer" | "InternalError";
  message: string;
}

export type ServerFrame = ReadyFrame | ResyncNeededFrame | EventFrame | PingFrame | PongFrame | ErrorFrame;

// ---- tuning ----

export interface RealtimeOptions {
  /** URL path of the endpoint on both listeners. */
  path: string;
  /** Server ping interval (ms). */
  heartbeatIntervalMs: number;
  /** A peer silent for this long (no frame of any kind) is terminated (ms). */
  heartbeatTimeoutMs: number;
  /** Time allowed between the upgrade and the hello frame (ms). */
  helloTimeoutMs: number;
  /** Largest client frame (bytes); larger ones close the socket with 1009. */
  maxPayloadBytes: number;
  /** Largest client frame before the session is open (the hello exchange), in bytes; larger ones close with 1009. */
  maxHelloBytes: number;
  /**
   * Per-socket send buffer limit (bytes). Every write respects it: above it, replay pauses, and typing events,
   * pongs and pings are not written; a buffer that stays above it for slowConsumerMs closes the socket (4008).
   */
  maxBufferedBytes: number;
  /** How long the send buffer may stay above the limit before the socket is closed with 4008 (ms). */
  slowConsumerMs: number;
  /** Events read from the Store per page during replay. */
  replayPageSize: number;
}

export const DEFAULT_REALTIME_OPTIONS: RealtimeOptions = {
  path: REALTIME_PATH,
  heartbeatIntervalMs: 15_000,
  heartbeatTimeoutMs: 30_000,
  helloTimeoutMs: 10_000,
  maxPayloadBytes: 64 * 1024,
  // A hello carries a token (about 1 KiB); nothing unauthenticated needs more.
  maxHelloBytes: 8 * 1024,
  maxBufferedBytes: 1024 * 1024,
  slowConsumerMs: 10_000,
  replayPageSize: 200,
};
