// PostgreSQL's own floor for a send's writes on this machine, in the same run as Natter's send:
//   node bench/pg-floor.mjs [--rate 1000] [--seconds 8] [--clients 16]
// Needs pgbench (Debian's postgresql-client). A fresh database gets Natter's schema and 64 threads (a real
// `natter serve --store postgres` creates them over the API), then pgbench runs, at a fixed rate, with prepared
// statements:
//   natter-send   what a send does: BEGIN; natter_lock_thread; one statement inserting the message (with its
//                 search document), updating the thread and inserting the event; COMMIT
//   one-statement the same writes as one autocommit statement (no lock function, no BEGIN/COMMIT round trips)
//   message-row   only the message row (its 3 btree indexes), autocommit
//   select-by-key one primary-key read, autocommit (no commit record, no fsync)
// and prints the PostgreSQL CPU per transaction of each (all postgres processes, user + system, exited backends
// included through the postmaster's children times; run it on an otherwise idle server). Why: issue #16's
// target of 250 µs of PostgreSQL CPU per send is to be judged against what PostgreSQL needs for the rows a send
// must write, on the same machine.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { api, createUser, load, processCounters, startNatterProcess } from "./lib.mjs";

const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const rate = opt("--rate", 1000), seconds = opt("--seconds", 8), clients = opt("--clients", 16);
const PG_URL = process.env.NATTER_BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const TICK_US = 1e6 / 100;

/** CPU µs of every postgres process, and of the backends that already exited (the postmaster's children times). */
function pgCpuUs() {
  let ticks = 0;
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() !== "postgres") continue;
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]);
      if (Number(f[1]) === 1 || readFileSync(`/proc/${Number(f[1])}/comm`, "utf8").trim() !== "postgres") ticks += Number(f[13]) + Number(f[14]);
    } catch {
      // ended meanwhile
    }
  }
  return ticks * TICK_US;
}

const { default: pg } = await import("pg");
const admin = new pg.Client({ connectionString: PG_URL });
await admin.connect();
const db = `natter_floor_${process.pid}`;
await admin.query(`CREATE DATABASE ${db}`);
const url = new URL(PG_URL);
url.pathname = `/${db}`;
const dir = mkdtempSync(join(tmpdir(), "natter-floor-"));
try {
  const natter = await startNatterProcess(["--store", "postgres", "--database-url", url.toString()]);
  const users = await Promise.all(Array.from({ length: 64 }, () => createUser(natter)));
  const threads = await Promise.all(users.map((u) => api(natter, u.token, "POST", "/chat/threads?api-version=2024-03-07", { topic: "bench" })));
  // Natter's own send at the same rate, for the comparison (64 connections, a thread each).
  const body = JSON.stringify({ content: "hello, this is a benchmark message", senderDisplayName: "Bench" });
  const sends = { url: natter.httpUrl, connections: 64, rate, requestsFor: (i) => ({ method: "POST", body,
    path: `/chat/threads/${encodeURIComponent(threads[i].chatThread.id)}/messages?api-version=2024-03-07`,
    headers: { authorization: `Bearer ${users[i].token}`, "content-type": "application/json" } }) };
  await load({ ...sends, seconds: 1 });
  const [pg0, node0] = [pgCpuUs(), await processCounters(natter.child.pid)];
  const sent = await load({ ...sends, seconds });
  const [pg1, node1] = [pgCpuUs(), await processCounters(natter.child.pid)];
  await natter.stop();
  const rows = [{ script: "Natter sendMessage", "tx/s": Math.round(sent.rps), "PostgreSQL CPU µs/tx": Math.round((pg1 - pg0) / sent.total), "node CPU µs/tx": Math.round((node1.cpuUs - node0.cpuUs) / sent.total) }];
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  // Constants the scripts read by key: pgbench would take the colons in JSON and raw ids for its variables.
  const payload = JSON.stringify({ message: { id: "1733241600000", type: "text", sequenceId: "5", version: "1733241600000", content: { message: "hello, this is a benchmark message" },
    senderDisplayName: "Bench", createdOn: "2026-12-03T21:00:00.000Z", senderCommunicationIdentifier: { rawId: "8:acs:x", communicationUser: { id: "8:acs:x" } }, metadata: null } });
  await client.query(`CREATE TABLE floor_threads AS SELECT (row_number() OVER (ORDER BY id))::int AS i, id FROM threads;
    ALTER TABLE floor_threads ADD PRIMARY KEY (i);
    CREATE TABLE floor_constants (k int PRIMARY KEY, body text, payload text, sender text)`);
  await client.query("INSERT INTO floor_constants VALUES (1, $1, $2, '8:acs:x')", [JSON.stringify({ message: "hello, this is a benchmark message" }), payload]);
  await client.end();
  const thread = "(SELECT id FROM floor_threads WHERE i = :i::int)";
  const constant = (c) => `(SELECT ${c} FROM floor_constants WHERE k = 1)`;
  const message = (search) => `INSERT INTO messages (thread_id, id, sequence, type, body, sender, sender_display_name, created_at, edited_at, deleted_at, version, metadata${search ? ", search_id, search_document" : ""})
    VALUES (${thread}, :id::text, :id::bigint, 'text', ${constant("body")}, ${constant("sender")}, 'Bench', :id::bigint, NULL, NULL, :id::bigint, NULL${search ? ", nextval('messages_search_id'), 'hello:1 this:2 is:3 a:4 benchmark:5 message:6'::tsvector" : ""})`;
  const writes = `WITH w0 AS (${message(true)}), w1 AS (UPDATE threads SET next_sequence = next_sequence + 1, clock = :id::bigint, last_message_at = :id::bigint WHERE id = ${thread})
    INSERT INTO events (position, thread_id, type, recipients, payload, created_at) VALUES (natter_position_of_xid(pg_current_xact_id()::text::bigint), ${thread}, 'chatMessageReceived', ARRAY[${constant("sender")}], ${constant("payload")}, :id::bigint)`;
  const head = "\\set i random(1, 64)\n\\set id random(1000000000000, 8000000000000)\n";
  const scripts = {
    "natter-send": `${head}BEGIN;\nSELECT (r.thread).id, r.first_position FROM natter_lock_thread(${thread}) r;\n${writes.replace(/\n\s*/g, " ")};\nCOMMIT;\n`,
    "one-statement": `${head}${writes.replace(/\n\s*/g, " ")};\n`,
    "message-row": `${head}${message(false).replace(/\n\s*/g, " ")};\n`,
    "select-by-key": `${head}SELECT * FROM threads WHERE id = ${thread};\n`,
  };
  const pgUrl = new URL(url);
  for (const [name, script] of Object.entries(scripts)) {
    const file = join(dir, `${name}.sql`);
    writeFileSync(file, script);
    const before = pgCpuUs();
    const out = await new Promise((resolve, reject) => {
      const p = spawn("pgbench", ["-h", pgUrl.hostname, "-p", pgUrl.port || "5432", "-U", pgUrl.username || "postgres", "-n", "-M", "prepared",
        "-c", String(clients), "-j", "2", "-T", String(seconds), "--rate", String(rate), "-f", file, db], { stdio: ["ignore", "pipe", "pipe"] });
      let text = "";
      p.stdout.on("data", (d) => (text += d));
      p.stderr.on("data", (d) => (text += d));
      p.on("error", reject);
      p.on("exit", () => resolve(text));
    });
    await new Promise((r) => setTimeout(r, 500)); // the backends' exit reaches the postmaster's children times
    const cpu = pgCpuUs() - before;
    const tx = Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1] ?? 0);
    if (tx === 0) throw new Error(`pgbench ${name}: ${out.slice(-400)}`);
    rows.push({ script: name, "tx/s": Math.round(tx / seconds), "PostgreSQL CPU µs/tx": Math.round(cpu / tx) });
  }
  console.log(`PostgreSQL ${execFileSync("pgbench", ["--version"]).toString().trim()}, ${clients} clients, ${rate} tx/s offered, ${seconds} s each`);
  console.table(rows);
} finally {
  rmSync(dir, { recursive: true, force: true });
  await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => {});
  await admin.end();
}
