// Natter's SDK as a user outside this repository gets it: `npm run pack:sdk` (scripts/pack-sdk.mjs) packs
// @natter/wire, -common, -identity and -chat into tarballs; they are installed into an empty project in the
// temp folder with `npm install --offline`, an empty npm cache and an unreachable registry, so anything the
// packages need beyond themselves makes the install fail. Then the README's "Natter's SDK" snippet shape runs
// there as a child `node` process that can only see that project's node_modules (create users with the
// connection string, create a thread, realtime on, send, list), against a real Natter node started here;
// and a TypeScript consumer type-checks against the installed declarations (exports' "types", @natter/wire).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { startTestNatter } from "@natter/server/testing";
import type { TestNatter } from "@natter/server/testing";

const root = fileURLToPath(new URL("../../", import.meta.url));
const SDK = ["@natter/wire", "@natter/communication-common", "@natter/communication-identity", "@natter/communication-chat"];

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}
/** Runs a command without blocking this process (the Natter node under test lives in it). */
function run(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(command, args, { ...options, encoding: "utf8", maxBuffer: 16 * 1024 * 1024, timeout: 90_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      resolve({ code, stdout, stderr: stderr + (error && typeof error.code !== "number" ? `\n${error.message}` : "") });
    });
  });
}
const explain = (what: string, r: Ran) => `${what} exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

/** The environment of a stranger's shell: no npm_* from a surrounding `npm test`, no NODE_PATH/NODE_OPTIONS. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || ["NODE_PATH", "NODE_OPTIONS", "NODE_TEST_CONTEXT", "NODE_EXTRA_CA_CERTS"].includes(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

let work: string;
let project: string;
let npmEnv: NodeJS.ProcessEnv;
let skip: string | undefined;
let natter: TestNatter | undefined;

before(async () => {
  work = mkdtempSync(join(tmpdir(), "natter-packed-sdk-"));
  project = join(work, "project");
  const userconfig = join(work, "npmrc");
  writeFileSync(userconfig, "");
  npmEnv = cleanEnv({
    npm_config_userconfig: userconfig, // not the machine's .npmrc (mirrors, tokens)
    npm_config_cache: join(work, "npm-cache"), // empty: nothing can come from an earlier download
    npm_config_registry: "http://127.0.0.1:9/", // nothing listens there: no registry
    npm_config_offline: "true",
    npm_config_audit: "false",
    npm_config_fund: "false",
    npm_config_update_notifier: "false",
  });
  const npm = await run("npm", ["--version"], { cwd: work, env: npmEnv });
  if (npm.code !== 0) skip = `npm is not available on PATH (${npm.stderr.trim()})`;
});

after(async () => {
  await natter?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test("the SDK packs into tarballs that install offline into an empty project and run the README snippet there", async (t) => {
  if (skip) {
    t.diagnostic(`skipped: ${skip}`);
    t.skip(skip);
    return;
  }
  // ---- npm run pack:sdk (dist/ is already built by the test command) ----
  const out = join(work, "dist-packages");
  const packed = await run(process.execPath, [join(root, "scripts/pack-sdk.mjs"), "--no-build", "--out", out], { cwd: root, env: cleanEnv({}) });
  assert.equal(packed.code, 0, explain("pack-sdk", packed));
  const tarballs = readdirSync(out).filter((f) => f.endsWith(".tgz")).map((f) => join(out, f));
  assert.deepEqual(
    tarballs.map((f) => f.slice(out.length + 1)).sort(),
    ["natter-communication-chat-0.1.0.tgz", "natter-communication-common-0.1.0.tgz", "natter-communication-identity-0.1.0.tgz", "natter-wire-0.1.0.tgz"],
  );

  // Node 20 has no global WebSocket: realtime needs the optional peer `ws`, which the docs tell users to
  // install. Take it from this repository's node_modules (packed to a tarball), not from a registry.
  const extra: string[] = [];
  if (typeof (globalThis as { WebSocket?: unknown }).WebSocket !== "function") {
    const wsDir = dirname(createRequire(join(root, "packages/server/package.json")).resolve("ws/package.json"));
    const wsPacked = await run("npm", ["pack", wsDir, "--pack-destination", work, "--ignore-scripts", "--json"], { cwd: work, env: npmEnv });
    assert.equal(wsPacked.code, 0, explain("npm pack ws", wsPacked));
    extra.push(join(work, (JSON.parse(wsPacked.stdout) as { filename: string }[])[0].filename));
  }

  // ---- an empty project: npm install <the tarballs>, offline ----
  rmSync(project, { recursive: true, force: true });
  mkdirSync(project);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "my-chat-app", version: "1.0.0", private: true, type: "module" }, null, 2));
  const installed = await run("npm", ["install", "--offline", "--ignore-scripts", ...tarballs, ...extra], { cwd: project, env: npmEnv });
  assert.equal(installed.code, 0, explain("npm install --offline (a package needs something beyond the SDK tarballs?)", installed));

  // Only the SDK's own packages (and ws when added above) are installed: no runtime dependency outside them.
  const topLevel = readdirSync(join(project, "node_modules")).filter((n) => !n.startsWith("."));
  const names = topLevel.flatMap((n) => (n.startsWith("@") ? readdirSync(join(project, "node_modules", n)).map((m) => `${n}/${m}`) : [n]));
  assert.deepEqual(names.sort(), [...SDK, ...(extra.length ? ["ws"] : [])].sort());
  // No tests or test helpers were published.
  const walk = (dir: string): string[] => readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)]));
  const testFiles = SDK.flatMap((p) => walk(join(project, "node_modules", p))).filter((f) => /\.test\.|test-support\./.test(f));
  assert.deepEqual(testFiles, []);
  for (const p of SDK) {
    const pkg = JSON.parse(readFileSync(join(project, "node_modules", p, "package.json"), "utf8")) as Record<string, unknown>;
    assert.equal(pkg.version, "0.1.0", p);
    for (const dep of Object.keys((pkg.dependencies ?? {}) as Record<string, string>)) assert.ok(SDK.includes(dep), `${p} depends on ${dep}`);
  }

  // ---- the README's "Natter's SDK" snippet shape, run with plain node inside that project ----
  natter = await startTestNatter();
  writeFileSync(
    join(project, "app.mjs"),
    `import { CommunicationIdentityClient } from "@natter/communication-identity";
import { ChatClient } from "@natter/communication-chat";
import { AzureCommunicationTokenCredential } from "@natter/communication-common";

const connectionString = process.env.NATTER_CONNECTION_STRING;
const endpoint = connectionString.match(/endpoint=([^;]+)/)[1];
const identity = new CommunicationIdentityClient(connectionString);
const alice = await identity.createUserAndToken(["chat"]);
const bob = await identity.createUser();

const chat = new ChatClient(endpoint, new AzureCommunicationTokenCredential(alice.token));
await chat.startRealtimeNotifications();
const received = new Promise((resolve) => chat.on("chatMessageReceived", resolve));
const { chatThread } = await chat.createChatThread({ topic: "Hello" }, { participants: [{ id: bob, displayName: "Bob" }] });
const thread = chat.getChatThreadClient(chatThread.id);
await thread.sendMessage({ content: "Hi Bob" }, { senderDisplayName: "Alice" });
const listed = [];
for await (const message of thread.listMessages()) listed.push({ type: message.type, content: message.content?.message, sender: message.senderDisplayName });
const event = await received;
await chat.stopRealtimeNotifications();
console.log(JSON.stringify({
  resolved: ["@natter/communication-chat", "@natter/communication-common", "@natter/communication-identity"].map((p) => import.meta.resolve(p)),
  threadId: chatThread.id,
  listed,
  event: { threadId: event.threadId, message: event.message, senderDisplayName: event.senderDisplayName },
}));
`,
  );
  const app = await run(process.execPath, ["app.mjs"], {
    cwd: project,
    env: cleanEnv({ NATTER_CONNECTION_STRING: natter.connectionString, NODE_EXTRA_CA_CERTS: natter.certPath }),
  });
  assert.equal(app.code, 0, explain("node app.mjs", app));
  const result = JSON.parse(app.stdout.trim().split("\n").at(-1)!) as {
    resolved: string[];
    threadId: string;
    listed: { type: string; content?: string; sender?: string }[];
    event: { threadId: string; message: string; senderDisplayName: string };
  };
  const modules = pathToFileURL(join(project, "node_modules")).href + "/";
  for (const url of result.resolved) assert.ok(url.startsWith(modules), `${url} is not from the installed project`);
  assert.deepEqual(
    result.listed.filter((m) => m.type === "text"),
    [{ type: "text", content: "Hi Bob", sender: "Alice" }],
  );
  assert.ok(result.listed.some((m) => m.type === "topicUpdated"), JSON.stringify(result.listed));
  assert.deepEqual(result.event, { threadId: result.threadId, message: "Hi Bob", senderDisplayName: "Alice" });

  // ---- a TypeScript consumer type-checks against the installed declarations (skipLibCheck off) ----
  writeFileSync(
    join(project, "app.ts"),
    `import { ChatClient } from "@natter/communication-chat";
import type { ChatMessage, ChatMessageReceivedEvent } from "@natter/communication-chat";
import { AzureCommunicationTokenCredential } from "@natter/communication-common";
import type { CommunicationUserIdentifier } from "@natter/communication-common";
import { CommunicationIdentityClient } from "@natter/communication-identity";

const identity = new CommunicationIdentityClient("endpoint=https://localhost:8443/;accesskey=a2V5");
const alice = await identity.createUserAndToken(["chat"]);
const bob: CommunicationUserIdentifier = await identity.createUser();
const chat = new ChatClient("https://localhost:8443/", new AzureCommunicationTokenCredential(alice.token));
chat.on("chatMessageReceived", (e: ChatMessageReceivedEvent) => console.log(e.message));
const { chatThread } = await chat.createChatThread({ topic: "Hello" }, { participants: [{ id: bob, displayName: "Bob" }] });
const thread = chat.getChatThreadClient(chatThread!.id);
for await (const message of thread.listMessages()) {
  const m: ChatMessage = message;
  const when: Date = m.createdOn;
  console.log(when.toISOString(), m.content?.message);
}
// @ts-expect-error: the declarations are really checked (a wrong argument type is an error)
await thread.sendMessage({ content: 42 });
`,
  );
  writeFileSync(
    join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true, skipLibCheck: false,
        lib: ["ES2023", "DOM"], types: [],
      },
      files: ["app.ts"],
    }),
  );
  const tsc = createRequire(join(root, "package.json")).resolve("typescript/bin/tsc");
  const typed = await run(process.execPath, [tsc, "-p", project], { cwd: project, env: cleanEnv({}) });
  assert.equal(typed.code, 0, explain("tsc -p (consumer project)", typed));
});
