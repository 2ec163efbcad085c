// Azure's UI library, unchanged, as a second browser client next to our web app: two users, each running
// @azure/communication-react's ChatComposite (bundled by esbuild, in headless Chromium, served from another
// loopback origin) against a Natter node over HTTPS, chat live both ways, see each other typing, and see their
// messages read. The browser's console stays clean: no failed request (requestfailed), no console error, no page
// error, from the first config fetch to the registrar DELETE when the adapter is disposed.
//
// The registrar used to answer 202 with an empty body; the signaling client never reads a 2xx registrar body, and
// Chromium ends such a fetch with net::ERR_ABORTED, so every composite showed a failed POST /registrar/v3/registrations.
// Skips when Chromium is not installed (/usr/bin/chromium; .ci/run installs it).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import type { Browser, BrowserContext, Page, Request } from "playwright-core";
import { CommunicationIdentityClient } from "@azure/communication-identity";
import { ChatClient } from "@azure/communication-chat";
import { AzureCommunicationTokenCredential } from "@azure/communication-common";
import { startTestNatter } from "@natter/server/testing";
import type { TestNatter } from "@natter/server/testing";

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
/** Every wait in the scenario; the whole test stays well under a minute when things work. */
const STEP_MS = 20_000;

/**
 * What an app using the UI library writes: a stateful chat client started by the app, the composite's adapter
 * built from it (the documented "from client" pattern, so the app can stop realtime notifications when it is done:
 * the adapter's dispose() does not), and the composite. Exposed to the test as startComposite / stopComposite.
 */
const ENTRY = `import { createElement } from "react";
import { createRoot } from "react-dom/client";
import { ChatComposite, createAzureCommunicationChatAdapterFromClient, createStatefulChatClient } from "@azure/communication-react";
import { AzureCommunicationTokenCredential } from "@azure/communication-common";
let chatClient, adapter, root;
window.startComposite = async ({ endpoint, userId, token, displayName, threadId }) => {
  chatClient = createStatefulChatClient({
    userId: { communicationUserId: userId },
    displayName,
    endpoint,
    credential: new AzureCommunicationTokenCredential(token),
  });
  await chatClient.startRealtimeNotifications();
  adapter = await createAzureCommunicationChatAdapterFromClient(chatClient, chatClient.getChatThreadClient(threadId));
  root = createRoot(document.getElementById("root"));
  root.render(createElement(ChatComposite, { adapter }));
};
window.stopComposite = async () => {
  root.unmount();
  adapter.dispose();
  await chatClient.stopRealtimeNotifications();
};
`;

// FabricConfig.fontBaseUrl "" is Fluent UI's switch for apps that serve their own fonts: without it, Fluent adds
// @font-face rules for Segoe UI on Microsoft's CDN, which a test on loopback only cannot reach.
const PAGE_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ChatComposite on Natter</title><link rel="icon" href="data:,">
<script>window.FabricConfig = { fontBaseUrl: "" };</script></head>
<body style="margin:0"><div id="root" style="height:100vh"></div><script src="/composite.js"></script></body></html>`;

const skip = existsSync(CHROMIUM) ? false : `Chromium is not installed (${CHROMIUM}); .ci/run installs it with apt`;

let natter: TestNatter;
let browser: Browser;
let staticServer: Server;
let pageOrigin: string;
let bundle: string;

before(async () => {
  if (skip) return;
  // Built once per run (about 1.5 MB minified, a few seconds).
  const bundled = await build({
    stdin: { contents: ENTRY, resolveDir: conformanceDir, sourcefile: "ui-library-entry.js", loader: "js" },
    bundle: true,
    platform: "browser",
    format: "iife",
    minify: true,
    define: { "process.env.NODE_ENV": '"production"' },
    write: false,
    logLevel: "silent",
  });
  bundle = bundled.outputFiles[0].text;

  staticServer = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      res.end(body);
    };
    if (path === "/chat.html") return send(200, "text/html; charset=utf-8", PAGE_HTML);
    if (path === "/composite.js") return send(200, "text/javascript; charset=utf-8", bundle);
    send(404, "text/plain", "not found");
  });
  await new Promise<void>((resolve) => staticServer.listen(0, "127.0.0.1", resolve));
  pageOrigin = `http://127.0.0.1:${(staticServer.address() as AddressInfo).port}`;

  natter = await startTestNatter();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (staticServer ? staticServer.close(() => resolve()) : resolve()));
  await natter?.stop();
});

/** One user's browser: the page and everything that went wrong in it. */
interface Client {
  name: string;
  context: BrowserContext;
  page: Page;
  failedRequests: string[];
  consoleErrors: string[];
  /** Every request to the Natter node that ended, as "METHOD /path finished|failed <error>". */
  settled: string[];
}

const describeRequest = (request: Request) => `${request.method()} ${new URL(request.url()).pathname}`;

async function openClient(name: string): Promise<Client> {
  // The test certificate is self-signed; Node trusts it through NODE_EXTRA_CA_CERTS, the browser by this flag.
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 900, height: 700 } });
  const page = await context.newPage();
  const client: Client = { name, context, page, failedRequests: [], consoleErrors: [], settled: [] };
  page.on("requestfailed", (request) => {
    client.failedRequests.push(`${describeRequest(request)}: ${request.failure()?.errorText ?? "failed"}`);
    if (request.url().startsWith(natter.endpoint)) client.settled.push(`${describeRequest(request)} failed ${request.failure()?.errorText ?? ""}`);
  });
  page.on("requestfinished", (request) => {
    if (request.url().startsWith(natter.endpoint)) client.settled.push(`${describeRequest(request)} finished`);
  });
  page.on("console", (message) => {
    if (message.type() === "error") client.consoleErrors.push(`${message.text()} (${message.location().url})`);
  });
  page.on("pageerror", (error) => client.consoleErrors.push(`page error: ${error.message}`));
  await page.goto(`${pageOrigin}/chat.html`);
  return client;
}

/** Waits until a request to the Natter node matching `method` and `path` has ended (finished or failed). */
async function settledRequest(client: Client, method: string, path: RegExp): Promise<string> {
  const deadline = Date.now() + STEP_MS;
  const find = () => client.settled.find((s) => s.startsWith(`${method} `) && path.test(s.split(" ")[1]));
  for (;;) {
    const found = find();
    if (found) return found;
    if (Date.now() > deadline) assert.fail(`${client.name}: no ${method} ${path} ended within ${STEP_MS} ms; saw ${client.settled.join(" | ")}`);
    await client.page.waitForTimeout(50);
  }
}

test("Azure's ChatComposite (two users) chats live both ways on Natter with typing and read receipts, and a clean console", { skip, timeout: 90_000 }, async (t) => {
  const identity = new CommunicationIdentityClient(natter.connectionString);
  const [ann, bob] = [await identity.createUserAndToken(["chat"]), await identity.createUserAndToken(["chat"])];
  const annChat = new ChatClient(natter.endpoint, new AzureCommunicationTokenCredential(ann.token));
  const created = await annChat.createChatThread(
    { topic: "UI library on Natter" },
    {
      participants: [
        { id: ann.user, displayName: "Ann" },
        { id: bob.user, displayName: "Bob" },
      ],
    },
  );
  const threadId = created.chatThread!.id;

  const clients: Client[] = [];
  try {
    for (const [name, user] of [["Ann", ann], ["Bob", bob]] as const) {
      const client = await openClient(name);
      clients.push(client);
      await client.page.evaluate(
        (args) => (window as unknown as { startComposite(a: typeof args): Promise<void> }).startComposite(args),
        { endpoint: natter.endpoint, userId: user.user.communicationUserId, token: user.token, displayName: name, threadId },
      );
    }
    const [annPage, bobPage] = clients;

    // Both composites are up: the send box is there and the signaling client's registrar POST has ended.
    const registrar: string[] = [];
    for (const client of clients) {
      await client.page.getByPlaceholder("Enter a message").waitFor({ timeout: STEP_MS });
      registrar.push(`${client.name}: ${await settledRequest(client, "POST", /^\/registrar\/v3\/registrations$/)}`);
    }

    const converse = async (from: Client, to: Client, text: string) => {
      const box = from.page.getByPlaceholder("Enter a message");
      await box.click();
      await box.pressSequentially(text);
      // Typing (event 245): the other side names the typist, from the participant list.
      await to.page.getByText(`${from.name} is typing`).waitFor({ timeout: STEP_MS });
      await box.press("Enter");
      // The message (event 200) appears live on the other side.
      await to.page.getByText(text, { exact: true }).waitFor({ timeout: STEP_MS });
      // The other side's composite marks it read; the read receipt (event 246) shows on the sender's message.
      await from.page.getByLabel("Message seen by others").first().waitFor({ timeout: STEP_MS });
    };
    await converse(annPage, bobPage, "hello Bob, from Azure's UI library");
    await converse(bobPage, annPage, "hi Ann, live on Natter");

    // The app closes the chat: stopping realtime notifications makes the signaling client unregister (DELETE).
    for (const client of clients) {
      await client.page.evaluate(() => (window as unknown as { stopComposite(): Promise<void> }).stopComposite());
      registrar.push(`${client.name}: ${await settledRequest(client, "DELETE", /^\/registrar\/v3\/registrations\/[^/]+$/)}`);
    }

    for (const client of clients) {
      t.diagnostic(`${client.name}: ${client.settled.length} requests to Natter ended`);
      assert.deepEqual(client.failedRequests, [], `${client.name}: no failed requests`);
      assert.deepEqual(client.consoleErrors, [], `${client.name}: no console errors`);
    }
    // The registrar calls in particular (they used to end in net::ERR_ABORTED).
    assert.deepEqual(
      registrar.map((r) => r.replace(/\/registrations\/[^ ]+/, "/registrations/<id>")),
      [
        "Ann: POST /registrar/v3/registrations finished",
        "Bob: POST /registrar/v3/registrations finished",
        "Ann: DELETE /registrar/v3/registrations/<id> finished",
        "Bob: DELETE /registrar/v3/registrations/<id> finished",
      ],
    );

    // What the browsers showed is what the service stored.
    const stored: string[] = [];
    for await (const m of annChat.getChatThreadClient(threadId).listMessages()) if (m.type === "text") stored.push(m.content?.message ?? "");
    assert.deepEqual(stored, ["hi Ann, live on Natter", "hello Bob, from Azure's UI library"]);
  } finally {
    for (const client of clients) await client.context.close();
  }
});
