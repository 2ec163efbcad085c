// The built web app is served at / on both listeners with a strict Content-Security-Policy.
import { after, before, it } from "node:test";
import assert from "node:assert/strict";
import type { TestNatter } from "../test-support/test-natter.js";
import { startTestNatter } from "../test-support/test-natter.js";

let natter: TestNatter;
before(async () => (natter = await startTestNatter()));
after(() => natter.stop());

it("serves index.html and its assets with CSP on HTTP and HTTPS, without shadowing the API", async () => {
  for (const base of [natter.httpUrl, natter.httpsUrl]) {
    const page = await fetch(new URL("/", base));
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /text\/html/);
    const csp = page.headers.get("content-security-policy") ?? "";
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    const html = await page.text();
    const script = /<script[^>]+src="([^"]+)"/.exec(html)?.[1];
    assert.ok(script, "index.html loads a script");
    assert.doesNotMatch(html, /<script>(?!<\/script>)/, "no inline script");
    const asset = await fetch(new URL(script, base));
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get("content-type") ?? "", /javascript/);
  }
  const api = await fetch(new URL("/chat/threads?api-version=2024-03-07", natter.httpUrl));
  assert.equal(api.status, 401, "the API still answers under the app");
});
