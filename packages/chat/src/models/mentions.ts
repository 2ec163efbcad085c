// Mentions in html message content (Natter extension): `<msft-mention id="{rawId}">Name</msft-mention>`, as
// Azure's UI library writes them. The server keeps only valid mention tags (a mention of someone outside the
// thread is rewritten to its text), so the tags in a stored message are its mentions.
import type { CommunicationIdentifierKind } from "@natter/communication-common";
import { createIdentifierFromRawId } from "@natter/communication-common";

const MENTION_OPEN = /<msft-mention\b[^>]*?\bid\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))[^>]*>/gi;
const ENTITY = /&(?:#(\d+)|#x([0-9a-f]+)|(amp|lt|gt|quot|apos));/gi;
const NAMED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function decodeEntities(text: string): string {
  return text.replace(ENTITY, (whole, dec: string | undefined, hex: string | undefined, name: string | undefined) => {
    if (name) return NAMED[name.toLowerCase()] ?? whole;
    const code = dec !== undefined ? Number(dec) : parseInt(hex!, 16);
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

/**
 * Raw ids of the mentions in html content, first mention first, without duplicates.
 * @param html - The message content.
 */
export function mentionedRawIds(html: string): string[] {
  const ids: string[] = [];
  if (!/msft-mention/i.test(html)) return ids;
  for (const match of html.matchAll(MENTION_OPEN)) {
    const id = decodeEntities(match[1] ?? match[2] ?? match[3] ?? "").trim();
    if (id !== "" && !ids.includes(id)) ids.push(id);
  }
  return ids;
}

/**
 * The identifiers an html message mentions.
 * @param html - The message content.
 */
export function mentionsOf(html: string): CommunicationIdentifierKind[] {
  return mentionedRawIds(html).map(createIdentifierFromRawId);
}
