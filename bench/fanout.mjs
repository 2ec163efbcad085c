// Scenario: realtime fan-out. One thread of 250 participants, each with one WebSocket speaking Natter's
// protocol; senders POST sendMessage (keep-alive) with their send time in the content, and every delivery's
// send→receive latency is measured on receipt. A ramp finds the highest sustainable message rate, then
// latency is measured at half of it. Baseline, same run and same clients: a bare `ws` server that
// broadcasts a frame of the same size to 250 sockets on each POST.
//
// The 250 clients live in 2 child processes (not worker threads): each has its own event loop, heap and GC,
// so neither the sender nor a collection in the measuring process delays receipt; 2 because the machine
// has 2 cores (more processes only add context switches). Send and receive times are wall-clock with
// sub-ms resolution (bench/wall-clock.mjs), comparable across processes even across a clock step.
// NATTER_BENCH_PROFILE=1 runs the Natter server under --cpu-prof and adds its top functions to the notes.
// Diagnostics: NATTER_BENCH_FANOUT_FIXED=<msg/s> runs Natter alone at that rate (3 steps of 5 s, printed, no
// baseline, results.json untouched); NATTER_BENCH_NODE_ARGS adds node flags to the server (say, --import of a
// probe, or GC flags).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { api, createUser, median, paced, pool } from "./lib.mjs";
import { mergeSorted, nowMs, pct, startClientProcess, startNatterRaised, startWsBaseline } from "./ws-lib.mjs";
import { summarizeProfileDir } from "./cpu-profile-summary.mjs";

const PARTICIPANTS = 250;
const CLIENT_PROCESSES = 2;
const SENDER_CONNECTIONS = 16;
const API = "api-version=2024-03-07";
const P99_LIMIT_MS = 250; // a step whose p99 exceeds this is not sustainable (10× the 25 ms target)

/** User and system CPU time of a process in ms (clock ticks of 10 ms). */
const cpuTimes = (pid) => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const io = readFileSync(`/proc/${pid}/io`, "utf8");
  return { user: Number(f[11]) * 10, sys: Number(f[12]) * 10, syscw: Number(/syscw: (\d+)/.exec(io)[1]), syscr: Number(/syscr: (\d+)/.exec(io)[1]), diskBytes: Number(/^write_bytes: (\d+)/m.exec(io)[1]) };
};

const marker = () => `@@T${nowMs().toFixed(3)}@@`;
const ident = (id) => ({ communicationIdentifier: { rawId: id, communicationUser: { id } } });


/** One paced step at `rate` messages/s; waits for the deliveries, returns rates and latencies. */
async function step(target, clients, rate, seconds, { track = false, drainMs = 5_000, stillMs = 1_000 } = {}) {
  await Promise.all(clients.map((c) => c.call("reset", { trackMessages: track })));
  const cpu0 = cpuTimes(target.pid);
  const t0 = nowMs();
  const post = await paced({ url: target.url, rate, seconds, connections: SENDER_CONNECTIONS, requestsFor: target.request });
  const expected = (post.sent - post.errors) * PARTICIPANTS;
  // Drain: until every delivery arrived, or nothing new for stillMs (at most drainMs).
  let last = -1;
  let stillSince = nowMs();
  for (const deadline = nowMs() + drainMs; nowMs() < deadline;) {
    const reports = await Promise.all(clients.map((c) => c.call("report", { light: true })));
    const got = reports.reduce((a, r) => a + r.count, 0);
    if (got >= expected) break;
    if (got !== last) [last, stillSince] = [got, nowMs()];
    else if (nowMs() - stillSince > stillMs) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const cpu1 = cpuTimes(target.pid);
  const cpu = ((cpu1.user + cpu1.sys - cpu0.user - cpu0.sys) / (nowMs() - t0)) * 100;
  const reports = await Promise.all(clients.map((c) => c.call("report")));
  const lat = mergeSorted(reports.map((r) => r.latencies));
  const deliveries = lat.length;
  const lastRecv = Math.max(...reports.map((r) => r.lastRecv));
  const achieved = deliveries / ((lastRecv - t0) / 1000);
  const offered = rate * PARTICIPANTS;
  const p99 = pct(lat, 0.99);
  const ok = post.errors === 0 && deliveries >= expected && achieved >= 0.9 * offered && p99 <= P99_LIMIT_MS;
  // With tracking, each message's first delivery (commit + publish + first frame) apart from the rest (the
  // spread of writing its other frames), to tell where the latency comes from.
  let first;
  if (track) {
    const byMessage = new Map();
    for (const r of reports) for (const [k, v] of r.perMessage) byMessage.set(k, Math.min(byMessage.get(k) ?? Infinity, v.first));
    first = Float64Array.from(byMessage.values()).sort();
  }
  const perDelivery = (k) => (deliveries ? Math.round(((cpu1[k] - cpu0[k]) * 1000) / deliveries * 10) / 10 : NaN);
  return {
    userUs: perDelivery("user"), sysUs: perDelivery("sys"),
    writesPerDelivery: deliveries ? Math.round(((cpu1.syscw - cpu0.syscw) / deliveries) * 100) / 100 : NaN,
    diskKbPerMessage: deliveries ? Math.round((cpu1.diskBytes - cpu0.diskBytes) / 1024 / (deliveries / PARTICIPANTS)) : NaN,
    readsPerDelivery: deliveries ? Math.round(((cpu1.syscr - cpu0.syscr) / deliveries) * 100) / 100 : NaN,
    firstP50: first ? pct(first, 0.5) : undefined, firstP99: first ? pct(first, 0.99) : undefined, postP50: post.p50, rate, offered, achieved: Math.round(achieved), deliveries, expected, p50: pct(lat, 0.5), p99, max: pct(lat, 1), ok, postErrors: post.errors, postP99: post.p99, serverCpuPct: Math.round(cpu), frameBytes: Math.max(...reports.map((r) => r.frameBytes)) };
}

/** Ramps ×factor from `start` until a step fails (or ÷factor down until one passes); bisects `refine` times. */
async function ramp(target, clients, { start, factor, seconds, refine, retry, drain, cap = 5_000 }) {
  const log = [];
  // With `retry`, a failed step is run once more (this machine is shared: one stall elsewhere fails a
  // step); it fails only when both runs fail.
  const at = async (rate) => {
    let r = await step(target, clients, Math.round(rate), seconds, drain);
    log.push(r);
    if (!r.ok && retry) {
      r = await step(target, clients, Math.round(rate), seconds, drain);
      log.push(r);
    }
    return r;
  };
  let good;
  let bad;
  let r = await at(start);
  if (r.ok) {
    good = r;
    while (!bad && good.rate * factor <= cap) {
      r = await at(good.rate * factor);
      if (r.ok) good = r;
      else bad = r;
    }
  } else {
    bad = r;
    while (!good && bad.rate / factor >= 1) {
      r = await at(bad.rate / factor);
      if (r.ok) good = r;
      else bad = r;
    }
  }
  for (let i = 0; i < refine && good && bad && bad.rate - good.rate > 2; i++) {
    r = await at(Math.sqrt(good.rate * bad.rate));
    if (r.ok) good = r;
    else bad = r;
  }
  return { good, bad, log };
}

async function measure(name, target, clients, opts) {
  await step(target, clients, Math.max(2, Math.round(opts.start / 4)), 1, opts.drain); // warm-up
  const { good, log } = await ramp(target, clients, opts);
  if (!good) return { name, good: undefined, log };
  const half = Math.max(1, Math.round(good.rate / 2));
  const runs = [];
  // The ramp ends overloaded: let the server drain its backlog (queued writes, WAL checkpoint, GC) first, so
  // the half-rate figure measures that rate and not the tail of the overload.
  await new Promise((r) => setTimeout(r, opts.pauseMs));
  for (let i = 0; i < opts.halfRuns; i++) runs.push(await step(target, clients, half, opts.halfSeconds, { ...opts.drain, track: true }));
  const m = (k) => median(runs.map((x) => x[k]));
  return {
    name, good, log, half, runs, postP50: m("postP50"), postP99: m("postP99"), firstP50: m("firstP50"), firstP99: m("firstP99"),
    p50: median(runs.map((x) => x.p50)), p99: median(runs.map((x) => x.p99)), frameBytes: good.frameBytes,
  };
}

export async function run({ quick }) {
  const opts = quick
    ? { factor: 2, seconds: 1, refine: 0, halfRuns: 1, halfSeconds: 1.5, start: 32, retry: false, pauseMs: 800, drain: { drainMs: 2_000, stillMs: 500 } }
    : { factor: 1.5, seconds: 4, refine: 2, halfRuns: 3, halfSeconds: 5, start: 8, retry: true, pauseMs: 3_000, drain: { drainMs: 5_000, stillMs: 1_000 } };
  const profileDir = process.env.NATTER_BENCH_PROFILE ? mkdtempSync(join(tmpdir(), "natter-prof-")) : undefined;
  const natter = await startNatterRaised({ nodeArgs: [...(profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : []), ...(process.env.NATTER_BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean)] });
  const clients = Array.from({ length: CLIENT_PROCESSES }, () => startClientProcess());
  const results = {};
  let natterStopped = false;
  let fixedOnly = false;
  let baseline;
  try {
    // Setup: 250 users, one thread with all of them (200 at creation, the rest through :add).
    const users = await pool(PARTICIPANTS, () => createUser(natter));
    const thread = (await api(natter, users[0].token, "POST", `/chat/threads?${API}`, { topic: "fanout", participants: users.slice(1, 200).map((u) => ident(u.id)) })).chatThread.id;
    await api(natter, users[0].token, "POST", `/chat/threads/${encodeURIComponent(thread)}/participants/:add?${API}`, { participants: users.slice(200).map((u) => ident(u.id)) });
    const wsBase = natter.httpUrl.replace(/^http/, "ws");
    await connectAll(clients, users.map((u) => ({ url: new URL(`/realtime?access_token=${encodeURIComponent(u.token)}`, wsBase).href })));
    const pad = "x".repeat(80);
    const senders = users.slice(0, SENDER_CONNECTIONS);
    const natterTarget = {
      pid: natter.child.pid, url: natter.httpUrl,
      request: (i) => ({
        method: "POST", path: `/chat/threads/${encodeURIComponent(thread)}/messages?${API}`,
        headers: { authorization: `Bearer ${senders[i].token}`, "content-type": "application/json" },
        body: JSON.stringify({ content: `${marker()} fanout benchmark message ${pad}`, senderDisplayName: "Bench" }),
      }),
    };
    const fixed = Number(process.env.NATTER_BENCH_FANOUT_FIXED ?? 0);
    if (fixed > 0) {
      // Diagnostic: Natter alone at one rate (with NATTER_BENCH_PROFILE, a profile of that load only, mostly).
      for (let i = 0; i < 3; i++) {
        const r = await step(natterTarget, clients, fixed, 5, { ...opts.drain, track: true });
        console.log(JSON.stringify({ rate: r.rate, achieved: r.achieved, p50: r.p50, p99: r.p99, firstP50: r.firstP50, firstP99: r.firstP99, postP50: r.postP50, cpu: r.serverCpuPct, userUs: r.userUs, sysUs: r.sysUs }));
      }
      await natter.stop();
      natterStopped = true;
      if (profileDir) {
        const { busyMs, top } = summarizeProfileDir(profileDir, 40);
        console.log(`busy ${busyMs} ms\n${top.map((t) => `${t.pct}% ${t.fn} ${t.where}`).join("\n")}`);
        if (process.env.NATTER_BENCH_PROFILE_KEEP) console.log(`Profiles kept in ${profileDir}.`);
        else rmSync(profileDir, { recursive: true, force: true });
      }
      fixedOnly = true;
      return undefined;
    }
    results.natter = await measure("natter", natterTarget, clients, opts);
    await Promise.all(clients.map((c) => c.call("closeAll")));
    await natter.stop();
    natterStopped = true;

    // Baseline: same clients, same frame size, same trigger (one POST per message).
    baseline = await startWsBaseline();
    await connectAll(clients, users.map(() => ({ url: baseline.httpUrl.replace(/^http/, "ws") + "realtime" })));
    const frameBytes = results.natter.frameBytes ?? 800;
    const frame = () => {
      const head = `{"type":"event","event":"chatMessageReceived","data":{"message":"${marker()} `;
      return head + "x".repeat(Math.max(0, frameBytes - head.length - 3)) + '"}}';
    };
    const baseTarget = {
      pid: baseline.child.pid, url: baseline.httpUrl,
      request: () => ({ method: "POST", path: "/broadcast", headers: { "content-type": "application/json" }, body: frame() }),
    };
    results.baseline = await measure("bare ws", baseTarget, clients, { ...opts, start: 2 * (results.natter.good?.rate ?? 8) }); // bare ws is faster: start above Natter's max
  } finally {
    await Promise.all(clients.map((c) => c.stop()));
    if (!natterStopped) await natter.stop();
    await baseline?.stop();
    // The diagnostic run printed its figures; it writes no results (clients and servers are stopped first).
    if (fixedOnly) process.exit(0);
  }

  const n = results.natter;
  const b = results.baseline;
  const ratio = n.good && b.good ? n.good.achieved / b.good.achieved : NaN;
  const row = (r) => ({
    case: r.name,
    "max msg/s": r.good?.rate ?? "none",
    "deliveries/s @ max": r.good?.achieved ?? "-",
    "vs baseline": r.good && b.good ? `${Math.round((r.good.achieved / b.good.achieved) * 100)}%` : "-",
    "server CPU @ max": r.good ? `${r.good.serverCpuPct}%` : "-",
    "server CPU µs/delivery user+sys @ max": r.good ? `${r.good.userUs}+${r.good.sysUs}` : "-",
    "half rate msg/s": r.half ?? "-",
    "p50 ms @ half": r.p50 ?? "-",
    "p99 ms @ half": r.p99 ?? "-",
    "frame bytes": r.frameBytes ?? "-",
  });
  const rows = [row(b), row(n)];
  const ramps = (r) => r.log.map((s) => `${s.rate}${s.ok ? "" : "✗"}(p99 ${s.p99}, cpu ${s.serverCpuPct}%, ${Math.round(s.userUs)}+${Math.round(s.sysUs)} µs/dlv, ${s.writesPerDelivery}w/${s.readsPerDelivery}r/dlv, ${s.diskKbPerMessage} KB/msg)`).join(", ");
  const p99Met = n.p99 <= 25;
  const ratioMet = ratio >= 0.5;
  let notes = [
    `Targets: p99 ≤ 25 ms at half the max rate: ${p99Met ? "met" : "MISSED"} (${n.p99} ms); Natter deliveries/s ≥ 50% of bare ws: ${ratioMet ? "met" : "MISSED"} (${Math.round(ratio * 100)}%).`,
    `${PARTICIPANTS} sockets in ${CLIENT_PROCESSES} client child processes (own event loop and GC each; 2 = the core count), ${SENDER_CONNECTIONS} keep-alive sender connections in the bench process, open-loop paced sends; latency = receive wall clock − send wall clock embedded in the content, over every delivery.`,
    `A step is sustainable when every delivery arrives, deliveries/s ≥ 90% of offered (measured from the first send to the last receipt) and p99 ≤ ${P99_LIMIT_MS} ms; ${opts.retry ? "a failed step is repeated once and fails only if the repeat fails too; " : ""}the ramp multiplies the rate by ${opts.factor}${opts.refine ? ` and then bisects ${opts.refine}×` : ""}. Steps of ${opts.seconds} s (then up to ${opts.drain.drainMs / 1000} s for the deliveries to arrive), ${opts.pauseMs / 1000} s pause after the ramp; latency at half rate is the median of ${opts.halfRuns} run(s) of ${opts.halfSeconds} s.`,
    `Where the latency at half rate goes (medians of the runs, ms): sendMessage response p50/p99 natter ${n.postP50}/${n.postP99}, bare ws ${b.postP50}/${b.postP99} (Natter answers after the fsync'd commit); first delivery of each message p50/p99 natter ${n.firstP50}/${n.firstP99}, bare ws ${b.firstP50}/${b.firstP99}; all deliveries natter ${n.p50}/${n.p99}, bare ws ${b.p50}/${b.p99}. The gap between first and all deliveries is the time to write the other 249 frames, and the messages queued behind them. p99 of each run at half rate, in order: natter ${n.runs?.map((x) => x.p99).join(", ")}; bare ws ${b.runs?.map((x) => x.p99).join(", ")}.`,
    "Server CPU per delivery = the server child's user and system time (/proc/<pid>/stat) over the step, divided by the deliveries: system time is the kernel's share (socket writes on loopback also run the receiving side's TCP processing). Write/read syscalls per delivery: syscw/syscr of /proc/<pid>/io (all threads, so the SQLite WAL writes count too); KB to disk per message: write_bytes of /proc/<pid>/io (what the server wrote to files, WAL and checkpoint included), over the messages.",
    ...(n.good ? [`At its max step Natter wrote ${n.good.diskKbPerMessage} KB to disk per message (${Math.round((n.good.diskKbPerMessage * n.good.rate) / 1024)} MB/s) and made ${n.good.writesPerDelivery} write syscalls per delivery, bare ws 0 KB and ${b.good?.writesPerDelivery ?? "-"}; server CPU ${n.good.serverCpuPct}% (100% = one core; main thread plus the checkpoint worker and the fdatasync pool), ${n.good.userUs}+${n.good.sysUs} µs user+sys per delivery against ${b.good?.userUs}+${b.good?.sysUs} for bare ws. Where the time goes, and what changed: bench/RESULTS.notes.md.`] : []),
    "Ramp steps read: rate(p99 ms, server CPU, user+sys µs per delivery, write/read syscalls per delivery, KB to disk per message).",
    `Ramp natter: ${ramps(n)}. Ramp bare ws: ${ramps(b)}.`,
    ...(process.env.NATTER_BENCH_DATA_ROOT ? [`Diagnostic run: Natter's data folder under ${process.env.NATTER_BENCH_DATA_ROOT} (NATTER_BENCH_DATA_ROOT).`] : []),
    "Server, clients and sender share the same 2 cores, so the bare-ws ceiling is largely the clients' own; figures are indicative on a shared machine.",
  ];
  if (profileDir) {
    const { busyMs, top } = summarizeProfileDir(profileDir, 12);
    notes.push(`Natter server CPU profile (main thread, ${busyMs} ms busy over the run; self time, % of busy): ${top.map((t) => `${t.fn} ${t.where} ${t.pct}%`).join("; ")}.`);
    if (process.env.NATTER_BENCH_PROFILE_KEEP) notes.push(`Profiles kept in ${profileDir}.`);
    else rmSync(profileDir, { recursive: true, force: true });
  }
  return {
    name: "fanout",
    description: `sendMessage to one thread of ${PARTICIPANTS} participants, each on a realtime WebSocket: max sustainable rate and send→receive latency at half of it, vs a bare ws broadcast`,
    rows, notes: notes.join("\n"),
    results: { natter: strip(n), baseline: strip(b), ratio },
  };
}

const strip = (r) => ({ maxRate: r.good?.rate, deliveriesPerSec: r.good?.achieved, halfRate: r.half, p50: r.p50, p99: r.p99, halfRunP99s: r.runs?.map((x) => x.p99), postP50: r.postP50, postP99: r.postP99, firstP50: r.firstP50, firstP99: r.firstP99, frameBytes: r.frameBytes, ramp: r.log.map(({ rate, achieved, p50, p99, ok, serverCpuPct, userUs, sysUs, writesPerDelivery, readsPerDelivery, diskKbPerMessage }) => ({ rate, achieved, p50, p99, ok, serverCpuPct, userUs, sysUs, writesPerDelivery, readsPerDelivery, diskKbPerMessage })) });

async function connectAll(clients, targets) {
  const parts = clients.map((_, k) => targets.filter((_, i) => i % clients.length === k));
  const res = await Promise.all(clients.map((c, k) => c.call("connect", { targets: parts[k], concurrency: 50 })));
  const failed = res.reduce((a, r) => a + r.failed, 0);
  if (failed) throw new Error(`${failed} WebSocket clients failed to connect: ${JSON.stringify(res.map((r) => r.errors))}`);
}
