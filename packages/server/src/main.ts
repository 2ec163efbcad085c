// Process entry of the `natter` CLI: config → compose → listen → graceful shutdown on SIGTERM/SIGINT.
import { ConfigError, loadConfig, usage } from "./config.js";
import { startNatter } from "./compose.js";

async function serve(args: string[]): Promise<void> {
  const config = loadConfig(args, process.env);
  const natter = await startNatter(config, { log: config.logLevel !== "silent" });
  const lines = [
    `Natter is running (store: ${config.store}, bus: ${config.bus}, limits: ${config.limits})`,
    `  HTTPS  ${natter.httpsUrl}`,
    `  HTTP   ${natter.httpUrl}`,
    `  Connection string: ${natter.connectionString}`,
    `  Certificate: ${natter.certPath}${natter.certGenerated ? " (self-signed, generated now)" : ""}`,
    `  Trust it in Node with: NODE_EXTRA_CA_CERTS=${natter.certPath}`,
  ];
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
