// What a call from the main thread to a worker thread costs, for the writer-thread design of issue #17 (SQLite's
// transactions on a second core, HTTP on the main one): a sendMessage-sized request and reply, 64 in flight,
// structured clone both ways. Prints calls/s and CPU per call (both threads). Run: node bench/worker-rpc-micro.mjs
import { Worker } from "node:worker_threads";

const worker = new Worker(
  `const { parentPort } = require("node:worker_threads");
   parentPort.on("message", (m) => parentPort.postMessage({ id: m.id, result: { id: "1733241600000", sequence: 42,
     events: [{ position: 1, type: "chatMessageReceived", recipients: ["8:acs:a", "8:acs:b"] }] } }));`,
  { eval: true },
);
const pending = new Map();
let next = 0;
worker.on("message", (m) => {
  pending.get(m.id)(m);
  pending.delete(m.id);
});
const call = (args) => new Promise((resolve) => {
  const id = next++;
  pending.set(id, resolve);
  worker.postMessage({ id, method: "sendMessage", args });
});
const args = [
  { userId: "8:acs:00000000-0000-0000-0000-000000000000_00000001-aaaa-bbbb", scopes: ["chat"] },
  "19:abc@thread.v2",
  { content: "hello, this is a benchmark message", senderDisplayName: "Bench", type: "text" },
];
const batch = () => Promise.all(Array.from({ length: 64 }, () => call(args)));
for (let i = 0; i < 300; i++) await batch(); // warm-up
const calls = 200_000;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (let i = 0; i < calls; i += 64) await batch();
const cpu = process.cpuUsage(cpu0);
const ms = performance.now() - t0;
console.log(`${Math.round((calls / ms) * 1000)} calls/s; CPU ${((cpu.user + cpu.system) / calls).toFixed(1)} µs per call (both threads); wall ${((ms * 1000) / calls).toFixed(1)} µs per call`);
await worker.terminate();
