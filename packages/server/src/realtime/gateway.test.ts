// The realtime gateway through a real node: real `ws` clients, real HTTP calls. No timing assertions: every
// wait is for a condition, with generous limits.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { WebSocket } from "ws";
import type { TestNatter } from "../test-support/test-natter.js";
import { createTestUser, startTestNatter } from "../test-support/test-natter.js";
import { userTopic } from "../bus/bus.js";
import { CHAT_EVENT } from "../domain/events.js";
import { attachRealtime } from "./gateway.js";
import type { RealtimeOptions } from "./protocol.js";
import { CLOSE } from "./protocol.js";

const V = "api-version=2024-03-07";
const identifier = (id: string) => ({ rawId: id, communicationUser: { id } });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const WAIT_MS = 20_000;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Frame = Record<string, any>;
interface User {
  userId: string;
  token: string;
}

/** A test client: collects frames, answers pings (unless told not to), lets a test wait for frames. */
class Client {
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  closeInfo?: { code: number; reason: string };
  private waiters: { pred: (f: Frame) => boolean; resolve: (f: Frame) => void; reject: (e: Error) => void; label: string }[] = [];

  constructor(readonly ws: WebSocket, autoPong: boolean) {
    ws.on("error", () => undefined);
    ws.on("message", (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      if (frame.type === "ping" && autoPong) ws.send(JSON.stringify({ type: "pong" }));
      this.frames.push(frame);
      this.waiters = this.waiters.filter((w) => (w.pred(frame) ? (w.resolve(frame), false) : true));
    });
    this.closed = new Promise((resolve) =>
      ws.on("close", (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        for (const w of this.waiters) w.reject(new Error(`socket closed (${code} ${reason}) while waiting for ${w.label}`));
        this.waiters = [];
        resolve(this.closeInfo);
      }),
    );
  }

  waitFor(pred: (f: Frame) => boolean, label = "a frame"): Promise<Frame> {
    const found = this.frames.find(pred);
    if (found) return Promise.resolve(found);
    if (this.closeInfo) return Promise.reject(new Error(`socket closed (${this.closeInfo.code}) before ${label}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${label}`)), WAIT_MS);
      this.waiters.push({
        pred, label, reject,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
      });
    });
  }

  event(name: string, pred: (data: Frame) => boolean = () => true): Promise<Frame> {
    return this.waitFor((f) => f.type === "event" && f.event === name && pred(f.data), name);
  }

  events(name?: string): Frame[] {
    return this.frames.filter((f) => f.type === "event" && (name === undefined || f.event === name));
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  close(): Promise<unknown> {
    this.ws.close();
    return this.closed;
  }
}

interface ConnectOptions {
  token?: string;
  /** Token in the hello frame instead of the URL. */
  helloToken?: string;
  since?: number;
  hello?: boolean;
  autoPong?: boolean;
}

function openClient(base: string, o: ConnectOptions = {}): Promise<Client> {
  const url = new URL("/realtime", base);
  if (o.token) url.searchParams.set("access_token", o.token);
  if (o.since !== undefined) url.searchParams.set("since", String(o.since));
  const ws = new WebSocket(url);
  const client = new Client(ws, o.autoPong ?? true);
  return new Promise((resolve, reject) => {
    ws.once("unexpected-response", (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
    ws.once("error", reject);
    ws.once("open", () => {
      if (o.hello !== false) client.send({ type: "hello", protocol: 1, ...(o.helloToken ? { token: o.helloToken } : {}) });
      resolve(client);
    });
  });
}

/** Connects and waits for the ready frame. */
async function connect(base: string, o: ConnectOptions = {}): Promise<Client> {
  const client = await openClient(base, o);
  await client.waitFor((f) => f.type === "ready", "ready");
  return client;
}

function api(natter: TestNatter) {
  return async function call(token: string, method: string, path: string, body?: unknown) {
    const res = await fetch(new URL(path, `http://127.0.0.1:${natter.config.port}/`), {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { "content-type": method === "PATCH" ? "application/merge-patch+json" : "application/json" } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
}

const threadPath = (id: string) => `/chat/threads/${encodeURIComponent(id)}`;

async function createThread(call: ReturnType<typeof api>, owner: User, others: User[], topic = "realtime") {
  const r = await call(owner.token, "POST", `/chat/threads?${V}`, { topic, participants: others.map((u) => ({ communicationIdentifier: identifier(u.userId) })) });
  return r.chatThread.id as string;
}

async function sendMessage(call: ReturnType<typeof api>, user: User, threadId: string, content: string): Promise<string> {
  const r = await call(user.token, "POST", `${threadPath(threadId)}/messages?${V}`, { content });
  return r.id as string;
}

/** A second gateway on its own HTTP server, sharing the node's services, with test tuning. */
async function sideGateway(natter: TestNatter, options: Partial<RealtimeOptions>, now: () => number = Date.now) {
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  const gateway = attachRealtime({
    servers: [server], bus: natter.bus, store: natter.store, tokens: natter.tokens, chat: natter.chat, log: natter.app.log,
    eventRetentionMs: 3_600_000, now, options,
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const base = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    base, gateway,
    async stop() {
      await gateway.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function until(condition: () => boolean | Promise<boolean>, label: string, limitMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${label}`);
    await sleep(10);
  }
}

describe("realtime gateway", () => {
  let natter: TestNatter;
  let base: string;
  let call: ReturnType<typeof api>;
  let alice: User, bob: User, carol: User;

  before(async () => {
    natter = await startTestNatter();
    base = `ws://127.0.0.1:${natter.config.port}/`;
    call = api(natter);
    [alice, bob, carol] = await Promise.all([createTestUser(natter), createTestUser(natter), createTestUser(natter)]);
  });
  after(() => natter.stop());

  it("delivers every event type to every participant, sender included, in ACS shapes", async () => {
    const a = await connect(base, { token: alice.token });
    const b = await connect(base, { helloToken: bob.token }); // token in the hello frame
    const c = await connect(base, { token: carol.token });
    try {
      const threadId = await createThread(call, alice, [bob], "all events");
      const inThread = (d: Frame) => d.threadId === threadId;
      for (const client of [a, b]) {
        const created = await client.event("chatThreadCreated", inThread);
        assert.equal(typeof created.position, "number");
        assert.equal(created.data.properties.topic, "all events");
        assert.equal(created.data.createdBy.id.communicationUser.id, alice.userId);
        assert.deepEqual(created.data.participants.map((p: Frame) => p.id.rawId).sort(), [alice.userId, bob.userId].sort());
        assert.deepEqual(created.data.retentionPolicy, { kind: "none" });
      }
      const messageId = await sendMessage(call, alice, threadId, "hello bob");
      for (const [client, user] of [[a, alice], [b, bob]] as const) {
        const m = await client.event("chatMessageReceived", (d) => d.id === messageId);
        assert.equal(m.data.message, "hello bob");
        assert.equal(m.data.type, "Text");
        assert.equal(m.data.sender.communicationUser.id, alice.userId);
        assert.equal(m.data.recipient.communicationUser.id, user.userId);
        assert.equal(m.data.threadId, threadId);
        assert.ok(!Number.isNaN(Date.parse(m.data.createdOn)));
        assert.match(m.data.version, /^\d+$/);
        assert.deepEqual(m.data.metadata, {});
      }
      await call(alice.token, "PATCH", `${threadPath(threadId)}/messages/${messageId}?${V}`, { content: "hello again" });
      for (const client of [a, b]) assert.equal((await client.event("chatMessageEdited", (d) => d.id === messageId)).data.message, "hello again");

      await call(bob.token, "POST", `${threadPath(threadId)}/typing?${V}`, { senderDisplayName: "Bob" });
      for (const client of [a, b]) {
        const t = await client.event("typingIndicatorReceived", inThread);
        assert.equal(t.position, undefined, "typing is ephemeral");
        assert.equal(t.data.senderDisplayName, "Bob");
        assert.equal(t.data.sender.rawId, bob.userId);
      }
      await call(bob.token, "POST", `${threadPath(threadId)}/readReceipts?${V}`, { chatMessageId: messageId });
      for (const client of [a, b]) {
        const r = await client.event("readReceiptReceived", inThread);
        assert.equal(r.data.chatMessageId, messageId);
        assert.equal(r.data.sender.rawId, bob.userId);
      }
      await call(alice.token, "PATCH", `${threadPath(threadId)}?${V}`, { topic: "renamed" });
      for (const client of [a, b]) assert.equal((await client.event("chatThreadPropertiesUpdated", inThread)).data.properties.topic, "renamed");

      await call(alice.token, "POST", `${threadPath(threadId)}/participants/:add?${V}`, { participants: [{ communicationIdentifier: identifier(carol.userId), displayName: "Carol" }] });
      for (const client of [a, b, c]) {
        const added = await client.event("participantsAdded", inThread);
        assert.equal(added.data.participantsAdded[0].id.rawId, carol.userId);
        assert.equal(added.data.participantsAdded[0].displayName, "Carol");
        assert.equal(added.data.addedBy.id.rawId, alice.userId);
      }
      await call(alice.token, "POST", `${threadPath(threadId)}/participants/:remove?${V}`, identifier(carol.userId));
      for (const client of [a, b, c]) assert.equal((await client.event("participantsRemoved", inThread)).data.participantsRemoved[0].id.rawId, carol.userId);

      await call(alice.token, "DELETE", `${threadPath(threadId)}/messages/${messageId}?${V}`);
      for (const client of [a, b]) assert.ok((await client.event("chatMessageDeleted", (d) => d.id === messageId)).data.deletedOn);

      await call(alice.token, "DELETE", `${threadPath(threadId)}?${V}`);
      for (const client of [a, b]) {
        const d = await client.event("chatThreadDeleted", inThread);
        assert.equal(d.data.reason, "deletedByUser");
        assert.equal(d.data.deletedBy.id.rawId, alice.userId);
      }
      // Durable events arrive in strictly increasing positions.
      for (const client of [a, b, c]) {
        const positions = client.events().filter((f) => f.position !== undefined).map((f) => f.position as number);
        assert.deepEqual(positions, [...positions].sort((x, y) => x - y));
        assert.equal(new Set(positions).size, positions.length);
      }
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });

  it("frames serialized once per event: each recipient's names that recipient, and the content survives as sent", async () => {
    const a = await connect(base, { token: alice.token });
    const b = await connect(base, { token: bob.token });
    try {
      const threadId = await createThread(call, alice, [bob], "frames");
      // Quotes, backslashes, non-ASCII, and the text of the server's recipient placeholder.
      const tricky = `{"kind":"communicationUser","rawId":"8:acs:\u0001natter-recipient\u0001"} and "quotes" \\ ü`;
      for (const content of ["plain", tricky]) {
        const messageId = await sendMessage(call, alice, threadId, content);
        for (const [client, user] of [[a, alice], [b, bob]] as const) {
          const m = await client.event("chatMessageReceived", (d) => d.id === messageId);
          assert.equal(m.data.message, content);
          assert.deepEqual(m.data.recipient, { kind: "communicationUser", rawId: user.userId, communicationUser: { id: user.userId } });
        }
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("works on the HTTPS listener too (wss)", async () => {
    const secure = await connect(`wss://127.0.0.1:${natter.config.httpsPort}/`, { token: alice.token });
    const threadId = await createThread(call, alice, [], "tls");
    await secure.event("chatThreadCreated", (d) => d.threadId === threadId);
    await secure.close();
  });

  it("a removed user stops receiving at once; an added user starts at once", async () => {
    const dave = await createTestUser(natter);
    const a = await connect(base, { token: alice.token });
    const c = await connect(base, { token: carol.token });
    const d = await connect(base, { token: dave.token });
    try {
      const threadId = await createThread(call, alice, [carol], "membership");
      const marker = await createThread(call, alice, [carol], "marker");
      await c.event("chatThreadCreated", (x) => x.threadId === marker);
      await call(alice.token, "POST", `${threadPath(threadId)}/participants/:remove?${V}`, identifier(carol.userId));
      await c.event("participantsRemoved", (x) => x.threadId === threadId);
      await call(alice.token, "POST", `${threadPath(threadId)}/participants/:add?${V}`, { participants: [{ communicationIdentifier: identifier(dave.userId) }] });
      await d.event("participantsAdded", (x) => x.threadId === threadId);
      const secret = await sendMessage(call, alice, threadId, "after removal");
      await a.event("chatMessageReceived", (x) => x.id === secret);
      await d.event("chatMessageReceived", (x) => x.id === secret);
      // Carol's stream is in position order: once a later marker arrives, the secret would have come before it.
      const flag = await sendMessage(call, alice, marker, "marker");
      await c.event("chatMessageReceived", (x) => x.id === flag);
      assert.equal(c.events("chatMessageReceived").filter((f) => f.data.threadId === threadId).length, 0);
    } finally {
      await Promise.all([a.close(), c.close(), d.close()]);
    }
  });

  it("rejects bad tokens: HTTP 401 before the upgrade, or 4401 after a hello", async () => {
    const error = await openClient(base, { token: "not-a-token" }).then(() => undefined, (e: { status?: number }) => e);
    assert.equal(error?.status, 401);
    const badHello = await openClient(base, { helloToken: `${alice.token.slice(0, -4)}AAAA` });
    assert.equal((await badHello.closed).code, CLOSE.unauthorized);
    assert.equal(badHello.frames.find((f) => f.type === "error")?.code, "Unauthorized");
    const noToken = await openClient(base, {});
    assert.equal((await noToken.closed).code, CLOSE.unauthorized);
  });

  it("resume after a disconnect delivers exactly the missed events, then live ones", async () => {
    const threadId = await createThread(call, alice, [bob], "resume");
    const first = await connect(base, { token: bob.token });
    const head = (first.frames.find((f) => f.type === "ready") as Frame).position as number;
    assert.equal(typeof head, "number");
    await first.close();
    const missed: string[] = [];
    for (let i = 0; i < 5; i++) missed.push(await sendMessage(call, alice, threadId, `missed ${i}`));
    const again = await connect(base, { token: bob.token, since: head });
    try {
      const ready = again.frames.find((f) => f.type === "ready") as Frame;
      assert.equal(ready.resumed, true);
      assert.equal(ready.position, head);
      await again.event("chatMessageReceived", (d) => d.id === missed[4]);
      const live = await sendMessage(call, alice, threadId, "live");
      await again.event("chatMessageReceived", (d) => d.id === live);
      const received = again.events("chatMessageReceived").filter((f) => f.data.threadId === threadId).map((f) => f.data.id);
      assert.deepEqual(received, [...missed, live]);
      assert.equal(again.frames.some((f) => f.type === "resyncNeeded"), false);
    } finally {
      await again.close();
    }
  });

  it("a new client's ready.position is the Store's global head; resuming from it with nothing new resumes", async () => {
    // An event carol does not receive: her starting point is still past it (the head, not her newest event).
    const threadId = await createThread(call, alice, [bob], "head");
    const [other] = (await natter.store.readEvents(bob.userId, 0, 10_000)).filter((e) => e.threadId === threadId);
    const c = await connect(base, { token: carol.token });
    const ready = c.frames.find((f) => f.type === "ready") as Frame;
    await c.close();
    assert.ok(ready.position >= other.position, `${ready.position} >= ${other.position}`);
    assert.ok(ready.position <= (await natter.store.headPosition()));
    const again = await connect(base, { token: carol.token, since: ready.position });
    try {
      const resumed = again.frames.find((f) => f.type === "ready") as Frame;
      assert.equal(resumed.resumed, true);
      assert.equal(resumed.position, ready.position);
      assert.equal(again.frames.some((f) => f.type === "resyncNeeded"), false);
    } finally {
      await again.close();
    }
  });

  it("a since the store no longer has gets an explicit resyncNeeded", async () => {
    const c = await connect(base, { token: carol.token, since: 987_654_321 });
    try {
      const ready = c.frames.find((f) => f.type === "ready") as Frame;
      assert.equal(ready.resumed, false);
      const resync = await c.waitFor((f) => f.type === "resyncNeeded", "resyncNeeded");
      assert.equal(resync.since, 987_654_321);
      assert.equal(resync.position, ready.position);
    } finally {
      await c.close();
    }
  });

  it("malformed, binary and oversized frames close only that socket", async () => {
    const good = await connect(base, { token: alice.token });
    const bad = await connect(base, { token: alice.token });
    const binary = await connect(base, { token: alice.token });
    const big = await connect(base, { token: alice.token });
    const unknown = await connect(base, { token: alice.token });
    try {
      bad.send("{not json");
      binary.ws.send(Buffer.from([1, 2, 3]));
      big.send(JSON.stringify({ type: "ping", id: "x".repeat(70 * 1024) }));
      unknown.send({ type: "subscribe" });
      assert.equal((await bad.closed).code, CLOSE.protocolError);
      assert.equal(bad.frames.find((f) => f.type === "error")?.code, "BadRequest");
      assert.equal((await binary.closed).code, CLOSE.protocolError);
      assert.equal((await big.closed).code, CLOSE.tooBig);
      assert.equal((await unknown.closed).code, CLOSE.protocolError);
      const threadId = await createThread(call, alice, [], "still alive");
      await good.event("chatThreadCreated", (d) => d.threadId === threadId);
      good.send({ type: "ping", id: 7 });
      await good.waitFor((f) => f.type === "pong" && f.id === 7, "pong");
    } finally {
      await good.close();
    }
  });

  it("revoking a user's tokens closes their sockets with 4401, and only theirs", async () => {
    const erin = await createTestUser(natter);
    const e = await connect(base, { token: erin.token });
    const a = await connect(base, { token: alice.token });
    try {
      await natter.identity.revokeTokens(erin.userId);
      assert.equal((await e.closed).code, CLOSE.unauthorized);
      const threadId = await createThread(call, alice, [], "after revoke");
      await a.event("chatThreadCreated", (d) => d.threadId === threadId);
    } finally {
      await a.close();
    }
  });

  it("an upgrade to another path is answered 404 when no other endpoint listens", async () => {
    const ws = new WebSocket(new URL("/elsewhere", base));
    const status = await new Promise<number | undefined>((resolve) => {
      ws.once("unexpected-response", (_req, res) => resolve(res.statusCode));
      ws.once("error", () => resolve(undefined));
    });
    assert.equal(status, 404);
  });

  it("many writers, a reader that drops its connection at random: nothing missing, nothing twice, per-thread order", { timeout: 60_000 }, async () => {
    await chaos(natter, base, call);
  });
});

/** 4 writers × 100 messages on 2 threads; the reader reconnects with its last position every few random ms. */
async function chaos(natter: TestNatter, base: string, call: ReturnType<typeof api>) {
  const writers = await Promise.all([0, 1, 2, 3].map(() => createTestUser(natter)));
  const reader = await createTestUser(natter);
  const threads = [await createThread(call, writers[0], [writers[1], reader], "chaos A"), await createThread(call, writers[2], [writers[3], reader], "chaos B")];
  const PER_WRITER = 100;
  const sent = new Set<string>(); // "<thread> <message id>" (message ids are unique per thread only)
  let done = false;
  let reconnects = 0;
  const received: { position: number; threadId: string; key: string; sequenceId: number }[] = [];
  // A fresh client starts at the head: take it before the writers start, as a new SDK client would.
  const first = await connect(base, { token: reader.token });
  let since: number | undefined = (first.frames.find((f) => f.type === "ready") as Frame).position;
  await first.close();
  const readLoop = (async () => {
    const deadline = Date.now() + 40_000;
    while ((!done || new Set(received.map((r) => r.key)).size < sent.size) && Date.now() < deadline) {
      const client = await connect(base, { token: reader.token, since });
      const ready = client.frames.find((f) => f.type === "ready") as Frame;
      assert.equal(ready.resumed, true, "resume must never need a resync here");
      since = ready.position;
      const consume = (f: Frame) => {
        if (f.type !== "event" || f.event !== "chatMessageReceived") {
          if (f.type === "event" && f.position !== undefined) since = f.position;
          return;
        }
        received.push({ position: f.position, threadId: f.data.threadId, key: `${f.data.threadId} ${f.data.id}`, sequenceId: Number(f.data.sequenceId) });
        since = f.position;
      };
      client.frames.forEach(consume);
      client.ws.on("message", (data) => consume(JSON.parse(data.toString())));
      await sleep(Math.floor(Math.random() * 25));
      client.ws.removeAllListeners("message");
      client.ws.terminate();
      reconnects++;
    }
  })();
  await Promise.all(
    writers.map(async (w, i) => {
      for (let n = 0; n < PER_WRITER; n++) sent.add(`${threads[i >> 1]} ${await sendMessage(call, w, threads[i >> 1], `w${i} #${n}`)}`);
    }),
  );
  done = true;
  await readLoop;
  assert.ok(reconnects > 1);
  const missing = [...sent].filter((k) => !received.some((r) => r.key === k));
  assert.deepEqual(missing, [], `missing after ${reconnects} reconnects`);
  const keys = received.map((r) => r.key);
  assert.equal(new Set(keys).size, keys.length, "no duplicates");
  assert.equal(keys.length, PER_WRITER * writers.length, "nothing missing");
  assert.deepEqual(new Set(keys), sent);
  for (const threadId of threads) {
    const seq = received.filter((r) => r.threadId === threadId).map((r) => r.sequenceId);
    assert.deepEqual(seq, [...seq].sort((x, y) => x - y), "per-thread order");
  }
  const positions = received.map((r) => r.position);
  assert.deepEqual(positions, [...positions].sort((x, y) => x - y));
}

describe("realtime gateway: timers and limits", () => {
  let natter: TestNatter;
  let call: ReturnType<typeof api>;
  let alice: User, bob: User;

  before(async () => {
    natter = await startTestNatter();
    call = api(natter);
    [alice, bob] = await Promise.all([createTestUser(natter), createTestUser(natter)]);
  });
  after(() => natter.stop());

  it("a slow consumer is closed with 4008 while another client keeps receiving", async () => {
    const side = await sideGateway(natter, { maxBufferedBytes: 64 * 1024, slowConsumerMs: 300 });
    try {
      const slow = await connect(side.base, { token: bob.token, autoPong: false });
      const fast = await connect(side.base, { token: alice.token });
      const threadId = await createThread(call, alice, [bob], "slow");
      await slow.event("chatThreadCreated", (d) => d.threadId === threadId);
      slow.ws.pause();
      const big = "x".repeat(32 * 1024);
      await until(async () => {
        for (let i = 0; i < 50; i++) {
          const event = { type: "typingIndicatorReceived", threadId, at: Date.now(), actor: alice.userId, senderDisplayName: big };
          await natter.bus.publish(userTopic(bob.userId), { type: CHAT_EVENT, data: { event, recipient: bob.userId } });
        }
        await sleep(5);
        return side.gateway.stats().slowConsumerCloses >= 1;
      }, "the slow consumer is closed");
      const live = await sendMessage(call, alice, threadId, "fast still receives");
      await fast.event("chatMessageReceived", (d) => d.id === live);
      slow.ws.resume();
      assert.equal((await slow.closed).code, CLOSE.slowConsumer);
      await fast.close();
    } finally {
      await side.stop();
    }
  });

  it("a silent peer is terminated by the heartbeat; a responsive one stays", async () => {
    const side = await sideGateway(natter, { heartbeatIntervalMs: 50, heartbeatTimeoutMs: 1_000 });
    try {
      const silent = await connect(side.base, { token: bob.token, autoPong: false });
      const alive = await connect(side.base, { token: alice.token });
      const ready = alive.frames.find((f) => f.type === "ready") as Frame;
      assert.deepEqual(ready.heartbeat, { intervalMs: 50, timeoutMs: 1_000 });
      await silent.closed;
      assert.ok(side.gateway.stats().heartbeatTimeouts >= 1);
      await until(() => alive.frames.filter((f) => f.type === "ping").length >= 25, "25 pings answered");
      assert.equal(alive.ws.readyState, WebSocket.OPEN);
      await alive.close();
    } finally {
      await side.stop();
    }
  });

  it("no hello in time closes with 4400", async () => {
    const side = await sideGateway(natter, { helloTimeoutMs: 100 });
    try {
      const mute = await openClient(side.base, { token: alice.token, hello: false });
      assert.equal((await mute.closed).code, CLOSE.protocolError);
    } finally {
      await side.stop();
    }
  });

  it("an unsupported protocol version is refused", async () => {
    const side = await sideGateway(natter, {});
    try {
      const client = await openClient(side.base, { token: alice.token, hello: false });
      client.send({ type: "hello", protocol: 99 });
      assert.equal((await client.closed).code, CLOSE.protocolError);
      assert.equal(client.frames[0]?.code, "UnsupportedProtocolVersion");
    } finally {
      await side.stop();
    }
  });

  it("a token that expires ends its socket with 4401; a renewed token (auth frame) keeps it", async () => {
    // The gateway's clock runs 58 s ahead: a one-minute token expires within about two seconds of its time.
    const offset = 58_000;
    const side = await sideGateway(natter, {}, () => Date.now() + offset);
    try {
      const short = (user: User) => natter.tokens.issue(user.userId, ["chat"], 1, 0);
      const renewedToken = await short(alice);
      const renewed = await connect(side.base, { token: renewedToken.token });
      renewed.send({ type: "auth", token: (await natter.tokens.issue(alice.userId, ["chat"], 60, 0)).token });
      const expiring = await openClient(side.base, { token: (await short(bob)).token });
      assert.equal((await expiring.closed).code, CLOSE.unauthorized);
      await until(() => Date.now() + offset > renewedToken.expiresOn.getTime() + 500, "the first token expired");
      renewed.send({ type: "ping", id: "after-expiry" });
      await renewed.waitFor((f) => f.type === "pong" && f.id === "after-expiry", "pong");
      const threadId = await createThread(call, alice, [], "renewed");
      await renewed.event("chatThreadCreated", (d) => d.threadId === threadId);
      assert.equal(renewed.ws.readyState, WebSocket.OPEN);
      await renewed.close();
    } finally {
      await side.stop();
    }
  });

  it("close() ends every socket with 1001 and refuses new upgrades", async () => {
    const side = await sideGateway(natter, {});
    const client = await connect(side.base, { token: alice.token });
    await side.gateway.close();
    assert.equal((await client.closed).code, CLOSE.goingAway);
    assert.equal(side.gateway.connectionCount(), 0);
    await side.stop();
  });
});

describe("realtime gateway: retention", () => {
  it("resuming from before events purged by retention gets resyncNeeded, then live events", async () => {
    let now = Date.now();
    const natter = await startTestNatter({ eventRetentionHours: 1 }, { now: () => now });
    try {
      const call = api(natter);
      const base = `ws://127.0.0.1:${natter.config.port}/`;
      const alice = await createTestUser(natter);
      const bob = await createTestUser(natter);
      const threadId = await createThread(call, alice, [bob], "retention");
      const b = await connect(base, { token: bob.token });
      const first = await sendMessage(call, alice, threadId, "old");
      const position = (await b.event("chatMessageReceived", (d) => d.id === first)).position as number;
      await b.close();
      // Missed while away, then purged: the resume point is below the retention marker and its event is gone.
      await sendMessage(call, alice, threadId, "missed, then purged");
      now += 2 * 3_600_000;
      await natter.chat.runHousekeeping();
      assert.ok((await natter.store.purgedThrough()) > position);
      const fresh = { alice: (await natter.tokens.issue(alice.userId, ["chat"], 60, 0)).token, bob: (await natter.tokens.issue(bob.userId, ["chat"], 60, 0)).token };
      await sendMessage(call, { ...alice, token: fresh.alice }, threadId, "while away");
      const again = await connect(base, { token: fresh.bob, since: position });
      try {
        const resync = await again.waitFor((f) => f.type === "resyncNeeded", "resyncNeeded");
        assert.equal(resync.since, position);
        assert.ok(resync.position > position);
        const live = await sendMessage(call, { ...alice, token: fresh.alice }, threadId, "live");
        await again.event("chatMessageReceived", (d) => d.id === live);
      } finally {
        await again.close();
      }
    } finally {
      await natter.stop();
    }
  });

  it("resuming from the last purged event itself resumes: nothing after it was purged", async () => {
    let now = Date.now();
    const natter = await startTestNatter({ eventRetentionHours: 1 }, { now: () => now });
    try {
      const call = api(natter);
      const base = `ws://127.0.0.1:${natter.config.port}/`;
      const [alice, bob] = await Promise.all([createTestUser(natter, ["chat"], 600), createTestUser(natter, ["chat"], 600)]);
      const threadId = await createThread(call, alice, [bob], "retention edge");
      const b = await connect(base, { token: bob.token });
      const first = await sendMessage(call, alice, threadId, "seen, then purged");
      const position = (await b.event("chatMessageReceived", (d) => d.id === first)).position as number;
      await b.close();
      now += 2 * 3_600_000;
      await natter.chat.runHousekeeping();
      assert.equal(await natter.store.purgedThrough(), position);
      const meanwhile = await sendMessage(call, alice, threadId, "while away");
      const again = await connect(base, { token: bob.token, since: position });
      try {
        assert.equal((again.frames.find((f) => f.type === "ready") as Frame).resumed, true);
        await again.event("chatMessageReceived", (d) => d.id === meanwhile);
        assert.equal(again.frames.some((f) => f.type === "resyncNeeded"), false);
      } finally {
        await again.close();
      }
    } finally {
      await natter.stop();
    }
  });

  it("a thread purged by its retention policy while a client is away: chatThreadDeleted (deletedByPolicy) on resume", async () => {
    const natter = await startTestNatter();
    try {
      const call = api(natter);
      const base = `ws://127.0.0.1:${natter.config.port}/`;
      const [alice, bob] = await Promise.all([createTestUser(natter), createTestUser(natter)]);
      const threadId = await createThread(call, alice, [bob], "expires");
      const b = await connect(base, { token: bob.token });
      const seen = await sendMessage(call, alice, threadId, "seen");
      const position = (await b.event("chatMessageReceived", (d) => d.id === seen)).position as number;
      await b.close();
      // The thread's retention expires while bob is away (set directly: the policy's minimum is days).
      await natter.store.transaction((tx) => tx.updateThread(threadId, { expiresAt: Date.now() - 1 }));
      assert.equal((await natter.chat.runHousekeeping()).purgedThreads, 1);
      assert.equal(await natter.store.getThread(threadId), undefined);
      const again = await connect(base, { token: bob.token, since: position });
      try {
        // bob's resume point was deleted with the thread, but retention purged nothing after it: a resume.
        assert.equal((again.frames.find((f) => f.type === "ready") as Frame).resumed, true);
        const deleted = await again.event("chatThreadDeleted", (d) => d.threadId === threadId);
        assert.ok((deleted.position as number) > position);
        assert.equal(deleted.data.reason, "deletedByPolicy");
        assert.equal(deleted.data.deletedBy, null);
        assert.equal(again.frames.some((f) => f.type === "resyncNeeded"), false);
      } finally {
        await again.close();
      }
    } finally {
      await natter.stop();
    }
  });
});

describe("realtime gateway: retention marker", () => {
  it("since 0 after a purge gets resyncNeeded; a resume point above the marker resumes even when its event is gone", async () => {
    let now = Date.now();
    const natter = await startTestNatter({ eventRetentionHours: 1 }, { now: () => now });
    try {
      const call = api(natter);
      const base = `ws://127.0.0.1:${natter.config.port}/`;
      const [alice, bob, carol] = await Promise.all([createTestUser(natter, ["chat"], 600), createTestUser(natter, ["chat"], 600), createTestUser(natter, ["chat"], 600)]);
      // Bob connects before anything happened: his resume point is 0.
      const first = await connect(base, { token: bob.token });
      assert.equal((first.frames.find((f) => f.type === "ready") as Frame).position, 0);
      await first.close();
      // While he is away, events for him are written, then purged by retention.
      const threadId = await createThread(call, alice, [bob], "purged while away");
      await sendMessage(call, alice, threadId, "gone");
      now += 2 * 3_600_000;
      await natter.chat.runHousekeeping();
      const marker = await natter.store.purgedThrough();
      assert.ok(marker > 0);
      const back = await connect(base, { token: bob.token, since: 0 });
      try {
        const ready = back.frames.find((f) => f.type === "ready") as Frame;
        assert.equal(ready.resumed, false);
        const resync = await back.waitFor((f) => f.type === "resyncNeeded", "resyncNeeded");
        assert.equal(resync.since, 0);
        assert.equal(resync.position, ready.position);
        assert.ok(ready.position >= marker, "the stream continues from the head, at or above the marker");
      } finally {
        await back.close();
      }
      // Carol starts after the purge: her starting point (the head) is not her event, and its event may be gone;
      // being at or above the marker, it still resumes, and she gets what was sent meanwhile.
      const c = await connect(base, { token: carol.token });
      const start = (c.frames.find((f) => f.type === "ready") as Frame).position as number;
      await c.close();
      assert.ok(start >= marker);
      const later = await createThread(call, alice, [carol], "after the purge");
      const again = await connect(base, { token: carol.token, since: start });
      try {
        assert.equal((again.frames.find((f) => f.type === "ready") as Frame).resumed, true);
        await again.event("chatThreadCreated", (d) => d.threadId === later);
        assert.equal(again.frames.some((f) => f.type === "resyncNeeded"), false);
      } finally {
        await again.close();
      }
    } finally {
      await natter.stop();
    }
  });
});

const pgUrl = process.env.NATTER_TEST_PG_URL;
describe("realtime gateway on PostgreSQL", () => {
  it("many writers, a reader that drops its connection at random", { skip: pgUrl ? false : "NATTER_TEST_PG_URL not set", timeout: 90_000 }, async () => {
    const pg = await import("pg");
    const schema = `natter_test_${randomBytes(6).toString("hex")}`;
    const admin = new pg.default.Client({ connectionString: pgUrl });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    const url = new URL(pgUrl!);
    url.searchParams.set("options", `-c search_path=${schema}`);
    const natter = await startTestNatter({ store: "postgres", databaseUrl: url.toString() });
    try {
      await chaos(natter, `ws://127.0.0.1:${natter.config.port}/`, api(natter));
    } finally {
      await natter.stop();
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
    }
  });
});
