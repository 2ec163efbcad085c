// Scenario: server-side events (docs/events.md). A loopback webhook receiver (its own process) gets every chat
// event of 64 threads of 10 participants (a message is 10 events: 9 ChatMessageReceived, 1 …InThread).
// 1. Events delivered per second with 1, 10 and 100 subscriptions (all sent as fast as 64 senders can; the rate
//    is events / (last delivery - first send)).
// 2. Commit → receiver latency (p50/p99 of composeTime → receipt, one …InThread event per message) at half the
//    1-subscription rate.
// 3. Durable sends/s with 10 subscriptions delivering vs none: two servers, runs interleaved, medians.
// 4. A backlog of 100,000 events piled up while the receiver was down, drained once it is back (one event per
//    request, Event Grid's default, and 100).
// NATTER_BENCH_EVENTS_CASES=rate,latency,sends,backlog runs only those cases (latency needs rate).
// NATTER_BENCH_PROFILE=1 runs the servers under --cpu-prof and prints their top functions: B (10 subscriptions
// in case 3) after case 3, A (every other case) at the end.
import { fork } from "node:child_process";
import net from "node:net";
import { join } from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { summarizeProfileDir } from "./cpu-profile-summary.mjs";
import { ROOT, api, createUser, load, median, paced, pool, signedApi, startNatterProcess } from "./lib.mjs";

const SENDERS = 64;
const PER_THREAD = 10;
const V = "api-version=2024-03-07";
const SUB_V = "api-version=2025-02-15";
/** Engine settings for the benchmark: loopback receivers allowed, quick first retry after the outage. */
const NATTER_ARGS = ["--events-retry-min-seconds", "1"];
const NATTER_ENV = {};

async function freePort() {
  const server = net.createServer();
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

/** The receiver process on `port`; ask() sends an IPC command and resolves with the answer. */
async function startReceiver(port) {
  const child = fork(join(ROOT, "bench/events-receiver-proc.mjs"), [], { env: { ...process.env, PORT: String(port) }, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  await new Promise((resolve, reject) => {
    child.once("message", resolve);
    child.once("exit", (code) => reject(new Error(`receiver exited with ${code}`)));
  });
  const ask = (cmd) => new Promise((resolve) => {
    child.once("message", resolve);
    child.send(cmd);
  });
  return {
    url: `http://127.0.0.1:${port}/`,
    stats: async () => (await ask("stats")).stats,
    latencies: async () => (await ask("latencies")).latencies,
    reset: () => child.send("reset"),
    async stop() {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
    },
  };
}

/** 64 senders, each with its own thread of 10 participants (itself and 9 of the others). */
async function setUp(natter) {
  const users = await pool(SENDERS, () => createUser(natter), 16);
  const threads = await pool(SENDERS, (i) => {
    const others = Array.from({ length: PER_THREAD - 1 }, (_, k) => users[(i + 1 + k) % SENDERS]);
    return api(natter, users[i].token, "POST", `/chat/threads?${V}`, {
      topic: `events ${i}`, participants: others.map((u) => ({ communicationIdentifier: { rawId: u.id, communicationUser: { id: u.id } } })),
    });
  }, 16);
  const body = JSON.stringify({ content: "hello, this is a benchmark message", senderDisplayName: "Bench" });
  const request = (i) => ({
    method: "POST", path: `/chat/threads/${encodeURIComponent(threads[i].chatThread.id)}/messages?${V}`,
    headers: { authorization: `Bearer ${users[i].token}`, "content-type": "application/json" }, body,
  });
  const sendMany = (n) => pool(n, (k) => {
    const r = request(k % SENDERS);
    return fetch(new URL(r.path, natter.httpUrl), { method: "POST", headers: r.headers, body: r.body }).then((res) => {
      if (res.status !== 201) throw new Error(`send: ${res.status}`);
      return res.arrayBuffer();
    });
  }, SENDERS);
  return { request, sendMany };
}

async function subscribe(natter, name, url, maxEventsPerBatch = 1) {
  await signedApi(natter, "PUT", `/eventSubscriptions/${name}?${SUB_V}`, {
    properties: { destination: { endpointType: "WebHook", properties: { endpointUrl: url, maxEventsPerBatch } }, eventDeliverySchema: "EventGridSchema" },
  });
}
const unsubscribe = (natter, name) => signedApi(natter, "DELETE", `/eventSubscriptions/${name}?${SUB_V}`);

async function until(condition, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function run({ quick }) {
  const seconds = quick ? 2 : 8;
  const runs = quick ? 1 : 3;
  const eventsPerCase = quick ? 6_000 : 40_000;
  const backlog = quick ? 10_000 : 100_000;
  const port = await freePort();
  let receiver = await startReceiver(port);
  const only = new Set((process.env.NATTER_BENCH_EVENTS_CASES ?? "rate,latency,sends,backlog").split(","));
  const profileDir = process.env.NATTER_BENCH_PROFILE ? mkdtempSync(join(tmpdir(), "natter-prof-")) : undefined;
  const profileDirA = process.env.NATTER_BENCH_PROFILE ? mkdtempSync(join(tmpdir(), "natter-prof-")) : undefined;
  const a = await startNatterProcess(NATTER_ARGS, NATTER_ENV, profileDirA ? ["--cpu-prof", `--cpu-prof-dir=${profileDirA}`] : []);
  const b = await startNatterProcess(NATTER_ARGS, NATTER_ENV, profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : []);
  const rows = [];
  const results = {};
  // Progress on stderr: the table comes at the end, and a full run takes minutes.
  const push = rows.push.bind(rows);
  rows.push = (...r) => {
    for (const row of r) console.error(`events: ${row.case}: ${row.value} (${row.detail})`);
    return push(...r);
  };
  try {
    const onA = await setUp(a);
    const onB = await setUp(b);

    // 1. Delivery rate with 1, 10, 100 subscriptions.
    for (const n of only.has("rate") ? [1, 10, 100] : []) {
      const names = Array.from({ length: n }, (_, i) => `rate-${n}-${i}`);
      await pool(n, (i) => subscribe(a, names[i], receiver.url), 10);
      receiver.reset();
      const messages = Math.max(SENDERS, Math.round(eventsPerCase / (PER_THREAD * n)));
      const expected = messages * PER_THREAD * n;
      const t0 = Date.now();
      await onA.sendMany(messages);
      await until(async () => (await receiver.stats()).count >= expected, 300_000, `${expected} events with ${n} subscriptions`);
      const { count, last } = await receiver.stats();
      const rate = Math.round(count / ((last - t0) / 1000));
      results[`rate${n}`] = rate;
      rows.push({ case: `delivered events/s, ${n} subscription${n > 1 ? "s" : ""}`, value: rate, detail: `${count} events (${messages} messages × ${PER_THREAD} events × ${n})` });
      await pool(n, (i) => unsubscribe(a, names[i]), 10);
    }

    // 2. Commit → receiver latency at half the 1-subscription rate.
    if (only.has("latency") && results.rate1) {
    await subscribe(a, "latency", receiver.url);
    await new Promise((r) => setTimeout(r, 1_500)); // deleted subscriptions stop within a second
    await receiver.latencies();
    const halfEvents = Math.floor(results.rate1 / 2);
    const msgRate = Math.max(1, Math.floor(halfEvents / PER_THREAD));
    const sent = await paced({ url: a.httpUrl, rate: msgRate, seconds, connections: SENDERS, requestsFor: onA.request });
    let lat = [];
    await until(async () => (lat = lat.concat(await receiver.latencies())).length >= sent.sent, 60_000, "latency events");
    lat.sort((x, y) => x - y);
    const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
    results.latency = { p50: q(0.5), p99: q(0.99), eventsPerSecond: msgRate * PER_THREAD };
    rows.push({ case: "commit → receiver p50 / p99 ms", value: `${q(0.5)} / ${q(0.99)}`, detail: `${msgRate} messages/s = ${msgRate * PER_THREAD} events/s (half of the 1-subscription rate), ${lat.length} samples` });
    await unsubscribe(a, "latency");
    }

    // 3. Durable sends/s: B with 10 subscriptions delivering, A with none; interleaved runs. B's subscriptions
    //    exist only during B's runs (a new one starts at the stream head): B cannot keep up with 100 requests per
    //    send, and its backlog draining at full speed during A's runs would take the shared cores from A.
    if (only.has("sends")) {
    const names = Array.from({ length: 10 }, (_, i) => `sends-${i}`);
    const sendCase = (server, on) => ({ url: server.httpUrl, requestsFor: on.request, connections: SENDERS });
    const withSubscriptions = async (fn) => {
      await pool(10, (i) => subscribe(b, names[i], receiver.url), 10);
      try {
        return await fn();
      } finally {
        await pool(10, (i) => unsubscribe(b, names[i]), 10);
        await new Promise((r) => setTimeout(r, 1_500)); // deleted subscriptions stop within a second
      }
    };
    await load({ ...sendCase(a, onA), seconds: 1 });
    await withSubscriptions(() => load({ ...sendCase(b, onB), seconds: 1 }));
    const none = [];
    const ten = [];
    let meanwhile = 0;
    for (let r = 0; r < runs; r++) {
      none.push((await load({ ...sendCase(a, onA), seconds })).rps);
      receiver.reset();
      ten.push(await withSubscriptions(async () => {
        const { rps } = await load({ ...sendCase(b, onB), seconds });
        // Delivery goes on behind the sends, at a lower priority: what B delivered during its run.
        meanwhile += (await receiver.stats()).count;
        return rps;
      }));
    }
    const ratio = median(ten) / median(none);
    results.sends = { none: Math.round(median(none)), ten: Math.round(median(ten)), ratio, deliveredPerSecond: Math.round(meanwhile / (runs * seconds)) };
    rows.push({ case: "durable sends/s, no subscriptions", value: Math.round(median(none)), detail: `median of ${runs} × ${seconds} s, ${SENDERS} connections` });
    rows.push({
      case: "durable sends/s, 10 subscriptions", value: Math.round(median(ten)),
      detail: `${Math.round(ratio * 100)}% of no subscriptions (target ≥ 90%); meanwhile ${Math.round(meanwhile / (runs * seconds))} events/s delivered`,
    });
    await b.stop();
    if (profileDir) {
      const { busyMs, top } = summarizeProfileDir(profileDir, 25);
      console.error(`events: server B profile, ${busyMs} ms busy:`);
      for (const t of top) console.error(`  ${t.pct}% ${t.selfMs} ms ${t.fn} ${t.where}`);
      rmSync(profileDir, { recursive: true, force: true });
    }
    }

    // 4. Backlog after an outage: the receiver is down while `backlog` events pile up, then comes back. With
    //    Event Grid's default of one event per request, and with batches of 100.
    for (const batch of only.has("backlog") ? [1, 100] : []) {
      await subscribe(a, `backlog-${batch}`, receiver.url, batch);
      await receiver.stop();
      await onA.sendMany(Math.ceil(backlog / PER_THREAD));
      receiver = await startReceiver(port);
      await until(async () => (await receiver.stats()).count >= backlog, 900_000, `the backlog of ${backlog} events`);
      const drained = await receiver.stats();
      const took = (drained.last - drained.first) / 1000;
      const drainRate = Math.round(drained.count / took);
      results[`drain${batch}`] = { events: drained.count, seconds: took, rate: drainRate };
      rows.push({
        case: `backlog drain events/s, maxEventsPerBatch ${batch}`, value: drainRate,
        detail: `${drained.count} events in ${took.toFixed(1)} s after the receiver came back (target ≥ 5,000/s)`,
      });
      await unsubscribe(a, `backlog-${batch}`);
    }
  } finally {
    await receiver.stop().catch(() => {});
    await a.stop();
    await b.stop();
  }
  if (profileDirA) {
    const { busyMs, top } = summarizeProfileDir(profileDirA, 25);
    console.error(`events: server A profile, ${busyMs} ms busy:`);
    for (const t of top) console.error(`  ${t.pct}% ${t.selfMs} ms ${t.fn} ${t.where}`);
    rmSync(profileDirA, { recursive: true, force: true });
  }
  return {
    name: "events",
    description: `Server-side events to a loopback webhook receiver: ${SENDERS} threads of ${PER_THREAD} participants, Event Grid schema, maxEventsPerBatch 1 unless said`,
    rows, results,
  };
}

// `node bench/events.mjs [--quick]` runs this scenario alone.
if (import.meta.url === `file://${process.argv[1]}`) {
  const { table } = await import("./lib.mjs");
  const result = await run({ quick: process.argv.includes("--quick") });
  console.log(`\n## ${result.name}: ${result.description}\n\n${table(result.rows)}\n`);
}
