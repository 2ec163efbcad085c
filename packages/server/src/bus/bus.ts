// The Bus seam: fan-out of notifications between the nodes of a cluster (one node: in-process).
// Guarantees: at-most-once, unordered across publishers, no persistence. It carries nothing that is not
// also in the Store (or ephemeral by nature, like typing), so a lost bus message is repaired by resume.
// Cost: a fan-out to many topics (publishMany) is at most one message per node that has subscribers of them,
// so bus traffic grows with the nodes an event reaches, not with its recipients.

export interface BusMessage {
  /** What happened; the realtime gateway turns it into protocol frames. */
  type: string;
  /** JSON-serialisable payload. */
  data: unknown;
}

export type BusHandler = (topic: string, message: BusMessage) => void;

/** What this node has put on the wire since it started (a clustered Bus); 0 for an in-process Bus. */
export interface BusStats {
  /** Messages published (one per PUBLISH, whatever the number of receivers). */
  messages: number;
  /** Their payload bytes. */
  bytes: number;
}

export interface Bus {
  /** Delivers `message` to every subscriber of `topic` on every node. Never throws for delivery failures. */
  publish(topic: string, message: BusMessage): Promise<void>;
  /**
   * Delivers `message` to every subscriber of each of `topics` on every node, as `publish` to each topic would
   * (a handler gets it once per topic it subscribed, with that topic), with the same guarantees. A clustered
   * Bus sends at most one message per node that has subscribers of some of them: a 250-member thread over 3
   * nodes costs ≤ 3 messages, not 250. Handlers on one node share the one decoded message: never mutate it.
   */
  publishMany(topics: readonly string[], message: BusMessage): Promise<void>;
  /** Subscribes this node to `topic`; returns an unsubscribe function. Subscribing twice is counted. */
  subscribe(topic: string, handler: BusHandler): Promise<() => Promise<void>>;
  /** Traffic counters (metrics, bench). */
  stats(): BusStats;
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
