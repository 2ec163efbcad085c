// The mention rules on their own: valid tags kept byte for byte, invalid ones rewritten to their text, malformed
// html tolerated; and the plain-text preview of a message.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mayHaveMentions, parseMentions } from "./mentions.js";
import { PREVIEW_LENGTH, previewOf } from "./unread.js";

const members = new Set(["8:acs:a", "8:acs:b"]);
const isMember = (id: string) => members.has(id);

test("valid mentions are listed once, in order, and the content is untouched", async () => {
  const html = `<p>Hi <msft-mention id="8:acs:b">Bee</msft-mention>, <MSFT-MENTION ID='8:acs:a'>A</MSFT-MENTION> and <msft-mention id="8:acs:b">B</msft-mention></p>`;
  assert.deepEqual(await parseMentions(html, isMember), { content: html, mentions: ["8:acs:b", "8:acs:a"] });
});

test("a mention of a non-member, an empty or missing id becomes its text; the rest is kept byte for byte", async () => {
  const html = `<b>x</b> <msft-mention id="8:acs:zz">Zed <i>Z</i></msft-mention>|<msft-mention id="">E</msft-mention>|<msft-mention>M</msft-mention>|<msft-mention id="8:acs:a">A</msft-mention>`;
  assert.deepEqual(await parseMentions(html, isMember), {
    content: `<b>x</b> Zed <i>Z</i>|E|M|<msft-mention id="8:acs:a">A</msft-mention>`,
    mentions: ["8:acs:a"],
  });
});

test("malformed html: unclosed tags, stray closers, entities in ids, attributes without quotes", async () => {
  assert.deepEqual(await parseMentions(`<msft-mention id="8:acs:zz">open`, isMember), { content: "open", mentions: [] });
  assert.deepEqual((await parseMentions(`a</msft-mention>b<msft-mention id=8:acs:a>A`, isMember)).mentions, ["8:acs:a"]);
  assert.deepEqual((await parseMentions(`<msft-mention id="8&#58;acs&#x3a;b">B</msft-mention>`, isMember)).mentions, ["8:acs:b"]);
  assert.ok((await parseMentions(`<<msft-mention id="8:acs:a"<<>>`, isMember)).mentions.length <= 1);
  // Nested invalid inside valid: the inner tags go, the outer mention stays.
  assert.deepEqual(await parseMentions(`<msft-mention id="8:acs:a">A<msft-mention id="x">X</msft-mention></msft-mention>`, isMember), {
    content: `<msft-mention id="8:acs:a">AX</msft-mention>`, mentions: ["8:acs:a"],
  });
  for (const junk of ["", "<", "</", "<msft-mention", "<!--<msft-mention id='8:acs:a'>-->", "<script><msft-mention id='8:acs:a'>x</msft-mention></script>"]) {
    await assert.doesNotReject(parseMentions(junk, isMember));
  }
});

test("mayHaveMentions skips parsing for content without the tag name", () => {
  assert.equal(mayHaveMentions("hello"), false);
  assert.equal(mayHaveMentions("<MSFT-Mention id=x>"), true);
});

test("previews: html as text, whitespace collapsed, cut at the limit on a code point boundary", () => {
  assert.equal(previewOf({ type: "html", body: { message: "<p>one</p><p>two</p>" } }), "one two");
  assert.equal(previewOf({ type: "text", body: { message: "  a\n\n b  " } }), "a b");
  const long = previewOf({ type: "text", body: { message: "😀".repeat(PREVIEW_LENGTH + 5) } });
  assert.equal(Array.from(long).length, PREVIEW_LENGTH);
  assert.ok(long.endsWith("…"));
  assert.ok(!/[\uD800-\uDBFF]…$/.test(long), "no half surrogate pair before the ellipsis");
  assert.equal(previewOf({ type: "text", body: {} }), "");
});
