// node bench/sdk-size.mjs: the browser bundle size of a minimal chat app entry (ChatClient, ChatThreadClient,
// AzureCommunicationTokenCredential) built with esbuild (bundle everything, platform "browser", format esm,
// minify), once with Natter's SDK and once with Azure's (@azure/communication-chat 1.5.4 + common).
// Prints a table and writes bench/output/results-sdk-size.json (ignored by git); with --write-results, the
// committed bench/results-sdk-size.json. Run `npx tsc -b` first (it bundles Natter's dist).
// Never part of npm test.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { gzipSync, constants } from "node:zlib";
import { build } from "esbuild";
import { ROOT, table } from "./lib.mjs";

const COMMAND = "npx tsc -b && node bench/sdk-size.mjs";
const versionOf = (name) => JSON.parse(readFileSync(join(ROOT, "node_modules", name, "package.json"), "utf8")).version;

const entry = (chat, common) => `import { ChatClient, ChatThreadClient } from "${chat}";
import { AzureCommunicationTokenCredential } from "${common}";
export { ChatClient, ChatThreadClient, AzureCommunicationTokenCredential };
`;

const SDKS = [
  {
    name: "natter",
    packages: `@natter/communication-chat ${versionOf("@natter/communication-chat")} + @natter/communication-common ${versionOf("@natter/communication-common")}`,
    contents: entry("@natter/communication-chat", "@natter/communication-common"),
    // Nothing beyond the shared options: the point is that no bundler configuration is needed.
    extra: {},
  },
  {
    name: "azure",
    packages: `@azure/communication-chat ${versionOf("azure-chat-154")} + @azure/communication-common ${versionOf("@azure/communication-common")}`,
    contents: entry("azure-chat-154", "@azure/communication-common"),
    // Same options as ours. esbuild's platform "browser" already prefers the "browser" field/condition, which
    // Azure's packages use to swap in their browser implementations, and @azure/communication-chat 1.5.4 +
    // common 2.4.2 need no process.env.NODE_ENV define with esbuild 0.28 (checked: no process.env left in
    // the output). Azure's README still asks rollup users for a namedExports recipe (events, signaling).
    extra: {},
  },
];

async function bundle(sdk, minify) {
  const result = await build({
    stdin: { contents: sdk.contents, resolveDir: ROOT, sourcefile: `${sdk.name}-entry.js`, loader: "js" },
    bundle: true,
    platform: "browser",
    format: "esm",
    minify,
    write: false,
    metafile: true,
    logLevel: "silent",
    ...sdk.extra,
  });
  return { bytes: result.outputFiles[0].contents, metafile: result.metafile, warnings: result.warnings };
}

const kb = (n) => Math.round((n / 1024) * 10) / 10;
const figures = {};
for (const sdk of SDKS) {
  const raw = await bundle(sdk, false);
  const min = await bundle(sdk, true);
  const gzipped = gzipSync(min.bytes, { level: constants.Z_BEST_COMPRESSION }).length;
  // The ten largest inputs of the minified bundle, to see what the bytes are.
  const inputs = Object.values(min.metafile.outputs)[0].inputs;
  const largest = Object.entries(inputs)
    .sort((a, b) => b[1].bytesInOutput - a[1].bytesInOutput)
    .slice(0, 10)
    .map(([path, { bytesInOutput }]) => ({ path: path.replace(/^.*node_modules\//, ""), bytes: bytesInOutput }));
  figures[sdk.name] = {
    packages: sdk.packages,
    esbuildOptionsBeyondDefaults: sdk.extra,
    rawBytes: raw.bytes.length,
    minifiedBytes: min.bytes.length,
    gzippedBytes: gzipped,
    modules: Object.keys(inputs).length,
    warnings: min.warnings.length,
    largestInputs: largest,
  };
}

const ratio = figures.natter.gzippedBytes / figures.azure.gzippedBytes;
const rows = SDKS.map(({ name }) => ({
  sdk: name,
  "raw KB": kb(figures[name].rawBytes),
  "minified KB": kb(figures[name].minifiedBytes),
  "gzipped KB": kb(figures[name].gzippedBytes),
  modules: figures[name].modules,
  "vs azure (gzipped)": `${((figures[name].gzippedBytes / figures.azure.gzippedBytes) * 100).toFixed(1)}%`,
}));

console.log(`\n## SDK browser bundle size (esbuild ${(await import("esbuild")).version}, bundle + minify, platform browser, esm; gzip -9)\n`);
console.log(table(rows));
console.log(`\nnatter / azure gzipped: 1/${(1 / ratio).toFixed(1)} (${(ratio * 100).toFixed(1)}%); target ≤ 1/10: ${ratio <= 0.1 ? "met" : "NOT met"}`);
for (const name of Object.keys(figures)) {
  console.log(`\nlargest inputs of ${name} (minified bytes):`);
  for (const { path, bytes } of figures[name].largestInputs) console.log(`  ${String(bytes).padStart(7)}  ${path}`);
}

const resultsFile = process.argv.includes("--write-results") ? join(ROOT, "bench/results-sdk-size.json") : join(ROOT, "bench/output/results-sdk-size.json");
mkdirSync(dirname(resultsFile), { recursive: true });
writeFileSync(
  resultsFile,
  JSON.stringify(
    {
      name: "sdk-size",
      description: "Browser bundle of a minimal chat entry (ChatClient, ChatThreadClient, AzureCommunicationTokenCredential): esbuild bundle, platform browser, esm, minify; gzip level 9",
      date: new Date().toISOString(),
      command: COMMAND,
      node: process.version,
      esbuild: (await import("esbuild")).version,
      entry: entry("<chat package>", "<common package>"),
      rows,
      ratioGzipped: Math.round(ratio * 1000) / 1000,
      targetMet: ratio <= 0.1,
      figures,
    },
    null,
    2,
  ) + "\n",
);
