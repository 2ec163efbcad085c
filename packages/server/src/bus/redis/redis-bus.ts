// RedisBus: the Bus for a cluster, on Redis pub/sub. One connection publishes (auto-pipelined), one subscribes;
// each topic is one Redis channel (`<prefix><topic>`), subscribed while this node has a local handler for it.
//
// Fan-out by node (publishMany). Each node also subscribes to a channel of its own, `<prefix>bus:node:<member>`,
// is listed in the set `<prefix>bus:members`, and records the topics it has handlers for in a set of its own
// (`<prefix>bus:topics:<member>`). A fan-out asks Redis, in one script call, which of its topics each member has
// (one SMISMEMBER per node, not one read per recipient), and PUBLISHes one message per node carrying that node's
// topics; the node hands it to its handlers of each. So an event costs one bus message and one presence read per
// node that has recipients, whatever their number. Why no wake-up is lost: a subscribe() resolves only after the
// node's presence (its topic set and its membership) is written, and a publisher reads it after its commit;
// so either the publisher sees the subscriber, or the commit preceded the subscription and the subscriber's
// first Store read (made after subscribe() resolved) finds it. `<member>` is `<node id>.<connection epoch>`:
// a new one each time the subscriber connection comes up, so the presence of a dead connection (a crashed node,
// a dropped connection) is recognised, when a PUBLISH to its channel reaches nobody, and removed, without ever
// removing a live one. Needs Redis 6.2 or later (SMISMEMBER). On every (re)connect of either connection the node writes its presence for
// every topic again.
//
// Failure modes: while Redis is unreachable, publishes are dropped (reported through onError, never thrown) and
// messages published by other nodes are lost (at-most-once); ioredis reconnects with backoff, and on every
// reconnect this bus SUBSCRIBEs again to every topic it has handlers for. Then it tells every local handler
// that messages may have been lost (BUS_RESUMED), and when its publishing connection comes back it tells every
// node the same through an internal channel (their subscribers may have been fine while its publishes failed).
// The realtime gateway answers BUS_RESUMED by re-reading the Store, so nothing durable stays undelivered.
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import type { RedisOptions } from "ioredis";
import type { Bus, BusHandler, BusMessage, BusStats } from "../bus.js";
import { BUS_RESUMED } from "../bus.js";
import { waitUntilReady } from "./ready.js";

/** Where a failure happened; the composition root counts them all in metrics. */
export type RedisBusErrorContext = "connection" | "publish" | "subscribe" | "unsubscribe" | "presence" | "decode" | "handler";

/**
 * How publishMany reaches the nodes: "node" (default) sends one message per node that has subscribers of the
 * topics; "topic" sends one PUBLISH per topic, the fan-out of earlier versions (kept to measure the difference).
 * Nodes with different settings interoperate: every node subscribes its topics' channels and writes its presence.
 */
export type RedisBusFanOut = "node" | "topic";

export interface RedisBusOptions {
  /** Prepended to every channel name, so several deployments (or test runs) can share one Redis. Default "natter:". */
  prefix?: string;
  /** Called for every failure the Bus swallows (publish, (un)subscribe, connection, bad payload, throwing handler). */
  onError?: (error: Error, context: RedisBusErrorContext) => void;
  /** A publish that gets no reply within this time is dropped (reported through onError). Default 5000 ms. */
  commandTimeoutMs?: number;
  /** See RedisBusFanOut. Default "node". */
  fanOut?: RedisBusFanOut;
  /** Extra ioredis options for both connections (tests, TLS, retry strategy). */
  redis?: RedisOptions;
}

/** One subscribe() call: the same handler subscribed twice is two subscriptions. */
interface Subscription {
  handler: BusHandler;
}

interface Topic {
  subs: Set<Subscription>;
  /** Settles when the SUBSCRIBE and the presence write for this topic have been answered (or failed, or were deferred). */
  subscribed: Promise<void>;
}

/** Internal channel (after the prefix): "a publisher reconnected, messages may have been lost". */
const RESUMED_CHANNEL = "bus:resumed";
/** Internal channel of one node's subscriber connection (after the prefix), followed by its member name. */
const NODE_CHANNEL = "bus:node:";
/** Key of the set of live members (after the prefix). */
const MEMBERS_KEY = "bus:members";
/** Key of the set of topics a member has handlers for (after the prefix), followed by the member. */
const MEMBER_TOPICS_KEY = "bus:topics:";
/** Topics per SADD when a node writes its presence. */
const REGISTER_BATCH = 1000;

/**
 * Which of the topics each member has: KEYS[1] the members set, ARGV[1] the topic-set key prefix, ARGV[2..] the
 * topics. Returns a flat list: member, then the 0-based indexes of its topics, for members with at least one.
 * SMISMEMBER takes the topics in slices (Lua's unpack has a stack limit).
 */
const ROUTE_SCRIPT = `
local members = redis.call('SMEMBERS', KEYS[1])
local out = {}
for _, member in ipairs(members) do
  local hits = {}
  for first = 2, #ARGV, 4000 do
    local last = math.min(first + 3999, #ARGV)
    local flags = redis.call('SMISMEMBER', ARGV[1] .. member, unpack(ARGV, first, last))
    for i, flag in ipairs(flags) do
      if flag == 1 then hits[#hits + 1] = first + i - 3 end
    end
  end
  if #hits > 0 then
    out[#out + 1] = member
    out[#out + 1] = hits
  end
end
return out`;

/** The publishing connection with the route script defined on it (ioredis sends EVALSHA, EVAL when not cached). */
type RoutingRedis = Redis & { natterBusRoute(membersKey: string, topicsKeyPrefix: string, ...topics: string[]): Promise<(string | number[])[]> };

/** Channels per SUBSCRIBE command when resubscribing after a reconnect. */
const RESUBSCRIBE_BATCH = 1000;

/** What a node-addressed message carries: the receiving node's topics (`prefix` + each) and the message. */
interface NodeEnvelope {
  prefix: string;
  topics: string[];
  message: BusMessage;
}

/** The longest prefix common to every string of a non-empty list. */
function commonPrefix(list: string[]): string {
  let prefix = list[0];
  for (const s of list) {
    let n = 0;
    while (n < prefix.length && n < s.length && prefix.charCodeAt(n) === s.charCodeAt(n)) n++;
    if (n < prefix.length) prefix = prefix.slice(0, n);
  }
  return list.length === 1 ? "" : prefix;
}

const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));

export class RedisBus implements Bus {
  /** Publishing connection (also usable for other commands; never in subscriber mode). */
  private readonly pub: RoutingRedis;
  /** Subscriber connection: only (UN)SUBSCRIBE once a channel is subscribed. */
  private readonly sub: Redis;
  private readonly prefix: string;
  private readonly fanOut: RedisBusFanOut;
  private readonly topics = new Map<string, Topic>();
  private readonly onError: (error: Error, context: RedisBusErrorContext) => void;
  private closing: Promise<void> | undefined;
  private lastConnectionError: Error | undefined;
  private readonly counters: BusStats = { messages: 0, bytes: 0 };
  /** This process's id; with the subscriber connection's epoch it names this node in presence sets. */
  private readonly nodeId = randomBytes(8).toString("hex");
  private epoch = 0;
  /** `<nodeId>.<epoch>` once the current subscriber connection listens on its node channel; undefined before. */
  private member: string | undefined;
  /** Settles when the current subscriber connection's node channel is subscribed (or that failed). */
  private joined: Promise<void> = Promise.resolve();

  constructor(private readonly url: string, options: RedisBusOptions = {}) {
    this.prefix = options.prefix ?? "natter:";
    this.fanOut = options.fanOut ?? "node";
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
      // A fan-out is a few commands (presence reads, one PUBLISH per node): those of one tick go out as one write.
      enableAutoPipelining: true,
      commandTimeout: options.commandTimeoutMs ?? 5_000,
      connectionName: `${this.prefix}bus-pub`.replace(/\s/g, "_"),
    }) as RoutingRedis;
    this.pub.defineCommand("natterBusRoute", { numberOfKeys: 1, lua: ROUTE_SCRIPT });
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
      // A new connection is a new member: entries of the old one are stale (and removed by publishers).
      const member = `${this.nodeId}.${++this.epoch}`;
      this.member = undefined;
      this.joined = this.sendSubscribe([this.prefix + RESUMED_CHANNEL, this.prefix + NODE_CHANNEL + member]).then((ok) => {
        if (ok && !this.closing) this.member = member;
      });
      void this.joined
        .then(() => this.resubscribe())
        .then(() => {
          if (reconnected) this.resumeAll();
          return this.sweepMembers();
        });
    });
    // A dropped connection's member is dead: register nothing under it until the next one is listening.
    this.sub.on("close", () => {
      this.member = undefined;
    });
    let pubWasReady = false;
    this.pub.on("ready", () => {
      if (pubWasReady && !this.closing) {
        // Presence writes may have failed while this connection was down: write them again, then tell every node.
        void this.register([...this.topics.keys()]).then(() => {
          if (this.closing) return;
          this.pub.publish(this.prefix + RESUMED_CHANNEL, "1").catch((error: unknown) => this.onError(asError(error), "publish"));
        });
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
      await this.joined;
      if (this.fanOut === "node") await this.checkVersion();
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /** The fan-out by node uses SMISMEMBER: refuse to start on an older Redis rather than drop every fan-out. */
  private async checkVersion(): Promise<void> {
    const version = /^redis_version:(\d+)\.(\d+)/m.exec(await this.pub.info("server"));
    if (version && (Number(version[1]) < 6 || (Number(version[1]) === 6 && Number(version[2]) < 2))) {
      throw new Error(`Redis ${version[1]}.${version[2]} is too old for the bus: it needs Redis 6.2 or later (or start every node with --bus-fan-out topic)`);
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
    await this.send(this.prefix + topic, payload);
  }

  async publishMany(topics: readonly string[], message: BusMessage): Promise<void> {
    if (this.closing || topics.length === 0) return;
    // Each topic once, in both fan-outs (as MemoryBus).
    const unique = [...new Set(topics)];
    if (this.fanOut === "topic") {
      await Promise.all(unique.map((topic) => this.publish(topic, message)));
      return;
    }
    let raw: string;
    try {
      raw = JSON.stringify({ type: message.type, data: message.data });
    } catch (error) {
      this.onError(asError(error), "publish");
      return;
    }
    // Which nodes have handlers for which topics: one script call, one SMISMEMBER per node.
    const byMember = new Map<string, string[]>();
    try {
      const routes = await this.pub.natterBusRoute(this.prefix + MEMBERS_KEY, this.prefix + MEMBER_TOPICS_KEY, ...unique);
      for (let i = 0; i + 1 < routes.length; i += 2) byMember.set(routes[i] as string, (routes[i + 1] as number[]).map((n) => unique[n]));
    } catch (error) {
      this.onError(asError(error), "publish");
      return;
    }
    await Promise.all(
      [...byMember].map(async ([member, mine]) => {
        // The message is serialised once; each node's envelope adds its topics, without their common prefix
        // (`user:<resource's prefix>`: half of each name).
        const common = commonPrefix(mine);
        const envelope = `{"prefix":${JSON.stringify(common)},"topics":${JSON.stringify(mine.map((t) => t.slice(common.length)))},"message":${raw}}`;
        const receivers = await this.send(this.prefix + NODE_CHANNEL + member, envelope);
        if (receivers === 0) await this.forget(member);
      }),
    );
  }

  async subscribe(topic: string, handler: BusHandler): Promise<() => Promise<void>> {
    const sub: Subscription = { handler };
    if (this.closing) return async () => {};
    let entry = this.topics.get(topic);
    if (entry) {
      entry.subs.add(sub);
    } else {
      // First local handler: SUBSCRIBE, then write this node's presence. The map is updated before the commands
      // are sent, so a reconnect in between resubscribes (and registers) this topic too.
      entry = { subs: new Set([sub]), subscribed: Promise.resolve() };
      this.topics.set(topic, entry);
      entry.subscribed = this.sendSubscribe([this.prefix + topic]).then(() => this.register([topic]));
    }
    await entry.subscribed;
    const current = entry;
    return async () => {
      if (!current.subs.delete(sub)) return; // idempotent
      if (current.subs.size > 0 || this.topics.get(topic) !== current) return;
      // Last local handler: UNSUBSCRIBE. Commands on the one subscriber connection are ordered, so a later
      // subscribe() of the same topic (a new SUBSCRIBE) wins over this UNSUBSCRIBE.
      this.topics.delete(topic);
      await this.unregister(topic);
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

  stats(): BusStats {
    return { ...this.counters };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const topics = [...this.topics.keys()];
      const member = this.member;
      this.topics.clear();
      // Best effort: take this node's presence out now rather than at the next publish to it.
      if (member && this.pub.status === "ready" && topics.length > 0) await this.forget(member, false);
      await Promise.all([this.pub, this.sub].map((connection) => quit(connection)));
    })();
    return this.closing;
  }

  /** PUBLISHes a payload, counting it; resolves to the number of receivers (undefined when it failed). */
  private async send(channel: string, payload: string): Promise<number | undefined> {
    this.counters.messages++;
    this.counters.bytes += Buffer.byteLength(payload);
    try {
      return await this.pub.publish(channel, payload);
    } catch (error) {
      // Delivery failures never reach the caller (Bus contract); they are counted.
      this.onError(asError(error), "publish");
      return undefined;
    }
  }

  /** Writes this node's presence for `topics` (those it still has handlers for), once its node channel listens. */
  private async register(topics: string[]): Promise<void> {
    await this.joined;
    const member = this.member;
    // Not listening yet: the subscriber's 'ready' path registers every topic in the map once it is.
    if (!member || this.closing || topics.length === 0) return;
    const live = topics.filter((topic) => this.topics.has(topic));
    if (live.length === 0) return;
    try {
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < live.length; i += REGISTER_BATCH) writes.push(this.pub.sadd(this.prefix + MEMBER_TOPICS_KEY + member, ...live.slice(i, i + REGISTER_BATCH)));
      // After the topics: a publisher that finds the member finds its topics.
      writes.push(this.pub.sadd(this.prefix + MEMBERS_KEY, member));
      await Promise.all(writes);
    } catch (error) {
      // Written again when the publishing connection comes back (its 'ready' handler).
      this.onError(asError(error), "presence");
    }
  }

  /** Removes this node's presence for a topic it no longer has handlers for. */
  private async unregister(topic: string): Promise<void> {
    await this.joined;
    const member = this.member;
    // A subscribe() of the topic since then has written (or will write) it again: leave it.
    if (!member || this.closing || this.topics.has(topic)) return;
    try {
      await this.pub.srem(this.prefix + MEMBER_TOPICS_KEY + member, topic);
    } catch (error) {
      // Harmless: the entry costs one message to this node per event, dropped here, until this node goes.
      this.onError(asError(error), "presence");
    }
  }

  /** Removes a member's presence: its channel reached nobody (its connection is gone for good: members are never reused), or this node closes. */
  private async forget(member: string, report = true): Promise<void> {
    try {
      await Promise.all([this.pub.srem(this.prefix + MEMBERS_KEY, member), this.pub.del(this.prefix + MEMBER_TOPICS_KEY + member)]);
    } catch (error) {
      if (report) this.onError(asError(error), "presence");
    }
  }

  /**
   * Removes the presence of members whose node channel nobody listens to. Publishers remove a dead member when
   * they publish to it; this catches those with topics nobody publishes to (each costs every fan-out a lookup).
   * Run when this node joins: a crashed node is usually restarted. A listed member always listens already (its
   * channel is subscribed before it registers), so a live one is never removed.
   */
  private async sweepMembers(): Promise<void> {
    if (this.closing) return;
    try {
      const members = await this.pub.smembers(this.prefix + MEMBERS_KEY);
      if (members.length === 0) return;
      const counts = (await this.pub.call("PUBSUB", "NUMSUB", ...members.map((m) => this.prefix + NODE_CHANNEL + m))) as (string | number)[];
      await Promise.all(members.filter((_m, i) => Number(counts[2 * i + 1]) === 0).map((m) => this.forget(m)));
    } catch (error) {
      this.onError(asError(error), "presence");
    }
  }

  /** SUBSCRIBEs `channels`; false when it could not (not connected: the 'ready' handler does it later; or failed). */
  private async sendSubscribe(channels: string[]): Promise<boolean> {
    if (this.closing || this.sub.status !== "ready") return false;
    try {
      await this.sub.subscribe(...channels);
      return true;
    } catch (error) {
      // Retried on the next reconnect (the topic stays in the map).
      this.onError(asError(error), "subscribe");
      return false;
    }
  }

  /** SUBSCRIBEs every topic with handlers and writes their presence; resolves when all are answered. */
  private async resubscribe(): Promise<void> {
    if (this.closing) return;
    const topics = [...this.topics.keys()];
    const channels = topics.map((topic) => this.prefix + topic);
    const batches: Promise<unknown>[] = [];
    for (let i = 0; i < channels.length; i += RESUBSCRIBE_BATCH) batches.push(this.sendSubscribe(channels.slice(i, i + RESUBSCRIBE_BATCH)));
    batches.push(this.register(topics));
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
    if (topic.startsWith(NODE_CHANNEL)) return this.deliverToNode(channel, raw);
    const entry = this.topics.get(topic);
    if (!entry) return;
    const message = this.decode(channel, raw);
    if (message) this.dispatch(topic, entry, message);
  }

  /** A node-addressed message: the one decoded message goes to this node's handlers of each of its topics. */
  private deliverToNode(channel: string, raw: string): void {
    let envelope: NodeEnvelope;
    try {
      const parsed = JSON.parse(raw) as Partial<NodeEnvelope> | null;
      if (typeof parsed !== "object" || parsed === null || !Array.isArray(parsed.topics) || typeof parsed.prefix !== "string") throw new Error("not a node message");
      envelope = parsed as NodeEnvelope;
    } catch (error) {
      this.onError(new Error(`undecodable message on ${channel}: ${asError(error).message}`), "decode");
      return;
    }
    const message = this.check(channel, envelope.message);
    if (!message) return;
    for (const suffix of envelope.topics) {
      if (typeof suffix !== "string") continue;
      const topic = envelope.prefix + suffix;
      const entry = this.topics.get(topic);
      if (entry) this.dispatch(topic, entry, message);
    }
  }

  private decode(channel: string, raw: string): BusMessage | undefined {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (error) {
      this.onError(new Error(`undecodable message on ${channel}: ${asError(error).message}`), "decode");
      return undefined;
    }
    return this.check(channel, parsed);
  }

  private check(channel: string, parsed: unknown): BusMessage | undefined {
    const candidate = parsed as Partial<BusMessage> | null;
    if (typeof candidate !== "object" || candidate === null || typeof candidate.type !== "string") {
      this.onError(new Error(`undecodable message on ${channel}: not a bus message`), "decode");
      return undefined;
    }
    return { type: candidate.type, data: candidate.data };
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
