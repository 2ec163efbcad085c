// RedisRateCounter: the `--limits acs` fixed-window counters shared by every node of a cluster. One Redis key per
// (counter, window start); a Lua script increments it and sets its expiry on the first hit, atomically.
// When Redis fails, a hit answers count 0 (the request is let through: limits fail open) and onError is called.
import { Redis } from "ioredis";
import type { RedisOptions } from "ioredis";
import type { RateCounter } from "../../http/plugins/rate-limits.js";
import { trackLastError, waitUntilReady } from "./ready.js";

export interface RedisRateCounterOptions {
  /** Prepended to every key. Default "natter:". */
  prefix?: string;
  /** Called when a hit could not be counted (the request is then let through). */
  onError?: (error: Error) => void;
  /** A hit that gets no reply within this time is let through. Default 2000 ms. */
  commandTimeoutMs?: number;
  /** Extra ioredis options (tests, TLS, retry strategy). */
  redis?: RedisOptions;
}

/** INCR, and PEXPIRE on the first hit of the window; returns the new count. */
const HIT_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
`;

/** Keys outlive their window by this much, so nodes whose clocks differ a little still share the counter. */
const CLOCK_SKEW_MS = 5_000;

type WithHit = Redis & { natterRateHit(key: string, ttlMs: number): Promise<number> };

export class RedisRateCounter implements RateCounter {
  private readonly redis: WithHit;
  private readonly prefix: string;
  private readonly onError: (error: Error) => void;
  private readonly lastError: () => Error | undefined;
  private closing: Promise<void> | undefined;

  /** Opens its own connection to `url` (close() closes it). */
  constructor(private readonly url: string, options: RedisRateCounterOptions = {}) {
    this.prefix = options.prefix ?? "natter:";
    const report = options.onError;
    this.onError = (error) => {
      try {
        report?.(error);
      } catch {
        // A failing reporter must not turn a counted hit into a failed request.
      }
    };
    const redis = new Redis(url, {
      // While Redis is away a hit fails at once (and the request goes through) instead of waiting in a queue.
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      commandTimeout: options.commandTimeoutMs ?? 2_000,
      connectionName: `${this.prefix}rate`.replace(/\s/g, "_"),
      ...options.redis,
    });
    redis.on("error", (error: Error) => this.onError(error));
    this.lastError = trackLastError(redis);
    // EVALSHA, falling back to EVAL when the server does not know the script yet.
    redis.defineCommand("natterRateHit", { numberOfKeys: 1, lua: HIT_SCRIPT });
    this.redis = redis as WithHit;
  }

  /**
   * Resolves when the connection is ready; after `timeoutMs`, closes the counter and rejects with a message
   * naming the server. Meant for startup (hits before 'ready' are let through).
   */
  async ready(timeoutMs = 5_000): Promise<void> {
    try {
      await waitUntilReady(this.url, [this.redis], timeoutMs, this.lastError);
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  async hit(key: string, windowMs: number, now: number): Promise<{ count: number; resetAt: number }> {
    const start = Math.floor(now / windowMs) * windowMs;
    const resetAt = start + windowMs;
    try {
      const count = await this.redis.natterRateHit(`${this.prefix}rate:${key}@${start}+${windowMs}`, resetAt - now + CLOCK_SKEW_MS);
      return { count: Number(count), resetAt };
    } catch (error) {
      this.onError(error instanceof Error ? error : new Error(String(error)));
      return { count: 0, resetAt };
    }
  }

  /** Closes the connection. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.redis.status === "end") return;
      if (this.redis.status === "ready") {
        try {
          await this.redis.quit();
          return;
        } catch {
          // fall through
        }
      }
      this.redis.disconnect();
    })();
    return this.closing;
  }
}
