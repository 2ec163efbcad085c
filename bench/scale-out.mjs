// Scale-out scenario: durable sendMessage throughput and latency for 1 node on SQLite, 1 node on PostgreSQL,
// and 3 nodes on PostgreSQL + Redis, all on this machine, with the CPU each layer spends per message (Natter
// node processes, PostgreSQL processes, Redis) read from /proc. PostgreSQL and Redis are the running servers
// (NATTER_BENCH_PG_URL / NATTER_BENCH_REDIS_URL, default the local ones); each run uses a fresh database.
import { readdirSync, readFileSync } from "node:fs";
import { createUser, api, load, median, paced, startNatterProcess } from "./lib.mjs";

const PG_URL = process.env.NATTER_BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const REDIS_URL = process.env.NATTER_BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
const CONNECTIONS = 64;
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

export async function run({ quick }) {
  const options = { seconds: quick ? 1.5 : 8, runs: quick ? 1 : 3 };
  const results = {};
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
  ].filter(Boolean).join("\n\n");
  return { name: "scale-out", description: `POST sendMessage, ${CONNECTIONS} connections over 64 threads spread evenly over the nodes, ${options.runs} run(s) of ${options.seconds} s (median)`, rows, results, notes };
}
