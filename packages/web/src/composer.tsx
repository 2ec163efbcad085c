// The message composer: Enter sends, Shift+Enter breaks the line, typing notifications while writing, and an
// @-picker of the conversation's participants (mention-picker.tsx).
import { useEffect, useState } from "preact/hooks";
import type { RefObject } from "preact";
import type { Mentionable } from "./mention-picker";
import { MentionPicker, filterMentionables, mentionQuery, messageContent } from "./mention-picker";

interface ComposerProps {
  onSend: (content: string, type: "text" | "html") => Promise<boolean>;
  onTyping: () => void;
  inputRef: RefObject<HTMLTextAreaElement | null>;
  /** Who can be mentioned (the other participants). */
  people: Mentionable[];
}

const PICKER_ID = "mention-picker";

export function Composer({ onSend, onTyping, inputRef, people }: ComposerProps) {
  const [value, setValue] = useState("");
  const [sending, setSending] = useState(false);
  const [picked, setPicked] = useState<Mentionable[]>([]);
  const [query, setQuery] = useState<{ start: number; query: string }>();
  const [active, setActive] = useState(0);
  useEffect(() => inputRef.current?.focus(), [inputRef]);
  const candidates = query ? filterMentionables(people, query.query) : [];
  const open = candidates.length > 0;

  const updateQuery = (el: HTMLTextAreaElement) => {
    const q = mentionQuery(el.value, el.selectionStart ?? el.value.length);
    setQuery(q);
    if (q?.query !== query?.query) setActive(0);
  };

  const pick = (p: Mentionable) => {
    const el = inputRef.current;
    if (!el || !query) return;
    const caret = el.selectionStart ?? value.length;
    const inserted = `@${p.name} `;
    const next = value.slice(0, query.start) + inserted + value.slice(caret);
    setValue(next);
    setPicked((list) => (list.some((x) => x.id === p.id) ? list : [...list, p]));
    setQuery(undefined);
    const at = query.start + inserted.length;
    requestAnimationFrame(() => {
      el.focus();
      el.setSelectionRange(at, at);
    });
  };

  const submit = async () => {
    const text = value.trim();
    if (!text || sending) return;
    setSending(true);
    setValue("");
    setQuery(undefined);
    const { content, type } = messageContent(text, picked);
    const ok = await onSend(content, type);
    if (!ok) setValue(text);
    else setPicked([]);
    setSending(false);
    inputRef.current?.focus();
  };
  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      {open && <MentionPicker id={PICKER_ID} candidates={candidates} active={Math.min(active, candidates.length - 1)} onPick={pick} />}
      <textarea
        ref={inputRef}
        value={value}
        rows={1}
        placeholder="Write a message"
        aria-label="Message"
        aria-autocomplete="list"
        aria-controls={open ? PICKER_ID : undefined}
        aria-activedescendant={open ? `${PICKER_ID}-${Math.min(active, candidates.length - 1)}` : undefined}
        onInput={(e) => {
          setValue(e.currentTarget.value);
          updateQuery(e.currentTarget);
          if (e.currentTarget.value.trim()) onTyping();
        }}
        onClick={(e) => updateQuery(e.currentTarget)}
        onKeyDown={(e) => {
          if (open) {
            if (e.key === "ArrowDown" || e.key === "ArrowUp") {
              e.preventDefault();
              const step = e.key === "ArrowDown" ? 1 : -1;
              setActive((i) => (Math.min(i, candidates.length - 1) + step + candidates.length) % candidates.length);
              return;
            }
            if ((e.key === "Enter" || e.key === "Tab") && !e.shiftKey && !e.isComposing) {
              e.preventDefault();
              pick(candidates[Math.min(active, candidates.length - 1)]);
              return;
            }
            if (e.key === "Escape") {
              e.preventDefault();
              setQuery(undefined);
              return;
            }
          }
          if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            void submit();
          }
        }}
      />
      <button type="submit" class="primary" disabled={sending || !value.trim()}>
        Send
      </button>
    </form>
  );
}
