// @mentions while writing: the query after "@", the picker of participants, and the message content that
// carries the picked mentions the way Azure's UI library writes them (`<msft-mention id="{rawId}">Name</msft-mention>`
// in an html message; docs/extensions.md "Mentions").

export interface Mentionable {
  /** Raw id. */
  id: string;
  name: string;
}

/** The "@query" being typed just before the caret: where its "@" is and what follows it. */
export function mentionQuery(value: string, caret: number): { start: number; query: string } | undefined {
  const match = /(^|\s)@([^\s@]{0,40})$/.exec(value.slice(0, caret));
  if (!match) return undefined;
  return { start: caret - match[2].length - 1, query: match[2] };
}

/** Candidates whose name starts (any word of it) with the query, case-insensitively; at most 8. */
export function filterMentionables(people: Mentionable[], query: string): Mentionable[] {
  const q = query.toLocaleLowerCase();
  return people.filter((p) => p.name.toLocaleLowerCase().split(/\s+/).some((w) => w.startsWith(q)) || p.name.toLocaleLowerCase().startsWith(q)).slice(0, 8);
}

const escapeHtml = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/**
 * What to send for `text` with the mentions picked while writing it: text as it is when no picked "@Name" is
 * left in it; otherwise html (the text escaped, line breaks as <br>) with each "@Name" as a mention tag.
 */
export function messageContent(text: string, picked: Mentionable[]): { content: string; type: "text" | "html" } {
  const present = picked.filter((p) => text.includes(`@${p.name}`));
  if (present.length === 0) return { content: text, type: "text" };
  // Longest names first, so "@Ann Lee" is not taken as "@Ann".
  const byLength = [...present].sort((a, b) => b.name.length - a.name.length);
  let html = "";
  let rest = text;
  while (rest.length > 0) {
    let best: { at: number; p: Mentionable } | undefined;
    for (const p of byLength) {
      const at = rest.indexOf(`@${p.name}`);
      if (at >= 0 && (!best || at < best.at)) best = { at, p };
    }
    if (!best) {
      html += escapeHtml(rest);
      break;
    }
    html += escapeHtml(rest.slice(0, best.at)) + `<msft-mention id="${escapeHtml(best.p.id)}">${escapeHtml(best.p.name)}</msft-mention>`;
    rest = rest.slice(best.at + best.p.name.length + 1);
  }
  return { content: html.replace(/\r?\n/g, "<br>"), type: "html" };
}

interface PickerProps {
  id: string;
  candidates: Mentionable[];
  active: number;
  onPick: (p: Mentionable) => void;
}

/** The listbox of people to mention (the composer's textarea is its combobox and keeps the focus). */
export function MentionPicker({ id, candidates, active, onPick }: PickerProps) {
  return (
    <ul class="mention-picker" id={id} role="listbox" aria-label="Mention someone">
      {candidates.map((p, i) => (
        <li
          key={p.id}
          id={`${id}-${i}`}
          role="option"
          aria-selected={i === active}
          class={i === active ? "active" : undefined}
          // mousedown: pick before the textarea loses focus.
          onMouseDown={(e) => {
            e.preventDefault();
            onPick(p);
          }}
        >
          @{p.name}
        </li>
      ))}
    </ul>
  );
}
