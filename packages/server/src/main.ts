// Process entry of the `natter` CLI: config → compose → listen → graceful shutdown on SIGTERM/SIGINT.
import { ConfigError, isLoopback, loadConfig, usage } from "./config.js";
import { startNatter } from "./compose.js";
import type { RunningNatter } from "./compose.js";
import { backupSqliteDatabase } from "./store/sqlite/sqlite-store.js";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

/** `natter backup <file> [--data dir]`: a consistent copy of the live SQLite database. */
async function backup(args: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { data: { type: "string" } }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  const target = parsed.positionals[0];
  if (!target || parsed.positionals.length > 1) throw new ConfigError("usage: natter backup <file> [--data <folder>]");
  if (existsSync(target)) throw new ConfigError(`${target} already exists; choose a new file`);
  const source = join(parsed.values.data ?? process.env.NATTER_DATA ?? "./natter-data", "natter.db");
  if (!existsSync(source)) throw new ConfigError(`no database at ${source}`);
  const { pages, integrity } = await backupSqliteDatabase(source, target);
  if (integrity !== "ok") throw new Error(`the copy failed its integrity check: ${integrity}`);
  process.stdout.write(`Backed up ${source} to ${target} (${pages} pages, integrity ok)\n`);
}

/**
 * The access key is printed (in the connection string) only when it was generated now, so the operator can
 * copy it once; a key from the configuration or the data folder is not repeated into logs.
 */
function accessKeyLines(natter: RunningNatter): string[] {
  const endpoint = natter.endpoint;
  switch (natter.accessKeySource) {
    case "generated":
      return [`  Connection string: ${natter.connectionString}`, `  Access key: generated now into ${natter.accessKeyPath} (owner-only); printed this once`];
    case "file":
      return [`  Connection string (key not printed): endpoint=${endpoint};accesskey=<the key in ${natter.accessKeyPath}>`];
    case "configured":
      return [`  Connection string (key not printed): endpoint=${endpoint};accesskey=<the key of --access-key / NATTER_ACCESS_KEY>`];
  }
}

async function serve(args: string[]): Promise<void> {
  const config = loadConfig(args, process.env);
  const natter = await startNatter(config, { log: config.logLevel !== "silent" });
  const lines = [
    `Natter is running (store: ${config.store}, bus: ${config.bus}, limits: ${config.limits})`,
    `  HTTPS  ${natter.httpsUrl}`,
    `  HTTP   ${natter.httpUrl}`,
    `  Web app: ${natter.httpsUrl}`,
    ...accessKeyLines(natter),
    `  Certificate: ${natter.certPath}${natter.certGenerated ? " (self-signed, generated now)" : ""}`,
    `  Trust it in Node with: NODE_EXTRA_CA_CERTS=${natter.certPath}`,
  ];
  if (config.metrics === "on" && config.metricsToken === undefined && !isLoopback(config.host)) {
    lines.push(`  Warning: GET /metrics is open to anyone who can reach ${config.host}; set --metrics-token or --metrics off`);
  }
  process.stderr.write(lines.join("\n") + "\n");
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${signal}: draining requests and closing the database...\n`);
    const force = setTimeout(() => {
      process.stderr.write("shutdown took more than 10 s; exiting\n");
      process.exit(1);
    }, 10_000);
    force.unref();
    natter.close().then(
      () => process.exit(0),
      (error) => {
        process.stderr.write(`shutdown failed: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "serve":
        await serve(rest);
        return;
      case "backup":
        await backup(rest);
        return;
      case undefined:
      case "help":
      case "--help":
      case "-h":
        process.stdout.write(usage() + "\n");
        return;
      default:
        throw new ConfigError(`unknown command '${command}'`);
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`natter: ${error.message}\n\n${usage()}\n`);
      process.exit(2);
    }
    process.stderr.write(`natter: ${(error as Error).stack ?? error}\n`);
    process.exit(1);
  }
}
