// Scenario: peers side by side. The same group-chat fan-out workload against Natter, Prosody (MUC + mod_muc_mam)
// and ejabberd (MUC + mod_mam): one room of N members, every member connected and receiving every message,
// M of them sending paced messages with their send time in the body. Per server: a ramp finds the highest
// sustainable message rate (every delivery arrives, ≥ 90% of the offered deliveries/s, p99 ≤ P99_LIMIT_MS),
// then send→receive latency is measured at one common rate (half of the lowest maximum) on all three.
//
// Natter: a thread of N participants (Identity API users), members on /realtime WebSockets in client child
// processes (bench/ws-client-proc.mjs), senders POST sendMessage from this process (keep-alive, one connection
// per sender). XMPP: members log in with @xmpp/client (bench/peers-xmpp-proc.mjs) and join the room; the M
// senders live in their own child process and send groupchat messages. Prosody and ejabberd come from Debian
// packages (installed with apt-get when missing, except in quick mode) and run as child processes in the
// foreground with a generated config in a temp dir: their own data dir, c2s on 127.0.0.1 only, no s2s, no
// HTTP, ejabberd as a non-distributed Erlang node (no epmd, no node name: nothing to collide with RabbitMQ).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { api, createUser, median, paced, pool, ROOT } from "./lib.mjs";
import { mergeSorted, nowMs, pct, startClientProcess, startNatterRaised } from "./ws-lib.mjs";

const API = "api-version=2024-03-07";
const DOMAIN = "bench.local";
const MUC_DOMAIN = `conference.${DOMAIN}`;
const ROOM = `bench@${MUC_DOMAIN}`;
const SENDERS = 5;
const RECEIVER_PROCESSES = 2;
const P99_LIMIT_MS = 250; // a step whose p99 exceeds this is not sustainable (as in fanout.mjs)
const log = (...a) => console.error("[peers]", ...a);

const marker = () => `@@T${nowMs().toFixed(3)}@@`;
const ident = (id) => ({ communicationIdentifier: { rawId: id, communicationUser: { id } } });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** User and system CPU time of a process in ms (clock ticks of 10 ms). */
const cpuMs = (pid) => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8");
    const x = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return (Number(x[11]) + Number(x[12])) * 10;
  } catch {
    return NaN;
  }
};

const freePort = () => new Promise((resolve, reject) => {
  const s = createServer();
  s.once("error", reject);
  s.listen(0, "127.0.0.1", () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});

// ---------- installing and running the peers ----------

/**
 * Storage of the peers. "sqlite" (default): SQL storage on SQLite, the backend both projects recommend for MAM
 * and the engine Natter uses (Prosody: mod_storage_sql + LuaDBI; ejabberd: sql_type sqlite). "builtin"
 * (NATTER_BENCH_PEERS_STORAGE=builtin): Prosody's internal file store and ejabberd's Mnesia.
 */
const STORAGE = process.env.NATTER_BENCH_PEERS_STORAGE === "builtin" ? "builtin" : "sqlite";
const PACKAGES = {
  prosody: STORAGE === "sqlite" ? ["prosody", "lua-dbi-sqlite3"] : ["prosody"],
  ejabberd: STORAGE === "sqlite" ? ["ejabberd", "erlang-p1-sqlite3"] : ["ejabberd"],
};
const isInstalled = (pkg) => spawnSync("dpkg-query", ["-W", "-f=${Status}", pkg], { encoding: "utf8" }).stdout?.includes("install ok installed");

/** Makes sure the Debian packages are there; returns undefined when they are, else the reason to skip the peer. */
function ensurePackages(peer, quick) {
  const missing = PACKAGES[peer].filter((p) => !isInstalled(p));
  if (!missing.length) return undefined;
  if (quick) return `not installed: ${missing.join(", ")} (quick mode does not install; a full run does: apt-get install ${missing.join(" ")})`;
  log(`${peer}: missing Debian packages ${missing.join(", ")}; installing them with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  // Keep the package's maintainer scripts from starting the system service (which would listen on all
  // interfaces): a policy-rc.d that denies every action, only for the install and only if none exists.
  const policy = "/usr/sbin/policy-rc.d";
  const ours = !existsSync(policy);
  try {
    if (ours) {
      log(`writing ${policy} (exit 101: no service starts) for the install; removed afterwards`);
      writeFileSync(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
    }
    for (const args of [["update"], ["install", "-y", "--no-install-recommends", ...missing]]) {
      log(`$ apt-get ${args.join(" ")}`);
      const r = spawnSync("apt-get", args, { env, stdio: ["ignore", "inherit", "inherit"] });
      if (r.status !== 0 && args[0] === "install") return `apt-get install ${missing.join(" ")} failed (exit ${r.status ?? r.error?.code})`;
    }
  } finally {
    if (ours) rmSync(policy, { force: true });
  }
  const still = missing.filter((p) => !isInstalled(p));
  return still.length ? `still not installed after apt-get install: ${still.join(", ")}` : undefined;
}

async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM"); // both servers shut down cleanly on SIGTERM (Prosody: mod_posix; Erlang/OTP: init:stop)
  const t = setTimeout(() => child.kill("SIGKILL"), 20_000);
  await exited;
  clearTimeout(t);
}

/** Prosody 0.12 in the foreground (-F) with its own config, data dir and c2s port on 127.0.0.1. */
async function startProsody() {
  const dir = mkdtempSync(join(tmpdir(), "peers-prosody-"));
  const port = await freePort();
  mkdirSync(join(dir, "data"));
  mkdirSync(join(dir, "certs"));
  const config = join(dir, "prosody.cfg.lua");
  writeFileSync(config, `-- generated by bench/peers.mjs
run_as_root = true -- the bench may run as root (a container); Prosody otherwise refuses to
pidfile = "${dir}/prosody.pid"
data_path = "${dir}/data"
certificates = "${dir}/certs"
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { ${port} }
c2s_interfaces = { "127.0.0.1" }
c2s_direct_tls_ports = {}
legacy_ssl_ports = {}
s2s_ports = {}
component_ports = {}
http_ports = {}
https_ports = {}
modules_enabled = { "saslauth", "disco", "register", "ping", "roster" }
modules_disabled = { "s2s", "admin_socket" }
log = { { levels = { min = "warn" }, to = "console" } }
-- Persistence (accounts, rooms and the MUC archive) under data_path: ${STORAGE === "sqlite"
    ? `SQLite through mod_storage_sql.
storage = "sql"
sql = { driver = "SQLite3", database = "prosody.sqlite" }`
    : `Prosody's built-in file store.
storage = "internal"`}
-- The internal store caps an archive at 10,000 items by default; mod_muc_mam then truncates the room's archive
-- (deletes the oldest messages, rewriting the whole list file on every truncation). History is to be kept.
storage_archive_item_limit = 1000000000
authentication = "internal_hashed"
c2s_require_encryption = false -- loopback only, no certificate
allow_unencrypted_plain_auth = true
allow_registration = true -- in-band registration (XEP-0077) of the bench users; 127.0.0.1 is whitelisted
VirtualHost "${DOMAIN}"
Component "${MUC_DOMAIN}" "muc"
  modules_enabled = { "muc_mam" }
  restrict_room_creation = false
  muc_room_locking = false
  muc_room_default_persistent = true
  muc_room_default_history_length = 0
  muc_log_by_default = true -- mod_muc_mam: archive every room's messages
  muc_log_all_rooms = true
  archive_expires_after = "never"
  max_archive_query_results = 100
`);
  const child = spawn("prosody", ["-F", "--config", config], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.resume();
  child.stderr.resume();
  // warn-level console log: the only sign of readiness is the port; poll it.
  const t0 = Date.now();
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`prosody exited with ${child.exitCode}`);
      if (await portOpen(port)) break;
      if (Date.now() - t0 > 30_000) throw new Error("prosody did not open its c2s port within 30 s");
      await sleep(50);
    }
  } catch (e) {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    name: "prosody", child, pid: child.pid, port, dir, version: pkgVersion("prosody"),
    async stop() {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const portOpen = (port) => new Promise((resolve) => {
  const s = netConnect({ port, host: "127.0.0.1" });
  s.once("connect", () => { s.destroy(); resolve(true); });
  s.once("error", () => resolve(false));
});

/**
 * ejabberd 23.01 as `ejabberdctl foreground` would run it, but started with erl directly (ejabberdctl su's to
 * the ejabberd user and would start a named, distributed node): no -sname, so the node is nonode@nohost,
 * not distributed, and neither uses nor starts epmd. Own config, Mnesia spool dir and log dir.
 */
async function startEjabberd() {
  const dir = mkdtempSync(join(tmpdir(), "peers-ejabberd-"));
  const port = await freePort();
  for (const d of ["spool", "logs"]) mkdirSync(join(dir, d));
  const config = join(dir, "ejabberd.yml");
  writeFileSync(config, `# generated by bench/peers.mjs
hosts:
  - ${DOMAIN}
loglevel: warning
log_rotate_count: 0
${STORAGE === "sqlite"
    ? `# Persistence (accounts, rooms, the MAM archive): SQLite, created from ejabberd's lite.sql on first start.
default_db: sql
sql_type: sqlite
sql_database: "${join(dir, "spool/ejabberd.db")}"`
    : "# Persistence: Mnesia on disk in the spool dir (accounts, rooms: disc tables; the MAM archive: disc_only).\ndefault_db: mnesia"}
auth_method: internal
auth_password_format: scram
registration_timeout: infinity
listen:
  -
    port: ${port}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls_required: false
    max_stanza_size: 262144
    backlog: 1024
access_rules:
  register:
    allow: all
  local:
    allow: all
  muc_create:
    allow: all
  muc:
    allow: all
api_permissions: {}
modules:
  mod_disco: {}
  mod_ping: {}
  mod_roster: {}
  mod_register:
    ip_access: all
    access: register
  mod_mam:
    db_type: ${STORAGE === "sqlite" ? "sql" : "mnesia"}
    default: always
  mod_muc:
    host: ${MUC_DOMAIN}
    db_type: ${STORAGE === "sqlite" ? "sql" : "mnesia"}
    access: muc
    access_create: muc_create
    access_persistent: muc_create
    history_size: 0
    max_users: 1000
    default_room_options:
      persistent: true
      mam: true
      public: true
      max_users: 1000
`);
  const env = {
    ...process.env, HOME: dir, EJABBERD_CONFIG_PATH: config, EJABBERD_LOG_PATH: join(dir, "logs/ejabberd.log"),
    ERL_LIBS: "/usr/lib/x86_64-linux-gnu", ERL_CRASH_DUMP: join(dir, "logs/erl_crash.dump"), ERL_MAX_PORTS: "32000", ERL_MAX_ETS_TABLES: "1400",
  };
  const child = spawn("erl", ["-noinput", "-noshell", "+K", "true", "+P", "250000", "-env", "ERL_CRASH_DUMP_BYTES", "0",
    "-mnesia", "dir", `"${join(dir, "spool")}"`, "-s", "ejabberd"], { cwd: join(dir, "spool"), env, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.resume();
  child.stderr.resume();
  const t0 = Date.now();
  try {
    for (;;) {
      if (child.exitCode !== null) {
        const logText = existsSync(env.EJABBERD_LOG_PATH) ? readFileSync(env.EJABBERD_LOG_PATH, "utf8").slice(-2000) : "";
        throw new Error(`ejabberd exited with ${child.exitCode}: ${logText}`);
      }
      if (await portOpen(port)) break;
      if (Date.now() - t0 > 60_000) throw new Error("ejabberd did not open its c2s port within 60 s");
      await sleep(100);
    }
  } catch (e) {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    name: "ejabberd", child, pid: child.pid, port, dir, version: pkgVersion("ejabberd"),
    async stop() {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function pkgVersion(pkg) {
  try {
    return execFileSync("dpkg-query", ["-W", "-f=${Version}", pkg], { encoding: "utf8" }).trim();
  } catch {
    return "?";
  }
}

/** In-band registration (XEP-0077) of one account over a raw c2s stream (no TLS, loopback). */
function registerUser(port, username, password) {
  return new Promise((resolve, reject) => {
    const s = netConnect({ port, host: "127.0.0.1" });
    let buf = "";
    let asked = false;
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`register ${username}: timeout: ${buf}`)); }, 15_000);
    const finish = (err) => {
      clearTimeout(timer);
      s.end("</stream:stream>");
      s.destroy();
      if (err) reject(err);
      else resolve();
    };
    s.setEncoding("utf8");
    s.on("connect", () => s.write(`<?xml version='1.0'?><stream:stream to='${DOMAIN}' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`));
    s.on("data", (d) => {
      buf += d;
      if (!asked && buf.includes("</stream:features>")) {
        asked = true;
        s.write(`<iq type='set' id='reg1'><query xmlns='jabber:iq:register'><username>${username}</username><password>${password}</password></query></iq>`);
      }
      const at = buf.search(/<iq[^>]*id=['"]reg1['"]/);
      if (at >= 0) {
        const rest = buf.slice(at);
        if (/type=['"]result['"]/.test(rest.slice(0, rest.indexOf(">")))) finish();
        else if (/<\/iq>|\/>/.test(rest)) finish(new Error(`register ${username}: ${rest.slice(0, 500)}`));
      }
    });
    s.on("error", (e) => finish(e));
  });
}


/** An XMPP client pool child process (bench/peers-xmpp-proc.mjs), driven like the WebSocket ones. */
const startXmppProcess = () => startClientProcess("bench/peers-xmpp-proc.mjs");

// ---------- the workload ----------

/** One paced step at `rate` messages/s; waits for the deliveries; returns rates and latencies. */
async function step(target, rate, seconds, { drainMs, stillMs }) {
  const { receivers, members } = target;
  await Promise.all(receivers.map((c) => c.call("reset")));
  const clientPids = [process.pid, ...receivers.map((c) => c.child.pid)];
  const cpu0 = cpuMs(target.pid);
  const clientCpu0 = clientPids.reduce((a, pid) => a + cpuMs(pid), 0);
  const t0 = nowMs();
  const sent = await target.send(rate, seconds);
  const expected = (sent.sent - sent.errors) * members;
  let last = -1;
  let stillSince = nowMs();
  for (const deadline = nowMs() + drainMs; nowMs() < deadline;) {
    const got = (await Promise.all(receivers.map((c) => c.call("report", { light: true })))).reduce((a, r) => a + r.count, 0);
    if (got >= expected) break;
    if (got !== last) [last, stillSince] = [got, nowMs()];
    else if (nowMs() - stillSince > stillMs) break;
    await sleep(100);
  }
  const cpu = ((cpuMs(target.pid) - cpu0) / (nowMs() - t0)) * 100;
  const clientCpu = ((clientPids.reduce((a, pid) => a + cpuMs(pid), 0) - clientCpu0) / (nowMs() - t0)) * 100;
  const reports = await Promise.all(receivers.map((c) => c.call("report")));
  if (reports.reduce((a, r) => a + r.count, 0) < expected) await settle(receivers, target.pid);
  const lat = mergeSorted(reports.map((r) => r.latencies));
  const deliveries = lat.length;
  const lastRecv = Math.max(...reports.map((r) => r.lastRecv));
  const achieved = deliveries && lastRecv > t0 ? deliveries / ((lastRecv - t0) / 1000) : 0;
  const offered = rate * members;
  const p99 = pct(lat, 0.99);
  const ok = sent.errors === 0 && deliveries >= expected && achieved >= 0.9 * offered && p99 <= P99_LIMIT_MS;
  return { rate, offered, achieved: Math.round(achieved), deliveries, expected, lost: Math.max(0, expected - deliveries), p50: pct(lat, 0.5), p99, max: pct(lat, 1), ok, sendErrors: sent.errors, serverCpuPct: Math.round(cpu), clientCpuPct: Math.round(clientCpu) };
}

/**
 * After an overloaded step: waits until the server has flushed its backlog (no delivery for 2 s, at most
 * 120 s), so that the next step neither counts the previous step's late messages nor starts behind.
 */
async function settle(receivers, pid) {
  let last = -1;
  let stillSince = nowMs();
  let cpu = [cpuMs(pid), nowMs()];
  let idle = false;
  for (const deadline = nowMs() + 120_000; nowMs() < deadline;) {
    const got = (await Promise.all(receivers.map((c) => c.call("report", { light: true })))).reduce((a, r) => a + r.count, 0);
    if (got !== last) [last, stillSince] = [got, nowMs()];
    else if (nowMs() - stillSince > 2_000 && idle) return;
    await sleep(250);
    // …and until the server is idle (< 15% of a core over the last second): a server can be busy with its
    // backlog (e.g. writing its archive) without delivering anything for a while.
    if (nowMs() - cpu[1] >= 1_000) {
      const now = [cpuMs(pid), nowMs()];
      idle = (now[0] - cpu[0]) / (now[1] - cpu[1]) < 0.15;
      cpu = now;
    }
  }
}

/** Ramps ×factor from `start` until a step fails (or ÷factor until one passes); then bisects `refine` times. */
async function ramp(target, o) {
  const log_ = [];
  const at = async (rate) => {
    let r = await step(target, Math.round(rate), o.seconds, o.drain);
    log_.push(r);
    if (!r.ok && o.retry) {
      await sleep(o.pauseMs);
      r = await step(target, Math.round(rate), o.seconds, o.drain);
      log_.push(r);
    }
    log(`${target.name} ${r.rate} msg/s: ${r.ok ? "ok" : "FAIL"} p50 ${r.p50} p99 ${r.p99} ms, ${r.achieved}/${r.offered} dlv/s, lost ${r.lost}, cpu server ${r.serverCpuPct}% clients ${r.clientCpuPct}%`);
    return r;
  };
  let good;
  let bad;
  let r = await at(o.start);
  if (r.ok) {
    good = r;
    while (!bad && good.rate * o.factor <= o.cap) {
      await sleep(o.pauseMs);
      r = await at(good.rate * o.factor);
      if (r.ok) good = r;
      else bad = r;
    }
  } else {
    bad = r;
    while (!good && bad.rate / o.factor >= 1) {
      await sleep(o.pauseMs);
      r = await at(bad.rate / o.factor);
      if (r.ok) good = r;
      else bad = r;
    }
  }
  for (let i = 0; i < o.refine && good && bad && bad.rate - good.rate > Math.max(2, good.rate * 0.1); i++) {
    await sleep(o.pauseMs);
    r = await at(Math.sqrt(good.rate * bad.rate));
    if (r.ok) good = r;
    else bad = r;
  }
  return { good, bad, log: log_ };
}

/** Latency at a fixed rate: median over `runs` steps. */
async function atRate(target, rate, o) {
  const runs = [];
  for (let i = 0; i < o.commonRuns; i++) {
    await sleep(o.pauseMs);
    runs.push(await step(target, rate, o.commonSeconds, o.drain));
  }
  const m = (k) => median(runs.map((x) => x[k]));
  return { rate, p50: m("p50"), p99: m("p99"), achieved: Math.round(m("achieved")), lost: runs.reduce((a, x) => a + x.lost, 0), ok: runs.every((x) => x.ok), runs };
}

// ---------- setting up each server's room ----------

async function natterTarget(n, pad) {
  const natter = await startNatterRaised();
  const receivers = Array.from({ length: RECEIVER_PROCESSES }, () => startClientProcess());
  const target = { name: "natter", pid: natter.child.pid, receivers, members: n, version: JSON.parse(readFileSync(join(ROOT, "packages/server/package.json"), "utf8")).version };
  target.stop = async () => {
    await Promise.all(receivers.map((c) => c.stop()));
    await natter.stop();
  };
  try {
    const users = await pool(n, () => createUser(natter), 10);
    const thread = (await api(natter, users[0].token, "POST", `/chat/threads?${API}`, { topic: "peers", participants: users.slice(1).map((u) => ident(u.id)) })).chatThread.id;
    const wsBase = natter.httpUrl.replace(/^http/, "ws");
    const urls = users.map((u) => ({ url: new URL(`/realtime?access_token=${encodeURIComponent(u.token)}`, wsBase).href }));
    const res = await Promise.all(receivers.map((c, k) => c.call("connect", { targets: urls.filter((_, i) => i % receivers.length === k), concurrency: 10 })));
    const failed = res.reduce((a, r) => a + r.failed, 0);
    if (failed) throw new Error(`${failed} Natter WebSocket clients failed: ${JSON.stringify(res.map((r) => r.errors))}`);
    const senders = users.slice(0, SENDERS);
    const request = (i) => ({
      method: "POST", path: `/chat/threads/${encodeURIComponent(thread)}/messages?${API}`,
      headers: { authorization: `Bearer ${senders[i].token}`, "content-type": "application/json" },
      body: JSON.stringify({ content: `${marker()} peers benchmark message ${pad}`, senderDisplayName: "Bench" }),
    });
    target.send = async (rate, seconds) => {
      const r = await paced({ url: natter.httpUrl, rate, seconds, connections: SENDERS, requestsFor: request });
      return { sent: r.sent, errors: r.errors };
    };
    target.persisted = async () => {
      // Every message is in the thread (listMessages pages of 200; counted by type "text").
      let count = 0;
      let path = `/chat/threads/${encodeURIComponent(thread)}/messages?maxPageSize=200&${API}`;
      while (path) {
        const page = await api(natter, users[0].token, "GET", path);
        count += page.value.filter((m) => m.type === "text").length;
        path = page.nextLink ? new URL(page.nextLink, natter.httpUrl).pathname + new URL(page.nextLink, natter.httpUrl).search : undefined;
      }
      return count;
    };
    return target;
  } catch (e) {
    await target.stop();
    throw e;
  }
}

async function xmppTarget(server, n, pad) {
  const receivers = Array.from({ length: RECEIVER_PROCESSES }, () => startXmppProcess());
  const senderProc = startXmppProcess();
  const target = { name: server.name, pid: server.pid, receivers: [...receivers, senderProc], members: n, version: server.version };
  target.stop = async () => {
    await Promise.all(target.receivers.map((c) => c.stop()));
    await server.stop();
  };
  try {
    const service = `xmpp://127.0.0.1:${server.port}`;
    const users = Array.from({ length: n }, (_, i) => ({ service, domain: DOMAIN, username: `u${i}`, password: `pw${i}-bench`, room: ROOM, nick: `u${i}` }));
    await pool(n, (i) => registerUser(server.port, users[i].username, users[i].password), 5);
    // The owner (a sender) creates the room first; then everyone else joins.
    const check = (r, what) => {
      if (r.failed) throw new Error(`${server.name}: ${r.failed} ${what} failed to join: ${JSON.stringify(r.errors)}`);
    };
    check(await senderProc.call("connect", { users: [{ ...users[0], owner: true }], concurrency: 1 }), "owner");
    check(await senderProc.call("connect", { users: users.slice(1, SENDERS), concurrency: 5 }), "senders");
    const rest = users.slice(SENDERS);
    const res = await Promise.all(receivers.map((c, k) => c.call("connect", { users: rest.filter((_, i) => i % receivers.length === k), concurrency: 5 })));
    for (const r of res) check(r, "members");
    target.send = (rate, seconds) => senderProc.call("send", { rate, seconds, pad });
    target.persisted = async () => (await senderProc.call("archiveCount")).count;
    return target;
  } catch (e) {
    await target.stop();
    throw e;
  }
}

// ---------- the scenario ----------

export async function run({ quick }) {
  const n = quick ? 20 : 50;
  const o = quick
    ? { quickRate: 40, commonRuns: 1, commonSeconds: 1.5, pauseMs: 300, drain: { drainMs: 2_000, stillMs: 500 } }
    : { start: 25, factor: 2, cap: 4_000, seconds: 4, refine: 3, retry: true, pauseMs: 2_000, commonRuns: 3, commonSeconds: 5, drain: { drainMs: 5_000, stillMs: 1_000 } };
  const pad = "x".repeat(80);
  const skipped = {};
  for (const pkg of ["prosody", "ejabberd"]) {
    const why = ensurePackages(pkg, quick);
    if (why) {
      skipped[pkg] = why;
      log(`skipping ${pkg}: ${why}`);
    }
  }
  const servers = [
    { name: "natter", start: () => natterTarget(n, pad) },
    ...(!skipped.prosody ? [{ name: "prosody", start: async () => xmppTarget(await startProsody(), n, pad) }] : []),
    ...(!skipped.ejabberd ? [{ name: "ejabberd", start: async () => xmppTarget(await startEjabberd(), n, pad) }] : []),
  ];

  // Phase 1 (full mode): each server's maximum. Each server runs alone (started, measured, stopped).
  // Phase 2: all at the common rate (half the lowest maximum; quick mode: a fixed rate), each again alone.
  const results = {};
  const withTarget = async (s, fn) => {
    let target;
    try {
      log(`starting ${s.name}`);
      target = await s.start();
      await step(target, 5, 1, o.drain); // warm-up
      return await fn(target);
    } catch (e) {
      skipped[s.name] = `failed: ${String(e?.message ?? e).slice(0, 500)}`;
      log(`${s.name} ${skipped[s.name]}`);
      return undefined;
    } finally {
      await target?.stop();
    }
  };
  if (!quick) {
    for (const s of servers) {
      const r = await withTarget(s, async (t) => ({ version: t.version, ...(await ramp(t, o)) }));
      if (r) results[s.name] = r;
    }
  }
  const maxima = Object.values(results).map((r) => r.good?.rate).filter((x) => x);
  const commonRate = quick ? o.quickRate : Math.max(1, Math.floor(Math.min(...maxima) / 2));
  for (const s of servers) {
    if (skipped[s.name]) continue;
    const r = await withTarget(s, async (t) => {
      const common = await atRate(t, commonRate, o);
      const persisted = await t.persisted().catch((e) => `error: ${e.message}`);
      // Messages this instance received: the warm-up step (5) and the common-rate steps (each server instance
      // is fresh for this phase, so the archive holds exactly these).
      const sentTotal = 5 + common.runs.reduce((a, x) => a + x.expected / n, 0);
      return { version: t.version, common, persisted, sentTotal };
    });
    if (r) results[s.name] = { ...results[s.name], ...r };
  }

  const rows = Object.entries(results).map(([name, r]) => ({
    server: `${name} ${r.version}`,
    "max msg/s": quick ? "-" : r.good?.rate ?? "none",
    "delivered msg/s @ max": quick ? "-" : r.good?.achieved ?? "-",
    "p99 ms @ max": quick ? "-" : r.good?.p99 ?? "-",
    "common rate msg/s": commonRate,
    "delivered msg/s @ common": r.common?.achieved ?? "-",
    "p50 ms @ common": r.common?.p50 ?? "-",
    "p99 ms @ common": r.common?.p99 ?? "-",
    "lost @ common": r.common?.lost ?? "-",
    "archived/sent": r.persisted !== undefined ? `${r.persisted ?? "n/a"}/${r.sentTotal}` : "-",
  }));
  for (const [name, why] of Object.entries(skipped)) rows.push({ server: `${name} (skipped)`, "max msg/s": why, "delivered msg/s @ max": "-", "p99 ms @ max": "-", "common rate msg/s": "-", "delivered msg/s @ common": "-", "p50 ms @ common": "-", "p99 ms @ common": "-", "lost @ common": "-", "archived/sent": "-" });

  const nat = results.natter;
  const peers = ["prosody", "ejabberd"].filter((p) => results[p]);
  // "Ahead" per measure: throughput = a higher sustained maximum (undecided when a ramp hit its cap without
  // failing, or found no sustainable rate); latency = a lower p99 at the common rate.
  const cmp = (a, b, higherIsBetter) => (a === undefined || b === undefined || Number.isNaN(a) || Number.isNaN(b) ? "not decided" : (higherIsBetter ? a > b : a < b) ? "ahead" : "NOT ahead");
  const maxOf = (r) => (r?.good && r.bad ? r.good.rate : undefined);
  const verdict = !nat ? "not measured (Natter failed)" : peers.length === 0 ? "not measured (no peer ran)"
    : peers.map((p) => `vs ${p}: ${quick ? "" : `throughput ${cmp(maxOf(nat), maxOf(results[p]), true)} (${nat.good?.rate ?? "-"} vs ${results[p].good?.rate ?? "-"} msg/s), `}p99 @ ${commonRate} msg/s ${cmp(nat.common?.p99, results[p].common?.p99, false)} (${nat.common?.p99 ?? "-"} vs ${results[p].common?.p99 ?? "-"} ms)`).join("; ");
  const met = peers.length === 2 && !/NOT|not decided/.test(verdict);
  const ramps = (r) => r.log?.map((s) => `${s.rate}${s.ok ? "" : "✗"}(p99 ${s.p99}, ${s.achieved}/${s.offered} dlv/s, lost ${s.lost}, cpu ${s.serverCpuPct}%/${s.clientCpuPct}%)`).join(", ");
  const notes = [
    `Target: Natter ahead of both (${quick ? "quick mode: lower p99 at the fixed rate" : "higher sustained msg/s and lower p99 at the common rate"}): ${met ? "met" : "NOT met"}. Natter ${verdict}.`,
    `Workload, identical for the three: one room of ${n} members, all connected and each receiving every message; ${SENDERS} of them send, round-robin, open-loop paced; "msg/s" is messages sent per second, "delivered msg/s" counts every delivery (msg/s × ${n} members); latency = receive wall clock − send wall clock in the body, over every delivery. Members in ${RECEIVER_PROCESSES} client child processes (+1 child process holding the ${SENDERS} XMPP senders, who are members too); Natter's senders POST sendMessage from the bench process, one keep-alive connection each.`,
    quick
      ? `Quick mode: no ramp; one ${o.commonSeconds} s step at ${commonRate} msg/s per server.`
      : `A rate is sustainable when every delivery arrives, delivered/s ≥ 90% of offered and p99 ≤ ${P99_LIMIT_MS} ms; the ramp starts at ${o.start} msg/s, multiplies by ${o.factor}, then bisects ${o.refine}×, ${o.seconds} s steps, a failed step repeated once. The common rate is half the lowest maximum; its figures are medians of ${o.commonRuns} runs of ${o.commonSeconds} s. Each server runs alone (the others stopped) in both phases.`,
    `Peers (Debian packages; storage ${STORAGE}${STORAGE === "sqlite" ? ", the default; NATTER_BENCH_PEERS_STORAGE=builtin runs Prosody's file store and ejabberd's Mnesia instead" : " (NATTER_BENCH_PEERS_STORAGE=builtin)"}): Prosody with mod_muc + mod_muc_mam (muc_log_all_rooms, archive_expires_after never, persistent rooms, storage_archive_item_limit raised: at its default of 10,000 the internal store refuses appends and mod_muc_mam truncates the room archive, rewriting it, and throughput collapses), ${STORAGE === "sqlite" ? "storage = sql on SQLite (mod_storage_sql + LuaDBI)" : "storage = internal (files)"}; ejabberd with mod_muc + mod_mam (default: always; rooms persistent with mam: true), ${STORAGE === "sqlite" ? "default_db sql, sql_type sqlite (schema from ejabberd's lite.sql)" : "Mnesia (archive_msg is a disc_only dets bag keyed by room, so each append gets slower as the room's archive grows; ejabberd itself warns against Mnesia for MAM)"}. Both: c2s on 127.0.0.1 without TLS (SCRAM-SHA-1), accounts by in-band registration, rooms joined without history, no s2s/HTTP listeners, no shapers or rate limits; ejabberd runs as a non-distributed Erlang node (no epmd). "archived/sent" checks persistence after the common-rate phase: Natter's listMessages count, the peers' MAM count (XEP-0313 + RSM) for the room.`,
    STORAGE === "sqlite"
      ? "Durability: all three commit each message to SQLite with the library defaults of each (Natter: WAL, fsync'd group commit before the 201; the peers set no pragmas, so SQLite's rollback journal with synchronous=FULL, one transaction per message)."
      : "Durability differs: Natter answers sendMessage after an fsync'd SQLite commit; Prosody's file store appends without fsync and ejabberd's Mnesia disc_only tables are written without a per-message sync, so the peers do less work per message than Natter.",
    "Client cost differs too: XMPP members parse every stanza with @xmpp/client (ltx), heavier than the WebSocket clients' JSON frames, and all clients share the 2 cores with the server under test.",
    ...(quick ? [] : [`Ramp steps read: rate(p99 ms, delivered/offered deliveries/s, lost deliveries, CPU of the server / of the load generator (bench process + client processes); 100% = one core). ${Object.entries(results).map(([k, r]) => `Ramp ${k}: ${ramps(r)}.`).join(" ")}`]),
    "Figures are indicative: the machine is shared with other work while measuring.",
  ].join("\n");
  const strip = (r) => ({ version: r.version, maxRate: r.good?.rate, deliveredAtMax: r.good?.achieved, p99AtMax: r.good?.p99, common: r.common && { rate: r.common.rate, p50: r.common.p50, p99: r.common.p99, achieved: r.common.achieved, lost: r.common.lost }, persisted: r.persisted, sent: r.sentTotal, ramp: r.log?.map(({ rate, achieved, offered, p50, p99, ok, lost, serverCpuPct, clientCpuPct }) => ({ rate, achieved, offered, p50, p99, ok, lost, serverCpuPct, clientCpuPct })) });
  return {
    name: "peers",
    description: `group-chat fan-out, one room of ${n} members and ${SENDERS} senders, persistence on: Natter vs Prosody (MUC + mod_muc_mam) vs ejabberd (MUC + mod_mam), messages/s delivered and send→receive p99`,
    rows, notes,
    results: { members: n, senders: SENDERS, commonRate, skipped, ...Object.fromEntries(Object.entries(results).map(([k, r]) => [k, strip(r)])) },
  };
}
