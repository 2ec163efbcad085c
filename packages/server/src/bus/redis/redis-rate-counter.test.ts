// RedisRateCounter against a live Redis (NATTER_TEST_REDIS_URL): two counters (two nodes) share the counts, keys
// expire, and the same sequence of hits gives the same answers as MemoryRateCounter. Without Redis: fails open.
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { MemoryRateCounter } from "../../http/plugins/rate-limits.js";
import type { RateCounter } from "../../http/plugins/rate-limits.js";
import { RedisRateCounter } from "./redis-rate-counter.js";

const url = process.env.NATTER_TEST_REDIS_URL;
const SKIP = "NATTER_TEST_REDIS_URL not set (e.g. redis://127.0.0.1:6379)";

if (!url) {
  it("RedisRateCounter on a live Redis", { skip: SKIP }, () => {});
} else {
  describe("RedisRateCounter on a live Redis", () => {
    const prefix = `natter-test-${randomBytes(6).toString("hex")}:`;
    let admin: Redis;
    const counters: RedisRateCounter[] = [];
    const open = async () => {
      const c = new RedisRateCounter(url, { prefix, onError: (error) => assert.fail(`unexpected Redis error: ${error.message}`) });
      counters.push(c);
      await c.ready();
      return c;
    };
    before(async () => {
      admin = new Redis(url);
    });
    after(async () => {
      await Promise.all(counters.map((c) => c.close()));
      const keys = await admin.keys(`${prefix}*`);
      if (keys.length > 0) await admin.del(...keys);
      await admin.quit();
    });

    it("two counters (two nodes) share one count per key and window", async () => {
      const [a, b] = await Promise.all([open(), open()]);
      const now = 1_700_000_003_000;
      assert.deepEqual(await a.hit("k", 10_000, now), { count: 1, resetAt: 1_700_000_010_000 });
      assert.deepEqual(await b.hit("k", 10_000, now + 1), { count: 2, resetAt: 1_700_000_010_000 });
      assert.deepEqual(await a.hit("k", 10_000, now + 2), { count: 3, resetAt: 1_700_000_010_000 });
      // Another key, another window length, the next window: separate counts.
      assert.deepEqual(await b.hit("other", 10_000, now), { count: 1, resetAt: 1_700_000_010_000 });
      assert.deepEqual(await b.hit("k", 60_000, now), { count: 1, resetAt: 1_700_000_040_000 });
      assert.deepEqual(await b.hit("k", 10_000, 1_700_000_010_000), { count: 1, resetAt: 1_700_000_020_000 });
    });

    it("concurrent hits from two nodes are all counted, without duplicates", async () => {
      const [a, b] = await Promise.all([open(), open()]);
      const now = 1_700_000_000_000;
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).hit("concurrent", 10_000, now)));
      assert.deepEqual(results.map((r) => r.count).sort((x, y) => x - y), Array.from({ length: 200 }, (_, i) => i + 1));
    });

    it("sets the expiry on the first hit of a window", async () => {
      const c = await open();
      const now = Date.now();
      const { resetAt } = await c.hit("ttl", 10_000, now);
      const keys = await admin.keys(`${prefix}rate:ttl@*`);
      assert.equal(keys.length, 1);
      const ttl = await admin.pttl(keys[0]);
      assert.ok(ttl > 0 && ttl <= resetAt - now + 5_000, `pttl ${ttl}`);
      await c.hit("ttl", 10_000, now + 1);
      assert.ok((await admin.pttl(keys[0])) <= ttl, "later hits do not extend the expiry");
    });

    it("answers exactly like MemoryRateCounter for the same sequence of hits", async () => {
      const memory = new MemoryRateCounter();
      const redis = await open();
      // A deterministic pseudo-random sequence over a few keys, window lengths and times.
      let seed = 7;
      const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648);
      let now = 1_700_000_000_000;
      const hits: [string, number, number][] = [];
      for (let i = 0; i < 300; i++) {
        now += next() % 700;
        // Keys name their window length, as registerRateLimits' do (MemoryRateCounter relies on it).
        const windowMs = [1_000, 10_000, 60_000][next() % 3];
        hits.push([`bucket:${windowMs}:thread:t${next() % 4}`, windowMs, now]);
      }
      const run = async (counter: RateCounter) => {
        const out = [];
        for (const [key, windowMs, t] of hits) out.push(await counter.hit(key, windowMs, t));
        return out;
      };
      assert.deepEqual(await run(redis), await run(memory));
    });
  });
}

// Needs no Redis: nothing listens on port 1.
describe("RedisRateCounter without Redis", () => {
  it("fails open (count 0, the request goes through) and reports the error", async () => {
    const errors: Error[] = [];
    const c = new RedisRateCounter("redis://127.0.0.1:1", { onError: (error) => errors.push(error) });
    try {
      assert.deepEqual(await c.hit("k", 10_000, 1_700_000_003_000), { count: 0, resetAt: 1_700_000_010_000 });
      assert.ok(errors.length >= 1);
      await assert.rejects(c.ready(300), /^Error: Redis at redis:\/\/127\.0\.0\.1:1\/? is not reachable: /);
    } finally {
      await c.close();
      await c.close();
    }
  });
});
