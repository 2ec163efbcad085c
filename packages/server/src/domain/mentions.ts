// Mentions (Natter extension): html messages name participants the way Azure's UI library writes them,
// `<msft-mention id="{rawId}">Name</msft-mention>`. Parsed with htmlparser2 (tolerant of malformed html) on send
// and edit; a mention of anyone who cannot see the message is rewritten to its text, so it notifies no one and
// every client (Azure's UI library too) shows it as plain text.
import type { Parser as ParserType } from "htmlparser2";

type ParserClass = typeof ParserType;
let loaded: ParserClass | undefined;
/** htmlparser2, loaded on first use (its import is ~100 ms of start-up that most processes never need). */
async function parserClass(): Promise<ParserClass> {
  return (loaded ??= (await import("htmlparser2")).Parser);
}

const MENTION_TAG = "msft-mention";
/** The tag name in any case, found without a lower-cased copy of the content. */
const MENTION_TAG_PATTERN = /msft-mention/i;

/** Cheap pre-check: only content that names the tag at all is parsed (most messages are not). */
export function mayHaveMentions(content: string): boolean {
  return MENTION_TAG_PATTERN.test(content);
}

export interface ParsedMentions {
  /** The content with every invalid mention tag replaced by its inner content (unchanged when all are valid). */
  content: string;
  /** Raw ids of the valid mentions, first mention first, without duplicates. */
  mentions: string[];
}

/**
 * Finds the mention tags of an html message. `isMentionable(rawId)` says whether that user may be mentioned
 * (a participant who sees the message). An invalid tag (unknown user, empty or missing id) loses its opening and
 * closing tags and keeps what is between them. Everything else of the content is kept byte for byte.
 */
export async function parseMentions(html: string, isMentionable: (rawId: string) => boolean): Promise<ParsedMentions> {
  const Parser = await parserClass();
  const mentions: string[] = [];
  /** [start, end) ranges of the content to drop (tags of invalid mentions). */
  const drop: [number, number][] = [];
  /** Open mention tags: whether each one is dropped. */
  const open: boolean[] = [];
  const parser = new Parser({
    onopentag(name, attribs) {
      if (name !== MENTION_TAG) return;
      const id = (attribs.id ?? "").trim();
      const valid = id !== "" && isMentionable(id);
      if (valid && !mentions.includes(id)) mentions.push(id);
      if (!valid) drop.push([parser.startIndex, parser.endIndex + 1]);
      open.push(!valid);
    },
    onclosetag(name, isImplied) {
      if (name !== MENTION_TAG) return;
      const dropped = open.pop();
      if (dropped && !isImplied) drop.push([parser.startIndex, parser.endIndex + 1]);
    },
  }, { lowerCaseTags: true, lowerCaseAttributeNames: true, decodeEntities: true });
  parser.end(html);
  if (drop.length === 0) return { content: html, mentions };
  drop.sort((a, b) => a[0] - b[0]);
  let content = "";
  let at = 0;
  for (const [start, end] of drop) {
    if (start < at) continue;
    content += html.slice(at, start);
    at = end;
  }
  return { content: content + html.slice(at), mentions };
}
