// CPU per store-level send (lockThread, insertMessage, updateThread, appendEvent in group-committed batches of 64)
// for the SqliteStore of the build at ROOT: what the search index adds to a send, A/B against a base build:
//   for i in 1 2 3 4 5; do node bench/search-send-cost.mjs /path/to/base; node bench/search-send-cost.mjs .; done
// (interleaved; compare medians). Prints {"root", "usPerSend"}: process CPU (all threads) per send.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
const root = resolve(process.argv[2] ?? ".");
const { SqliteStore } = await import(join(root, "packages/server/dist/store/sqlite/sqlite-store.js"));
const dir = mkdtempSync(join(tmpdir(), "natter-sendcost-"));
const store = new SqliteStore(join(dir, "n.db"));
await store.migrate();
const users = Array.from({ length: 4 }, (_, i) => `8:acs:r_${i}`);
const threads = 64;
for (let t = 0; t < threads; t++) {
  await store.insertThread({ id: `19:t${t}@thread.v2`, topic: "b", createdAt: 1, createdBy: users[0], deletedAt: null, metadata: null, retention: null, nextSequence: 1, clock: 1, lastMessageAt: null, expiresAt: null });
  for (const u of users) await store.upsertParticipant({ threadId: `19:t${t}@thread.v2`, userId: u, displayName: null, shareHistoryTime: 0, metadata: null, joinedAt: 1 });
}
const content = "hello, this is a benchmark message";
let n = 0;
async function batch(size) {
  const jobs = [];
  for (let i = 0; i < size; i++) {
    const threadId = `19:t${n++ % threads}@thread.v2`;
    jobs.push(store.transaction(async (tx) => {
      const t = await tx.lockThread(threadId);
      const clock = Math.max(Date.now(), t.clock + 1);
      await tx.insertMessage({ threadId, id: String(clock), sequence: t.nextSequence, type: "text", body: { message: content }, sender: users[0], senderDisplayName: "Bench", createdAt: clock, editedAt: null, deletedAt: null, version: clock, metadata: null });
      await tx.updateThread(threadId, { nextSequence: t.nextSequence + 1, clock, lastMessageAt: clock });
      const recipients = await tx.listParticipantIds(threadId);
      await tx.appendEvent({ threadId, type: "chatMessageReceived", recipients, payload: { x: 1 }, createdAt: clock });
    }));
  }
  await Promise.all(jobs);
}
for (let i = 0; i < 50; i++) await batch(64); // warm-up
const total = 20000;
const start = process.cpuUsage();
for (let i = 0; i < total / 64; i++) await batch(64);
const used = process.cpuUsage(start);
console.log(JSON.stringify({ root, usPerSend: +((used.user + used.system) / (total - total % 64)).toFixed(1) }));
await store.close();
rmSync(dir, { recursive: true, force: true });
