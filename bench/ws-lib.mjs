// Helpers for the realtime scenarios (fanout, connections): WebSocket client pools in child processes
// (bench/ws-client-proc.mjs, driven over IPC), the bare `ws` baseline server (bench/ws-baseline-server.mjs),
// processes started with their file limit raised (RAISE_FILES), and percentiles.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, accessKeyOf, waitFor } from "./lib.mjs";

/** Wall-clock time in ms with sub-ms resolution, comparable between processes on this machine. */
export { nowMs } from "./wall-clock.mjs";

/** Open files the servers ask for: enough for 50,000 sockets and the rest. */
export const WANTED_FILES = 65_536;
/**
 * Shell prefix that raises the open-file limit: to WANTED_FILES when the hard limit is lower and can be raised
 * (needs CAP_SYS_RESOURCE), else to the hard limit (any process may raise its soft limit that far).
 */
const RAISE_FILES = `h=$(ulimit -Hn); if [ "$h" != unlimited ] && [ "$h" -lt ${WANTED_FILES} ]; then ulimit -n ${WANTED_FILES} 2>/dev/null || ulimit -n "$h"; else ulimit -n "$h"; fi`;

/** The hard limit on open files of this process (ulimit -Hn). */
export function hardFileLimit() {
  const v = execFileSync("sh", ["-c", "ulimit -Hn"], { encoding: "utf8" }).trim();
  return v === "unlimited" ? Infinity : Number(v);
}

/** The open-file limit a process started by spawnNode gets (after RAISE_FILES). */
export function raisedFileLimit() {
  const v = execFileSync("sh", ["-c", `${RAISE_FILES}; ulimit -n`], { encoding: "utf8" }).trim();
  return v === "unlimited" ? Infinity : Number(v);
}

/** Spawns `node <args>` through `sh -c '<raise the file limit>; exec node …'` (see RAISE_FILES). */
export function spawnNode(args, options = {}) {
  return spawn("sh", ["-c", `${RAISE_FILES}; exec "$0" "$@"`, process.execPath, ...args], { stdio: ["ignore", "pipe", "pipe"], ...options });
}

const stopChild = async (child) => {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(t);
};

/**
 * `natter serve` as lib.mjs starts it, but with the file limit raised to the hard limit and extra node flags.
 * NATTER_BENCH_DATA_ROOT=/dev/shm puts the data folder on tmpfs (a diagnostic: fsync becomes free).
 */
export async function startNatterRaised({ nodeArgs = [], extraArgs = [] } = {}) {
  const data = mkdtempSync(join(process.env.NATTER_BENCH_DATA_ROOT || tmpdir(), "natter-bench-"));
  const child = spawnNode([...nodeArgs, join(ROOT, "packages/server/bin/natter.js"), "serve", "--data", data, "--port", "0", "--https-port", "0", "--log-level", "silent", ...extraArgs], { cwd: data });
  const { out } = await waitFor(child, /Trust it in Node with: \S+\n/);
  const httpUrl = /HTTP\s+(\S+)/.exec(out)[1].replace("localhost", "127.0.0.1");
  for (;;) {
    if (await fetch(new URL("/healthz", httpUrl)).then((r) => r.status === 200, () => false)) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  return {
    child, data, httpUrl, accessKey: accessKeyOf(out, extraArgs, data),
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
export function startClientProcess(script = "bench/ws-client-proc.mjs") {
  // Like fork(), but through the shell so the client process gets the raised file limit too.
  const child = spawn("sh", ["-c", `${RAISE_FILES}; exec "$0" "$@"`, process.execPath, "--max-old-space-size=2048", join(ROOT, script)], { serialization: "advanced", stdio: ["ignore", "inherit", "inherit", "ipc"] });
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
    for (const w of waiting.values()) w({ error: `${script} exited with ${code}` });
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
