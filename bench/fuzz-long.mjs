// Long bad-input fuzz run: the generators and properties of packages/server/src/http/fuzz.test.ts, at scale.
// Starts a Natter node in this process (a fresh data folder), sends N random/malformed requests (default
// 100,000) over raw sockets with some concurrency, checks /healthz every 500 requests, and prints the counts
// by status and every violation (5xx, no answer, non-ACS error body, missing nosniff, 2xx for invalid input).
// Exit code 1 when anything was violated.
//
//   npx tsc -b && node bench/fuzz-long.mjs [--requests 100000] [--concurrency 16] [--seed 42]
import { parseArgs } from "node:util";
import fc from "fast-check";
import { startTestNatter } from "../packages/server/dist/testing.js";
import { createFuzzWorld, fuzzCaseArb, healthy, runCase } from "../packages/server/dist/test-support/fuzz-requests.js";

const { values } = parseArgs({
  options: { requests: { type: "string", default: "100000" }, concurrency: { type: "string", default: "16" }, seed: { type: "string" } },
});
const total = Number(values.requests);
const concurrency = Number(values.concurrency);
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);

const natter = await startTestNatter();
const world = await createFuzzWorld(natter, 16);
const arb = fuzzCaseArb(world.slots.length);
// Cases come in seeded batches (fc.sample), so a run is reproducible with --seed (up to concurrency order).
let batch = [];
let batchNo = 0;
const nextCase = () => {
  if (batch.length === 0) batch = fc.sample(arb, { numRuns: 1000, seed: seed + batchNo++ });
  return batch.pop();
};

const byStatus = new Map();
const violations = [];
let sent = 0;
let healthChecks = 0;
let unhealthy = 0;
const started = performance.now();

async function worker() {
  while (sent < total) {
    const n = ++sent;
    const c = nextCase();
    const outcome = await runCase(world, c);
    byStatus.set(outcome.status, (byStatus.get(outcome.status) ?? 0) + 1);
    if (outcome.violations.length > 0) violations.push({ violations: outcome.violations, label: outcome.label, case: c });
    if (n % 500 === 0) {
      healthChecks++;
      if (!(await healthy(world))) {
        unhealthy++;
        violations.push({ violations: ["/healthz did not answer 200"], label: `after ${n} requests` });
      }
      if (n % 10_000 === 0) process.stderr.write(`${n} requests, ${violations.length} violations, ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
    }
  }
}

await Promise.all(Array.from({ length: concurrency }, worker));
const seconds = (performance.now() - started) / 1000;
if (!(await healthy(world))) violations.push({ violations: ["/healthz did not answer 200 at the end"], label: "end" });
await natter.stop();

const statuses = [...byStatus.entries()].sort((a, b) => String(a[0]).localeCompare(String(b[0])));
console.log(`fuzz-long: ${sent} requests in ${seconds.toFixed(1)} s (${(sent / seconds).toFixed(0)}/s), concurrency ${concurrency}, seed ${seed}`);
console.log(`by status: ${statuses.map(([s, n]) => `${s}: ${n}`).join(", ")}`);
console.log(`healthz checks: ${healthChecks + 1}, failed: ${unhealthy}`);
console.log(`violations: ${violations.length}`);
const shown = new Set();
for (const v of violations) {
  const key = v.violations.join("; ");
  if (shown.has(key) && shown.size > 20) continue;
  shown.add(key);
  console.log(`- ${key}\n    ${v.label}`);
}
process.exit(violations.length > 0 ? 1 : 0);
