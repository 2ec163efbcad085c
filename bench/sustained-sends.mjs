// Sustained sends: node bench/sustained-sends.mjs [64|hot] [root]. Six 5 s max-rate runs back to back on one
// server, then a paced half-rate run at once and another after 5 s idle. Prints each run's rate, CPU and disk bytes
// per send over all six, the WAL file's size at the end, and both half-rate p99s. Why: the WAL and the data grow
// over a long run (a WAL that is never cut back made sends slower run after run, and its first cut stalled every
// write for 0.6 s); durable-sends.mjs medians hide that. `root` is another checkout, for an A/B on one machine.
import { statSync } from "node:fs";

const hotCase = process.argv[2] === "hot";
const root = process.argv[3] ?? new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const { api, createUser, load, paced, startNatterProcess, processCounters } = await import(`${root}/bench/lib.mjs`);
const natter = await startNatterProcess([], {}, []);
const users = await Promise.all(Array.from({ length: 64 }, () => createUser(natter)));
const own = await Promise.all(users.map((u) => api(natter, u.token, "POST", "/chat/threads?api-version=2024-03-07", { topic: "bench" })));
const hot = await api(natter, users[0].token, "POST", "/chat/threads?api-version=2024-03-07", {
  topic: "hot", participants: users.slice(1).map((u) => ({ communicationIdentifier: { rawId: u.id, communicationUser: { id: u.id } } })) });
const body = JSON.stringify({ content: "hello, this is a benchmark message", senderDisplayName: "Bench" });
const send = (threadId, token) => ({ method: "POST", path: `/chat/threads/${encodeURIComponent(threadId)}/messages?api-version=2024-03-07`,
  headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body });
const c = { url: natter.httpUrl, requestsFor: (i) => (hotCase ? send(hot.chatThread.id, users[i].token) : send(own[i].chatThread.id, users[i].token)) };
await load({ ...c, connections: 64, seconds: 1 });
const b = await processCounters(natter.child.pid);
const rps = []; let total = 0;
for (let i = 0; i < 6; i++) { const r = await load({ ...c, connections: 64, seconds: 5 }); rps.push(Math.round(r.rps)); total += r.total; }
const a = await processCounters(natter.child.pid);
let wal = 0;
try { wal = statSync(`${natter.data}/natter.db-wal`).size; } catch { /* no WAL file: 0 */ }
const sorted = [...rps].sort((x, y) => x - y);
const half = Math.floor(sorted[3] / 2);
const p1 = await paced({ ...c, connections: 64, seconds: 10, rate: half });
await new Promise((r) => setTimeout(r, 5000));
const p2 = await paced({ ...c, connections: 64, seconds: 10, rate: half });
console.log(JSON.stringify({ root: root.split("/").pop(), case: hotCase ? "hot" : "64", rps: rps.join(","), cpu: Math.round((a.cpuUs - b.cpuUs) / total), disk: Math.round((a.writeBytes - b.writeBytes) / total), walMB: Math.round(wal / 1048576), half, p99: p1.p99, p99later: p2.p99 }));
await natter.stop();
