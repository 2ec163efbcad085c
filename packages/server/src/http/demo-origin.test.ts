// Issue #18 item 5: the demo sign-in mints tokens without a credential, so it answers same-origin requests to
// an allowed Host only, and never gets CORS headers. A page of another origin, a file:// page (Origin: null)
// and a DNS rebinding page (its own name in Host) are refused. --cors-origins narrows CORS for the API.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { TestNatter } from "../test-support/test-natter.js";
import { createTestUser, startTestNatter } from "../test-support/test-natter.js";
import { loadConfig } from "../config.js";

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: { token?: string; userId?: string; error?: { code: string; message: string } };
}

/** A raw HTTP request, so Host, Origin and Sec-Fetch-* are exactly what a browser (or an attacker) sends. */
function request(base: string, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers: { ...(body ? { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) } : {}), ...headers } }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: text ? JSON.parse(text) : {} }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const signIn = (natter: TestNatter, headers: Record<string, string>) =>
  request(natter.httpUrl, "POST", "/demo/sign-in", headers, JSON.stringify({ displayName: "Victim" }));

describe("demo sign-in: same origin only", () => {
  let natter: TestNatter;
  before(async () => (natter = await startTestNatter()));
  after(() => natter.stop());

  it("refuses a page of another origin (Origin: https://evil.example), and gives it no CORS header", async () => {
    const res = await signIn(natter, { host: `127.0.0.1:${natter.config.port}`, origin: "https://evil.example", "sec-fetch-site": "cross-site", "sec-fetch-mode": "cors" });
    assert.equal(res.status, 403);
    assert.equal(res.body.error?.code, "Forbidden");
    assert.equal(res.body.token, undefined);
    assert.equal(res.headers["access-control-allow-origin"], undefined);
    // Even without Sec-Fetch-Site (an older browser), the Origin alone refuses it.
    const bare = await signIn(natter, { host: `127.0.0.1:${natter.config.port}`, origin: "https://evil.example" });
    assert.equal(bare.status, 403);
  });

  it("refuses a preflight from another origin with no CORS headers, while the API still allows it", async () => {
    const preflight = { origin: "https://evil.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type" };
    const demo = await request(natter.httpUrl, "OPTIONS", "/demo/sign-in", preflight);
    assert.equal(demo.headers["access-control-allow-origin"], undefined);
    assert.notEqual(demo.status, 204);
    const encoded = await request(natter.httpUrl, "OPTIONS", "/%64emo/sign-in", preflight);
    assert.equal(encoded.headers["access-control-allow-origin"], undefined, "a percent-encoded path is the same path");
    const api = await request(natter.httpUrl, "OPTIONS", "/chat/threads?api-version=2024-03-07", preflight);
    assert.equal(api.headers["access-control-allow-origin"], "https://evil.example", "the bearer-token API answers any origin by default");
  });

  it("refuses a local file:// page (Origin: null)", async () => {
    const res = await signIn(natter, { host: `127.0.0.1:${natter.config.port}`, origin: "null" });
    assert.equal(res.status, 403);
    assert.equal(res.body.token, undefined);
  });

  it("refuses DNS rebinding (Host: evil.example:port, Origin the same)", async () => {
    const host = `evil.example:${natter.config.port}`;
    const res = await signIn(natter, { host, origin: `http://${host}`, "sec-fetch-site": "same-origin" });
    assert.equal(res.status, 403);
    assert.equal(res.body.token, undefined);
    // And without Origin (a same-origin GET of the directory with a stolen token is refused too).
    const { token } = await createTestUser(natter);
    const users = await request(natter.httpUrl, "GET", "/demo/users", { host, authorization: `Bearer ${token}`, "sec-fetch-site": "same-origin" });
    assert.equal(users.status, 403);
  });

  it("refuses a same-site page of another port (Sec-Fetch-Site: same-site)", async () => {
    const res = await signIn(natter, { host: `localhost:${natter.config.port}`, origin: "http://localhost:3000", "sec-fetch-site": "same-site" });
    assert.equal(res.status, 403);
  });

  it("signs in a same-origin page (localhost, 127.0.0.1, [::1] Host) and a client without Origin", async () => {
    for (const host of [`localhost:${natter.config.port}`, `127.0.0.1:${natter.config.port}`]) {
      const res = await signIn(natter, { host, origin: `http://${host}`, "sec-fetch-site": "same-origin", "sec-fetch-mode": "cors" });
      assert.equal(res.status, 200, `${host}: ${JSON.stringify(res.body)}`);
      assert.ok(res.body.token);
      assert.equal(res.headers["access-control-allow-origin"], undefined);
      const users = await request(natter.httpUrl, "GET", "/demo/users", { host, authorization: `Bearer ${res.body.token}`, "sec-fetch-site": "same-origin" });
      assert.equal(users.status, 200);
    }
    const v6 = await signIn(natter, { host: `[::1]:${natter.config.port}`, origin: `http://[::1]:${natter.config.port}` });
    assert.equal(v6.status, 200);
    const cli = await signIn(natter, { host: `127.0.0.1:${natter.config.port}` });
    assert.equal(cli.status, 200, "curl and other clients send no Origin");
  });

  it("on HTTPS, the origin's scheme must be https", async () => {
    const port = natter.config.httpsPort;
    const body = JSON.stringify({ displayName: "Tls" });
    const ok = await fetch(new URL("/demo/sign-in", natter.httpsUrl), { method: "POST", headers: { "content-type": "application/json", origin: `https://localhost:${port}` }, body });
    assert.equal(ok.status, 200);
    const wrong = await fetch(new URL("/demo/sign-in", natter.httpsUrl), { method: "POST", headers: { "content-type": "application/json", origin: `http://localhost:${port}` }, body });
    assert.equal(wrong.status, 403);
  });
});

describe("demo sign-in: --demo-hosts", () => {
  it("accepts a configured host name, and still refuses others", async () => {
    const natter = await startTestNatter({ demoHosts: ["chat.test"] });
    try {
      const host = `chat.test:${natter.config.port}`;
      assert.equal((await signIn(natter, { host, origin: `http://${host}`, "sec-fetch-site": "same-origin" })).status, 200);
      const other = `chat2.test:${natter.config.port}`;
      assert.equal((await signIn(natter, { host: other, origin: `http://${other}` })).status, 403);
    } finally {
      await natter.stop();
    }
  });
});

describe("--cors-origins", () => {
  it("parses *, none and origin lists, and refuses paths and wildcards", () => {
    assert.equal(loadConfig([], {}).corsOrigins, "*");
    assert.deepEqual(loadConfig(["--cors-origins", "none"], {}).corsOrigins, []);
    assert.deepEqual(loadConfig([], { NATTER_CORS_ORIGINS: "https://app.example, http://localhost:5173" }).corsOrigins, ["https://app.example", "http://localhost:5173"]);
    for (const bad of ["https://app.example/path", "https://*.example", "app.example", "ftp://x.example"]) {
      assert.throws(() => loadConfig(["--cors-origins", bad], {}), /--cors-origins/, bad);
    }
  });

  it("when set, a preflight of an origin not on the list gets no Access-Control-Allow-Origin; a listed one does", async () => {
    const natter = await startTestNatter({ corsOrigins: ["https://app.example"] });
    try {
      const preflight = (origin: string) => request(natter.httpUrl, "OPTIONS", "/chat/threads?api-version=2024-03-07", {
        origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type",
      });
      assert.equal((await preflight("https://evil.example")).headers["access-control-allow-origin"], undefined);
      assert.equal((await preflight("null")).headers["access-control-allow-origin"], undefined);
      assert.equal((await preflight("https://app.example")).headers["access-control-allow-origin"], "https://app.example");
      const { token } = await createTestUser(natter);
      const evil = await request(natter.httpUrl, "GET", "/chat/threads?api-version=2024-03-07", { origin: "https://evil.example", authorization: `Bearer ${token}` });
      assert.equal(evil.headers["access-control-allow-origin"], undefined);
    } finally {
      await natter.stop();
    }
  });

  it("none: no CORS headers at all", async () => {
    const natter = await startTestNatter({ corsOrigins: [] });
    try {
      const res = await request(natter.httpUrl, "OPTIONS", "/chat/threads?api-version=2024-03-07", { origin: "https://app.example", "access-control-request-method": "GET" });
      assert.equal(res.headers["access-control-allow-origin"], undefined);
    } finally {
      await natter.stop();
    }
  });
});
