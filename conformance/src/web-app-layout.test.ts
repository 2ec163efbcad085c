// The web app's look in headless Chromium (issue #20): nothing overflows its container (thread-list rows keep
// their time and unread badge inside the 320 px sidebar, with an ellipsis), every visible button's text
// contrasts with its effective background (WCAG ratio ≥ 3, light and dark), URLs in text messages are safe
// links, consecutive messages from one sender are grouped, and the empty state only shows when there is
// nothing at all to show. Data is written through the SDK; the page is only looked at.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { startTestNatter } from "@natter/server/testing";
import type { TestNatter } from "@natter/server/testing";
import { ChatClient } from "@natter/communication-chat";
import type { ChatThreadClient } from "@natter/communication-chat";
import { AzureCommunicationTokenCredential } from "@natter/communication-common";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const webDist = fileURLToPath(new URL("../../packages/web/dist/index.html", import.meta.url));
const shots = fileURLToPath(new URL("../../test-results/web-app-layout/", import.meta.url)); // ignored by git

const skip = !existsSync(CHROMIUM)
  ? `Chromium is not installed (${CHROMIUM}); .ci/run installs it with apt`
  : !existsSync(webDist)
    ? "the web app is not built (npm run build -w @natter/web)"
    : false;

interface Session {
  userId: string;
  displayName: string;
  token: string;
}

let natter: TestNatter;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let alice: Session;
let bob: Session;
const errors: string[] = [];

async function demoSignIn(displayName: string): Promise<Session> {
  const response = await fetch(new URL("/demo/sign-in", natter.httpsUrl), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ displayName }),
  });
  assert.equal(response.status, 200);
  return (await response.json()) as Session;
}

function chat(session: Session): ChatClient {
  return new ChatClient(natter.endpoint, new AzureCommunicationTokenCredential(session.token));
}

async function createThread(owner: Session, topic: string, others: Session[]): Promise<ChatThreadClient> {
  const result = await chat(owner).createChatThread({ topic }, { participants: others.map((o) => ({ id: { communicationUserId: o.userId }, displayName: o.displayName })) });
  assert.ok(result.chatThread?.id);
  return chat(owner).getChatThreadClient(result.chatThread.id);
}

async function send(thread: ChatThreadClient, from: Session, text: string): Promise<void> {
  await chat(from).getChatThreadClient(thread.threadId).sendMessage({ content: text }, { senderDisplayName: from.displayName, type: "text" });
}

/** A screenshot for people to look at (test-results/ is not tracked). */
async function shot(name: string): Promise<void> {
  await page.screenshot({ path: `${shots}${name}.png` });
}

/** Opens a thread in Alice's page by its URL and waits until its messages are loaded. */
async function open(thread: ChatThreadClient, topic: string, waitFor: string): Promise<void> {
  await page.goto(`${natter.httpsUrl}#thread=${encodeURIComponent(thread.threadId)}`);
  await page.getByRole("heading", { name: topic }).waitFor();
  await page.locator(".messages").getByText(waitFor).first().waitFor();
}

before(async () => {
  if (skip) return;
  mkdirSync(shots, { recursive: true });
  natter = await startTestNatter();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  bob = await demoSignIn("Bob Builder");
  context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 }, locale: "en-US", reducedMotion: "reduce", colorScheme: "light" });
  page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on("pageerror", (error) => errors.push(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`${message.text()} (${message.location().url})`);
  });
  await page.goto(natter.httpsUrl);
  await page.getByLabel("Display name").fill("Alice Liddell");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "New conversation" }).waitFor();
  alice = JSON.parse((await page.evaluate(() => localStorage.getItem("natter.session"))) ?? "null") as Session;
  assert.ok(alice?.token);
});

after(async () => {
  await context?.close();
  await browser?.close();
  await natter?.stop();
});

// ---- checks that run inside the page -----------------------------------------------------------------

interface Overflow {
  container: string;
  child: string;
  container_box: string;
  child_box: string;
}

/**
 * Every visible descendant of every element matching `selector` whose box sticks out of that element by
 * more than half a pixel (horizontally only for `axis: "x"`, e.g. scrolling containers).
 */
async function overflows(selector: string, axis: "x" | "xy"): Promise<Overflow[]> {
  return page.evaluate(
    ({ selector, axis }) => {
      const describe = (el: Element) => `${el.tagName.toLowerCase()}${el.className && typeof el.className === "string" ? `.${el.className.trim().split(/\s+/).join(".")}` : ""} "${(el.textContent ?? "").trim().slice(0, 40)}"`;
      const box = (r: DOMRect) => `x ${Math.round(r.left)}..${Math.round(r.right)}, y ${Math.round(r.top)}..${Math.round(r.bottom)}`;
      const found: { container: string; child: string; container_box: string; child_box: string }[] = [];
      for (const container of Array.from(document.querySelectorAll(selector))) {
        const outer = container.getBoundingClientRect();
        if (outer.width === 0 || outer.height === 0) continue;
        for (const child of Array.from(container.querySelectorAll("*"))) {
          const style = getComputedStyle(child);
          if (style.display === "none" || style.visibility === "hidden" || style.position === "absolute" || style.position === "fixed") continue;
          const inner = child.getBoundingClientRect();
          if (inner.width === 0 || inner.height === 0) continue;
          const out = inner.left < outer.left - 0.5 || inner.right > outer.right + 0.5 || (axis === "xy" && (inner.top < outer.top - 0.5 || inner.bottom > outer.bottom + 0.5));
          if (out) found.push({ container: describe(container), child: describe(child), container_box: box(outer), child_box: box(inner) });
        }
      }
      return found;
    },
    { selector, axis },
  );
}

/** Nothing on the page overflows its container, and the page itself never scrolls sideways. */
async function assertNoOverflow(where: string): Promise<void> {
  const checks: [string, "x" | "xy"][] = [
    [".topbar", "xy"],
    [".sidebar", "x"], // the thread list scrolls vertically
    [".sidebar-head", "xy"],
    [".thread-row", "xy"],
    [".conversation-header", "xy"],
    [".messages", "x"], // scrolls vertically
    [".message", "xy"],
    [".bubble", "xy"],
    [".composer", "xy"],
    [".people", "x"],
  ];
  for (const [selector, axis] of checks) {
    assert.deepEqual(await overflows(selector, axis), [], `${where}: nothing overflows ${selector}`);
  }
  const sideways = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(sideways <= 0, `${where}: the page does not scroll sideways (${sideways}px)`);
}

interface LowContrast {
  element: string;
  color: string;
  background: string;
  ratio: number;
}

/**
 * Every visible, enabled button (and link) whose text colour has a WCAG contrast ratio below `min` with its
 * effective background: the first non-transparent background up the ancestors, semi-transparent layers
 * composited over what is below them, and the text colour's alpha and the opacity of the element and its
 * ancestors up to that background applied to the text.
 */
async function lowContrast(min: number): Promise<LowContrast[]> {
  return page.evaluate((min) => {
    type RGBA = [number, number, number, number];
    const parse = (css: string): RGBA => {
      const m = /rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)(?:\s*[,/]\s*([\d.]+%?))?\s*\)/.exec(css);
      if (!m) throw new Error(`unexpected computed colour ${css}`);
      const alpha = m[4] === undefined ? 1 : m[4].endsWith("%") ? Number(m[4].slice(0, -1)) / 100 : Number(m[4]);
      return [Number(m[1]), Number(m[2]), Number(m[3]), alpha];
    };
    const over = (top: RGBA, below: RGBA): RGBA => {
      const a = top[3];
      return [top[0] * a + below[0] * (1 - a), top[1] * a + below[1] * (1 - a), top[2] * a + below[2] * (1 - a), 1];
    };
    const luminance = ([r, g, b]: RGBA) => {
      const lin = (v: number) => {
        const c = v / 255;
        return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
    };
    const describe = (el: Element) => `${el.tagName.toLowerCase()}${el.className && typeof el.className === "string" ? `.${el.className.trim().split(/\s+/).join(".")}` : ""} "${(el.textContent ?? "").trim().slice(0, 40)}"`;
    const found: { element: string; color: string; background: string; ratio: number }[] = [];
    for (const el of Array.from(document.querySelectorAll<HTMLElement>("button, a[href]"))) {
      if ((el as HTMLButtonElement).disabled || !(el.textContent ?? "").trim()) continue; // inactive controls are exempt
      const rect = el.getBoundingClientRect();
      const style = getComputedStyle(el);
      if (rect.width === 0 || rect.height === 0 || style.visibility !== "visible") continue;
      // Background layers from the element up to the first opaque one; the canvas (white) below all.
      const layers: RGBA[] = [];
      let opacity = 1;
      for (let node: Element | null = el; node; node = node.parentElement) {
        const s = getComputedStyle(node);
        const bg = parse(s.backgroundColor);
        if (bg[3] > 0) layers.push(bg);
        if (bg[3] >= 1) break;
        opacity *= Number(s.opacity);
      }
      let background: RGBA = [255, 255, 255, 1];
      for (const layer of layers.reverse()) background = over(layer, background);
      const text = parse(style.color);
      const color = over([text[0], text[1], text[2], text[3] * opacity], background);
      const [hi, lo] = [luminance(color), luminance(background)].sort((x, y) => y - x);
      const ratio = (hi + 0.05) / (lo + 0.05);
      if (ratio < min) found.push({ element: describe(el), color: style.color, background: `rgb(${background.slice(0, 3).map(Math.round).join(", ")})`, ratio: Math.round(ratio * 100) / 100 });
    }
    return found;
  }, min);
}

async function assertContrast(where: string): Promise<void> {
  for (const scheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    assert.deepEqual(await lowContrast(3), [], `${where} (${scheme}): every button's text contrasts with its background`);
  }
  await page.emulateMedia({ colorScheme: "light" });
}

// ---- the tests ---------------------------------------------------------------------------------------

test("a long last message keeps the time and the unread badge inside the 320 px sidebar, with an ellipsis", { skip }, async () => {
  const thread = await createThread(bob, "Long preview", [alice]);
  const long = "This is a rather long message that goes on and on about the weekend plans, the weather, the trail and the picnic ".repeat(3);
  await send(thread, bob, long);
  await send(thread, bob, `https://example.com/${"unbroken".repeat(40)}`);
  await page.goto(natter.httpsUrl);
  const row = page.locator(".thread-row", { hasText: "Long preview" });
  await row.locator(".unread-badge", { hasText: "2" }).waitFor();
  await assertNoOverflow("thread list");
  await shot("long-preview");

  const sidebar = (await page.locator(".sidebar").boundingBox())!;
  assert.ok(sidebar.width <= 321, `the sidebar is 320 px wide (${sidebar.width})`);
  for (const part of [row.locator(".unread-badge"), row.locator(".thread-time")]) {
    const box = (await part.boundingBox())!;
    assert.ok(box.width > 0 && box.x + box.width <= sidebar.x + sidebar.width, `${await part.textContent()} is inside the sidebar`);
  }
  const preview = await row.locator(".thread-preview").evaluate((el) => ({ ellipsis: getComputedStyle(el).textOverflow, cut: el.scrollWidth > el.clientWidth }));
  assert.deepEqual(preview, { ellipsis: "ellipsis", cut: true }, "the preview is cut with an ellipsis");

  // Opened: the long messages wrap inside their bubbles, and the phone layout holds too.
  await row.click();
  await page.locator(".message-list .message").nth(1).waitFor();
  await assertNoOverflow("conversation with long messages");
  await page.setViewportSize({ width: 390, height: 780 });
  try {
    await assertNoOverflow("conversation at phone width");
    await page.getByRole("button", { name: "Back to conversations" }).click();
    await page.locator(".thread-row", { hasText: "Long preview" }).waitFor();
    await assertNoOverflow("thread list at phone width");
  } finally {
    await page.setViewportSize({ width: 1280, height: 800 });
  }
});

test("every visible button's text contrasts with its background, including Keep in the delete confirmation of an own message", { skip }, async () => {
  const thread = await createThread(alice, "Contrast", [bob]);
  await send(thread, bob, "Shall we meet at noon?");
  await send(thread, alice, "Noon works for me");
  await open(thread, "Contrast", "Noon works for me");
  await assertContrast("conversation");

  const own = page.locator(".message.own", { hasText: "Noon works for me" });
  await page.getByRole("button", { name: "Delete message: Noon works for me" }).click();
  const keep = own.getByRole("button", { name: "Keep" });
  await keep.waitFor();
  await assertContrast("delete confirmation in an own message");
  await page.emulateMedia({ colorScheme: "dark" });
  await shot("delete-confirmation-dark");
  await page.emulateMedia({ colorScheme: "light" });
  await shot("delete-confirmation");
  await assertNoOverflow("delete confirmation in an own message");
  await keep.click();
  await keep.waitFor({ state: "detached" });

  await page.getByRole("button", { name: "Edit message: Noon works for me" }).click();
  await page.getByRole("textbox", { name: "Edit message" }).waitFor();
  await assertContrast("editing an own message");
  await page.getByRole("textbox", { name: "Edit message" }).press("Escape");

  await page.getByRole("button", { name: /^People/ }).click();
  await page.getByRole("complementary", { name: "People in this conversation" }).getByText("Bob Builder").waitFor();
  await page.locator(".conversation-header").getByRole("button", { name: "Leave", exact: true }).click();
  await page.getByRole("button", { name: "Stay" }).waitFor();
  await assertContrast("people panel and leave confirmation");
  await assertNoOverflow("people panel and leave confirmation");
  await page.getByRole("button", { name: "Stay" }).click();
});

test("URLs in text messages become safe links; the text is never parsed as HTML", { skip }, async () => {
  const thread = await createThread(bob, "Links", [alice]);
  await send(thread, bob, 'Trail: https://example.com/trail?x=1&y=2. Map (http://example.org/map) <b>bold</b> <img src=x onerror="window.__xss=1"> javascript:alert(1) ftp://example.net/f');
  await send(thread, alice, "Mine: https://example.com/mine");
  await open(thread, "Links", "Mine:");
  const content = page.locator(".message.other .content", { hasText: "Trail:" });
  const links = await content.locator("a").evaluateAll((as) => as.map((a) => ({ href: a.getAttribute("href"), text: a.textContent, rel: a.getAttribute("rel"), target: a.getAttribute("target") })));
  assert.deepEqual(links, [
    { href: "https://example.com/trail?x=1&y=2", text: "https://example.com/trail?x=1&y=2", rel: "noopener noreferrer", target: "_blank" },
    { href: "http://example.org/map", text: "http://example.org/map", rel: "noopener noreferrer", target: "_blank" },
  ]);
  assert.equal(await content.locator("b, img, script").count(), 0, "markup in a text message stays text");
  assert.equal(
    await content.textContent(),
    'Trail: https://example.com/trail?x=1&y=2. Map (http://example.org/map) <b>bold</b> <img src=x onerror="window.__xss=1"> javascript:alert(1) ftp://example.net/f',
    "the text is shown exactly as sent",
  );
  assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined);
  const mine = page.locator(".message.own .content a");
  assert.equal(await mine.getAttribute("href"), "https://example.com/mine");
  assert.equal(await mine.getAttribute("rel"), "noopener noreferrer");
  await assertContrast("links in messages");
  await shot("links");
});

test("consecutive messages from one sender show the name and avatar once", { skip }, async () => {
  const thread = await createThread(bob, "Grouping", [alice]);
  await send(thread, bob, "one");
  await send(thread, bob, "two");
  await send(thread, bob, "three");
  await send(thread, alice, "four");
  await send(thread, alice, "five");
  await send(thread, bob, "six");
  await thread.updateTopic("Grouped");
  await send(thread, bob, "seven");
  await open(thread, "Grouped", "seven");
  const shown = await page.locator(".message-list .message").evaluateAll((items) =>
    items.map((li) => {
      const visible = (sel: string) => {
        const el = li.querySelector(sel);
        return !!el && el.getBoundingClientRect().width > 0 && getComputedStyle(el).visibility === "visible" && !el.closest(".visually-hidden");
      };
      return [li.querySelector(".content")?.textContent, visible(".sender") ? li.querySelector(".sender")?.textContent : "", visible(".avatar") ? "avatar" : ""].join(" ").trim();
    }),
  );
  assert.deepEqual(shown, ["one Bob Builder avatar", "two", "three", "four You", "five", "six Bob Builder avatar", "seven Bob Builder avatar"]);
  // Screen readers still hear who wrote each message.
  const names = await page.locator(".message-list .message").evaluateAll((items) => items.map((li) => li.querySelector(".sender")?.textContent ?? ""));
  assert.deepEqual(names, ["Bob Builder", "Bob Builder", "Bob Builder", "You", "You", "Bob Builder", "Bob Builder"]);
  await assertNoOverflow("grouped messages");
  await shot("grouped-messages");
});

test("the empty state shows only when there is nothing at all to show", { skip }, async () => {
  // A new thread has its own system messages: they are shown, and no "No messages yet".
  const fresh = await createThread(alice, "Fresh", [bob]);
  await open(fresh, "Fresh", "You added Bob Builder");
  await page.locator(".messages").getByText("You changed the topic to “Fresh”").waitFor();
  assert.equal(await page.getByText("No messages yet. Say hello!").count(), 0);

  // Alice added with no shared history at all: nothing to show, so the empty state shows.
  const hidden = await createThread(bob, "Nothing here", []);
  await hidden.addParticipants({ participants: [{ id: { communicationUserId: alice.userId }, displayName: alice.displayName, shareHistoryTime: new Date(Date.now() + 3_600_000) }] });
  await open(hidden, "Nothing here", "No messages yet. Say hello!");
  assert.equal(await page.locator(".message-list li").count(), 0);
});

test("no console errors", { skip }, () => {
  assert.deepEqual(errors, []);
});
