// PostgreSQL latency scenario (#16): does the distance to the database cap a node's send rate? One Natter node
// on PostgreSQL reached through a TCP proxy that delays every chunk by rtt/2 in each direction (0, 1, 5, 10 ms
// of round trip), with 16, 64 and 256 senders, each on a thread of its own. Runs this build ("new") and, when
// given one, an older build ("old": `--old-bin /path/to/packages/server/bin/natter.js`, or NATTER_BENCH_OLD_BIN) in
// the same run, so the ratios compare like with like on a noisy machine. Each measurement uses a fresh database.
//   node bench/run.mjs --only pg-latency [--quick]      (or: node bench/pg-latency.mjs [--quick] [--old-bin …])
// Options (env): NATTER_BENCH_RTTS="0,1,5,10", NATTER_BENCH_SENDERS="16,64,256", NATTER_BENCH_POOL (the new
// build's --database-pool-size, default 64; the old build has a fixed pool of 10).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, api, createUser, load, table, waitFor } from "./lib.mjs";

const PG_URL = process.env.NATTER_BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const NEW_BIN = join(ROOT, "packages/server/bin/natter.js");
const list = (v, d) => (v ?? d).split(",").map(Number);
const RTTS = list(process.env.NATTER_BENCH_RTTS, "0,1,5,10");
const SENDERS = list(process.env.NATTER_BENCH_SENDERS, "16,64,256");
const POOL = Number(process.env.NATTER_BENCH_POOL ?? 64);

/**
 * A TCP proxy to PostgreSQL adding `rttMs` of round trip: each chunk is forwarded rtt/2 after it arrived, in
 * order, in both directions (a delay line, not a bandwidth limit).
 */
export async function latencyProxy(target, rttMs) {
  const half = rttMs / 2;
  const sockets = new Set();
  const pipe = (from, to) => {
    // One FIFO queue and one timer per direction: chunks leave in arrival order (separate timers could fire out
    // of order and corrupt the protocol stream).
    const queue = [];
    let timer;
    const flush = () => {
      timer = undefined;
      const now = performance.now();
      while (queue.length > 0 && queue[0].due <= now + 0.05) if (to.writable) to.write(queue.shift().chunk); else queue.shift();
      if (queue.length > 0) timer = setTimeout(flush, Math.max(0, queue[0].due - performance.now()));
    };
    from.on("data", (chunk) => {
      if (half === 0) return void to.write(chunk);
      queue.push({ due: performance.now() + half, chunk });
      timer ??= setTimeout(flush, half);
    });
    from.on("close", () => setTimeout(() => to.destroy(), half + 1));
    from.on("error", () => to.destroy());
  };
  const server = createServer((client) => {
    client.setNoDelay(true);
    const upstream = connect(target.port, target.host);
    upstream.setNoDelay(true);
    sockets.add(client).add(upstream);
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: server.address().port,
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(resolve);
    }),
  };
}

async function startNode(bin, databaseUrl) {
  const data = mkdtempSync(join(tmpdir(), "natter-bench-"));
  const child = spawn(process.execPath, [bin, "serve", "--data", data, "--port", "0", "--https-port", "0", "--log-level", "silent",
    "--store", "postgres", "--database-url", databaseUrl], {
    stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NATTER_DATABASE_POOL_SIZE: String(POOL) },
  });
  const { out } = await waitFor(child, /Trust it in Node with: \S+\n/, 60_000);
  const httpUrl = /HTTP\s+(\S+)/.exec(out)[1].replace("localhost", "127.0.0.1");
  const { readFileSync } = await import("node:fs");
  return {
    child, httpUrl, accessKey: readFileSync(join(data, "access-key"), "utf8").trim(),
    async stop() {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
      rmSync(data, { recursive: true, force: true });
    },
  };
}

async function measureOne(bin, rtt, senders, seconds) {
  const { default: pg } = await import("pg");
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  const name = `natter_bench_lat_${process.pid}_${Date.now()}`;
  await admin.query(`CREATE DATABASE ${name}`);
  const target = new URL(PG_URL);
  const proxy = await latencyProxy({ host: target.hostname, port: Number(target.port || 5432) }, rtt);
  const url = new URL(PG_URL);
  url.hostname = "127.0.0.1";
  url.port = String(proxy.port);
  url.pathname = `/${name}`;
  let node;
  try {
    node = await startNode(bin, url.toString());
    // Set-up in parallel batches: 256 users and threads through a 10 ms database take a while one by one.
    const users = [];
    for (let i = 0; i < senders; i += 32) users.push(...await Promise.all(Array.from({ length: Math.min(32, senders - i) }, () => createUser(node))));
    const threads = [];
    for (let i = 0; i < senders; i += 32) {
      threads.push(...await Promise.all(users.slice(i, i + 32).map((u) => api(node, u.token, "POST", "/chat/threads?api-version=2024-03-07", { topic: "lat" }))));
    }
    const body = JSON.stringify({ content: "hello, this is a benchmark message", senderDisplayName: "Bench" });
    const group = {
      url: node.httpUrl, connections: senders,
      requestsFor: (i) => ({
        method: "POST", path: `/chat/threads/${encodeURIComponent(threads[i].chatThread.id)}/messages?api-version=2024-03-07`,
        headers: { authorization: `Bearer ${users[i].token}`, "content-type": "application/json" }, body,
      }),
    };
    await load({ ...group, seconds: 1 }); // warm-up: pool connections, prepared statements
    const r = await load({ ...group, seconds });
    return { rps: Math.round(r.rps), p50: r.p50, p99: r.p99, errors: r.errors };
  } finally {
    await node?.stop();
    await proxy.close();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
    await admin.end();
  }
}

export async function run({ quick, oldBin = oldBinFromArgs() }) {
  const seconds = quick ? 2 : 5;
  const builds = [["new", NEW_BIN], ...(oldBin ? [["old", oldBin]] : [])];
  const results = {};
  const rows = [];
  for (const senders of SENDERS) {
    for (const [label, bin] of builds) {
      const byRtt = {};
      // Interleaved per row: each build's row is measured back to back, so machine noise hits both alike.
      for (const rtt of RTTS) byRtt[rtt] = await measureOne(bin, rtt, senders, seconds);
      results[`${label}, ${senders} senders`] = byRtt;
      const first = byRtt[RTTS[0]].rps;
      const last = byRtt[RTTS.at(-1)];
      rows.push({
        build: label, senders, ...Object.fromEntries(RTTS.map((r) => [`${r} ms rtt: sends/s`, byRtt[r].rps])),
        [`${RTTS.at(-1)} ms / ${RTTS[0]} ms`]: `${Math.round((100 * last.rps) / Math.max(1, first))}%`, [`p50 at ${RTTS.at(-1)} ms`]: `${last.p50} ms`,
      });
      console.error(`pg-latency: ${label}, ${senders} senders: ${RTTS.map((r) => `${r} ms ${byRtt[r].rps}/s`).join(", ")}`);
    }
  }
  const notes = [
    `new: --database-pool-size ${POOL} (NATTER_BENCH_POOL); old: its fixed pool of 10 connections and the event lock.`,
    `Target (#16): at ${RTTS.at(-1)} ms, sends/s at least 50% of the same run's 0 ms figure.`,
    `median of one ${seconds} s run per cell; errors: ${Object.values(results).flatMap((r) => Object.values(r)).reduce((a, r) => a + r.errors, 0)}`,
  ].join(" ");
  return { name: "pg-latency", description: "POST sendMessage, 1 node on PostgreSQL behind a latency-injecting TCP proxy, each sender on its own thread", rows, results, notes };
}

function oldBinFromArgs() {
  const i = process.argv.indexOf("--old-bin");
  return i > 0 ? process.argv[i + 1] : process.env.NATTER_BENCH_OLD_BIN;
}

// Run on its own: node bench/pg-latency.mjs [--quick] [--old-bin …]
if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await run({ quick: process.argv.includes("--quick") });
  console.log(`${result.name}: ${result.description}`);
  console.log(table(result.rows));
  console.log(result.notes);
}
