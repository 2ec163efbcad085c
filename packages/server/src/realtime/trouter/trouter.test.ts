// The Trouter subset: (1) the protocol from Node (HTTP endpoints, CORS preflights, socket.io frames, acks,
// forged ids, token expiry and revocation); (2) the UNMODIFIED browser builds of @azure/communication-chat
// 1.5.4 and 1.6.0, bundled by esbuild and run in headless Chromium over HTTPS from another origin: user B's
// ChatClient receives every event user A causes, then realTimeNotificationDisconnected when B's tokens
// are revoked. Part (2) skips when Chromium is not installed (/usr/bin/chromium).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { setTimeout as delay } from "node:timers/promises";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import type { Browser, Page } from "playwright-core";
import { WebSocket } from "ws";
import { createTestUser, startTestNatter } from "../../test-support/test-natter.js";
import type { TestNatter } from "../../test-support/test-natter.js";
import { jsEscape, toTrouterPayload } from "./payloads.js";
import { parseFrame } from "./protocol.js";
import { BUS_RESUMED, userTopic } from "../../bus/bus.js";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const API = "api-version=2024-03-07";
const serverDir = fileURLToPath(new URL("../../../", import.meta.url));

type User = Awaited<ReturnType<typeof createTestUser>>;

/** A REST call to Natter as `user` (Node trusts the test certificate through NODE_EXTRA_CA_CERTS). */
async function call(natter: TestNatter, user: User, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const url = new URL(path, natter.endpoint);
  url.search = url.search ? `${url.search}&${API}` : API;
  const response = await fetch(url, {
    method,
    headers: {
      authorization: `Bearer ${user.token}`,
      ...(body === undefined ? {} : { "content-type": method === "PATCH" ? "application/merge-patch+json" : "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

const participant = (user: User, displayName: string) => ({ communicationIdentifier: { rawId: user.userId, communicationUser: { id: user.userId } }, displayName });

/** Reads a nested field of a recorded (JSON-cloned) event. */
function field(value: unknown, path: string): unknown {
  return path.split(".").reduce<unknown>((v, key) => (v !== null && typeof v === "object" ? (v as Record<string, unknown>)[key] : undefined), value);
}

describe("trouter payloads", () => {
  test("jsEscape has escape() semantics (what the client's unescape() reverses)", () => {
    const text = 'a-Z_0.9*@+/ %41 é ✓ "{}" \u{1F600}';
    assert.equal(jsEscape(text), (globalThis as unknown as { escape(s: string): string }).escape(text));
    assert.equal((globalThis as unknown as { unescape(s: string): string }).unescape(jsEscape(text)), text);
  });

  test("message events carry a numeric eventId, MRI strings and ISO dates", () => {
    const payload = toTrouterPayload(
      {
        type: "chatMessageReceived", threadId: "19:t@thread.v2", at: 5, actor: "8:acs:r_a",
        message: {
          threadId: "19:t@thread.v2", id: "1700000000000", sequence: 3, type: "html", body: { message: "<b>hi</b>" }, sender: "8:acs:r_a",
          senderDisplayName: "Ann", createdAt: 1_700_000_000_000, editedAt: null, deletedAt: null, version: 1_700_000_000_000, metadata: { k: "v" },
        },
      },
      "8:acs:r_b",
    );
    assert.deepEqual(payload, {
      eventId: 200, groupId: "19:t@thread.v2", senderId: "8:acs:r_a", recipientMri: "8:acs:r_b", messageId: "1700000000000", clientMessageId: "",
      senderDisplayName: "Ann", messageType: "RichText/Html", messageBody: "<b>hi</b>", version: "1700000000000",
      originalArrivalTime: "2023-11-14T22:13:20.000Z", acsChatMessageMetadata: '{"k":"v"}', attachments: "[]",
    });
  });
});

describe("trouter protocol (Node client)", () => {
  let natter: TestNatter;
  let base: string;
  before(async () => {
    natter = await startTestNatter();
    base = natter.endpoint.replace(/\/$/, "");
  });
  after(async () => natter?.stop());

  async function handshake(user: User): Promise<string> {
    const response = await fetch(`${base}/socket.io/1/?v=v4&t=1`, { headers: { "x-skypetoken": user.token } });
    const text = await response.text();
    assert.equal(response.status, 200, text);
    const [sid, heartbeat, close, transports] = text.split(":");
    assert.deepEqual([heartbeat, close, transports], ["60", "60", "websocket"]);
    return sid;
  }

  /** Opens the socket.io WebSocket and collects frames (text). */
  async function open(sid: string) {
    const ws = new WebSocket(`${base.replace(/^https/, "wss")}/socket.io/1/websocket/${sid}?ccid=c1`);
    const frames: string[] = [];
    ws.on("message", (data) => frames.push(data.toString()));
    const closed = new Promise<void>((resolve) => ws.on("close", () => resolve()));
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    const until = async (predicate: (frames: string[]) => boolean, what: string) => {
      for (let i = 0; i < 200 && !predicate(frames); i++) await delay(25);
      assert.ok(predicate(frames), `${what}; frames: ${frames.join(" | ")}`);
    };
    return { ws, frames, closed, until };
  }

  test("config, allocation, handshake and registrar", async () => {
    const user = await createTestUser(natter);
    // The signaling client concatenates endpoint + path: an endpoint ending in "/" gives "//chat/…".
    for (const path of ["/chat/config/realTimeNotifications", "//chat/config/realTimeNotifications"]) {
      const response = await fetch(`${base}${path}?api-version=2024-09-01`, { headers: { authorization: `Bearer ${user.token}` } });
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { trouterServiceUrl: `${base}/trouter`, registrarServiceUrl: `${base}/registrar`, cloudType: "public" });
    }
    const unauthorized = await fetch(`${base}/chat/config/realTimeNotifications?api-version=2024-09-01`, { headers: { authorization: "Bearer nope" } });
    assert.equal(unauthorized.status, 401);

    for (const path of ["/trouter/v4/a?cor_id=x&con_num=1_1&epid=e", "/v4/a?cor_id=x&con_num=1_2&epid=e&v=v4"]) {
      const response = await fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "text/plain", "x-skypetoken": user.token } });
      assert.equal(response.status, 200);
      assert.match(response.headers.get("content-type") ?? "", /^application\/json(;|$)/);
      const allocation = (await response.json()) as Record<string, unknown>;
      assert.equal(allocation.socketio, `${base}/`);
      assert.deepEqual(allocation.connectparams, {});
      assert.equal(typeof allocation.url, "string");
      assert.equal(typeof allocation.surl, "string");
    }
    const noToken = await fetch(`${base}/trouter/v4/a`, { method: "POST", headers: { "content-type": "text/plain" } });
    assert.equal(noToken.status, 401);
    const badHandshake = await fetch(`${base}/socket.io/1/?t=1`, { headers: { "x-skypetoken": "bad" } });
    assert.equal(badHandshake.status, 401);

    const registered = await fetch(`${base}/registrar/v3/registrations`, {
      method: "POST",
      headers: { "x-skypetoken": user.token, "content-type": "application/json" },
      body: JSON.stringify({ registrationId: "r1", transports: { TROUTER: [{ path: "x", ttl: 7200 }] } }),
    });
    assert.equal(registered.status, 202);
    // Never an empty body: the signaling client does not read it, and Chromium aborts an unread empty 2xx body.
    assert.match(registered.headers.get("content-type") ?? "", /^application\/json(;|$)/);
    assert.equal(await registered.text(), "{}");
    const unregistered = await fetch(`${base}/registrar/v3/registrations/r1`, { method: "DELETE", headers: { "x-skypetoken": user.token } });
    assert.equal(unregistered.status, 200);
    assert.equal(await unregistered.text(), "{}");
  });

  test("CORS preflights allow the signaling client's headers", async () => {
    const cases: [string, string, string][] = [
      ["//chat/config/realTimeNotifications?api-version=2024-09-01", "GET", "authorization,x-ms-useragent,x-ms-client-request-id"],
      ["/trouter/v4/a?cor_id=x", "POST", "content-type,x-skypetoken"],
      ["/socket.io/1/?t=1", "GET", "x-skypetoken"],
      ["/registrar/v3/registrations", "POST", "content-type,x-skypetoken"],
      ["/registrar/v3/registrations/r1", "DELETE", "x-skypetoken"],
    ];
    for (const [path, method, headers] of cases) {
      const response = await fetch(`${base}${path}`, {
        method: "OPTIONS",
        headers: { origin: "http://page.example", "access-control-request-method": method, "access-control-request-headers": headers },
      });
      assert.ok(response.status === 204 || response.status === 200, `${path}: ${response.status}`);
      assert.equal(response.headers.get("access-control-allow-origin"), "http://page.example");
      const allowed = (response.headers.get("access-control-allow-headers") ?? "").toLowerCase().split(/\s*,\s*/);
      for (const h of headers.split(",")) assert.ok(allowed.includes(h), `${path}: ${h} not allowed (${allowed.join(",")})`);
      assert.match(response.headers.get("access-control-allow-methods") ?? "", new RegExp(method));
    }
  });

  test("socket: connect frames, acks, notifications; revocation disconnects with 'unauthorized'", async () => {
    const a = await createTestUser(natter);
    const b = await createTestUser(natter);
    const socket = await open(await handshake(b));
    await socket.until((f) => f.length >= 2, "1:: and trouter.connected");
    assert.equal(socket.frames[0], "1::");
    assert.deepEqual(JSON.parse(parseFrame(socket.frames[1])!.data), { name: "trouter.connected", args: [{ ttl: 86400 }] });

    socket.ws.send('5:1+::{"name":"user.activity","args":[{"state":"active","cv":"x"}]}');
    socket.ws.send('5:2+::{"name":"ping"}');
    socket.ws.send("2::");
    await socket.until((f) => f.includes("6:::1+[]") && f.includes("6:::2+[]"), "acks of user.activity and ping");

    const created = await call(natter, a, "POST", "/chat/threads", { topic: "100% ✓", participants: [participant(b, "Bea")] });
    const threadId = field(created, "chatThread.id") as string;
    await socket.until((f) => f.some((x) => x.startsWith("3:::")), "a notification");
    const request = JSON.parse(parseFrame(socket.frames.find((x) => x.startsWith("3:::"))!)!.data) as { id: number; method: string; url: string; body: unknown };
    assert.equal(request.method, "POST");
    assert.equal(typeof request.id, "number");
    assert.equal(typeof request.body, "string", "the body is JSON text (double-encoded)");
    const body = JSON.parse(request.body as string) as Record<string, string>;
    assert.equal(body.eventId, 257);
    assert.equal(body.threadId, threadId);
    assert.equal(JSON.parse((globalThis as unknown as { unescape(s: string): string }).unescape(body.properties)).topic, "100% ✓");
    socket.ws.send(`3:::${JSON.stringify({ id: request.id, status: 200, headers: {}, body: "" })}`);

    await natter.identity.revokeTokens(b.userId);
    await socket.until((f) => f.includes('0:::{"reason":"unauthorized"}'), "disconnect on revocation");
    await socket.closed;
  });

  test("socket: forged or stale session ids are refused; other paths get 404", async () => {
    const b = await createTestUser(natter);
    const status = (path: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`${base.replace(/^https/, "wss")}${path}`);
        ws.on("unexpected-response", (_request, response) => resolve(response.statusCode ?? 0));
        ws.on("open", () => {
          ws.close();
          resolve(101);
        });
        ws.on("error", () => undefined);
      });
    assert.equal(await status("/socket.io/1/websocket/forged"), 401);
    const sid = await handshake(b);
    const [body, mac] = sid.split(".");
    assert.equal(await status(`/socket.io/1/websocket/${body}.${mac.slice(1)}x`), 401);
    assert.equal(await status("/no-such-endpoint"), 404);
    // A handshake made before a revocation cannot open a socket after it.
    await natter.identity.revokeTokens(b.userId);
    assert.equal(await status(`/socket.io/1/websocket/${sid}`), 401);
  });

  test("socket: chat events come from the Store, so wake-ups the Bus lost are repaired by BUS_RESUMED, once each and in order", async () => {
    const a = await createTestUser(natter);
    const b = await createTestUser(natter);
    const created = await call(natter, a, "POST", "/chat/threads", { topic: "lost wake-ups", participants: [participant(b, "Bea")] });
    const threadId = field(created, "chatThread.id") as string;
    const sendText = (content: string) => call(natter, a, "POST", `/chat/threads/${encodeURIComponent(threadId)}/messages`, { content });
    const socket = await open(await handshake(b));
    await socket.until((f) => f.length >= 2, "connected");
    const received = () =>
      socket.frames
        .filter((x) => x.startsWith("3:::"))
        .map((x) => JSON.parse((JSON.parse(parseFrame(x)!.data) as { body: string }).body) as { eventId: number; messageBody?: string })
        .filter((n) => n.eventId === 200)
        .map((n) => n.messageBody);

    // The Bus drops every message for a while, as Redis does during an outage; the sends still commit.
    const bus = natter.bus as { publish: typeof natter.bus.publish; publishMany: typeof natter.bus.publishMany };
    const { publish, publishMany } = bus;
    bus.publish = async () => undefined;
    bus.publishMany = async () => undefined;
    try {
      for (const content of ["lost 1", "lost 2", "lost 3"]) await sendText(content);
    } finally {
      bus.publish = publish;
      bus.publishMany = publishMany;
    }
    await delay(200);
    assert.deepEqual(received(), [], "nothing woke the socket");
    // A reconnected Redis bus announces possible losses with BUS_RESUMED; the connection reads the Store.
    await natter.bus.publish(userTopic(b.userId), { type: BUS_RESUMED, data: null });
    await socket.until(() => received().length >= 3, "the lost messages after BUS_RESUMED");
    await sendText("live");
    await socket.until(() => received().length >= 4, "a live message");
    await natter.bus.publish(userTopic(b.userId), { type: BUS_RESUMED, data: null }); // nothing new: nothing sent again
    await delay(200);
    assert.deepEqual(received(), ["lost 1", "lost 2", "lost 3", "live"]);
    socket.ws.close();
    await socket.closed;
  });

  test("socket: closed when the token expires", async () => {
    const user = await natter.identity.createUser();
    const { token } = await natter.tokens.issue(user.id, ["chat"], 2 / 60, user.tokenGeneration);
    const socket = await open(await handshake({ userId: user.id, token, expiresOn: new Date() }));
    await socket.until((f) => f.length >= 2, "connected");
    await socket.closed;
    assert.ok(socket.frames.includes('0:::{"reason":"unauthorized"}'), socket.frames.join(" | "));
  });
});

// ---- the Azure SDK in Chromium ----

const VERSIONS = [
  { label: "1.5.4", module: "azure-chat-154" },
  { label: "1.6.0", module: "@azure/communication-chat" },
  // The beta Azure's UI library 1.28.0-beta.2 ships with (api-version 2024-06-05-preview; issue #21 item 4).
  { label: "1.6.0-beta.7", module: "azure-chat-beta" },
];

/** A 1×1 PNG. */
const PNG = Buffer.from(
  "89504e470d0a1a0a0000000d4948445200000001000000010806000000" + "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e221bc330000000049454e44ae426082",
  "hex",
);

const EVENTS = [
  "chatMessageReceived", "chatMessageEdited", "chatMessageDeleted", "typingIndicatorReceived", "readReceiptReceived",
  "chatThreadCreated", "chatThreadDeleted", "chatThreadPropertiesUpdated", "participantsAdded", "participantsRemoved",
];

interface Recorded {
  name: string;
  e: unknown;
}

const skipBrowser = existsSync(CHROMIUM) ? false : `Chromium is not installed (${CHROMIUM})`;

describe("Azure's browser SDK receives Natter's events", { skip: skipBrowser }, () => {
  let natter: TestNatter;
  let browser: Browser;
  let staticServer: Server;
  let pageOrigin: string;
  const bundles = new Map<string, string>();

  before(async () => {
    for (const { label, module } of VERSIONS) {
      const result = await build({
        stdin: {
          contents: `import { ChatClient } from "${module}";
import { AzureCommunicationTokenCredential } from "@azure/communication-common";
globalThis.azureChat = { ChatClient, AzureCommunicationTokenCredential };`,
          resolveDir: serverDir,
          sourcefile: `azure-chat-${label}.js`,
          loader: "js",
        },
        bundle: true,
        platform: "browser",
        format: "iife",
        conditions: ["browser"],
        define: { "process.env.NODE_ENV": '"production"' },
        write: false,
        logLevel: "silent",
      });
      bundles.set(label, result.outputFiles[0].text);
    }
    staticServer = createServer((req, res) => {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      const bundle = /^\/azure-chat-(.+)\.js$/.exec(path);
      if (bundle && bundles.has(bundle[1])) {
        res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" });
        return res.end(bundles.get(bundle[1]));
      }
      const page = /^\/(.+)\.html$/.exec(path);
      if (page && bundles.has(page[1])) {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        return res.end(`<!doctype html><meta charset="utf-8"><title>azure chat ${page[1]}</title><script src="/azure-chat-${page[1]}.js"></script>`);
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => staticServer.listen(0, "127.0.0.1", resolve));
    pageOrigin = `http://127.0.0.1:${(staticServer.address() as AddressInfo).port}`;
    natter = await startTestNatter();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (staticServer ? staticServer.close(() => resolve()) : resolve()));
    await natter?.stop();
  });

  for (const { label } of VERSIONS) {
    test(`@azure/communication-chat ${label}: all ten events, connected and disconnected`, async () => {
      const [a, b, c] = [await createTestUser(natter), await createTestUser(natter), await createTestUser(natter)];
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      try {
        const page: Page = await context.newPage();
        const pageErrors: string[] = [];
        page.on("pageerror", (error) => pageErrors.push(error.message));
        page.on("console", (message) => {
          if (message.type() === "error") pageErrors.push(message.text());
        });
        await page.goto(`${pageOrigin}/${label}.html`);

        // In the page: B's ChatClient starts realtime notifications and records every event.
        await page.evaluate(
          async ({ endpoint, token, events }) => {
            interface Client {
              on(name: string, listener: (e: unknown) => void): void;
              startRealtimeNotifications(): Promise<void>;
            }
            const g = globalThis as unknown as {
              azureChat: { ChatClient: new (endpoint: string, credential: unknown) => Client; AzureCommunicationTokenCredential: new (token: string) => unknown };
              recorded: { name: string; e: unknown }[];
            };
            g.recorded = [];
            const client = new g.azureChat.ChatClient(endpoint, new g.azureChat.AzureCommunicationTokenCredential(token));
            const record = (name: string) => (e: unknown) => g.recorded.push({ name, e: e === undefined ? null : JSON.parse(JSON.stringify(e)) });
            client.on("realTimeNotificationConnected", record("realTimeNotificationConnected"));
            client.on("realTimeNotificationDisconnected", record("realTimeNotificationDisconnected"));
            await client.startRealtimeNotifications();
            for (const name of events) client.on(name, record(name));
          },
          { endpoint: natter.endpoint, token: b.token, events: EVENTS },
        );

        const recorded = () => page.evaluate(() => (globalThis as unknown as { recorded: Recorded[] }).recorded);
        const waitFor = async (name: string, match: (e: unknown) => boolean = () => true): Promise<unknown> => {
          const deadline = Date.now() + 20_000;
          for (;;) {
            const events = await recorded();
            const found = events.find((r) => r.name === name && match(r.e));
            if (found) return found.e;
            if (Date.now() > deadline) {
              assert.fail(`${label}: no ${name} within 20 s; saw [${events.map((r) => r.name).join(", ")}]; page errors: ${pageErrors.join(" | ")}`);
            }
            await delay(50);
          }
        };
        const isUser = (value: unknown, user: User) => field(value, "communicationUserId") === user.userId;

        await waitFor("realTimeNotificationConnected");

        const topic = `trouter ${label}`;
        const created = await call(natter, a, "POST", "/chat/threads", { topic, participants: [participant(b, "Bea")] });
        const threadId = field(created, "chatThread.id") as string;
        const inThread = (e: unknown) => field(e, "threadId") === threadId;
        const threadCreated = await waitFor("chatThreadCreated", inThread);
        assert.equal(field(threadCreated, "properties.topic"), topic);
        assert.ok(isUser(field(threadCreated, "createdBy.id"), a));
        const members = field(threadCreated, "participants") as { id: unknown; displayName: string }[];
        assert.ok(members.some((m) => isUser(m.id, b) && m.displayName === "Bea"), JSON.stringify(members));
        assert.equal(typeof field(threadCreated, "createdOn"), "string");

        const first = await call(natter, a, "POST", `/chat/threads/${encodeURIComponent(threadId)}/messages`, { content: "hello B", senderDisplayName: "Ann", type: "text" });
        const firstId = first.id as string;
        const received = await waitFor("chatMessageReceived", (e) => field(e, "id") === firstId);
        assert.equal(field(received, "threadId"), threadId);
        assert.equal(field(received, "message"), "hello B");
        assert.equal(field(received, "senderDisplayName"), "Ann");
        assert.ok(isUser(field(received, "sender"), a));
        assert.ok(isUser(field(received, "recipient"), b));
        assert.equal(field(received, "type"), "Text");
        assert.equal(typeof field(received, "createdOn"), "string");

        await call(natter, a, "PATCH", `/chat/threads/${encodeURIComponent(threadId)}/messages/${firstId}`, { content: "hello again" });
        const edited = await waitFor("chatMessageEdited", (e) => field(e, "id") === firstId);
        assert.equal(field(edited, "message"), "hello again");
        assert.equal(typeof field(edited, "editedOn"), "string");
        assert.ok(isUser(field(edited, "sender"), a));

        await call(natter, a, "DELETE", `/chat/threads/${encodeURIComponent(threadId)}/messages/${firstId}`);
        const deleted = await waitFor("chatMessageDeleted", (e) => field(e, "id") === firstId);
        assert.equal(field(deleted, "threadId"), threadId);
        assert.equal(typeof field(deleted, "deletedOn"), "string");

        const second = await call(natter, a, "POST", `/chat/threads/${encodeURIComponent(threadId)}/messages`, { content: "read me", senderDisplayName: "Ann" });
        await waitFor("chatMessageReceived", (e) => field(e, "id") === second.id);

        if (label === "1.6.0-beta.7") {
          // A live message with an inline image, as the UI library beta shows it: the event's attachment URL is on
          // the client's endpoint at its api-version, and the page can fetch the image with B's token.
          const preview = "api-version=2024-06-05-preview";
          const imagePath = `/chat/threads/${encodeURIComponent(threadId)}/images`;
          // B uploads it from the page with the SDK (its browser upload: XHR, cross-origin, image-filename header).
          const uploaded = await page.evaluate(async ({ endpoint, token, threadId, bytes }) => {
            const g = globalThis as unknown as {
              azureChat: { ChatClient: new (endpoint: string, credential: unknown) => { getChatThreadClient(id: string): { uploadImage(image: Blob, name: string): Promise<{ id: string; name?: string }> } };
                AzureCommunicationTokenCredential: new (token: string) => unknown };
            };
            const client = new g.azureChat.ChatClient(endpoint, new g.azureChat.AzureCommunicationTokenCredential(token));
            return client.getChatThreadClient(threadId).uploadImage(new Blob([new Uint8Array(bytes)], { type: "image/png" }), "dot.png");
          }, { endpoint: natter.endpoint, token: b.token, threadId, bytes: [...PNG] });
          assert.equal(uploaded.name, "dot.png");
          const imageId = uploaded.id;
          const sent = await fetch(new URL(`/chat/threads/${encodeURIComponent(threadId)}/messages?${preview}`, natter.endpoint), {
            method: "POST", headers: { authorization: `Bearer ${a.token}`, "content-type": "application/json" },
            body: JSON.stringify({ content: `<img id="${imageId}">`, type: "html", attachments: [{ id: imageId, attachmentType: "image" }] }),
          });
          const withImage = ((await sent.json()) as { id: string }).id;
          const live = await waitFor("chatMessageReceived", (e) => field(e, "id") === withImage);
          const [attachment] = field(live, "attachments") as { id: string; attachmentType: string; name?: string; url: string; previewUrl: string }[];
          assert.equal(attachment.id, imageId);
          assert.equal(attachment.name, "dot.png");
          assert.equal(attachment.url, `${natter.endpoint.replace(/\/$/, "")}${imagePath}/${imageId}/view/original?${preview}`);
          const seen = await page.evaluate(async ({ url, token }) => {
            const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
            return { status: response.status, type: response.headers.get("content-type"), size: (await response.arrayBuffer()).byteLength };
          }, { url: attachment.previewUrl, token: b.token });
          assert.deepEqual(seen, { status: 200, type: "image/png", size: PNG.length });
        }

        await call(natter, a, "POST", `/chat/threads/${encodeURIComponent(threadId)}/typing`, { senderDisplayName: "Ann" });
        const typing = await waitFor("typingIndicatorReceived", inThread);
        assert.ok(isUser(field(typing, "sender"), a));
        assert.equal(field(typing, "senderDisplayName"), "Ann");
        assert.equal(typeof field(typing, "receivedOn"), "string");

        await call(natter, a, "POST", `/chat/threads/${encodeURIComponent(threadId)}/readReceipts`, { chatMessageId: second.id });
        const receipt = await waitFor("readReceiptReceived", inThread);
        assert.equal(field(receipt, "chatMessageId"), second.id);
        assert.ok(isUser(field(receipt, "sender"), a));
        assert.equal(typeof field(receipt, "readOn"), "string", "readOn is a valid date");

        const newTopic = "Ünïcode ✓ 100% %41 \"quoted\"";
        await call(natter, a, "PATCH", `/chat/threads/${encodeURIComponent(threadId)}`, { topic: newTopic });
        const updated = await waitFor("chatThreadPropertiesUpdated", inThread);
        assert.equal(field(updated, "properties.topic"), newTopic);
        assert.ok(isUser(field(updated, "updatedBy.id"), a));

        await call(natter, a, "POST", `/chat/threads/${encodeURIComponent(threadId)}/participants/:add`, { participants: [participant(c, "Cy")] });
        const added = await waitFor("participantsAdded", inThread);
        const addedList = field(added, "participantsAdded") as { id: unknown; displayName: string; shareHistoryTime?: unknown }[];
        assert.equal(addedList.length, 1);
        assert.ok(isUser(addedList[0].id, c));
        assert.equal(addedList[0].displayName, "Cy");
        assert.notEqual(addedList[0].shareHistoryTime, null, "shareHistoryTime is not an Invalid Date");
        assert.ok(isUser(field(added, "addedBy.id"), a));

        await call(natter, a, "POST", `/chat/threads/${encodeURIComponent(threadId)}/participants/:remove`, { communicationUser: { id: c.userId }, rawId: c.userId });
        const removed = await waitFor("participantsRemoved", inThread);
        const removedList = field(removed, "participantsRemoved") as { id: unknown }[];
        assert.ok(isUser(removedList[0].id, c));
        assert.ok(isUser(field(removed, "removedBy.id"), a));

        await call(natter, a, "DELETE", `/chat/threads/${encodeURIComponent(threadId)}`);
        const threadDeleted = await waitFor("chatThreadDeleted", inThread);
        assert.ok(isUser(field(threadDeleted, "deletedBy.id"), a));
        assert.equal(typeof field(threadDeleted, "deletedOn"), "string");

        // No spurious reconnects so far: exactly one Connected, no Disconnected.
        const names = (await recorded()).map((r) => r.name);
        assert.equal(names.filter((n) => n === "realTimeNotificationConnected").length, 1);
        assert.equal(names.filter((n) => n === "realTimeNotificationDisconnected").length, 0);
        for (const name of EVENTS) assert.ok(names.includes(name), `${label}: ${name} seen`);

        // Revoking B's tokens drops the socket: the app hears Disconnected.
        await natter.identity.revokeTokens(b.userId);
        await waitFor("realTimeNotificationDisconnected");
      } finally {
        await context.close();
      }
    });
  }
});
