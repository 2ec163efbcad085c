// Scenario 1: durable sends. POST sendMessage with 64 concurrent senders over 64 threads and over one hot
// thread, against Natter (every 201 fsync'd, group commit) and a bare Fastify route (no auth, no storage).
// NATTER_BENCH_PROFILE=1 runs the Natter server under --cpu-prof and adds its top functions to the notes.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { api, createUser, load, median, paced, processCounters, startBaselineProcess, startNatterProcess } from "./lib.mjs";
import { summarizeProfileDir } from "./cpu-profile-summary.mjs";

const CONNECTIONS = 64;

export async function run({ quick }) {
  const seconds = quick ? 1.5 : 10;
  const runs = quick ? 1 : 5;
  const profileDir = process.env.NATTER_BENCH_PROFILE ? mkdtempSync(join(tmpdir(), "natter-prof-")) : undefined;
  const natter = await startNatterProcess([], {}, profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : []);
  const baseline = await startBaselineProcess();
  try {
    const users = await Promise.all(Array.from({ length: CONNECTIONS }, () => createUser(natter)));
    const own = await Promise.all(users.map((u) => api(natter, u.token, "POST", "/chat/threads?api-version=2024-03-07", { topic: "bench" })));
    const hot = await api(natter, users[0].token, "POST", "/chat/threads?api-version=2024-03-07", {
      topic: "hot", participants: users.slice(1).map((u) => ({ communicationIdentifier: { rawId: u.id, communicationUser: { id: u.id } } })),
    });
    const body = JSON.stringify({ content: "hello, this is a benchmark message", senderDisplayName: "Bench" });
    const send = (threadId, token) => ({
      method: "POST", path: `/chat/threads/${encodeURIComponent(threadId)}/messages?api-version=2024-03-07`,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body,
    });
    const cases = {
      baseline: { url: baseline.httpUrl, requestsFor: () => send("19:x@thread.v2", "none") },
      "natter 64 threads": { url: natter.httpUrl, requestsFor: (i) => send(own[i].chatThread.id, users[i].token) },
      "natter 1 hot thread": { url: natter.httpUrl, requestsFor: (i) => send(hot.chatThread.id, users[i].token) },
    };
    const results = {};
    for (const [name, c] of Object.entries(cases)) {
      await load({ ...c, connections: CONNECTIONS, seconds: quick ? 0.5 : 1 }); // warm-up
      const samples = [];
      // CPU (every thread of the server process, user + system) and bytes written to disk, per request at the max.
      const pid = name === "baseline" ? baseline.child.pid : natter.child.pid;
      const before = await processCounters(pid);
      for (let r = 0; r < runs; r++) samples.push(await load({ ...c, connections: CONNECTIONS, seconds }));
      const after = await processCounters(pid);
      const requests = samples.reduce((a, s) => a + s.total, 0);
      const max = median(samples.map((s) => s.rps));
      // Latency at half of the maximum rate, open-loop (a request every 2/max s).
      // Not for the baseline: half of its rate is beyond what this one-process paced generator can issue, so
      // it would measure the generator's own queue.
      const half = name === "baseline" ? { p99: "n/a" } : await paced({ ...c, connections: CONNECTIONS, seconds, rate: Math.floor(max / 2) });
      results[name] = {
        rps: Math.round(max), p50: median(samples.map((s) => s.p50)), p99: median(samples.map((s) => s.p99)),
        errors: samples.reduce((a, s) => a + s.errors, 0), p99AtHalfRate: half.p99, halfRate: Math.floor(max / 2),
        cpuUsPerRequest: Math.round((after.cpuUs - before.cpuUs) / requests),
        diskBytesPerRequest: Math.round((after.writeBytes - before.writeBytes) / requests),
      };
    }
    const base = results.baseline.rps;
    const rows = Object.entries(results).map(([name, r]) => ({
      case: name, "req/s (median)": r.rps, "vs baseline": `${Math.round((r.rps / base) * 100)}%`,
      "p50 ms": r.p50, "p99 ms": r.p99, "p99 ms @ half rate": r.p99AtHalfRate,
      "CPU µs/req": r.cpuUsPerRequest, "disk B/req": r.diskBytesPerRequest, errors: r.errors,
    }));
    let notes;
    if (profileDir) {
      await natter.stop(); // the profile is written at exit
      const { busyMs, top } = summarizeProfileDir(profileDir, 15);
      notes = `Natter server CPU profile (main thread, ${busyMs} ms busy over the run, setup included; self time, % of busy): ${top.map((t) => `${t.fn} ${t.where} ${t.pct}%`).join("; ")}.`;
    }
    return { name: "durable-sends", description: `POST sendMessage, ${CONNECTIONS} connections, ${runs} runs of ${seconds} s (median)`, rows, results, notes };
  } finally {
    await natter.stop();
    await baseline.stop();
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  }
}
