// The chat app's unread badges, tab-title total, @-picker and mention highlight (Natter extensions, #15) in
// headless Chromium, as two users (Bob with two tabs): Alice's messages raise Bob's badges and title total live;
// Alice mentions Bob through the @-picker; Bob's mention is highlighted; Bob reading in one tab clears the badge
// and title in the other (unreadCountChanged). No console errors. Screenshots go to test-results/; with
// NATTER_UPDATE_SCREENSHOTS=1 one also to docs/images/unread-mentions.png (the README's). Waits for elements only.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { startTestNatter } from "@natter/server/testing";
import type { TestNatter } from "@natter/server/testing";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const webDist = `${repoRoot}packages/web/dist/index.html`;
const shots = `${repoRoot}test-results/web-app/`;
const docsImage = `${repoRoot}docs/images/unread-mentions.png`;

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

function watchErrors(page: Page, errors: string[]): void {
  page.on("pageerror", (error) => errors.push(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`${message.text()} (${message.location().url})`);
  });
}

async function signIn(context: BrowserContext, name: string, errors: string[]): Promise<Page> {
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  watchErrors(page, errors);
  await page.goto(natter.httpsUrl);
  await page.getByLabel("Display name").fill(name);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "New conversation" }).waitFor();
  await waitLive(page);
  return page;
}

async function waitLive(page: Page): Promise<void> {
  await page.waitForFunction(() => document.querySelector(".live-badge")?.getAttribute("data-state") === "live", null, { timeout: 15_000 });
}

async function createThread(page: Page, topic: string, member: string): Promise<void> {
  await page.getByRole("button", { name: "New conversation" }).click();
  const dialog = page.getByRole("dialog", { name: "New conversation" });
  await dialog.getByLabel("Topic").fill(topic);
  await dialog.getByRole("checkbox", { name: member }).check();
  await dialog.getByRole("button", { name: "Create" }).click();
  await page.getByRole("heading", { name: topic }).waitFor();
}

async function send(page: Page, text: string): Promise<void> {
  const composer = page.getByRole("textbox", { name: "Message", exact: true });
  await composer.fill(text);
  await composer.press("Enter");
  await page.locator(".message-list .message", { hasText: text }).waitFor();
}

test("unread badges, tab title, @-picker and mention highlight with two users", { skip, timeout: 90_000 }, async () => {
  const errors: string[] = [];
  const aliceContext = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 }, locale: "en-US", reducedMotion: "reduce" });
  const bobContext = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 }, locale: "en-US", reducedMotion: "reduce" });
  try {
    const bob1 = await signIn(bobContext, "Bob", errors);
    const a = await signIn(aliceContext, "Alice", errors);
    assert.equal(await bob1.title(), "Natter");

    // Two conversations; Alice writes in both while Bob has neither open.
    await createThread(a, "Lunch", "Bob");
    await send(a, "Pizza at noon?");
    await createThread(a, "Launch", "Bob");
    await send(a, "Release notes are ready");
    await send(a, "Please review them");

    const launchRow = bob1.locator(".thread-row", { hasText: "Launch" });
    const lunchRow = bob1.locator(".thread-row", { hasText: "Lunch" });
    await launchRow.locator(".unread-badge", { hasText: "2" }).waitFor();
    await lunchRow.locator(".unread-badge", { hasText: "1" }).waitFor();
    await bob1.waitForFunction(() => document.title === "(3) Natter");
    // The preview is the last message, from the server's summary.
    await launchRow.getByText("Alice: Please review them").waitFor();

    // Alice mentions Bob with the @-picker: typing "@Bo" offers Bob; Enter picks him.
    const composer = a.getByRole("textbox", { name: "Message", exact: true });
    await composer.pressSequentially("Thanks @Bo");
    const picker = a.getByRole("listbox", { name: "Mention someone" });
    await picker.getByRole("option", { name: "@Bob" }).waitFor();
    assert.equal(await picker.getByRole("option").count(), 1, "only the other participant is offered");
    await a.screenshot({ path: `${shots}mention-picker.png` });
    await composer.press("Enter");
    await picker.waitFor({ state: "detached" });
    assert.equal(await composer.inputValue(), "Thanks @Bob ");
    await composer.pressSequentially("can you check?");
    await composer.press("Enter");
    await a.locator(".message-list .message", { hasText: "can you check?" }).locator(".mention", { hasText: "@Bob" }).waitFor();

    // Bob: the count and the mention badge rise live, and the title total with them.
    await launchRow.locator(".unread-badge", { hasText: "3" }).waitFor();
    await launchRow.locator(".mention-badge").waitFor();
    await bob1.waitForFunction(() => document.title === "(4) Natter");
    assert.equal(await lunchRow.locator(".mention-badge").count(), 0);

    // A second tab of Bob opens Launch: the mention is highlighted there.
    const bob2 = await bobContext.newPage();
    bob2.setDefaultTimeout(10_000);
    watchErrors(bob2, errors);
    await bob2.goto(natter.httpsUrl);
    await waitLive(bob2);
    await bob2.locator(".thread-row", { hasText: "Launch" }).click();
    const mentioned = bob2.locator(".message-list .message.mentions-me", { hasText: "can you check?" });
    await mentioned.locator(".mention.mention-me", { hasText: "@Bob" }).waitFor();
    await mentioned.getByText("mentioned you").waitFor();
    assert.equal(await bob2.locator(".message-list .message.mentions-me").count(), 1, "only the message that mentions Bob is marked");

    // Reading in tab 2 clears tab 1's Launch badges and title share; Lunch stays unread.
    await launchRow.locator(".unread-badge").waitFor({ state: "detached" });
    await launchRow.locator(".mention-badge").waitFor({ state: "detached" });
    await bob1.waitForFunction(() => document.title === "(1) Natter");
    await lunchRow.locator(".unread-badge", { hasText: "1" }).waitFor();
    await bob2.locator(".thread-row", { hasText: "Lunch" }).locator(".unread-badge", { hasText: "1" }).waitFor();

    // After a reload the counts come from the server again.
    await bob1.reload();
    await waitLive(bob1);
    await bob1.locator(".thread-row", { hasText: "Lunch" }).locator(".unread-badge", { hasText: "1" }).waitFor();
    assert.equal(await bob1.locator(".thread-row", { hasText: "Launch" }).locator(".unread-badge").count(), 0);
    await bob1.waitForFunction(() => document.title === "(1) Natter");

    // Alice mentions Bob in Lunch too (Tab picks): tab 2, still reading Launch, shows both badges on Lunch.
    await a.locator(".thread-row", { hasText: "Lunch" }).click();
    await a.getByRole("heading", { name: "Lunch" }).waitFor();
    await composer.pressSequentially("@B");
    await picker.getByRole("option", { name: "@Bob" }).waitFor();
    await composer.press("Tab");
    await composer.pressSequentially("or sushi?");
    await composer.press("Enter");
    await a.locator(".message-list .message", { hasText: "or sushi?" }).locator(".mention").waitFor();
    const lunch2 = bob2.locator(".thread-row", { hasText: "Lunch" });
    await lunch2.locator(".unread-badge", { hasText: "2" }).waitFor();
    await lunch2.locator(".mention-badge").waitFor();
    await bob2.waitForFunction(() => document.title === "(2) Natter");
    await bob2.screenshot({ path: `${shots}unread-mentions.png` });
    if (process.env.NATTER_UPDATE_SCREENSHOTS === "1") await bob2.screenshot({ path: docsImage });

    assert.deepEqual(errors, []);
  } finally {
    await aliceContext.close();
    await bobContext.close();
  }
});
