// Every failure path answers with the ACS error body, the right status and a JSON content type.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { TestNatter } from "../test-support/test-natter.js";
import { createTestUser, startTestNatter } from "../test-support/test-natter.js";

let natter: TestNatter;
let token: string;
const V = "api-version=2024-03-07";

before(async () => {
  natter = await startTestNatter();
  ({ token } = await createTestUser(natter));
});
after(() => natter.stop());

async function call(method: string, path: string, init: { body?: string; headers?: Record<string, string>; auth?: boolean } = {}) {
  const headers: Record<string, string> = { ...(init.headers ?? {}) };
  if (init.auth !== false) headers.authorization = `Bearer ${token}`;
  if (init.body !== undefined && !headers["content-type"]) headers["content-type"] = "application/json";
  const res = await fetch(new URL(path, natter.httpUrl), { method, headers, body: init.body });
  const text = await res.text();
  return { status: res.status, type: res.headers.get("content-type"), body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

function assertAcsError(r: { status: number; type: string | null; body: { error?: { code?: unknown; message?: unknown } } }, status: number, code?: string) {
  assert.equal(r.status, status);
  assert.equal(r.type, "application/json; charset=utf-8");
  assert.equal(typeof r.body.error?.code, "string");
  assert.equal(typeof r.body.error?.message, "string");
  if (code) assert.equal(r.body.error?.code, code);
}

describe("error bodies", () => {
  it("answers 401 without a token", async () => {
    assertAcsError(await call("GET", `/chat/threads?${V}`, { auth: false }), 401, "Unauthorized");
  });
  it("answers 401 for a forged token", async () => {
    const [h, p] = token.split(".");
    assertAcsError(await call("GET", `/chat/threads?${V}`, { auth: false, headers: { authorization: `Bearer ${h}.${p}.AAAA` } }), 401);
  });
  it("answers 401 for an alg:none token", async () => {
    const [, p] = token.split(".");
    const none = Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url");
    assertAcsError(await call("GET", `/chat/threads?${V}`, { auth: false, headers: { authorization: `Bearer ${none}.${p}.` } }), 401);
  });
  it("rejects a missing or unsupported api-version with 400", async () => {
    assertAcsError(await call("GET", "/chat/threads"), 400, "ApiVersionUnspecified");
    assertAcsError(await call("GET", "/chat/threads?api-version=2020-01-01"), 400, "UnsupportedApiVersion");
  });
  it("rejects malformed JSON, wrong types and missing fields with 400", async () => {
    assertAcsError(await call("POST", `/chat/threads?${V}`, { body: "{not json" }), 400);
    assertAcsError(await call("POST", `/chat/threads?${V}`, { body: JSON.stringify({ topic: 5 }) }), 400);
    assertAcsError(await call("POST", `/chat/threads?${V}`, { body: JSON.stringify({}) }), 400);
    assertAcsError(await call("POST", `/chat/threads?${V}`, { body: "[1,2]" }), 400);
  });
  it("rejects a huge body with 413", async () => {
    assertAcsError(await call("POST", `/chat/threads?${V}`, { body: JSON.stringify({ topic: "x".repeat(2 * 1024 * 1024) }) }), 413);
  });
  it("rejects an unknown content type with 415", async () => {
    assertAcsError(await call("POST", `/chat/threads?${V}`, { body: "topic=x", headers: { "content-type": "application/x-www-form-urlencoded" } }), 415);
  });
  it("answers 404 for unknown threads and unknown routes, 400 for bad percent-encoding", async () => {
    assertAcsError(await call("GET", `/chat/threads/${encodeURIComponent("19:nope@thread.v2")}?${V}`), 404, "NotFound");
    assertAcsError(await call("GET", `/nowhere?${V}`), 404);
    assertAcsError(await call("GET", `/chat/threads/%E0%A4%A?${V}`), 400);
  });
  it("rejects malformed identifiers with 400", async () => {
    const body = JSON.stringify({ topic: "t", participants: [{ communicationIdentifier: { rawId: "8:acs:fakeid", communicationUser: { id: "8:acs:fakeid" } } }] });
    assertAcsError(await call("POST", `/chat/threads?${V}`, { body }), 400, "BadRequest");
  });
  it("answers healthz", async () => {
    const r = await fetch(new URL("/healthz", natter.httpUrl));
    assert.equal(r.status, 200);
  });
});
