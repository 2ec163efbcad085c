// Bad input on the realtime endpoints, property-based (fast-check): random and malformed frames to /realtime
// (before and after the hello, with a token of each scope — chat, chat.join, chat.join.limited, voip — or none,
// or a forged one, in the URL or in the hello) and to Trouter sockets. Properties, for every case: the node keeps
// answering /healthz (a crash would end this process too); a socket that is not open (no `ready`) is sent nothing
// but `error` frames; a voip-only or unauthenticated socket never gets `ready` nor an event, even while its
// user's thread is busy; every server frame is JSON (Trouter: a socket.io frame); Trouter acks only short ids.
// Seeded from FUZZ_SEED when given (fast-check prints the seed of a failure).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { WebSocket } from "ws";
import type { TestNatter } from "../test-support/test-natter.js";
import { startTestNatter } from "../test-support/test-natter.js";

const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const API = "api-version=2024-03-07";
type Scope = "chat" | "chat.join" | "chat.join.limited" | "voip";
const SCOPES: Scope[] = ["chat", "chat.join", "chat.join.limited", "voip"];
type Credential = Scope | "none" | "forged";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Frame = Record<string, any>;

async function until(condition: () => boolean, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition() && Date.now() < deadline) await sleep(5);
}

type FrameCase =
  | { kind: "hello" }
  | { kind: "ping"; id: unknown }
  | { kind: "pong" }
  | { kind: "auth"; token: "same" | "chat" | "voip" | "forged" | 42 }
  | { kind: "json"; value: unknown }
  | { kind: "object"; type: string; extra: Record<string, unknown> }
  | { kind: "text"; text: string }
  | { kind: "binary"; bytes: Uint8Array }
  | { kind: "big"; size: number };

const frameArb: fc.Arbitrary<FrameCase> = fc.oneof(
  fc.constant({ kind: "hello" as const }),
  fc.record({ kind: fc.constant("ping" as const), id: fc.oneof(fc.string({ maxLength: 80 }), fc.integer(), fc.double(), fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined)) }),
  fc.constant({ kind: "pong" as const }),
  fc.record({ kind: fc.constant("auth" as const), token: fc.constantFrom("same" as const, "chat" as const, "voip" as const, "forged" as const, 42 as const) }),
  fc.record({ kind: fc.constant("json" as const), value: fc.jsonValue({ maxDepth: 3 }) }),
  fc.record({
    kind: fc.constant("object" as const),
    type: fc.oneof(fc.constantFrom("hello", "auth", "ping", "pong", "event", "ready", "error", "__proto__", "constructor"), fc.string({ maxLength: 10 })),
    extra: fc.dictionary(fc.constantFrom("protocol", "token", "since", "id", "data", "__proto__", "x"), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  }),
  fc.record({ kind: fc.constant("text" as const), text: fc.string({ maxLength: 200 }) }),
  fc.record({ kind: fc.constant("binary" as const), bytes: fc.uint8Array({ maxLength: 64 }) }),
  fc.record({ kind: fc.constant("big" as const), size: fc.constantFrom(9_000, 70_000) }),
);

const caseArb = fc.record({
  credential: fc.constantFrom<Credential>(...SCOPES, "none", "forged"),
  via: fc.constantFrom("url" as const, "hello" as const),
  before: fc.array(frameArb, { maxLength: 3 }),
  hello: fc.boolean(),
  after: fc.array(frameArb, { maxLength: 4 }),
});

describe("realtime frames (property-based)", () => {
  let natter: TestNatter;
  let port: number;
  /** Per scope: a user in the busy thread, and its token of that scope (plus a chat and a voip token). */
  const users = new Map<Scope, { userId: string; token: string; chat: string; voip: string }>();
  let owner: { userId: string; token: string };
  let witness: WebSocket;
  const witnessed = new Set<string>();
  let threadId: string;

  const rest = async (token: string, method: string, path: string, body?: unknown) => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, {
      method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
    return text ? (JSON.parse(text) as Frame) : {};
  };
  const healthy = async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200;

  before(async () => {
    natter = await startTestNatter({}, { realtime: { helloTimeoutMs: 200 } });
    port = natter.config.port;
    const create = async (scopes: Scope[]) => {
      const user = await natter.identity.createUser();
      const issue = (s: Scope[]) => natter.tokens.issue(user.id, s, 60, user.tokenGeneration).then((t) => t.token);
      return { userId: user.id, token: await issue(scopes), chat: await issue(["chat"]), voip: await issue(["voip"]) };
    };
    const o = await create(["chat"]);
    owner = { userId: o.userId, token: o.token };
    for (const scope of SCOPES) users.set(scope, await create([scope]));
    const created = await rest(owner.token, "POST", `/chat/threads?${API}`, {
      topic: "fuzz", participants: [...users.values()].map((u) => ({ communicationIdentifier: { rawId: u.userId, communicationUser: { id: u.userId } } })),
    });
    threadId = (created.chatThread as Frame).id as string;
    // The owner's socket sees each message: once it has, every other socket had its chance to get it too.
    witness = new WebSocket(`ws://127.0.0.1:${port}/realtime?access_token=${encodeURIComponent(owner.token)}`);
    witness.on("message", (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      if (frame.type === "ping") witness.send(JSON.stringify({ type: "pong" }));
      if (frame.type === "event" && frame.event === "chatMessageReceived") witnessed.add((frame.data as Frame).id as string);
    });
    await new Promise((resolve) => witness.once("open", resolve));
    witness.send(JSON.stringify({ type: "hello", protocol: 1 }));
  });
  after(async () => {
    witness?.close();
    await natter?.stop();
  });

  it("/realtime: random frames per scope, before and after hello (≈ 10 s)", async () => {
    let opened = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const scope = SCOPES.includes(c.credential as Scope) ? users.get(c.credential as Scope)! : undefined;
        const token = scope ? scope.token : c.credential === "forged" ? `${owner.token.slice(0, -4)}AAAA` : undefined;
        const url = new URL(`ws://127.0.0.1:${port}/realtime`);
        if (token && c.via === "url") url.searchParams.set("access_token", token);
        const ws = new WebSocket(url);
        const frames: Frame[] = [];
        let closed = false;
        ws.on("error", () => undefined);
        ws.on("message", (data, isBinary) => {
          let frame: Frame;
          try {
            frame = JSON.parse(data.toString()) as Frame;
          } catch {
            frame = { notJson: data.toString().slice(0, 80), isBinary };
          }
          frames.push(frame);
        });
        ws.on("close", () => (closed = true));
        const status = await new Promise<number>((resolve) => {
          ws.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
          ws.once("open", () => resolve(101));
          ws.once("error", () => resolve(0));
        });
        if (status !== 101) {
          refused++;
          assert.equal(status, 401, "only a forged URL token is refused at the upgrade");
          assert.equal(c.credential, "forged");
          assert.ok(await healthy(), "healthz");
          return;
        }
        opened++;
        const send = (f: FrameCase) => {
          if (ws.readyState !== WebSocket.OPEN) return;
          const tokenFor = (t: "same" | "chat" | "voip" | "forged" | 42) =>
            t === 42 ? 42 : t === "forged" ? "not.a.token" : t === "same" ? (token ?? "") : scope ? scope[t] : users.get("chat")![t];
          switch (f.kind) {
            case "hello": return ws.send(JSON.stringify({ type: "hello", protocol: 1, ...(c.via === "hello" && token ? { token } : {}) }));
            case "ping": return ws.send(JSON.stringify({ type: "ping", id: f.id }));
            case "pong": return ws.send(JSON.stringify({ type: "pong" }));
            case "auth": return ws.send(JSON.stringify({ type: "auth", token: tokenFor(f.token) }));
            case "json": return ws.send(JSON.stringify(f.value));
            case "object": return ws.send(JSON.stringify({ ...f.extra, type: f.type }));
            case "text": return ws.send(f.text);
            case "binary": return ws.send(f.bytes, { binary: true });
            case "big": return ws.send(JSON.stringify({ type: "ping", id: "x".repeat(f.size) }));
          }
        };
        for (const f of c.before) send(f);
        if (c.hello) send({ kind: "hello" });
        // Every socket either opens (ready) or is closed (error, or the 200 ms hello timeout).
        await until(() => closed || frames.some((f) => f.type === "ready"));
        for (const f of c.after) send(f);
        // Something happens in the user's thread; once the witness has it, every socket has had its chance.
        const sent = await rest(owner.token, "POST", `/chat/threads/${encodeURIComponent(threadId)}/messages?${API}`, { content: "busy" });
        await until(() => witnessed.has(sent.id as string));
        await sleep(10);
        ws.terminate();

        const types = frames.map((f) => f.type as string);
        assert.ok(frames.every((f) => typeof f.type === "string"), `every server frame is a JSON object with a type: ${JSON.stringify(frames).slice(0, 300)}`);
        const readyAt = types.indexOf("ready");
        const beforeReady = readyAt === -1 ? types : types.slice(0, readyAt);
        assert.ok(beforeReady.every((t) => t === "error"), `before ready only error frames: ${types.join(",")}`);
        if (!scope || c.credential === "voip") {
          assert.equal(readyAt, -1, `${c.credential}: never ready`);
          assert.ok(!types.includes("event") && !types.includes("pong"), `${c.credential}: no event, no pong: ${types.join(",")}`);
        }
        assert.ok(await healthy(), "healthz");
      }),
      { numRuns: 400, seed, includeErrorInReport: true, interruptAfterTimeLimit: 10_000 },
    );
    assert.ok(opened > 20, `too few sockets opened: ${opened} (refused ${refused})`);
  });

  it("Trouter: random frames on a socket; a voip-only token gets no session (≈ 4 s)", async () => {
    const trouterFrameArb = fc.oneof(
      fc.string({ maxLength: 120 }),
      fc.record({
        type: fc.integer({ min: 0, max: 9 }),
        id: fc.oneof(fc.constant(""), fc.stringMatching(/^[0-9]{1,30}$/)),
        plus: fc.boolean(),
        endpoint: fc.oneof(fc.constant(""), fc.string({ maxLength: 8 }).filter((s) => !s.includes(":"))),
        data: fc.oneof(fc.constant('{"name":"ping"}'), fc.constant('{"name":"user.activity","args":[{"state":"active"}]}'), fc.json({ maxDepth: 2 }), fc.string({ maxLength: 60 })),
      }).map((f) => `${f.type}:${f.id}${f.plus ? "+" : ""}:${f.endpoint}:${f.data}`),
      fc.uint8Array({ maxLength: 32 }),
    );
    let sessions = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom<Scope>(...SCOPES), fc.array(trouterFrameArb, { maxLength: 6 }), async (scope, sent) => {
        const user = users.get(scope)!;
        const handshake = await fetch(`http://127.0.0.1:${port}/socket.io/1/?v=v4`, { headers: { "x-skypetoken": user.token } });
        const text = await handshake.text();
        if (scope === "voip") {
          assert.equal(handshake.status, 403, text);
          assert.equal((JSON.parse(text) as Frame).error.code, "Forbidden");
          return;
        }
        assert.equal(handshake.status, 200, text);
        sessions++;
        const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/1/websocket/${text.split(":")[0]}`);
        const frames: string[] = [];
        let closed = false;
        ws.on("error", () => undefined);
        ws.on("message", (data) => frames.push(data.toString()));
        ws.on("close", () => (closed = true));
        await new Promise((resolve) => ws.once("open", resolve));
        await until(() => closed || frames.length >= 2);
        for (const f of sent) if (ws.readyState === WebSocket.OPEN) ws.send(f, { binary: typeof f !== "string" });
        const message = await rest(owner.token, "POST", `/chat/threads/${encodeURIComponent(threadId)}/messages?${API}`, { content: "busy" });
        await until(() => witnessed.has(message.id as string));
        await sleep(10);
        ws.terminate();
        for (const f of frames) {
          assert.match(f, /^[0-8]:[0-9]*\+?:[^:]*(:|$)/, `a socket.io frame: ${f.slice(0, 80)}`);
          if (f.startsWith("6:")) assert.match(f, /^6:::[0-9]{1,16}\+\[\]$/, `acks only short ids: ${f.slice(0, 80)}`);
        }
        assert.ok(await healthy(), "healthz");
      }),
      { numRuns: 300, seed, includeErrorInReport: true, interruptAfterTimeLimit: 4_000 },
    );
    assert.ok(sessions > 5, `too few Trouter sessions: ${sessions}`);
  });
});
