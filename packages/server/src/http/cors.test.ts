// Browsers can call the API cross-origin: preflights allow the Azure SDK's headers (x-ms-useragent included).
import { after, before, it } from "node:test";
import assert from "node:assert/strict";
import type { TestNatter } from "../test-support/test-natter.js";
import { createTestUser, startTestNatter } from "../test-support/test-natter.js";

let natter: TestNatter;
before(async () => (natter = await startTestNatter()));
after(() => natter.stop());

it("answers preflights for the SDK's methods and headers, and exposes what clients read", async () => {
  const origin = "https://app.example";
  for (const method of ["POST", "PATCH", "DELETE", "GET"]) {
    const res = await fetch(new URL("/chat/threads/x/messages?api-version=2024-03-07", natter.httpsUrl), {
      method: "OPTIONS",
      headers: {
        origin, "access-control-request-method": method,
        "access-control-request-headers": "authorization,content-type,x-ms-useragent,x-ms-client-request-id,repeatability-request-id",
      },
    });
    assert.ok(res.status === 204 || res.status === 200, `preflight ${method}: ${res.status}`);
    assert.equal(res.headers.get("access-control-allow-origin"), origin);
    assert.match(res.headers.get("access-control-allow-methods") ?? "", new RegExp(method));
    const allowed = (res.headers.get("access-control-allow-headers") ?? "").toLowerCase();
    for (const h of ["authorization", "content-type", "x-ms-useragent", "x-ms-client-request-id", "repeatability-request-id"]) assert.ok(allowed.includes(h), `${h} allowed`);
  }
  const { token } = await createTestUser(natter);
  const res = await fetch(new URL("/chat/threads?api-version=2024-03-07", natter.httpsUrl), { headers: { origin, authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("access-control-allow-origin"), origin);
  assert.match(res.headers.get("access-control-expose-headers") ?? "", /retry-after/i);
});
