// The shared HTTP pipeline against a local scripted server: Retry-After throttling, exponential backoff,
// the same client request id on every attempt, no retry where Azure does not retry, errors and aborts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import type { OperationOptions, PipelineResponse } from "./index.js";
import { AbortError, HttpPipeline, RestError, exponentialDelayMs, getRetryAfterMs, isRestError } from "./index.js";
import { startScriptedServer } from "./test-support.js";

const FAST = { maxRetries: 3, retryDelayInMs: 10, maxRetryDelayInMs: 40 };

function pipeline(retryOptions = FAST): HttpPipeline {
  return new HttpPipeline({
    sdkName: "test",
    sdkVersion: "0.0.0",
    retryOptions,
    authorize: async (req) => {
      req.headers["Authorization"] = "Bearer t";
    },
  });
}

test("429 with Retry-After (seconds) is retried after that delay, with the same client request id", async () => {
  const server = await startScriptedServer([
    { status: 429, headers: { "retry-after": "1" }, body: { error: { code: "TooManyRequests", message: "slow down" } } },
    { status: 200, body: { ok: true } },
  ]);
  try {
    const response = await pipeline().send({ method: "POST", url: `${server.url}/x`, body: { a: 1 }, expectedStatus: [200] });
    assert.deepEqual(response.parsedBody, { ok: true });
    assert.equal(server.requests.length, 2);
    const [first, second] = server.requests;
    assert.ok(second.at - first.at >= 950, `waited ${second.at - first.at} ms`);
    assert.equal(first.headers["x-ms-client-request-id"], second.headers["x-ms-client-request-id"]);
    assert.equal(first.body, '{"a":1}');
    assert.equal(second.body, '{"a":1}');
    assert.equal(first.headers["content-type"], "application/json");
    assert.equal(first.headers["accept"], "application/json");
  } finally {
    await server.close();
  }
});

test("retry-after-ms and x-ms-retry-after-ms on 503 are honoured", async () => {
  for (const header of ["retry-after-ms", "x-ms-retry-after-ms"]) {
    const server = await startScriptedServer([
      { status: 503, headers: { [header]: "150" } },
      { status: 503, headers: { [header]: "150" } },
      { status: 204 },
    ]);
    try {
      const started = Date.now();
      const response = await pipeline().send({ method: "DELETE", url: `${server.url}/x`, expectedStatus: [204] });
      assert.equal(response.status, 204);
      assert.equal(server.requests.length, 3);
      assert.ok(Date.now() - started >= 290);
    } finally {
      await server.close();
    }
  }
});

test("503 without Retry-After backs off exponentially and gives up after 3 retries with a RestError", async () => {
  const server = await startScriptedServer([
    { status: 503, body: { error: { code: "ServiceUnavailable", message: "The server is currently unable to handle the request." } } },
  ]);
  try {
    await assert.rejects(
      pipeline().send({ method: "GET", url: `${server.url}/x`, expectedStatus: [200] }),
      (e: unknown) => {
        assert.ok(isRestError(e));
        assert.ok(e instanceof RestError);
        assert.equal(e.name, "RestError");
        assert.equal(e.statusCode, 503);
        assert.equal(e.code, "ServiceUnavailable");
        assert.equal(e.message, "The server is currently unable to handle the request.");
        assert.equal(e.response?.status, 503);
        assert.equal(e.request?.headers.get("authorization"), "REDACTED");
        assert.ok(!Object.keys(e).includes("request"), "request is not enumerable");
        return true;
      },
    );
    assert.equal(server.requests.length, 4);
    const ids = new Set(server.requests.map((r) => r.headers["x-ms-client-request-id"]));
    assert.equal(ids.size, 1);
  } finally {
    await server.close();
  }
});

test("408, 500, 502, 504 are retried; 501, 505, 400, 404 and 429 without Retry-After are not", async () => {
  for (const status of [408, 500, 502, 504]) {
    const server = await startScriptedServer([{ status }, { status: 200 }]);
    try {
      await pipeline().send({ method: "GET", url: `${server.url}/x`, expectedStatus: [200] });
      assert.equal(server.requests.length, 2, String(status));
    } finally {
      await server.close();
    }
  }
  for (const status of [501, 505, 400, 404, 429]) {
    const server = await startScriptedServer([{ status, body: "plain text body", headers: { "content-type": "text/plain" } }, { status: 200 }]);
    try {
      await assert.rejects(pipeline().send({ method: "GET", url: `${server.url}/x`, expectedStatus: [200] }), (e: RestError) => {
        assert.equal(e.statusCode, status);
        assert.equal(e.code, undefined);
        assert.equal(e.message, "plain text body");
        return true;
      });
      assert.equal(server.requests.length, 1, String(status));
    } finally {
      await server.close();
    }
  }
});

test("a 2xx that is not the expected status is an error (exact status matching)", async () => {
  const server = await startScriptedServer([{ status: 200, body: {} }]);
  try {
    await assert.rejects(pipeline().send({ method: "POST", url: `${server.url}/x`, expectedStatus: [201] }), { name: "RestError", statusCode: 200 });
  } finally {
    await server.close();
  }
});

test("non-JSON content types are not parsed; JSON parse errors are PARSE_ERROR", async () => {
  const server = await startScriptedServer([
    { status: 200, headers: { "content-type": "application/problem+json" }, body: '{"a":1}' },
    { status: 200, headers: { "content-type": "application/json" }, body: "{oops" },
  ]);
  try {
    const response = await pipeline().send({ method: "GET", url: `${server.url}/x`, expectedStatus: [200] });
    assert.equal(response.parsedBody, undefined);
    assert.equal(response.bodyAsText, '{"a":1}');
    await assert.rejects(pipeline().send({ method: "GET", url: `${server.url}/x`, expectedStatus: [200] }), { code: RestError.PARSE_ERROR });
  } finally {
    await server.close();
  }
});

test("connection refused is retried with backoff, then surfaces as a RestError with the system code", async () => {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((r) => probe.close(() => r()));
  let attempts = 0;
  const p = new HttpPipeline({
    sdkName: "test",
    sdkVersion: "0",
    retryOptions: FAST,
    authorize: async () => {
      attempts++;
    },
  });
  await assert.rejects(p.send({ method: "GET", url: `http://127.0.0.1:${port}/x`, expectedStatus: [200] }), (e: RestError) => {
    assert.equal(e.name, "RestError");
    assert.equal(e.code, "ECONNREFUSED");
    assert.equal(e.statusCode, undefined);
    return true;
  });
  assert.equal(attempts, 4, "authorized once per attempt");
});

test("aborting during a retry delay rejects with AbortError and sends nothing more", async () => {
  const server = await startScriptedServer([{ status: 429, headers: { "retry-after": "5" } }]);
  try {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = Date.now();
    await assert.rejects(
      pipeline().send({ method: "GET", url: `${server.url}/x`, expectedStatus: [200] }, { abortSignal: controller.signal }),
      (e: unknown) => e instanceof AbortError && (e as Error).name === "AbortError",
    );
    assert.ok(Date.now() - started < 2000);
    assert.equal(server.requests.length, 1);
    await assert.rejects(
      pipeline().send({ method: "GET", url: `${server.url}/x`, expectedStatus: [200] }, { abortSignal: controller.signal }),
      { name: "AbortError" },
    );
    assert.equal(server.requests.length, 1, "an already-aborted signal sends nothing");
  } finally {
    await server.close();
  }
});

test("custom headers, onResponse and timeout", async () => {
  const server = await startScriptedServer((req) => (req.url.includes("slow") ? { status: 200 } : { status: 201, body: { id: "1" } }));
  try {
    let seen: PipelineResponse | undefined;
    const options: OperationOptions = {
      requestOptions: { customHeaders: { "x-test": "yes" } },
      onResponse: (raw) => (seen = raw),
    };
    await pipeline().send({ method: "POST", url: `${server.url}/x`, expectedStatus: [201] }, options);
    assert.equal(server.requests[0].headers["x-test"], "yes");
    assert.equal(server.requests[0].headers["content-type"], undefined, "no body, no content type");
    assert.equal(seen?.status, 201);
  } finally {
    await server.close();
  }
});

test("getRetryAfterMs understands seconds, HTTP dates and the ms headers, only on 429/503", () => {
  const h = (entries: Record<string, string>) => ({ get: (n: string) => entries[n] });
  const now = Date.parse("Sat, 28 Nov 2026 04:00:00 GMT");
  assert.equal(getRetryAfterMs(429, h({ "retry-after": "3" }), now), 3000);
  assert.equal(getRetryAfterMs(503, h({ "retry-after": "Sat, 28 Nov 2026 04:00:05 GMT" }), now), 5000);
  assert.equal(getRetryAfterMs(503, h({ "retry-after": "Sat, 28 Nov 2026 03:00:00 GMT" }), now), 0);
  assert.equal(getRetryAfterMs(429, h({ "retry-after-ms": "250", "retry-after": "9" }), now), 250);
  assert.equal(getRetryAfterMs(429, h({ "x-ms-retry-after-ms": "70" }), now), 70);
  assert.equal(getRetryAfterMs(429, h({}), now), undefined);
  assert.equal(getRetryAfterMs(500, h({ "retry-after": "3" }), now), undefined);
  assert.equal(getRetryAfterMs(429, h({ "retry-after": "soon" }), now), undefined);
});

test("exponential delays double from the base, are capped and jittered into the upper half", () => {
  for (let i = 0; i < 50; i++) {
    const d0 = exponentialDelayMs(0, 1000, 64000);
    const d2 = exponentialDelayMs(2, 1000, 64000);
    const d9 = exponentialDelayMs(9, 1000, 64000);
    assert.ok(d0 >= 500 && d0 <= 1000);
    assert.ok(d2 >= 2000 && d2 <= 4000);
    assert.ok(d9 >= 32000 && d9 <= 64000);
  }
});
