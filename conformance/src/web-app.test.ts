// The browser chat app (packages/web, served by Natter at /) in headless Chromium, as two users in two
// browser contexts: demo sign-in, create a thread, chat both ways, edit, delete, typing and read receipts
// on the other side, safe HTML, reload keeps the session and history, a dropped connection recovers with
// nothing missed, topic edit, participants panel, leave. No console errors. Screenshots go to
// test-results/ (ignored by git); with NATTER_UPDATE_SCREENSHOTS=1 one also to docs/images/web-app.png. Waits for elements, never for fixed times.
// Live-delivery checks (the other user's screen updating by itself) go through the SDK's WebSocket transport.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { startTestNatter } from "@natter/server/testing";
import type { TestNatter } from "@natter/server/testing";
import { ChatClient } from "@natter/communication-chat";
import { AzureCommunicationTokenCredential } from "@natter/communication-common";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const webDist = `${repoRoot}packages/web/dist/index.html`;
const shots = `${repoRoot}test-results/web-app/`;
const docsImage = `${repoRoot}docs/images/web-app.png`;

const skip = !existsSync(CHROMIUM)
  ? `Chromium is not installed (${CHROMIUM}); .ci/run installs it with apt`
  : !existsSync(webDist)
    ? "the web app is not built (npm run build -w @natter/web)"
    : false;

interface User {
  context: BrowserContext;
  page: Page;
  errors: string[];
  offline: boolean;
}

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

async function openUser(viewport: { width: number; height: number }): Promise<User> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport, locale: "en-US", reducedMotion: "reduce" });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const user: User = { context, page, errors: [], offline: false };
  page.on("pageerror", (error) => user.errors.push(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const text = `${message.text()} (${message.location().url})`;
    // While the test has taken the context offline, failed requests are expected.
    if (user.offline && /ERR_INTERNET_DISCONNECTED|ERR_NAME_NOT_RESOLVED|WebSocket|net::ERR_/.test(text)) return;
    user.errors.push(text);
  });
  return user;
}

async function signIn(user: User, name: string, screenshot?: string): Promise<void> {
  await user.page.goto(natter.httpsUrl);
  const field = user.page.getByLabel("Display name");
  await field.waitFor();
  await field.fill(name);
  if (screenshot) await user.page.screenshot({ path: `${shots}${screenshot}` });
  await user.page.getByRole("button", { name: "Sign in" }).click();
  await user.page.getByRole("button", { name: "New conversation" }).waitFor();
}

/** The app's connection state: live, connecting, reconnecting, unavailable, offline. */
async function liveState(page: Page): Promise<string | null> {
  return page.locator(".live-badge").getAttribute("data-state");
}

function messageBubble(page: Page, text: string) {
  return page.locator(".message-list .message", { hasText: text });
}

test("the web app: two users chat in Chromium", { skip, timeout: 90_000 }, async (t) => {
  const alice = await openUser({ width: 1280, height: 800 });
  const bob = await openUser({ width: 390, height: 780 }); // phone width
  try {
    await signIn(bob, "Bob", "sign-in.png");
    await signIn(alice, "Alice");
    const a = alice.page;
    const b = bob.page;

    // Both pages go live through the SDK's WebSocket transport.
    for (const page of [a, b]) {
      await page.waitForFunction(() => document.querySelector(".live-badge")?.getAttribute("data-state") === "live", null, { timeout: 15_000 });
    }
    assert.equal(await liveState(a), "live");
    const liveTimeout = 10_000;
    /** A check that needs live delivery to the other page (no reload, no focus sync). */
    const live = async (name: string, _page: Page, check: () => Promise<void>) => {
      await t.test(name, async () => check());
    };

    await b.getByText("No conversations yet").waitFor();
    await b.screenshot({ path: `${shots}empty-list-phone.png` });

    // Alice creates a thread with Bob, picked from the directory.
    await a.getByRole("button", { name: "New conversation" }).click();
    const dialog = a.getByRole("dialog", { name: "New conversation" });
    await dialog.getByLabel("Topic").fill("Weekend plans");
    await dialog.getByRole("checkbox", { name: "Bob" }).check();
    await a.screenshot({ path: `${shots}new-conversation.png` });
    await dialog.getByRole("button", { name: "Create" }).click();
    await a.getByRole("heading", { name: "Weekend plans" }).waitFor();
    await a.getByText("You added Bob").waitFor();

    // Alice sends (Enter in the composer).
    const aComposer = a.getByRole("textbox", { name: "Message", exact: true });
    await aComposer.fill("Hi Bob!");
    await aComposer.press("Enter");
    await messageBubble(a, "Hi Bob!").waitFor();
    assert.equal(await aComposer.inputValue(), "", "the composer is cleared after sending");

    // Bob's list shows the new thread with its last message and an unread count.
    const bobRow = b.locator(".thread-row", { hasText: "Weekend plans" });
    await live("the new thread and its unread message reach Bob's thread list live", b, async () => {
      await bobRow.locator(".unread-badge", { hasText: "1" }).waitFor({ timeout: liveTimeout });
    });
    await bobRow.waitFor();
    await bobRow.getByText("Alice: Hi Bob!").waitFor();
    await b.screenshot({ path: `${shots}thread-list-phone.png` });
    await bobRow.click();
    await messageBubble(b, "Hi Bob!").waitFor();
    assert.equal(await b.locator(".sidebar").isVisible(), false, "at phone width the conversation replaces the list");

    // Bob reads it: Alice sees "Seen by Bob" under her message.
    await live("Bob's read receipt shows up on Alice's side", a, async () => {
      await messageBubble(a, "Hi Bob!").getByText("Seen by Bob").waitFor({ timeout: liveTimeout });
    });

    // Bob types: Alice sees the typing indicator; then Bob's message arrives.
    const bComposer = b.getByRole("textbox", { name: "Message", exact: true });
    await bComposer.pressSequentially("Hey Ali");
    await live("Bob's typing indicator shows up on Alice's side", a, async () => {
      await a.getByText("Bob is typing…").waitFor({ timeout: liveTimeout });
    });
    await bComposer.pressSequentially("ce!");
    await bComposer.press("Enter");
    await messageBubble(b, "Hey Alice!").waitFor();
    await live("Bob's message reaches Alice live", a, async () => {
      await messageBubble(a, "Hey Alice!").waitFor({ timeout: liveTimeout });
    });
    await messageBubble(a, "Hey Alice!").waitFor();
    await live("the typing indicator goes away when Bob's message arrives", a, async () => {
      await a.getByText("Bob is typing…").waitFor({ state: "detached", timeout: liveTimeout });
    });

    // Alice edits her message (Escape cancels; Enter saves).
    await a.getByRole("button", { name: "Edit message: Hi Bob!" }).click();
    const editBox = a.getByRole("textbox", { name: "Edit message" });
    await editBox.press("Escape");
    await editBox.waitFor({ state: "detached" });
    await a.getByRole("button", { name: "Edit message: Hi Bob!" }).click();
    await editBox.fill("Hi Bob, how are you?");
    await editBox.press("Enter");
    await messageBubble(a, "Hi Bob, how are you?").getByText("(edited)").waitFor();
    await live("the edit reaches Bob live", b, async () => {
      await messageBubble(b, "Hi Bob, how are you?").getByText("(edited)").waitFor({ timeout: liveTimeout });
    });

    // Alice sends and deletes a message.
    await aComposer.fill("Oops, wrong chat");
    await aComposer.press("Enter");
    await messageBubble(a, "Oops, wrong chat").waitFor();
    await live("Alice's second message reaches Bob live", b, async () => {
      await messageBubble(b, "Oops, wrong chat").waitFor({ timeout: liveTimeout });
    });
    await a.getByRole("button", { name: "Delete message: Oops, wrong chat" }).click();
    await a.getByRole("button", { name: "Delete", exact: true }).click();
    await a.locator(".message.deleted", { hasText: "This message was deleted." }).waitFor();
    await live("the delete reaches Bob live", b, async () => {
      await b.locator(".message.deleted", { hasText: "This message was deleted." }).waitFor({ timeout: liveTimeout });
    });
    await b.locator(".message.deleted", { hasText: "This message was deleted." }).waitFor();
    await messageBubble(b, "Oops, wrong chat").waitFor({ state: "detached" }); // Bob no longer sees the deleted text

    // An HTML message (sent through the SDK by Bob) is rendered, sanitized.
    const bobSession = JSON.parse((await b.evaluate(() => localStorage.getItem("natter.session"))) ?? "null") as { token: string; userId: string };
    assert.ok(bobSession?.token, "the session is kept in localStorage");
    const threadId = await a.evaluate(() => decodeURIComponent(location.hash.replace(/^#thread=/, "")));
    const bobSdk = new ChatClient(natter.endpoint, new AzureCommunicationTokenCredential(bobSession.token));
    await bobSdk
      .getChatThreadClient(threadId)
      .sendMessage({ content: '<p>Plan: <b>hike</b> &amp; <a href="https://example.com/trail">trail</a></p><img src="https://example.com/x.png" onerror="window.__xss=1"><script>window.__xss=2</script>' }, { type: "html", senderDisplayName: "Bob" });
    await live("the HTML message reaches Alice live", a, async () => {
      await a.locator(".content.html b", { hasText: "hike" }).waitFor({ timeout: liveTimeout });
    });
    const html = a.locator(".content.html", { hasText: "Plan:" });
    await html.locator("b", { hasText: "hike" }).waitFor();
    assert.equal(await html.locator("img, script").count(), 0, "foreign images and scripts are removed");
    assert.equal(await html.locator("a").getAttribute("rel"), "noopener noreferrer");
    assert.equal(await a.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined, "no script ran");

    // Topic edit and the participants panel.
    await a.getByRole("button", { name: "Edit topic" }).click();
    const topicField = a.getByRole("textbox", { name: "Topic" });
    await topicField.fill("Weekend trip");
    await topicField.press("Enter");
    await a.getByRole("heading", { name: "Weekend trip" }).waitFor();
    await a.getByText("You changed the topic to “Weekend trip”").waitFor();
    await live("the topic change reaches Bob live", b, async () => {
      await b.getByRole("heading", { name: "Weekend trip" }).waitFor({ timeout: liveTimeout });
    });
    await a.getByRole("button", { name: /^People/ }).click();
    const people = a.getByRole("complementary", { name: "People in this conversation" });
    await people.getByText("Bob").waitFor();
    await people.getByText("(you)").waitFor();
    await a.screenshot({ path: `${shots}people-panel.png` });
    await people.getByRole("button", { name: "Close people panel" }).click();
    await b.screenshot({ path: `${shots}conversation-phone.png` });

    // A reload keeps the session and the history (and reopens the thread from the URL).
    await a.reload();
    await messageBubble(a, "Hi Bob, how are you?").waitFor();
    await messageBubble(a, "Hey Alice!").waitFor();
    await a.locator(".me-name", { hasText: "Alice" }).waitFor();
    await messageBubble(a, "Hi Bob, how are you?").getByText("Seen by Bob").waitFor();
    await a.locator(".thread-row", { hasText: "Weekend trip" }).waitFor();
    await a.screenshot({ path: `${shots}conversation-desktop.png` });
    // The README's picture changes only on request (tests must not change tracked files).
    if (process.env.NATTER_UPDATE_SCREENSHOTS === "1") await a.screenshot({ path: docsImage });

    // A dropped connection: the state shows, and what was sent meanwhile appears after recovery.
    alice.offline = true;
    await alice.context.setOffline(true);
    await a.locator(".live-badge[data-state=offline], .live-badge[data-state=reconnecting]").waitFor();
    await a.getByText("Reconnecting…").first().waitFor();
    await a.screenshot({ path: `${shots}reconnecting.png` });
    await bComposer.fill("Sent while you were offline");
    await bComposer.press("Enter");
    await messageBubble(b, "Sent while you were offline").waitFor();
    await alice.context.setOffline(false);
    await messageBubble(a, "Sent while you were offline").waitFor();
    await a.locator(`.live-badge[data-state=live]`).waitFor({ timeout: 30_000 });
    alice.offline = false;

    // Bob leaves; Alice sees it.
    await b.getByRole("button", { name: "Leave", exact: true }).click();
    await b.getByRole("button", { name: "Leave now" }).click();
    await b.getByText("No conversations yet").waitFor();
    await live("Bob leaving reaches Alice live", a, async () => {
      await a.getByText("Bob left").waitFor({ timeout: liveTimeout });
    });

    // The plain-http listener works too (the SDK is told to allow bearer tokens over http there).
    const carol = await openUser({ width: 800, height: 600 });
    try {
      await carol.page.goto(natter.httpUrl);
      await carol.page.getByLabel("Display name").fill("Carol");
      await carol.page.getByRole("button", { name: "Sign in" }).click();
      await carol.page.getByText("No conversations yet").waitFor();
      await carol.page.getByRole("button", { name: "New conversation" }).click();
      await carol.page.getByRole("checkbox", { name: "Alice" }).waitFor();
      await carol.page.keyboard.press("Escape");
      await carol.page.getByRole("dialog").waitFor({ state: "detached" });
      assert.deepEqual(carol.errors, [], "no console errors over http");
    } finally {
      await carol.context.close();
    }

    assert.deepEqual(alice.errors, [], "no console errors for Alice");
    assert.deepEqual(bob.errors, [], "no console errors for Bob");
  } finally {
    await alice.context.close();
    await bob.context.close();
  }
});
