// Optional ACS throttles (`--limits acs`, contract §6): fixed-window counters per user, thread or
// resource; over the limit answers 429 with Retry-After, which the Azure SDK honours and retries.
// Only authenticated, authorised callers are counted: the check runs after the bearer token and the HMAC
// signature are verified (preValidation), and thread counters count only the thread's participants, so
// neither junk requests nor outsiders can use up a limit that others need.
import type { FastifyInstance } from "fastify";
import { ChatError } from "../../domain/errors.js";

/** Shared counters: in memory for one node; a cluster shares them (e.g. in Redis). */
export interface RateCounter {
  /** Increments the counter `key` of the window that contains `now`; returns the new count and the window's end. */
  hit(key: string, windowMs: number, now: number): Promise<{ count: number; resetAt: number }>;
}

/** One fixed window of one length: its counts, and its keys in insertion order (a ring, for eviction). */
interface Window {
  start: number;
  counts: Map<string, number>;
  ring: string[];
  /** Next slot of `ring` to overwrite once the window is full. */
  next: number;
}

/**
 * In-memory counters, O(1) per hit and bounded: one Map per window length for the current window, dropped
 * whole when the window rolls over (the previous one is kept for hits that arrive late), and at most
 * `maxKeys` keys per window, the oldest evicted first (an evicted counter starts again from 0: limits fail
 * open rather than grow without bound).
 */
export class MemoryRateCounter implements RateCounter {
  private readonly current = new Map<number, Window>();
  private readonly previous = new Map<number, Window>();

  constructor(private readonly maxKeys = 100_000) {}

  async hit(key: string, windowMs: number, now: number) {
    const start = Math.floor(now / windowMs) * windowMs;
    const resetAt = start + windowMs;
    let window = this.current.get(windowMs);
    if (!window || start > window.start) {
      if (window && window.start === start - windowMs) this.previous.set(windowMs, window);
      else this.previous.delete(windowMs);
      window = { start, counts: new Map(), ring: [], next: 0 };
      this.current.set(windowMs, window);
    } else if (start < window.start) {
      const late = this.previous.get(windowMs);
      // Older than the previous window: that window is over, nothing to count.
      if (!late || late.start !== start) return { count: 0, resetAt };
      window = late;
    }
    return { count: this.increment(window, key), resetAt };
  }

  /** Keys currently held (all windows): what the bound applies to. */
  get size(): number {
    let n = 0;
    for (const w of this.current.values()) n += w.counts.size;
    for (const w of this.previous.values()) n += w.counts.size;
    return n;
  }

  private increment(window: Window, key: string): number {
    const count = (window.counts.get(key) ?? 0) + 1;
    if (count === 1) {
      if (window.ring.length < this.maxKeys) {
        window.ring.push(key);
      } else {
        window.counts.delete(window.ring[window.next]);
        window.ring[window.next] = key;
        window.next = (window.next + 1) % this.maxKeys;
      }
    }
    window.counts.set(key, count);
    return count;
  }
}

type Scope = "user" | "thread" | "userThread" | "resource";
interface Rule {
  bucket: string;
  scope: Scope;
  windowMs: number;
  max: number;
}
const r = (bucket: string, scope: Scope, seconds: number, max: number): Rule => ({ bucket, scope, windowMs: seconds * 1000, max });

/** The ACS rate table, by route limit name (demoSignIn is Natter's: the demo sign-in has a bucket of its own). */
export const ACS_RATE_RULES: Record<string, Rule[]> = {
  createThread: [r("createThread", "user", 10, 10)],
  deleteThread: [r("deleteThread", "user", 10, 10)],
  updateThread: [r("updateThread", "thread", 10, 5)],
  participants: [r("participants", "thread", 10, 10), r("participants", "thread", 60, 30)],
  getThread: [r("threadRead", "user", 10, 50)],
  listThreads: [r("threadRead", "user", 10, 50)],
  getMessage: [r("getMessage", "userThread", 10, 50), r("getMessage", "thread", 10, 250)],
  listMessages: [r("listMessages", "userThread", 10, 50), r("listMessages", "userThread", 60, 200), r("listMessages", "thread", 10, 250), r("listMessages", "thread", 60, 400)],
  sendReadReceipt: [r("sendReadReceipt", "userThread", 10, 10), r("sendReadReceipt", "userThread", 60, 30)],
  listReadReceipts: [r("listReadReceipts", "userThread", 10, 5), r("listReadReceipts", "thread", 10, 100)],
  listParticipants: [r("listParticipants", "userThread", 10, 10), r("listParticipants", "thread", 10, 250)],
  sendMessage: [r("messageWrite", "thread", 10, 10), r("messageWrite", "thread", 60, 30)],
  updateMessage: [r("messageWrite", "thread", 10, 10), r("messageWrite", "thread", 60, 30)],
  deleteMessage: [r("messageWrite", "thread", 10, 10), r("messageWrite", "thread", 60, 30)],
  typing: [r("typing", "userThread", 10, 5), r("typing", "userThread", 60, 15), r("typing", "thread", 10, 10), r("typing", "thread", 60, 30)],
  createUser: [r("createUser", "resource", 30, 1000)],
  deleteUser: [r("deleteUser", "resource", 30, 500)],
  issueToken: [r("issueToken", "resource", 30, 1000)],
  revokeTokens: [r("revokeTokens", "resource", 30, 500)],
  getIdentity: [r("getIdentity", "resource", 30, 1000)],
  exchangeToken: [r("exchangeToken", "resource", 30, 500)],
  demoSignIn: [r("demoSignIn", "resource", 30, 1000)],
};

export interface RateLimitDeps {
  counter: RateCounter;
  now: () => number;
  /** Whether `userId` is a participant of `threadId` (thread counters count participants only). */
  isParticipant: (userId: string, threadId: string) => Promise<boolean>;
}

export function registerRateLimits(app: FastifyInstance, deps: RateLimitDeps): void {
  // preValidation, registered after the request context: the bearer token (onRequest) and the HMAC signature
  // (preValidation) are verified first, so a request that fails them is refused without being counted.
  app.addHook("preValidation", async (request) => {
    const rules = request.routeOptions.config.limit ? ACS_RATE_RULES[request.routeOptions.config.limit] : undefined;
    if (!rules) return;
    const user = request.caller?.userId ?? "";
    const thread = (request.params as { threadId?: string } | undefined)?.threadId ?? "";
    // An outsider's requests on a thread are left to the route (403/404) and touch no counter of it.
    if (thread !== "" && rules.some((rule) => rule.scope === "thread" || rule.scope === "userThread")) {
      if (user === "" || !(await deps.isParticipant(user, thread))) return;
    }
    const t = deps.now();
    for (const rule of rules) {
      const subject = rule.scope === "user" ? user : rule.scope === "thread" ? thread : rule.scope === "userThread" ? `${user}|${thread}` : "";
      const { count, resetAt } = await deps.counter.hit(`${rule.bucket}:${rule.windowMs}:${rule.scope}:${subject}`, rule.windowMs, t);
      if (count > rule.max) {
        throw new ChatError("tooManyRequests", "Rate limit exceeded.", { retryAfterSeconds: Math.max(1, Math.ceil((resetAt - t) / 1000)) });
      }
    }
  });
}
