// Where a durable send's time goes: node bench/durable-sends-profile.mjs [64|hot] [rows]
// Starts Natter under --cpu-prof, drives 5 s of sendMessage (64 connections, over 64 threads or one hot thread),
// and prints, for that window only (set-up and shutdown excluded): req/s, CPU per send of the whole process
// (/proc, all threads), bytes written to disk per send, sends per commit (group commit, from /metrics), and the
// main thread's functions by self and inclusive time in µs per send.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { api, createUser, load, processCounters, startNatterProcess } from "./lib.mjs";

const hotCase = process.argv[2] === "hot";
const rows = Number(process.argv[3] ?? 25);
const dir = mkdtempSync(join(tmpdir(), "natter-prof-"));
const natter = await startNatterProcess([], {}, ["--cpu-prof", `--cpu-prof-dir=${dir}`]);
const users = await Promise.all(Array.from({ length: 64 }, () => createUser(natter)));
const own = await Promise.all(users.map((u) => api(natter, u.token, "POST", "/chat/threads?api-version=2024-03-07", { topic: "bench" })));
const hot = await api(natter, users[0].token, "POST", "/chat/threads?api-version=2024-03-07", {
  topic: "hot", participants: users.slice(1).map((u) => ({ communicationIdentifier: { rawId: u.id, communicationUser: { id: u.id } } })),
});
const body = JSON.stringify({ content: "hello, this is a benchmark message", senderDisplayName: "Bench" });
const send = (threadId, token) => ({
  method: "POST", path: `/chat/threads/${encodeURIComponent(threadId)}/messages?api-version=2024-03-07`,
  headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body,
});
const c = { url: natter.httpUrl, requestsFor: (i) => (hotCase ? send(hot.chatThread.id, users[i].token) : send(own[i].chatThread.id, users[i].token)) };
const metrics = async () => {
  const text = await (await fetch(new URL("/metrics", natter.httpUrl))).text();
  const get = (name) => Number(new RegExp(`^${name} (\\d+)`, "m").exec(text)?.[1]);
  return { commits: get("natter_store_commits"), transactions: get("natter_store_transactions") };
};
await load({ ...c, connections: 64, seconds: 1 });
const m0 = await metrics();
const before = await processCounters(natter.child.pid);
const r = await load({ ...c, connections: 64, seconds: 5 });
const after = await processCounters(natter.child.pid);
const m1 = await metrics();
const stopAt = performance.now();
natter.child.kill("SIGTERM");
await new Promise((resolve) => natter.child.once("exit", resolve));
const tailUs = (performance.now() - stopAt) * 1000;
console.log(`${hotCase ? "1 hot thread" : "64 threads"}: ${Math.round(r.rps)} sends/s; CPU ${Math.round((after.cpuUs - before.cpuUs) / r.total)} µs/send (process); ` +
  `disk ${Math.round((after.writeBytes - before.writeBytes) / r.total)} B/send; ${((m1.transactions - m0.transactions) / (m1.commits - m0.commits)).toFixed(1)} sends per commit`);

// The main thread's profile is the one that ran the chat service.
const profile = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile")).map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")))
  .find((p) => p.nodes.some((n) => n.callFrame.url.includes("chat-service")));
rmSync(dir, { recursive: true, force: true });
rmSync(natter.data, { recursive: true, force: true });
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
const label = (cf) => `${cf.functionName || "(anonymous)"} ${cf.url.replace(/^.*\/(node_modules|packages)\//, "")}${cf.url ? `:${cf.lineNumber + 1}` : ""}`;
// The load window: it ended `tailUs` before the profile did (shutdown), and lasted 5 s.
const hi = profile.endTime - tailUs, lo = hi - 5_000_000;
const self = new Map(), inclusive = new Map();
let t = profile.startTime, busy = 0, idle = 0;
for (let i = 0; i < profile.samples.length; i++) {
  t += profile.timeDeltas[i];
  if (t < lo || t > hi) continue;
  const ms = profile.timeDeltas[i] / 1000;
  const leaf = byId.get(profile.samples[i]).callFrame;
  if (leaf.functionName === "(idle)") { idle += ms; continue; }
  busy += ms;
  self.set(label(leaf), (self.get(label(leaf)) ?? 0) + ms);
  const seen = new Set();
  for (let id = profile.samples[i]; id !== undefined; id = parent.get(id)) {
    const k = label(byId.get(id).callFrame);
    if (!seen.has(k)) inclusive.set(k, (inclusive.get(k) ?? 0) + ms);
    seen.add(k);
  }
}
const us = (ms) => ((ms * 1000) / r.total).toFixed(1).padStart(6);
console.log(`main thread: busy ${us(busy)} µs/send, idle ${us(idle)} µs/send`);
for (const [title, map] of [["self", self], ["inclusive", inclusive]]) {
  console.log(`-- ${title} (µs per send)`);
  for (const [k, ms] of [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, rows)) console.log(`${us(ms)}  ${k}`);
}
