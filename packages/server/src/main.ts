// Process entry of the `natter` CLI: config → compose → listen → graceful shutdown on SIGTERM/SIGINT, plus the
// small commands (cert, key, backup, restore). Ordinary mistakes end with one line naming the fix: exit code 2
// for a bad command line or configuration, 1 for what the machine refused (port in use, no permission, no database).
import { COMMANDS, ConfigError, commandPaths, isLoopback, loadConfig, usage } from "./config.js";
import type { NatterConfig } from "./config.js";
import { startNatter } from "./compose.js";
import type { RunningNatter } from "./compose.js";
import { backupSqliteDatabase, prepareSqliteRestore } from "./store/sqlite/sqlite-store.js";
import { prettyLogStream } from "./log-pretty.js";
import { EventsCliError, runEventsCommand } from "./events-cli.js";
import { randomBytes } from "node:crypto";
import { accessSync, constants, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, join, resolve, sep } from "node:path";
import { parseArgs } from "node:util";

/** A failure the user can fix, reported as one line without a stack; exit code 1. */
export class CliFailure extends Error {}

const PID_FILE = "natter.pid";

function version(): string {
  return (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
}

type Flags = Record<string, { type: "string" | "boolean" }>;

/** Parses a small command's flags (and --help); a bad flag is one line naming the command's help. */
function parse(args: string[], options: Flags, command: string): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
    return { values: values as Record<string, string | boolean | undefined>, positionals };
  } catch (error) {
    throw new ConfigError(`${(error as Error).message.replace(/\. To specify a positional.*$/s, "")} (natter ${command} --help shows the usage)`);
  }
}

function commandUsage(command: string): string {
  return `Usage: ${COMMANDS.find((c) => c.startsWith(`natter ${command} `))!.replace(/\s{2,}/, "\n  ")}`;
}

/** The pid of a natter server running on `dataDir`, from its pid file (undefined when none runs). */
function runningServer(dataDir: string): number | undefined {
  const file = join(dataDir, PID_FILE);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, "utf8").trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return undefined; // ESRCH: a stale file
  }
  // Where /proc exists, a reused pid of another program does not count.
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    if (!cmdline.includes("natter")) return undefined;
  } catch {
    // no /proc: trust the pid
  }
  return pid;
}

/** `natter backup <file> [--data dir]`: a consistent copy of the live SQLite database. */
async function backup(args: string[]): Promise<void> {
  const parsed = parse(args, { data: { type: "string" } }, "backup");
  if (parsed.values.help) return void process.stdout.write(commandUsage("backup") + "\n");
  const target = parsed.positionals[0];
  if (!target || parsed.positionals.length > 1) throw new ConfigError("backup takes one file name: natter backup <file> [--data <folder>]");
  const { dataDir } = commandPaths({ data: parsed.values.data as string | undefined }, process.env);
  const folder = dirname(resolve(target));
  if (!existsSync(folder)) throw new ConfigError(`the folder ${folder} does not exist; create it first (mkdir -p ${folder})`);
  if (!statSync(folder).isDirectory()) throw new ConfigError(`${folder} is not a folder`);
  if (existsSync(target)) throw new ConfigError(`${resolve(target)} already exists; choose a new file`);
  const source = join(dataDir, "natter.db");
  if (!existsSync(source)) throw new ConfigError(`no database at ${resolve(source)}; name the data folder with --data <folder> (NATTER_DATA)`);
  const { pages, integrity } = await backupSqliteDatabase(source, target);
  if (integrity !== "ok") throw new CliFailure(`the copy failed its integrity check: ${integrity}`);
  process.stdout.write(`Backed up ${resolve(source)} to ${resolve(target)} (${pages} pages, integrity ok)\n`);
}

/** `natter restore <file> [--data dir]`: puts a backup in place as the data folder's database (server stopped). */
async function restore(args: string[]): Promise<void> {
  const parsed = parse(args, { data: { type: "string" } }, "restore");
  if (parsed.values.help) return void process.stdout.write(commandUsage("restore") + "\n");
  const file = parsed.positionals[0];
  if (!file || parsed.positionals.length > 1) throw new ConfigError("restore takes one file name: natter restore <file> [--data <folder>]");
  if (!existsSync(file) || !statSync(file).isFile()) throw new ConfigError(`no backup file at ${resolve(file)}`);
  const { dataDir } = commandPaths({ data: parsed.values.data as string | undefined }, process.env);
  const pid = runningServer(dataDir);
  if (pid !== undefined) {
    throw new CliFailure(`a natter server (pid ${pid}) is running on ${resolve(dataDir)}; stop it first (if none runs, delete ${resolve(dataDir, PID_FILE)})`);
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const target = join(dataDir, "natter.db");
  const staging = join(dataDir, `natter.db.restoring-${process.pid}`);
  const integrity = prepareSqliteRestore(file, staging);
  if (integrity !== "ok") {
    rmSync(staging, { force: true });
    throw new CliFailure(`${resolve(file)} failed its integrity check (${integrity}); nothing was changed`);
  }
  // The database being replaced is kept, with its -wal/-shm, under one new name (still openable as a set).
  let kept: string | undefined;
  if (existsSync(target)) {
    kept = `${target}.before-restore-${new Date().toISOString().replace(/[:.]/g, "-")}`;
    for (const suffix of ["", "-wal", "-shm"]) if (existsSync(target + suffix)) renameSync(target + suffix, kept + suffix);
  }
  renameSync(staging, target);
  process.stdout.write(
    `Restored ${resolve(file)} to ${resolve(target)} (integrity ok)${kept ? `; the previous database is kept as ${resolve(kept)}` : ""}\n` +
      `Start natter serve with the access key the backup was made with (${resolve(dataDir, "access-key")}), or its tokens and users do not match.\n`,
  );
}

/** `natter cert [--data dir] [--tls-cert file] [--pem]`: where the HTTPS certificate is, or the certificate itself. */
function cert(args: string[]): void {
  const parsed = parse(args, { data: { type: "string" }, "tls-cert": { type: "string" }, pem: { type: "boolean" } }, "cert");
  if (parsed.values.help) return void process.stdout.write(commandUsage("cert") + "\n");
  if (parsed.positionals.length) throw new ConfigError(`cert takes no argument, got '${parsed.positionals[0]}'`);
  const { dataDir, tlsCert } = commandPaths({ data: parsed.values.data as string | undefined, tlsCert: parsed.values["tls-cert"] as string | undefined }, process.env);
  const path = resolve(tlsCert ?? join(dataDir, "tls-cert.pem"));
  if (!existsSync(path)) throw new CliFailure(`no certificate at ${path} yet; natter serve generates it on its first start (or pass --tls-cert)`);
  const pem = readFileSync(path, "utf8");
  process.stdout.write(parsed.values.pem ? (pem.endsWith("\n") ? pem : pem + "\n") : path + "\n");
}

/** `natter key`: a new random access key, for --access-key / NATTER_ACCESS_KEY shared by several nodes. */
function key(args: string[]): void {
  const parsed = parse(args, {}, "key");
  if (parsed.values.help) return void process.stdout.write(commandUsage("key") + "\n");
  if (parsed.positionals.length) throw new ConfigError(`key takes no argument, got '${parsed.positionals[0]}'`);
  process.stdout.write(randomBytes(32).toString("base64") + "\n");
}

/**
 * The access key is printed (in the connection string) only when it was generated now, so the operator can
 * copy it once; a key from the configuration or the data folder is not repeated into logs.
 */
function accessKeyLines(natter: RunningNatter): string[] {
  const endpoint = natter.endpoint;
  const keyPath = natter.accessKeyPath && resolve(natter.accessKeyPath);
  switch (natter.accessKeySource) {
    case "generated":
      return [`  Connection string: ${natter.connectionString}`, `  Access key: generated now into ${keyPath} (owner-only); printed this once`];
    case "file":
      return [`  Connection string (key not printed): endpoint=${endpoint};accesskey=<the key in ${keyPath}>`];
    case "configured":
      return [`  Connection string (key not printed): endpoint=${endpoint};accesskey=<the key of --access-key / NATTER_ACCESS_KEY>`];
  }
}

/** Creates the data folder (owner-only) or says, in one line, why it cannot be used. */
function prepareDataFolder(dataDir: string): void {
  const path = resolve(dataDir);
  const notAFolder = () => new ConfigError(`the data folder ${path} is not a folder (a file is in the way); choose another with --data <folder> (NATTER_DATA)`);
  if (existsSync(path) && !statSync(path).isDirectory()) throw notAFolder();
  try {
    mkdirSync(path, { recursive: true, mode: 0o700 });
    accessSync(path, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOTDIR" || code === "EEXIST") throw notAFolder();
    if (code === "EACCES" || code === "EPERM" || code === "EROFS") {
      throw new CliFailure(`the data folder ${path} is not writable (${code}); choose another with --data <folder> (NATTER_DATA) or give this user write access`);
    }
    throw error;
  }
}

const FLAG_OF_PORT = { http: ["port", "NATTER_PORT"], https: ["https-port", "NATTER_HTTPS_PORT"] } as const;

/** One line for the errors an ordinary mistake causes at start-up; undefined for anything else (a bug: keep the stack). */
function explainStartError(error: unknown, config: NatterConfig): Error | undefined {
  const e = error as NodeJS.ErrnoException & { port?: number; address?: string; code?: string };
  if (e?.syscall === "listen" || (e?.code && ["EADDRINUSE", "EADDRNOTAVAIL"].includes(e.code))) {
    const which = e.port === config.httpsPort ? "https" : "http";
    const [flag, env] = FLAG_OF_PORT[which];
    const example = `npm start -- --${flag} ${which === "https" ? 9443 : 9000}`;
    if (e.code === "EADDRINUSE") {
      return new CliFailure(`port ${e.port} (${which.toUpperCase()}) on ${config.host} is already in use; choose another with --${flag} <port> or ${env} (e.g. ${example}), or stop the other process`);
    }
    if (e.code === "EACCES") return new CliFailure(`not allowed to listen on port ${e.port} (${which.toUpperCase()}); choose a port above 1023 with --${flag} <port> or ${env}`);
    if (e.code === "EADDRNOTAVAIL") return new ConfigError(`--host ${config.host} is not an address of this machine (NATTER_HOST); use 127.0.0.1 or 0.0.0.0`);
  }
  // PostgreSQL (error codes of the server, or the connection failing).
  if (config.store === "postgres" && config.databaseUrl) {
    const url = safeUrl(config.databaseUrl);
    const database = decodeURIComponent(url?.pathname.slice(1) ?? "") || "postgres";
    if (e?.code === "3D000") {
      const createdb = ["createdb", url?.hostname && `-h ${url.hostname}`, url?.port && `-p ${url.port}`, url?.username && `-U ${decodeURIComponent(url.username)}`, database].filter(Boolean).join(" ");
      return new CliFailure(`the PostgreSQL database "${database}" does not exist; create it with ${createdb} (or CREATE DATABASE ${database};), then start again`);
    }
    if (e?.code === "28P01" || e?.code === "28000") return new CliFailure(`PostgreSQL refused the login (${e.message}); check the user and password in --database-url (NATTER_DATABASE_URL)`);
    const connectCodes = ["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH"];
    const dbPort = Number(url?.port || 5432);
    if (e?.code && connectCodes.includes(e.code) && (e.port === undefined || e.port === dbPort) && !config.redisUrl?.includes(`:${e.port}`)) {
      return new CliFailure(`PostgreSQL at ${url?.hostname ?? "?"}:${dbPort} is not reachable (${e.code}); check --database-url (NATTER_DATABASE_URL) and that the server runs`);
    }
  }
  if (error instanceof Error && error.message.startsWith("Redis at ")) return new CliFailure(`${error.message}; check --redis-url (NATTER_REDIS_URL) and that Redis runs`);
  // Files: the data folder, the TLS certificate and key.
  if (e?.path && e.code && ["ENOENT", "EACCES", "EPERM", "EISDIR", "ENOTDIR", "EROFS"].includes(e.code)) {
    const path = resolve(e.path);
    if (config.tlsCert && path === resolve(config.tlsCert)) return new ConfigError(`cannot read the certificate ${path} (${e.code}); check --tls-cert (NATTER_TLS_CERT)`);
    if (config.tlsKey && path === resolve(config.tlsKey)) return new ConfigError(`cannot read the private key ${path} (${e.code}); check --tls-key (NATTER_TLS_KEY)`);
    if (path === resolve(config.dataDir) || path.startsWith(resolve(config.dataDir) + sep)) {
      return new CliFailure(`cannot use ${path} in the data folder (${e.code}); choose another folder with --data <folder> (NATTER_DATA) or fix its permissions`);
    }
  }
  if (e?.code === "SQLITE_NOTADB" || e?.code === "SQLITE_CORRUPT") {
    return new CliFailure(`${resolve(config.dataDir, "natter.db")} is not a readable SQLite database (${e.code}); restore a backup with natter restore <file>, or choose another --data folder`);
  }
  if (e?.code === "SQLITE_CANTOPEN" || e?.code === "SQLITE_READONLY") {
    return new CliFailure(`cannot open ${resolve(config.dataDir, "natter.db")} for writing (${e.code}); choose another folder with --data <folder> (NATTER_DATA) or fix its permissions`);
  }
  return undefined;
}

function safeUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

async function serve(args: string[]): Promise<void> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(usage() + "\n");
    return;
  }
  const config = loadConfig(args, process.env);
  prepareDataFolder(config.dataDir);
  const pretty = config.logFormat === "pretty" || (config.logFormat === "auto" && process.stdout.isTTY === true);
  let natter: RunningNatter;
  try {
    natter = await startNatter(config, pretty && config.logLevel !== "silent" ? { logStream: prettyLogStream(process.stdout) } : { log: config.logLevel !== "silent" });
  } catch (error) {
    throw explainStartError(error, config) ?? error;
  }
  const certPath = resolve(natter.certPath);
  const lines = [
    `Natter is running (store: ${config.store}, bus: ${config.bus}, limits: ${config.limits})`,
    `  HTTPS  ${natter.httpsUrl}`,
    `  HTTP   ${natter.httpUrl}`,
    `  Web app: ${natter.httpsUrl}`,
    ...accessKeyLines(natter),
    `  Certificate: ${certPath}${natter.certGenerated ? " (self-signed, generated now)" : ""}`,
    `  Trust it in Node with: NODE_EXTRA_CA_CERTS=${certPath}`,
  ];
  if (config.metrics === "on" && config.metricsToken === undefined && !isLoopback(config.host)) {
    lines.push(`  Warning: GET /metrics is open to anyone who can reach ${config.host}; set --metrics-token or --metrics off`);
  }
  // `natter restore` refuses to replace the database while this file names a live server.
  const pidFile = join(config.dataDir, PID_FILE);
  writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o600 });
  let stopping = false;
  const exit = (code: number) => {
    try {
      unlinkSync(pidFile);
    } catch {
      // already gone
    }
    process.exit(code);
  };
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${signal}: draining requests and closing the database...\n`);
    const force = setTimeout(() => {
      process.stderr.write("shutdown took more than 10 s; exiting\n");
      exit(1);
    }, 10_000);
    force.unref();
    natter.close().then(
      () => exit(0),
      (error) => {
        process.stderr.write(`shutdown failed: ${(error as Error).message}\n`);
        exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  // The banner last: whoever waits for it (a supervisor, a test) may signal at once, and the handlers must be
  // there by then (a SIGTERM in between would kill the process without draining).
  process.stderr.write(lines.join("\n") + "\n");
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
      case "restore":
        await restore(rest);
        return;
      case "cert":
        cert(rest);
        return;
      case "key":
        key(rest);
        return;
      case "events":
        try {
          await runEventsCommand(rest, process.env, (line) => process.stdout.write(line + "\n"));
        } catch (error) {
          if (error instanceof EventsCliError) throw error.usage ? new ConfigError(error.message) : new CliFailure(error.message);
          throw error;
        }
        return;
      case "--version":
      case "-v":
      case "version":
        process.stdout.write(`natter ${version()}\n`);
        return;
      case undefined:
      case "help":
      case "--help":
      case "-h":
        process.stdout.write(usage() + "\n");
        return;
      default:
        throw new ConfigError(command.startsWith("-") ? `'${command}' comes after a command: natter serve ${command} … (natter --help lists the commands)` : `unknown command '${command}' (natter --help lists the commands)`);
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`natter: ${error.message}\n`);
      process.exit(2);
    }
    if (error instanceof CliFailure) {
      process.stderr.write(`natter: ${error.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`natter: ${(error as Error).stack ?? error}\n`);
    process.exit(1);
  }
}
