// Runs every compiled test file (dist/**/*.test.js of each workspace) with Node's test runner.
// Usage: node scripts/run-tests.mjs [substring filter | test file.js ...]
// The terminal gets each failure in full and the totals; the full TAP log is written to test-output/test.log
// (NATTER_TEST_LOG=<file> to change it). The last line is always `tests: N passed, N failed, N skipped`, and the
// exit code is non-zero when anything failed.
import { readdirSync, statSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath, pathToFileURL } from "node:url";
import { generate } from "selfsigned";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const roots = ["packages", "conformance"].map((d) => join(repoRoot, d)).filter((d) => existsSync(d));
const files = [];
function walk(dir, inDist) {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules") continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, inDist || name === "dist");
    else if (inDist && name.endsWith(".test.js")) files.push(path);
  }
}
roots.forEach((r) => walk(r, false));
// An argument that is a .js file is run as given; others filter the compiled test files by substring.
const args = process.argv.slice(2);
const given = args.filter((a) => a.endsWith(".js") && existsSync(a)).map((a) => resolve(a));
const filters = args.filter((a) => !given.includes(resolve(a)));
const selected = [
  ...given,
  ...(filters.length === 0 && given.length > 0 ? [] : files.filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))),
].sort();
if (selected.length === 0) {
  console.error("no test files found (did tsc -b run?)");
  process.exit(1);
}
// One localhost certificate for every test server, trusted by the test processes (as a user would with
// NODE_EXTRA_CA_CERTS), so HTTPS is verified for real. Removed at exit, whatever happens.
const tlsDir = mkdtempSync(join(tmpdir(), "natter-test-tls-"));
const cleanUp = () => rmSync(tlsDir, { recursive: true, force: true });
process.on("exit", cleanUp);
const pems = await generate([{ name: "commonName", value: "localhost" }], {
  keyType: "ec", curve: "P-256", algorithm: "sha256",
  extensions: [
    { name: "basicConstraints", cA: false },
    { name: "subjectAltName", altNames: [{ type: 2, value: "localhost" }, { type: 7, ip: "127.0.0.1" }, { type: 7, ip: "::1" }] },
  ],
});
writeFileSync(join(tlsDir, "cert.pem"), pems.cert);
writeFileSync(join(tlsDir, "key.pem"), pems.private);
const tlsEnv = { NODE_EXTRA_CA_CERTS: join(tlsDir, "cert.pem"), NATTER_TEST_TLS_CERT: join(tlsDir, "cert.pem"), NATTER_TEST_TLS_KEY: join(tlsDir, "key.pem") };
for (const name of ["NATTER_TEST_PG_URL", "NATTER_TEST_REDIS_URL"]) {
  if (!process.env[name]) console.log(`# ${name} is not set: tests that need it are skipped`);
}

const log = resolve(process.env.NATTER_TEST_LOG ?? join(repoRoot, "test-output", "test.log"));
mkdirSync(dirname(log), { recursive: true });
console.log(`Running ${selected.length} test files; full log: ${log}`);
const child = spawn(
  process.execPath,
  [
    "--test", "--test-concurrency=2", "--test-timeout=120000",
    "--test-reporter=tap", `--test-reporter-destination=${log}`,
    `--test-reporter=${pathToFileURL(join(repoRoot, "scripts/test-summary-reporter.mjs")).href}`, "--test-reporter-destination=stdout",
    ...selected,
  ],
  { stdio: "inherit", env: { ...process.env, ...tlsEnv, NODE_ENV: "test" } },
);
// Ctrl-C reaches the test runner too (same process group): wait for it to stop, then clean up.
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
const [code, signal] = await new Promise((resolve) => child.on("exit", (c, s) => resolve([c, s])));

// The totals, from the TAP log's closing lines (`# pass N`, `# fail N`, ...).
const tap = existsSync(log) ? readFileSync(log, "utf8") : "";
const count = (name) => {
  const all = [...tap.matchAll(new RegExp(`^# ${name} ([\\d.]+)$`, "gm"))];
  return all.length ? Number(all[all.length - 1][1]) : undefined;
};
const passed = count("pass");
if (passed === undefined) {
  console.log(`the test runner ended (${signal ?? `exit code ${code}`}) without totals; see ${log}`);
  process.exit(code || 1);
}
const failed = (count("fail") ?? 0) + (count("cancelled") ?? 0);
const skipped = (count("skipped") ?? 0) + (count("todo") ?? 0);
const seconds = count("duration_ms") === undefined ? "" : ` (${Math.round(count("duration_ms") / 1000)} s)`;
console.log(`\nFull log: ${log}${seconds}`);
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(code === 0 && failed === 0 ? 0 : code || 1);
