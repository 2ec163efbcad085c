// Natter's SDK in a real browser (headless Chromium), without bundler recipes: (1) bundled by esbuild with only
// platform "browser" + format "esm", (2) unbundled, the packages' dist/index.js files loaded as native ES
// modules through an import map. From inside the page: create a thread, send and list messages against a
// Natter node over HTTPS, cross-origin (the page is served from another origin, so CORS is exercised).
// Skips when Chromium is not installed (/usr/bin/chromium; .ci/run installs it).
import { after, before, test } from "node:test";
import type { TestContext } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { join, normalize, sep } from "node:path";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import type { Browser, Page } from "playwright-core";
import { startTestNatter } from "@natter/server/testing";
import type { TestNatter } from "@natter/server/testing";
import { CommunicationIdentityClient } from "@natter/communication-identity";
import { ChatClient } from "@natter/communication-chat";
import type { ChatThreadClient } from "@natter/communication-chat";
import { AzureCommunicationTokenCredential } from "@natter/communication-common";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const conformanceDir = fileURLToPath(new URL("..", import.meta.url));
const packagesDir = fileURLToPath(new URL("../../packages/", import.meta.url));

/** The browser entry: what an app would write. */
const ENTRY = `import { ChatClient, ChatThreadClient } from "@natter/communication-chat";
import { AzureCommunicationTokenCredential } from "@natter/communication-common";
window.natterSdk = { ChatClient, ChatThreadClient, AzureCommunicationTokenCredential };
`;

const UNBUNDLED_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>natter sdk, unbundled</title>
<script type="importmap">
{ "imports": {
  "@natter/communication-chat": "/packages/chat/dist/index.js",
  "@natter/communication-common": "/packages/common/dist/index.js"
} }
</script>
<script type="module">${ENTRY}</script>
</head><body></body></html>`;

const BUNDLED_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>natter sdk, bundled</title>
<script type="module" src="/bundle.js"></script>
</head><body></body></html>`;

interface BrowserSdk {
  ChatClient: typeof ChatClient;
  ChatThreadClient: typeof ChatThreadClient;
  AzureCommunicationTokenCredential: typeof AzureCommunicationTokenCredential;
}

interface ScenarioArgs {
  endpoint: string;
  token: string;
  otherUserId: string;
  label: string;
}

interface ScenarioResult {
  origin: string;
  threadId: string;
  isThreadClient: boolean;
  sentIds: string[];
  messages: { id: string; type: string; message?: string; senderDisplayName?: string; createdOnIsDate: boolean }[];
  topicFromProperties: string;
}

/** Runs inside the page (serialized by Playwright): only browser globals and window.natterSdk. */
async function scenario({ endpoint, token, otherUserId, label }: ScenarioArgs): Promise<ScenarioResult> {
  const sdk = (window as unknown as { natterSdk: BrowserSdk }).natterSdk;
  const chatClient = new sdk.ChatClient(endpoint, new sdk.AzureCommunicationTokenCredential(token));
  const created = await chatClient.createChatThread(
    { topic: `from the browser (${label})` },
    { participants: [{ id: { communicationUserId: otherUserId }, displayName: "Node" }] },
  );
  const threadId = created.chatThread!.id;
  const threadClient = chatClient.getChatThreadClient(threadId);
  const first = await threadClient.sendMessage({ content: `hello from Chromium (${label})` }, { senderDisplayName: "Browser", type: "text" });
  const second = await threadClient.sendMessage({ content: "<b>html</b>" }, { senderDisplayName: "Browser", type: "html" });
  const messages: ScenarioResult["messages"] = [];
  for await (const m of threadClient.listMessages({ maxPageSize: 2 })) {
    messages.push({
      id: m.id,
      type: m.type,
      message: m.content?.message,
      senderDisplayName: m.senderDisplayName,
      createdOnIsDate: m.createdOn instanceof Date,
    });
  }
  const properties = await threadClient.getProperties();
  return {
    origin: location.origin,
    threadId,
    isThreadClient: threadClient instanceof sdk.ChatThreadClient,
    sentIds: [first.id, second.id],
    messages,
    topicFromProperties: properties.topic,
  };
}

const skip = existsSync(CHROMIUM) ? false : `Chromium is not installed (${CHROMIUM}); .ci/run installs it with apt`;

let natter: TestNatter;
let browser: Browser;
let staticServer: Server;
let staticOrigin: string;
let bundle: string;
let browserUser: { id: string; token: string };
let nodeUser: { id: string; token: string };

before(async () => {
  if (skip) return;
  const bundled = await build({
    stdin: { contents: ENTRY, resolveDir: conformanceDir, sourcefile: "browser-entry.js", loader: "js" },
    bundle: true,
    platform: "browser",
    format: "esm",
    write: false,
    logLevel: "silent",
  });
  assert.deepEqual(bundled.warnings, [], "esbuild bundles the SDK for the browser without warnings");
  bundle = bundled.outputFiles[0].text;

  natter = await startTestNatter();
  const identity = new CommunicationIdentityClient(natter.connectionString);
  const a = await identity.createUserAndToken(["chat"]);
  const b = await identity.createUserAndToken(["chat"]);
  browserUser = { id: a.user.communicationUserId, token: a.token };
  nodeUser = { id: b.user.communicationUserId, token: b.token };

  staticServer = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const send = (status: number, type: string, body: string | Buffer) => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      res.end(body);
    };
    if (path === "/favicon.ico") return send(204, "image/x-icon", "");
    if (path === "/bundled.html") return send(200, "text/html; charset=utf-8", BUNDLED_HTML);
    if (path === "/unbundled.html") return send(200, "text/html; charset=utf-8", UNBUNDLED_HTML);
    if (path === "/bundle.js") return send(200, "text/javascript; charset=utf-8", bundle);
    const match = /^\/packages\/(chat|common|identity)\/dist\/(.+\.js)$/.exec(path);
    if (match) {
      const file = normalize(join(packagesDir, match[1], "dist", match[2]));
      if (file.startsWith(join(packagesDir, match[1], "dist") + sep) && existsSync(file)) {
        return send(200, "text/javascript; charset=utf-8", readFileSync(file));
      }
    }
    send(404, "text/plain", "not found");
  });
  await new Promise<void>((resolve) => staticServer.listen(0, "127.0.0.1", resolve));
  staticOrigin = `http://127.0.0.1:${(staticServer.address() as AddressInfo).port}`;

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (staticServer ? staticServer.close(() => resolve()) : resolve()));
  await natter?.stop();
});

async function runInPage(t: TestContext, pagePath: string, label: string): Promise<void> {
  // The test certificate is self-signed; Node trusts it through NODE_EXTRA_CA_CERTS, the browser by this flag.
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  try {
    const page: Page = await context.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") pageErrors.push(`${message.text()} (${message.location().url})`);
    });
    const corsHeaders: (string | undefined)[] = [];
    page.on("response", (response) => {
      if (response.url().startsWith(natter.endpoint)) corsHeaders.push(response.headers()["access-control-allow-origin"]);
    });
    const loadedScripts: string[] = [];
    page.on("request", (request) => {
      if (request.resourceType() === "script") loadedScripts.push(new URL(request.url()).pathname);
    });

    await page.goto(`${staticOrigin}${pagePath}`);
    await page.waitForFunction(() => "natterSdk" in window, undefined, { timeout: 10_000 });
    const result = await page.evaluate(scenario, {
      endpoint: natter.endpoint,
      token: browserUser.token,
      otherUserId: nodeUser.id,
      label,
    });
    t.diagnostic(`${label}: scripts loaded: ${loadedScripts.join(", ")}`);

    assert.deepEqual(pageErrors, [], "no page errors");
    // Cross-origin: the page's origin is not the service's, and the service answered with CORS headers.
    assert.equal(result.origin, staticOrigin);
    assert.notEqual(new URL(natter.endpoint).origin, staticOrigin);
    assert.ok(corsHeaders.length >= 4, `saw the API responses (${corsHeaders.length})`);
    assert.ok(corsHeaders.every((h) => h === staticOrigin || h === "*"), `CORS allow-origin on every response: ${corsHeaders.join(", ")}`);

    assert.equal(result.isThreadClient, true);
    assert.equal(result.topicFromProperties, `from the browser (${label})`);
    const [firstId, secondId] = result.sentIds;
    const first = result.messages.find((m) => m.id === firstId);
    const second = result.messages.find((m) => m.id === secondId);
    assert.deepEqual(first, { id: firstId, type: "text", message: `hello from Chromium (${label})`, senderDisplayName: "Browser", createdOnIsDate: true });
    assert.deepEqual(second, { id: secondId, type: "html", message: "<b>html</b>", senderDisplayName: "Browser", createdOnIsDate: true });
    assert.ok(result.messages.every((m) => m.createdOnIsDate));
    // Newest first, as the service lists them.
    assert.ok(result.messages.findIndex((m) => m.id === secondId) < result.messages.findIndex((m) => m.id === firstId));

    // The other participant sees the browser's messages from Node.
    const nodeClient = new ChatClient(natter.endpoint, new AzureCommunicationTokenCredential(nodeUser.token));
    const seen: string[] = [];
    for await (const m of nodeClient.getChatThreadClient(result.threadId).listMessages()) {
      if (m.type === "text" || m.type === "html") seen.push(m.content?.message ?? "");
    }
    assert.deepEqual(seen, ["<b>html</b>", `hello from Chromium (${label})`]);
  } finally {
    await context.close();
  }
}

test("the SDK bundled by esbuild (platform browser, format esm, nothing else) works in Chromium", { skip }, async (t) => {
  assert.doesNotMatch(bundle, /from\s*["']node:/, "no Node built-ins in the bundle");
  t.diagnostic(`bundle: ${(bundle.length / 1024).toFixed(1)} KB unminified`);
  await runInPage(t, "/bundled.html", "bundled");
});

test("the SDK's unbundled ESM (dist/index.js through an import map) works in Chromium", { skip }, async (t) => {
  await runInPage(t, "/unbundled.html", "unbundled");
});
