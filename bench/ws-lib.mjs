// Helpers for the realtime scenarios (fanout, connections): WebSocket client pools in child processes
// (bench/ws-client-proc.mjs, driven over IPC), the bare `ws` baseline server (bench/ws-baseline-server.mjs),
// processes started with their file limit raised to the hard limit, and percentiles.
import { fork, spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./lib.mjs";

/** Wall-clock time in ms with sub-ms resolution, comparable between processes on this machine. */
export const nowMs = () => performance.timeOrigin + performance.now();

/** The hard limit on open files (what a child can raise its soft limit to without privileges). */
export function hardFileLimit() {
  const v = execFileSync("sh", ["-c", "ulimit -Hn"], { encoding: "utf8" }).trim();
  return v === "unlimited" ? Infinity : Number(v);
}

/** Spawns `node <args>` through `sh -c 'ulimit -n <hard>; exec node …'` so the child gets the hard file limit. */
export function spawnNode(args, options = {}) {
  return spawn("sh", ["-c", 'ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"', process.execPath, ...args], { stdio: ["ignore", "pipe", "pipe"], ...options });
}

function waitFor(child, pattern, timeoutMs = 30_000) {
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}: ${out}`)), timeoutMs);
    const onData = (d) => {
      out += d;
      const m = pattern.exec(out);
      if (m) {
        clearTimeout(timer);
        child.off("exit", onExit);
        resolve({ match: m, out });
      }
    };
    const onExit = (code) => reject(new Error(`exited with ${code}: ${out}`));
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", onExit);
  });
}

const stopChild = async (child) => {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(t);
};

/** `natter serve` as lib.mjs starts it, but with the file limit raised to the hard limit and extra node flags. */
export async function startNatterRaised({ nodeArgs = [], extraArgs = [] } = {}) {
  const data = mkdtempSync(join(tmpdir(), "natter-bench-"));
  const child = spawnNode([...nodeArgs, join(ROOT, "packages/server/bin/natter.js"), "serve", "--data", data, "--port", "0", "--https-port", "0", "--log-level", "silent", ...extraArgs], { cwd: data });
  const { out } = await waitFor(child, /Connection string: (\S+)/);
  const httpUrl = /HTTP\s+(\S+)/.exec(out)[1].replace("localhost", "127.0.0.1");
  for (;;) {
    if (await fetch(new URL("/healthz", httpUrl)).then((r) => r.status === 200, () => false)) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  return {
    child, data, httpUrl, accessKey: /accesskey=(\S+)/.exec(/Connection string: (\S+)/.exec(out)[1])[1],
    async stop() {
      await stopChild(child);
      rmSync(data, { recursive: true, force: true });
    },
  };
}

/** The bare `ws` baseline: broadcasts each POSTed body to every socket; answers hello with a ready frame. */
export async function startWsBaseline() {
  const child = spawnNode([join(ROOT, "bench/ws-baseline-server.mjs")]);
  const { match } = await waitFor(child, /listening on (\S+)/);
  return { child, httpUrl: match[1], stop: () => stopChild(child) };
}

/** A pool of WebSocket clients in one child process (see ws-client-proc.mjs for the commands). */
export function startClientProcess() {
  const child = fork(join(ROOT, "bench/ws-client-proc.mjs"), [], { serialization: "advanced", stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: ["--max-old-space-size=2048"] });
  let nextId = 1;
  const waiting = new Map();
  child.on("message", (m) => {
    const w = waiting.get(m.id);
    if (w) {
      waiting.delete(m.id);
      w(m);
    }
  });
  const exited = new Promise((r) => child.once("exit", r));
  child.once("exit", (code) => {
    for (const w of waiting.values()) w({ error: `client process exited with ${code}` });
    waiting.clear();
  });
  return {
    child,
    /** Sends a command and resolves with the process's answer. */
    call(cmd, args = {}) {
      return new Promise((resolve, reject) => {
        const id = nextId++;
        waiting.set(id, (m) => (m.error ? reject(new Error(m.error)) : resolve(m)));
        child.send({ id, cmd, ...args });
      });
    },
    async stop() {
      if (child.exitCode === null) child.send({ id: 0, cmd: "exit" });
      const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Percentile (0..1) of a sorted numeric array, rounded to 0.1 ms. */
export const pct = (sorted, p) => (sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] * 10) / 10 : NaN);

/** Merges Float64Arrays into one sorted array. */
export function mergeSorted(arrays) {
  const all = new Float64Array(arrays.reduce((a, x) => a + x.length, 0));
  let o = 0;
  for (const a of arrays) {
    all.set(a, o);
    o += a.length;
  }
  return all.sort();
}
