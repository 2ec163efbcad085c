// The seam between ChatClient and a realtime transport (the WebSocket client is built separately).
// ChatClient owns listeners and start/stop state; a transport owns the connection and emits events.
import type { CommunicationTokenCredential } from "@natter/communication-common";
import type { ChatEventMap } from "../models/events.js";

/** What ChatClient hands to a transport when realtime notifications start. */
export interface RealtimeTransportContext {
  /** The service endpoint the ChatClient was created with. */
  endpoint: string;
  /** The user's credential; call getToken() for every (re)connect. */
  credential: CommunicationTokenCredential;
  /** The chat REST api-version the client uses. */
  apiVersion: string;
  /**
   * Delivers an event to the ChatClient's listeners. Payloads must already be SDK-shaped (Dates as Date,
   * identifiers as CommunicationIdentifierKind). Emit "realTimeNotificationConnected" on every successful
   * (re)connect and "realTimeNotificationDisconnected" on every loss of connection.
   * @param event - Event name.
   * @param payload - The payload (none for the connection events).
   */
  emit<K extends keyof ChatEventMap>(event: K, ...payload: [ChatEventMap[K]] extends [void] ? [] : [ChatEventMap[K]]): void;
}

/**
 * A realtime connection for one ChatClient. Guarantees a transport must give: `start()` resolves once
 * the first connection is up (or rejects, leaving nothing running); after `start()` it reconnects on its
 * own until `stop()`; `stop()` closes everything and emits nothing afterwards; events for one thread are
 * emitted in the order the service produced them.
 */
export interface RealtimeTransport {
  /** Connects; resolves when connected. */
  start(): Promise<void>;
  /** Disconnects and stops reconnecting. */
  stop(): Promise<void>;
}

/** Creates a transport for a ChatClient. */
export type RealtimeTransportFactory = (context: RealtimeTransportContext) => RealtimeTransport;

let defaultFactory: RealtimeTransportFactory | undefined;

/**
 * Sets (or clears, with undefined) the transport used by ChatClients created without
 * `options.realtimeTransport`. Intended for the package's own WebSocket transport module.
 * @param factory - The factory, or undefined.
 */
export function setDefaultRealtimeTransport(factory: RealtimeTransportFactory | undefined): void {
  defaultFactory = factory;
}

/** The transport factory set with {@link setDefaultRealtimeTransport}, if any. */
export function getDefaultRealtimeTransport(): RealtimeTransportFactory | undefined {
  return defaultFactory;
}
