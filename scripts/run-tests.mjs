// Runs every compiled test file (dist/**/*.test.js of each workspace) with Node's test runner.
// Usage: node scripts/run-tests.mjs [substring filter ...]
import { readdirSync, statSync, existsSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { generate } from "selfsigned";

const roots = ["packages", "conformance"].filter((d) => existsSync(d));
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
const filters = process.argv.slice(2);
const selected = files.filter((f) => filters.length === 0 || filters.some((s) => f.includes(s))).sort();
if (selected.length === 0) {
  console.error("no test files found (did tsc -b run?)");
  process.exit(1);
}
// One localhost certificate for every test server, trusted by the test processes (as a user would with
// NODE_EXTRA_CA_CERTS), so HTTPS is verified for real.
const tlsDir = mkdtempSync(join(tmpdir(), "natter-test-tls-"));
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

const result = spawnSync(
  process.execPath,
  ["--test", "--test-concurrency=2", "--test-timeout=120000", ...selected],
  { stdio: "inherit", env: { ...process.env, ...tlsEnv, NODE_ENV: "test" } },
);
process.exit(result.status ?? 1);
