// Server-side events end to end: a real server (port 0) and a real webhook receiver on loopback. Subscriptions are
// managed over the HMAC-signed REST API; deliveries are checked with the consumer libraries (standardwebhooks,
// @azure/eventgrid, cloudevents): signatures, shapes, order per thread, retries, dead letters, outages, restarts.
/* eslint-disable @typescript-eslint/no-explicit-any -- JSON answers are read loosely in assertions */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Webhook } from "standardwebhooks";
import { EventGridDeserializer, isSystemEvent } from "@azure/eventgrid";
import { HTTP } from "cloudevents";
import type { TestNatter } from "../test-support/test-natter.js";
import { createTestUser, startTestNatter } from "../test-support/test-natter.js";
import { signedHeaders } from "../test-support/natter-process.js";
import { waitUntil } from "../test-support/cluster.js";
import type { ReceivedRequest, WebhookReceiver } from "../test-support/webhook-receiver.js";
import { eventsOf, startWebhookReceiver } from "../test-support/webhook-receiver.js";

const V = "api-version=2024-03-07";
const FAST = { retryMinMs: 100, retryMaxMs: 400, refreshMs: 100, pollMs: 20, handshakeTimeoutMs: 5_000, manualValidationMs: 5_000 };
const deserializer = new EventGridDeserializer();

async function api(natter: { httpUrl: string; accessKey: string }, method: string, path: string, body?: unknown, key = natter.accessKey) {
  const url = new URL(path, natter.httpUrl);
  const text = body === undefined ? "" : JSON.stringify(body);
  const res = await fetch(url, { method, headers: signedHeaders(url, method, text, key), body: body === undefined ? undefined : text });
  const raw = await res.text();
  return { status: res.status, body: raw ? (JSON.parse(raw) as Record<string, any>) : undefined };
}

function subscriptionBody(url: string, extra: { types?: string[]; schema?: string; batch?: number; attempts?: number; subjectBeginsWith?: string } = {}) {
  return {
    properties: {
      destination: { endpointType: "WebHook", properties: { endpointUrl: url, ...(extra.batch ? { maxEventsPerBatch: extra.batch } : {}) } },
      filter: { ...(extra.types ? { includedEventTypes: extra.types } : {}), ...(extra.subjectBeginsWith ? { subjectBeginsWith: extra.subjectBeginsWith } : {}) },
      ...(extra.schema ? { eventDeliverySchema: extra.schema } : {}),
      ...(extra.attempts ? { retryPolicy: { maxDeliveryAttempts: extra.attempts } } : {}),
    },
  };
}

const RECEIVED_IN_THREAD = "Microsoft.Communication.ChatMessageReceivedInThread";

async function chat(natter: TestNatter) {
  const alice = await createTestUser(natter);
  const bob = await createTestUser(natter);
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(new URL(path, natter.httpUrl), {
      method, headers: { authorization: `Bearer ${alice.token}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? (JSON.parse(text) as Record<string, any>) : {};
  };
  const newThread = async (topic: string) =>
    (await call("POST", `/chat/threads?${V}`, { topic, participants: [{ communicationIdentifier: { rawId: bob.userId, communicationUser: { id: bob.userId } } }] })).chatThread.id as string;
  const send = async (threadId: string, content: string) => (await call("POST", `/chat/threads/${encodeURIComponent(threadId)}/messages?${V}`, { content })).id as string;
  return { alice, bob, newThread, send, call };
}

/** The message texts of the ChatMessageReceivedInThread events delivered, per thread, in arrival order. */
function texts(requests: ReceivedRequest[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of requests) {
    for (const e of eventsOf(r)) {
      const type = (e.eventType ?? e.type) as string;
      if (type !== RECEIVED_IN_THREAD) continue;
      const data = e.data as { threadId: string; messageBody: string };
      out.set(data.threadId, [...(out.get(data.threadId) ?? []), data.messageBody]);
    }
  }
  return out;
}

const unique = <T>(list: T[]) => [...new Set(list)];

describe("event subscriptions REST API", () => {
  let natter: TestNatter;
  let receiver: WebhookReceiver;
  before(async () => {
    natter = await startTestNatter({}, { events: FAST });
    receiver = await startWebhookReceiver();
  });
  after(async () => {
    await natter.stop();
    await receiver.close();
  });

  it("creates after the validation handshake (201 + whsec_ secret once), reads, lists, updates and deletes in Event Grid's shapes", async () => {
    const created = await api(natter, "PUT", "/eventSubscriptions/crud-1?api-version=2025-02-15", subscriptionBody(`${receiver.url}?token=abc`, { types: [RECEIVED_IN_THREAD] }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const p = created.body!.properties;
    assert.match(p.signingSecret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    assert.equal(p.provisioningState, "Succeeded");
    assert.equal(created.body!.name, "crud-1");
    assert.equal(created.body!.type, "Microsoft.EventGrid/eventSubscriptions");
    assert.match(created.body!.id, /\/providers\/Microsoft\.Communication\/communicationServices\/.+\/providers\/Microsoft\.EventGrid\/eventSubscriptions\/crud-1$/);
    assert.deepEqual(p.destination, { endpointType: "WebHook", properties: { endpointBaseUrl: receiver.url, maxEventsPerBatch: 1, preferredBatchSizeInKilobytes: 64 } });
    assert.deepEqual(p.filter.includedEventTypes, [RECEIVED_IN_THREAD]);
    assert.equal(p.eventDeliverySchema, "EventGridSchema");
    assert.deepEqual(p.retryPolicy, { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 });
    const handshake = receiver.requests.find((r) => r.headers["aeg-event-type"] === "SubscriptionValidation")!;
    assert.equal(eventsOf(handshake)[0].eventType, "Microsoft.EventGrid.SubscriptionValidationEvent");
    assert.equal(handshake.url, "/hook?token=abc", "the endpoint URL with its query");

    const got = await api(natter, "GET", "/eventSubscriptions/crud-1");
    assert.equal(got.status, 200);
    assert.equal(got.body!.properties.signingSecret, undefined, "the secret is shown on creation only");
    const { signingSecret: _secret, ...withoutSecret } = p;
    assert.deepEqual(got.body!.properties, withoutSecret);
    const listed = await api(natter, "GET", "/eventSubscriptions");
    assert.deepEqual(listed.body!.value.map((s: { name: string }) => s.name), ["crud-1"]);

    const updated = await api(natter, "PUT", "/eventSubscriptions/crud-1", subscriptionBody(`${receiver.url}?token=abc`, { batch: 10 }));
    assert.equal(updated.status, 200);
    assert.equal(updated.body!.properties.signingSecret, undefined);
    assert.equal(updated.body!.properties.destination.properties.maxEventsPerBatch, 10);
    assert.equal(updated.body!.properties.filter.includedEventTypes, null);

    assert.equal((await api(natter, "DELETE", "/eventSubscriptions/crud-1")).status, 200);
    assert.equal((await api(natter, "DELETE", "/eventSubscriptions/crud-1")).status, 204);
    const gone = await api(natter, "GET", "/eventSubscriptions/crud-1");
    assert.equal(gone.status, 404);
    assert.equal(gone.body!.error.code, "NotFound");
  });

  it("answers 401 without a valid access-key signature", async () => {
    const url = new URL("/eventSubscriptions", natter.httpUrl);
    assert.equal((await fetch(url)).status, 401);
    const wrong = await api(natter, "GET", "/eventSubscriptions", undefined, Buffer.alloc(32, 7).toString("base64"));
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body!.error.code, "Unauthorized");
    const put = await api(natter, "PUT", "/eventSubscriptions/x-401", subscriptionBody(receiver.url), Buffer.alloc(32, 7).toString("base64"));
    assert.equal(put.status, 401);
    assert.equal((await api(natter, "GET", "/eventSubscriptions/x-401")).status, 404, "not created");
  });

  it("rejects bad input with 400 naming the field, and creates nothing", async () => {
    const cases: [string, unknown, string][] = [
      ["bad_name!", subscriptionBody(receiver.url), "name"],
      ["ab", subscriptionBody(receiver.url), "name"],
      ["bad-url", subscriptionBody("not a url"), "properties.destination.properties.endpointUrl"],
      ["ftp-url", subscriptionBody("ftp://127.0.0.1/x"), "properties.destination.properties.endpointUrl"],
      ["no-url", { properties: { destination: { endpointType: "WebHook", properties: {} } } }, "properties.destination.properties.endpointUrl"],
      ["bad-type", subscriptionBody(receiver.url, { types: ["Microsoft.Communication.Nope"] }), "properties.filter.includedEventTypes"],
      ["bad-schema", subscriptionBody(receiver.url, { schema: "CustomInputSchema" }), "properties.eventDeliverySchema"],
      ["big-filter", { properties: { destination: { properties: { endpointUrl: receiver.url } }, filter: { subjectBeginsWith: "x".repeat(1025) } } }, "properties.filter.subjectBeginsWith"],
      ["many-types", subscriptionBody(receiver.url, { types: Array.from({ length: 26 }, () => RECEIVED_IN_THREAD) }), "properties.filter.includedEventTypes"],
      ["bad-batch", { properties: { destination: { properties: { endpointUrl: receiver.url, maxEventsPerBatch: 0 } } } }, "properties.destination.properties.maxEventsPerBatch"],
      ["bad-attempts", subscriptionBody(receiver.url, { attempts: 31 }), "properties.retryPolicy.maxDeliveryAttempts"],
      ["bad-endpoint-type", { properties: { destination: { endpointType: "EventHub", properties: { endpointUrl: receiver.url } } } }, "properties.destination.endpointType"],
      ["not-object", [1, 2], "properties"],
    ];
    for (const [name, body, target] of cases) {
      const res = await api(natter, "PUT", `/eventSubscriptions/${name}`, body);
      assert.equal(res.status, 400, `${name}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body!.error.target, target, name);
    }
    assert.deepEqual((await api(natter, "GET", "/eventSubscriptions")).body!.value, []);
  });

  it("a failed handshake creates nothing and says why; validationUrl and the CloudEvents OPTIONS handshake succeed", async () => {
    receiver.handshake = { status: 404 };
    const refused = await api(natter, "PUT", "/eventSubscriptions/hs-404", subscriptionBody(receiver.url));
    assert.equal(refused.status, 400);
    assert.match(refused.body!.error.message, /validation handshake failed .*HTTP 404/);
    assert.equal((await api(natter, "GET", "/eventSubscriptions/hs-404")).status, 404);

    receiver.handshake = { status: 200 };
    const wrongCode = await api(natter, "PUT", "/eventSubscriptions/hs-nocode", subscriptionBody(`http://127.0.0.1:1/closed`));
    assert.equal(wrongCode.status, 400);
    assert.match(wrongCode.body!.error.message, /POST failed/);

    receiver.handshake = "url";
    const manual = await api(natter, "PUT", "/eventSubscriptions/hs-url", subscriptionBody(receiver.url));
    assert.equal(manual.status, 201, JSON.stringify(manual.body));
    assert.equal(manual.body!.properties.provisioningState, "Succeeded");

    receiver.handshake = { status: 200 }; // OPTIONS without WebHook-Allowed-Origin
    const noOrigin = await api(natter, "PUT", "/eventSubscriptions/hs-ce-bad", subscriptionBody(receiver.url, { schema: "CloudEventSchemaV1_0" }));
    assert.equal(noOrigin.status, 400);
    assert.match(noOrigin.body!.error.message, /WebHook-Allowed-Origin/);
    receiver.handshake = "echo";
    const ce = await api(natter, "PUT", "/eventSubscriptions/hs-ce", subscriptionBody(receiver.url, { schema: "CloudEventSchemaV1_0" }));
    assert.equal(ce.status, 201);
    const options = receiver.requests.filter((r) => r.method === "OPTIONS");
    assert.equal(options.at(-1)!.headers["webhook-request-origin"], "eventgrid.azure.net");
    for (const name of ["hs-url", "hs-ce"]) await api(natter, "DELETE", `/eventSubscriptions/${name}`);
  });
});

describe("event delivery", () => {
  let natter: TestNatter;
  let receiver: WebhookReceiver;
  let world: Awaited<ReturnType<typeof chat>>;
  before(async () => {
    natter = await startTestNatter({}, { events: FAST });
    receiver = await startWebhookReceiver();
    world = await chat(natter);
  });
  after(async () => {
    await natter.stop();
    await receiver.close();
  });

  it("delivers signed Event Grid events, parsed by @azure/eventgrid, in order per thread, with the aeg-* headers", async () => {
    receiver.deliveries.length = 0;
    const created = await api(natter, "PUT", "/eventSubscriptions/grid-1", subscriptionBody(receiver.url, { types: [RECEIVED_IN_THREAD, "Microsoft.Communication.ChatMessageReceived"] }));
    const secret = created.body!.properties.signingSecret as string;
    const [t1, t2] = [await world.newThread("one"), await world.newThread("two")];
    for (let i = 0; i < 5; i++) {
      await Promise.all([world.send(t1, `a${i}`), world.send(t2, `b${i}`)]);
    }
    await waitUntil(() => (texts(receiver.deliveries).get(t1)?.length ?? 0) >= 5 && (texts(receiver.deliveries).get(t2)?.length ?? 0) >= 5, 15_000, () => `got ${receiver.deliveries.length}`);
    assert.deepEqual(texts(receiver.deliveries).get(t1), ["a0", "a1", "a2", "a3", "a4"]);
    assert.deepEqual(texts(receiver.deliveries).get(t2), ["b0", "b1", "b2", "b3", "b4"]);
    const wh = new Webhook(secret);
    for (const d of receiver.deliveries) {
      // Throws unless webhook-id/-timestamp/-signature match the body and the subscription's secret.
      wh.verify(d.body, { "webhook-id": String(d.headers["webhook-id"]), "webhook-timestamp": String(d.headers["webhook-timestamp"]), "webhook-signature": String(d.headers["webhook-signature"]) });
      assert.throws(() => new Webhook(`whsec_${Buffer.alloc(32, 1).toString("base64")}`).verify(d.body, d.headers as Record<string, string>));
      assert.equal(d.headers["aeg-event-type"], "Notification");
      assert.equal(d.headers["aeg-subscription-name"], "GRID-1");
      assert.equal(d.headers["aeg-delivery-count"], "0");
      assert.equal(d.headers["aeg-data-version"], "1.0");
      assert.equal(d.headers["aeg-metadata-version"], "1");
      assert.match(String(d.headers["content-type"]), /^application\/json/);
      const events = await deserializer.deserializeEventGridEvents(d.body);
      assert.equal(events.length, 1, "maxEventsPerBatch 1");
      assert.equal(d.headers["webhook-id"], events[0].id);
      for (const e of events) {
        if (isSystemEvent("Microsoft.Communication.ChatMessageReceived", e)) {
          assert.equal(e.data.recipientCommunicationIdentifier.rawId, world.bob.userId, "the sender gets none, as in ACS");
        } else assert.ok(isSystemEvent(RECEIVED_IN_THREAD, e));
      }
    }
    const perRecipient = receiver.deliveries.flatMap(eventsOf).filter((e) => e.eventType === "Microsoft.Communication.ChatMessageReceived");
    assert.equal(perRecipient.length, 10);
    await api(natter, "DELETE", "/eventSubscriptions/grid-1");
  });

  it("CloudEvents schema with batches: parsed by the cloudevents SDK", async () => {
    receiver.deliveries.length = 0;
    await api(natter, "PUT", "/eventSubscriptions/ce-1", subscriptionBody(receiver.url, { schema: "CloudEventSchemaV1_0", batch: 50, types: [RECEIVED_IN_THREAD] }));
    const t = await world.newThread("ce");
    for (let i = 0; i < 4; i++) await world.send(t, `c${i}`);
    await waitUntil(() => (texts(receiver.deliveries).get(t)?.length ?? 0) >= 4, 15_000, () => `got ${receiver.deliveries.length}`);
    const parsed = receiver.deliveries.flatMap((d) => {
      assert.match(String(d.headers["content-type"]), /^application\/cloudevents-batch\+json/);
      const out = HTTP.toEvent({ headers: d.headers as Record<string, string>, body: d.body });
      return Array.isArray(out) ? out : [out];
    });
    assert.deepEqual(parsed.map((e) => (e.data as { messageBody: string }).messageBody), ["c0", "c1", "c2", "c3"]);
    assert.ok(parsed.every((e) => e.type === RECEIVED_IN_THREAD && e.specversion === "1.0" && typeof e.source === "string"));
    await api(natter, "DELETE", "/eventSubscriptions/ce-1");
  });

  it("retries with backoff honouring Retry-After; a retried event keeps its id and thread order holds", async () => {
    receiver.deliveries.length = 0;
    await api(natter, "PUT", "/eventSubscriptions/retry-1", subscriptionBody(receiver.url, { types: [RECEIVED_IN_THREAD] }));
    let failures = 3;
    receiver.answer = () => (failures-- > 0 ? { status: 503, headers: { "retry-after": "1" } } : { status: 200 });
    const t = await world.newThread("retry");
    for (let i = 0; i < 3; i++) await world.send(t, `r${i}`);
    await waitUntil(() => unique(texts(receiver.deliveries.filter((d) => d.headers["aeg-delivery-count"] !== undefined)).get(t) ?? []).length >= 3 && failures < 0, 15_000, () => `got ${receiver.deliveries.length}`);
    await new Promise((r) => setTimeout(r, 300));
    const first = receiver.deliveries[0];
    const retries = receiver.deliveries.filter((d) => d.headers["webhook-id"] === first.headers["webhook-id"]);
    assert.equal(retries.length, 4, "three 503s, then delivered: four attempts of the same event");
    assert.deepEqual(retries.map((d) => d.headers["aeg-delivery-count"]), ["0", "1", "2", "3"]);
    assert.ok(retries[1].at - retries[0].at >= 950, `Retry-After: 1 honoured (${retries[1].at - retries[0].at} ms)`);
    assert.deepEqual(unique(eventsOf(retries[0]).map((e) => e.id)), unique(eventsOf(retries[3]).map((e) => e.id)));
    // Delivered in order, each exactly once after its successful attempt.
    const delivered = receiver.deliveries.filter((d, i) => i >= 3);
    assert.deepEqual(texts(delivered).get(t), ["r0", "r1", "r2"]);
    receiver.answer = () => ({ status: 200 });
    await api(natter, "DELETE", "/eventSubscriptions/retry-1");
  });

  it("400/401/403/404/413 are not retried: dead letters, listed over REST and redelivered", async () => {
    receiver.deliveries.length = 0;
    await api(natter, "PUT", "/eventSubscriptions/dead-1", subscriptionBody(receiver.url, { types: [RECEIVED_IN_THREAD] }));
    const codes = [400, 401, 403, 404, 413];
    let n = 0;
    receiver.answer = () => ({ status: codes[n++] ?? 200 });
    const t = await world.newThread("dead");
    for (let i = 0; i < 5; i++) await world.send(t, `d${i}`);
    await waitUntil(async () => ((await api(natter, "GET", "/eventSubscriptions/dead-1/deadLetters")).body!.value.length === 5), 15_000, () => "dead letters");
    assert.equal(receiver.deliveries.length, 5, "one attempt each");
    const dead = (await api(natter, "GET", "/eventSubscriptions/dead-1/deadLetters")).body!;
    assert.deepEqual(dead.value.map((d: any) => d.lastDeliveryOutcome), codes.map((c) => `HTTP ${c}`));
    assert.ok(dead.value.every((d: any) => d.deadLetterReason === "DeliveryFailed" && d.deliveryAttempts === 1 && d.event.eventType === RECEIVED_IN_THREAD));
    const page = (await api(natter, "GET", "/eventDeadLetters?maxPageSize=2")).body!;
    assert.equal(page.value.length, 2);
    assert.match(page.nextLink, /after=/);
    assert.equal((await api(natter, "GET", page.nextLink)).body!.value[0].eventId, dead.value[2].eventId);

    receiver.deliveries.length = 0;
    const redelivered = await api(natter, "POST", "/eventSubscriptions/dead-1/redeliverDeadLetters");
    assert.deepEqual(redelivered.body, { redelivered: 5 });
    await waitUntil(() => (texts(receiver.deliveries).get(t)?.length ?? 0) >= 5, 15_000, () => `got ${receiver.deliveries.length}`);
    assert.deepEqual(texts(receiver.deliveries).get(t), ["d0", "d1", "d2", "d3", "d4"]);
    assert.deepEqual(receiver.deliveries.map((d) => d.headers["webhook-id"]), dead.value.map((d: any) => d.eventId), "same ids");
    assert.deepEqual((await api(natter, "GET", "/eventSubscriptions/dead-1/deadLetters")).body!.value, []);
    assert.equal((await api(natter, "GET", "/eventSubscriptions/nope-1/deadLetters")).status, 404);
    await api(natter, "DELETE", "/eventSubscriptions/dead-1");
  });

  it("after maxDeliveryAttempts an event is dead-lettered and its thread's next event goes on", async () => {
    receiver.deliveries.length = 0;
    await api(natter, "PUT", "/eventSubscriptions/max-1", subscriptionBody(receiver.url, { types: [RECEIVED_IN_THREAD], attempts: 3 }));
    receiver.answer = (r) => (r.body.includes("poison") ? { status: 500 } : { status: 200 });
    const t = await world.newThread("max");
    await world.send(t, "poison");
    await world.send(t, "after");
    await waitUntil(() => (texts(receiver.deliveries).get(t) ?? []).includes("after"), 15_000, () => `got ${receiver.deliveries.length}`);
    assert.deepEqual(texts(receiver.deliveries).get(t), ["poison", "poison", "poison", "after"], "3 attempts, then the next event");
    const dead = (await api(natter, "GET", "/eventSubscriptions/max-1/deadLetters")).body!.value;
    assert.equal(dead.length, 1);
    assert.equal(dead[0].deadLetterReason, "MaxDeliveryAttemptsExceeded");
    assert.equal(dead[0].deliveryAttempts, 3);
    receiver.answer = () => ({ status: 200 });
    await api(natter, "DELETE", "/eventSubscriptions/max-1");
  });

  it("one thread failing (a poison event) does not hold up the others", async () => {
    receiver.deliveries.length = 0;
    await api(natter, "PUT", "/eventSubscriptions/poison-1", subscriptionBody(receiver.url, { types: [RECEIVED_IN_THREAD] }));
    receiver.answer = (r) => (r.body.includes("poison") ? { status: 500 } : { status: 200 });
    const [bad, good] = [await world.newThread("bad"), await world.newThread("good")];
    await world.send(bad, "poison");
    await waitUntil(() => receiver.deliveries.length >= 2, 10_000, () => "poison attempts");
    await world.send(bad, "behind-poison");
    for (let i = 0; i < 3; i++) await world.send(good, `g${i}`);
    await waitUntil(() => (texts(receiver.deliveries).get(good)?.length ?? 0) === 3, 10_000, () => `got ${JSON.stringify([...texts(receiver.deliveries)])}`);
    assert.deepEqual(texts(receiver.deliveries).get(good), ["g0", "g1", "g2"]);
    assert.ok(!(texts(receiver.deliveries).get(bad) ?? []).includes("behind-poison"), "its own thread waits behind it");
    assert.deepEqual((await api(natter, "GET", "/eventSubscriptions/poison-1/deadLetters")).body!.value, [], "still being retried (30 attempts)");
    receiver.answer = () => ({ status: 200 });
    await waitUntil(() => (texts(receiver.deliveries).get(bad) ?? []).includes("behind-poison"), 10_000, () => "behind-poison");
    assert.deepEqual(unique(texts(receiver.deliveries).get(bad)!), ["poison", "behind-poison"]);
    await api(natter, "DELETE", "/eventSubscriptions/poison-1");
  });

  it("a receiver down for a long outage (many backoff periods) loses nothing; the backlog arrives in order", async () => {
    receiver.deliveries.length = 0;
    await api(natter, "PUT", "/eventSubscriptions/outage-1", subscriptionBody(receiver.url, { types: [RECEIVED_IN_THREAD] }));
    await receiver.down();
    const [t1, t2] = [await world.newThread("o1"), await world.newThread("o2")];
    for (let i = 0; i < 30; i++) await world.send(i % 2 ? t2 : t1, `o${i}`);
    // Down for at least 10 retry periods of the shortest backoff (the 10-minute outage, scaled down).
    await new Promise((r) => setTimeout(r, 2_500));
    await receiver.up();
    await waitUntil(() => unique(texts(receiver.deliveries).get(t1) ?? []).length === 15 && unique(texts(receiver.deliveries).get(t2) ?? []).length === 15, 20_000, () => `got ${receiver.deliveries.length}`);
    assert.deepEqual(texts(receiver.deliveries).get(t1), Array.from({ length: 15 }, (_, i) => `o${2 * i}`));
    assert.deepEqual(texts(receiver.deliveries).get(t2), Array.from({ length: 15 }, (_, i) => `o${2 * i + 1}`));
    assert.deepEqual((await api(natter, "GET", "/eventSubscriptions/outage-1/deadLetters")).body!.value, []);
    await api(natter, "DELETE", "/eventSubscriptions/outage-1");
  });

  it("a slow receiver never slows sends: every send completes while deliveries hang", async () => {
    receiver.deliveries.length = 0;
    await api(natter, "PUT", "/eventSubscriptions/slow-1", subscriptionBody(receiver.url, { types: [RECEIVED_IN_THREAD] }));
    receiver.answer = () => ({ status: 200, delayMs: 60_000 });
    const t = await world.newThread("slow");
    await world.send(t, "first");
    await waitUntil(() => receiver.deliveries.length >= 1, 10_000, () => "first delivery");
    for (let i = 0; i < 20; i++) await world.send(t, `s${i}`);
    assert.equal(receiver.deliveries.length, 1, "the subscription waits on its hanging request (per-thread order)");
    receiver.answer = () => ({ status: 200 });
    // Deleting aborts the hanging request and stops the subscription.
    const before = receiver.deliveries.length;
    await api(natter, "DELETE", "/eventSubscriptions/slow-1");
    await world.send(t, "after-delete");
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal(receiver.deliveries.length, before, "nothing delivered after the delete");
  });
});

describe("event delivery across a restart", () => {
  it("subscriptions and cursors survive a restart; events sent while stopped are delivered after", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "natter-events-restart-"));
    const receiver = await startWebhookReceiver();
    let natter = await startTestNatter({ dataDir }, { events: FAST });
    try {
      const world = await chat(natter);
      await api(natter, "PUT", "/eventSubscriptions/restart-1", subscriptionBody(receiver.url, { types: [RECEIVED_IN_THREAD] }));
      const t = await world.newThread("restart");
      await world.send(t, "before");
      await waitUntil(() => (texts(receiver.deliveries).get(t) ?? []).length === 1, 10_000, () => "before");
      await receiver.down();
      await world.send(t, "while-down");
      await natter.close();
      await receiver.up();
      natter = await startTestNatter({ dataDir }, { events: FAST });
      await fetch(new URL(`/chat/threads/${encodeURIComponent(t)}/messages?${V}`, natter.httpUrl), {
        method: "POST", headers: { authorization: `Bearer ${world.alice.token}`, "content-type": "application/json" }, body: JSON.stringify({ content: "after" }),
      });
      await waitUntil(() => unique(texts(receiver.deliveries).get(t) ?? []).length === 3, 15_000, () => `got ${JSON.stringify(texts(receiver.deliveries).get(t))}`);
      assert.deepEqual(unique(texts(receiver.deliveries).get(t)!), ["before", "while-down", "after"]);
      assert.equal((await api(natter, "GET", "/eventSubscriptions/restart-1")).status, 200);
    } finally {
      await natter.close();
      await receiver.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
