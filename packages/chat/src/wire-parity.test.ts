// Wire parity with Azure's @azure/communication-chat 1.6.0: every operation is run by Azure's client
// and by ours against the same canned responses; requests (method, URL, headers, body) and mapped
// results must match. No network: Azure gets a fake httpClient, ours a fake fetch.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ChatClient as AzureChatClient } from "@azure/communication-chat";
import { ChatClient as AzureChatClient154 } from "azure-chat-154";
import { AzureCommunicationTokenCredential as AzureCredential } from "@azure/communication-common";
import { createHttpHeaders } from "@azure/core-rest-pipeline";
import type { PipelineRequest } from "@azure/core-rest-pipeline";
import { AzureCommunicationTokenCredential } from "@natter/communication-common";
import { ChatClient } from "./index.js";
import type { ChatThreadItem } from "./index.js";

const ENDPOINT = "https://natter.test/";
const THREAD = "19:abc_DEF-1@thread.v2";
const ENC_THREAD = encodeURIComponent(THREAD);

function jwt(): string {
  const enc = (v: unknown) => btoa(JSON.stringify(v)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  return `${enc({ alg: "none" })}.${enc({ exp: Math.floor(Date.now() / 1000) + 3600 })}.x`;
}
const TOKEN = jwt();

const alice = { kind: "communicationUser", rawId: "8:acs:res_alice", communicationUser: { id: "8:acs:res_alice" } };
const bob = { rawId: "8:acs:res_bob", communicationUser: { id: "8:acs:res_bob" } };
const teams = { kind: "microsoftTeamsUser", rawId: "8:orgid:t1", microsoftTeamsUser: { userId: "t1", isAnonymous: false, cloud: "public" } };
const phone = { kind: "phoneNumber", rawId: "4:+15550001", phoneNumber: { value: "+15550001" } };

const threadWire = {
  id: THREAD,
  topic: "Hello",
  createdOn: "2026-11-28T10:00:00Z",
  createdByCommunicationIdentifier: alice,
  metadata: { team: "blue" },
  retentionPolicy: { kind: "threadCreationDate", deleteThreadAfterDays: 40 },
  extraUnknown: "kept",
};
const messages = [
  {
    id: "1700000000003",
    type: "text",
    sequenceId: "3",
    version: "1700000000009",
    content: { message: "hi", attachments: [{ id: "a1", attachmentType: "image", name: "cat.png", url: "https://x/a1" }] },
    senderDisplayName: "Alice",
    createdOn: "2026-11-28T10:00:03.1234567Z",
    senderCommunicationIdentifier: alice,
    editedOn: "2026-11-28T10:05:00+00:00",
    metadata: { k: "v" },
  },
  {
    id: "1700000000001",
    type: "participantAdded",
    sequenceId: "1",
    version: "1700000000001",
    content: {
      participants: [
        { communicationIdentifier: alice, shareHistoryTime: "1970-01-01T00:00:00Z" },
        { communicationIdentifier: teams, displayName: "Tee", shareHistoryTime: "2026-01-01T00:00:00Z", metadata: { r: "1" } },
      ],
      initiatorCommunicationIdentifier: alice,
    },
    createdOn: "2026-11-28T10:00:00Z",
    deletedOn: "2026-11-28T11:00:00Z",
  },
];
const participants = [
  { communicationIdentifier: alice, shareHistoryTime: "1970-01-01T00:00:00Z" },
  { communicationIdentifier: bob, displayName: "Bob", shareHistoryTime: "2026-01-01T00:00:00Z", metadata: { role: "x" } },
  { communicationIdentifier: phone, displayName: "Phone" },
];
const receipts = [{ senderCommunicationIdentifier: alice, chatMessageId: "1700000000003", readOn: "2026-11-28T10:06:00Z" }];

const lastMessageWire = { id: "1700000000003", senderCommunicationIdentifier: alice, senderDisplayName: "Alice", preview: "hi", createdOn: "2026-11-28T10:00:03Z" };

/** Our listChatThreads calls the extension route: its requests, read as the ACS route's, must equal Azure's. */
function asAcsRequest(sent: Sent): Sent {
  if (!sent.url.includes("/natter/chat/threads")) return sent;
  return { ...sent, url: sent.url.replace("/natter/chat/threads", "/chat/threads").replace("api-version=2026-12-01-natter", "api-version=2025-03-15") };
}
/** Our thread items without the extension's fields, which Azure's never have. */
function withoutExtensionFields(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutExtensionFields);
  if (value && typeof value === "object" && !(value instanceof Date)) {
    const { unreadCount: _u, unreadMentionCount: _m, lastMessage: _l, ...rest } = value as Record<string, unknown>;
    return Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, withoutExtensionFields(v)]));
  }
  return value;
}

interface Reply {
  status: number;
  body?: unknown;
}

/** The fake service: answers by method and path (query ignored, except the nextLink page marker). */
function respond(method: string, url: string): Reply {
  const u = new URL(url);
  const path = u.pathname;
  const t = `/chat/threads/${ENC_THREAD}`;
  if (method === "POST" && path === "/chat/threads") {
    return { status: 201, body: { chatThread: threadWire, invalidParticipants: [{ code: "403", message: "Permissions check failed", target: "8:acs:bad", innererror: { code: "x", message: "y" } }] } };
  }
  if (method === "GET" && path === "/chat/threads") {
    if (u.searchParams.get("page") === "2") {
      return { status: 200, body: { value: [{ id: "19:b@thread.v2", topic: "B", deletedOn: "2026-11-28T09:00:00Z" }] } };
    }
    return { status: 200, body: { value: [{ id: THREAD, topic: "Hello", lastMessageReceivedOn: "2026-11-28T10:00:03Z" }], nextLink: "/chat/threads?page=2&maxPageSize=1&api-version=2025-03-15" } };
  }
  // Natter extension (our listChatThreads): the same items plus the caller's unread state.
  if (method === "GET" && path === "/natter/chat/threads") {
    const acs = respond(method, url.replace("/natter/chat/threads", "/chat/threads"));
    const page = acs.body as { value: Record<string, unknown>[]; nextLink?: string };
    return {
      status: 200,
      body: {
        value: page.value.map((item) => ({ ...item, unreadCount: 2, unreadMentionCount: 1, ...(item.deletedOn ? {} : { lastMessage: lastMessageWire }) })),
        ...(page.nextLink ? { nextLink: `/natter${page.nextLink.replace("api-version=2025-03-15", "api-version=2026-12-01-natter")}` } : {}),
      },
    };
  }
  if (method === "DELETE" && path === t) return { status: 204 };
  if (method === "GET" && path === t) return { status: 200, body: threadWire };
  if (method === "PATCH" && path === t) return { status: 204 };
  if (method === "POST" && path === `${t}/messages`) return { status: 201, body: { id: "1700000000004" } };
  if (method === "GET" && path === `${t}/messages`) {
    if (u.searchParams.get("page") === "2") return { status: 200, body: { value: [messages[1]] } };
    return { status: 200, body: { value: [messages[0]], nextLink: `https://natter.test${t}/messages?page=2&api-version=2025-03-15` } };
  }
  if (method === "GET" && path.startsWith(`${t}/messages/`)) return { status: 200, body: messages[0] };
  if (method === "PATCH" && path.startsWith(`${t}/messages/`)) return { status: 204 };
  if (method === "DELETE" && path.startsWith(`${t}/messages/`)) return { status: 204 };
  if (method === "GET" && path === `${t}/participants`) return { status: 200, body: { value: participants } };
  if (method === "POST" && path === `${t}/participants/:add`) return { status: 201, body: {} };
  if (method === "POST" && path === `${t}/participants/:remove`) return { status: 204 };
  if (method === "POST" && path === `${t}/typing`) return { status: 200 };
  if (method === "POST" && path === `${t}/readReceipts`) return { status: 200 };
  if (method === "GET" && path === `${t}/readReceipts`) return { status: 200, body: { value: receipts } };
  return { status: 404, body: { error: { code: "NotFound", message: `no route ${method} ${path}` } } };
}

interface Sent {
  method: string;
  url: string;
  contentType?: string;
  accept?: string;
  authorization?: string;
  repeatability?: string;
  body?: unknown;
}

function azureClient(
  log: Sent[],
  extra: { apiVersion?: string } = {},
  Client: typeof AzureChatClient = AzureChatClient,
  credential: unknown = new AzureCredential(TOKEN),
): AzureChatClient {
  return new Client(ENDPOINT, credential as AzureCredential, {
    ...extra,
    retryOptions: { maxRetries: 0 },
    httpClient: {
      sendRequest: async (req: PipelineRequest) => {
        const h = req.headers;
        log.push({
          method: req.method,
          url: req.url,
          contentType: h.get("content-type"),
          accept: h.get("accept"),
          authorization: h.get("authorization"),
          repeatability: h.get("repeatability-request-id"),
          body: typeof req.body === "string" && req.body ? JSON.parse(req.body) : undefined,
        });
        const reply = respond(req.method, req.url);
        return {
          request: req,
          status: reply.status,
          headers: createHttpHeaders(reply.body === undefined ? {} : { "content-type": "application/json; charset=utf-8" }),
          bodyAsText: reply.body === undefined ? "" : JSON.stringify(reply.body),
        };
      },
    },
  });
}

function ourClient(log: Sent[], extra: { apiVersion?: string } = {}): ChatClient {
  const fakeFetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input);
    const headers = new Headers(init?.headers);
    const body = init?.body ? JSON.parse(String(init.body)) : undefined;
    log.push({
      method: init?.method ?? "GET",
      url,
      contentType: headers.get("content-type") ?? undefined,
      accept: headers.get("accept") ?? undefined,
      authorization: headers.get("authorization") ?? undefined,
      repeatability: headers.get("repeatability-request-id") ?? undefined,
      body,
    });
    const reply = respond(init?.method ?? "GET", url);
    return new Response(reply.body === undefined ? null : JSON.stringify(reply.body), {
      status: reply.status,
      headers: reply.body === undefined ? {} : { "content-type": "application/json; charset=utf-8" },
    });
  }) as typeof fetch;
  return new ChatClient(ENDPOINT, new AzureCommunicationTokenCredential(TOKEN), { ...extra, fetch: fakeFetch, retryOptions: { maxRetries: 0 } });
}

/** Drops undefined-valued keys (Azure's deserializer and ours differ only in that). */
function normalize(value: unknown): unknown {
  if (value instanceof Date) return value;
  if (Array.isArray(value)) return value.map(normalize);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, normalize(v)]),
    );
  }
  return value;
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of iterable) out.push(x);
  return out;
}

type Scenario = (client: AzureChatClient | ChatClient) => Promise<unknown>;
const newParticipant = {
  id: { communicationUserId: "8:acs:res_bob" },
  displayName: "Bob",
  shareHistoryTime: new Date("2026-01-01T00:00:00Z"),
  metadata: { role: "x" },
};

const SCENARIOS: Record<string, Scenario> = {
  createChatThread: (c) =>
    (c as ChatClient).createChatThread(
      { topic: "Hello" },
      {
        idempotencyToken: "fixed-token",
        participants: [
          newParticipant,
          { id: { phoneNumber: "+15550001", isAnonymous: false, assertedId: "z" } },
          { id: { microsoftTeamsUserId: "t1" } },
          { id: { teamsAppId: "app1" } },
          { id: { id: "48:unknown" } },
        ],
        metadata: { m: "1" },
        retentionPolicy: { kind: "threadCreationDate", deleteThreadAfterDays: 40 },
      },
    ),
  createChatThreadMinimal: (c) => (c as ChatClient).createChatThread({ topic: "T" }, { idempotencyToken: "t2" }),
  listChatThreads: (c) => collect((c as ChatClient).listChatThreads({ maxPageSize: 1, startTime: new Date("2026-01-01T00:00:00Z") })),
  listChatThreadsByPage: (c) => collect((c as ChatClient).listChatThreads().byPage()),
  deleteChatThread: (c) => (c as ChatClient).deleteChatThread(THREAD),
  getProperties: (c) => (c as ChatClient).getChatThreadClient(THREAD).getProperties(),
  updateTopic: (c) => (c as ChatClient).getChatThreadClient(THREAD).updateTopic(""),
  updateProperties: (c) =>
    (c as ChatClient).getChatThreadClient(THREAD).updateProperties({ topic: "T3", metadata: { a: "b" }, retentionPolicy: { kind: "none" } }),
  updatePropertiesMetadataOnly: (c) => (c as ChatClient).getChatThreadClient(THREAD).updateProperties({ metadata: { a: "" } }),
  sendMessage: (c) =>
    (c as ChatClient).getChatThreadClient(THREAD).sendMessage({ content: "hi" }, { senderDisplayName: "Alice", type: "text", metadata: { k: "v" } }),
  sendMessageMinimal: (c) => (c as ChatClient).getChatThreadClient(THREAD).sendMessage({ content: "hi" }),
  sendMessageTypeCase: (c) => (c as ChatClient).getChatThreadClient(THREAD).sendMessage({ content: "hi" }, { type: "Text" as "text" }),
  getMessage: (c) => (c as ChatClient).getChatThreadClient(THREAD).getMessage("1700000000003"),
  listMessages: (c) => collect((c as ChatClient).getChatThreadClient(THREAD).listMessages({ maxPageSize: 1, startTime: new Date("2022-01-01T00:00:00Z") })),
  listMessagesPages: (c) => collect((c as ChatClient).getChatThreadClient(THREAD).listMessages().byPage()),
  updateMessage: (c) => (c as ChatClient).getChatThreadClient(THREAD).updateMessage("1700000000003", { content: "edited", metadata: { k: "" } }),
  updateMessageEmpty: (c) => (c as ChatClient).getChatThreadClient(THREAD).updateMessage("1700000000003"),
  deleteMessage: (c) => (c as ChatClient).getChatThreadClient(THREAD).deleteMessage("1700000000003"),
  addParticipants: (c) => (c as ChatClient).getChatThreadClient(THREAD).addParticipants({ participants: [newParticipant] }),
  listParticipants: (c) => collect((c as ChatClient).getChatThreadClient(THREAD).listParticipants({ maxPageSize: 2, skip: 1 })),
  removeParticipant: (c) => (c as ChatClient).getChatThreadClient(THREAD).removeParticipant({ communicationUserId: "8:acs:res_bob" }),
  removeTeamsParticipant: (c) =>
    (c as ChatClient).getChatThreadClient(THREAD).removeParticipant({ microsoftTeamsUserId: "t1", isAnonymous: true }),
  sendTypingNotification: (c) => (c as ChatClient).getChatThreadClient(THREAD).sendTypingNotification({ senderDisplayName: "Alice" }),
  sendTypingNotificationBare: (c) => (c as ChatClient).getChatThreadClient(THREAD).sendTypingNotification(),
  sendReadReceipt: (c) => (c as ChatClient).getChatThreadClient(THREAD).sendReadReceipt({ chatMessageId: "1700000000003" }),
  listReadReceipts: (c) => collect((c as ChatClient).getChatThreadClient(THREAD).listReadReceipts({ maxPageSize: 5 })),
};

for (const [name, scenario] of Object.entries(SCENARIOS)) {
  test(`wire parity with @azure/communication-chat 1.6.0: ${name}`, async () => {
    const azureLog: Sent[] = [];
    const ourLog: Sent[] = [];
    const theirs = await scenario(azureClient(azureLog));
    const ours = await scenario(ourClient(ourLog));
    assert.ok(azureLog.length > 0);
    assert.deepStrictEqual(ourLog.map(asAcsRequest), azureLog);
    assert.deepStrictEqual(normalize(withoutExtensionFields(ours)), normalize(theirs));
  });
}

test("wire parity: a caller-set apiVersion rewrites every request, nextLinks included", async () => {
  const azureLog: Sent[] = [];
  const ourLog: Sent[] = [];
  const run = (c: AzureChatClient | ChatClient) => collect((c as ChatClient).getChatThreadClient(THREAD).listMessages().byPage());
  const theirs = await run(azureClient(azureLog, { apiVersion: "2024-03-07" }));
  const ours = await run(ourClient(ourLog, { apiVersion: "2024-03-07" }));
  assert.equal(azureLog.length, 2);
  assert.deepStrictEqual(ourLog, azureLog);
  assert.deepStrictEqual(normalize(ours), normalize(theirs));
});

test("errors: same statusCode, code and message as Azure's RestError", async () => {
  const azureLog: Sent[] = [];
  const ourLog: Sent[] = [];
  const run = (c: AzureChatClient | ChatClient) => (c as ChatClient).getChatThreadClient("nope").getProperties();
  type E = { name: string; statusCode: number; code: string; message: string };
  const theirs = await run(azureClient(azureLog)).then(() => undefined, (e: unknown) => e as E);
  const ours = await run(ourClient(ourLog)).then(() => undefined, (e: unknown) => e as E);
  assert.ok(theirs && ours);
  assert.deepEqual(
    { name: ours.name, statusCode: ours.statusCode, code: ours.code, message: ours.message },
    { name: theirs.name, statusCode: theirs.statusCode, code: theirs.code, message: theirs.message },
  );
});

/** Operations whose 1.5.4 wire form equals 1.6.0's (no thread/participant metadata, no nextLink rewriting). */
const V154 = [
  "createChatThreadMinimal",
  "deleteChatThread",
  "getProperties",
  "updateTopic",
  "sendMessage",
  "sendMessageMinimal",
  "sendMessageTypeCase",
  "getMessage",
  "updateMessage",
  "updateMessageEmpty",
  "deleteMessage",
  "listParticipants",
  "removeParticipant",
  "removeTeamsParticipant",
  "sendTypingNotification",
  "sendTypingNotificationBare",
  "sendReadReceipt",
  "listReadReceipts",
];

for (const name of V154) {
  test(`wire parity with @azure/communication-chat 1.5.4 (apiVersion 2024-03-07): ${name}`, async () => {
    const azureLog: Sent[] = [];
    const ourLog: Sent[] = [];
    const theirs = await SCENARIOS[name](azureClient(azureLog, {}, AzureChatClient154 as unknown as typeof AzureChatClient));
    const ours = await SCENARIOS[name](ourClient(ourLog, { apiVersion: "2024-03-07" }));
    assert.ok(azureLog.length > 0);
    assert.ok(azureLog.every((r) => r.url.includes("api-version=2024-03-07")));
    assert.deepStrictEqual(ourLog, azureLog);
    assert.deepStrictEqual(normalize(ours), normalize(theirs));
  });
}

test("our AzureCommunicationTokenCredential works with Azure's ChatClient", async () => {
  const azureLog: Sent[] = [];
  const client = azureClient(azureLog, {}, AzureChatClient, new AzureCommunicationTokenCredential(TOKEN));
  await client.getChatThreadClient(THREAD).sendMessage({ content: "hi" });
  assert.equal(azureLog[0].authorization, `Bearer ${TOKEN}`);
  const refreshing = new AzureCommunicationTokenCredential({ tokenRefresher: async () => TOKEN, refreshProactively: true });
  try {
    const log2: Sent[] = [];
    await azureClient(log2, {}, AzureChatClient, refreshing).deleteChatThread(THREAD);
    assert.equal(log2[0].authorization, `Bearer ${TOKEN}`);
  } finally {
    refreshing.dispose();
  }
});

test("listChatThreads (Natter extension): the extension route at its api-version, items with unread counts and last message", async () => {
  const log: Sent[] = [];
  const items = await collect(ourClient(log, { apiVersion: "2024-03-07" }).listChatThreads({ maxPageSize: 1 }));
  assert.deepEqual(log.map((r) => r.url), [
    "https://natter.test/natter/chat/threads?maxPageSize=1&api-version=2026-12-01-natter",
    "https://natter.test/natter/chat/threads?page=2&maxPageSize=1&api-version=2026-12-01-natter",
  ]);
  const [first, second] = items as ChatThreadItem[];
  assert.equal(first.unreadCount, 2);
  assert.equal(first.unreadMentionCount, 1);
  assert.deepEqual(first.lastMessage, {
    id: "1700000000003", sender: { kind: "communicationUser", communicationUserId: "8:acs:res_alice" }, senderDisplayName: "Alice", preview: "hi",
    createdOn: new Date("2026-11-28T10:00:03Z"),
  });
  assert.equal(second.lastMessage, undefined);
});
