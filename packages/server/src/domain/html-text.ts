// The visible text of an html message, for the search index and for thread-list previews: one definition, so a
// preview shows the words a search finds.
import { decodeHTML } from "entities";

/**
 * Tags become spaces (words either side stay apart), script and style bodies are dropped, entities are decoded
 * as a browser does (after the tags are gone, so a decoded `&lt;` never becomes markup), whitespace collapsed.
 */
export function htmlToText(html: string): string {
  const stripped = html.replace(/<(script|style)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, " ").replace(/<[^>]*>/g, " ");
  return decodeHTML(stripped).replace(/\s+/g, " ").trim();
}
