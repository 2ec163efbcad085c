// The Bus seam: fan-out of notifications between the nodes of a cluster (one node: in-process).
// Guarantees: at-most-once, unordered across publishers, no persistence. It carries nothing that is not
// also in the Store (or ephemeral by nature, like typing), so a lost bus message is repaired by resume.

export interface BusMessage {
  /** What happened; the realtime gateway turns it into protocol frames. */
  type: string;
  /** JSON-serialisable payload. */
  data: unknown;
}

export type BusHandler = (topic: string, message: BusMessage) => void;

export interface Bus {
  /** Delivers `message` to every subscriber of `topic` on every node. Never throws for delivery failures. */
  publish(topic: string, message: BusMessage): Promise<void>;
  /** Subscribes this node to `topic`; returns an unsubscribe function. Subscribing twice is counted. */
  subscribe(topic: string, handler: BusHandler): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/**
 * A Bus that may have lost messages (it reconnected, or a publisher did) delivers one message of this type
 * (`data` null) to every handler of every topic once delivery works again. Handlers that track durable state
 * repair by re-reading the Store; others ignore it.
 */
export const BUS_RESUMED = "bus.resumed";

/** Topic of one user's notifications. */
export const userTopic = (userId: string) => `user:${userId}`;
/** Topic for cluster-wide control messages (token revocation, cache invalidation). */
export const CONTROL_TOPIC = "control";
