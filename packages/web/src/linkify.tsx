// Plain-text messages with their http(s) URLs as links. The text is never parsed as HTML: it becomes
// Preact text nodes (escaped by the renderer) and <a> elements whose href is a URL we parsed ourselves.
import type { ComponentChildren } from "preact";

/** A run that starts like a URL: http:// or https:// up to the next whitespace or angle bracket/quote. */
const CANDIDATE = /\bhttps?:\/\/[^\s<>"]+/gi;
/** Punctuation that ends a sentence rather than a URL ("see https://x.test/a."). */
const TRAILING = /[.,;:!?'*]+$/;

/** Trims trailing punctuation and unbalanced closing brackets, as people write "(see https://x.test/a)". */
function trimUrl(candidate: string): string {
  let url = candidate;
  for (;;) {
    const before = url;
    url = url.replace(TRAILING, "");
    for (const [open, close] of [["(", ")"], ["[", "]"], ["{", "}"]]) {
      if (url.endsWith(close) && url.split(close).length > url.split(open).length) url = url.slice(0, -1);
    }
    if (url === before) return url;
  }
}

/** The URL to link to, or undefined unless it parses as an absolute http: or https: URL with a host. */
function safeHref(text: string): string | undefined {
  try {
    const url = new URL(text);
    return (url.protocol === "http:" || url.protocol === "https:") && url.hostname ? url.href : undefined;
  } catch {
    return undefined;
  }
}

/** Splits text into strings and links; the link text is exactly the URL as written. */
export function linkify(text: string): ComponentChildren[] {
  const parts: ComponentChildren[] = [];
  let last = 0;
  for (const match of text.matchAll(CANDIDATE)) {
    const written = trimUrl(match[0]);
    const href = safeHref(written);
    if (!href) continue;
    const start = match.index;
    if (start > last) parts.push(text.slice(last, start));
    parts.push(
      <a key={start} href={href} target="_blank" rel="noopener noreferrer">
        {written}
      </a>,
    );
    last = start + written.length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}
