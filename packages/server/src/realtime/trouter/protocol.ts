// The wire pieces of the Trouter subset Azure's signaling client speaks: socket.io 0.9 (protocol 1) frames,
// the fixed paths and timings, and the session ticket that binds a socket.io session id to the user whose
// token was checked at the handshake (a browser WebSocket cannot send X-Skypetoken).
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** Paths. `/socket.io/1/…` and `/v4/a` are fixed by the client at the root of the `socketio` origin. */
export const TROUTER_PATHS = {
  trouter: "/trouter",
  registrar: "/registrar",
  handshake: "/socket.io/1",
  websocketPrefix: "/socket.io/1/websocket/",
} as const;

/** Seconds, as told to the client in the handshake reply (`<sid>:<heartbeat>:<close>:websocket`). */
export const HEARTBEAT_SECONDS = 60;
export const CLOSE_TIMEOUT_SECONDS = 60;
/** The server sends `2::` this often (well inside the client's heartbeat+2 s window). */
export const HEARTBEAT_INTERVAL_MS = 25_000;
/** A socket that sends nothing for this long is dead (the client echoes heartbeats and pings every 40 s). */
export const IDLE_TIMEOUT_MS = 95_000;
/** Longest socket.io message id the server acks (`5:<id>+::…`); the client counts from 1. Longer ids get no ack. */
export const MAX_ACK_ID_DIGITS = 16;
/** Tuning of the Trouter WebSocket (tests shorten the timers). */
export interface TrouterOptions {
  /** The server sends `2::` this often, and re-checks the user's token generation (revocation bound). */
  heartbeatIntervalMs: number;
  /** A socket silent for this long is terminated. */
  idleTimeoutMs: number;
  /** A socket whose unsent data exceeds this is dropped, whatever the write (the client reconnects and resumes). */
  maxBufferedBytes: number;
  /** An endpoint's acknowledged position is saved at most this often (and when its socket closes). */
  cursorSaveIntervalMs: number;
}
export const DEFAULT_TROUTER_OPTIONS: TrouterOptions = {
  heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
  idleTimeoutMs: IDLE_TIMEOUT_MS,
  maxBufferedBytes: 4 * 1024 * 1024,
  cursorSaveIntervalMs: 2_000,
};
/** How long a handshake's session id may be used to open the WebSocket. */
export const TICKET_TTL_MS = 60_000;
/** Connection lifetime announced in `trouter.connected` and the allocation (seconds). */
export const CONNECTION_TTL_SECONDS = 86_400;

// ---- socket.io 0.9 frames: `type:id[+]:endpoint[:data]` ----

export interface SocketIoFrame {
  type: number;
  /** Message id; with `ack` set the peer expects an ack carrying data. */
  id: string;
  ack: boolean;
  endpoint: string;
  data: string;
}

const FRAME = /^([0-9]):([0-9]*)(\+?):([^:]*):?([\s\S]*)$/;

export function parseFrame(text: string): SocketIoFrame | undefined {
  const m = FRAME.exec(text);
  if (!m) return undefined;
  return { type: Number(m[1]), id: m[2], ack: m[3] === "+", endpoint: m[4], data: m[5] };
}

export const FRAMES = {
  connect: "1::",
  heartbeat: "2::",
  /** A socket.io message; Trouter requests (server→client) and responses (client→server) travel in these. */
  message: (json: string) => `3:::${json}`,
  event: (name: string, args: unknown[]) => `5:::${JSON.stringify({ name, args })}`,
  /** Ack of the client's `5:<id>+::…` event. */
  ack: (id: string) => `6:::${id}+[]`,
  /** Disconnect; a JSON reason like `{"reason":"unauthorized"}` makes the client fetch a fresh token first. */
  disconnect: (reason?: string) => (reason === undefined ? "0::" : `0:::${reason}`),
} as const;

// ---- session tickets (the socket.io session id) ----

export interface Ticket {
  /** Raw id of the user. */
  userId: string;
  /** When the token checked at the handshake expires (epoch ms). */
  tokenExpiresAt: number;
  /** The token's generation claim (revocation check at connect). */
  generation: unknown;
  /** Until when the ticket may open a WebSocket (epoch ms). */
  expiresAt: number;
}

interface TicketClaims {
  u: string;
  x: number;
  g: unknown;
  e: number;
  n: string;
}

/**
 * Signs and checks session ids. They are self-contained (HMAC with a key derived from the access key), so
 * the handshake and the WebSocket may land on different nodes of a cluster. The id carries no credential:
 * it only names the user and expires quickly.
 */
export class TicketSigner {
  private readonly key: Buffer;

  constructor(accessKey: Uint8Array) {
    this.key = createHmac("sha256", accessKey).update("natter trouter ticket v1").digest();
  }

  sign(ticket: Ticket): string {
    const claims: TicketClaims = { u: ticket.userId, x: ticket.tokenExpiresAt, g: ticket.generation, e: ticket.expiresAt, n: randomBytes(6).toString("base64url") };
    const body = Buffer.from(JSON.stringify(claims)).toString("base64url");
    return `${body}.${this.mac(body)}`;
  }

  /** The ticket of a session id, or undefined when it is forged, malformed or expired. */
  verify(sid: string, now: number): Ticket | undefined {
    const [body, mac, extra] = sid.split(".");
    if (!body || !mac || extra !== undefined) return undefined;
    const expected = Buffer.from(this.mac(body));
    const given = Buffer.from(mac);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    let claims: TicketClaims;
    try {
      claims = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as TicketClaims;
    } catch {
      return undefined;
    }
    if (typeof claims.u !== "string" || typeof claims.x !== "number" || typeof claims.e !== "number" || claims.e < now) return undefined;
    return { userId: claims.u, tokenExpiresAt: claims.x, generation: claims.g, expiresAt: claims.e };
  }

  private mac(body: string): string {
    return createHmac("sha256", this.key).update(body).digest("base64url");
  }
}

/** The `exp` (ms) and `gen` claims of a JWT whose signature was already verified. */
export function tokenClaims(token: string): { expiresAt: number; generation: unknown } {
  try {
    const payload = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as { exp?: unknown; gen?: unknown };
    return { expiresAt: typeof payload.exp === "number" ? payload.exp * 1000 : Number.MAX_SAFE_INTEGER, generation: payload.gen };
  } catch {
    return { expiresAt: Number.MAX_SAFE_INTEGER, generation: undefined };
  }
}
