// Issue #18 item 1: a captured signed admin request must not be replayable. The attack: the client chose the
// SignedHeaders list and only header values were signed, so a captured "<date>;<host>;<hash>" placed in one
// arbitrary header, listed as the only signed header, let a fresh x-ms-date and any body through. ACS fixes the
// list (x-ms-date;host;x-ms-content-sha256), the window applies to the signed date and the hash to the body.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import type { TestNatter } from "../test-support/test-natter.js";
import { createTestUser, startTestNatter } from "../test-support/test-natter.js";

const IV = "api-version=2023-10-01";
const DAY = 86_400_000;

let natter: TestNatter;
before(async () => {
  natter = await startTestNatter();
});
after(() => natter?.stop());

const sha = (body: string) => createHash("sha256").update(body).digest("base64");

/** What an eavesdropper captured: a request the SDK signed at `date`, and its signature. */
function capture(method: string, url: URL, body: string, date: Date) {
  const dateText = date.toUTCString();
  const toSign = `${method}\n${url.pathname}${url.search}\n${dateText};${url.host};${sha(body)}`;
  const signature = createHmac("sha256", Buffer.from(natter.accessKey, "base64")).update(toSign).digest("base64");
  return { signedValues: `${dateText};${url.host};${sha(body)}`, signature, dateText };
}

async function post(url: URL, headers: Record<string, string>, body: string) {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
  return { status: response.status, json: (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined };
}

describe("HMAC: captured admin requests cannot be replayed", () => {
  const widened = JSON.stringify({ scopes: ["chat", "voip"], expiresInMinutes: 1440 });

  for (const age of [{ name: "a fresh capture", ms: 0 }, { name: "a 30-day-old capture", ms: 30 * DAY }]) {
    it(`${age.name}, its values moved into a custom signed header, with a fresh date and another body → 401`, async () => {
      const victim = await createTestUser(natter, ["voip"]);
      const url = new URL(`/identities/${encodeURIComponent(victim.userId)}/:issueAccessToken?${IV}`, natter.httpUrl);
      const captured = capture("POST", url, JSON.stringify({ scopes: ["voip"] }), new Date(Date.now() - age.ms));
      const r = await post(url, {
        "x-captured": captured.signedValues,
        "x-ms-date": new Date().toUTCString(),
        "x-ms-content-sha256": sha(widened),
        authorization: `HMAC-SHA256 SignedHeaders=x-captured&Signature=${captured.signature}`,
      }, widened);
      assert.equal(r.status, 401, `replay answered ${r.status}: ${JSON.stringify(r.json)}`);
      assert.equal((r.json?.error as { code?: string } | undefined)?.code, "Unauthorized");
    });
  }

  it("the captured request itself, replayed verbatim after the 15-minute window → 401", async () => {
    const victim = await createTestUser(natter, ["voip"]);
    const url = new URL(`/identities/${encodeURIComponent(victim.userId)}/:issueAccessToken?${IV}`, natter.httpUrl);
    const body = JSON.stringify({ scopes: ["voip"] });
    const captured = capture("POST", url, body, new Date(Date.now() - 16 * 60_000));
    const r = await post(url, {
      "x-ms-date": captured.dateText, "x-ms-content-sha256": sha(body),
      authorization: `HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=${captured.signature}`,
    }, body);
    assert.equal(r.status, 401);
  });

  it("any SignedHeaders list but ACS's fixed one → 401, even when the signature matches that list", async () => {
    const victim = await createTestUser(natter, ["chat"]);
    const url = new URL(`/identities/${encodeURIComponent(victim.userId)}/:issueAccessToken?${IV}`, natter.httpUrl);
    const body = JSON.stringify({ scopes: ["chat"] });
    const date = new Date().toUTCString();
    const key = Buffer.from(natter.accessKey, "base64");
    // Each list is signed correctly for its own values: only the list itself is wrong.
    const lists: Record<string, string> = {
      "x-ms-date;host": `${date};${url.host}`,
      "host;x-ms-date;x-ms-content-sha256": `${url.host};${date};${sha(body)}`,
      "x-ms-date;host;x-ms-content-sha256;content-type": `${date};${url.host};${sha(body)};application/json`,
      "date;host;x-ms-content-sha256": `${date};${url.host};${sha(body)}`,
    };
    for (const [list, values] of Object.entries(lists)) {
      const signature = createHmac("sha256", key).update(`POST\n${url.pathname}${url.search}\n${values}`).digest("base64");
      const r = await post(url, { "x-ms-date": date, date, "x-ms-content-sha256": sha(body), authorization: `HMAC-SHA256 SignedHeaders=${list}&Signature=${signature}` }, body);
      assert.equal(r.status, 401, `SignedHeaders=${list} answered ${r.status}`);
    }
  });

  it("the same request signed as the SDK signs it → 200 (the fix keeps the real scheme working)", async () => {
    const victim = await createTestUser(natter, ["chat"]);
    const url = new URL(`/identities/${encodeURIComponent(victim.userId)}/:issueAccessToken?${IV}`, natter.httpUrl);
    const body = JSON.stringify({ scopes: ["chat"] });
    const signed = capture("POST", url, body, new Date());
    const r = await post(url, {
      "x-ms-date": signed.dateText, "x-ms-content-sha256": sha(body),
      authorization: `HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=${signed.signature}`,
    }, body);
    assert.equal(r.status, 200);
    assert.equal(typeof r.json?.token, "string");
  });
});
