import { test } from "node:test";
import assert from "node:assert/strict";
import { htmlToText } from "./html-text.js";

test("html text: tags and attributes dropped, every entity decoded, script and style bodies dropped", () => {
  assert.equal(htmlToText('<p title="x">Fish &amp; <b>chips</b>&#33; &#x1F600;</p><script>alert(1)</script>'), "Fish & chips ! 😀");
  assert.equal(htmlToText("<p>caf&eacute; &copy 2026</p><p>na&iuml;ve</p>"), "café © 2026 naïve", "named entities beyond the XML five");
  assert.equal(htmlToText("a&bogus;b &#0; &#xD800;"), "a&bogus;b \uFFFD \uFFFD", "unknown entities kept, invalid code points replaced");
  assert.equal(htmlToText("&lt;b&gt;bold&lt;/b&gt;"), "<b>bold</b>", "decoded markup stays text");
  assert.equal(htmlToText(`<p>a &amp; <b>b</b></p><script>x()</script><style>p{}</style>`), "a & b");
});
