// The conversation's header bar (back button, title or topic editor, actions) and the topic editor.
import { useEffect, useRef, useState } from "preact/hooks";
import type { ComponentChildren } from "preact";

export function ConversationHeader({ title, onClose, children }: { title: string; onClose: () => void; children?: ComponentChildren }) {
  return (
    <header class="conversation-header">
      <button type="button" class="ghost back" onClick={onClose} aria-label="Back to conversations">
        ‹ Back
      </button>
      {children ?? <h2 class="conversation-title">{title}</h2>}
    </header>
  );
}

export function TopicEditor({ topic, onSave, onCancel }: { topic: string; onSave: (t: string) => Promise<void>; onCancel: () => void }) {
  const [value, setValue] = useState(topic);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => {
    input.current?.focus();
    input.current?.select();
  }, []);
  return (
    <form
      class="topic-editor"
      onSubmit={(e) => {
        e.preventDefault();
        if (value.trim()) void onSave(value.trim());
      }}
    >
      <input
        ref={input}
        value={value}
        maxLength={250}
        aria-label="Topic"
        onInput={(e) => setValue(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === "Escape") {
            e.preventDefault();
            onCancel();
          }
        }}
      />
      <button type="submit" class="primary">
        Save
      </button>
      <button type="button" onClick={onCancel}>
        Cancel
      </button>
    </form>
  );
}
