// ChatClient / ChatThreadClient behaviour that needs no server: typing throttle, client-side validation,
// https enforcement, retries and abort through the client options, and the realtime seam.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { AzureCommunicationTokenCredential as AzureCredential } from "@azure/communication-common";
import { AzureCommunicationTokenCredential } from "@natter/communication-common";
import type { ChatMessageReceivedEvent, RealtimeTransportContext } from "./index.js";
import { ChatClient, ChatThreadClient, setDefaultRealtimeTransport } from "./index.js";

function jwt(): string {
  const enc = (v: unknown) => btoa(JSON.stringify(v)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  return `${enc({ alg: "none" })}.${enc({ exp: Math.floor(Date.now() / 1000) + 3600 })}.x`;
}

function recordingFetch(status = 200, body?: unknown): { fetch: typeof fetch; calls: Array<{ url: string; init?: RequestInit }> } {
  const calls: Array<{ url: string; init?: RequestInit }> = [];
  const f = (async (input: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(input), init });
    return new Response(body === undefined ? null : JSON.stringify(body), {
      status,
      headers: body === undefined ? {} : { "content-type": "application/json" },
    });
  }) as typeof fetch;
  return { fetch: f, calls };
}

test("sendTypingNotification is throttled to one request per 8 s; sendMessage resets the clock", async () => {
  const typing = recordingFetch(200);
  const thread = new ChatThreadClient("https://natter.test", "19:t@thread.v2", new AzureCommunicationTokenCredential(jwt()), {
    fetch: (async (input: string | URL | Request, init?: RequestInit) => {
      if (String(input).includes("/messages")) {
        typing.calls.push({ url: String(input), init });
        return new Response(JSON.stringify({ id: "1" }), { status: 201, headers: { "content-type": "application/json" } });
      }
      return typing.fetch(input, init);
    }) as typeof fetch,
  });
  assert.equal(await thread.sendTypingNotification(), true);
  assert.equal(await thread.sendTypingNotification(), false);
  assert.equal(await thread.sendTypingNotification({ senderDisplayName: "A" }), false);
  assert.equal(typing.calls.length, 1, "throttled calls send nothing");
  await thread.sendMessage({ content: "hi" });
  assert.equal(await thread.sendTypingNotification(), true);
  assert.equal(typing.calls.filter((c) => c.url.includes("/typing")).length, 2);
});

test("the typing throttle is per ChatThreadClient instance and expires after 8 s", async (t) => {
  t.mock.timers.enable({ apis: ["Date"], now: Date.now() });
  const { fetch, calls } = recordingFetch(200);
  const client = new ChatClient("https://natter.test", new AzureCommunicationTokenCredential(jwt()), { fetch });
  const a = client.getChatThreadClient("t1");
  const b = client.getChatThreadClient("t1");
  assert.equal(await a.sendTypingNotification(), true);
  assert.equal(await b.sendTypingNotification(), true);
  t.mock.timers.tick(7999);
  assert.equal(await a.sendTypingNotification(), false);
  t.mock.timers.tick(1);
  assert.equal(await a.sendTypingNotification(), true);
  assert.equal(calls.length, 3);
});

test("client-side validation: message type (case-insensitive), required fields", async () => {
  const { fetch, calls } = recordingFetch(201, { id: "1" });
  const thread = new ChatThreadClient("https://natter.test", "t", new AzureCommunicationTokenCredential(jwt()), { fetch });
  await thread.sendMessage({ content: "x" }, { type: "HTML" as "html" });
  assert.equal(JSON.parse(String(calls[0].init?.body)).type, "HTML", "sent verbatim");
  await assert.rejects(thread.sendMessage({ content: "x" }, { type: "foo" as "text" }), /not a valid value/);
  await assert.rejects(thread.sendMessage({} as { content: string }), /content cannot be null/);
  await assert.rejects(thread.sendReadReceipt({} as { chatMessageId: string }), /chatMessageId cannot be null/);
  const client = new ChatClient("https://natter.test", new AzureCommunicationTokenCredential(jwt()), { fetch });
  await assert.rejects(client.createChatThread({} as { topic: string }), /topic cannot be null/);
  assert.equal(calls.length, 1);
});

test("createChatThread sends a fresh UUID repeatability-request-id unless an idempotencyToken is given", async () => {
  const { fetch, calls } = recordingFetch(201, { chatThread: { id: "t", topic: "x", createdOn: "2026-01-01T00:00:00Z" } });
  const client = new ChatClient("https://natter.test/", new AzureCommunicationTokenCredential(jwt()), { fetch });
  await client.createChatThread({ topic: "x" });
  await client.createChatThread({ topic: "x" });
  await client.createChatThread({ topic: "x" }, { idempotencyToken: "mine" });
  const ids = calls.map((c) => new Headers(c.init?.headers).get("repeatability-request-id"));
  assert.match(ids[0] ?? "", /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(ids[0], ids[1]);
  assert.equal(ids[2], "mine");
  assert.equal(calls[0].url, "https://natter.test/chat/threads?api-version=2025-03-15");
});

test("bearer calls refuse http:// unless allowInsecureConnection is set", async () => {
  const { fetch, calls } = recordingFetch(204);
  const insecure = new ChatClient("http://natter.test", new AzureCommunicationTokenCredential(jwt()), { fetch });
  await assert.rejects(insecure.deleteChatThread("t"), /non-TLS/);
  assert.equal(calls.length, 0);
  const allowed = new ChatClient("http://natter.test", new AzureCommunicationTokenCredential(jwt()), { fetch, allowInsecureConnection: true });
  await allowed.deleteChatThread("t");
  assert.equal(calls.length, 1);
});

test("Azure's AzureCommunicationTokenCredential works with our ChatClient", async () => {
  const token = jwt();
  const { fetch, calls } = recordingFetch(204);
  const client = new ChatClient("https://natter.test", new AzureCredential(token), { fetch });
  await client.deleteChatThread("19:x@thread.v2");
  assert.equal(new Headers(calls[0].init?.headers).get("authorization"), `Bearer ${token}`);
  assert.equal(calls[0].url, "https://natter.test/chat/threads/19%3Ax%40thread.v2?api-version=2025-03-15");
});

test("retryOptions reach the pipeline: 429 + Retry-After then success, against a local server", async () => {
  let hits = 0;
  const ids: string[] = [];
  const server = createServer((req, res) => {
    hits++;
    ids.push(String(req.headers["x-ms-client-request-id"]));
    if (hits === 1) {
      res.writeHead(429, { "retry-after-ms": "20", "content-type": "application/json" });
      res.end(JSON.stringify({ error: { code: "TooManyRequests", message: "Rate limit exceeded." } }));
    } else {
      res.writeHead(201, { "content-type": "application/json" });
      res.end(JSON.stringify({ id: "42" }));
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const { port } = server.address() as AddressInfo;
    const thread = new ChatThreadClient(`http://127.0.0.1:${port}/`, "t", new AzureCommunicationTokenCredential(jwt()), {
      allowInsecureConnection: true,
      retryOptions: { maxRetries: 1, retryDelayInMs: 5 },
    });
    assert.deepEqual(await thread.sendMessage({ content: "x" }), { id: "42" });
    assert.equal(hits, 2);
    assert.equal(ids[0], ids[1]);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test("abortSignal cancels an operation", async () => {
  const controller = new AbortController();
  controller.abort();
  const { fetch, calls } = recordingFetch(200);
  const thread = new ChatThreadClient("https://natter.test", "t", new AzureCommunicationTokenCredential(jwt()), { fetch });
  await assert.rejects(thread.getProperties({ abortSignal: controller.signal }), { name: "AbortError" });
  await assert.rejects(thread.listMessages({ abortSignal: controller.signal }).next(), { name: "AbortError" });
  assert.equal(calls.length, 0);
});

test("realtime: start rejects with a clear error when the service is unreachable; on() needs start except for connection events", async () => {
  const client = new ChatClient("https://natter.invalid", new AzureCommunicationTokenCredential(jwt()));
  await assert.rejects(client.startRealtimeNotifications(), { message: /Realtime connection failed before it was ready/ });
  assert.throws(() => client.on("chatMessageReceived", () => undefined), /must call startRealtimeNotifications/);
  client.on("realTimeNotificationConnected", () => undefined);
  client.off("realTimeNotificationConnected", () => undefined);
  await client.stopRealtimeNotifications();
});

test("realtime: a transport's events reach listeners; off and stop remove them", async () => {
  let context: RealtimeTransportContext | undefined;
  const lifecycle: string[] = [];
  const client = new ChatClient("https://natter.test", new AzureCommunicationTokenCredential(jwt()), {
    realtimeTransport: (ctx) => {
      context = ctx;
      return {
        start: async () => {
          lifecycle.push("start");
          ctx.emit("realTimeNotificationConnected");
        },
        stop: async () => {
          lifecycle.push("stop");
        },
      };
    },
  });
  let connected = 0;
  client.on("realTimeNotificationConnected", () => connected++);
  await client.startRealtimeNotifications();
  await client.startRealtimeNotifications();
  assert.deepEqual(lifecycle, ["start"], "a second start is a no-op");
  assert.equal(connected, 1);
  assert.equal(context?.apiVersion, "2025-03-15");
  assert.equal(context?.endpoint, "https://natter.test");

  const received: ChatMessageReceivedEvent[] = [];
  const listener = (e: ChatMessageReceivedEvent) => received.push(e);
  client.on("chatMessageReceived", listener);
  const event = {
    threadId: "t",
    sender: { kind: "communicationUser", communicationUserId: "8:acs:a" },
    senderDisplayName: "A",
    recipient: { kind: "communicationUser", communicationUserId: "8:acs:b" },
    id: "1",
    createdOn: new Date(),
    version: "1",
    type: "Text",
    message: "hi",
    metadata: {},
  } as ChatMessageReceivedEvent;
  context?.emit("chatMessageReceived", event);
  assert.deepEqual(received, [event]);
  client.off("chatMessageReceived", listener);
  context?.emit("chatMessageReceived", event);
  assert.equal(received.length, 1);

  client.on("chatMessageReceived", listener);
  await client.stopRealtimeNotifications();
  context?.emit("chatMessageReceived", event);
  assert.equal(received.length, 1, "stop removes all listeners");
  assert.deepEqual(lifecycle, ["start", "stop"]);
});

test("realtime: a failed start leaves the client stopped; the default transport applies to new clients", async () => {
  const failing = new ChatClient("https://natter.test", new AzureCommunicationTokenCredential(jwt()), {
    realtimeTransport: () => ({ start: async () => Promise.reject(new Error("no socket")), stop: async () => undefined }),
  });
  await assert.rejects(failing.startRealtimeNotifications(), /no socket/);
  assert.throws(() => failing.on("chatThreadCreated", () => undefined), /must call startRealtimeNotifications/);

  let created = 0;
  setDefaultRealtimeTransport(() => (created++, { start: async () => undefined, stop: async () => undefined }));
  try {
    const client = new ChatClient("https://natter.test", new AzureCommunicationTokenCredential(jwt()));
    await client.startRealtimeNotifications();
    client.on("participantsAdded", () => undefined);
    assert.equal(created, 1);
    await client.stopRealtimeNotifications();
  } finally {
    setDefaultRealtimeTransport(undefined);
  }
});

test("the extension prefix and api-version are @natter/wire's", async () => {
  const wire = await import("@natter/wire");
  const rest = await import("./chat-rest-client.js");
  assert.equal(rest.NATTER_EXTENSIONS_PREFIX, wire.NATTER_EXTENSIONS_PREFIX);
  assert.equal(rest.NATTER_EXTENSIONS_API_VERSION, wire.NATTER_EXTENSIONS_API_VERSION);
});

test("listChatThreads uses ACS's route, for good, once the endpoint answers the extension route with 404 (real ACS)", async () => {
  const calls: string[] = [];
  const acs = (async (input: string | URL | Request) => {
    const url = new URL(String(input));
    calls.push(`${url.pathname}?${url.searchParams.toString()}`);
    if (url.pathname.startsWith("/natter/")) {
      return new Response(JSON.stringify({ error: { code: "NotFound", message: "Resource not found." } }), { status: 404, headers: { "content-type": "application/json" } });
    }
    const page = url.searchParams.get("skip") === null
      ? { value: [{ id: "19:a@thread.v2", topic: "A", lastMessageReceivedOn: "2026-12-01T00:00:00Z" }], nextLink: "https://acs.test/chat/threads?skip=1&api-version=2025-03-15" }
      : { value: [{ id: "19:b@thread.v2", topic: "B" }] };
    return new Response(JSON.stringify(page), { status: 200, headers: { "content-type": "application/json" } });
  }) as typeof fetch;
  const client = new ChatClient("https://acs.test", new AzureCommunicationTokenCredential(jwt()), { fetch: acs, retryOptions: { maxRetries: 0 } });
  const first: string[] = [];
  for await (const thread of client.listChatThreads({ maxPageSize: 1 })) first.push(thread.id);
  assert.deepEqual(first, ["19:a@thread.v2", "19:b@thread.v2"]);
  assert.deepEqual(calls.map((c) => c.split("?")[0]), ["/natter/chat/threads", "/chat/threads", "/chat/threads"]);
  assert.equal(calls[1], "/chat/threads?maxPageSize=1&api-version=2025-03-15");
  calls.length = 0;
  const again: string[] = [];
  for await (const thread of client.listChatThreads()) again.push(thread.id);
  assert.deepEqual(again, ["19:a@thread.v2", "19:b@thread.v2"]);
  assert.ok(calls.every((c) => c.startsWith("/chat/threads")), "the extension route is not asked again");
});

test("listChatThreads does not fall back on errors other than 404", async () => {
  const { fetch, calls } = recordingFetch(401, { error: { code: "Unauthorized", message: "no" } });
  const client = new ChatClient("https://natter.test", new AzureCommunicationTokenCredential(jwt()), { fetch, retryOptions: { maxRetries: 0 } });
  await assert.rejects(async () => {
    for await (const _ of client.listChatThreads()) { /* drain */ }
  }, { statusCode: 401 });
  assert.equal(calls.length, 1);
  assert.ok(calls[0].url.includes("/natter/chat/threads"));
});
