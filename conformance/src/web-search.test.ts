// The web app's message search (search-panel.tsx, jump-to-message.ts) in headless Chromium with two users: Bob's
// message, far from the newest page of a long conversation, is found by Alice's search box, and opening the hit
// shows the conversation at that message, scrolled into view and highlighted. Waits for elements, never for
// fixed times; screenshots go to test-results/ (with NATTER_UPDATE_SCREENSHOTS=1 also docs/images/web-search.png).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import type { Browser, Page } from "playwright-core";
import { startTestNatter } from "@natter/server/testing";
import type { TestNatter } from "@natter/server/testing";
import { ChatClient } from "@natter/communication-chat";
import { AzureCommunicationTokenCredential } from "@natter/communication-common";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const webDist = `${repoRoot}packages/web/dist/index.html`;
const shots = `${repoRoot}test-results/web-search/`;

const skip = !existsSync(CHROMIUM)
  ? `Chromium is not installed (${CHROMIUM}); .ci/run installs it with apt`
  : !existsSync(webDist)
    ? "the web app is not built (npm run build -w @natter/web)"
    : false;

let natter: TestNatter;
let browser: Browser;

before(async () => {
  if (skip) return;
  mkdirSync(shots, { recursive: true });
  natter = await startTestNatter();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  await natter?.stop();
});

async function open(name: string): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 }, locale: "en-US", reducedMotion: "reduce" });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`${message.text()} (${message.location().url})`);
  });
  await page.goto(natter.httpsUrl);
  await page.getByLabel("Display name").fill(name);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "New conversation" }).waitFor();
  return { page, errors };
}

test("the web app: search finds the other user's message and opens the conversation at it, highlighted", { skip, timeout: 90_000 }, async () => {
  const alice = await open("Alice");
  const bob = await open("Bob");
  const a = alice.page;

  // Alice starts a conversation with Bob.
  await a.getByRole("button", { name: "New conversation" }).click();
  const dialog = a.getByRole("dialog", { name: "New conversation" });
  await dialog.getByLabel("Topic").fill("Zoo trip");
  await dialog.getByRole("checkbox", { name: "Bob" }).check();
  await dialog.getByRole("button", { name: "Create" }).click();
  await a.getByRole("heading", { name: "Zoo trip" }).waitFor();
  const threadId = decodeURIComponent(new URL(a.url()).hash.replace(/^#thread=/, ""));

  // Bob writes a long conversation (through the SDK with his web session's token): the hit is 40 messages
  // before the newest, beyond the page the app loads first.
  const bobSession = JSON.parse((await bob.page.evaluate(() => localStorage.getItem("natter.session"))) ?? "null") as { token: string };
  const bobThread = new ChatClient(natter.endpoint, new AzureCommunicationTokenCredential(bobSession.token)).getChatThreadClient(threadId);
  for (let i = 0; i < 10; i++) await bobThread.sendMessage({ content: `early note ${i}` }, { senderDisplayName: "Bob" });
  const { id: hitId } = await bobThread.sendMessage({ content: "Did you see the sleepy ocelot near the gate?" }, { senderDisplayName: "Bob" });
  for (let i = 0; i < 40; i++) await bobThread.sendMessage({ content: `later note ${i}` }, { senderDisplayName: "Bob" });
  // A fresh load (the live events had shown every message as it came): only the newest page is shown.
  await a.reload();
  await a.locator(".message-list .message", { hasText: "later note 39" }).waitFor();
  assert.equal(await a.locator(`.message-list [data-message-id="${hitId}"]`).count(), 0, "the hit is not on the first page");

  // Alice searches.
  const box = a.getByRole("searchbox", { name: "Search messages" });
  await box.fill("ocelot");
  await box.press("Enter");
  const results = a.getByRole("region", { name: "Search results for ocelot" });
  await results.getByRole("status").filter({ hasText: "1 message matches" }).waitFor();
  const hit = results.getByRole("button", { name: /sleepy ocelot/ });
  await hit.waitFor();
  assert.equal(await hit.locator("mark").textContent(), "ocelot");
  assert.match((await hit.textContent()) ?? "", /Zoo trip/);
  assert.match((await hit.textContent()) ?? "", /Bob/);
  await a.screenshot({ path: `${shots}search-results.png` });

  // Opening it shows the conversation at the message, in view and highlighted.
  await hit.click();
  const message = a.locator(`.message-list [data-message-id="${hitId}"]`);
  await message.waitFor();
  await a.locator(`.message-list .message.jump-highlight[data-message-id="${hitId}"]`).waitFor();
  assert.equal(await message.getAttribute("aria-current"), "true");
  assert.ok(await message.isVisible());
  const inView = await message.evaluate((el) => {
    const box = el.getBoundingClientRect();
    const log = el.closest(".messages")!.getBoundingClientRect();
    return box.top >= log.top && box.bottom <= log.bottom;
  });
  assert.ok(inView, "the message is scrolled into the message list's view");
  // Its neighbours came with it, and the gap up to the newest page is filled.
  await a.locator(".message-list .message", { hasText: "early note 9" }).waitFor();
  await a.locator(".message-list .message", { hasText: "later note 0" }).waitFor();
  await a.locator(".message-list .message", { hasText: "later note 20" }).waitFor();
  await a.screenshot({ path: `${shots}opened-at-hit.png` });
  if (process.env.NATTER_UPDATE_SCREENSHOTS === "1") {
    mkdirSync(`${repoRoot}docs/images`, { recursive: true });
    await a.screenshot({ path: `${repoRoot}docs/images/web-search.png` });
  }

  // Bad input is a message, not a crash.
  await box.fill("!!!");
  await box.press("Enter");
  await a.getByRole("alert").filter({ hasText: "at least one word" }).waitFor();

  assert.deepEqual(alice.errors.filter((e) => !/status of 400/.test(e)), []);
  assert.deepEqual(bob.errors, []);
});
