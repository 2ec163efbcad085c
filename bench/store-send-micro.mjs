// The store's share of a durable send, without HTTP: node bench/store-send-micro.mjs [pageSize] [threads] [batch]
// SqliteStore transactions shaped like sendMessage (lock the thread, read its participants, insert the message,
// update the thread, append the event), `batch` at a time (as the group commit sees them under load), over
// `threads` threads of one sender each, or over one thread of 64 members when threads = 1. Prints the process's
// CPU per send. `pageSize` applies to the fresh database (SqliteStore itself creates 1 KB pages).
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./lib.mjs";

const { SqliteStore } = await import(join(ROOT, "packages/server/dist/store/sqlite/sqlite-store.js"));
const pageSize = Number(process.argv[2] ?? 1024), threads = Number(process.argv[3] ?? 64), batch = Number(process.argv[4] ?? 28);
const N = Number(process.env.MICRO_N ?? 20000);
const dir = mkdtempSync(join(tmpdir(), "natter-micro-"));
const path = join(dir, "natter.db");
{
  const db = new Database(path);
  db.pragma(`page_size = ${pageSize}`);
  db.pragma("journal_mode = WAL");
  db.exec("CREATE TABLE x (a); DROP TABLE x"); // fixes the page size
  db.close();
}
const store = new SqliteStore(path);
await store.migrate();
const users = Array.from({ length: 64 }, (_, i) => `8:acs:00000000-0000-0000-0000-000000000000_00000000-0000-0000-0000-${String(i).padStart(12, "0")}`);
const ids = Array.from({ length: threads }, (_, i) => `19:${String(i).padStart(32, "0")}@thread.v2`);
for (const [i, id] of ids.entries()) {
  await store.insertThread({ id, topic: "t", createdAt: 1, createdBy: users[0], deletedAt: null, metadata: null, retention: null, nextSequence: 1, clock: 1, lastMessageAt: null, expiresAt: null });
  for (const u of threads === 1 ? users : [users[i % 64]]) await store.upsertParticipant({ threadId: id, userId: u, displayName: null, shareHistoryTime: 0, metadata: null, joinedAt: 1 });
}
const send = (threadId, sender) => store.transaction(async (tx) => {
  const thread = await tx.lockThread(threadId);
  const w = await tx.listParticipantWindows(threadId);
  if (!w.ids.includes(sender)) throw new Error("not a participant");
  const now = Date.now();
  thread.clock = Math.max(now, thread.clock + 1);
  const record = {
    threadId, id: String(thread.clock), sequence: thread.nextSequence++, type: "text", body: { message: "hello, this is a benchmark message" },
    sender, senderDisplayName: "Bench", createdAt: now, editedAt: null, deletedAt: null, version: thread.clock, metadata: null,
  };
  await tx.insertMessage(record);
  await tx.updateThread(threadId, { nextSequence: thread.nextSequence, clock: thread.clock, lastMessageAt: now });
  const event = { type: "chatMessageReceived", threadId, at: now, actor: sender, message: record };
  event.position = await tx.appendEvent({ threadId, type: event.type, recipients: w.ids, payload: event, createdAt: now });
});
const run = async (n) => {
  for (let i = 0; i < n; i += batch) {
    await Promise.all(Array.from({ length: batch }, (_, j) => {
      const k = i + j;
      return threads === 1 ? send(ids[0], users[k % 64]) : send(ids[k % threads], users[(k % threads) % 64]);
    }));
  }
};
await run(2000);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await run(N);
const cpu = process.cpuUsage(cpu0);
const ms = performance.now() - t0;
console.log(`page ${pageSize} B, ${threads === 1 ? "1 thread of 64 members" : `${threads} threads`}, ${batch} per commit: ` +
  `CPU ${((cpu.user + cpu.system) / N).toFixed(1)} µs/send (user ${(cpu.user / N).toFixed(1)}, system ${(cpu.system / N).toFixed(1)}), ${Math.round((N / ms) * 1000)} sends/s`);
await store.close();
rmSync(dir, { recursive: true, force: true });
