// Runs SQLite WAL checkpoints on a worker thread with its own connection, so the copy of WAL pages into the
// database file and its fsync never block the event loop (the writer connection has autocheckpoint off).
// After each pass it reports the WAL's size in frames and how many are in the database file, so the store can
// let the WAL start over before it grows (see SqliteStore's restartWal); "now" asks for a pass at once.
import Database from "better-sqlite3";
import { parentPort, workerData } from "node:worker_threads";

export interface CheckpointReport {
  /** Frames in the WAL since it last started over. */
  log: number;
  /** Of those, the frames copied into the database file (all of them: the WAL may start over). */
  checkpointed: number;
  /** True when the pass answered a "now". */
  requested: boolean;
}

const { path, intervalMs } = workerData as { path: string; intervalMs: number };
const db = new Database(path);
db.pragma("busy_timeout = 5000");

function checkpoint(requested: boolean) {
  try {
    const [row] = db.pragma("wal_checkpoint(PASSIVE)") as { busy: number; log: number; checkpointed: number }[];
    parentPort!.postMessage({ log: row.log, checkpointed: row.checkpointed, requested } satisfies CheckpointReport);
  } catch {
    // SQLITE_BUSY and the like: the next round tries again (a "now" is answered as not done).
    if (requested) parentPort!.postMessage({ log: -1, checkpointed: 0, requested } satisfies CheckpointReport);
  }
}

let timer = setInterval(() => checkpoint(false), intervalMs);
parentPort!.on("message", (message: string) => {
  if (message === "now") {
    checkpoint(true);
    // The next periodic pass a whole interval later: one right after this would copy the same hot pages again.
    clearInterval(timer);
    timer = setInterval(() => checkpoint(false), intervalMs);
  }
  if (message === "close") {
    clearInterval(timer);
    checkpoint(false);
    db.close();
    parentPort!.postMessage("closed");
  }
});
