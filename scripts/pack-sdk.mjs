// Builds Natter's SDK and packs it into installable (and publishable) npm tarballs:
// @natter/wire, @natter/communication-common, @natter/communication-identity, @natter/communication-chat.
// Usage: node scripts/pack-sdk.mjs [--out <dir>] [--no-build]     (npm run pack:sdk)
//   --out <dir>   where the .tgz files go (default: dist-packages/, ignored by git)
//   --no-build    skip `tsc -b` (the packages' dist/ must be current)
// Before packing it checks what a consumer depends on: one version for the four packages, dependencies
// only on each other at exactly that version, no test files in the tarballs, and no import in the packed
// JavaScript of anything that is not a Node built-in, a declared dependency or the optional peer `ws`.
// Prints the tarball paths, one a line, after "Packed:" (the install test reads them).
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { builtinModules, createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** The SDK packages, in dependency order. */
const SDK_PACKAGES = ["packages/wire", "packages/common", "packages/identity", "packages/chat"];

function parseArgs(argv) {
  const options = { out: join(root, "dist-packages"), build: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--no-build") options.build = false;
    else if (arg === "--out" && argv[i + 1]) options.out = resolve(argv[++i]);
    else if (arg.startsWith("--out=")) options.out = resolve(arg.slice("--out=".length));
    else {
      console.error(`pack-sdk: unknown argument ${arg}\nUsage: node scripts/pack-sdk.mjs [--out <dir>] [--no-build]`);
      process.exit(2);
    }
  }
  return options;
}

function run(command, args, what) {
  const result = spawnSync(command, args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (result.status !== 0) {
    process.stderr.write(result.stdout ?? "");
    process.stderr.write(result.stderr ?? "");
    fail(`${what} failed (${result.error?.message ?? `exit ${result.status}`})`);
  }
  return result.stdout;
}

function fail(message) {
  console.error(`pack-sdk: ${message}`);
  process.exit(1);
}

const readJson = (path) => JSON.parse(readFileSync(path, "utf8"));

/** Bare module specifiers imported by a compiled ES module (static imports/exports and literal dynamic imports). */
function importedSpecifiers(source) {
  const found = new Set();
  const patterns = [
    /^\s*(?:import|export)\s[^;]*?\sfrom\s*["']([^"']+)["']/gm,
    /^\s*import\s*["']([^"']+)["']/gm,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
    /\brequire\s*\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const pattern of patterns) for (const match of source.matchAll(pattern)) found.add(match[1]);
  return [...found].filter((s) => !s.startsWith(".") && !s.startsWith("/"));
}

const packageOf = (specifier) => specifier.split("/").slice(0, specifier.startsWith("@") ? 2 : 1).join("/");
const isBuiltin = (specifier) => specifier.startsWith("node:") || builtinModules.includes(specifier);

function checkManifests(manifests) {
  const problems = [];
  const warnings = [];
  const names = new Set(manifests.map(({ pkg }) => pkg.name));
  const version = manifests[0].pkg.version;
  for (const { dir, pkg } of manifests) {
    const where = `${dir}/package.json`;
    if (pkg.private) problems.push(`${where}: "private" is set`);
    if (pkg.version !== version) problems.push(`${where}: version ${pkg.version}, expected ${version} like ${manifests[0].pkg.name}`);
    for (const field of ["description", "license", "files", "exports", "types", "repository"]) {
      if (!pkg[field]) problems.push(`${where}: "${field}" is missing`);
    }
    if (typeof pkg.sideEffects !== "boolean") problems.push(`${where}: "sideEffects" is not declared`);
    const dotExport = pkg.exports?.["."];
    for (const key of ["types", "default"]) {
      const target = dotExport?.[key];
      if (!target) problems.push(`${where}: exports["."].${key} is missing`);
      else if (!existsSync(join(root, dir, target))) problems.push(`${where}: exports["."].${key} ${target} does not exist (build first)`);
    }
    for (const [dep, range] of Object.entries(pkg.dependencies ?? {})) {
      if (!names.has(dep)) problems.push(`${where}: runtime dependency ${dep} is not one of the SDK packages (the SDK has none outside itself)`);
      else if (range !== version) problems.push(`${where}: depends on ${dep}@${range}; the SDK packages are released together, use exactly ${version}`);
    }
    for (const dep of Object.keys(pkg.peerDependencies ?? {})) {
      if (dep !== "ws") problems.push(`${where}: unexpected peer dependency ${dep}`);
      else if (!pkg.peerDependenciesMeta?.[dep]?.optional) problems.push(`${where}: peer dependency ${dep} must be optional`);
    }
  }
  const noUrl = manifests.filter(({ pkg }) => pkg.repository && !pkg.repository.url).map(({ dir }) => dir);
  if (noUrl.length > 0) warnings.push(`repository.url is not set in ${noUrl.join(", ")}: set it before npm publish`);
  return { problems, warnings };
}

/** What `npm pack` would put in each tarball, checked file by file. */
function checkContents(manifests) {
  const problems = [];
  const listing = JSON.parse(run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts", ...manifests.flatMap(({ dir }) => ["-w", dir])], "npm pack --dry-run"));
  for (const { dir, pkg } of manifests) {
    const entry = listing.find((e) => e.name === pkg.name);
    if (!entry) {
      problems.push(`${dir}: npm pack --dry-run did not list ${pkg.name}`);
      continue;
    }
    const allowed = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})]);
    for (const { path } of entry.files) {
      if (/\.test\.|(^|\/)test-support\./.test(path)) problems.push(`${dir}: test file ${path} would be published`);
      if (path.startsWith("dist/") && path.endsWith(".js")) {
        const src = join(root, dir, path.replace(/^dist\//, "src/").replace(/\.js$/, ".ts"));
        if (!existsSync(src)) problems.push(`${dir}: ${path} has no source (stale build output; delete ${dir}/dist and rebuild)`);
        for (const specifier of importedSpecifiers(readFileSync(join(root, dir, path), "utf8"))) {
          if (!isBuiltin(specifier) && !allowed.has(packageOf(specifier))) {
            problems.push(`${dir}: ${path} imports ${specifier}, which is not a dependency (a consumer would not have it)`);
          }
        }
      }
    }
  }
  return problems;
}

function main() {
  const options = parseArgs(process.argv.slice(2));
  if (options.build) {
    const tsc = createRequire(join(root, "package.json")).resolve("typescript/bin/tsc");
    run(process.execPath, [tsc, "-b", ...SDK_PACKAGES], "tsc -b");
  }
  const manifests = SDK_PACKAGES.map((dir) => ({ dir, pkg: readJson(join(root, dir, "package.json")) }));
  const { problems, warnings } = checkManifests(manifests);
  problems.push(...checkContents(manifests));
  for (const warning of warnings) console.warn(`pack-sdk: warning: ${warning}`);
  if (problems.length > 0) fail(`not packable:\n  ${problems.join("\n  ")}`);

  mkdirSync(options.out, { recursive: true });
  // Older tarballs of these packages would be picked up by `npm install <dir>/*.tgz`.
  const prefixes = manifests.map(({ pkg }) => `${pkg.name.replace(/^@/, "").replace("/", "-")}-`);
  for (const name of readdirSync(options.out)) {
    if (name.endsWith(".tgz") && prefixes.some((p) => name.startsWith(p))) rmSync(join(options.out, name));
  }
  const packed = JSON.parse(
    run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", options.out, ...manifests.flatMap(({ dir }) => ["-w", dir])], "npm pack"),
  );
  const tarballs = packed.map((entry) => join(options.out, entry.filename));
  console.log("Packed:");
  for (const t of tarballs) console.log(t);
  console.log(`\nInstall them together in your project:\n  npm install ${join(options.out, "*.tgz")}`);
}

main();
