// The delivery engine: for each event subscription whose lease this node holds, reads the durable event stream
// from the subscription's cursor, maps and filters the events, and POSTs them to the webhook, off the request path.
//
// Guarantees (docs/events.md "Guarantees"):
// - Nothing lost: the cursor moves (in the Store) only after every event up to it was delivered, parked in the
//   subscription's retry queue or dead-lettered, in one write. A crash re-delivers from the cursor: duplicates,
//   never gaps, and a duplicate carries the same event id (ids are derived from the stream position).
// - In order per thread: a thread with parked events is "blocked": its newer events queue behind them, and only
//   the head of each thread's queue is retried. Other threads go on.
// - Retries with exponential backoff and jitter, at least Retry-After; 400/401/403/404/413 are not retried;
//   after maxDeliveryAttempts or the time to live an event is dead-lettered.
// - A receiver that fails everything (no answer, or failures for several threads and no success) opens the
//   subscription's circuit: only its retry queue is retried (with backoff) and the stream is not read, so an
//   outage parks one round of events; the rest waits in the stream and drains at full speed once the receiver
//   answers again. A single failing thread (a poison event) parks only that thread's events.
// - One delivering node per subscription: a lease row in the Store, renewed every `leaseRenewMs`; every cursor
//   or queue write is fenced by the lease, so a node that lost it writes nothing.
import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import { hostname } from "node:os";
import { performance } from "node:perf_hooks";
import type { EventDeliveryRecord, EventRecord, EventSubscriptionRecord, NewEventDelivery, ParkedOutcome, Store } from "../store/store.js";
import type { OutgoingEvent } from "./chat-event-grid.js";
import type { SubscriptionDefinition } from "./subscription.js";
import { matchesFilter } from "./subscription.js";
import type { DeliveryResult } from "./webhook.js";
import { postWebhook, signWebhook, webhookMessageId } from "./webhook.js";

/** The mapping from durable stream events to Event Grid / CloudEvents payloads (chat-event-grid.ts). */
export interface EventPayloads {
  eventTypes: readonly string[];
  outgoingEventsFor(record: EventRecord): OutgoingEvent[];
  toEventGridSchema(e: OutgoingEvent, topic: string): Record<string, unknown>;
  toCloudEventSchema(e: OutgoingEvent, source: string): Record<string, unknown>;
  /** The resource path used as Event Grid `topic` and CloudEvents `source`. */
  topic: string;
}

/**
 * The body and headers of one webhook request for a subscription: Event Grid or CloudEvents shape, Standard
 * Webhooks signature and Event Grid's `aeg-*` headers. `deliveryCount` counts earlier attempts.
 */
function webhookRequest(
  sub: Pick<EventSubscriptionRecord, "name" | "secret" | "definition">, events: OutgoingEvent[], deliveryCount: number, nowMs: number, payloads: EventPayloads,
): { body: string; headers: Record<string, string> } {
  const def = sub.definition as SubscriptionDefinition;
  let body: string;
  let contentType = "application/json; charset=utf-8";
  if (def.schema === "CloudEventSchemaV1_0") {
    const shaped = events.map((e) => payloads.toCloudEventSchema(e, payloads.topic));
    // Event Grid sends one CloudEvent in structured mode without batching, an array with it.
    const single = def.maxEventsPerBatch === 1;
    body = JSON.stringify(single ? shaped[0] : shaped);
    contentType = single ? "application/cloudevents+json; charset=utf-8" : "application/cloudevents-batch+json; charset=utf-8";
  } else {
    body = JSON.stringify(events.map((e) => payloads.toEventGridSchema(e, payloads.topic)));
  }
  const id = webhookMessageId(events.map((e) => e.id));
  const timestamp = Math.floor(nowMs / 1000);
  const headers = {
    "content-type": contentType,
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": signWebhook(sub.secret, id, timestamp, body),
    "aeg-event-type": "Notification",
    "aeg-subscription-name": sub.name.toUpperCase(),
    "aeg-delivery-count": String(deliveryCount),
    "aeg-data-version": events[0].dataVersion,
    "aeg-metadata-version": "1",
  };
  return { body, headers };
}

/** Approximate JSON size of an event's data, computed once per event (every subscription sizes the same ones). */
const dataSizes = new WeakMap<OutgoingEvent, number>();
function dataSize(event: OutgoingEvent): number {
  let size = dataSizes.get(event);
  if (size === undefined) dataSizes.set(event, (size = JSON.stringify(event.data).length));
  return size;
}

export interface DeliveryOptions {
  /** How often the stream head is checked for new events (ms). */
  pollMs: number;
  /** How often the subscription list is re-read: a deletion elsewhere stops deliveries within this (ms). */
  refreshMs: number;
  /** Stream events read per round. */
  readBatch: number;
  /** First retry delay (ms); doubles per attempt, with ±20 % jitter, up to retryMaxMs. */
  retryMinMs: number;
  retryMaxMs: number;
  /** Timeout of one delivery (ms). */
  timeoutMs: number;
  /** Requests in flight per subscription. */
  concurrency: number;
  /** Lease length and renewal period (ms): another node takes over at most leaseTtlMs after a crash. */
  leaseTtlMs: number;
  leaseRenewMs: number;
  /** Parked deliveries looked at per retry round. */
  parkedScan: number;
  /** Requests in flight on this node, all subscriptions together, while the API is idle. */
  nodeConcurrency: number;
}

export const DEFAULT_DELIVERY_OPTIONS: DeliveryOptions = {
  pollMs: 50, refreshMs: 500, readBatch: 500, retryMinMs: 10_000, retryMaxMs: 3_600_000, timeoutMs: 30_000, concurrency: 16,
  leaseTtlMs: 6_000, leaseRenewMs: 2_000, parkedScan: 1_000, nodeConcurrency: 64,
};

interface Logger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

interface Item {
  event: OutgoingEvent;
  position: number;
  /** Order within the round (stream order, then the mapping's order). */
  ord: number;
}

/**
 * The newest stream events read by any worker, shared: with many subscriptions at about the same cursor the
 * stream is read once instead of once per subscription. It holds every event in (from, to] (it only grows by
 * contiguous reads, and the Store's positions become visible in commit order), so an answer from it is what the
 * Store would give for that range; a read beyond `to` goes to the Store and extends it.
 */
export class StreamWindow {
  private from = 0;
  private to = 0;
  private events: EventRecord[] = [];
  constructor(private readonly store: Store, private readonly max = 5_000) {}

  async read(after: number, limit: number): Promise<EventRecord[]> {
    if (after >= this.from && after < this.to) {
      // Binary search for the first event after `after`.
      let lo = 0;
      let hi = this.events.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.events[mid].position <= after) lo = mid + 1;
        else hi = mid;
      }
      if (lo < this.events.length) return this.events.slice(lo, lo + limit);
    }
    const rows = await this.store.readStream(after, limit);
    if (rows.length === 0) return rows;
    if (after === this.to && this.events.length > 0) this.events.push(...rows);
    else {
      this.events = [...rows];
      this.from = after;
    }
    this.to = rows[rows.length - 1].position;
    if (this.events.length > this.max) {
      const drop = this.events.length - this.max;
      this.from = this.events[drop - 1].position;
      this.events = this.events.slice(drop);
    }
    return rows;
  }
}

/** A tiny counting semaphore: the per-subscription concurrency limit. */
class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly max: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/**
 * The node-wide limit on requests in flight, which makes delivery a background task: while the stream head moves
 * (the API is committing sends) and the event loop is busy, the limit drops every 100 ms (÷4) down to 1, and then
 * the requests started per 100 ms halve down to `minPerPeriod`, so delivery takes a small share of the CPU that
 * sends and realtime delivery need (a backlog waits in the durable stream meanwhile); when the loop has room the
 * limits climb back, and with no sends they return to `max` at once (a backlog drains at full speed).
 */
export class DeliveryGate {
  private active = 0;
  private cap: number;
  /** Requests that may start in the current 100 ms period (Infinity: no limit). */
  private perPeriod = Infinity;
  private started = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly max: number, private readonly minPerPeriod = 5) {
    this.cap = max;
  }

  get limit(): number {
    return this.cap;
  }

  get rate(): number {
    return this.perPeriod;
  }

  /** Below its full limit: the API is busy. */
  get throttled(): boolean {
    return this.cap < this.max || this.perPeriod !== Infinity;
  }

  /** Adapts the limits to the last period: `utilization` of the event loop, `apiBusy` when sends were committed. */
  adapt(utilization: number, apiBusy: boolean): void {
    this.started = 0;
    if (!apiBusy) {
      this.cap = this.max;
      this.perPeriod = Infinity;
    } else if (utilization > 0.7) {
      if (this.cap > 1) this.cap = Math.max(1, Math.floor(this.cap / 4));
      else this.perPeriod = Math.max(this.minPerPeriod, this.perPeriod === Infinity ? 64 : Math.floor(this.perPeriod / 2));
    } else if (utilization < 0.5) {
      if (this.perPeriod !== Infinity) this.perPeriod = this.perPeriod >= 64 ? Infinity : this.perPeriod * 2;
      else this.cap = Math.min(this.max, this.cap + 1);
    }
    this.release();
  }

  private open(): boolean {
    return this.active < this.cap && this.started < this.perPeriod;
  }

  private release(): void {
    while (this.open() && this.waiting.length > 0) {
      this.active++;
      this.started++;
      this.waiting.shift()!();
    }
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.open() && this.waiting.length === 0) {
      this.active++;
      this.started++;
    } else await new Promise<void>((resolve) => this.waiting.push(resolve)); // counted by release()
    try {
      return await fn();
    } finally {
      this.active--;
      this.release();
    }
  }
}

class LeaseLost extends Error {}

/** The delivery state of one subscription on the node that holds its lease. */
class Worker {
  readonly abort = new AbortController();
  running = true;
  cursor: number;
  private circuitOpen = false;
  /** What the last read of the retry queue found (threads blocked, next due time), while it holds. */
  private queue?: { blocked: Set<string>; nextDue: number; readAt: number };
  /** Bumped by queueChanged(): a read that began before it is not kept. */
  private queueEpoch = 0;
  private wakeUp?: () => void;
  private readonly limiter: Limiter;
  done: Promise<void>;

  constructor(private readonly engine: DeliveryEngine, public record: EventSubscriptionRecord) {
    this.cursor = record.cursor;
    // Every request in flight listens to this signal.
    setMaxListeners(0, this.abort.signal);
    this.limiter = new Limiter(engine.options.concurrency);
    this.done = this.loop();
  }

  get def(): SubscriptionDefinition {
    return this.record.definition as SubscriptionDefinition;
  }

  wake(): void {
    this.wakeUp?.();
  }

  /** The retry queue changed elsewhere (dead letters redelivered): read it again. */
  queueChanged(): void {
    this.queueEpoch++;
    this.queue = undefined;
    this.wake();
  }

  stop(): void {
    this.running = false;
    this.abort.abort();
    this.wake();
  }

  private async loop(): Promise<void> {
    const { store, options, log } = this.engine;
    while (this.running) {
      let busy = false;
      let nextDue = Infinity;
      try {
        let blocked = new Set<string>();
        const known = this.queue;
        if (known && this.engine.now() < known.nextDue && performance.now() - known.readAt < options.refreshMs) {
          // Nothing due, and the queue unchanged since it was read (this worker is its only writer, but for a
          // redelivery of dead letters, seen within refreshMs): no re-read. During an outage the head poll wakes
          // the worker every pollMs, and each wake used to parse up to parkedScan rows.
          blocked = new Set(known.blocked);
          nextDue = known.nextDue;
        } else {
          const readAt = performance.now();
          const epoch = this.queueEpoch;
          this.queue = undefined;
          const parked = await store.listParkedDeliveries(this.record.name, options.parkedScan);
          if (!this.running) break;
          if (parked.length === 0) {
            this.circuitOpen = false;
            if (epoch === this.queueEpoch) this.queue = { blocked: new Set(), nextDue: Infinity, readAt };
          } else {
            const r = await this.retryParked(parked);
            if (!this.running) break;
            nextDue = r.nextDue;
            // Drain what is due in the retry queue before reading on: the stream's events of those threads would
            // only queue behind it.
            if (r.sent) continue;
            blocked = r.blocked;
            if (epoch === this.queueEpoch) this.queue = { blocked: new Set(blocked), nextDue, readAt };
          }
        }
        if (!this.circuitOpen) {
          // A throttled gate (sends are busy) delivers a few requests per period: a full round would set up
          // thousands of pending requests at once (CPU and garbage taken from the sends) to deliver them slowly.
          const events = await this.engine.stream.read(this.cursor, this.engine.gate.throttled ? Math.min(50, options.readBatch) : options.readBatch);
          if (!this.running) break;
          if (events.length > 0) {
            await this.deliverStream(events, blocked);
            busy = true;
          }
        }
      } catch (error) {
        this.queue = undefined;
        if (error instanceof LeaseLost || !this.running) break;
        log.error({ err: error, subscription: this.record.name }, "event delivery round failed");
        nextDue = Math.min(nextDue, this.engine.now() + 1_000);
      }
      if (!busy && this.running) await this.idle(nextDue);
    }
    this.running = false;
    this.engine.workerEnded(this);
  }

  /** Waits for new events (a wake from the head poll), the next parked due time, or a stop. */
  private async idle(nextDue: number): Promise<void> {
    const wait = Math.max(10, Math.min(nextDue - this.engine.now(), this.engine.options.refreshMs));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, wait);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wakeUp = undefined;
  }

  private backoff(attempts: number, retryAfterMs?: number): number {
    const { retryMinMs, retryMaxMs } = this.engine.options;
    const exp = Math.min(retryMaxMs, retryMinMs * 2 ** Math.max(0, attempts - 1));
    const jittered = exp * (0.8 + Math.random() * 0.4);
    // Retry-After is honoured even beyond retryMaxMs (bounded by a day, Event Grid's time to live).
    return Math.round(Math.max(jittered, Math.min(retryAfterMs ?? 0, 86_400_000)));
  }

  private expired(e: OutgoingEvent, now: number): boolean {
    const at = Date.parse(e.eventTime);
    return Number.isFinite(at) && now - at > this.def.eventTimeToLiveInMinutes * 60_000;
  }

  private async send(events: OutgoingEvent[], deliveryCount: number): Promise<DeliveryResult> {
    const { body, headers } = webhookRequest(this.record, events, deliveryCount, this.engine.now(), this.engine.payloads);
    const started = performance.now();
    const result = await this.limiter.run(() => this.engine.gate.run(() => postWebhook(this.def.endpointUrl, body, headers, this.engine.options.timeoutMs, this.abort.signal)));
    this.engine.noteDelivery(result, events.length, performance.now() - started);
    return result;
  }

  /** Stream events → outgoing events that pass the filter, in stream order. */
  private items(events: EventRecord[]): Item[] {
    const out: Item[] = [];
    for (const record of events) {
      let mapped: OutgoingEvent[];
      try {
        mapped = this.engine.mapped(record);
      } catch (error) {
        this.engine.log.error({ err: error, position: record.position, type: record.type }, "event mapping failed; event skipped");
        continue;
      }
      for (const event of mapped) {
        if (matchesFilter(this.def, event.eventType, event.subject)) out.push({ event, position: record.position, ord: out.length });
      }
    }
    return out;
  }

  /** Splits into requests of at most maxEventsPerBatch events and about preferredBatchSizeInKilobytes. */
  private chunks(items: Item[]): Item[][] {
    const max = this.def.maxEventsPerBatch;
    const maxBytes = this.def.preferredBatchSizeInKilobytes * 1024;
    const out: Item[][] = [];
    let current: Item[] = [];
    let bytes = 0;
    for (const item of items) {
      const size = max > 1 ? dataSize(item.event) + 400 : 0;
      if (current.length > 0 && (current.length >= max || bytes + size > maxBytes)) {
        out.push(current);
        current = [];
        bytes = 0;
      }
      current.push(item);
      bytes += size;
    }
    if (current.length) out.push(current);
    return out;
  }

  /** A round over new stream events: first attempts, then one Store write that parks, dead-letters and moves the cursor. */
  private async deliverStream(events: EventRecord[], blocked: Set<string>): Promise<void> {
    const now = this.engine.now();
    const parked: (NewEventDelivery & { ord: number })[] = [];
    const dead: NewEventDelivery[] = [];
    const row = (item: Item, attempts: number, at: number, reason: string | null, lastError: string | null) =>
      ({ eventId: item.event.id, threadId: item.event.threadId, position: item.position, event: item.event, attempts, at, reason, lastError, ord: item.ord });
    const toSend: Item[] = [];
    for (const item of this.items(events)) {
      if (blocked.has(item.event.threadId)) parked.push(row(item, 0, now, null, null));
      else if (this.expired(item.event, now)) dead.push(row(item, 0, now, "TimeToLiveExceeded", null));
      else toSend.push(item);
    }
    let delivered = 0;
    // Threads whose request failed with a retryable answer, and failures without any answer (refused, timeout).
    const failedThreads = new Set<string>();
    let unreachable = 0;
    // Each request waits for the previous request of every thread it carries: order per thread.
    const lastOfThread = new Map<string, Promise<void>>();
    const requests = this.chunks(toSend).map((chunk) => {
      const threads = [...new Set(chunk.map((i) => i.event.threadId))];
      const before = threads.map((t) => lastOfThread.get(t)).filter((p): p is Promise<void> => p !== undefined);
      const done = (async () => {
        await Promise.all(before);
        const t = this.engine.now();
        // Events of a thread that got blocked meanwhile queue behind its parked ones.
        const sending = chunk.filter((i) => !blocked.has(i.event.threadId));
        for (const i of chunk) if (blocked.has(i.event.threadId)) parked.push(row(i, 0, t, null, null));
        if (sending.length === 0) return;
        const result = await this.send(sending.map((i) => i.event), 0);
        if (result.ok) {
          delivered++;
          return;
        }
        if (result.status === undefined) unreachable++;
        if (result.retryable) for (const i of sending) failedThreads.add(i.event.threadId);
        if (!result.retryable || this.def.maxDeliveryAttempts <= 1) {
          const reason = result.retryable ? "MaxDeliveryAttemptsExceeded" : "DeliveryFailed";
          for (const i of sending) dead.push(row(i, 1, t, reason, result.error));
          return;
        }
        const at = this.engine.now() + this.backoff(1, result.retryAfterMs);
        for (const i of sending) {
          parked.push(row(i, 1, at, null, result.error));
          blocked.add(i.event.threadId);
        }
      })();
      for (const t of threads) lastOfThread.set(t, done);
      return done;
    });
    await Promise.all(requests);
    if (!this.running) return; // deleted or lease lost meanwhile: nothing is recorded, the next holder re-delivers
    parked.sort((a, b) => a.ord - b.ord);
    const last = events[events.length - 1].position;
    if (parked.length > 0) this.queue = undefined;
    const ok = await this.engine.store.advanceEventSubscription(this.record.name, this.engine.nodeId, last, parked.map(({ ord: _ord, ...d }) => d), dead);
    if (!ok) throw new LeaseLost();
    this.cursor = last;
    // The receiver looks down (nothing got through, and it did not answer or failed for several threads): stop
    // reading the stream until a retry gets through. One thread failing alone (a poison event) only parks that thread.
    if (delivered === 0 && (unreachable > 0 || failedThreads.size > 1) && parked.some((p) => p.attempts > 0)) this.circuitOpen = true;
  }

  /**
   * A retry round over the parked queue: for each thread (concurrently), its due events in order, in requests of
   * up to maxEventsPerBatch, until one fails. Returns the threads still blocked (with events left in the queue).
   */
  private async retryParked(parked: EventDeliveryRecord[]): Promise<{ sent: boolean; nextDue: number; blocked: Set<string> }> {
    const now = this.engine.now();
    const outcome: ParkedOutcome = { delivered: [], retry: [], deadLetter: [] };
    const byThread = new Map<string, EventDeliveryRecord[]>();
    for (const p of parked) {
      const list = byThread.get(p.threadId);
      if (list) list.push(p);
      else byThread.set(p.threadId, [p]);
    }
    let nextDue = Infinity;
    let anyDelivered = false;
    const blocked = new Set<string>();
    await Promise.all([...byThread].map(async ([threadId, rows]) => {
      let i = 0;
      let waiting = false;
      while (i < rows.length && this.running) {
        const head = rows[i];
        if (this.expired(head.event as OutgoingEvent, now)) {
          outcome.deadLetter.push({ seq: head.seq, attempts: head.attempts, reason: "TimeToLiveExceeded", lastError: head.lastError });
          i++;
          continue;
        }
        if (head.at > now) {
          nextDue = Math.min(nextDue, head.at);
          waiting = true;
          break;
        }
        const group = [head];
        while (group.length < this.def.maxEventsPerBatch && i + group.length < rows.length) {
          const next = rows[i + group.length];
          if (next.at > now || this.expired(next.event as OutgoingEvent, now)) break;
          group.push(next);
        }
        const result = await this.send(group.map((g) => g.event as OutgoingEvent), head.attempts);
        if (result.ok) {
          anyDelivered = true;
          outcome.delivered.push(...group.map((g) => g.seq));
          i += group.length;
          continue;
        }
        let stop = false;
        for (const g of group) {
          const attempts = g.attempts + 1;
          if (!result.retryable) outcome.deadLetter.push({ seq: g.seq, attempts, reason: "DeliveryFailed", lastError: result.error });
          else if (attempts >= this.def.maxDeliveryAttempts) outcome.deadLetter.push({ seq: g.seq, attempts, reason: "MaxDeliveryAttemptsExceeded", lastError: result.error });
          else {
            const at = this.engine.now() + this.backoff(attempts, result.retryAfterMs);
            outcome.retry.push({ seq: g.seq, attempts, at, lastError: result.error });
            nextDue = Math.min(nextDue, at);
            stop = true;
          }
        }
        i += group.length;
        if (stop) {
          waiting = true;
          break;
        }
      }
      if (waiting || i < rows.length) blocked.add(threadId);
    }));
    if (!this.running) return { sent: false, nextDue, blocked };
    const changed = outcome.delivered.length + outcome.retry.length + outcome.deadLetter.length > 0;
    if (changed && !(await this.engine.store.settleParkedDeliveries(this.record.name, this.engine.nodeId, outcome, this.engine.now()))) throw new LeaseLost();
    if (anyDelivered) this.circuitOpen = false;
    // Deliveries and dead letters change the queue: another round looks at it again at once.
    return { sent: anyDelivered || outcome.deadLetter.length > 0, nextDue, blocked };
  }
}

export interface DeliveryStats {
  delivered: number;
  failed: number;
}

/** Runs the workers of the subscriptions this node holds a lease for; started and stopped with the server. */
export class DeliveryEngine {
  /** The lease holder's name: host/pid/random (the pid tells an operator which process delivers). */
  readonly nodeId = `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
  readonly options: DeliveryOptions;
  private readonly workers = new Map<string, Worker>();
  private readonly leaseRenewedAt = new Map<string, number>();
  private readonly leaseCheckedAt = new Map<string, number>();
  private readonly mappedCache = new Map<number, OutgoingEvent[]>();
  /** When a subscription was last forgotten (deleted): a refresh that began before must not restart it. */
  private readonly forgottenAt = new Map<string, number>();
  readonly stream: StreamWindow;
  readonly gate: DeliveryGate;
  private lastHead = -1;
  private headMovedAt = -Infinity;
  private elu = performance.eventLoopUtilization();
  private gateTimer?: NodeJS.Timeout;
  private subscriptions: EventSubscriptionRecord[] = [];
  private pollTimer?: NodeJS.Timeout;
  private refreshTimer?: NodeJS.Timeout;
  private refreshing?: Promise<void>;
  private polling = false;
  private stopped = false;
  readonly stats: DeliveryStats = { delivered: 0, failed: 0 };

  constructor(
    readonly store: Store,
    readonly payloads: EventPayloads,
    readonly log: Logger,
    readonly now: () => number = Date.now,
    options: Partial<DeliveryOptions> = {},
    private readonly onDelivery?: (result: DeliveryResult, events: number, ms: number) => void,
  ) {
    this.options = { ...DEFAULT_DELIVERY_OPTIONS, ...options };
    this.stream = new StreamWindow(store);
    this.gate = new DeliveryGate(this.options.nodeConcurrency);
  }

  start(): void {
    this.refreshTimer = setInterval(() => void this.refresh(), this.options.refreshMs);
    this.pollTimer = setInterval(() => void this.poll(), this.options.pollMs);
    this.gateTimer = setInterval(() => this.adaptGate(), 100);
    this.gateTimer.unref();
    void this.refresh();
  }

  /** Re-reads the subscriptions now (after a change through this node's API). */
  refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  /** Stops a subscription's deliveries on this node at once (it was deleted). */
  forget(name: string): void {
    this.workers.get(name)?.stop();
    this.workers.delete(name);
    this.leaseCheckedAt.delete(name);
    this.forgottenAt.set(name, this.now());
    this.subscriptions = this.subscriptions.filter((s) => s.name !== name);
  }

  /** Dead letters of `name` went back to its retry queue through this node: its worker reads the queue at once. */
  queueChanged(name: string): void {
    this.workers.get(name)?.queueChanged();
  }

  /** Best-effort events that are not in the durable stream (typing): one attempt to each matching subscription. */
  deliverEphemeral(events: OutgoingEvent[]): void {
    if (this.stopped || events.length === 0) return;
    for (const sub of this.subscriptions) {
      if (sub.state !== "Succeeded") continue;
      const def = sub.definition as SubscriptionDefinition;
      const matching = events.filter((e) => matchesFilter(def, e.eventType, e.subject));
      if (matching.length === 0) continue;
      const worker = new EphemeralSender(this, sub);
      void worker.send(matching);
    }
  }

  private async doRefresh(): Promise<void> {
    if (this.stopped) return;
    const startedAt = this.now();
    try {
      this.subscriptions = await this.store.listEventSubscriptions();
    } catch (error) {
      this.log.warn({ err: error }, "event subscriptions could not be read");
      return;
    }
    const now = this.now();
    const names = new Set(this.subscriptions.map((s) => s.name));
    for (const [name, worker] of this.workers) {
      if (!names.has(name)) this.forget(name);
      else worker.record = { ...this.subscriptions.find((s) => s.name === name)!, cursor: worker.cursor };
    }
    // Leases are checked concurrently: one slow renewal must not delay the others past their expiry.
    await Promise.all(this.subscriptions.map((sub) => this.checkLease(sub, now, startedAt)));
  }

  private async checkLease(sub: EventSubscriptionRecord, now: number, startedAt: number): Promise<void> {
    if (this.stopped || sub.state !== "Succeeded") return;
    const held = this.workers.get(sub.name);
    // Held: renewed every leaseRenewMs. Not held: tried as often, so a crashed holder is replaced within
    // leaseTtlMs + leaseRenewMs.
    const checkedAt = this.leaseCheckedAt.get(sub.name) ?? -Infinity;
    if (now - checkedAt < this.options.leaseRenewMs) return;
    this.leaseCheckedAt.set(sub.name, now);
    let ok = false;
    try {
      ok = await this.store.acquireEventSubscriptionLease(sub.name, this.nodeId, now, this.options.leaseTtlMs);
    } catch (error) {
      this.log.warn({ err: error, subscription: sub.name }, "event subscription lease could not be renewed");
      // Not renewed: stop before the lease may have expired and been taken elsewhere.
      if (held && now - (this.leaseRenewedAt.get(sub.name) ?? 0) > this.options.leaseTtlMs / 2) this.forget(sub.name);
      return;
    }
    if (ok) {
      this.leaseRenewedAt.set(sub.name, now);
      if (!held && !this.stopped && (this.forgottenAt.get(sub.name) ?? -Infinity) < startedAt) this.workers.set(sub.name, new Worker(this, sub));
    } else if (held) this.forget(sub.name);
  }

  /** Wakes the workers that are behind the stream head. */
  private async poll(): Promise<void> {
    if (this.polling || this.workers.size === 0) return;
    this.polling = true;
    try {
      const head = await this.store.headPosition();
      if (head !== this.lastHead) {
        if (this.lastHead >= 0) this.headMovedAt = performance.now();
        this.lastHead = head;
      }
      for (const worker of this.workers.values()) if (worker.cursor < head) worker.wake();
    } catch {
      // the next poll tries again
    } finally {
      this.polling = false;
    }
  }

  /** Every 100 ms: the API counts as busy when the stream head moved within the last two polls. */
  private adaptGate(): void {
    const elu = performance.eventLoopUtilization(this.elu);
    this.elu = performance.eventLoopUtilization();
    this.gate.adapt(elu.utilization, performance.now() - this.headMovedAt < 2 * this.options.pollMs + 100);
  }

  /** The outgoing events of a stream event, mapped once for all subscriptions (they read the same positions). */
  mapped(record: EventRecord): OutgoingEvent[] {
    let events = this.mappedCache.get(record.position);
    if (!events) {
      events = this.payloads.outgoingEventsFor(record);
      this.mappedCache.set(record.position, events);
      // Bounded: the oldest position goes first (a Map iterates in insertion order).
      if (this.mappedCache.size > 20_000) this.mappedCache.delete(this.mappedCache.keys().next().value!);
    }
    return events;
  }

  workerEnded(worker: Worker): void {
    if (this.workers.get(worker.record.name) === worker) {
      this.workers.delete(worker.record.name);
      this.leaseRenewedAt.delete(worker.record.name);
      this.leaseCheckedAt.delete(worker.record.name);
    }
  }

  noteDelivery(result: DeliveryResult, events: number, ms: number): void {
    if (result.ok) this.stats.delivered += events;
    else this.stats.failed += events;
    this.onDelivery?.(result, events, ms);
  }

  /** Stops every worker (in-flight requests are aborted: their events are re-delivered by the next holder) and gives up the leases. */
  async close(): Promise<void> {
    this.stopped = true;
    clearInterval(this.refreshTimer);
    clearInterval(this.pollTimer);
    clearInterval(this.gateTimer);
    await this.refreshing?.catch(() => {});
    const workers = [...this.workers.values()];
    for (const w of workers) w.stop();
    await Promise.all(workers.map((w) => w.done.catch(() => {})));
    await Promise.all(workers.map((w) => this.store.releaseEventSubscriptionLease(w.record.name, this.nodeId).catch(() => {})));
    this.workers.clear();
  }
}

/** One best-effort request for events that are not durable (typing indicators). */
class EphemeralSender {
  constructor(private readonly engine: DeliveryEngine, private readonly sub: EventSubscriptionRecord) {}
  async send(events: OutgoingEvent[]): Promise<void> {
    const { maxEventsPerBatch: max, endpointUrl } = this.sub.definition as SubscriptionDefinition;
    for (let i = 0; i < events.length; i += max) {
      const batch = events.slice(i, i + max);
      const { body, headers } = webhookRequest(this.sub, batch, 0, this.engine.now(), this.engine.payloads);
      const result = await this.engine.gate.run(() => postWebhook(endpointUrl, body, headers, Math.min(this.engine.options.timeoutMs, 5_000)));
      this.engine.noteDelivery(result, batch.length, 0);
    }
  }
}
