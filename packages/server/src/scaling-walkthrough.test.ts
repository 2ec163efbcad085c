// docs/scaling.md's walk-through, run as written (#20 item 5): its shell block makes one access key (`natter key`)
// and one certificate (openssl), the files are copied to two node folders, and each node starts with the block's
// own `natter serve` command. Only what cannot run here is substituted: `npx natter` is this checkout's CLI,
// NAME is localhost, `createdb` is a fresh test database, db.internal / cache.internal are the test servers,
// and the nodes listen on loopback on free ports. A client of node A then sees a message sent through node B,
// and both nodes present the one certificate, which a client trusting only tls-cert.pem accepts.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import type { TLSSocket } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NATTER_BIN, createUserOverHttp } from "./test-support/natter-process.js";
import { createTestDatabase } from "./test-support/cluster.js";
import type { TestDatabase } from "./test-support/cluster.js";

const pgUrl = process.env.NATTER_TEST_PG_URL;
const redisUrl = process.env.NATTER_TEST_REDIS_URL;
const hasOpenssl = spawnSync("openssl", ["version"]).status === 0;
const skip = !pgUrl
  ? "NATTER_TEST_PG_URL not set (the walk-through needs PostgreSQL)"
  : !redisUrl
    ? "NATTER_TEST_REDIS_URL not set (the walk-through uses the Redis bus)"
    : !hasOpenssl
      ? "openssl is not installed (the walk-through makes its certificate with it)"
      : false;
if (skip) console.log(`# scaling walk-through skipped: ${skip}`);

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const step of cleanup.reverse()) await step();
});

const CLI = `'${process.execPath}' '${NATTER_BIN}'`;

/** The shell block of the walk-through section. */
function walkthroughBlock(): string {
  const doc = readFileSync(new URL("../../../docs/scaling.md", import.meta.url), "utf8");
  const section = doc.slice(doc.indexOf("## Walk-through"));
  const block = /```sh\n([^]*?)```/.exec(section)?.[1];
  assert.ok(block, "docs/scaling.md has a walk-through with a shell block");
  return block;
}

interface Node {
  child: ChildProcess;
  httpUrl: string;
  httpsPort: number;
  output: () => string;
}

/** Runs the block's `natter serve` command in `cwd`, in its own process group (stopped as a group). */
async function startNode(command: string, cwd: string): Promise<Node> {
  const child = spawn("sh", ["-c", command], { cwd, detached: true, env: { ...process.env, NATTER_LOG_LEVEL: "silent" }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  cleanup.push(async () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, "SIGTERM");
    await exited;
  });
  const deadline = Date.now() + 30_000;
  while (!/NODE_EXTRA_CA_CERTS=\S+\n/.test(out)) {
    if (child.exitCode !== null) throw new Error(`the node exited: ${out}`);
    if (Date.now() > deadline) throw new Error(`the node did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { child, httpUrl: /HTTP\s+(\S+)/.exec(out)![1], httpsPort: Number(new URL(/HTTPS\s+(\S+)/.exec(out)![1]).port), output: () => out };
}

/** GET /healthz over HTTPS trusting only `ca`; resolves with the status and the certificate the node presented. */
function healthzTrusting(port: number, ca: string): Promise<{ status: number; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: "127.0.0.1", servername: "localhost", port, path: "/healthz", ca, agent: false }, (res) => {
      const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, fingerprint }));
    });
    req.on("error", reject);
  });
}

describe("docs/scaling.md walk-through", { skip }, () => {
  it("two nodes, one database, one key, one certificate: a client of node A sees what was sent through node B", async () => {
    const block = walkthroughBlock();
    const lines = block.split("\n");
    // Step 1 (createdb) on the test server: a fresh database, dropped at the end.
    assert.match(block, /^createdb .* natter\b/m, "step 1 creates the database");
    const db: TestDatabase = await createTestDatabase(pgUrl!, "natter_walk");
    cleanup.push(() => db.drop());
    // Steps 2 and 3 as written (the key and the certificate), in a scratch folder.
    const work = mkdtempSync(join(tmpdir(), "natter-walk-"));
    cleanup.push(() => rmSync(work, { recursive: true, force: true }));
    const serveAt = lines.findIndex((l) => l.startsWith("NATTER_ACCESS_KEY="));
    assert.ok(serveAt > 0, "step 4 starts natter serve");
    const setup = lines.slice(0, serveAt).filter((l) => !l.startsWith("createdb ")).join("\n")
      .replaceAll("npx natter", CLI)
      .replace(/^NAME=.*$/m, "NAME=localhost");
    const made = spawnSync("sh", ["-ec", setup], { cwd: work, encoding: "utf8" });
    assert.equal(made.status, 0, `steps 2 and 3 ran: ${made.stderr}`);
    const key = readFileSync(join(work, "natter-access-key"), "utf8").trim();
    assert.equal(Buffer.from(key, "base64").length, 32, "natter key made a 32-byte key");
    const cert = readFileSync(join(work, "tls-cert.pem"), "utf8");

    // Step 4: the files copied to each node, and the block's own command (loopback and free ports here).
    const serve = lines.slice(serveAt).join("\n").replace(/\\\n\s*/g, "")
      .replaceAll("npx natter", CLI)
      .replace("--host 0.0.0.0", "--host 127.0.0.1 --port 0 --https-port 0")
      .replace(/postgres:\/\/\S+/, `'${db.url}'`)
      .replace(/redis:\/\/\S+/, `'${redisUrl}'`)
      .trim();
    const nodes: Node[] = [];
    for (const name of ["node-a", "node-b"]) {
      const dir = join(work, name);
      mkdirSync(dir);
      for (const file of ["natter-access-key", "tls-cert.pem", "tls-key.pem"]) copyFileSync(join(work, file), join(dir, file));
      nodes.push(await startNode(serve, dir));
    }
    const [a, b] = nodes;

    // One certificate: both nodes present it, and a client that trusts only tls-cert.pem accepts both.
    const seen = await Promise.all(nodes.map((n) => healthzTrusting(n.httpsPort, cert)));
    assert.deepEqual(seen.map((s) => s.status), [200, 200]);
    assert.equal(seen[0].fingerprint, seen[1].fingerprint, "the same certificate on both nodes");
    for (const n of nodes) assert.match(n.output(), /key not printed.*NATTER_ACCESS_KEY/, "the key came from the environment");

    // One key and one database: a user made on A, a thread and a message made through B, read on A.
    const alice = await createUserOverHttp(a.httpUrl, key);
    const auth = { authorization: `Bearer ${alice.token}`, "content-type": "application/json" };
    const thread = await fetch(new URL("/chat/threads?api-version=2024-03-07", b.httpUrl), { method: "POST", headers: auth, body: JSON.stringify({ topic: "walk-through" }) });
    assert.equal(thread.status, 201, await thread.clone().text());
    const threadId = ((await thread.json()) as { chatThread: { id: string } }).chatThread.id;
    const path = `/chat/threads/${encodeURIComponent(threadId)}/messages?api-version=2024-03-07`;
    const sent = await fetch(new URL(path, b.httpUrl), { method: "POST", headers: auth, body: JSON.stringify({ content: "sent through node B" }) });
    assert.equal(sent.status, 201);
    const list = (await (await fetch(new URL(path, a.httpUrl), { headers: auth })).json()) as { value: { type: string; content: { message?: string } }[] };
    assert.ok(list.value.some((m) => m.type === "text" && m.content.message === "sent through node B"), "node A lists the message sent through node B");
  });
});
