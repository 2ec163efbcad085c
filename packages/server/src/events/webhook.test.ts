// One webhook request (postWebhook over node:http keep-alive) against a real loopback server, and the node-wide
// delivery gate that puts delivery behind the API.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { DeliveryGate } from "./delivery-engine.js";
import { postWebhook } from "./webhook.js";

async function withServer(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void, fn: (url: string) => Promise<void>) {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => handler(req, res, Buffer.concat(chunks).toString("utf8")));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

describe("postWebhook", () => {
  it("posts the body and headers; classifies 2xx, retried and not retried statuses, Retry-After, redirects", async () => {
    const seen: { method?: string; url?: string; body: string; type?: string; id?: string }[] = [];
    let status = 204;
    const headers: Record<string, string> = {};
    await withServer((req, res, body) => {
      seen.push({ method: req.method, url: req.url, body, type: req.headers["content-type"], id: req.headers["webhook-id"] as string });
      res.writeHead(status, headers).end("ignored");
    }, async (url) => {
      const post = () => postWebhook(url, `[{"é":1}]`, { "content-type": "application/json; charset=utf-8", "webhook-id": "e1" }, 5_000);
      assert.deepEqual(await post(), { ok: true, retryable: false, status: 204, error: null });
      assert.deepEqual(seen[0], { method: "POST", url: "/hook", body: `[{"é":1}]`, type: "application/json; charset=utf-8", id: "e1" });
      status = 503;
      headers["retry-after"] = "7";
      assert.deepEqual(await post(), { ok: false, retryable: true, status: 503, retryAfterMs: 7_000, error: "HTTP 503" });
      delete headers["retry-after"];
      status = 404;
      assert.equal((await post()).retryable, false);
      status = 302;
      headers.location = "/elsewhere";
      const redirected = await post();
      assert.deepEqual([redirected.ok, redirected.status, seen.length], [false, 302, 4], "a redirect is not followed");
    });
  });

  it("times out, aborts, and reports a refused connection, never throwing", async () => {
    await withServer(() => { /* never answers */ }, async (url) => {
      assert.equal((await postWebhook(url, "[]", {}, 200)).error, "timeout");
      const abort = new AbortController();
      const pending = postWebhook(url, "[]", {}, 30_000, abort.signal);
      abort.abort();
      assert.deepEqual(await pending, { ok: false, retryable: true, error: "aborted" });
    });
    const refused = await new Promise<string>((resolve) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const port = (s.address() as AddressInfo).port;
        s.close(() => resolve(`http://127.0.0.1:${port}/`));
      });
    });
    assert.equal((await postWebhook(refused, "[]", {}, 5_000)).error, "connection refused");
  });
});

describe("DeliveryGate", () => {
  it("caps requests in flight, halves the cap while the API is busy, and restores it when the API is idle", async () => {
    const gate = new DeliveryGate(8, 3);
    let active = 0;
    let peak = 0;
    const releases: (() => void)[] = [];
    const task = () => gate.run(async () => {
      active++;
      peak = Math.max(peak, active);
      await new Promise<void>((r) => releases.push(r));
      active--;
    });
    const tasks = Array.from({ length: 20 }, task);
    await new Promise((r) => setImmediate(r));
    assert.equal(active, 8);
    gate.adapt(0.95, true);
    assert.equal(gate.limit, 2);
    for (let i = 0; i < 8; i++) releases.shift()!();
    await new Promise((r) => setImmediate(r));
    assert.equal(active, 2, "busy API: at most 2 in flight");
    gate.adapt(0.95, true);
    assert.equal(gate.limit, 1, "never below 1: delivery still progresses");
    for (let i = 0; i < 10; i++) gate.adapt(0.95, true);
    assert.equal(gate.rate, 3, "then fewer requests per period, down to the minimum");
    // One in flight, 3 per period: finishing 5 requests within one period starts only 3 (after the adapt's reset).
    for (let i = 0; i < 5; i++) {
      releases.shift()!();
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(active, 0, "the period's budget is spent: the next request waits for the next period");
    gate.adapt(0.3, true);
    assert.equal(gate.rate, 6, "room on the loop: the rate doubles");
    await new Promise((r) => setImmediate(r));
    assert.equal(active, 1);
    gate.adapt(0.99, false);
    assert.equal(gate.limit, 8, "no sends: the full limit at once");
    await new Promise((r) => setImmediate(r));
    assert.equal(active, 7, "waiting requests start when the limit rises (the 7 of 20 left)");
    while (releases.length > 0 || active > 0) {
      releases.splice(0).forEach((r) => r());
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(tasks);
    assert.equal(peak, 8);
  });
});
