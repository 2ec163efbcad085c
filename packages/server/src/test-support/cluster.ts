// Test helpers for multi-node and fault tests: a fresh PostgreSQL database per test file, `natter serve` nodes
// sharing it and one Redis, a round-robin HTTPS load balancer (per request, WebSocket upgrades included), a
// TCP proxy that can be cut (to make PostgreSQL unreachable), and a private redis-server that can be stopped.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { spawnNatter } from "./natter-process.js";
import type { NatterProcess } from "./natter-process.js";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Why multi-node tests cannot run here, or undefined when they can. */
export function clusterSkipReason(): string | undefined {
  const missing = ["NATTER_TEST_PG_URL", "NATTER_TEST_REDIS_URL", "NATTER_TEST_TLS_CERT", "NATTER_TEST_TLS_KEY"].filter((name) => !process.env[name]);
  return missing.length ? `${missing.join(", ")} not set (run through scripts/run-tests.mjs with PostgreSQL and Redis)` : undefined;
}

/** A free loopback TCP port (released again; the caller binds it right away). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// ---- PostgreSQL: one fresh database per test file ----

export interface TestDatabase {
  name: string;
  url: string;
  /** Drops the database (terminating any connection still open). */
  drop(): Promise<void>;
}

/** Creates `<prefix>_<random>` on the server of `baseUrl` (a database URL with rights to CREATE DATABASE). */
export async function createTestDatabase(baseUrl: string, prefix = "natter_mn"): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: baseUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

// ---- natter serve nodes ----

export interface ClusterNode extends NatterProcess {
  index: number;
  /** http://127.0.0.1:<port>/ (no name resolution). */
  loopbackHttpUrl: string;
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
  /** SIGTERM (graceful), wait for the exit, delete the data folder. */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  databaseUrl: string;
  redisUrl: string;
  /** Shared by every node (tokens and HMAC signatures are valid on all). Default: random. */
  accessKey?: string;
  extraArgs?: string[];
  env?: Record<string, string>;
}

/** Starts `count` `natter serve` processes on one database and one Redis, with one access key and the test certificate. */
export async function startNodes(count: number, options: ClusterOptions): Promise<ClusterNode[]> {
  const accessKey = options.accessKey ?? randomBytes(32).toString("base64");
  const start = async (index: number): Promise<ClusterNode> => {
    const data = mkdtempSync(join(tmpdir(), `natter-node${index}-`));
    const args = [
      "--data", data, "--host", "127.0.0.1", "--port", "0", "--https-port", "0", "--access-key", accessKey,
      "--store", "postgres", "--database-url", options.databaseUrl, "--bus", "redis", "--redis-url", options.redisUrl,
      ...(process.env.NATTER_TEST_TLS_CERT ? ["--tls-cert", process.env.NATTER_TEST_TLS_CERT, "--tls-key", process.env.NATTER_TEST_TLS_KEY!] : []),
      ...(options.extraArgs ?? []),
    ];
    let node: NatterProcess;
    try {
      node = await spawnNatter(args, options.env);
    } catch (error) {
      rmSync(data, { recursive: true, force: true });
      throw error;
    }
    const exitOf = async (signal: NodeJS.Signals) => {
      if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill(signal);
      await node.exited;
    };
    return Object.assign(node, {
      index,
      loopbackHttpUrl: node.httpUrl.replace("//localhost:", "//127.0.0.1:"),
      kill: () => exitOf("SIGKILL"),
      async stop() {
        await exitOf("SIGTERM");
        rmSync(data, { recursive: true, force: true });
      },
    });
  };
  // One first (it runs the migrations), then the others together.
  const first = await start(0);
  try {
    return [first, ...(await Promise.all(Array.from({ length: count - 1 }, (_, i) => start(i + 1))))];
  } catch (error) {
    await first.stop();
    throw error;
  }
}

/** Creates a chat user through a node's Identity API; returns its raw id and a chat token. */
export { createUserOverHttp, signedHeaders } from "./natter-process.js";

// ---- a round-robin load balancer ----

export interface RoundRobinProxy {
  /** https://localhost:<port>/: what the SDKs take as endpoint. */
  endpoint: string;
  port: number;
  /** Requests (and WebSocket upgrades) forwarded to each target, by target index. */
  forwarded: number[];
  /** Open WebSocket tunnels per target index. */
  openTunnels(): number[];
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"]);

/**
 * An HTTPS load balancer on loopback (the test certificate) that sends each request to the next target in turn,
 * over HTTP, keeping the Host header (HMAC signatures cover it). WebSocket upgrades are tunnelled the same way.
 * A target that refuses the connection is skipped (the request was not sent, so trying the next one is safe);
 * a target that fails after the request was sent gets a 502 with an ACS error body, as a real balancer would.
 */
export async function startRoundRobinProxy(targets: string[], tls?: { cert: string; key: string }): Promise<RoundRobinProxy> {
  const cert = tls?.cert ?? readFileSync(process.env.NATTER_TEST_TLS_CERT!, "utf8");
  const key = tls?.key ?? readFileSync(process.env.NATTER_TEST_TLS_KEY!, "utf8");
  const ports = targets.map((t) => Number(new URL(t).port));
  const forwarded = targets.map(() => 0);
  const tunnels = new Set<{ target: number; client: net.Socket; upstream: net.Socket }>();
  let next = 0;
  const order = () => {
    const start = next++ % ports.length;
    return ports.map((_, i) => (start + i) % ports.length);
  };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  const server = https.createServer({ cert, key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", () => res.destroy());
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const headers: http.OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(name)) headers[name] = value;
      headers["content-length"] = String(body.length);
      const candidates = order();
      const attempt = (i: number) => {
        if (i >= candidates.length) return fail(503);
        const target = candidates[i];
        const upstream = http.request({ host: "127.0.0.1", port: ports[target], method: req.method, path: req.url, headers, agent }, (up) => {
          forwarded[target]++;
          const out: http.OutgoingHttpHeaders = {};
          for (const [name, value] of Object.entries(up.headers)) if (!HOP_BY_HOP.has(name)) out[name] = value;
          res.writeHead(up.statusCode ?? 502, out);
          up.pipe(res);
          up.on("error", () => res.destroy());
        });
        let sent = false;
        upstream.on("socket", (socket: net.Socket) => {
          if (!socket.connecting) sent = true;
          else socket.once("connect", () => (sent = true));
        });
        upstream.on("error", (error: NodeJS.ErrnoException) => {
          if (res.headersSent) return void res.destroy();
          // Not connected: the request never left, try the next target. Otherwise its outcome is unknown.
          if (!sent || error.code === "ECONNREFUSED") attempt(i + 1);
          else fail(502);
        });
        upstream.end(body);
      };
      const fail = (status: number) => {
        const payload = JSON.stringify({ error: { code: status === 502 ? "BadGateway" : "ServiceUnavailable", message: "No node answered the request." } });
        res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(payload) });
        res.end(payload);
      };
      attempt(0);
    });
  });

  server.on("upgrade", (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    client.on("error", () => {});
    const candidates = order();
    const attempt = (i: number) => {
      if (i >= candidates.length) return client.destroy();
      const target = candidates[i];
      const upstream = net.connect(ports[target], "127.0.0.1");
      upstream.once("error", () => {
        if (upstream.bytesRead === 0 && upstream.bytesWritten === 0) attempt(i + 1);
        else client.destroy();
      });
      upstream.once("connect", () => {
        forwarded[target]++;
        upstream.on("error", () => {});
        const tunnel = { target, client, upstream };
        tunnels.add(tunnel);
        const lines = [`${req.method} ${req.url} HTTP/1.1`];
        for (let h = 0; h < req.rawHeaders.length; h += 2) lines.push(`${req.rawHeaders[h]}: ${req.rawHeaders[h + 1]}`);
        upstream.write(lines.join("\r\n") + "\r\n\r\n");
        if (head.length) upstream.write(head);
        upstream.pipe(client).pipe(upstream);
        const end = () => {
          tunnels.delete(tunnel);
          client.destroy();
          upstream.destroy();
        };
        client.on("close", end);
        upstream.on("close", end);
      });
    };
    attempt(0);
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    endpoint: `https://localhost:${port}/`,
    port,
    forwarded,
    openTunnels: () => targets.map((_, i) => [...tunnels].filter((t) => t.target === i).length),
    async close() {
      for (const t of tunnels) {
        t.client.destroy();
        t.upstream.destroy();
      }
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

// ---- a TCP proxy that can be cut ----

export interface TcpProxy {
  port: number;
  /** Connections accepted so far. */
  accepted(): number;
  /** Resets every open connection; new ones are still accepted (a network blip). */
  cutAll(): void;
  /** Resets every open connection and stops listening: new connections are refused (ECONNREFUSED). */
  cut(): Promise<void>;
  /** A partition: open connections stop carrying data, new ones are accepted but never reach the target. */
  stall(): void;
  /** Ends a cut (listens again on the same port) or a stall (resets the stalled connections). */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** A loopback TCP proxy to `host:port`. */
export async function startTcpProxy(targetPort: number, targetHost = "127.0.0.1"): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const pairs = new Set<[net.Socket, net.Socket]>();
  let accepted = 0;
  let stalled = false;
  let server: net.Server | undefined;
  const listen = async (port: number) => {
    const s = net.createServer((client) => {
      accepted++;
      client.on("error", () => {});
      sockets.add(client);
      client.on("close", () => sockets.delete(client));
      if (stalled) return void client.pause();
      const upstream = net.connect(targetPort, targetHost);
      const pair: [net.Socket, net.Socket] = [client, upstream];
      pairs.add(pair);
      client.on("close", () => pairs.delete(pair));
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on("close", () => sockets.delete(socket));
        socket.on("error", () => {});
      }
      client.pipe(upstream).pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    // Right after a close, the port can be briefly busy: retry.
    for (let tries = 0; ; tries++) {
      try {
        await new Promise<void>((resolve, reject) => {
          s.once("error", reject);
          s.listen(port, "127.0.0.1", () => {
            s.off("error", reject);
            resolve();
          });
        });
        break;
      } catch (error) {
        if (tries > 50) throw error;
        await sleep(100);
      }
    }
    server = s;
    return (s.address() as net.AddressInfo).port;
  };
  const stopListening = async () => {
    const s = server;
    server = undefined;
    for (const socket of sockets) socket.resetAndDestroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  const port = await listen(0);
  return {
    port,
    accepted: () => accepted,
    stall() {
      stalled = true;
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    cutAll: () => sockets.forEach((socket) => socket.resetAndDestroy()),
    cut: stopListening,
    async restore() {
      if (stalled) {
        stalled = false;
        for (const socket of sockets) socket.resetAndDestroy();
      }
      if (!server) await listen(port);
    },
    close: stopListening,
  };
}

// ---- a private redis-server ----

export interface PrivateRedis {
  port: number;
  url: string;
  /** Whether the server is running. */
  running(): boolean;
  /** Stops the server (SIGKILL: connections drop at once, as on a crash or a network cut). */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Runs /usr/bin/redis-server (or REDIS_SERVER) on a free loopback port, without persistence. */
export async function startPrivateRedis(binary = process.env.REDIS_SERVER ?? "/usr/bin/redis-server"): Promise<PrivateRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const start = async () => {
    for (let tries = 0; ; tries++) {
      let out = "";
      const c = spawn(binary, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "yes"], { stdio: ["ignore", "pipe", "pipe"] });
      c.stdout!.on("data", (d) => (out += d));
      c.stderr!.on("data", (d) => (out += d));
      const done = new Promise<void>((resolve) => c.once("exit", () => resolve()));
      const deadline = Date.now() + 10_000;
      while (!/Ready to accept connections/.test(out) && c.exitCode === null && Date.now() < deadline) await sleep(20);
      if (/Ready to accept connections/.test(out)) {
        child = c;
        exited = done;
        return;
      }
      c.kill("SIGKILL");
      await done;
      // The port can be briefly unavailable right after the previous server died.
      if (tries > 20) throw new Error(`redis-server did not start on ${port}: ${out}`);
      await sleep(250);
    }
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (c && c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    await exited;
  };
  await start();
  return { port, url: `redis://127.0.0.1:${port}`, running: () => child !== undefined, stop, start, close: stop };
}

/** Polls `condition` every `intervalMs` until it holds; throws `message()` after `timeoutMs`. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number, message: () => string, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${message()}`);
    await sleep(intervalMs);
  }
}
