// Scale-out scenario: durable sendMessage throughput and latency for 1 node on SQLite, 1 node on PostgreSQL,
// and 3 nodes on PostgreSQL + Redis, all on this machine, with the CPU each layer spends per message (Natter
// node processes, PostgreSQL processes, Redis) read from /proc. PostgreSQL and Redis are the running servers
// (NATTER_BENCH_PG_URL / NATTER_BENCH_REDIS_URL, default the local ones); each run uses a fresh database.
// Bus traffic: a 250-member thread whose members listen (realtime WebSockets) spread over 3 nodes, messages sent
// through all three; Redis messages and bytes per send from each node's natter_bus_published_* gauges, for the
// fan-out by node (default) and the one-message-per-recipient fan-out of earlier versions (--bus-fan-out topic).
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import WebSocket from "ws";
import { createUser, api, load, median, paced, pool, startNatterProcess, table } from "./lib.mjs";

const PG_URL = process.env.NATTER_BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const REDIS_URL = process.env.NATTER_BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
const CONNECTIONS = 64;
const MEMBERS = 250;
const API = "api-version=2024-03-07";
const TICK_US = 1e6 / 100; // /proc CPU times are in clock ticks of 1/100 s on Linux

/** CPU time (µs) used so far by the processes whose command name matches. */
function cpuUs(match) {
  let ticks = 0;
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      if (!match(pid, comm)) continue;
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
    } catch {
      // the process ended meanwhile
    }
  }
  return ticks * TICK_US;
}

async function withDatabase(fn) {
  const { default: pg } = await import("pg");
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  const name = `natter_bench_${process.pid}_${Date.now()}`;
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  try {
    return await fn(url.toString());
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
    await admin.end();
  }
}

async function reachable() {
  try {
    const { default: pg } = await import("pg");
    const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
    await c.connect();
    await c.end();
    const { Redis } = await import("ioredis");
    const r = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0 });
    await r.connect();
    await r.quit();
    return undefined;
  } catch (error) {
    return `PostgreSQL (${PG_URL}) or Redis (${REDIS_URL}) unreachable: ${error.message}`;
  }
}

/** Measures one deployment: `nodes` are running natter processes; load is spread over them evenly. */
async function measure(nodes, { seconds, runs }) {
  const users = await Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => createUser(nodes[i % nodes.length])));
  const threads = await Promise.all(users.map((u, i) => api(nodes[i % nodes.length], u.token, "POST", "/chat/threads?api-version=2024-03-07", { topic: "bench" })));
  const body = JSON.stringify({ content: "hello, this is a benchmark message", senderDisplayName: "Bench" });
  // Connection i always talks to node i mod n, as a round-robin balancer with keep-alive would arrange.
  const groups = nodes.map((node, n) => {
    const mine = users.map((u, i) => ({ u, t: threads[i] })).filter((_, i) => i % nodes.length === n);
    return {
      url: node.httpUrl, connections: mine.length,
      requestsFor: (i) => ({
        method: "POST", path: `/chat/threads/${encodeURIComponent(mine[i].t.chatThread.id)}/messages?api-version=2024-03-07`,
        headers: { authorization: `Bearer ${mine[i].u.token}`, "content-type": "application/json" }, body,
      }),
    };
  });
  const nodePids = new Set(nodes.map((n) => String(n.child.pid)));
  const layers = {
    natter: (pid) => nodePids.has(pid),
    postgres: (_pid, comm) => comm === "postgres",
    redis: (_pid, comm) => comm.startsWith("redis-server"),
  };
  await Promise.all(groups.map((g) => load({ ...g, seconds: seconds < 2 ? 0.5 : 1 }))); // warm-up (shorter in quick mode)
  const samples = [];
  const cpu = { natter: [], postgres: [], redis: [] };
  for (let r = 0; r < runs; r++) {
    const before = Object.fromEntries(Object.entries(layers).map(([k, m]) => [k, cpuUs(m)]));
    const parts = await Promise.all(groups.map((g) => load({ ...g, seconds })));
    const total = parts.reduce((a, p) => a + p.total, 0);
    for (const [k, m] of Object.entries(layers)) cpu[k].push((cpuUs(m) - before[k]) / Math.max(1, total));
    samples.push({ rps: parts.reduce((a, p) => a + p.rps, 0), p50: median(parts.map((p) => p.p50)), p99: Math.max(...parts.map((p) => p.p99)), errors: parts.reduce((a, p) => a + p.errors, 0) });
  }
  const max = median(samples.map((s) => s.rps));
  const halfRate = Math.floor(max / 2);
  const half = await Promise.all(groups.map((g) => paced({ ...g, seconds, rate: halfRate / groups.length })));
  return {
    rps: Math.round(max), p50: median(samples.map((s) => s.p50)), p99: median(samples.map((s) => s.p99)),
    p99AtHalfRate: Math.max(...half.map((h) => h.p99)), halfRate, errors: samples.reduce((a, s) => a + s.errors, 0) + half.reduce((a, h) => a + h.errors, 0),
    cpuUsPerMessage: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, Math.round(median(v))])),
  };
}

/** A redis-server of our own (no persistence) on a free loopback port, so its CPU is this bench's alone. */
async function privateRedis() {
  const binary = process.env.REDIS_SERVER ?? "/usr/bin/redis-server";
  if (!existsSync(binary)) return undefined;
  const port = await new Promise((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const { port: free } = srv.address();
      srv.close(() => resolve(free));
    });
  });
  const child = spawn(binary, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  for (const deadline = Date.now() + 10_000; !/Ready to accept connections/.test(out);) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`redis-server did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    url: `redis://127.0.0.1:${port}`, pid: String(child.pid),
    stop: () => new Promise((r) => (child.exitCode !== null ? r() : (child.once("exit", r), child.kill("SIGTERM")))),
  };
}

/**
 * Redis CPU per fan-out, without HTTP or PostgreSQL: three RedisBus instances (three nodes) in this process,
 * MEMBERS topics spread over them, `count` publishMany calls of a 700-byte event; Redis CPU from /proc, this
 * process's CPU (the publisher and the three receivers together) from process.cpuUsage().
 */
async function measureRedisFanOut(redis, fanOut, count) {
  const { RedisBus } = await import("../packages/server/dist/bus/redis/redis-bus.js");
  const prefix = `bench-${process.pid}-${fanOut}:`;
  const buses = [0, 1, 2].map(() => new RedisBus(redis.url, { prefix, fanOut }));
  try {
    await Promise.all(buses.map((b) => b.ready()));
    let got = 0;
    const topics = Array.from({ length: MEMBERS }, (_, i) => `user:8:acs:00000000-0000-0000-0000-000000000000_0000000${i}-aaaa-bbbb-cccc-${String(i).padStart(12, "0")}`);
    await Promise.all(topics.map((t, i) => buses[i % 3].subscribe(t, () => got++)));
    const message = { type: "chatEvent", data: { event: { type: "chatMessageReceived", body: "x".repeat(600) } } };
    const fanOuts = async (n) => {
      for (let i = 0; i < n; i += 20) await Promise.all(Array.from({ length: Math.min(20, n - i) }, () => buses[i % 3].publishMany(topics, message)));
    };
    await fanOuts(50); // warm-up
    while (got < 50 * MEMBERS) await new Promise((r) => setTimeout(r, 5));
    got = 0;
    const redis0 = cpuUs((pid) => pid === redis.pid);
    const self0 = process.cpuUsage();
    await fanOuts(count);
    while (got < count * MEMBERS) await new Promise((r) => setTimeout(r, 5));
    const self = process.cpuUsage(self0);
    return { redisUs: Math.round((cpuUs((pid) => pid === redis.pid) - redis0) / count), clientUs: Math.round((self.user + self.system) / count) };
  } finally {
    await Promise.all(buses.map((b) => b.close()));
  }
}

/** The natter_bus_published_* gauges of a node. */
async function busCounters(node) {
  const text = await (await fetch(new URL("/metrics", node.httpUrl))).text();
  const gauge = (name) => Number(new RegExp(`^${name} (\\d+)`, "m").exec(text)?.[1] ?? NaN);
  return { messages: gauge("natter_bus_published_messages"), bytes: gauge("natter_bus_published_bytes") };
}

/**
 * Bus traffic per send: MEMBERS users in one thread, member i listening on node i mod n (one realtime socket
 * each) and sending through it; `sends` messages paced at `rate`/s from members on every node. Waits until every
 * member got every message, then reads the nodes' bus counters and the CPU each layer spent.
 */
async function measureBus(nodes, { sends, rate, redisPid }) {
  const users = await pool(MEMBERS, (i) => createUser(nodes[i % nodes.length]));
  const ident = (u) => ({ communicationIdentifier: { rawId: u.id, communicationUser: { id: u.id } } });
  const thread = (await api(nodes[0], users[0].token, "POST", `/chat/threads?${API}`, { topic: "bus", participants: users.slice(1, 200).map(ident) })).chatThread.id;
  await api(nodes[0], users[0].token, "POST", `/chat/threads/${encodeURIComponent(thread)}/participants/:add?${API}`, { participants: users.slice(200).map(ident) });
  let received = 0;
  const sockets = await pool(MEMBERS, (i) => new Promise((resolve, reject) => {
    const ws = new WebSocket(`${nodes[i % nodes.length].httpUrl.replace(/^http/, "ws")}realtime?access_token=${encodeURIComponent(users[i].token)}`, { perMessageDeflate: false });
    ws.on("open", () => ws.send('{"type":"hello","protocol":1}'));
    ws.on("message", (data) => {
      const frame = data.toString();
      if (frame.startsWith('{"type":"ready"')) resolve(ws);
      else if (frame.startsWith('{"type":"ping"')) ws.send('{"type":"pong"}');
      else if (frame.includes("bus benchmark message")) received++;
    });
    ws.on("error", reject);
  }), 50);
  try {
    // A send that gets 503 (this shared machine overloaded PostgreSQL) is retried with the same request id, which
    // the server recognises: each message is committed, and fanned out, exactly once.
    const post = async (i) => {
      const node = nodes[i % nodes.length];
      const init = {
        method: "POST",
        headers: { authorization: `Bearer ${users[i % MEMBERS].token}`, "content-type": "application/json", "x-ms-client-request-id": randomUUID() },
        body: JSON.stringify({ content: `bus benchmark message ${i} ${"x".repeat(60)}`, senderDisplayName: "Bench" }),
      };
      for (let attempt = 1; ; attempt++) {
        const res = await fetch(new URL(`/chat/threads/${encodeURIComponent(thread)}/messages?${API}`, node.httpUrl), init);
        await res.arrayBuffer();
        if (res.status === 201) return;
        if (res.status !== 503 || attempt === 5) throw new Error(`sendMessage: ${res.status}`);
        await new Promise((r) => setTimeout(r, 1_000));
      }
    };
    await post(0); // warm-up
    while (received < MEMBERS) await new Promise((r) => setTimeout(r, 20));
    received = 0;
    const nodePids = new Set(nodes.map((n) => String(n.child.pid)));
    const layers = { natter: (pid) => nodePids.has(pid), redis: (pid, comm) => (redisPid ? pid === redisPid : comm.startsWith("redis-server")), postgres: (_pid, comm) => comm === "postgres" };
    const before = await Promise.all(nodes.map(busCounters));
    const cpu0 = Object.fromEntries(Object.entries(layers).map(([k, m]) => [k, cpuUs(m)]));
    // Paced at `rate`, at most 8 in flight (a slow database slows the pace instead of piling up requests).
    const inFlight = new Set();
    const started = Date.now();
    for (let i = 1; i <= sends; i++) {
      while (inFlight.size >= 8) await Promise.race(inFlight);
      const p = post(i).finally(() => inFlight.delete(p));
      inFlight.add(p);
      const due = started + (i * 1000) / rate;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    }
    await Promise.all(inFlight);
    for (const deadline = Date.now() + 60_000; received < sends * MEMBERS && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 20));
    const cpu = Object.fromEntries(Object.entries(layers).map(([k, m]) => [k, Math.round((cpuUs(m) - cpu0[k]) / sends)]));
    const after = await Promise.all(nodes.map(busCounters));
    const sum = (list, k) => list.reduce((a, c) => a + c[k], 0);
    return {
      sends, deliveries: received, expected: sends * MEMBERS,
      messagesPerSend: (sum(after, "messages") - sum(before, "messages")) / sends,
      bytesPerSend: Math.round((sum(after, "bytes") - sum(before, "bytes")) / sends),
      cpuUsPerSend: cpu,
    };
  } finally {
    for (const ws of sockets) ws.terminate();
  }
}

export async function run({ quick }) {
  const options = { seconds: quick ? 1.5 : 8, runs: quick ? 1 : 3 };
  const results = {};
  const bus = {};
  const sqlite = await startNatterProcess();
  try {
    results["1 node, SQLite"] = await measure([sqlite], options);
  } finally {
    await sqlite.stop();
  }
  const unreachable = await reachable();
  if (!unreachable) {
    await withDatabase(async (databaseUrl) => {
      const pgArgs = ["--store", "postgres", "--database-url", databaseUrl];
      const one = await startNatterProcess(pgArgs);
      try {
        results["1 node, PostgreSQL"] = await measure([one], options);
      } finally {
        await one.stop();
      }
      const key = Buffer.from("bench-shared-access-key-0123456789").toString("base64");
      const cluster = [];
      try {
        for (let i = 0; i < 3; i++) cluster.push(await startNatterProcess([...pgArgs, "--bus", "redis", "--redis-url", REDIS_URL, "--access-key", key]));
        results["3 nodes, PostgreSQL + Redis"] = await measure(cluster, options);
      } finally {
        await Promise.all(cluster.map((n) => n.stop()));
      }
      // Bus traffic, the old fan-out (one message per recipient) and the new one (per node) in the same run, on a
      // Redis of our own when there is a redis-server binary (its CPU is then ours alone).
      const own = await privateRedis();
      try {
        for (const fanOut of ["topic", "node"]) {
          const nodes = [];
          try {
            for (let i = 0; i < 3; i++) nodes.push(await startNatterProcess([...pgArgs, "--bus", "redis", "--redis-url", own?.url ?? REDIS_URL, "--access-key", key, "--bus-fan-out", fanOut]));
            bus[fanOut] = await measureBus(nodes, { sends: quick ? 60 : 300, rate: 20, redisPid: own?.pid });
          } finally {
            await Promise.all(nodes.map((n) => n.stop()));
          }
        }
        if (own) {
          // Interleaved A/B, median of 3 each.
          const runs = { topic: [], node: [] };
          for (let r = 0; r < 3; r++) for (const fanOut of ["topic", "node"]) runs[fanOut].push(await measureRedisFanOut(own, fanOut, quick ? 400 : 2000));
          for (const fanOut of ["topic", "node"]) bus[fanOut].redisOnly = { redisUs: median(runs[fanOut].map((x) => x.redisUs)), clientUs: median(runs[fanOut].map((x) => x.clientUs)) };
        }
      } finally {
        await own?.stop();
      }
    });
  }
  const base = results["1 node, SQLite"].rps;
  const rows = Object.entries(results).map(([name, r]) => ({
    deployment: name, "sends/s (median)": r.rps, "vs 1 node SQLite": `${Math.round((r.rps / base) * 100)}%`,
    "p50 ms": r.p50, "p99 ms": r.p99, "p99 ms @ half rate": r.p99AtHalfRate,
    "CPU µs/msg natter": r.cpuUsPerMessage.natter, "postgres": r.cpuUsPerMessage.postgres, "redis": r.cpuUsPerMessage.redis, errors: r.errors,
  }));
  const notes = [
    "CPU µs/msg: CPU time (user + system) of each layer's processes during the measured runs, divided by the messages sent; it includes the HTTP stack, auth, validation and the event fan-out in the natter column. All processes, the load generator included, share the same 2 cores, so three nodes cannot be faster than one here: the figure to read for scale-out is the cost per message of each layer, which says how far one PostgreSQL carries a cluster on bigger machines (see docs/scaling.md).",
    unreachable ? `PostgreSQL cases skipped: ${unreachable}.` : "",
    bus.node && bus.topic ? busNotes(bus) : "",
  ].filter(Boolean).join("\n\n");
  return { name: "scale-out", description: `POST sendMessage, ${CONNECTIONS} connections over 64 threads spread evenly over the nodes, ${options.runs} run(s) of ${options.seconds} s (median)`, rows, results: { ...results, bus }, notes };
}

function busNotes(bus) {
  const row = (name, r) => ({
    "fan-out": name, "bus messages/send": r.messagesPerSend, "bus bytes/send": r.bytesPerSend, deliveries: `${r.deliveries}/${r.expected}`,
    "CPU µs/send natter": r.cpuUsPerSend.natter, redis: r.cpuUsPerSend.redis, postgres: r.cpuUsPerSend.postgres,
    "natter µs/delivery": Math.round((r.cpuUsPerSend.natter / MEMBERS) * 10) / 10,
  });
  const ratio = (k) => Math.round((bus.topic[k] / bus.node[k]) * 10) / 10;
  return [
    `Bus traffic per send: one thread of ${MEMBERS} members, member i listening (a realtime WebSocket) on node i mod 3 and sending through it, ${bus.node.sends} sends paced at 20/s (at most 8 in flight); bus figures from the nodes' natter_bus_published_messages/bytes gauges, CPU from /proc over the sends and their deliveries. "by recipient" is --bus-fan-out topic (the fan-out before this change), "by node" the default; same run.`,
    table([row("by recipient (old)", bus.topic), row("by node (new)", bus.node)]),
    `By node: ${ratio("messagesPerSend")}× fewer bus messages and ${ratio("bytesPerSend")}× fewer bus bytes per send.`,
    ...(bus.node.redisOnly ? [`Redis alone (three RedisBus instances in the bench process on a private redis-server, ${MEMBERS} topics over them, publishMany of a 700-byte event, interleaved, median of 3): Redis CPU per fan-out by recipient ${bus.topic.redisOnly.redisUs} µs, by node ${bus.node.redisOnly.redisUs} µs; CPU of the publisher and the three receivers together ${bus.topic.redisOnly.clientUs} µs and ${bus.node.redisOnly.clientUs} µs.`] : []),
  ].join("\n\n");
}
