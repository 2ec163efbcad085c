// Hardening: body size limit, slowloris and slow-body clients, many idle connections, security headers, the
// access key file's mode, no secrets in the logs, and HTML message content kept exactly as sent.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { PassThrough } from "node:stream";
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import WebSocket from "ws";
import { REALTIME_PATH } from "../realtime/protocol.js";
import type { TestNatter } from "../test-support/test-natter.js";
import { createTestUser, startTestNatter } from "../test-support/test-natter.js";
import { signedHeaders } from "../test-support/natter-process.js";
import { rawRequest } from "../test-support/fuzz-requests.js";
import { WEB_APP_CSP } from "./web-app.js";

const V = "api-version=2024-03-07";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let natter: TestNatter; // small body limit, short timeouts
let user: { userId: string; token: string };
const port = () => Number(new URL(natter.httpUrl).port);

before(async () => {
  natter = await startTestNatter({ bodyLimit: 64 * 1024, headersTimeoutSeconds: 1, requestTimeoutSeconds: 2 });
  user = await createTestUser(natter);
});
after(() => natter?.stop());

function assertAcs(res: { status: number; headers: Record<string, string>; body: Buffer }, status: number, code?: string) {
  assert.equal(res.status, status, res.body.toString().slice(0, 200));
  assert.equal(res.headers["content-type"], "application/json; charset=utf-8");
  assert.equal(res.headers["x-content-type-options"], "nosniff");
  const body = JSON.parse(res.body.toString()) as { error: { code: unknown; message: unknown } };
  assert.equal(typeof body.error.code, "string");
  assert.equal(typeof body.error.message, "string");
  if (code) assert.equal(body.error.code, code);
}

/** Opens a socket, writes `first`, then one byte of `drip` per second; resolves with what came back when the server closes it. */
function dripUntilClosed(first: string, drip: string, giveUpMs: number): Promise<{ closed: boolean; received: string }> {
  return new Promise((resolve) => {
    const socket = net.connect(port(), "127.0.0.1");
    let received = "";
    let i = 0;
    let timer: NodeJS.Timeout | undefined;
    const done = (closed: boolean) => {
      clearInterval(timer);
      clearTimeout(giveUp);
      socket.destroy();
      resolve({ closed, received });
    };
    const giveUp = setTimeout(() => done(false), giveUpMs);
    socket.on("data", (d) => (received += d.toString()));
    socket.on("close", () => done(true));
    socket.on("error", () => {});
    socket.on("connect", () => {
      socket.write(first);
      timer = setInterval(() => {
        if (!socket.destroyed && !socket.writableEnded) socket.write(drip[i++ % drip.length]);
      }, 1_000);
    });
  });
}

describe("hardening", () => {
  it("a body over the limit is 413 with the ACS body (Content-Length and chunked)", async () => {
    const big = Buffer.from(JSON.stringify({ topic: "x".repeat(100 * 1024) }));
    const headers: [string, string][] = [["Authorization", `Bearer ${user.token}`], ["Content-Type", "application/json"]];
    assertAcs(await rawRequest(port(), { method: "POST", target: `/chat/threads?${V}`, headers, body: big }), 413, "RequestEntityTooLarge");
    assertAcs(await rawRequest(port(), { method: "POST", target: `/chat/threads?${V}`, headers, body: big, chunked: true }), 413, "RequestEntityTooLarge");
    // A declared length over the limit is refused before the body is read.
    const declared = await rawRequest(port(), { method: "POST", target: `/chat/threads?${V}`, headers: [...headers, ["Content-Length", String(10 * 1024 * 1024)]] });
    assertAcs(declared, 413);
  });

  it("a slowloris client (headers one byte a second, never finished) is answered 408 and disconnected", async () => {
    const { closed, received } = await dripUntilClosed("GET /healthz HTTP/1.1\r\nHost: localhost\r\n", "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaa\r\n", 20_000);
    assert.ok(closed, "the server closed the connection");
    assert.match(received, /^HTTP\/1\.1 408 /);
    assert.match(received, /"code":"RequestTimeout"/);
  });

  it("a client that trickles its body is disconnected by the request timeout", async () => {
    const head = `POST /chat/threads?${V} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${user.token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`;
    const { closed } = await dripUntilClosed(head, "{\"topic\":\"", 20_000);
    assert.ok(closed, "the server closed the connection");
  });

  it("many idle connections do not stop others being served", async () => {
    const idle: net.Socket[] = [];
    try {
      for (let i = 0; i < 500; i++) {
        const s = net.connect(port(), "127.0.0.1");
        s.on("error", () => {});
        idle.push(s);
      }
      await Promise.all(idle.map((s) => new Promise((r) => (s.connecting ? s.once("connect", r) : r(undefined)))));
      // Half of them start a request and stall.
      idle.slice(0, 250).forEach((s) => s.write("GET /chat/threads HTTP/1.1\r\nHost: x\r\n"));
      const started = Date.now();
      const res = await fetch(new URL(`/chat/threads?${V}`, natter.httpUrl), { headers: { authorization: `Bearer ${user.token}` } });
      assert.equal(res.status, 200);
      assert.ok(Date.now() - started < 5_000, "served promptly");
      const health = await fetch(new URL("/healthz", natter.httpsUrl));
      assert.equal(health.status, 200);
    } finally {
      idle.forEach((s) => s.destroy());
    }
  });

  it("sends x-content-type-options: nosniff on API answers, errors included", async () => {
    const auth = { authorization: `Bearer ${user.token}` };
    for (const [path, init] of [
      [`/chat/threads?${V}`, { headers: auth }],
      [`/chat/threads?${V}`, {}],
      [`/chat/threads/${encodeURIComponent("19:none@thread.v2")}?${V}`, { headers: auth }],
      ["/nowhere", {}],
      ["/healthz", {}],
    ] as const) {
      const res = await fetch(new URL(path, natter.httpUrl), init);
      assert.equal(res.headers.get("x-content-type-options"), "nosniff", `${path} → ${res.status}`);
    }
    const badUrl = await rawRequest(port(), { method: "GET", target: `/chat/threads/%E0%A4%A?${V}`, headers: [] });
    assertAcs(badUrl, 400);
    const badHttp = await rawRequest(port(), { method: "GET", target: "/chat threads", headers: [] });
    assertAcs(badHttp, 400);
  });

  it("serves the web app at / with its Content-Security-Policy", async (t) => {
    const page = await fetch(new URL("/", natter.httpsUrl));
    if (!(page.headers.get("content-type") ?? "").includes("text/html")) {
      t.skip("the web app is not built (npm run build -w @natter/web)");
      return;
    }
    assert.equal(page.headers.get("content-security-policy"), WEB_APP_CSP);
    for (const directive of ["default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"]) {
      assert.ok(WEB_APP_CSP.includes(directive), directive);
    }
    assert.equal(page.headers.get("x-frame-options"), "DENY");
    assert.equal(page.headers.get("x-content-type-options"), "nosniff");
  });

  it("keeps the access key file at mode 0600, generated or pre-existing", async () => {
    assert.equal(statSync(join(natter.dataDir, "access-key")).mode & 0o777, 0o600);
    const dataDir = mkdtempSync(join(tmpdir(), "natter-key-"));
    try {
      writeFileSync(join(dataDir, "access-key"), randomBytes(32).toString("base64") + "\n");
      chmodSync(join(dataDir, "access-key"), 0o644);
      const other = await startTestNatter({ dataDir });
      await other.stop();
      assert.equal(statSync(join(dataDir, "access-key")).mode & 0o777, 0o600);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("stores and returns html message content exactly as sent", async () => {
    const content = "<script>alert(1)</script><img src=x onerror=alert(2)> &amp; &lt; \"q\" 'q' \u2028 😀 <b>bold</b><!-- c -->";
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(new URL(path, natter.httpUrl), {
        method, headers: { authorization: `Bearer ${user.token}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    };
    const created = await call("POST", `/chat/threads?${V}`, { topic: "<i>topic</i> & more" });
    assert.equal(created.status, 201);
    assert.equal(created.body.chatThread.topic, "<i>topic</i> & more");
    const t = `/chat/threads/${encodeURIComponent(created.body.chatThread.id)}`;
    const sent = await call("POST", `${t}/messages?${V}`, { content, type: "html", senderDisplayName: "<b>Al</b>" });
    assert.equal(sent.status, 201);
    const got = await call("GET", `${t}/messages/${sent.body.id}?${V}`);
    assert.equal(got.body.content.message, content);
    assert.equal(got.body.type, "html");
    assert.equal(got.body.senderDisplayName, "<b>Al</b>");
    const listed = await call("GET", `${t}/messages?${V}`);
    assert.equal(listed.body.value.find((m: { id: string }) => m.id === sent.body.id).content.message, content);
    const edited = `${content}<p>edit</p>`;
    assert.equal((await call("PATCH", `${t}/messages/${sent.body.id}?${V}`, { content: edited })).status, 204);
    assert.equal((await call("GET", `${t}/messages/${sent.body.id}?${V}`)).body.content.message, edited);
    const asText = await call("POST", `${t}/messages?${V}`, { content, type: "text" });
    assert.equal((await call("GET", `${t}/messages/${asText.body.id}?${V}`)).body.content.message, content);
  });
});

describe("logs", () => {
  it("never contain a token, the access key or an HMAC signature; every request line has a request id", async () => {
    const lines: string[] = [];
    const stream = new PassThrough();
    let pending = "";
    stream.on("data", (d: Buffer) => {
      pending += d.toString();
      const parts = pending.split("\n");
      pending = parts.pop()!;
      lines.push(...parts.filter(Boolean));
    });
    const logged = await startTestNatter({ logLevel: "trace" }, { logStream: stream });
    try {
      const alice = await createTestUser(logged);
      const base = logged.httpUrl;
      const auth = { authorization: `Bearer ${alice.token}` };
      // Bearer calls, good and bad.
      assert.equal((await fetch(new URL(`/chat/threads?${V}`, base), { headers: auth })).status, 200);
      const created = await fetch(new URL(`/chat/threads?${V}`, base), { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ topic: "t" }) });
      assert.equal(created.status, 201);
      assert.equal((await fetch(new URL(`/chat/threads?${V}`, base), { headers: { authorization: `Bearer ${alice.token}x` } })).status, 401);
      // A token in the query string (as browsers do for WebSockets).
      await fetch(new URL(`/chat/threads?${V}&access_token=${encodeURIComponent(alice.token)}`, base));
      await fetch(new URL(`${REALTIME_PATH}?access_token=${encodeURIComponent(alice.token)}`, base));
      await new Promise<void>((resolve) => {
        const ws = new WebSocket(new URL(`${REALTIME_PATH}?access_token=${encodeURIComponent(alice.token)}`, base.replace("http", "ws")));
        ws.on("open", () => ws.close());
        ws.on("close", () => resolve());
        ws.on("error", () => resolve());
      });
      await new Promise<void>((resolve) => {
        const ws = new WebSocket(new URL(`${REALTIME_PATH}?access_token=${encodeURIComponent(alice.token)}broken`, base.replace("http", "ws")));
        ws.on("close", () => resolve());
        ws.on("error", () => resolve());
      });
      // HMAC identity calls: a good one (its answer holds a new token) and one with a bad signature.
      const url = new URL("/identities?api-version=2023-10-01", base);
      const body = JSON.stringify({ createTokenWithScopes: ["chat"] });
      const headers = signedHeaders(url, "POST", body, logged.accessKey);
      const signature = /Signature=(.+)$/.exec(headers.authorization)![1];
      const identity = await fetch(url, { method: "POST", headers, body });
      assert.equal(identity.status, 201);
      const newToken = ((await identity.json()) as { accessToken: { token: string } }).accessToken.token;
      const bad = await fetch(url, { method: "POST", headers: { ...headers, authorization: headers.authorization.replace(/Signature=.*/, "Signature=AAAA") }, body });
      assert.equal(bad.status, 401);
      await sleep(200);

      assert.ok(lines.length >= 10, `expected request logs, got ${lines.length} lines`);
      const secrets: [string, string][] = [
        ["alice's token", alice.token], ["alice's token signature", alice.token.split(".")[2]], ["the issued token", newToken],
        ["the access key", logged.accessKey], ["the HMAC signature", signature],
      ];
      for (const line of lines) {
        for (const [name, secret] of secrets) assert.ok(!line.includes(secret), `${name} is in the log: ${line.slice(0, 300)}`);
        const entry = JSON.parse(line) as { reqId?: unknown; req?: unknown; res?: unknown; msg?: string };
        if (entry.req !== undefined || entry.res !== undefined) assert.equal(typeof entry.reqId, "string", `no request id: ${line.slice(0, 300)}`);
      }
      const requestLines = lines.filter((l) => /"req":|"res":/.test(l));
      assert.ok(requestLines.length >= 8, "requests are logged");
    } finally {
      await logged.stop();
    }
  });
});
