// The `natter` CLI as a new user meets it (issue #20): ordinary mistakes end in one line naming the fix (exit 2
// for the command line, 1 for what the machine refused), --version and --help everywhere, absolute certificate
// paths and `natter cert`, `natter key`, backups without -wal/-shm beside them, `natter restore`, and request
// logs that are short lines on a terminal and JSON otherwise. Every test runs the real CLI as a child process.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import { connect as tlsConnect } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NATTER_BIN, createUserOverHttp, signedHeaders, spawnNatter } from "./test-support/natter-process.js";

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "natter-cli-"));
  dirs.push(d);
  return d;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `natter <args>` to its end. */
function natter(args: string[], options: { cwd?: string; env?: Record<string, string>; uid?: number; gid?: number } = {}): Promise<Run> {
  const child = spawn(process.execPath, [NATTER_BIN, ...args], {
    cwd: options.cwd, uid: options.uid, gid: options.gid,
    // Another user (uid) cannot read the test runner's private certificate folder: no NODE_EXTRA_CA_CERTS then.
    env: { ...process.env, NATTER_LOG_LEVEL: "silent", ...(options.uid !== undefined ? { NODE_EXTRA_CA_CERTS: "" } : {}), ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

/** One line on stderr, starting with "natter: ", no stack trace and no usage dump. */
function assertOneLine(run: Run, code: number, pattern: RegExp): void {
  assert.equal(run.code, code, `exit code; stderr: ${run.stderr}`);
  const lines = run.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line, got:\n${run.stderr}`);
  assert.match(lines[0], /^natter: /);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(run.stderr, /\n\s+at |Options of natter serve/);
}

const pgUrl = process.env.NATTER_TEST_PG_URL;

describe("natter CLI conventions", () => {
  it("--version prints the package version; natter serve --help prints the options instead of 'Unknown option'", async () => {
    const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
    const v = await natter(["--version"]);
    assert.equal(v.code, 0);
    assert.equal(v.stdout, `natter ${version}\n`);
    for (const args of [["serve", "--help"], ["serve", "-h"], ["--help"]]) {
      const help = await natter(args);
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, /--https-port\s+NATTER_HTTPS_PORT/);
      assert.match(help.stdout, /natter restore <file>/);
    }
    const backupHelp = await natter(["backup", "--help"]);
    assert.equal(backupHelp.code, 0);
    assert.match(backupHelp.stdout, /^Usage: natter backup <file>/);
  });

  it("usage mistakes are one line with exit code 2: unknown flag, backup without a file, backup into a missing folder", async () => {
    assertOneLine(await natter(["serve", "--prot", "9000"]), 2, /Unknown option '--prot'.*natter serve --help/);
    assertOneLine(await natter(["backup"]), 2, /natter backup <file>/);
    assertOneLine(await natter(["frobnicate"]), 2, /unknown command 'frobnicate'/);
    const data = tempDir();
    const s = await spawnNatter(["--data", data, "--port", "0", "--https-port", "0"]);
    try {
      const missing = join(tempDir(), "no", "such", "folder");
      assertOneLine(await natter(["backup", join(missing, "copy.db"), "--data", data]), 2, new RegExp(`the folder ${missing} does not exist; create it first \\(mkdir -p`));
      assertOneLine(await natter(["backup", join(tempDir(), "copy.db"), "--data", join(data, "nope")]), 2, /no database at .*--data <folder> \(NATTER_DATA\)/);
    } finally {
      s.child.kill("SIGTERM");
      await s.exited;
    }
  });

  it("a port in use is one line naming --port / NATTER_PORT (or --https-port / NATTER_HTTPS_PORT), exit code 1", async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const http = await natter(["serve", "--data", tempDir(), "--port", String(port), "--https-port", "0"]);
      assertOneLine(http, 1, new RegExp(`port ${port} \\(HTTP\\).*already in use.*--port <port> or NATTER_PORT.*npm start -- --port`));
      const https = await natter(["serve", "--data", tempDir(), "--port", "0"], { env: { NATTER_HTTPS_PORT: String(port) } });
      assertOneLine(https, 1, new RegExp(`port ${port} \\(HTTPS\\).*already in use.*--https-port <port> or NATTER_HTTPS_PORT`));
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it("a data folder that is a file is one line (exit 2); one that is not writable is one line (exit 1)", async () => {
    const file = join(tempDir(), "file");
    writeFileSync(file, "x");
    assertOneLine(await natter(["serve", "--data", file, "--port", "0", "--https-port", "0"]), 2, /data folder .*file is not a folder.*--data <folder> \(NATTER_DATA\)/);
    assertOneLine(await natter(["serve", "--data", join(file, "sub"), "--port", "0", "--https-port", "0"]), 2, /is not a folder/);

    // Not writable: as root, permissions do not stop us, so run the CLI as nobody on a root-owned folder.
    const parent = tempDir();
    const locked = join(parent, "locked");
    mkdirSync(locked, { mode: 0o700 });
    const asRoot = process.getuid?.() === 0;
    if (!asRoot) chmodSync(locked, 0o500);
    else chmodSync(parent, 0o755);
    const who = asRoot ? { uid: 65534, gid: 65534, cwd: tmpdir() } : {};
    try {
      assertOneLine(await natter(["serve", "--data", locked, "--port", "0", "--https-port", "0"], who), 1, /data folder .*locked is not writable \(EACCES\).*--data <folder> \(NATTER_DATA\)/);
      assertOneLine(await natter(["serve", "--data", join(locked, "inner"), "--port", "0", "--https-port", "0"], who), 1, /not writable \(EACCES\)/);
      if (asRoot) {
        // A writable folder holding a database this user cannot open.
        const shared = join(parent, "shared");
        mkdirSync(shared, { mode: 0o777 });
        chmodSync(shared, 0o777);
        writeFileSync(join(shared, "natter.db"), "", { mode: 0o600 });
        assertOneLine(await natter(["serve", "--data", shared, "--port", "0", "--https-port", "0"], who), 1, /cannot use .*natter\.db in the data folder \(EACCES\).*--data <folder>/);
      }
    } finally {
      chmodSync(locked, 0o700);
    }
  });

  it("a missing PostgreSQL database is one line saying how to create it, exit code 1", { skip: pgUrl ? false : "NATTER_TEST_PG_URL not set" }, async () => {
    const url = new URL(pgUrl!);
    url.pathname = `/natter_missing_${process.pid}`;
    const run = await natter(["serve", "--data", tempDir(), "--port", "0", "--https-port", "0", "--store", "postgres", "--database-url", url.toString()]);
    assertOneLine(run, 1, new RegExp(`database "natter_missing_${process.pid}" does not exist; create it with createdb .*natter_missing_${process.pid}`));
  });

  it("the banner prints absolute paths for a relative --data; natter cert prints that path and --pem the certificate, ending in a newline, so bundles work", async () => {
    const cwd = tempDir();
    const s = await spawnNatter(["--data", "rel-data", "--port", "0", "--https-port", "0"], {}, { cwd });
    const certPath = join(cwd, "rel-data", "tls-cert.pem");
    try {
      assert.ok(s.output().includes(`  Certificate: ${certPath} (self-signed, generated now)\n`), s.output());
      assert.ok(s.output().includes(`  Trust it in Node with: NODE_EXTRA_CA_CERTS=${certPath}\n`), s.output());
      assert.ok(s.output().includes(`  Access key: generated now into ${join(cwd, "rel-data", "access-key")} (owner-only)`), s.output());
      // `cat natter.pem other.pem` is a valid bundle: a client trusting it accepts the node.
      const { generate } = await import("selfsigned");
      const other = (await generate([{ name: "commonName", value: "other.example" }], { keyType: "ec", curve: "P-256" })).cert;
      const bundle = readFileSync(certPath, "utf8") + other;
      const port = Number(new URL(s.httpsUrl).port);
      const verified = await new Promise<string>((resolve) => {
        const socket = tlsConnect({ host: "127.0.0.1", servername: "localhost", port, ca: bundle }, () => {
          socket.end();
          resolve("verified");
        });
        socket.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      });
      assert.equal(verified, "verified", "the node's certificate is read from a concatenated bundle");
    } finally {
      s.child.kill("SIGTERM");
      await s.exited;
    }
    const pem = readFileSync(certPath, "utf8");
    assert.ok(pem.endsWith("-----END CERTIFICATE-----\n"), "the generated PEM ends with a newline, so cat a.pem b.pem is a valid bundle");
    assert.ok(readFileSync(join(cwd, "rel-data", "tls-key.pem"), "utf8").endsWith("-----\n"));
    const path = await natter(["cert", "--data", "rel-data"], { cwd });
    assert.equal(path.code, 0, path.stderr);
    assert.equal(path.stdout, `${certPath}\n`);
    assert.equal((await natter(["cert"], { cwd, env: { NATTER_DATA: "rel-data" } })).stdout, `${certPath}\n`);
    const printed = await natter(["cert", "--pem", "--data", "rel-data"], { cwd });
    assert.equal(printed.stdout, pem);
    assertOneLine(await natter(["cert", "--data", "elsewhere"], { cwd }), 1, /no certificate at .*elsewhere\/tls-cert\.pem yet/);
  });

  it("natter key prints a fresh 32-byte base64 key that natter serve accepts", async () => {
    const a = await natter(["key"]);
    const b = await natter(["key"]);
    assert.equal(a.code, 0);
    const key = a.stdout.trim();
    assert.match(key, /^[A-Za-z0-9+/]{43}=$/);
    assert.notEqual(key, b.stdout.trim());
    assert.equal(Buffer.from(key, "base64").length, 32);
    const s = await spawnNatter(["--data", tempDir(), "--port", "0", "--https-port", "0", "--access-key", key]);
    try {
      await createUserOverHttp(s.httpUrl, key);
    } finally {
      s.child.kill("SIGTERM");
      await s.exited;
    }
  });

  it("a backup leaves no -wal/-shm files; natter restore refuses while the server runs, then restores it (0600)", async () => {
    const data = tempDir();
    const s = await spawnNatter(["--data", data, "--port", "0", "--https-port", "0"]);
    let userId: string;
    const folder = tempDir();
    const file = join(folder, "copy.db");
    try {
      userId = (await createUserOverHttp(s.httpUrl, s.accessKey)).id;
      const run = await natter(["backup", file, "--data", data]);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(readdirSync(folder), ["copy.db"], "nothing beside the backup");
      const refused = await natter(["restore", file, "--data", data]);
      assertOneLine(refused, 1, new RegExp(`a natter server \\(pid ${s.child.pid}\\) is running on ${data}; stop it first`));
    } finally {
      s.child.kill("SIGTERM");
      await s.exited;
    }
    assert.ok(!existsSync(join(data, "natter.pid")), "the pid file goes with the server");
    // Later users are lost by the restore: the restored database is the backup's.
    const later = await spawnNatter(["--data", data, "--port", "0", "--https-port", "0"]);
    const laterUser = (await createUserOverHttp(later.httpUrl, later.accessKey)).id;
    later.child.kill("SIGTERM");
    await later.exited;

    const restored = await natter(["restore", file, "--data", data]);
    assert.equal(restored.code, 0, restored.stderr);
    assert.match(restored.stdout, /integrity ok\); the previous database is kept as .*natter\.db\.before-restore-/);
    assert.equal(statSync(join(data, "natter.db")).mode & 0o777, 0o600);
    assert.ok(readdirSync(data).some((f) => f.startsWith("natter.db.before-restore-")));
    assert.deepEqual(readdirSync(folder), ["copy.db"], "the backup itself is only read");

    const again = await spawnNatter(["--data", data, "--port", "0", "--https-port", "0"]);
    try {
      // Issuing a token answers 404 for a user the database does not have.
      const status = async (id: string) => {
        const url = new URL(`/identities/${encodeURIComponent(id)}/:issueAccessToken?api-version=2023-10-01`, again.httpUrl);
        const body = JSON.stringify({ scopes: ["chat"] });
        return (await fetch(url, { method: "POST", headers: signedHeaders(url, "POST", body, again.accessKey), body })).status;
      };
      assert.equal(await status(userId), 200, "a user of the backup exists");
      assert.equal(await status(laterUser), 404, "a user created after the backup does not");
    } finally {
      again.child.kill("SIGTERM");
      await again.exited;
    }
    assertOneLine(await natter(["restore", join(folder, "missing.db"), "--data", data]), 2, /no backup file at/);
    const junk = join(folder, "junk.db");
    writeFileSync(junk, "not a database".repeat(100));
    assertOneLine(await natter(["restore", junk, "--data", data]), 1, /failed its integrity check.*nothing was changed/);
  });

  it("request logs: one short line per request with --log-format pretty, JSON lines when piped (the default)", async () => {
    const pretty = await spawnNatter(["--data", tempDir(), "--port", "0", "--https-port", "0", "--log-format", "pretty"], { NATTER_LOG_LEVEL: "info" });
    const json = await spawnNatter(["--data", tempDir(), "--port", "0", "--https-port", "0"], { NATTER_LOG_LEVEL: "info" });
    try {
      for (const s of [pretty, json]) assert.equal((await fetch(new URL("/healthz?probe=1", s.httpUrl))).status, 200);
      const deadline = Date.now() + 10_000;
      while (!(/\/healthz\?probe=1/.test(pretty.output()) && /request completed/.test(json.output())) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.match(pretty.output(), /^\d\d:\d\d:\d\d 200 GET \/healthz\?probe=1 \d+\.\d ms$/m);
      assert.doesNotMatch(pretty.output(), /incoming request|"level"/);
      const records = json.output().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { msg: string });
      assert.ok(records.some((r) => r.msg === "request completed"), json.output());
    } finally {
      for (const s of [pretty, json]) {
        s.child.kill("SIGTERM");
        await s.exited;
      }
    }
  });

  it("request logs are short lines by default on a terminal", { skip: spawnSync("script", ["--version"]).status === 0 ? false : "the script(1) command is not installed" }, async () => {
    // script(1) runs the server on a pseudo-terminal; the request comes from this process.
    const data = tempDir();
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    const command = [process.execPath, NATTER_BIN, "serve", "--data", data, "--port", String(port), "--https-port", "0"].map((a) => `'${a}'`).join(" ");
    const child = spawn("script", ["-qfec", command, "/dev/null"], { env: { ...process.env, NATTER_LOG_LEVEL: "info", NATTER_LOG_FORMAT: "" }, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    const exited = new Promise((resolve) => child.on("close", resolve));
    try {
      const deadline = Date.now() + 30_000;
      while (!/NODE_EXTRA_CA_CERTS=/.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal((await fetch(`http://127.0.0.1:${port}/healthz?tty=1`)).status, 200);
      while (!/healthz\?tty=1/.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.match(out, /\d\d:\d\d:\d\d 200 GET \/healthz\?tty=1 \d+\.\d ms/);
      assert.doesNotMatch(out, /"msg":"request completed"/);
    } finally {
      child.stdin.write("\x03"); // Ctrl-C on the terminal: SIGINT
      child.kill("SIGTERM");
      await exited;
    }
  });

  it("the README's sample banner is what natter serve prints on a first start", async () => {
    const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
    const sample = /`npm start` prints[^]*?```\n([^]*?)```/.exec(readme)?.[1];
    assert.ok(sample, "the README shows a banner");
    const cwd = tempDir();
    const s = await spawnNatter(["--port", "0", "--https-port", "0"], {}, { cwd });
    try {
      const banner = s.output().slice(0, s.output().indexOf("NODE_EXTRA_CA_CERTS=")).concat(/NODE_EXTRA_CA_CERTS=\S+\n/.exec(s.output())![0]);
      const asInReadme = banner
        .replaceAll(`:${new URL(s.httpsUrl).port}/`, ":8443/")
        .replaceAll(`:${new URL(s.httpUrl).port}/`, ":8080/")
        .replaceAll(cwd, "/home/you/natter")
        .replace(/accesskey=\S+/, "accesskey=…");
      assert.equal(asInReadme, sample);
    } finally {
      s.child.kill("SIGTERM");
      await s.exited;
    }
  });
});
