// Issue #18 item 11d: GET /metrics is configurable: open (the default, for existing scrapers), behind a
// bearer token (--metrics-token), or off; and never readable by a page of another origin.
import { it } from "node:test";
import assert from "node:assert/strict";
import { startTestNatter } from "../test-support/test-natter.js";
import { loadConfig } from "../config.js";

it("is served without a token by default, but gives no CORS header to a page of another origin", async () => {
  const natter = await startTestNatter();
  try {
    const res = await fetch(new URL("/metrics", natter.httpUrl), { headers: { origin: "https://evil.example" } });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /natter_http_requests_total/);
    assert.equal(res.headers.get("access-control-allow-origin"), null);
  } finally {
    await natter.stop();
  }
});

it("with --metrics-token, requires Authorization: Bearer <token>", async () => {
  const token = "metrics-token-0123456789";
  const natter = await startTestNatter({ metricsToken: token });
  try {
    const url = new URL("/metrics", natter.httpUrl);
    for (const authorization of [undefined, "Bearer wrong-token-0123456789", `Basic ${token}`, "Bearer "]) {
      const res = await fetch(url, { headers: authorization ? { authorization } : {} });
      assert.equal(res.status, 401, String(authorization));
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, "Unauthorized");
    }
    const ok = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /natter_http_request_duration_seconds_bucket/);
  } finally {
    await natter.stop();
  }
});

it("with --metrics off, there is no /metrics", async () => {
  const natter = await startTestNatter({ metrics: "off" });
  try {
    assert.equal((await fetch(new URL("/metrics", natter.httpUrl))).status, 404);
    assert.equal((await fetch(new URL("/healthz", natter.httpUrl))).status, 200);
  } finally {
    await natter.stop();
  }
});

it("validates --metrics and --metrics-token", () => {
  assert.equal(loadConfig([], {}).metrics, "on");
  assert.equal(loadConfig([], { NATTER_METRICS_TOKEN: "0123456789abcdef" }).metricsToken, "0123456789abcdef");
  assert.throws(() => loadConfig(["--metrics", "maybe"], {}), /--metrics/);
  assert.throws(() => loadConfig(["--metrics-token", "short"], {}), /at least 16/);
  assert.throws(() => loadConfig(["--metrics", "off", "--metrics-token", "0123456789abcdef"], {}), /needs --metrics on/);
});

it("counts requests by route, method and status across scrapes (counted per request, handed to prom-client at each scrape)", async () => {
  const natter = await startTestNatter();
  try {
    const count = async (): Promise<number> => {
      const text = await (await fetch(new URL("/metrics", natter.httpUrl))).text();
      return Number(/^natter_http_requests_total\{route="\/healthz",method="GET",status="200"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    };
    for (let i = 0; i < 3; i++) assert.equal((await fetch(new URL("/healthz", natter.httpUrl))).status, 200);
    const first = await count();
    assert.ok(first >= 3, `first scrape counted ${first}`);
    for (let i = 0; i < 2; i++) await fetch(new URL("/healthz", natter.httpUrl));
    assert.equal(await count(), first + 2);
    assert.equal(await count(), first + 2);
  } finally {
    await natter.stop();
  }
});
