// History sharing over realtime: a participant gets events about a message (received, edited, deleted, read
// receipt) only when the message is inside their shared history (createdOn >= shareHistoryTime), as REST
// answers; thread-level events go to every participant. Driven with raw protocol clients on both realtime
// protocols (/realtime frames; Trouter's socket.io frames), live and on resume, on SQLite and on PostgreSQL
// (NATTER_TEST_PG_URL). "Gets no event" is checked after a barrier event the same user does get: each
// protocol delivers a user's events in stream order, so nothing older can still arrive. No timing assertions.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { WebSocket } from "ws";
import { createTestUser, startTestNatter } from "../test-support/test-natter.js";
import type { TestNatter } from "../test-support/test-natter.js";
import { createTestDatabase } from "../test-support/cluster.js";
import type { TestDatabase } from "../test-support/cluster.js";
import { parseFrame } from "./trouter/protocol.js";
import { TROUTER_EVENT_IDS } from "./trouter/payloads.js";

const V = "api-version=2024-03-07";
const WAIT_MS = 20_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const identifier = (id: string) => ({ rawId: id, communicationUser: { id } });
const threadPath = (id: string) => `/chat/threads/${encodeURIComponent(id)}`;
type User = Awaited<ReturnType<typeof createTestUser>>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Frame = Record<string, any>;

/** Waits for `predicate` over a growing list, with a generous limit (the condition, not the time, is tested). */
async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** A /realtime client (protocol 1): collects event frames. */
async function realtimeClient(natter: TestNatter, user: User, since?: number) {
  const url = new URL("/realtime", `ws://127.0.0.1:${natter.config.port}/`);
  url.searchParams.set("access_token", user.token);
  if (since !== undefined) url.searchParams.set("since", String(since));
  const ws = new WebSocket(url);
  const frames: Frame[] = [];
  ws.on("message", (data) => {
    const frame = JSON.parse(data.toString()) as Frame;
    if (frame.type === "ping") ws.send(JSON.stringify({ type: "pong" }));
    frames.push(frame);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  ws.send(JSON.stringify({ type: "hello", protocol: 1 }));
  await until(() => frames.some((f) => f.type === "ready"), "ready");
  const ready = frames.find((f) => f.type === "ready")!;
  return {
    position: ready.position as number,
    /** [event name, message id (of the message or the receipt)] of every event of the thread. */
    seen: (threadId: string) => frames.filter((f) => f.type === "event" && f.data.threadId === threadId)
      .map((f) => [f.event as string, (f.data.id ?? f.data.chatMessageId ?? "") as string] as const),
    close: () => ws.close(),
  };
}

const TROUTER_NAMES = Object.fromEntries(Object.entries(TROUTER_EVENT_IDS).map(([name, id]) => [id, name])) as Record<number, string>;

/** A Trouter (socket.io 0.9) client from raw frames: handshake, WebSocket, acks of every notification. */
async function trouterClient(natter: TestNatter, user: User) {
  const base = natter.endpoint.replace(/\/$/, "");
  const response = await fetch(`${base}/socket.io/1/?v=v4&t=1`, { headers: { "x-skypetoken": user.token } });
  const text = await response.text();
  assert.equal(response.status, 200, text);
  const sid = text.split(":")[0];
  const ws = new WebSocket(`${base.replace(/^https/, "wss")}/socket.io/1/websocket/${sid}?ccid=c1`);
  const notifications: Record<string, unknown>[] = [];
  let connected = false;
  ws.on("message", (data) => {
    const frame = parseFrame(data.toString());
    if (frame?.type === 5 && frame.data.includes('"trouter.connected"')) connected = true;
    if (frame?.type !== 3) return;
    const request = JSON.parse(frame.data) as { id: number; body: string };
    notifications.push(JSON.parse(request.body) as Record<string, unknown>);
    ws.send(`3:::${JSON.stringify({ id: request.id, status: 200, headers: {}, body: "" })}`);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  // trouter.connected: the socket is registered for the user's events from here on.
  await until(() => connected, "trouter.connected");
  return {
    seen: (threadId: string) => notifications.filter((n) => (n.groupId ?? n.threadId) === threadId)
      .map((n) => [TROUTER_NAMES[n.eventId as number], (n.messageId ?? "") as string] as const),
    close: () => ws.close(),
  };
}

function api(natter: TestNatter) {
  return async function call(user: User, method: string, path: string, body?: unknown) {
    const res = await fetch(new URL(path, `http://127.0.0.1:${natter.config.port}/`), {
      method,
      headers: {
        authorization: `Bearer ${user.token}`,
        ...(body !== undefined ? { "content-type": method === "PATCH" ? "application/merge-patch+json" : "application/json" } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
}

const MESSAGE_EVENTS = new Set(["chatMessageReceived", "chatMessageEdited", "chatMessageDeleted", "readReceiptReceived"]);

function historyWindowSuite(name: string, start: () => Promise<{ natter: TestNatter; stop: () => Promise<void> }>, skip: string | false) {
  describe(`realtime events per history window (${name})`, { skip }, () => {
    let natter: TestNatter;
    let stop: () => Promise<void>;
    before(async () => {
      ({ natter, stop } = await start());
    });
    after(() => stop?.());

    it("a late joiner gets no edit, delete or read receipt of an older message but does of newer ones; a future-shareHistoryTime participant gets no message event; on /realtime, on Trouter and on resume", async () => {
      const call = api(natter);
      const [alice, bob, carol, dave] = await Promise.all([createTestUser(natter), createTestUser(natter), createTestUser(natter), createTestUser(natter)]);
      const created = await call(alice, "POST", `/chat/threads?${V}`, { topic: "history", participants: [{ communicationIdentifier: identifier(bob.userId) }] });
      const threadId = created.chatThread.id as string;
      const messages = `${threadPath(threadId)}/messages`;
      const old = (await call(alice, "POST", `${messages}?${V}`, { content: "before carol joined" })).id as string;
      await sleep(5); // carol's history starts strictly after `old` was created
      const now = new Date().toISOString();
      const future = new Date(Date.now() + 3_600_000).toISOString();
      await call(alice, "POST", `${threadPath(threadId)}/participants/:add?${V}`, {
        participants: [
          { communicationIdentifier: identifier(carol.userId), shareHistoryTime: now },
          { communicationIdentifier: identifier(dave.userId), shareHistoryTime: future },
        ],
      });
      // REST, for reference: carol cannot see `old`.
      const carolList = await call(carol, "GET", `${messages}?${V}`);
      assert.ok(!carolList.value.some((m: Frame) => m.id === old));

      const carolRt = await realtimeClient(natter, carol);
      const daveRt = await realtimeClient(natter, dave);
      const carolTr = await trouterClient(natter, carol);
      const daveTr = await trouterClient(natter, dave);
      try {
        // Everything about the older message: edit, read receipt, delete.
        await call(alice, "PATCH", `${messages}/${old}?${V}`, { content: "secret edit of an old message" });
        await call(bob, "POST", `${threadPath(threadId)}/readReceipts?${V}`, { chatMessageId: old });
        // REST answers the same: bob's receipt of the older message is hidden from carol and from dave, not from bob.
        const receiptIds = async (user: User) => ((await call(user, "GET", `${threadPath(threadId)}/readReceipts?${V}`)).value as Frame[]).map((r) => r.chatMessageId as string);
        assert.deepEqual(await receiptIds(carol), [], "carol's REST read receipts");
        assert.deepEqual(await receiptIds(dave), [], "dave's REST read receipts");
        assert.deepEqual(await receiptIds(bob), [old], "bob's REST read receipts");
        await call(alice, "DELETE", `${messages}/${old}?${V}`);
        // The same for a newer message, which carol sees (and dave does not: his history starts in an hour).
        const fresh = (await call(alice, "POST", `${messages}?${V}`, { content: "after carol joined" })).id as string;
        await call(alice, "PATCH", `${messages}/${fresh}?${V}`, { content: "edited" });
        await call(bob, "POST", `${threadPath(threadId)}/readReceipts?${V}`, { chatMessageId: fresh });
        await call(alice, "DELETE", `${messages}/${fresh}?${V}`);
        // A thread-level event every participant gets: the barrier for dave (and for carol).
        await call(alice, "PATCH", `${threadPath(threadId)}?${V}`, { topic: "barrier" });

        const expectedCarol = [
          ["chatMessageReceived", fresh], ["chatMessageEdited", fresh], ["readReceiptReceived", fresh], ["chatMessageDeleted", fresh],
          ["chatThreadPropertiesUpdated", ""],
        ];
        const onlyMessageAndTopic = (seen: (readonly [string, string])[]) =>
          seen.filter(([event]) => MESSAGE_EVENTS.has(event) || event === "chatThreadPropertiesUpdated");
        for (const [protocol, client] of [["/realtime", carolRt], ["Trouter", carolTr]] as const) {
          await until(() => client.seen(threadId).some(([e]) => e === "chatThreadPropertiesUpdated"), `carol's barrier on ${protocol}`);
          assert.deepEqual(onlyMessageAndTopic(client.seen(threadId)), expectedCarol, `carol on ${protocol}`);
        }
        for (const [protocol, client] of [["/realtime", daveRt], ["Trouter", daveTr]] as const) {
          await until(() => client.seen(threadId).some(([e]) => e === "chatThreadPropertiesUpdated"), `dave's barrier on ${protocol}`);
          assert.deepEqual(onlyMessageAndTopic(client.seen(threadId)), [["chatThreadPropertiesUpdated", ""]], `dave on ${protocol}`);
        }
        // Resume from before it all reads the same durable events back from the Store.
        for (const [user, expected] of [[carol, expectedCarol], [dave, [["chatThreadPropertiesUpdated", ""]]]] as const) {
          const resumed = await realtimeClient(natter, user, user === carol ? carolRt.position : daveRt.position);
          try {
            await until(() => resumed.seen(threadId).some(([e]) => e === "chatThreadPropertiesUpdated"), "the barrier on resume");
            assert.deepEqual(onlyMessageAndTopic(resumed.seen(threadId)), expected, "on resume");
          } finally {
            resumed.close();
          }
        }
        // The senders and readers themselves keep getting everything (their history starts at 0).
        const bobRt = await realtimeClient(natter, bob, carolRt.position);
        try {
          await until(() => bobRt.seen(threadId).some(([e]) => e === "chatThreadPropertiesUpdated"), "bob's barrier");
          assert.deepEqual(onlyMessageAndTopic(bobRt.seen(threadId)).slice(0, 3), [["chatMessageEdited", old], ["readReceiptReceived", old], ["chatMessageDeleted", old]]);
        } finally {
          bobRt.close();
        }
      } finally {
        for (const c of [carolRt, daveRt, carolTr, daveTr]) c.close();
      }
    });
  });
}

historyWindowSuite("SQLite", async () => {
  const natter = await startTestNatter();
  return { natter, stop: () => natter.stop() };
}, false);

const pgUrl = process.env.NATTER_TEST_PG_URL;
let database: TestDatabase | undefined;
historyWindowSuite("PostgreSQL", async () => {
  database = await createTestDatabase(pgUrl!, "natter_hw");
  const natter = await startTestNatter({ store: "postgres", databaseUrl: database.url });
  return {
    natter,
    async stop() {
      await natter.stop();
      await database?.drop();
    },
  };
}, pgUrl ? false : "NATTER_TEST_PG_URL not set");
