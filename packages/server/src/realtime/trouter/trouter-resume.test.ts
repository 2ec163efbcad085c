// Trouter resume (issue #21 item 1): Azure's SDK reconnects with the same `epid`, and the server resumes that
// endpoint from the position the client acknowledged, so a message committed while the socket was down (a
// dropped connection, a server restart) is still delivered live, exactly once and in order. (1) raw socket.io
// frames from Node: drop + reconnect, restart on the same data folder, another epid, another user's use of the
// same epid, a cursor beyond retention; (2) the unmodified @azure/communication-chat 1.6.0 browser bundle in
// Chromium across a server restart (skips when Chromium is not installed).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as delay } from "node:timers/promises";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import type { Browser } from "playwright-core";
import { WebSocket } from "ws";
import { createTestUser, startTestNatter } from "../../test-support/test-natter.js";
import type { TestNatter } from "../../test-support/test-natter.js";
import { parseFrame } from "./protocol.js";
import type { StartOptions } from "../../compose.js";
import type { NatterConfig } from "../../config.js";
import { createTestDatabase } from "../../test-support/cluster.js";
import type { TestDatabase } from "../../test-support/cluster.js";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const API = "api-version=2024-03-07";
const serverDir = fileURLToPath(new URL("../../../", import.meta.url));

type User = Awaited<ReturnType<typeof createTestUser>>;

/** A node on a data folder the test owns, restartable on the same HTTPS port (the client's cached URL). */
class Node {
  natter!: TestNatter;
  readonly dataDir = mkdtempSync(join(tmpdir(), "natter-tresume-"));
  private port = 0;

  constructor(private readonly config: Partial<NatterConfig> = {}) {}

  async start(trouter?: StartOptions["trouter"]): Promise<void> {
    this.natter = await startTestNatter({ ...this.config, dataDir: this.dataDir, httpsPort: this.port }, { trouter });
    this.port = Number(new URL(this.natter.endpoint).port);
  }
  async restart(between?: () => Promise<void>): Promise<void> {
    await this.natter.stop();
    await between?.();
    await this.start();
  }
  get base(): string {
    return this.natter.endpoint.replace(/\/$/, "");
  }
  async dispose(): Promise<void> {
    await this.natter?.stop().catch(() => undefined);
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

async function call(node: Node, user: User, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const url = new URL(path, node.natter.endpoint);
  url.search = url.search ? `${url.search}&${API}` : API;
  const response = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${user.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

const participant = (user: User) => ({ communicationIdentifier: { rawId: user.userId, communicationUser: { id: user.userId } } });

async function thread(node: Node, owner: User, ...others: User[]) {
  const created = await call(node, owner, "POST", "/chat/threads", { topic: "resume", participants: [participant(owner), ...others.map(participant)] });
  const id = (created.chatThread as { id: string }).id;
  return async (content: string) => (await call(node, owner, "POST", `/chat/threads/${encodeURIComponent(id)}/messages`, { content })).id as string;
}

/**
 * A raw Trouter client: handshake + WebSocket with `epid`, answering every notification as Azure's client does
 * (`3:::{"id":n,"status":200}`), and collecting the message bodies of chatMessageReceived.
 */
async function connect(node: Node, user: User, epid: string, answer = true) {
  const query = `v=v4&epid=${epid}&ccid=c1&cor_id=cor-${epid}&con_num=1_1`;
  const response = await fetch(`${node.base}/socket.io/1/?${query}&t=1`, { headers: { "x-skypetoken": user.token } });
  const text = await response.text();
  assert.equal(response.status, 200, text);
  const sid = text.split(":")[0];
  const ws = new WebSocket(`${node.base.replace(/^https/, "wss")}/socket.io/1/websocket/${sid}?${query}`);
  const frames: string[] = [];
  const messages: string[] = [];
  ws.on("message", (data) => {
    const frame = data.toString();
    frames.push(frame);
    const parsed = parseFrame(frame);
    if (parsed?.type !== 3) return;
    const request = JSON.parse(parsed.data) as { id: number; body: string };
    const body = JSON.parse(request.body) as { eventId: number; messageBody?: string };
    if (body.eventId === 200) messages.push(body.messageBody!);
    if (answer) ws.send(`3:::${JSON.stringify({ id: request.id, status: 200, headers: {}, body: "" })}`);
  });
  const closed = new Promise<void>((resolve) => ws.on("close", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  const until = async (predicate: () => boolean, what: string) => {
    for (let i = 0; i < 400 && !predicate(); i++) await delay(25);
    assert.ok(predicate(), `${what}; messages: [${messages.join(", ")}]; frames: ${frames.length}`);
  };
  await until(() => frames.some((f) => f.includes("trouter.connected")), "trouter.connected");
  return { ws, frames, messages, closed, until };
}

describe("trouter resume per endpoint (Node client, raw frames)", () => {
  const node = new Node();
  before(() => node.start());
  after(() => node.dispose());

  test("a dropped socket and a server restart lose nothing: every message exactly once, in order, for the same epid", async () => {
    const [a, b] = [await createTestUser(node.natter), await createTestUser(node.natter)];
    const send = await thread(node, a, b);
    const seen: string[] = [];
    const epid = "4c1e0d2a-0000-4000-8000-000000000001";

    const first = await connect(node, b, epid);
    await send("m1");
    await first.until(() => first.messages.length === 1, "m1 live");
    // The socket drops (client side); messages commit while it is down.
    first.ws.terminate();
    await first.closed;
    await send("m2");
    await send("m3");
    seen.push(...first.messages);

    const second = await connect(node, b, epid);
    await second.until(() => second.messages.length === 2, "m2, m3 replayed on reconnect");
    await send("m4");
    await second.until(() => second.messages.length === 3, "m4 live");
    // A graceful restart while connected, and messages committed while the server is down and before the
    // client's new socket opens (the failing case of the issue).
    await node.restart();
    await second.closed;
    seen.push(...second.messages);
    await send("m5");
    await send("m6");

    const third = await connect(node, b, epid);
    await third.until(() => third.messages.length === 2, "m5, m6 after the restart");
    await send("m7");
    await third.until(() => third.messages.length === 3, "m7 live");
    await delay(200);
    seen.push(...third.messages);
    assert.deepEqual(seen, ["m1", "m2", "m3", "m4", "m5", "m6", "m7"]);

    // Another endpoint of the same user starts at the head: nothing replayed, live from now on.
    const other = await connect(node, b, "4c1e0d2a-0000-4000-8000-0000000000ff");
    await send("m8");
    await other.until(() => other.messages.length === 1, "m8 on the new endpoint");
    await third.until(() => third.messages.length === 4, "m8 on the old endpoint too");
    assert.deepEqual(other.messages, ["m8"]);
    other.ws.close();
    third.ws.close();
    await Promise.all([other.closed, third.closed]);
  });

  test("a new endpoint starts where its user asked for realtime: messages committed between the configuration request and the first socket arrive (the add-chat quickstart)", async () => {
    const [a, b] = [await createTestUser(node.natter), await createTestUser(node.natter)];
    const send = await thread(node, a, b);
    await send("before the request");
    // startRealtimeNotifications asks for the configuration, then allocates and connects; the app sends meanwhile.
    await call(node, b, "GET", "/chat/config/realTimeNotifications");
    await send("q1");
    await send("q2");
    const socket = await connect(node, b, "4c1e0d2a-0000-4000-8000-0000000000a1");
    await send("q3");
    await socket.until(() => socket.messages.length === 3, "q1, q2 and q3");
    await delay(100);
    assert.deepEqual(socket.messages, ["q1", "q2", "q3"], "from the request on, exactly once, nothing from before it");
    socket.ws.close();
    await socket.closed;
  });

  test("another user's use of the same epid neither gets the first user's events nor moves or kicks its cursor", async () => {
    const [a, b, c] = [await createTestUser(node.natter), await createTestUser(node.natter), await createTestUser(node.natter)];
    const toB = await thread(node, a, b);
    const toC = await thread(node, a, c);
    const epid = "4c1e0d2a-0000-4000-8000-000000000002";

    const bFirst = await connect(node, b, epid);
    await toB("b1");
    await bFirst.until(() => bFirst.messages.length === 1, "b1");
    const cLive = await connect(node, c, epid); // same epid, other user: b's socket stays up
    await toB("b2");
    await toC("c1");
    await bFirst.until(() => bFirst.messages.length === 2, "b2 on b's socket (not replaced by c's)");
    await cLive.until(() => cLive.messages.length === 1, "c1");
    bFirst.ws.terminate();
    await bFirst.closed;

    // While b is away, c (same epid) receives and acknowledges more of its own events.
    await toB("b3");
    await toC("c2");
    await toB("b4");
    await cLive.until(() => cLive.messages.length === 2, "c2");
    cLive.ws.close();
    await cLive.closed;
    const cAgain = await connect(node, c, epid);
    await toC("c3");
    await cAgain.until(() => cAgain.messages.length === 1, "c3");

    const bAgain = await connect(node, b, epid);
    await bAgain.until(() => bAgain.messages.length === 2, "b3, b4 for b");
    await delay(200);
    assert.deepEqual([...bFirst.messages, ...bAgain.messages], ["b1", "b2", "b3", "b4"]);
    assert.deepEqual([...cLive.messages, ...cAgain.messages], ["c1", "c2", "c3"], "c saw nothing of b's");
    bAgain.ws.close();
    cAgain.ws.close();
    await Promise.all([bAgain.closed, cAgain.closed]);
  });

  test("only answered notifications count: what the client never answered is delivered again on reconnect", async () => {
    const [a, b] = [await createTestUser(node.natter), await createTestUser(node.natter)];
    const send = await thread(node, a, b);
    const epid = "4c1e0d2a-0000-4000-8000-000000000004";
    const silent = await connect(node, b, epid, false);
    await send("u1");
    await send("u2");
    await silent.until(() => silent.messages.length === 2, "u1, u2 sent (never answered)");
    silent.ws.terminate();
    await silent.closed;
    const again = await connect(node, b, epid);
    await again.until(() => again.messages.length === 2, "u1, u2 again");
    await send("u3");
    await again.until(() => again.messages.length === 3, "u3");
    assert.deepEqual(again.messages, ["u1", "u2", "u3"]);
    again.ws.close();
    await again.closed;
  });

  test("a cursor beyond event retention starts at the head (nothing half-replayed across a gap)", async () => {
    const [a, b] = [await createTestUser(node.natter), await createTestUser(node.natter)];
    const send = await thread(node, a, b);
    const epid = "4c1e0d2a-0000-4000-8000-000000000003";
    const first = await connect(node, b, epid);
    await send("r1");
    await first.until(() => first.messages.length === 1, "r1");
    first.ws.terminate();
    await first.closed;
    await send("r2 (purged)");
    await delay(20);
    const cutoff = Date.now();
    await delay(20);
    await send("r3 (kept)");
    // Retention deletes everything created before the cutoff: the endpoint's next event (r2) is gone.
    assert.ok((await node.natter.store.deleteEventsBefore(cutoff)) > 0);
    const second = await connect(node, b, epid);
    await send("r4");
    await second.until(() => second.messages.length >= 1, "r4 live");
    await delay(200);
    assert.deepEqual(second.messages, ["r4"]);
    second.ws.close();
    await second.closed;
  });
});

describe("trouter resume: batched saves while the socket is open", () => {
  const node = new Node();
  before(() => node.start({ cursorSaveIntervalMs: 50 }));
  after(() => node.dispose());

  test("an answered notification's position reaches the Store without a close (a crash replays at most one interval)", async () => {
    const [a, b] = [await createTestUser(node.natter), await createTestUser(node.natter)];
    const send = await thread(node, a, b);
    const epid = "4c1e0d2a-0000-4000-8000-000000000005";
    const socket = await connect(node, b, epid);
    const start = await node.natter.store.getEndpointCursor(b.userId, epid);
    assert.equal(start, await node.natter.store.headPosition(), "a new endpoint's cursor is saved at connect (the head)");
    await send("s1");
    await send("s2");
    await socket.until(() => socket.messages.length === 2, "s1, s2");
    const [, last] = await node.natter.store.readEvents(b.userId, start!, 10);
    for (let i = 0; i < 400 && (await node.natter.store.getEndpointCursor(b.userId, epid)) !== last.position; i++) await delay(25);
    assert.equal(await node.natter.store.getEndpointCursor(b.userId, epid), last.position);
    socket.ws.close();
    await socket.closed;
  });

  test("housekeeping deletes endpoint cursors not saved within event retention", async () => {
    const b = await createTestUser(node.natter);
    const store = node.natter.store;
    await store.saveEndpointCursor(b.userId, "stale", 1, Date.now() - 25 * 3_600_000); // default retention: 24 h
    await store.saveEndpointCursor(b.userId, "fresh", 1, Date.now());
    await node.natter.chat.runHousekeeping();
    assert.equal(await store.getEndpointCursor(b.userId, "stale"), undefined);
    assert.equal(await store.getEndpointCursor(b.userId, "fresh"), 1);
  });

  test("a user's new endpoint ids cannot grow the table: the 100 most recently saved cursors are kept", async () => {
    const b = await createTestUser(node.natter);
    const store = node.natter.store;
    const now = Date.now();
    for (let i = 0; i < 100; i++) await store.saveEndpointCursor(b.userId, `old${i}`, 1, now - 1_000 - i);
    const epid = "4c1e0d2a-0000-4000-8000-000000000008";
    const socket = await connect(node, b, epid);
    assert.notEqual(await store.getEndpointCursor(b.userId, epid), undefined);
    assert.equal(await store.getEndpointCursor(b.userId, "old99"), undefined, "the oldest went");
    assert.equal(await store.getEndpointCursor(b.userId, "old98"), 1);
    assert.equal(await store.getEndpointCursor(b.userId, "old0"), 1);
    socket.ws.close();
    await socket.closed;
  });

  test("a cursor beyond the head (a restore from an older backup) starts at the head and is reset to it", async () => {
    const [a, b] = [await createTestUser(node.natter), await createTestUser(node.natter)];
    const send = await thread(node, a, b);
    const epid = "4c1e0d2a-0000-4000-8000-000000000006";
    const head = await node.natter.store.headPosition();
    await node.natter.store.saveEndpointCursor(b.userId, epid, head + 1_000, Date.now());
    const socket = await connect(node, b, epid);
    assert.equal(await node.natter.store.getEndpointCursor(b.userId, epid), head);
    await send("x1");
    await socket.until(() => socket.messages.length === 1, "x1 live (the cursor did not hide it)");
    socket.ws.close();
    await socket.closed;
  });
});

const pgUrl = process.env.NATTER_TEST_PG_URL;
const redisUrl = process.env.NATTER_TEST_REDIS_URL;

describe("trouter resume across nodes (PostgreSQL + Redis)", { skip: pgUrl && redisUrl ? false : "NATTER_TEST_PG_URL or NATTER_TEST_REDIS_URL not set" }, () => {
  let database: TestDatabase;
  const nodes: Node[] = [];
  before(async () => {
    database = await createTestDatabase(pgUrl!, "natter_tresume");
    const accessKey = randomBytes(32).toString("base64");
    for (let i = 0; i < 2; i++) {
      const node = new Node({ store: "postgres", databaseUrl: database.url, bus: "redis", redisUrl, accessKey });
      await node.start();
      nodes.push(node);
    }
  });
  after(async () => {
    for (const node of nodes) await node.dispose();
    await database?.drop();
  });

  test("a socket that drops on one node resumes on another: the cursor is shared through the Store", async () => {
    const [one, two] = nodes;
    const [a, b] = [await createTestUser(one.natter), await createTestUser(one.natter)];
    const send = await thread(one, a, b);
    const epid = "4c1e0d2a-0000-4000-8000-000000000007";
    const first = await connect(one, b, epid);
    await send("n1");
    await first.until(() => first.messages.length === 1, "n1 on node one");
    first.ws.terminate();
    await first.closed;
    // Node one saves the cursor when it sees the close; the client's next socket lands on node two.
    for (let i = 0; i < 400 && (await two.natter.store.getEndpointCursor(b.userId, epid)) !== (await two.natter.store.headPosition()); i++) await delay(25);
    await send("n2");
    await send("n3");
    const second = await connect(two, b, epid);
    await second.until(() => second.messages.length === 2, "n2, n3 on node two");
    await send("n4");
    await second.until(() => second.messages.length === 3, "n4 live on node two");
    await delay(200);
    assert.deepEqual([...first.messages, ...second.messages], ["n1", "n2", "n3", "n4"]);
    second.ws.close();
    await second.closed;
  });
});

// ---- the Azure SDK in Chromium ----

const skipBrowser = existsSync(CHROMIUM) ? false : `Chromium is not installed (${CHROMIUM})`;

describe("Azure's browser SDK across socket drops and server restarts", { skip: skipBrowser }, () => {
  const node = new Node();
  let browser: Browser;
  let staticServer: Server;
  let pageOrigin: string;
  let bundle: string;

  before(async () => {
    const result = await build({
      stdin: {
        contents: `import { ChatClient } from "@azure/communication-chat";
import { AzureCommunicationTokenCredential } from "@azure/communication-common";
globalThis.azureChat = { ChatClient, AzureCommunicationTokenCredential };`,
        resolveDir: serverDir,
        sourcefile: "azure-chat.js",
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
    bundle = result.outputFiles[0].text;
    staticServer = createServer((req, res) => {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      if (path === "/azure-chat.js") {
        res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" });
        return res.end(bundle);
      }
      if (path === "/index.html") {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        return res.end(`<!doctype html><meta charset="utf-8"><title>resume</title><script src="/azure-chat.js"></script>`);
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => staticServer.listen(0, "127.0.0.1", resolve));
    pageOrigin = `http://127.0.0.1:${(staticServer.address() as AddressInfo).port}`;
    await node.start();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (staticServer ? staticServer.close(() => resolve()) : resolve()));
    await node.dispose();
  });

  test("@azure/communication-chat 1.6.0: messages sent across socket drops and restarts arrive exactly once each", async () => {
    const [a, b] = [await createTestUser(node.natter), await createTestUser(node.natter)];
    const send = await thread(node, a, b);
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    try {
      const page = await context.newPage();
      // The SDK is unmodified; the page only keeps a list of the WebSockets it opens, to drop them.
      await page.addInitScript({
        content: `{ const sockets = []; const Native = globalThis.WebSocket; globalThis.sockets = sockets;
          globalThis.WebSocket = class extends Native { constructor(...args) { super(...args); sockets.push(this); } }; }`,
      });
      await page.goto(`${pageOrigin}/index.html`);
      await page.evaluate(
        async ({ endpoint, token }) => {
          interface Client {
            on(name: string, listener: (e: unknown) => void): void;
            startRealtimeNotifications(): Promise<void>;
          }
          const g = globalThis as unknown as {
            azureChat: { ChatClient: new (endpoint: string, credential: unknown) => Client; AzureCommunicationTokenCredential: new (token: string) => unknown };
            received: string[];
            connected: number;
            disconnected: number;
          };
          g.received = [];
          g.connected = 0;
          g.disconnected = 0;
          const client = new g.azureChat.ChatClient(endpoint, new g.azureChat.AzureCommunicationTokenCredential(token));
          client.on("realTimeNotificationConnected", () => g.connected++);
          client.on("realTimeNotificationDisconnected", () => g.disconnected++);
          await client.startRealtimeNotifications();
          client.on("chatMessageReceived", (e) => g.received.push((e as { id: string }).id));
        },
        { endpoint: node.natter.endpoint, token: b.token },
      );
      const state = () => page.evaluate(() => {
        const g = globalThis as unknown as { received: string[]; connected: number; disconnected: number };
        return { received: [...g.received], connected: g.connected, disconnected: g.disconnected };
      });
      const until = async (predicate: (s: { received: string[]; connected: number; disconnected: number }) => boolean, what: string) => {
        const deadline = Date.now() + 60_000;
        for (;;) {
          const s = await state();
          if (predicate(s)) return;
          if (Date.now() > deadline) assert.fail(`${what}; state: ${JSON.stringify(s)}`);
          await delay(100);
        }
      };
      await until((s) => s.connected === 1, "connected");

      const sent: string[] = [];
      for (let i = 0; i < 3; i++) sent.push(await send(`before ${i}`));
      await until((s) => s.received.length >= sent.length, "live messages");
      const rounds = ["drop", "restart", "drop", "restart"] as const;
      for (let round = 1; round <= rounds.length; round++) {
        const kind = rounds[round - 1];
        // The socket drops (the page closes the SDK's WebSocket, as a network drop does) or the server restarts;
        // messages are committed before the browser's socket reopens (its allocation requests are held until
        // then, so the order does not depend on the client's backoff).
        let release!: () => void;
        let held = 0;
        const gate = new Promise<void>((resolve) => (release = resolve));
        await context.route(/\/v4\/a(\?|$)/, async (route) => {
          held++;
          await gate;
          await route.continue();
        });
        if (kind === "restart") await node.restart();
        else {
          await page.evaluate(() => (globalThis as unknown as { sockets: { close(): void }[] }).sockets.forEach((ws) => ws.close()));
          await until((s) => s.disconnected === round, `disconnected by the drop ${round}`);
        }
        for (let i = 0; i < 3; i++) sent.push(await send(`${kind} ${round} msg ${i}`));
        assert.equal((await state()).connected, round, "the messages were committed before the client reconnected");
        release();
        await context.unrouteAll({ behavior: "wait" });
        await until((s) => s.connected === round + 1, `reconnected after ${kind} ${round}`);
        assert.ok(held > 0, "the reconnect's allocation went through the gate");
        for (let i = 0; i < 2; i++) sent.push(await send(`after ${round} msg ${i}`));
        await until((s) => s.received.length >= sent.length, `all messages after ${kind} ${round}`);
      }
      await delay(500);
      assert.deepEqual((await state()).received, sent, "every message exactly once, in order");
    } finally {
      await context.close();
    }
  });
});
