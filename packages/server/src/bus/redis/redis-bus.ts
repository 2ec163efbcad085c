// RedisBus: the Bus for a cluster, on Redis pub/sub. One connection publishes (auto-pipelined), one subscribes;
// each topic is one Redis channel (`<prefix><topic>`), subscribed while this node has a local handler for it.
// Failure modes: while Redis is unreachable, publishes are dropped (reported through onError, never thrown) and
// messages published by other nodes are lost (at-most-once); ioredis reconnects with backoff, and on every
// reconnect this bus SUBSCRIBEs again to every topic it has handlers for. Then it tells every local handler
// that messages may have been lost (BUS_RESUMED), and when its publishing connection comes back it tells every
// node the same through an internal channel (their subscribers may have been fine while its publishes failed).
// The realtime gateway answers BUS_RESUMED by re-reading the Store, so nothing durable stays undelivered.
import { Redis } from "ioredis";
import type { RedisOptions } from "ioredis";
import type { Bus, BusHandler, BusMessage } from "../bus.js";
import { BUS_RESUMED } from "../bus.js";
import { waitUntilReady } from "./ready.js";

/** Where a failure happened; the composition root counts them all in metrics. */
export type RedisBusErrorContext = "connection" | "publish" | "subscribe" | "unsubscribe" | "decode" | "handler";

export interface RedisBusOptions {
  /** Prepended to every channel name, so several deployments (or test runs) can share one Redis. Default "natter:". */
  prefix?: string;
  /** Called for every failure the Bus swallows (publish, (un)subscribe, connection, bad payload, throwing handler). */
  onError?: (error: Error, context: RedisBusErrorContext) => void;
  /** A publish that gets no reply within this time is dropped (reported through onError). Default 5000 ms. */
  commandTimeoutMs?: number;
  /** Extra ioredis options for both connections (tests, TLS, retry strategy). */
  redis?: RedisOptions;
}

/** One subscribe() call: the same handler subscribed twice is two subscriptions. */
interface Subscription {
  handler: BusHandler;
}

interface Topic {
  subs: Set<Subscription>;
  /** Settles when the SUBSCRIBE sent for this topic has been answered (or failed, or was deferred). */
  subscribed: Promise<void>;
}

/** Internal channel (after the prefix): "a publisher reconnected, messages may have been lost". */
const RESUMED_CHANNEL = "bus:resumed";

/** Channels per SUBSCRIBE command when resubscribing after a reconnect. */
const RESUBSCRIBE_BATCH = 1000;

const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));

export class RedisBus implements Bus {
  /** Publishing connection (also usable for other commands; never in subscriber mode). */
  private readonly pub: Redis;
  /** Subscriber connection: only (UN)SUBSCRIBE once a channel is subscribed. */
  private readonly sub: Redis;
  private readonly prefix: string;
  private readonly topics = new Map<string, Topic>();
  private readonly onError: (error: Error, context: RedisBusErrorContext) => void;
  private closing: Promise<void> | undefined;
  private lastConnectionError: Error | undefined;

  constructor(private readonly url: string, options: RedisBusOptions = {}) {
    this.prefix = options.prefix ?? "natter:";
    const report = options.onError;
    this.onError = (error, context) => {
      try {
        report?.(error, context);
      } catch {
        // A failing reporter must not break the bus.
      }
    };
    const common: RedisOptions = {
      // Never queue commands while disconnected: a publish during an outage is dropped at once (at-most-once)
      // instead of piling up behind the reconnect; subscriptions are restored from `topics` on 'ready'.
      enableOfflineQueue: false,
      // What was in flight when the connection dropped is not resent: the bus is at-most-once.
      autoResendUnfulfilledCommands: false,
      ...options.redis,
    };
    this.pub = new Redis(url, {
      ...common,
      // A fan-out is one PUBLISH per recipient: the commands of one tick go out as one write.
      enableAutoPipelining: true,
      commandTimeout: options.commandTimeoutMs ?? 5_000,
      connectionName: `${this.prefix}bus-pub`.replace(/\s/g, "_"),
    });
    this.sub = new Redis(url, {
      ...common,
      // We resubscribe ourselves, from our own map, so a SUBSCRIBE that failed during an outage is retried too.
      autoResubscribe: false,
      connectionName: `${this.prefix}bus-sub`.replace(/\s/g, "_"),
    });
    for (const connection of [this.pub, this.sub]) {
      connection.on("error", (error: Error) => {
        this.lastConnectionError = error;
        this.onError(error, "connection");
      });
    }
    let subWasReady = false;
    this.sub.on("ready", () => {
      const reconnected = subWasReady;
      subWasReady = true;
      void this.resubscribe().then(() => {
        if (reconnected) this.resumeAll();
      });
    });
    let pubWasReady = false;
    this.pub.on("ready", () => {
      if (pubWasReady && !this.closing) {
        this.pub.publish(this.prefix + RESUMED_CHANNEL, "1").catch((error: unknown) => this.onError(asError(error), "publish"));
      }
      pubWasReady = true;
    });
    this.sub.on("message", (channel: string, raw: string) => this.deliver(channel, raw));
  }

  /**
   * Resolves when both connections are ready. Rejects, with a message naming the Redis URL (without password)
   * and the last connection error, when they are not within `timeoutMs`; the bus is then closed, so nothing
   * keeps retrying in the background. Meant for startup: fail fast with a clear error.
   */
  async ready(timeoutMs = 5_000): Promise<void> {
    try {
      await waitUntilReady(this.url, [this.pub, this.sub], timeoutMs, () => this.lastConnectionError);
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  async publish(topic: string, message: BusMessage): Promise<void> {
    if (this.closing) return;
    let payload: string;
    try {
      payload = JSON.stringify({ type: message.type, data: message.data });
    } catch (error) {
      this.onError(asError(error), "publish");
      return;
    }
    try {
      await this.pub.publish(this.prefix + topic, payload);
    } catch (error) {
      // Delivery failures never reach the caller (Bus contract); they are counted.
      this.onError(asError(error), "publish");
    }
  }

  async subscribe(topic: string, handler: BusHandler): Promise<() => Promise<void>> {
    const sub: Subscription = { handler };
    if (this.closing) return async () => {};
    let entry = this.topics.get(topic);
    if (entry) {
      entry.subs.add(sub);
    } else {
      // First local handler: SUBSCRIBE. The map is updated before the command is sent, so a reconnect in
      // between resubscribes this topic too.
      entry = { subs: new Set([sub]), subscribed: Promise.resolve() };
      this.topics.set(topic, entry);
      entry.subscribed = this.sendSubscribe([this.prefix + topic]);
    }
    await entry.subscribed;
    const current = entry;
    return async () => {
      if (!current.subs.delete(sub)) return; // idempotent
      if (current.subs.size > 0 || this.topics.get(topic) !== current) return;
      // Last local handler: UNSUBSCRIBE. Commands on the one subscriber connection are ordered, so a later
      // subscribe() of the same topic (a new SUBSCRIBE) wins over this UNSUBSCRIBE.
      this.topics.delete(topic);
      if (this.closing || this.sub.status !== "ready") return; // a reconnect will not resubscribe it
      try {
        await this.sub.unsubscribe(this.prefix + topic);
      } catch (error) {
        this.onError(asError(error), "unsubscribe");
      }
    };
  }

  /** Topics this node has handlers for (diagnostics and tests). */
  get topicCount(): number {
    return this.topics.size;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.topics.clear();
      await Promise.all([this.pub, this.sub].map((connection) => quit(connection)));
    })();
    return this.closing;
  }

  private async sendSubscribe(channels: string[]): Promise<void> {
    // Not connected: nothing to send now; the 'ready' handler subscribes every topic in the map.
    if (this.closing || this.sub.status !== "ready") return;
    try {
      await this.sub.subscribe(...channels);
    } catch (error) {
      // Retried on the next reconnect (the topic stays in the map).
      this.onError(asError(error), "subscribe");
    }
  }

  /** SUBSCRIBEs the internal channel and every topic with handlers; resolves when all are answered. */
  private async resubscribe(): Promise<void> {
    if (this.closing) return;
    const channels = [this.prefix + RESUMED_CHANNEL, ...[...this.topics.keys()].map((topic) => this.prefix + topic)];
    const batches: Promise<void>[] = [];
    for (let i = 0; i < channels.length; i += RESUBSCRIBE_BATCH) batches.push(this.sendSubscribe(channels.slice(i, i + RESUBSCRIBE_BATCH)));
    await Promise.all(batches);
  }

  /** Delivers BUS_RESUMED to every local handler of every topic. */
  private resumeAll(): void {
    if (this.closing) return;
    for (const [topic, entry] of this.topics) this.dispatch(topic, entry, { type: BUS_RESUMED, data: null });
  }

  private deliver(channel: string, raw: string): void {
    if (this.closing || !channel.startsWith(this.prefix)) return;
    const topic = channel.slice(this.prefix.length);
    if (topic === RESUMED_CHANNEL) return this.resumeAll();
    const entry = this.topics.get(topic);
    if (!entry) return;
    let message: BusMessage;
    try {
      const parsed = JSON.parse(raw) as Partial<BusMessage> | null;
      if (typeof parsed !== "object" || parsed === null || typeof parsed.type !== "string") throw new Error("not a bus message");
      message = { type: parsed.type, data: parsed.data };
    } catch (error) {
      this.onError(new Error(`undecodable message on ${channel}: ${asError(error).message}`), "decode");
      return;
    }
    this.dispatch(topic, entry, message);
  }

  private dispatch(topic: string, entry: Topic, message: BusMessage): void {
    for (const sub of [...entry.subs]) {
      try {
        sub.handler(topic, message);
      } catch (error) {
        // A failing subscriber must not affect the others.
        this.onError(asError(error), "handler");
      }
    }
  }
}

/** QUIT when connected (lets replies in flight arrive), otherwise just stop reconnecting. */
async function quit(connection: Redis): Promise<void> {
  if (connection.status === "end") return;
  if (connection.status === "ready") {
    try {
      await connection.quit();
      return;
    } catch {
      // fall through
    }
  }
  connection.disconnect();
}
