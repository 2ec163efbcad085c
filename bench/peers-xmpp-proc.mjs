// A pool of XMPP clients (@xmpp/client) in a child process, driven over IPC by bench/peers.mjs: each client
// logs in over c2s (plain TCP on loopback, SCRAM-SHA-1), joins one MUC room without history and records
// send→receive latency for every live groupchat message whose body carries a send timestamp "@@T<ms>@@"
// (archived/delayed copies are ignored). The same pool can send: paced groupchat messages over its clients.
// Commands: connect, reset, report, send, archiveCount, closeAll, exit; each answered with the same id.
import { client, xml } from "@xmpp/client";
import { nowMs } from "./wall-clock.mjs";
import { createRequire } from "node:module";
import { pbkdf2Sync } from "node:crypto";

// SCRAM's Hi() is PBKDF2-HMAC-SHA1; the sasl-scram-sha-1 package computes it with one WebCrypto HMAC call per
// iteration (1.2 s of client CPU per login at Prosody's 10,000 iterations). Node's native PBKDF2 gives the same
// bytes in about a millisecond, so logins stop dominating the scenario's time.
const scramBitops = createRequire(createRequire(import.meta.url).resolve("@xmpp/sasl-scram-sha-1"))("sasl-scram-sha-1/lib/bitops");
scramBitops.Hi = async (text, salt, iterations) => new Uint8Array(pbkdf2Sync(text, salt, iterations, 20, "sha1"));

const MUC = "http://jabber.org/protocol/muc";
const clients = []; // { xmpp, nick, room }
let latencies = new Float64Array(1 << 16);
let count = 0;
let firstRecv = 0;
let lastRecv = 0;

function onStanza(stanza) {
  if (!stanza.is("message") || stanza.attrs.type !== "groupchat") return;
  const body = stanza.getChildText("body");
  if (!body) return;
  const at = body.indexOf("@@T");
  if (at < 0 || stanza.getChild("delay", "urn:xmpp:delay")) return;
  const now = nowMs();
  const latency = now - Number(body.slice(at + 3, body.indexOf("@@", at + 3)));
  if (count === latencies.length) {
    const bigger = new Float64Array(latencies.length * 2);
    bigger.set(latencies);
    latencies = bigger;
  }
  latencies[count++] = latency;
  if (!firstRecv) firstRecv = now;
  lastRecv = now;
}

/** Connects one user and joins the room; resolves once the server reflects our own presence (status 110). */
async function join({ service, domain, username, password, room, nick, owner }, timeoutMs) {
  const xmpp = client({ service, domain, username, password, resource: "bench" });
  xmpp.on("error", () => {}); // reported through start()/join failures; late errors end the socket
  xmpp.reconnect.stop();
  await xmpp.start();
  const joined = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("join timeout")), timeoutMs);
    const onJoin = (s) => {
      if (!s.is("presence") || s.attrs.from !== `${room}/${nick}`) return;
      if (s.attrs.type === "error") {
        clearTimeout(timer);
        reject(new Error(`join error: ${s.toString()}`));
        return;
      }
      const x = s.getChild("x", `${MUC}#user`);
      const codes = x ? x.getChildren("status").map((c) => c.attrs.code) : [];
      if (codes.includes("110")) {
        clearTimeout(timer);
        xmpp.off("stanza", onJoin);
        resolve(codes);
      }
    };
    xmpp.on("stanza", onJoin);
  });
  await xmpp.send(xml("presence", { to: `${room}/${nick}` }, xml("x", { xmlns: MUC }, xml("history", { maxstanzas: "0" }))));
  const codes = await joined;
  if (owner || codes.includes("201")) {
    // A new room: accept the default configuration (XEP-0045 instant room) so that it is unlocked.
    await xmpp.iqCaller.request(xml("iq", { type: "set", to: room }, xml("query", { xmlns: `${MUC}#owner` }, xml("x", { xmlns: "jabber:x:data", type: "submit" }))), 10_000);
  }
  xmpp.on("stanza", onStanza);
  clients.push({ xmpp, nick, room });
}

async function connect({ users, concurrency = 10, timeoutMs = 30_000 }) {
  let next = 0;
  let connected = 0;
  const errors = {};
  const worker = async () => {
    while (next < users.length) {
      const u = users[next++];
      try {
        await join(u, timeoutMs);
        connected++;
      } catch (e) {
        const k = String(e?.message ?? e).slice(0, 200);
        errors[k] = (errors[k] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, users.length) }, worker));
  return { connected, failed: users.length - connected, errors };
}

/** Open-loop paced sends: one groupchat message every 1/rate s, round-robin over this pool's clients. */
async function send({ rate, seconds, pad = "" }) {
  const total = Math.floor(rate * seconds);
  const start = nowMs();
  let errors = 0;
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - nowMs();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const c = clients[i % clients.length];
    // Timestamp taken when the message is built, as for Natter's POSTs (bench/peers.mjs).
    c.xmpp.send(xml("message", { to: c.room, type: "groupchat" }, xml("body", {}, `@@T${nowMs().toFixed(3)}@@ peers benchmark message ${pad}`))).catch(() => errors++);
  }
  return { sent: total, errors };
}

/** The room archive's message count (XEP-0313 query with RSM max 0), or null when the server gives none. */
async function archiveCount() {
  const c = clients[0];
  const res = await c.xmpp.iqCaller.request(xml("iq", { type: "set", to: c.room }, xml("query", { xmlns: "urn:xmpp:mam:2", queryid: "count" }, xml("set", { xmlns: "http://jabber.org/protocol/rsm" }, xml("max", {}, "0")))), 30_000);
  const n = res.getChild("fin", "urn:xmpp:mam:2")?.getChild("set", "http://jabber.org/protocol/rsm")?.getChildText("count");
  return { count: n === undefined || n === null ? null : Number(n) };
}

process.on("message", async (m) => {
  const reply = (x) => process.send({ id: m.id, ...x });
  try {
    switch (m.cmd) {
      case "connect":
        return reply(await connect(m));
      case "reset":
        count = 0;
        firstRecv = lastRecv = 0;
        return reply({ ok: true });
      case "report":
        if (m.light) return reply({ count });
        return reply({ count, latencies: latencies.slice(0, count), firstRecv, lastRecv, open: clients.length });
      case "send":
        return reply(await send(m));
      case "archiveCount":
        return reply(await archiveCount());
      case "closeAll":
        await Promise.all(clients.map((c) => c.xmpp.stop().catch(() => {})));
        clients.length = 0;
        return reply({ ok: true });
      case "exit":
        process.exit(0);
    }
  } catch (error) {
    reply({ error: String(error?.stack ?? error) });
  }
});
