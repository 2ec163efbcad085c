// Peers, side by side: the same group-chat fan-out workload (one room of N members, M of them sending at a
// paced total rate, every member receives every message, history persisted) against Natter, Prosody (MUC +
// muc_mam, internal file storage) and ejabberd (mod_muc + mod_mam, Mnesia). The XMPP servers come from
// Debian's packages (installed here with apt-get when missing, in full runs only), run as child processes
// with generated configs on 127.0.0.1, and are driven with @xmpp/client (SASL ANONYMOUS: authentication is
// not what is measured). Clients run in this process for all three servers.
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { connect as tcpConnect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WebSocket } from "ws";
import { client as xmppClient, xml } from "@xmpp/client";
import { api, createUser, startNatterProcess } from "./lib.mjs";

const P99_LIMIT_MS = 250;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const has = (cmd) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const ok = await new Promise((resolve) => {
      const s = tcpConnect(port, "127.0.0.1", () => { s.destroy(); resolve(true); });
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    await sleep(200);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}

/** apt-get install, with daemons kept from starting (we run our own instances). */
function aptInstall(packages, log) {
  const policy = "/usr/sbin/policy-rc.d";
  const ours = !existsSync(policy);
  if (ours) {
    writeFileSync(policy, "#!/bin/sh\nexit 101\n");
    chmodSync(policy, 0o755);
  }
  try {
    log.push(`apt-get install -y ${packages.join(" ")}`);
    const r = spawnSync("apt-get", ["install", "-y", "-qq", ...packages], { env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" }, stdio: "ignore" });
    return r.status === 0;
  } finally {
    if (ours) unlinkSync(policy);
  }
}

async function startProsody() {
  const dir = mkdtempSync(join(tmpdir(), "natter-bench-prosody-"));
  const port = await freePort();
  writeFileSync(join(dir, "prosody.cfg.lua"), `
run_as_root = true
daemonize = false
pidfile = "${dir}/prosody.pid"
data_path = "${dir}"
certificates = "${dir}"
log = { { levels = { min = "error" }, to = "console" } }
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { ${port} }
c2s_direct_tls_ports = {}
s2s_ports = {}
http_ports = {}
https_ports = {}
component_ports = {}
modules_enabled = { "disco", "ping", "saslauth" }
modules_disabled = { "s2s", "tls", "offline", "c2s_direct_tls" }
c2s_require_encryption = false
storage = "internal"
limits = { c2s = { rate = "100mb/s" } }
VirtualHost "localhost"
  authentication = "anonymous"
Component "conference.localhost" "muc"
  modules_enabled = { "muc_mam" }
  muc_room_locking = false
  muc_room_default_persistent = true
  muc_log_by_default = true
  muc_log_all_rooms = true
`);
  const child = spawn("prosody", ["-F", "--config", join(dir, "prosody.cfg.lua")], { stdio: "ignore" });
  await waitForPort(port);
  return {
    name: "prosody", port, pid: child.pid,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startEjabberd() {
  const dir = mkdtempSync(join(tmpdir(), "natter-bench-ejabberd-"));
  const port = await freePort();
  const node = `natterbench${process.pid}@localhost`;
  writeFileSync(join(dir, "ejabberd.yml"), `
hosts: [localhost]
loglevel: error
certfiles: []
listen:
  - port: ${port}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls: false
    max_stanza_size: 262144
    shaper: none
    access: all
auth_method: anonymous
anonymous_protocol: sasl_anon
allow_multiple_connections: true
shaper: {}
shaper_rules: {}
acl: {}
access_rules:
  local: { allow: all }
modules:
  mod_disco: {}
  mod_ping: {}
  mod_mam: { db_type: mnesia, default: always }
  mod_muc:
    host: conference.localhost
    db_type: mnesia
    access: all
    access_create: all
    access_persistent: all
    history_size: 0
    max_users: 1000
    default_room_options: { mam: true, persistent: true }
`);
  // Without INET_DIST_INTERFACE the Erlang distribution port listens on 0.0.0.0; keep it (and any epmd it starts) on loopback.
  writeFileSync(join(dir, "ejabberdctl.cfg"), "INET_DIST_INTERFACE=127.0.0.1\nERL_EPMD_ADDRESS=127.0.0.1\n");
  writeFileSync(join(dir, "inetrc"), "");
  spawnSync("chown", ["-R", "ejabberd", dir]);
  const ctl = ["--config-dir", dir, "--config", join(dir, "ejabberd.yml"), "--ctl-config", join(dir, "ejabberdctl.cfg"), "--spool", dir, "--logs", dir, "--node", node];
  const child = spawn("ejabberdctl", [...ctl, "foreground"], { stdio: "ignore" });
  await waitForPort(port, 60_000);
  const beam = spawnSync("sh", ["-c", `pgrep -f 'beam.*${node}' | head -1`]).stdout.toString().trim();
  return {
    name: "ejabberd", port, pid: beam || child.pid,
    async stop() {
      spawnSync("ejabberdctl", [...ctl, "stop"], { stdio: "ignore" });
      await Promise.race([new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r))), sleep(15_000)]);
      if (child.exitCode === null) child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** N XMPP members in one MUC room; the first M send. */
async function xmppRoom(server, members, senders) {
  const room = `bench${Date.now()}@conference.localhost`;
  const clients = [];
  let onBody = () => {};
  for (let i = 0; i < members; i++) {
    const c = xmppClient({ service: `xmpp://127.0.0.1:${server.port}`, domain: "localhost" });
    c.on("error", () => {});
    c.on("stanza", (s) => {
      if (s.is("message") && s.attrs.type === "groupchat") {
        const body = s.getChildText("body");
        if (body) onBody(body);
      }
    });
    await c.start();
    await c.send(xml("presence", { to: `${room}/m${i}` }, xml("x", { xmlns: "http://jabber.org/protocol/muc" }, xml("history", { maxstanzas: "0" }))));
    if (i === 0) {
      await sleep(200);
      // The owner accepts the default (instant room) configuration, so the room is open on every server.
      await c.send(xml("iq", { type: "set", to: room, id: "cfg" }, xml("query", { xmlns: "http://jabber.org/protocol/muc#owner" }, xml("x", { xmlns: "jabber:x:data", type: "submit" }))));
    }
    clients.push(c);
  }
  await sleep(500);
  return {
    setOnBody: (f) => (onBody = f),
    send: (i, body) => clients[i % senders].send(xml("message", { to: room, type: "groupchat" }, xml("body", {}, body))),
    close: () => Promise.all(clients.map((c) => c.stop().catch(() => {}))),
  };
}

/** N Natter users in one thread, each on a realtime WebSocket; the first M send over REST. */
async function natterRoom(server, members, senders) {
  const users = [];
  for (let i = 0; i < members; i++) users.push(await createUser(server));
  const thread = await api(server, users[0].token, "POST", "/chat/threads?api-version=2024-03-07", {
    topic: "peers", participants: users.slice(1).map((u) => ({ communicationIdentifier: { rawId: u.id, communicationUser: { id: u.id } } })),
  });
  const threadId = thread.chatThread.id;
  let onBody = () => {};
  const sockets = await Promise.all(users.map((u) => new Promise((resolve, reject) => {
    const ws = new WebSocket(`${server.httpUrl.replace("http", "ws")}realtime?access_token=${u.token}`);
    ws.on("open", () => ws.send(JSON.stringify({ type: "hello", protocol: 1 })));
    ws.on("error", reject);
    ws.on("message", (data) => {
      const f = JSON.parse(data.toString());
      if (f.type === "ready") resolve(ws);
      else if (f.type === "ping") ws.send(JSON.stringify({ type: "pong", id: f.id }));
      else if (f.type === "event" && f.event === "chatMessageReceived") onBody(f.data.message);
    });
  })));
  const url = new URL(`/chat/threads/${encodeURIComponent(threadId)}/messages?api-version=2024-03-07`, server.httpUrl);
  return {
    setOnBody: (f) => (onBody = f),
    send: (i, body) => fetch(url, { method: "POST", headers: { authorization: `Bearer ${users[i % senders].token}`, "content-type": "application/json" }, body: JSON.stringify({ content: body }) })
      .then((r) => r.arrayBuffer()),
    close: async () => sockets.forEach((ws) => ws.terminate()),
  };
}

/** Sends `rate` messages/s for `seconds` (round-robin over the senders); counts deliveries and latency. */
async function step(room, members, rate, seconds) {
  const latencies = [];
  let delivered = 0;
  let lastReceipt = 0;
  room.setOnBody((body) => {
    const m = /^(\d+)\|(\d+(?:\.\d+)?)$/.exec(body);
    if (!m) return;
    const now = performance.timeOrigin + performance.now();
    latencies.push(now - Number(m[2]));
    delivered++;
    lastReceipt = now;
  });
  const total = Math.max(1, Math.round(rate * seconds));
  const start = performance.now();
  const sends = [];
  for (let i = 0; i < total; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait > 1) await sleep(wait);
    sends.push(Promise.resolve(room.send(i, `${i}|${performance.timeOrigin + performance.now()}`)).catch(() => {}));
  }
  await Promise.all(sends);
  const expected = total * members;
  const deadline = Date.now() + 3_000;
  while (delivered < expected && Date.now() < deadline) await sleep(20);
  const firstSend = performance.timeOrigin + start;
  latencies.sort((a, b) => a - b);
  const q = (p) => (latencies.length ? Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] * 10) / 10 : Infinity);
  const deliveredPerSec = delivered / Math.max(0.001, (lastReceipt - firstSend) / 1000);
  const ok = delivered >= expected * 0.99 && q(0.99) <= P99_LIMIT_MS;
  return { rate, delivered, expected, deliveredPerSec: Math.round(deliveredPerSec), p50: q(0.5), p99: q(0.99), ok };
}

async function ramp(room, members, opts) {
  let good;
  let capped = true;
  const log = [];
  for (let rate = opts.start; rate <= opts.max; rate *= 2) {
    const r = await step(room, members, rate, opts.seconds);
    log.push(`${rate}${r.ok ? "" : "✗"}(p99 ${r.p99})`);
    if (!r.ok) {
      capped = false;
      break;
    }
    good = r;
    await sleep(500);
  }
  return { good, log, capped };
}

export async function run({ quick }) {
  const members = quick ? 10 : 50;
  const senders = 5;
  const opts = quick ? { start: 40, max: 160, seconds: 1 } : { start: 25, max: 3200, seconds: 4 };
  const notes = [];
  const setup = [];
  const peers = [];
  for (const [name, cmd, pkg, start] of [["prosody", "prosody", "prosody", startProsody], ["ejabberd", "ejabberdctl", "ejabberd", startEjabberd]]) {
    if (!has(cmd) && (quick || !aptInstall([pkg], setup) || !has(cmd))) {
      notes.push(`${name}: skipped (${quick ? "not installed; full runs install it with apt-get" : "apt-get install failed"}).`);
      continue;
    }
    peers.push({ name, start });
  }
  const results = [];
  const natter = await startNatterProcess();
  try {
    const room = await natterRoom(natter, members, senders);
    results.push({ name: "natter", storage: "SQLite, fsync per commit batch", room, ...(await ramp(room, members, opts)) });
  } catch (error) {
    notes.push(`natter failed: ${error.message}`);
  }
  const running = [];
  for (const peer of peers) {
    try {
      const server = await peer.start();
      running.push(server);
      const room = await xmppRoom(server, members, senders);
      results.push({ name: peer.name, storage: peer.name === "prosody" ? "muc_mam, internal (file) storage" : "mod_mam, Mnesia", room, ...(await ramp(room, members, opts)) });
    } catch (error) {
      notes.push(`${peer.name} failed: ${error.message}`);
    }
  }
  try {
    // p99 at one common rate: half of the lowest maximum, so every server is below its limit.
    const maxes = results.map((r) => r.good?.rate).filter(Boolean);
    const common = maxes.length ? Math.max(5, Math.floor(Math.min(...maxes) / 2)) : undefined;
    for (const r of results) if (common) r.common = await step(r.room, members, common, opts.seconds);
    const natterMax = results.find((r) => r.name === "natter")?.good?.deliveredPerSec ?? 0;
    const rows = results.map((r) => ({
      server: r.name, persistence: r.storage, "max msg/s": r.good ? `${r.capped ? "≥ " : ""}${r.good.rate}` : "-", "deliveries/s @ max": r.good?.deliveredPerSec ?? "-",
      "p99 ms @ max": r.good?.p99 ?? "-", [`p50 / p99 ms @ ${common} msg/s`]: r.common ? `${r.common.p50} / ${r.common.p99}` : "-",
      "natter vs this": r.good ? `${Math.round((natterMax / r.good.deliveredPerSec) * 100)}%` : "-",
    }));
    // Ahead means a higher sustained rate on the ramp; deliveries/s at the same capped rate differ only by noise.
    const natterRes = results.find((r) => r.name === "natter");
    const peerRes = results.filter((r) => r.name !== "natter");
    const ahead = peerRes.every((r) => !r.capped && (natterRes?.good?.rate ?? 0) > (r.good?.rate ?? 0));
    const undecided = peerRes.some((r) => r.capped);
    notes.unshift(
      `Target: Natter ahead of both peers in delivered messages/s: ${results.length !== 3 ? "not fully measured" : undecided ? "not decided (a peer reached the ramp's top rate)" : ahead ? "met" : "MISSED"}.`,
      `${members} members, ${senders} senders, paced open-loop; a rate is sustained when ≥ 99% of deliveries arrive and p99 ≤ ${P99_LIMIT_MS} ms; the ramp doubles the rate, steps of ${opts.seconds} s. Ramps: ${results.map((r) => `${r.name} ${r.log.join(", ")}`).join("; ")}.`,
      "≥: the ramp reached its top rate without failing (a lower bound). All clients run in the bench process (XML parsing for the peers, JSON for Natter) on the same 2 cores as the server. Natter's senders use REST (one HTTP request per message), the peers' senders an open XMPP stream.",
      ...(setup.length ? [`Setup: ${setup.join("; ")}.`] : []),
    );
    return { name: "peers", description: `one room of ${members} members, ${senders} senders, history persisted: max delivered rate and latency, Natter vs Prosody and ejabberd (Debian packages, loopback)`, rows, notes: notes.join("\n") };
  } finally {
    await Promise.all(results.map((r) => r.room.close()));
    await Promise.all(running.map((s) => s.stop()));
    await natter.stop();
  }
}
