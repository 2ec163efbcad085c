// Runs SQLite WAL checkpoints on a worker thread with its own connection, so the copy of WAL pages into the
// database file and its fsync never block the event loop (the writer connection has autocheckpoint off).
import Database from "better-sqlite3";
import { parentPort, workerData } from "node:worker_threads";

const { path, intervalMs } = workerData as { path: string; intervalMs: number };
const db = new Database(path);
db.pragma("busy_timeout = 5000");

function checkpoint(mode: "PASSIVE" | "TRUNCATE") {
  try {
    db.pragma(`wal_checkpoint(${mode})`);
  } catch {
    // SQLITE_BUSY and the like: the next round tries again.
  }
}

const timer = setInterval(() => checkpoint("PASSIVE"), intervalMs);
parentPort!.on("message", (message: string) => {
  if (message === "close") {
    clearInterval(timer);
    checkpoint("PASSIVE");
    db.close();
    parentPort!.postMessage("closed");
  }
});
