// Scenario 5: start-up and idle. Time from process start to /healthz 200, and idle RSS, for a fresh data
// folder (generates key and certificate) and for a second start on the same folder.
import { median, rssKb, startNatterProcess } from "./lib.mjs";

export async function run({ quick }) {
  const runs = quick ? 2 : 7;
  const first = [];
  const again = [];
  const rss = [];
  for (let i = 0; i < runs; i++) {
    const a = await startNatterProcess();
    first.push(a.startupMs);
    a.child.kill("SIGTERM");
    await new Promise((r) => a.child.once("exit", r));
    const b = await startNatterProcess([], {}, [], a.data);
    again.push(b.startupMs);
    await new Promise((r) => setTimeout(r, 1000));
    rss.push(await rssKb(b.child.pid));
    await b.stop();
  }
  const rows = [
    { case: "start to healthz, fresh data folder", median: `${Math.round(median(first))} ms`, runs },
    { case: "start to healthz, existing data folder", median: `${Math.round(median(again))} ms`, runs },
    { case: "idle RSS after start", median: `${Math.round(median(rss) / 1024)} MB`, runs },
  ];
  return { name: "startup", description: "process start until /healthz answers 200 (target ≤ 1 s), and idle RSS", rows, results: { firstMs: median(first), againMs: median(again), idleRssKb: median(rss) } };
}
