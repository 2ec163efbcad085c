// CPU and disk bytes per durable send at a fixed rate: node bench/durable-sends-fixed-rate.mjs [rate] [seconds]
// Starts Natter, then sends at `rate` per second (64 connections) over 64 threads of one member each, then to one
// hot thread of 64 members, and prints per send: CPU of the whole server process (/proc), bytes written, p99.
// Why: on a shared, loaded machine the max-rate runs of durable-sends.mjs inflate CPU per send with contention;
// below the max the work per send compares better between two builds (interleave them).
import { api, createUser, load, processCounters, startNatterProcess } from "./lib.mjs";
import { rmSync } from "node:fs";
const rate = Number(process.argv[2] ?? 2000), seconds = Number(process.argv[3] ?? 5);
const natter = await startNatterProcess([], {}, []);
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
const out = [];
for (const hotCase of [false, true]) {
  const c = { url: natter.httpUrl, requestsFor: (i) => (hotCase ? send(hot.chatThread.id, users[i].token) : send(own[i].chatThread.id, users[i].token)) };
  await load({ ...c, connections: 64, seconds: 1, rate });
  const before = await processCounters(natter.child.pid);
  const r = await load({ ...c, connections: 64, seconds, rate });
  const after = await processCounters(natter.child.pid);
  out.push(`${hotCase ? "hot" : "64"}: ${Math.round(r.rps)}/s cpu=${Math.round((after.cpuUs - before.cpuUs) / r.total)} disk=${Math.round((after.writeBytes - before.writeBytes) / r.total)} p99=${r.p99}`);
}
natter.child.kill("SIGTERM");
await new Promise((resolve) => natter.child.once("exit", resolve));
rmSync(natter.data, { recursive: true, force: true });
console.log(out.join("  "));
