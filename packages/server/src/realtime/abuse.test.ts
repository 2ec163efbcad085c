// Attacks on the realtime endpoints (issue #18), each reproduced against a real node with raw clients: echo
// floods from a socket that never reads (/realtime pings, Trouter acks), frames before the hello, oversized ids,
// voip-only tokens, a revocation whose Bus message is lost, and socket floods past the per-user and per-node
// caps. No timing thresholds: every wait is for a condition (a close, a count), with generous limits.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocket } from "ws";
import type { TestNatter } from "../test-support/test-natter.js";
import { createTestUser, startTestNatter } from "../test-support/test-natter.js";
import { attachRealtime } from "./gateway.js";
import type { RealtimeOptions } from "./protocol.js";
import { attachTrouter } from "./trouter/trouter.js";
import type { TrouterDeps } from "./trouter/trouter.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const WAIT_MS = 30_000;
/** Close codes, spelled out so that this file also runs against the code before the fixes. */
const CODE = { tooBig: 1009, slowConsumer: 4008, protocolError: 4400, unauthorized: 4401, forbidden: 4403, tooManyConnections: 4429 };
type Scope = "chat" | "voip" | "chat.join" | "chat.join.limited";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Frame = Record<string, any>;

async function until(condition: () => boolean | Promise<boolean>, label: string, limitMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${label}`);
    await sleep(10);
  }
}

/** A raw /realtime client: records every frame and the close; never answers anything by itself. */
class RawClient {
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  closeInfo?: { code: number; reason: string };

  constructor(readonly ws: WebSocket) {
    ws.on("error", () => undefined);
    ws.on("message", (data) => {
      const text = data.toString();
      try {
        this.frames.push(JSON.parse(text) as Frame);
      } catch {
        this.frames.push({ raw: text });
      }
    });
    this.closed = new Promise((resolve) =>
      ws.on("close", (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
      }),
    );
  }

  send(frame: unknown): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  async waitFor(pred: (f: Frame) => boolean, label: string): Promise<Frame> {
    await until(() => this.frames.some(pred) || this.closeInfo !== undefined, label);
    const found = this.frames.find(pred);
    if (!found) throw new Error(`socket closed (${this.closeInfo?.code}) before ${label}; frames: ${JSON.stringify(this.frames).slice(0, 400)}`);
    return found;
  }
}

/** Opens /realtime; resolves with the client, or rejects with the HTTP status of a refused upgrade. */
function openRealtime(base: string, o: { token?: string; hello?: string | false } = {}): Promise<RawClient> {
  const url = new URL("/realtime", base);
  if (o.token) url.searchParams.set("access_token", o.token);
  const ws = new WebSocket(url);
  const client = new RawClient(ws);
  return new Promise((resolve, reject) => {
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body })));
    });
    ws.once("error", reject);
    ws.once("open", () => {
      if (o.hello !== false) client.send({ type: "hello", protocol: 1, ...(o.hello ? { token: o.hello } : {}) });
      resolve(client);
    });
  });
}

async function ready(base: string, token: string): Promise<RawClient> {
  const client = await openRealtime(base, { token });
  await client.waitFor((f) => f.type === "ready", "ready");
  return client;
}

async function upgradeStatus(promise: Promise<unknown>): Promise<{ status: number; body: string }> {
  try {
    const opened = await promise;
    const ws = (opened as { ws?: WebSocket }).ws ?? (opened as WebSocket);
    ws.close();
    return { status: 101, body: "" };
  } catch (error) {
    return { status: (error as { status?: number }).status ?? 0, body: (error as { body?: string }).body ?? "" };
  }
}

/** The socket.io handshake (HTTP listener): the session id that opens a Trouter WebSocket. */
async function handshake(natter: TestNatter, token: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${natter.config.port}/socket.io/1/?v=v4&t=1`, { headers: { "x-skypetoken": token } });
  const text = await response.text();
  assert.equal(response.status, 200, text);
  return text.split(":")[0];
}

/** A raw Trouter socket (text frames). */
function openTrouter(port: number, sid: string): Promise<{ ws: WebSocket; frames: string[]; closed: Promise<void> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/1/websocket/${sid}?ccid=c1`);
  const frames: string[] = [];
  ws.on("message", (data) => frames.push(data.toString()));
  ws.on("error", () => undefined);
  const closed = new Promise<void>((resolve) => ws.on("close", () => resolve()));
  return new Promise((resolve, reject) => {
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body })));
    });
    ws.once("error", reject);
    ws.once("open", () => resolve({ ws, frames, closed }));
  });
}

/** A listener of its own with a gateway (or a Trouter gateway) sharing the node's services, with test tuning. */
async function sideServer(natter: TestNatter, attach: (server: http.Server) => { close(): Promise<void> }) {
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  const gateway = attach(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    port, base: `ws://127.0.0.1:${port}/`,
    async stop() {
      await gateway.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function sideRealtime(natter: TestNatter, options: Partial<RealtimeOptions>) {
  let gateway!: ReturnType<typeof attachRealtime>;
  return sideServer(natter, (server) => {
    gateway = attachRealtime({
      servers: [server], bus: natter.bus, store: natter.store, tokens: natter.tokens, chat: natter.chat, log: natter.app.log,
      eventRetentionMs: 3_600_000, now: Date.now, options,
    });
    return gateway;
  }).then((side) => ({ ...side, gateway }));
}

function sideTrouter(natter: TestNatter, trouterOptions: Record<string, number>) {
  let gateway!: ReturnType<typeof attachTrouter>;
  return sideServer(natter, (server) => {
    const deps = {
      servers: [server], bus: natter.bus, store: natter.store, tokens: natter.tokens, chat: natter.chat, log: natter.app.log,
      eventRetentionMs: 3_600_000, now: Date.now, accessKey: Buffer.from(natter.accessKey, "base64"), trouterOptions,
    };
    gateway = attachTrouter(deps as TrouterDeps);
    return gateway;
  }).then((side) => ({ ...side, gateway }));
}

async function userWithScopes(natter: TestNatter, ...scopeSets: Scope[][]) {
  const user = await natter.identity.createUser();
  const tokens = await Promise.all(scopeSets.map((scopes) => natter.tokens.issue(user.id, scopes, 60, user.tokenGeneration)));
  return { userId: user.id, tokens: tokens.map((t) => t.token) };
}

describe("realtime abuse: bounded writes", () => {
  let natter: TestNatter;
  before(async () => {
    natter = await startTestNatter();
  });
  after(() => natter?.stop());

  it("/realtime: a client that floods pings and never reads is closed as a slow consumer (4008); its pongs do not pile up", async () => {
    const side = await sideRealtime(natter, { maxBufferedBytes: 64 * 1024, slowConsumerMs: 200 });
    try {
      const user = await createTestUser(natter);
      const client = await ready(side.base, user.token);
      client.ws.pause(); // reads nothing from now on: every pong stays in the server's send buffer
      const ping = JSON.stringify({ type: "ping", id: "p".repeat(64) });
      await until(async () => {
        for (let i = 0; i < 2_000 && client.ws.readyState === WebSocket.OPEN; i++) client.ws.send(ping);
        await sleep(5);
        return side.gateway.stats().slowConsumerCloses >= 1;
      }, "the server closes the flooding socket");
      client.ws.resume();
      assert.equal((await client.closed).code, CODE.slowConsumer);
      await until(() => side.gateway.connectionCount() === 0, "the session is gone");
    } finally {
      await side.stop();
    }
  });

  it("/realtime: ping ids are bounded (a long string or an object closes with 4400); a short id is echoed", async () => {
    const user = await createTestUser(natter);
    const base = `ws://127.0.0.1:${natter.config.port}/`;
    const ok = await ready(base, user.token);
    ok.send({ type: "ping", id: "x".repeat(64) });
    ok.send({ type: "ping", id: 42 });
    await ok.waitFor((f) => f.type === "pong" && f.id === 42, "pong 42");
    assert.ok(ok.frames.some((f) => f.type === "pong" && f.id === "x".repeat(64)));
    ok.ws.close();
    for (const id of ["y".repeat(65), "z".repeat(60_000), { nested: "x".repeat(100) }]) {
      const client = await ready(base, user.token);
      client.send({ type: "ping", id });
      assert.equal((await client.closed).code, CODE.protocolError, `id ${JSON.stringify(id).slice(0, 30)}`);
      assert.ok(!client.frames.some((f) => f.type === "pong"), "no pong for an oversized id");
    }
  });

  it("/realtime: before the session is open a socket gets nothing but the hello exchange (no pong), and big frames close it (1009)", async () => {
    const side = await sideRealtime(natter, { helloTimeoutMs: 300 });
    try {
      const user = await createTestUser(natter);
      // With a valid token in the URL and without: pings before hello are not answered; the hello timeout ends it.
      for (const token of [undefined, user.token]) {
        const mute = await openRealtime(side.base, { token, hello: false });
        for (let i = 0; i < 20; i++) mute.send({ type: "ping", id: `pre-${i}` });
        assert.equal((await mute.closed).code, CODE.protocolError);
        assert.deepEqual(mute.frames.map((f) => f.type), ["error"], JSON.stringify(mute.frames).slice(0, 300));
      }
      const big = await openRealtime(side.base, { hello: false });
      big.send({ type: "ping", id: "b".repeat(20_000) });
      assert.equal((await big.closed).code, CODE.tooBig);
      assert.ok(!big.frames.some((f) => f.type === "pong"));
    } finally {
      await side.stop();
    }
  });

  it("Trouter: a socket that floods acks and never reads is dropped", async () => {
    const side = await sideTrouter(natter, { maxBufferedBytes: 64 * 1024 });
    try {
      const user = await createTestUser(natter);
      const socket = await openTrouter(side.port, await handshake(natter, user.token));
      await until(() => socket.frames.length >= 2, "connected");
      socket.ws.pause();
      let id = 1_000_000_000_000_000;
      await until(async () => {
        for (let i = 0; i < 2_000 && socket.ws.readyState === WebSocket.OPEN; i++) socket.ws.send(`5:${String(id++).slice(0, 16)}+::{"name":"ping"}`);
        await sleep(5);
        return side.gateway.connectionCount() === 0;
      }, "the server drops the flooding socket");
      socket.ws.resume();
      await socket.closed;
    } finally {
      await side.stop();
    }
  });

  it("Trouter: acks only for short message ids", async () => {
    const user = await createTestUser(natter);
    const socket = await openTrouter(natter.config.port, await handshake(natter, user.token));
    await until(() => socket.frames.length >= 2, "connected");
    const long = "9".repeat(60_000);
    socket.ws.send(`5:${long}+::{"name":"ping"}`);
    socket.ws.send(`5:${"1".repeat(17)}+::{"name":"ping"}`);
    socket.ws.send(`5:${"7".repeat(16)}+::{"name":"ping"}`);
    await until(() => socket.frames.includes(`6:::${"7".repeat(16)}+[]`), "the ack of a 16-digit id");
    assert.deepEqual(socket.frames.filter((f) => f.startsWith("6:")), [`6:::${"7".repeat(16)}+[]`]);
    socket.ws.close();
    await socket.closed;
  });
});

describe("realtime abuse: token scopes", () => {
  let natter: TestNatter;
  let base: string;
  let call: (token: string, method: string, path: string, body?: unknown) => Promise<{ status: number; body: Frame }>;
  before(async () => {
    natter = await startTestNatter();
    base = `ws://127.0.0.1:${natter.config.port}/`;
    call = async (token, method, path, body) => {
      const response = await fetch(`http://127.0.0.1:${natter.config.port}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, body: text ? (JSON.parse(text) as Frame) : {} };
    };
  });
  after(() => natter?.stop());

  it("/realtime: a voip-only token gets 4403 and an error frame (URL token or hello token), never an event; the chat scopes get ready", async () => {
    const user = await userWithScopes(natter, ["voip"], ["chat"]);
    const [voip, chat] = user.tokens;
    const viaUrl = await openRealtime(base, { token: voip });
    const viaHello = await openRealtime(base, { hello: voip });
    // Something happens to the user meanwhile: a thread it is in.
    const created = await call(chat, "POST", "/chat/threads?api-version=2024-03-07", { topic: "voip must not see this" });
    assert.equal(created.status, 201);
    for (const client of [viaUrl, viaHello]) {
      assert.equal((await client.closed).code, CODE.forbidden);
      assert.deepEqual(client.frames.map((f) => f.type), ["error"]);
      assert.equal(client.frames[0].code, "Forbidden");
      assert.match(client.frames[0].message, /scope/);
    }
    // REST says the same.
    const rest = await call(voip, "GET", "/chat/threads?api-version=2024-03-07");
    assert.equal(rest.status, 403);
    for (const scopes of [["chat"], ["chat.join"], ["chat.join.limited"], ["voip", "chat.join.limited"]] as Scope[][]) {
      const token = (await userWithScopes(natter, scopes)).tokens[0];
      const client = await ready(base, token);
      client.ws.close();
    }
  });

  it("/realtime: an auth frame with a voip-only token closes the session with 4403", async () => {
    const user = await userWithScopes(natter, ["chat"], ["voip"]);
    const client = await ready(base, user.tokens[0]);
    client.send({ type: "auth", token: user.tokens[1] });
    assert.equal((await client.closed).code, CODE.forbidden);
    assert.equal(client.frames.at(-1)?.code, "Forbidden");
  });

  it("Trouter: every endpoint answers a voip-only token 403 with the ACS error body; a chat.join.limited token is served", async () => {
    const voip = (await userWithScopes(natter, ["voip"])).tokens[0];
    const limited = (await userWithScopes(natter, ["chat.join.limited"])).tokens[0];
    const origin = `http://127.0.0.1:${natter.config.port}`;
    const requests = (token: string): [string, RequestInit][] => [
      ["/chat/config/realTimeNotifications?api-version=2024-09-01", { headers: { authorization: `Bearer ${token}` } }],
      ["//chat/config/realTimeNotifications?api-version=2024-09-01", { headers: { authorization: `Bearer ${token}` } }],
      ["/trouter/v4/a?epid=e", { method: "POST", headers: { "x-skypetoken": token, "content-type": "text/plain" } }],
      ["/v4/a?epid=e", { method: "POST", headers: { "x-skypetoken": token, "content-type": "text/plain" } }],
      ["/socket.io/1/?v=v4&t=1", { headers: { "x-skypetoken": token } }],
      ["/registrar/v3/registrations", { method: "POST", headers: { "x-skypetoken": token, "content-type": "application/json" }, body: JSON.stringify({ registrationId: "r1" }) }],
      ["/registrar/v3/registrations/r1", { method: "DELETE", headers: { "x-skypetoken": token } }],
    ];
    for (const [path, init] of requests(voip)) {
      const response = await fetch(`${origin}${path}`, init);
      const text = await response.text();
      assert.equal(response.status, 403, `${path}: ${response.status} ${text}`);
      assert.equal((JSON.parse(text) as Frame).error.code, "Forbidden", path);
    }
    for (const [path, init] of requests(limited)) {
      const response = await fetch(`${origin}${path}`, init);
      assert.ok(response.status >= 200 && response.status < 300, `${path}: ${response.status}`);
    }
  });
});

describe("realtime abuse: a revocation whose Bus message is lost", () => {
  let natter: TestNatter;
  let offset = 0;
  before(async () => {
    // A clock the test can move: the token cache trusts a user's generation for 5 s of it.
    natter = await startTestNatter({}, { now: () => Date.now() + offset, realtime: { heartbeatIntervalMs: 100 }, trouter: { heartbeatIntervalMs: 100 } });
  });
  after(() => natter?.stop());

  /** Runs `action` while the Bus drops every publish (Redis down): no TOKENS_REVOKED reaches any socket. */
  async function withBusLost(action: () => Promise<void>): Promise<void> {
    const bus = natter.bus as { publish: typeof natter.bus.publish; publishMany: typeof natter.bus.publishMany };
    const { publish, publishMany } = bus;
    bus.publish = async () => undefined;
    bus.publishMany = async () => undefined;
    try {
      await action();
    } finally {
      bus.publish = publish;
      bus.publishMany = publishMany;
    }
  }

  it("a deleted user's Trouter socket and a revoked user's Trouter and /realtime sockets are closed by their heartbeat re-check", async () => {
    const deleted = await createTestUser(natter);
    const revoked = await createTestUser(natter);
    const deletedSocket = await openTrouter(natter.config.port, await handshake(natter, deleted.token));
    const revokedSocket = await openTrouter(natter.config.port, await handshake(natter, revoked.token));
    const revokedRealtime = await ready(`ws://127.0.0.1:${natter.config.port}/`, revoked.token);
    await until(() => deletedSocket.frames.length >= 2 && revokedSocket.frames.length >= 2, "connected");
    await withBusLost(async () => {
      await natter.identity.deleteUser(deleted.userId);
      await natter.identity.revokeTokens(revoked.userId);
    });
    offset += 6_000; // past the token cache's trust in the old generation
    await until(() => deletedSocket.frames.includes('0:::{"reason":"unauthorized"}'), "the deleted user's Trouter socket is disconnected");
    await until(() => revokedSocket.frames.includes('0:::{"reason":"unauthorized"}'), "the revoked user's Trouter socket is disconnected");
    await Promise.all([deletedSocket.closed, revokedSocket.closed]);
    assert.equal((await revokedRealtime.closed).code, CODE.unauthorized);
  });
});

describe("realtime abuse: socket caps", () => {
  it("per user: past the cap, both protocols refuse (429, or 4429 after a hello); other users still connect; a closed socket frees its slot", async () => {
    const natter = await startTestNatter({ realtimeMaxSocketsPerUser: 2, realtimeMaxSockets: 100 });
    try {
      const base = `ws://127.0.0.1:${natter.config.port}/`;
      const a = await createTestUser(natter);
      const b = await createTestUser(natter);
      const first = await ready(base, a.token);
      const trouter = await openTrouter(natter.config.port, await handshake(natter, a.token));
      // A third socket for `a`, whichever way it comes.
      const byUrl = await upgradeStatus(openRealtime(base, { token: a.token }));
      assert.equal(byUrl.status, 429);
      assert.equal((JSON.parse(byUrl.body) as Frame).error.code, "TooManyRequests");
      const byHello = await openRealtime(base, { hello: a.token });
      assert.equal((await byHello.closed).code, CODE.tooManyConnections);
      assert.equal(byHello.frames[0]?.code, "TooManyConnections");
      const byTrouter = await upgradeStatus(openTrouter(natter.config.port, await handshake(natter, a.token)));
      assert.equal(byTrouter.status, 429);
      assert.equal((JSON.parse(byTrouter.body) as Frame).error.code, "TooManyRequests");
      // Other users are not affected.
      (await ready(base, b.token)).ws.close();
      // Closing one of a's sockets frees its slot.
      trouter.ws.close();
      await trouter.closed;
      let again: RawClient | undefined;
      await until(async () => {
        again = await openRealtime(base, { token: a.token }).catch(() => undefined);
        return again !== undefined;
      }, "a's slot is free again");
      await again!.waitFor((f) => f.type === "ready", "ready");
      first.ws.close();
      again!.ws.close();
    } finally {
      await natter.stop();
    }
  });

  it("per node: unauthenticated sockets count; past the cap both protocols answer 503; a closed socket frees its slot", async () => {
    const natter = await startTestNatter({ realtimeMaxSockets: 3, realtimeMaxSocketsPerUser: 50 });
    try {
      const base = `ws://127.0.0.1:${natter.config.port}/`;
      const user = await createTestUser(natter);
      const sid = await handshake(natter, user.token);
      const idle = await Promise.all([0, 1, 2].map(() => openRealtime(base, { hello: false })));
      const refused = await upgradeStatus(openRealtime(base, { token: user.token }));
      assert.equal(refused.status, 503);
      assert.equal((JSON.parse(refused.body) as Frame).error.code, "ServiceUnavailable");
      const refusedTrouter = await upgradeStatus(openTrouter(natter.config.port, sid));
      assert.equal(refusedTrouter.status, 503);
      idle[0].ws.close();
      await idle[0].closed;
      let socket: Awaited<ReturnType<typeof openTrouter>> | undefined;
      await until(async () => {
        socket = await openTrouter(natter.config.port, sid).catch(() => undefined);
        return socket !== undefined;
      }, "a slot is free again");
      socket!.ws.close();
      for (const client of idle) client.ws.close();
    } finally {
      await natter.stop();
    }
  });
});
