// The `natter serve` process: flags and env, printed connection string, healthz, key file, graceful SIGTERM.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NATTER_BIN, signedHeaders, spawnNatter } from "./test-support/natter-process.js";

const BIN = NATTER_BIN;
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const serve = spawnNatter;

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "natter-cli-"));
  dirs.push(d);
  return d;
}

describe("natter serve", () => {
  it("starts on free ports, prints the connection string, keeps its access key owner-only", async () => {
    const data = tempDir();
    const s = await serve(["--data", data, "--port", "0", "--https-port", "0"]);
    try {
      assert.match(s.connectionString, /^endpoint=https:\/\/localhost:\d+\/;accesskey=[A-Za-z0-9+/=]+$/);
      assert.ok(s.connectionString.includes(s.httpsUrl));
      assert.equal((await fetch(new URL("/healthz", s.httpUrl))).status, 200);
      assert.match(s.output(), new RegExp(`NODE_EXTRA_CA_CERTS=${join(data, "tls-cert.pem").replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
      assert.equal(statSync(join(data, "access-key")).mode & 0o777, 0o600);
      assert.equal(statSync(join(data, "tls-key.pem")).mode & 0o777, 0o600);
      const key = /accesskey=(\S+)/.exec(s.connectionString)![1];
      assert.equal(readFileSync(join(data, "access-key"), "utf8").trim(), key);
    } finally {
      s.child.kill("SIGTERM");
      assert.equal(await s.exited, 0);
    }
    // The same data folder keeps the same key on the next start.
    const again = await serve(["--data", data, "--port", "0", "--https-port", "0"]);
    try {
      assert.equal(/accesskey=(\S+)/.exec(again.connectionString)![1], /accesskey=(\S+)/.exec(s.connectionString)![1]);
    } finally {
      again.child.kill("SIGINT");
      assert.equal(await again.exited, 0);
    }
  });

  it("reads NATTER_* environment variables, and flags win over them", async () => {
    const data = tempDir();
    const key = Buffer.alloc(32, 7).toString("base64");
    const s = await serve(["--https-port", "0"], { NATTER_DATA: data, NATTER_PORT: "0", NATTER_HTTPS_PORT: "1", NATTER_ACCESS_KEY: key });
    try {
      assert.ok(s.connectionString.endsWith(`accesskey=${key}`));
      assert.notEqual(new URL(s.httpsUrl).port, "1");
    } finally {
      s.child.kill("SIGTERM");
      await s.exited;
    }
  });

  it("refuses bad configuration with exit code 2 and a clear message", async () => {
    const child = spawn(process.execPath, [BIN, "serve", "--port", "70000"], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    const code = await new Promise((resolve) => child.on("exit", resolve));
    assert.equal(code, 2);
    assert.match(err, /--port must be a port number/);
  });

  it("drains in-flight requests on SIGTERM: every 201 survives a restart", async () => {
    const data = tempDir();
    const s = await serve(["--data", data, "--port", "0", "--https-port", "0"]);
    const key = /accesskey=(\S+)/.exec(s.connectionString)![1];
    const usersUrl = new URL("/identities?api-version=2023-10-01", s.httpUrl);
    const body = JSON.stringify({ createTokenWithScopes: ["chat"] });
    const created = await fetch(usersUrl, { method: "POST", headers: signedHeaders(usersUrl, "POST", body, key), body });
    assert.equal(created.status, 201);
    const { accessToken } = (await created.json()) as { accessToken: { token: string } };
    const auth = { authorization: `Bearer ${accessToken.token}`, "content-type": "application/json" };
    const thread = await fetch(new URL("/chat/threads?api-version=2024-03-07", s.httpUrl), { method: "POST", headers: auth, body: JSON.stringify({ topic: "drain" }) });
    const threadId = ((await thread.json()) as { chatThread: { id: string } }).chatThread.id;
    const messagesUrl = new URL(`/chat/threads/${encodeURIComponent(threadId)}/messages?api-version=2024-03-07`, s.httpUrl);
    const sends = Array.from({ length: 40 }, (_, i) =>
      fetch(messagesUrl, { method: "POST", headers: auth, body: JSON.stringify({ content: `m${i}` }) }).then(
        async (r) => (r.status === 201 ? ((await r.json()) as { id: string }).id : null),
        () => null,
      ),
    );
    await new Promise((r) => setTimeout(r, 5));
    s.child.kill("SIGTERM");
    const ids = (await Promise.all(sends)).filter((id): id is string => id !== null);
    assert.equal(await s.exited, 0);

    const again = await serve(["--data", data, "--port", "0", "--https-port", "0"]);
    try {
      const listUrl = new URL(`/chat/threads/${encodeURIComponent(threadId)}/messages?api-version=2024-03-07&maxPageSize=200`, again.httpUrl);
      const list = (await (await fetch(listUrl, { headers: auth })).json()) as { value: { id: string; type: string; sequenceId: string }[] };
      const stored = new Set(list.value.filter((m) => m.type === "text").map((m) => m.id));
      for (const id of ids) assert.ok(stored.has(id), `message ${id} answered 201 but is missing after restart`);
      const sequences = list.value.map((m) => Number(m.sequenceId)).sort((a, b) => a - b);
      assert.deepEqual(sequences, sequences.map((_, i) => i + 1), "sequence ids are contiguous from 1");
    } finally {
      again.child.kill("SIGTERM");
      await again.exited;
    }
  });

  it("backs up a live database with `natter backup`, and the copy restores", async () => {
    const data = tempDir();
    const s = await serve(["--data", data, "--port", "0", "--https-port", "0"]);
    const key = /accesskey=(\S+)/.exec(s.connectionString)![1];
    const usersUrl = new URL("/identities?api-version=2023-10-01", s.httpUrl);
    const body = JSON.stringify({ createTokenWithScopes: ["chat"] });
    const created = await fetch(usersUrl, { method: "POST", headers: signedHeaders(usersUrl, "POST", body, key), body });
    const { accessToken } = (await created.json()) as { accessToken: { token: string } };
    const auth = { authorization: `Bearer ${accessToken.token}`, "content-type": "application/json" };
    const thread = await fetch(new URL("/chat/threads?api-version=2024-03-07", s.httpUrl), { method: "POST", headers: auth, body: JSON.stringify({ topic: "backup" }) });
    const threadId = ((await thread.json()) as { chatThread: { id: string } }).chatThread.id;
    const messagesUrl = new URL(`/chat/threads/${encodeURIComponent(threadId)}/messages?api-version=2024-03-07`, s.httpUrl);
    for (let i = 0; i < 20; i++) await fetch(messagesUrl, { method: "POST", headers: auth, body: JSON.stringify({ content: `before ${i}` }) });
    // Keep writing while the backup runs: the copy must still be consistent.
    const writing = Promise.all(Array.from({ length: 20 }, (_, i) => fetch(messagesUrl, { method: "POST", headers: auth, body: JSON.stringify({ content: `during ${i}` }) })));
    const file = join(tempDir(), "copy.db");
    const backup = spawn(process.execPath, [BIN, "backup", file, "--data", data], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    backup.stdout.on("data", (d) => (out += d));
    backup.stderr.on("data", (d) => (out += d));
    assert.equal(await new Promise((resolve) => backup.on("exit", resolve)), 0, out);
    assert.equal(statSync(file).mode & 0o777, 0o600, "the copy is as private as the database");
    assert.match(out, /integrity ok/);
    await writing;
    s.child.kill("SIGTERM");
    await s.exited;

    const restored = tempDir();
    copyFileSync(file, join(restored, "natter.db"));
    copyFileSync(join(data, "access-key"), join(restored, "access-key"));
    const again = await serve(["--data", restored, "--port", "0", "--https-port", "0"]);
    try {
      const listUrl = new URL(`/chat/threads/${encodeURIComponent(threadId)}/messages?api-version=2024-03-07&maxPageSize=200`, again.httpUrl);
      const list = (await (await fetch(listUrl, { headers: auth })).json()) as { value: { type: string; content: { message?: string }; sequenceId: string }[] };
      const texts = list.value.filter((m) => m.type === "text").map((m) => m.content.message);
      for (let i = 0; i < 20; i++) assert.ok(texts.includes(`before ${i}`), `before ${i} is in the backup`);
      const sequences = list.value.map((m) => Number(m.sequenceId)).sort((a, b) => a - b);
      assert.deepEqual(sequences, sequences.map((_, i) => i + 1));
    } finally {
      again.child.kill("SIGTERM");
      await again.exited;
    }
  });

  it("serves Prometheus metrics", async () => {
    const s = await serve(["--data", tempDir(), "--port", "0", "--https-port", "0"]);
    try {
      await fetch(new URL("/healthz", s.httpUrl));
      const text = await (await fetch(new URL("/metrics", s.httpUrl))).text();
      assert.match(text, /natter_http_requests_total\{route="\/healthz",method="GET",status="200"\} \d+/);
      assert.match(text, /natter_http_request_duration_seconds_bucket/);
      assert.match(text, /natter_realtime_connections \d+/);
    } finally {
      s.child.kill("SIGTERM");
      await s.exited;
    }
  });
});

describe("docs/configuration.md", () => {
  it("lists every flag and environment variable that config.ts accepts, and no others", async () => {
    const { OPTIONS } = await import("./config.js");
    const doc = readFileSync(new URL("../../../docs/configuration.md", import.meta.url), "utf8");
    const rows = [...doc.matchAll(/^\| `--([a-z-]+)`(?: \/ `--([a-z-]+)`)? \| `(NATTER_[A-Z_]+)`/gm)].flatMap((m) => [m[1], m[2]].filter(Boolean));
    assert.deepEqual([...rows].sort(), OPTIONS.map((o) => o.flag).sort());
    for (const o of OPTIONS) assert.ok(doc.includes(`\`${o.env}\``), `${o.env} documented`);
  });
});
