// Where a durable send's CPU goes on PostgreSQL, for A/B runs of two builds on a shared machine:
//   node bench/pg-send-cpu.mjs [root] [--rounds 3] [--sends 3000] [--trace] [--cpu-prof dir]
// One `natter serve --store postgres` of the build at `root` (default: this checkout) on a fresh database, 64
// users each sending to a thread of their own over 64 keep-alive connections (as the scale-out scenario does),
// `--sends` requests per round. Per send: node CPU (the natter process), PostgreSQL CPU of the backends
// connected to this bench's database only (so other databases' work on a shared server is not counted) and of
// the server's shared processes (WAL writer, checkpointer, background writer, autovacuum: counted whole, they
// serve every database), and WAL bytes, records, full-page images and fsyncs (pg_current_wal_lsn, pg_stat_wal:
// server-wide). --trace counts the statements the
// node sends per send (a pg.Client.query hook loaded with --import).
import { readdirSync, readFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { spawn } from "node:child_process";
import autocannon from "autocannon";
import { accessKeyOf, api, createUser, median, waitFor } from "./lib.mjs";

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const root = resolve(args[0] && !args[0].startsWith("--") ? args[0] : ".");
const rounds = Number(opt("--rounds", 3));
const sends = Number(opt("--sends", 3000));
const trace = args.includes("--trace");
const cpuProf = opt("--cpu-prof", undefined);
const PG_URL = process.env.NATTER_BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const TICK_US = 1e6 / 100;

function ticksOf(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}
/** CPU µs of postgres processes: [backends of `db`, shared background processes]. */
function pgCpu(db) {
  let own = 0, shared = 0;
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
      if (comm !== "postgres") continue;
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      if (cmd.includes(` ${db} `)) own += ticksOf(pid);
      else if (/^postgres: (\S+: )?(walwriter|checkpointer|background writer|autovacuum|logical replication launcher)/.test(cmd)) shared += ticksOf(pid);
    } catch {
      // ended meanwhile
    }
  }
  return [own * TICK_US, shared * TICK_US];
}

const { default: pg } = await import("pg");
const admin = new pg.Client({ connectionString: PG_URL });
await admin.connect();
const db = `natter_sendcpu_${process.pid}`;
await admin.query(`CREATE DATABASE ${db}`);
const url = new URL(PG_URL);
url.pathname = `/${db}`;
const traceFile = join(mkdtempSync(join(tmpdir(), "natter-trace-")), "trace.json");
const hook = new URL("./pg-trace-hook.mjs", import.meta.url).pathname;
const dataDir = mkdtempSync(join(tmpdir(), "natter-sendcpu-"));
const nodeArgs = [...(trace ? ["--import", hook] : []), ...(cpuProf ? ["--cpu-prof", "--cpu-prof-dir", cpuProf] : [])];
const child = spawn(process.execPath, [...nodeArgs, join(root, "packages/server/bin/natter.js"), "serve", "--data", dataDir, "--port", "0", "--https-port", "0",
  "--log-level", "silent", "--store", "postgres", "--database-url", url.toString()], {
  stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NATTER_PG_TRACE: trace ? traceFile : "", NATTER_PG_TRACE_ROOT: root },
});
try {
  const { out } = await waitFor(child, /Trust it in Node with: \S+\n/);
  const server = { httpUrl: /HTTP\s+(\S+)/.exec(out)[1].replace("localhost", "127.0.0.1"), accessKey: accessKeyOf(out, [], dataDir) };
  for (;;) {
    if (await fetch(new URL("/healthz", server.httpUrl)).then((r) => r.status === 200, () => false)) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const users = await Promise.all(Array.from({ length: 64 }, () => createUser(server)));
  const threads = await Promise.all(users.map((u) => api(server, u.token, "POST", "/chat/threads?api-version=2024-03-07", { topic: "bench" })));
  const body = JSON.stringify({ content: "hello, this is a benchmark message", senderDisplayName: "Bench" });
  let next = 0;
  const run = (amount) => autocannon({
    url: server.httpUrl, connections: 64, amount,
    setupClient: (c) => {
      const i = next++ % 64;
      c.setRequests([{ method: "POST", path: `/chat/threads/${encodeURIComponent(threads[i].chatThread.id)}/messages?api-version=2024-03-07`,
        headers: { authorization: `Bearer ${users[i].token}`, "content-type": "application/json" }, body }]);
    },
  });
  await run(Math.min(1000, sends));
  const wal = async () => (await admin.query("SELECT pg_current_wal_lsn() AS l")).rows[0].l;
  const walStats = async () => (await admin.query("SELECT wal_records::float8 AS records, wal_fpi::float8 AS fpi, wal_sync::float8 AS sync FROM pg_stat_wal")).rows[0];
  const walBytes = async (a, b) => Number((await admin.query("SELECT pg_wal_lsn_diff($1, $2) AS d", [b, a])).rows[0].d);
  const samples = [];
  if (trace) child.kill("SIGUSR2"); // the hook starts counting
  for (let r = 0; r < rounds; r++) {
    const n0 = ticksOf(child.pid) * TICK_US, [o0, s0] = pgCpu(db), w0 = await wal(), st0 = await walStats();
    const res = await run(sends);
    const n1 = ticksOf(child.pid) * TICK_US, [o1, s1] = pgCpu(db), w1 = await wal(), st1 = await walStats();
    const total = res.requests.total, errors = res.errors + res.timeouts + (res.non2xx ?? 0);
    samples.push({ node: (n1 - n0) / total, pgOwn: (o1 - o0) / total, pgShared: (s1 - s0) / total, wal: (await walBytes(w0, w1)) / total,
      walRecords: (st1.records - st0.records) / total, fpiPer1000: (1000 * (st1.fpi - st0.fpi)) / total, fsyncsPer1000: (1000 * (st1.sync - st0.sync)) / total, rps: res.requests.average, errors });
  }
  if (trace) {
    child.kill("SIGUSR2"); // the hook writes its counts
    await new Promise((r) => setTimeout(r, 300));
    const counts = JSON.parse(readFileSync(traceFile, "utf8"));
    const total = rounds * sends;
    console.log("statements per send (node → PostgreSQL):");
    for (const [text, n] of Object.entries(counts).sort((a, b) => b[1] - a[1])) console.log(`  ${(n / total).toFixed(3)}  ${text.replace(/\s+/g, " ").slice(0, 150)}`);
  }
  const m = (k) => Math.round(median(samples.map((s) => s[k])));
  console.log(JSON.stringify({ root, rounds, sends, nodeUs: m("node"), pgOwnUs: m("pgOwn"), pgSharedUs: m("pgShared"), pgUs: m("pgOwn") + m("pgShared"), walBytes: m("wal"), walRecords: median(samples.map((s) => s.walRecords)).toFixed(1), fpiPer1000: m("fpiPer1000"), fsyncsPer1000: m("fsyncsPer1000"), rps: m("rps"), errors: samples.reduce((a, s) => a + s.errors, 0), samples: samples.map((s) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, Math.round(v)]))) }));
} finally {
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
  await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => {});
  await admin.end();
}
