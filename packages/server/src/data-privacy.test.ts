// Issue #18 item 11a/b: the data folder is owner-only (0700 when Natter creates it), the database and its
// -wal/-shm files are 0600 (also ones left 0644 by an older version), and the access key is printed only
// when generated now.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestNatter } from "./test-support/test-natter.js";
import { spawnNatter } from "./test-support/natter-process.js";

const roots: string[] = [];
after(() => roots.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tempRoot(): string {
  const d = mkdtempSync(join(tmpdir(), "natter-privacy-"));
  roots.push(d);
  return d;
}
const mode = (path: string) => statSync(path).mode & 0o777;

describe("file modes", () => {
  it("creates the data folder 0700 and the database, -wal and -shm 0600", async () => {
    const data = join(tempRoot(), "data");
    const natter = await startTestNatter({ dataDir: data });
    try {
      await natter.identity.createUser(); // a write: the WAL exists
      assert.equal(mode(data), 0o700);
      for (const file of ["natter.db", "natter.db-wal", "natter.db-shm", "access-key"]) {
        assert.ok(existsSync(join(data, file)), file);
        assert.equal(mode(join(data, file)), 0o600, file);
      }
    } finally {
      await natter.close();
    }
  });

  it("makes a world-readable database left by an older version owner-only", async () => {
    const data = join(tempRoot(), "data");
    const first = await startTestNatter({ dataDir: data });
    await first.identity.createUser();
    await first.close();
    for (const file of ["natter.db", "natter.db-wal", "natter.db-shm"]) if (existsSync(join(data, file))) chmodSync(join(data, file), 0o644);
    const again = await startTestNatter({ dataDir: data });
    try {
      await again.identity.createUser();
      for (const file of ["natter.db", "natter.db-wal", "natter.db-shm"]) assert.equal(mode(join(data, file)), 0o600, file);
    } finally {
      await again.close();
    }
  });
});

describe("the start banner", () => {
  const start = (args: string[], env: Record<string, string> = {}) => spawnNatter(["--port", "0", "--https-port", "0", ...args], env);

  it("prints the access key once, when it generates it; not when it reads it from the data folder", async () => {
    const data = join(tempRoot(), "data");
    const first = await start(["--data", data]);
    try {
      assert.match(first.output(), /Connection string: endpoint=\S+;accesskey=\S+/);
      assert.ok(first.output().includes(first.accessKey));
      assert.match(first.output(), /Access key: generated now into \S+access-key/);
    } finally {
      first.child.kill("SIGTERM");
      await first.exited;
    }
    const second = await start(["--data", data]);
    try {
      assert.equal(second.accessKey, first.accessKey, "the same key (read by the test from the file)");
      assert.ok(!second.output().includes(first.accessKey), "the stored key is not printed again");
      assert.match(second.output(), /Connection string \(key not printed\): endpoint=\S+;accesskey=<the key in \S+access-key>/);
    } finally {
      second.child.kill("SIGTERM");
      await second.exited;
    }
  });

  it("does not print a key given with --access-key or NATTER_ACCESS_KEY", async () => {
    const key = Buffer.alloc(32, 9).toString("base64");
    for (const [args, env] of [[["--access-key", key], {}], [[], { NATTER_ACCESS_KEY: key }]] as [string[], Record<string, string>][]) {
      const data = join(tempRoot(), "data");
      const s = await start(["--data", data, ...args], env);
      try {
        assert.ok(!s.output().includes(key), "the configured key is not printed");
        assert.match(s.output(), /key of --access-key \/ NATTER_ACCESS_KEY/);
        assert.ok(!existsSync(join(data, "access-key")), "nor written to the data folder");
      } finally {
        s.child.kill("SIGTERM");
        await s.exited;
      }
    }
  });
});
