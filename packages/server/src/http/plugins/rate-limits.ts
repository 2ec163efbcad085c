// Optional ACS throttles (`--limits acs`, contract §6): fixed-window counters per user, thread or
// resource; over the limit answers 429 with Retry-After, which the Azure SDK honours and retries.
import type { FastifyInstance } from "fastify";
import { ChatError } from "../../domain/errors.js";

/** Shared counters: in memory for one node; a cluster shares them (e.g. in Redis). */
export interface RateCounter {
  /** Increments the counter `key` of the window that contains `now`; returns the new count and the window's end. */
  hit(key: string, windowMs: number, now: number): Promise<{ count: number; resetAt: number }>;
}

export class MemoryRateCounter implements RateCounter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();
  async hit(key: string, windowMs: number, now: number) {
    const start = Math.floor(now / windowMs) * windowMs;
    const id = `${key}@${start}`;
    let w = this.windows.get(id);
    if (!w) {
      if (this.windows.size > 100_000) this.sweep(now);
      w = { count: 0, resetAt: start + windowMs };
      this.windows.set(id, w);
    }
    w.count++;
    return { ...w };
  }
  private sweep(now: number) {
    for (const [id, w] of this.windows) if (w.resetAt <= now) this.windows.delete(id);
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

/** The ACS rate table, by route limit name. */
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
  exchangeToken: [r("exchangeToken", "resource", 30, 500)],
};

export function registerRateLimits(app: FastifyInstance, counter: RateCounter, now: () => number): void {
  // Registered after authentication, so the caller is known.
  app.addHook("onRequest", async (request) => {
    const rules = request.routeOptions.config.limit ? ACS_RATE_RULES[request.routeOptions.config.limit] : undefined;
    if (!rules) return;
    const user = request.caller?.userId ?? "";
    const thread = (request.params as { threadId?: string } | undefined)?.threadId ?? "";
    const t = now();
    for (const rule of rules) {
      const subject = rule.scope === "user" ? user : rule.scope === "thread" ? thread : rule.scope === "userThread" ? `${user}|${thread}` : "";
      const { count, resetAt } = await counter.hit(`${rule.bucket}:${rule.windowMs}:${rule.scope}:${subject}`, rule.windowMs, t);
      if (count > rule.max) {
        throw new ChatError("tooManyRequests", "Rate limit exceeded.", { retryAfterSeconds: Math.max(1, Math.ceil((resetAt - t) / 1000)) });
      }
    }
  });
}
