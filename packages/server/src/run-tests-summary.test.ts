// scripts/run-tests.mjs (what `npm test` runs, #20 item 7): a short terminal summary (each failure in full, why
// tests were skipped, then the totals as the last line), the full TAP log in a file, a non-zero exit code on any
// failure, and no natter-test-tls-* folder left in the temp folder. Runs the script on a small fixture file.
import { after, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("../../../scripts/run-tests.mjs", import.meta.url));
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function runTests(fixture: string): Promise<{ code: number | null; out: string; tmp: string; log: string }> {
  const dir = mkdtempSync(join(tmpdir(), "natter-runner-"));
  dirs.push(dir);
  const tmp = join(dir, "tmp");
  const log = join(dir, "out", "test.log");
  const file = join(dir, "fixture.test.js");
  writeFileSync(file, fixture);
  const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp, NATTER_TEST_LOG: log };
  delete env.NODE_TEST_CONTEXT; // we run inside a test runner: the nested one must report normally
  mkdirSync(tmp);
  const child = spawn(process.execPath, [SCRIPT, file], { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  return { code, out, tmp, log };
}

const FIXTURE = `
const { test } = require("node:test");
const assert = require("node:assert/strict");
for (let i = 0; i < 30; i++) test("passes " + i, () => console.log("noise that belongs in the log only " + i));
test("fails", () => assert.equal(1 + 1, 3, "one plus one is not three"));
test("is skipped", { skip: "no database here" }, () => {});
`;

it("npm test's runner prints failures in full and ends with the totals line; the TAP goes to a file; exit code 1; no TLS folder left", async () => {
  const { code, out, tmp, log } = await runTests(FIXTURE);
  assert.equal(code, 1, out);
  const lines = out.trimEnd().split("\n");
  assert.equal(lines.at(-1), "tests: 30 passed, 1 failed, 1 skipped");
  assert.match(out, /✖ fails \(.*fixture\.test\.js:\d+\)\n\s+AssertionError.*one plus one is not three/);
  assert.match(out, /1 × no database here/);
  assert.doesNotMatch(out, /noise that belongs|^ok \d+ - passes/m, "passing tests and their output stay in the log");
  assert.ok(lines.length < 40, `a short summary, got ${lines.length} lines`);
  const tap = readFileSync(log, "utf8");
  assert.match(tap, /^ok 30 - passes 29$/m);
  assert.match(tap, /^# fail 1$/m);
  assert.deepEqual(readdirSync(tmp).filter((n) => n.startsWith("natter-test-tls-")), [], "the certificate folder is removed");
});

it("a run where everything passes exits 0 with the totals last", async () => {
  const { code, out, tmp } = await runTests(`require("node:test").test("ok", () => {});\n`);
  assert.equal(code, 0, out);
  assert.equal(out.trimEnd().split("\n").at(-1), "tests: 1 passed, 0 failed, 0 skipped");
  assert.deepEqual(readdirSync(tmp), []);
});
