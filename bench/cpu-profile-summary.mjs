// Summarises V8 .cpuprofile files (node --cpu-prof) as the top functions by self time. Worker threads write
// their own profiles; the busiest file (most non-idle time) is the one summarised.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

function selfTimes(file) {
  const prof = JSON.parse(readFileSync(file, "utf8"));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let busy = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const cf = byId.get(prof.samples[i]).callFrame;
    const ms = (prof.timeDeltas[i] ?? 0) / 1000;
    if (cf.functionName === "(idle)") continue;
    busy += ms;
    const where = cf.url ? `${cf.url.replace(/^.*\/(node_modules|packages)\//, "$1/")}:${cf.lineNumber + 1}` : "";
    const key = `${cf.functionName || "(anonymous)"}|${where}`;
    self.set(key, (self.get(key) ?? 0) + ms);
  }
  return { self, busy };
}

/** Top `top` functions by self time in the busiest .cpuprofile of `dir`: [{ fn, where, selfMs, pct (of busy time) }]. */
export function summarizeProfileDir(dir, top = 12) {
  const profiles = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile")).map((f) => selfTimes(join(dir, f)));
  if (!profiles.length) return { busyMs: 0, top: [] };
  const { self, busy } = profiles.sort((a, b) => b.busy - a.busy)[0];
  return {
    busyMs: Math.round(busy),
    top: [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, ms]) => {
      const [fn, where] = k.split("|");
      return { fn, where, selfMs: Math.round(ms), pct: Math.round((ms / busy) * 1000) / 10 };
    }),
  };
}

// node bench/cpu-profile-summary.mjs <dir>: prints the summary.
if (import.meta.url === `file://${process.argv[1]}`) {
  const { busyMs, top } = summarizeProfileDir(process.argv[2], Number(process.argv[3] ?? 20));
  console.log(`busy ${busyMs} ms`);
  for (const t of top) console.log(`${String(t.pct).padStart(5)}%  ${String(t.selfMs).padStart(6)} ms  ${t.fn}  ${t.where}`);
}
