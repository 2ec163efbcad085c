// Full-text search text (the search extension, docs/extensions.md "Search"): how a message and a query become
// index tokens, the query language (words, prefixes, "phrases"), and hit snippets. Both stores index exactly
// the tokens made here, so SQLite FTS5 and PostgreSQL answer the same query alike.
//
// Tokens: the text is NFKC-normalised; words are runs of letters, digits and marks. Latin, Greek and Cyrillic
// words are lower-cased and lose their diacritics (café = cafe). Scripts written without spaces (Chinese,
// Japanese kana and kanji, Korean Hangul, Thai, Lao, Khmer, Myanmar) are cut into overlapping bigrams plus the
// run's last character (東京タワー → 東京 京タ タワ ワー ー), so any two or more characters a user types are
// a phrase of bigrams, and one character a prefix of them: 여러분 finds 안녕하세요 여러분께, 東京 finds 東京タワー.
import type { MessageRecord } from "../store/store.js";
import { validationError } from "./errors.js";
import { htmlToText } from "./html-text.js";

/** One term of a query: adjacent index tokens (a phrase of one or more), the last one a prefix when `prefix`. */
export interface SearchTerm {
  tokens: string[];
  prefix: boolean;
}

/** A parsed query: a message matches when it matches every term. */
export interface SearchQuery {
  terms: SearchTerm[];
}

export const SEARCH_LIMITS = {
  /** Longest query text (UTF-16 units). */
  queryLength: 1000,
  /** Most index tokens in one query (a long CJK sentence makes one per character). */
  queryTokens: 64,
} as const;

const WORD = /[\p{L}\p{N}\p{M}]+/gu;
/** Scripts without spaces between words: indexed as character bigrams. */
const UNSPACED = /[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Hangul}\p{scx=Thai}\p{scx=Lao}\p{scx=Khmer}\p{scx=Myanmar}\p{scx=Bopomofo}]/u;
const FOLDABLE = /^[\p{scx=Latin}\p{scx=Greek}\p{scx=Cyrillic}\p{N}\p{M}]+$/u;
const MARKS = /\p{Mn}/gu;
// eslint-disable-next-line no-control-regex
const ASCII = /^[\x00-\x7f]*$/;

/** A run of one word: unspaced (bigrams) or not (one token). */
interface Run {
  text: string;
  unspaced: boolean;
}

function runsOf(word: string): Run[] {
  const runs: Run[] = [];
  for (const ch of word) {
    const unspaced = UNSPACED.test(ch) || (/\p{M}/u.test(ch) && runs.length > 0 && runs[runs.length - 1].unspaced);
    const last = runs[runs.length - 1];
    if (last && last.unspaced === unspaced) last.text += ch;
    else runs.push({ text: ch, unspaced });
  }
  return runs;
}

/** Longest index token (code points): longer words are cut, alike in messages and queries (PostgreSQL caps a lexeme at 2 KB). */
const MAX_TOKEN = 64;

function fold(run: string): string {
  let lower = run.toLowerCase();
  if (FOLDABLE.test(lower)) lower = lower.normalize("NFKD").replace(MARKS, "").normalize("NFC");
  return lower.length > MAX_TOKEN ? [...lower].slice(0, MAX_TOKEN).join("") : lower;
}

/** Bigrams of an unspaced run, then its last character (a lone character is just itself). */
function bigrams(run: string, withLast: boolean): string[] {
  const chars = [...run];
  if (chars.length === 1) return [chars[0]];
  const out: string[] = [];
  for (let i = 0; i + 1 < chars.length; i++) out.push(chars[i] + chars[i + 1]);
  if (withLast) out.push(chars[chars.length - 1]);
  return out;
}

/** The index tokens of a text, in order (what a store indexes; a phrase is adjacent tokens). */
export function searchTokens(text: string): string[] {
  // Fast path (most messages, every send): ASCII words are lower-cased letter and digit runs, nothing else.
  if (ASCII.test(text)) {
    const words = text.toLowerCase().match(/[a-z0-9]+/g) ?? [];
    return words.map((w) => (w.length > MAX_TOKEN ? w.slice(0, MAX_TOKEN) : w));
  }
  const tokens: string[] = [];
  for (const [word] of text.normalize("NFKC").matchAll(WORD)) {
    for (const run of runsOf(word)) {
      if (run.unspaced) tokens.push(...bigrams(run.text, true));
      else tokens.push(fold(run.text));
    }
  }
  return tokens;
}

/** What search sees of a message: the text of a text or html message (tags stripped), none for others. */
export function searchableText(message: Pick<MessageRecord, "type" | "body" | "deletedAt">): string | undefined {
  if (message.deletedAt !== null || (message.type !== "text" && message.type !== "html")) return undefined;
  const content = message.body.message ?? "";
  const text = message.type === "html" ? htmlToText(content) : content;
  return text.trim() === "" ? undefined : text;
}

/** The index document of a message: its tokens joined by spaces, or undefined when it is not searchable. */
export function searchDocument(message: Pick<MessageRecord, "type" | "body" | "deletedAt">): string | undefined {
  const text = searchableText(message);
  if (text === undefined) return undefined;
  const tokens = searchTokens(text);
  return tokens.length === 0 ? undefined : tokens.join(" ");
}

/**
 * Parses what a user typed. Words are ANDed; `word*` is a prefix; `"several words"` is a phrase (an unclosed
 * quote runs to the end). Nothing else is syntax: AND, OR, NOT, NEAR, parentheses, colons, minus signs are plain
 * text (punctuation separates words, as in the messages). Throws a 400 when nothing searchable remains or the
 * query is too long.
 */
export function parseSearchQuery(text: string): SearchQuery {
  if (text.length > SEARCH_LIMITS.queryLength) throw validationError(`The search text must be at most ${SEARCH_LIMITS.queryLength} characters.`, "q");
  if (text.includes("\u0000")) throw validationError("The search text must not contain the NUL character (U+0000).", "q");
  const terms: SearchTerm[] = [];
  // A phrase in quotes, or a run of non-space characters outside them.
  for (const [, phrase, bare] of text.normalize("NFKC").matchAll(/"([^"]*)"?|([^\s"]+)/gu)) {
    const chunk = phrase ?? bare;
    const prefix = phrase === undefined && bare.endsWith("*");
    const term = termOf(chunk, prefix);
    if (term) terms.push(term);
  }
  if (terms.length === 0) throw validationError("The search text must contain at least one word (letters or digits).", "q");
  if (terms.reduce((n, t) => n + t.tokens.length, 0) > SEARCH_LIMITS.queryTokens) {
    throw validationError(`The search text has too many words (at most ${SEARCH_LIMITS.queryTokens} words or CJK characters).`, "q");
  }
  return { terms };
}

/** One chunk of the query as a phrase of index tokens (see the module note). */
function termOf(chunk: string, prefix: boolean): SearchTerm | undefined {
  const runs: Run[] = [];
  for (const [word] of chunk.matchAll(WORD)) runs.push(...runsOf(word));
  if (runs.length === 0) return undefined;
  const tokens: string[] = [];
  runs.forEach((run, i) => {
    const last = i === runs.length - 1;
    // Inside a phrase the index has the run's last character before the next run; at the end it need not.
    if (run.unspaced) tokens.push(...bigrams(run.text, !last));
    else tokens.push(fold(run.text));
  });
  const end = runs[runs.length - 1];
  // A lone unspaced character is a prefix of the bigrams it starts; a longer unspaced run is whole bigrams.
  const lone = end.unspaced && [...end.text].length === 1;
  return { tokens, prefix: lone || (prefix && !end.unspaced) };
}

/** A highlighted part of a snippet: UTF-16 offset and length. */
export interface SearchHighlight {
  offset: number;
  length: number;
}

export interface SearchSnippet {
  text: string;
  highlights: SearchHighlight[];
}

const SNIPPET_LENGTH = 160;
const SNIPPET_LEAD = 40;

/**
 * A plain-text excerpt of the message around its first match, with the matching words marked. Matching is
 * per word (a word whose token equals, or starts with for a prefix, a query token; an unspaced run containing a
 * query run), good enough to show why a message was found.
 */
export function searchSnippet(text: string, query: SearchQuery): SearchSnippet {
  const words = new Set<string>();
  const prefixes: string[] = [];
  const unspaced: string[] = [];
  for (const term of query.terms) {
    term.tokens.forEach((token, i) => {
      if (UNSPACED.test(token)) return;
      if (term.prefix && i === term.tokens.length - 1) prefixes.push(token);
      else words.add(token);
    });
    // The term's unspaced text, rebuilt from its bigrams (first characters, then the last one's tail).
    let run = "";
    for (const token of term.tokens) {
      if (!UNSPACED.test(token)) {
        if (run) unspaced.push(run);
        run = "";
        continue;
      }
      const chars = [...token];
      run = run === "" ? token : run + chars.slice(1).join("");
    }
    if (run) unspaced.push(run);
  }
  const marks: SearchHighlight[] = [];
  for (const match of text.matchAll(WORD)) {
    const word = match[0];
    const start = match.index;
    let offset = 0;
    for (const run of runsOf(word)) {
      if (run.unspaced) {
        const normal = run.text.normalize("NFKC");
        for (const q of unspaced) {
          const at = normal.indexOf(q);
          // Offsets hold when NFKC kept the run's length; otherwise mark the whole run.
          if (at >= 0) marks.push(normal.length === run.text.length ? { offset: start + offset + at, length: q.length } : { offset: start + offset, length: run.text.length });
        }
      } else {
        const token = fold(run.text.normalize("NFKC"));
        if (words.has(token) || prefixes.some((p) => token.startsWith(p))) marks.push({ offset: start + offset, length: run.text.length });
      }
      offset += run.text.length;
    }
  }
  marks.sort((a, b) => a.offset - b.offset);
  const first = marks[0]?.offset ?? 0;
  let from = 0;
  if (text.length > SNIPPET_LENGTH && first > SNIPPET_LEAD) {
    from = Math.min(first - SNIPPET_LEAD, text.length - SNIPPET_LENGTH);
    const space = text.indexOf(" ", from);
    if (space >= 0 && space < first) from = space + 1;
  }
  const to = Math.min(text.length, from + SNIPPET_LENGTH);
  const lead = from > 0 ? "…" : "";
  const snippet = lead + text.slice(from, to) + (to < text.length ? "…" : "");
  const highlights = marks
    .filter((m) => m.offset >= from && m.offset + m.length <= to)
    .map((m) => ({ offset: m.offset - from + lead.length, length: m.length }))
    .filter((m, i, all) => i === 0 || m.offset >= all[i - 1].offset + all[i - 1].length);
  return { text: snippet, highlights };
}
