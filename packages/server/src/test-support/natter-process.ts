// Test helpers for `natter serve` as a real child process: start it, sign identity calls, make users.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const NATTER_BIN = fileURLToPath(new URL("../../bin/natter.js", import.meta.url));

export interface NatterProcess {
  child: ChildProcess;
  httpUrl: string;
  httpsUrl: string;
  connectionString: string;
  accessKey: string;
  output: () => string;
  exited: Promise<number | null>;
}

/** The value of `--flag` in `args`, if any. */
function flagValue(args: string[], flag: string): string | undefined {
  const i = args.indexOf(`--${flag}`);
  return i >= 0 ? args[i + 1] : undefined;
}

/**
 * Spawns `natter serve <args>` and resolves once it printed its banner. The access key is printed only when
 * generated now; otherwise it is taken from --access-key / NATTER_ACCESS_KEY or the data folder's file.
 */
export async function spawnNatter(args: string[], env: Record<string, string> = {}, options: { cwd?: string } = {}): Promise<NatterProcess> {
  const child = spawn(process.execPath, [NATTER_BIN, "serve", ...args], { cwd: options.cwd, env: { ...process.env, NATTER_LOG_LEVEL: "silent", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const deadline = Date.now() + 30_000;
  while (!/Trust it in Node with: \S+\n/.test(out)) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`natter exited early: ${out}`);
    if (Date.now() > deadline) throw new Error(`natter did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const httpsUrl = /HTTPS\s+(\S+)/.exec(out)![1];
  const printed = /Connection string: (\S+)/.exec(out)?.[1];
  const mergedEnv = { ...process.env, ...env };
  const accessKey = printed
    ? /accesskey=(\S+)/.exec(printed)![1]
    : flagValue(args, "access-key") ?? mergedEnv.NATTER_ACCESS_KEY ?? readFileSync(resolve(options.cwd ?? ".", flagValue(args, "data") ?? mergedEnv.NATTER_DATA ?? "./natter-data", "access-key"), "utf8").trim();
  return {
    child,
    httpUrl: /HTTP\s+(\S+)/.exec(out)![1],
    httpsUrl,
    connectionString: printed ?? `endpoint=${httpsUrl};accesskey=${accessKey}`,
    accessKey,
    output: () => out,
    exited,
  };
}

/** Signs an identity request the way @azure/communication-common does (contract §3.2). */
export function signedHeaders(url: URL, method: string, body: string, accessKey: string): Record<string, string> {
  const date = new Date().toUTCString();
  const hash = createHash("sha256").update(body).digest("base64");
  const toSign = `${method}\n${url.pathname}${url.search}\n${date};${url.host};${hash}`;
  const sig = createHmac("sha256", Buffer.from(accessKey, "base64")).update(toSign).digest("base64");
  return {
    "x-ms-date": date, "x-ms-content-sha256": hash, "content-type": "application/json",
    authorization: `HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=${sig}`,
  };
}

/** Creates a user with a chat token through the real Identity API of a running node. */
export async function createUserOverHttp(baseUrl: string, accessKey: string): Promise<{ id: string; token: string }> {
  const url = new URL("/identities?api-version=2023-10-01", baseUrl);
  const body = JSON.stringify({ createTokenWithScopes: ["chat"] });
  const res = await fetch(url, { method: "POST", headers: signedHeaders(url, "POST", body, accessKey), body });
  if (res.status !== 201) throw new Error(`createUser: ${res.status} ${await res.text()}`);
  const json = (await res.json()) as { identity: { id: string }; accessToken: { token: string } };
  return { id: json.identity.id, token: json.accessToken.token };
}
