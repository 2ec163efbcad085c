// Shared benchmark helpers: start servers as child processes on loopback, sign identity calls, drive HTTP
// load with autocannon, and summarise repeated runs as medians.
import { spawn } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BIN = join(ROOT, "packages/server/bin/natter.js");

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Waits for a line matching `pattern` on the child's output (rejects if it exits first). */
export function waitFor(child, pattern, timeoutMs = 30_000) {
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}: ${out}`)), timeoutMs);
    const onData = (d) => {
      out += d;
      const m = pattern.exec(out);
      if (m) {
        clearTimeout(timer);
        child.off("exit", onExit);
        resolve({ match: m, out });
      }
    };
    const onExit = (code) => reject(new Error(`exited with ${code}: ${out}`));
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", onExit);
  });
}

/** The access key: printed when generated now, else from --access-key or the data folder's file. */
export function accessKeyOf(out, args, data) {
  const printed = /Connection string: \S*accesskey=(\S+)/.exec(out);
  if (printed) return printed[1];
  const i = args.indexOf("--access-key");
  return i >= 0 ? args[i + 1] : readFileSync(join(data, "access-key"), "utf8").trim();
}

/** Starts `natter serve` on loopback with free ports in a fresh data folder. */
export async function startNatterProcess(extraArgs = [], env = {}, nodeArgs = [], dataDir = undefined) {
  const data = dataDir ?? mkdtempSync(join(tmpdir(), "natter-bench-"));
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [...nodeArgs, BIN, "serve", "--data", data, "--port", "0", "--https-port", "0", "--log-level", "silent", ...extraArgs], {
    stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env },
  });
  const { out } = await waitFor(child, /Trust it in Node with: \S+\n/);
  const httpUrl = /HTTP\s+(\S+)/.exec(out)[1];
  // Start-up time: process start until /healthz answers 200.
  for (;;) {
    const ok = await fetch(new URL("/healthz", httpUrl)).then((r) => r.status === 200, () => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const startupMs = Number(process.hrtime.bigint() - started) / 1e6;
  return {
    child, data, httpUrl: httpUrl.replace("localhost", "127.0.0.1"), startupMs,
    accessKey: accessKeyOf(out, extraArgs, data),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(data, { recursive: true, force: true });
    },
  };
}

/** Starts a bare Fastify app (the baseline) as a child process; `route` is "post201" or "get200". */
export async function startBaselineProcess() {
  const child = spawn(process.execPath, [join(ROOT, "bench/baseline-server.mjs")], { stdio: ["ignore", "pipe", "pipe"] });
  const { match } = await waitFor(child, /listening on (\S+)/);
  return { child, httpUrl: match[1], async stop() { child.kill("SIGTERM"); await new Promise((r) => child.once("exit", r)); } };
}

/** RSS of a process in KB, from /proc. */
export async function rssKb(pid) {
  const { readFile } = await import("node:fs/promises");
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
}

/**
 * CPU time of a process, all its threads, user + system (µs, from /proc/<pid>/stat in clock ticks of 10 ms),
 * and the bytes it caused to be written to storage (/proc/<pid>/io write_bytes, page cache write-back included).
 */
export async function processCounters(pid) {
  const { readFile } = await import("node:fs/promises");
  const stat = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1].split(" ");
  const io = await readFile(`/proc/${pid}/io`, "utf8");
  // Fields 14 and 15 of stat (utime, stime): after the ") " split they are at 11 and 12. USER_HZ is 100 on Linux.
  return { cpuUs: (Number(stat[11]) + Number(stat[12])) * 10_000, writeBytes: Number(/write_bytes:\s+(\d+)/.exec(io)[1]) };
}

function signed(url, method, body, accessKey) {
  const date = new Date().toUTCString();
  const hash = createHash("sha256").update(body).digest("base64");
  const sig = createHmac("sha256", Buffer.from(accessKey, "base64")).update(`${method}\n${url.pathname}${url.search}\n${date};${url.host};${hash}`).digest("base64");
  return { "x-ms-date": date, "x-ms-content-sha256": hash, "content-type": "application/json", authorization: `HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=${sig}` };
}

/** Creates a user with a chat token through the Identity API. */
export async function createUser(server) {
  const url = new URL("/identities?api-version=2023-10-01", server.httpUrl);
  const body = JSON.stringify({ createTokenWithScopes: ["chat"] });
  const res = await fetch(url, { method: "POST", headers: signed(url, "POST", body, server.accessKey), body });
  if (res.status !== 201) throw new Error(`createUser: ${res.status} ${await res.text()}`);
  const json = await res.json();
  return { id: json.identity.id, token: json.accessToken.token };
}

/** An access-key (HMAC) signed call, as the Identity API and the event subscription API take them. */
export async function signedApi(server, method, path, body) {
  const url = new URL(path, server.httpUrl);
  const text = body === undefined ? "" : JSON.stringify(body);
  const res = await fetch(url, { method, headers: signed(url, method, text, server.accessKey), body: body === undefined ? undefined : text });
  const answer = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${answer}`);
  return answer ? JSON.parse(answer) : undefined;
}

export async function api(server, token, method, path, body) {
  const res = await fetch(new URL(path, server.httpUrl), {
    method, headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** One autocannon run; `requestsFor(i)` gives connection i its request. Returns req/s and latency percentiles (ms). */
export async function load({ url, connections, seconds, requestsFor, pipelining = 1, rate }) {
  let next = 0;
  const result = await autocannon({
    url, connections, duration: seconds, pipelining, ...(rate ? { overallRate: rate } : {}),
    setupClient: (client) => client.setRequests([requestsFor(next++ % connections)]),
  });
  // Any non-2xx answer is an error here: a benchmark of 401s or 404s measures nothing.
  const errors = result.errors + result.timeouts + (result.non2xx ?? 0);
  return { rps: result.requests.average, mean: result.latency.mean, p50: result.latency.p50, p99: result.latency.p99, errors, total: result.requests.total };
}

export function table(rows) {
  const cols = Object.keys(rows[0]);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (vals) => "| " + vals.map((v, i) => String(v).padEnd(width[i])).join(" | ") + " |";
  return [line(cols), "|" + width.map((w) => "-".repeat(w + 2)).join("|") + "|", ...rows.map((r) => line(cols.map((c) => r[c])))].join("\n");
}

/**
 * Open-loop load at a fixed rate (autocannon's rate limit releases each second's budget in one burst, which
 * measures its own bursts): one request every 1/rate s, spread over `connections` keep-alive sockets.
 * Latency counts from the scheduled send time, so queueing is included. Returns p50/p99 in ms.
 */
export async function paced({ url, rate, seconds, connections, requestsFor }) {
  const http = await import("node:http");
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const latencies = [];
  let errors = 0;
  const total = Math.floor(rate * seconds);
  const start = performance.now();
  const pending = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const req = requestsFor(i % connections);
    pending.push(new Promise((resolve) => {
      const r = http.request(new URL(req.path, url), { method: req.method, headers: req.headers, agent }, (res) => {
        res.resume();
        res.on("end", () => {
          if (res.statusCode >= 300) errors++;
          latencies.push(performance.now() - due);
          resolve();
        });
      });
      r.on("error", () => { errors++; resolve(); });
      r.end(req.body);
    }));
  }
  await Promise.all(pending);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const q = (p) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] * 10) / 10;
  return { p50: q(0.5), p99: q(0.99), errors, sent: total };
}

/** Runs fn(0..n-1) with at most `concurrency` in flight; results in index order. */
export async function pool(n, fn, concurrency = 25) {
  const out = new Array(n);
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  }));
  return out;
}
