// Scenario: many concurrent idle realtime connections on one node (target 50,000). Natter runs as a child
// process with its file limit raised (`sh -c 'ulimit -n 65536 || ulimit -n <hard>; exec node …'`); clients
// are spread over several child processes and several loopback source addresses (one source address has
// only ~28k ephemeral ports), and share users (50 sockets per user: the default --realtime-max-sockets-per-user; the node-wide default
// cap, 50,000, is the target). Reports connections reached, connect rate, server RSS before/after and per connection, and
// checks that the node still serves sendMessage and live deliveries meanwhile. Baseline, same run: the same
// number of idle sockets to a bare `ws` server child process.
import { api, createUser, median, pool, rssKb } from "./lib.mjs";
import { WANTED_FILES, hardFileLimit, nowMs, raisedFileLimit, startClientProcess, startNatterRaised, startWsBaseline } from "./ws-lib.mjs";

const API = "api-version=2024-03-07";
const SOCKETS_PER_USER = 50;
const PER_CLIENT_PROCESS = 10_000;
const PER_SOURCE_ADDRESS = 20_000;
/** File descriptors the server needs besides sockets (database, WAL, listeners, workers, stdio…). */
const FD_HEADROOM = 200;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Median of RSS samples every 250 ms over `ms` (a single sample lands anywhere in a GC cycle). */
async function settledRss(pid, ms) {
  const samples = [];
  for (const end = Date.now() + ms; Date.now() < end;) {
    samples.push(await rssKb(pid));
    await sleep(250);
  }
  return median(samples);
}


/** Opens `urls.length` sockets from `clients`, source addresses from 127.0.0.<firstHost>; returns counts and timing. */
async function connectMany(clients, urls, firstHost) {
  const addresses = Math.max(4, Math.ceil(urls.length / PER_SOURCE_ADDRESS));
  const targets = urls.map((url, i) => ({ url, localAddress: `127.0.0.${firstHost + (i % addresses)}` }));
  const parts = clients.map((_, k) => targets.filter((_, i) => i % clients.length === k));
  const t0 = nowMs();
  const res = await Promise.all(clients.map((c, k) => c.call("connect", { targets: parts[k], concurrency: 200, timeoutMs: 60_000 })));
  const seconds = (Math.max(...res.map((r) => r.finished)) - t0) / 1000;
  const connected = res.reduce((a, r) => a + r.connected, 0);
  const errors = {};
  for (const r of res) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  return { connected, failed: urls.length - connected, errors, seconds, rate: Math.round(connected / seconds), addresses };
}

async function stillOpen(clients) {
  const reports = await Promise.all(clients.map((c) => c.call("report")));
  return reports.reduce((a, r) => a + r.open, 0);
}

export async function run({ quick }) {
  const target = quick ? 3_000 : 50_000;
  const hard = hardFileLimit();
  const serverLimit = raisedFileLimit(); // what a server child gets: WANTED_FILES if the hard limit can be raised, else the hard limit
  const clientLimit = serverLimit; // client processes are started the same way
  const n = Math.min(target, serverLimit - FD_HEADROOM);
  const settleMs = quick ? 1_500 : 5_000;
  const processes = Math.max(2, Math.ceil(n / Math.min(PER_CLIENT_PROCESS, clientLimit - FD_HEADROOM)));
  const users = Math.ceil(n / SOCKETS_PER_USER);
  const results = { target, hardFileLimit: hard, serverFileLimit: serverLimit, clientFileLimit: clientLimit, planned: n, clientProcesses: processes, users };

  // ---- Natter ----
  const natter = await startNatterRaised();
  let clients = Array.from({ length: processes }, () => startClientProcess());
  try {
    const people = await pool(users, () => createUser(natter));
    const [alice, bob] = people;
    const thread = (await api(natter, alice.token, "POST", `/chat/threads?${API}`, { topic: "connections", participants: [{ communicationIdentifier: { rawId: bob.id, communicationUser: { id: bob.id } } }] })).chatThread.id;
    const before = await settledRss(natter.child.pid, 1_000);
    const wsBase = natter.httpUrl.replace(/^http/, "ws");
    const urls = Array.from({ length: n }, (_, i) => new URL(`/realtime?access_token=${encodeURIComponent(people[i % users].token)}`, wsBase).href);
    const conn = await connectMany(clients, urls, 2);
    const after = await settledRss(natter.child.pid, settleMs);
    // Sends while connected: POST latency, and the first live delivery of each message to alice's or bob's sockets.
    await Promise.all(clients.map((c) => c.call("reset", { trackMessages: true })));
    const sends = [];
    for (let i = 0; i < (quick ? 5 : 20); i++) {
      const t = nowMs();
      await api(natter, alice.token, "POST", `/chat/threads/${encodeURIComponent(thread)}/messages?${API}`, { content: `@@T${t.toFixed(3)}@@ still serving` });
      sends.push(nowMs() - t);
      await sleep(100);
    }
    await sleep(500);
    const reports = await Promise.all(clients.map((c) => c.call("report")));
    const perMessage = new Map();
    for (const r of reports) for (const [k, v] of r.perMessage) {
      const m = perMessage.get(k);
      perMessage.set(k, m ? { first: Math.min(m.first, v.first), deliveries: m.deliveries + v.deliveries } : v);
    }
    const firsts = [...perMessage.values()].map((m) => m.first);
    const open = reports.reduce((a, r) => a + r.open, 0);
    const sockets = (u) => Math.floor(n / users) + (u < n % users ? 1 : 0);
    results.natter = {
      ...conn, rssBeforeKb: before, rssAfterKb: after, kbPerConnection: Math.round(((after - before) / conn.connected) * 10) / 10, openAfterSends: open,
      sendMs: { p50: Math.round(median(sends) * 10) / 10, max: Math.round(Math.max(...sends) * 10) / 10, count: sends.length },
      delivery: {
        messagesDelivered: perMessage.size, firstDeliveryP50Ms: Math.round(median(firsts) * 10) / 10, firstDeliveryMaxMs: Math.round(Math.max(...firsts) * 10) / 10,
        deliveriesPerMessage: median([...perMessage.values()].map((m) => m.deliveries)), expectedPerMessage: sockets(0) + sockets(1),
      },
    };
  } finally {
    await Promise.all(clients.map((c) => c.stop()));
    await natter.stop();
  }

  // ---- Baseline: bare ws, other source addresses (the first run's ports may be in TIME_WAIT) ----
  const baseline = await startWsBaseline();
  clients = Array.from({ length: processes }, () => startClientProcess());
  try {
    const before = await settledRss(baseline.child.pid, 1_000);
    const url = baseline.httpUrl.replace(/^http/, "ws") + "realtime";
    const conn = await connectMany(clients, Array.from({ length: n }, () => url), 2 + Math.max(4, Math.ceil(n / PER_SOURCE_ADDRESS)));
    const after = await settledRss(baseline.child.pid, settleMs);
    results.baseline = { ...conn, rssBeforeKb: before, rssAfterKb: after, kbPerConnection: Math.round(((after - before) / conn.connected) * 10) / 10, open: await stillOpen(clients) };
  } finally {
    await Promise.all(clients.map((c) => c.stop()));
    await baseline.stop();
  }

  const N = results.natter;
  const B = results.baseline;
  const row = (name, r) => ({
    case: name, connections: `${r.connected}/${n}`, "connect s": Math.round(r.seconds * 10) / 10, "conn/s": r.rate,
    "conn/s vs baseline": `${Math.round((r.rate / B.rate) * 100)}%`,
    "RSS before MB": Math.round(r.rssBeforeKb / 1024), "RSS after MB": Math.round(r.rssAfterKb / 1024),
    "KB/conn": r.kbPerConnection, "KB/conn vs baseline": `${Math.round((r.kbPerConnection / B.kbPerConnection) * 10) / 10}×`,
  });
  const capped = n < target
    ? `Only ${n} of the ${target} connections were attempted: the hard open-file limit here is ${hard} (ulimit -Hn), raising it to ${WANTED_FILES} failed (it needs CAP_SYS_RESOURCE), so the server process cannot hold more than ~${serverLimit - FD_HEADROOM} sockets. `
    : "";
  const notes = [
    `${capped}Server file limit raised to ${serverLimit} with sh -c 'ulimit -n …; exec node …' (asks for ${WANTED_FILES}, falls back to the hard limit). ${processes} client child processes, ${N.addresses} source addresses (127.0.0.2…) for Natter and ${B.addresses} others for the baseline, ${users} users × ${SOCKETS_PER_USER} sockets (the default caps: 50 per user, 50,000 per node; the token cache holds 20,000 tokens, so sockets share users' tokens).`,
    `RSS per connection target ≤ 30 KB: ${N.kbPerConnection <= 30 ? "met" : "MISSED"} (${N.kbPerConnection} KB; bare ws ${B.kbPerConnection} KB). Connect rate counts upgrade + hello + ready, 200 in flight per client process; failures: natter ${N.failed} ${JSON.stringify(N.errors)}, baseline ${B.failed}.`,
    `While connected: ${N.sendMs.count} sendMessage calls, latency p50 ${N.sendMs.p50} ms, max ${N.sendMs.max} ms; ${N.delivery.messagesDelivered}/${N.sendMs.count} delivered live, first delivery p50 ${N.delivery.firstDeliveryP50Ms} ms, max ${N.delivery.firstDeliveryMaxMs} ms, to ${N.delivery.deliveriesPerMessage} of the ${N.delivery.expectedPerMessage} sockets of the sender and recipient per message; ${N.openAfterSends}/${N.connected} sockets still open afterwards.`,
    `RSS before/after = median of samples every 250 ms over 1 s before connecting and over ${settleMs / 1000} s after the last connect, no forced GC. The machine is shared with other work; figures are indicative.`,
  ];
  return {
    name: "connections",
    description: `${n} concurrent idle realtime connections on one node (target ${target}): connect rate and RSS per connection, vs a bare ws server`,
    rows: [row("bare ws", B), row("natter", N)], notes: notes.join("\n"), results,
  };
}
