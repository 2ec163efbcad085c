// The realtime gateway: WebSocket endpoints on both listeners that deliver chat events to users' clients.
// (Seam only: the Natter protocol and the Trouter subset are attached here.)
import type http from "node:http";
import type https from "node:https";
import type { FastifyBaseLogger } from "fastify";
import type { Bus } from "../bus/bus.js";
import type { Store } from "../store/store.js";
import type { TokenService } from "../auth/tokens.js";
import type { ChatService } from "../domain/chat-service.js";

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
}

export interface RealtimeGateway {
  /** Open sockets, for metrics. */
  connectionCount(): number;
  /** Closes every socket (with a "going away" code) and stops listening for upgrades. */
  close(): Promise<void>;
}

export function attachRealtime(_deps: RealtimeDeps): RealtimeGateway {
  return { connectionCount: () => 0, close: async () => {} };
}
