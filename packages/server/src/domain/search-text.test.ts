// The search tokenizer and query parser: what the index holds and what a query becomes (both stores rely on it).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseSearchQuery, searchSnippet, searchTokens } from "./search-text.js";

describe("search text", () => {
  it("ASCII takes the fast path and agrees with the general one", () => {
    const ascii = "Hello, World! x_y 42abc A-B";
    const viaGeneral = searchTokens(`${ascii} é`).slice(0, -1);
    assert.deepEqual(searchTokens(ascii), ["hello", "world", "x", "y", "42abc", "a", "b"]);
    assert.deepEqual(viaGeneral, searchTokens(ascii));
    assert.equal(searchTokens("a".repeat(100))[0].length, 64);
    assert.equal(searchTokens(`${"é".repeat(100)}`)[0], "e".repeat(64));
  });

  it("accents and case fold for Latin, Greek and Cyrillic; CJK runs become bigrams plus the last character", () => {
    assert.deepEqual(searchTokens("Café ΑΘΉΝΑ Привет"), ["cafe", "αθηνα", "привет"]);
    assert.deepEqual(searchTokens("東京タワー"), ["東京", "京タ", "タワ", "ワー", "ー"]);
    assert.deepEqual(searchTokens("猫"), ["猫"]);
    assert.deepEqual(searchTokens("iPhone手机"), ["iphone", "手机", "机"]);
    // Full-width Latin and half-width katakana are NFKC-normalised.
    assert.deepEqual(searchTokens("ＡＢＣ ｶﾀｶﾅ"), ["abc", "カタ", "タカ", "カナ", "ナ"]);
    // Japanese voicing marks are kept (が is not か).
    assert.notDeepEqual(searchTokens("が"), searchTokens("か"));
  });

  it("queries: words ANDed, prefixes, phrases, CJK phrases of bigrams, operators as text", () => {
    assert.deepEqual(parseSearchQuery("Pine* tree").terms, [{ tokens: ["pine"], prefix: true }, { tokens: ["tree"], prefix: false }]);
    assert.deepEqual(parseSearchQuery('"big red" dog').terms, [{ tokens: ["big", "red"], prefix: false }, { tokens: ["dog"], prefix: false }]);
    assert.deepEqual(parseSearchQuery('"unclosed phrase').terms, [{ tokens: ["unclosed", "phrase"], prefix: false }]);
    assert.deepEqual(parseSearchQuery("タワー").terms, [{ tokens: ["タワ", "ワー"], prefix: false }]);
    assert.deepEqual(parseSearchQuery('"東京 タワー"').terms, [{ tokens: ["東京", "京", "タワ", "ワー"], prefix: false }]);
    assert.deepEqual(parseSearchQuery("猫").terms, [{ tokens: ["猫"], prefix: true }]);
    assert.deepEqual(parseSearchQuery("a OR NOT(b)").terms.map((t) => t.tokens), [["a"], ["or"], ["not", "b"]]);
    for (const bad of ["", "   ", "!!!", "*", '""', "x".repeat(1001), "a\u0000b", "a ".repeat(65)]) {
      assert.throws(() => parseSearchQuery(bad), (e: { status?: number }) => e.status === 400, JSON.stringify(bad.slice(0, 20)));
    }
  });

  it("snippets: an excerpt around the first match with its matches marked", () => {
    const text = `${"lorem ipsum ".repeat(20)}the pineapple pizza arrived ${"dolor sit ".repeat(20)}`;
    const { text: snippet, highlights } = searchSnippet(text, parseSearchQuery("pine* pizza"));
    assert.ok(snippet.startsWith("…") && snippet.endsWith("…") && snippet.length <= 162, snippet);
    assert.deepEqual(highlights.map((h) => snippet.slice(h.offset, h.offset + h.length)), ["pineapple", "pizza"]);
    const cjk = searchSnippet("안녕하세요 여러분께", parseSearchQuery("여러분"));
    assert.deepEqual(cjk.highlights.map((h) => cjk.text.slice(h.offset, h.offset + h.length)), ["여러분"]);
  });
});
