// Bad input, property-based (fast-check): random and malformed requests over every endpoint — bodies
// (arbitrary JSON, wrong types per field, huge strings and numbers, 10k-deep nesting, invalid UTF-8, lone
// surrogates), headers (content types, broken Authorization, repeatability-request-id oddities, oversized),
// paths and percent-encodings (%, %zz, %00, long segments, unicode, "..", encoded slashes), api-versions and
// query parameters (maxPageSize, skip, startTime, syncState garbage). Properties, for every answer: never a
// 5xx; the node keeps answering /healthz; a non-2xx is `application/json; charset=utf-8` with the ACS body;
// a 2xx only for a valid request. The long run (100k+ requests) is bench/fuzz-long.mjs.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import type { TestNatter } from "../test-support/test-natter.js";
import { startTestNatter } from "../test-support/test-natter.js";
import type { FuzzWorld } from "../test-support/fuzz-requests.js";
import { ENDPOINTS, createFuzzWorld, firstVersionIndex, fuzzCaseArb, healthy, rawRequest, runCase } from "../test-support/fuzz-requests.js";

let natter: TestNatter;
let world: FuzzWorld;

before(async () => {
  natter = await startTestNatter();
  world = await createFuzzWorld(natter);
});
after(() => natter?.stop());

/** Seeded from FUZZ_SEED when given (to replay a failure), else random; fast-check prints the seed on failure. */
const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;

describe("bad input (property-based)", () => {
  it("every endpoint: no 5xx, ACS error bodies, 2xx only for valid requests, /healthz keeps answering (400 runs)", async () => {
    const statuses = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fuzzCaseArb(world.slots.length), async (c) => {
        const outcome = await runCase(world, c);
        statuses.set(String(outcome.status), (statuses.get(String(outcome.status)) ?? 0) + 1);
        assert.deepEqual(outcome.violations, [], outcome.label);
        assert.ok(await healthy(world), `the node stopped answering /healthz after: ${outcome.label}`);
      }),
      { numRuns: 400, seed, includeErrorInReport: true, interruptAfterTimeLimit: 40_000 },
    );
    // The generator must reach past the front door: some requests succeed, some fail validation.
    assert.ok((statuses.get("200") ?? 0) + (statuses.get("201") ?? 0) + (statuses.get("204") ?? 0) > 20, `too few 2xx: ${JSON.stringify([...statuses])}`);
    assert.ok((statuses.get("400") ?? 0) > 20, `too few 400: ${JSON.stringify([...statuses])}`);
  });

  it("each endpoint answers its valid request with a 2xx (the generator's baseline is right)", async () => {
    for (let i = 0; i < ENDPOINTS.length; i++) {
      const outcome = await runCase(world, {
        mode: "endpoint", endpoint: i, slot: 0, thread: { kind: "real", spelling: "encoded" }, message: { kind: "real", spelling: "encoded" },
        user: { kind: "real", spelling: "encoded" }, version: { kind: "supported", index: firstVersionIndex(ENDPOINTS[i]) }, params: [], auth: { kind: "valid", style: "plain" },
        contentType: 0, headers: [], body: { kind: "valid" }, chunked: false, trailingSlash: false, segments: [],
      });
      assert.deepEqual(outcome.violations, [], outcome.label);
      assert.ok(typeof outcome.status === "number" && outcome.status >= 200 && outcome.status < 300, `${ENDPOINTS[i].name}: ${outcome.status} ${outcome.label}`);
    }
  });

  it("named nasty inputs: deep nesting, lone surrogates, invalid UTF-8, huge numbers, malformed HTTP", async () => {
    const thread = encodeURIComponent(world.slots[1].threadId);
    const auth: [string, string] = ["Authorization", `Bearer ${world.user.token}`];
    const json: [string, string] = ["Content-Type", "application/json"];
    const post = (path: string, body: Buffer | string) => rawRequest(world.port, { method: "POST", target: path, headers: [auth, json], body: Buffer.from(body) });
    const send = `/chat/threads/${thread}/messages?api-version=2024-03-07`;
    const cases: [string, () => ReturnType<typeof rawRequest>, number][] = [
      ["10k nested arrays", () => post(send, "[".repeat(10_000) + "]".repeat(10_000)), 400],
      ["100k nested arrays in a field", () => post(send, `{"content":"x","x":${"[".repeat(100_000)}${"]".repeat(100_000)}}`), 201],
      ["100k unclosed arrays", () => post(send, "[".repeat(100_000)), 400],
      ["lone surrogate in content", () => post(send, "{\"content\":\"\\ud800\"}"), 201],
      ["invalid UTF-8 bytes in content", () => post(send, Buffer.from([...Buffer.from("{\"content\":\""), 0xff, 0xfe, 0xc0, 0x80, ...Buffer.from("\"}")])), 201],
      ["1e400 as a retention day count", () => post("/chat/threads?api-version=2025-03-15", "{\"topic\":\"t\",\"retentionPolicy\":{\"kind\":\"threadCreationDate\",\"deleteThreadAfterDays\":1e400}}"), 400],
      ["header over 16 KiB", () => rawRequest(world.port, { method: "GET", target: "/chat/threads?api-version=2024-03-07", headers: [auth, ["x-junk", "x".repeat(20_000)]] }), 431],
      ["raw unicode in the path", () => rawRequest(world.port, { method: "GET", target: "/chat/threads/ü😀?api-version=2024-03-07", headers: [auth] }), 400],
      ["control character in the path", () => rawRequest(world.port, { method: "GET", target: "/chat/\u0001threads", headers: [auth] }), 400],
      ["unknown method", () => rawRequest(world.port, { method: "FOO", target: "/chat/threads", headers: [auth] }), 400],
      ["CONNECT", () => rawRequest(world.port, { method: "CONNECT", target: "127.0.0.1:22", headers: [auth] }), 405],
      ["OPTIONS without an Origin", () => rawRequest(world.port, { method: "OPTIONS", target: "/chat/threads", headers: [] }), 204],
    ];
    for (const [name, run, status] of cases) {
      const res = await run();
      assert.equal(res.status, status, `${name}: ${res.status} ${res.body.subarray(0, 200).toString()}`);
      if (status >= 300) {
        assert.equal(res.headers["content-type"], "application/json; charset=utf-8", name);
        const body = JSON.parse(res.body.toString()) as { error: { code: unknown; message: unknown } };
        assert.equal(typeof body.error.code, "string", name);
        assert.equal(typeof body.error.message, "string", name);
      }
      assert.ok(await healthy(world), `healthz after ${name}`);
    }
  });
});
