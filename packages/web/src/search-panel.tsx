// Message search (the search extension): a box in the sidebar, results with the matching words marked, and a
// click that opens the conversation at the message (see jump-to-message.ts).
import { useRef, useState } from "preact/hooks";
import type { ChatMessageSearchHit } from "@natter/communication-chat";
import type { ChatStore } from "./chat-store";
import { errorMessage, rawId, shortTime } from "./model";

const RESULTS = 20;

interface Props {
  store: ChatStore;
  onOpen: (threadId: string, messageId: string) => void;
}

export function SearchPanel({ store, onOpen }: Props) {
  const [query, setQuery] = useState("");
  const [hits, setHits] = useState<ChatMessageSearchHit[]>();
  const [searched, setSearched] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const input = useRef<HTMLInputElement>(null);

  const search = async (text: string) => {
    if (!text.trim()) {
      clear();
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      const page = await store.client.searchMessages(text, { maxPageSize: RESULTS }).byPage().next();
      setHits(page.done ? [] : page.value);
      setSearched(text);
    } catch (e) {
      setHits(undefined);
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };

  const clear = () => {
    setQuery("");
    setHits(undefined);
    setError(undefined);
    input.current?.focus();
  };

  return (
    <div class="search-panel">
      <form
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          void search(query);
        }}
      >
        <input
          ref={input}
          type="search"
          placeholder="Search messages"
          aria-label="Search messages"
          value={query}
          maxLength={1000}
          onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
          onKeyDown={(e) => {
            if (e.key === "Escape") clear();
          }}
        />
        <button type="submit" disabled={busy}>
          {busy ? "…" : "Search"}
        </button>
      </form>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {hits && (
        <section class="search-results" aria-label={`Search results for ${searched}`}>
          <p class="search-summary" role="status">
            {hits.length === 0
              ? `No messages match “${searched}”.`
              : hits.length === 1
                ? `1 message matches “${searched}”.`
                : `${hits.length}${hits.length === RESULTS ? "+" : ""} messages match “${searched}”.`}{" "}
            <button type="button" class="link" onClick={clear}>
              Clear
            </button>
          </p>
          <ul class="search-hits">
            {hits.map((hit) => (
              <li key={`${hit.threadId}/${hit.message.id}`}>
                <button type="button" class="search-hit" onClick={() => onOpen(hit.threadId, hit.message.id)}>
                  <span class="search-hit-meta">
                    <span class="search-hit-topic">{store.threads.get(hit.threadId)?.topic || "Conversation"}</span>
                    <span>
                      {rawId(hit.message.sender) === store.me ? "You" : hit.message.senderDisplayName || "Someone"} · {shortTime(hit.message.createdOn)}
                    </span>
                  </span>
                  <span class="search-hit-snippet">{marked(hit)}</span>
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}
    </div>
  );
}

/** The snippet as text with its highlights in <mark> (never html from the message). */
function marked(hit: ChatMessageSearchHit) {
  const parts = [];
  let at = 0;
  for (const h of hit.highlights) {
    if (h.offset < at) continue;
    parts.push(hit.snippet.slice(at, h.offset));
    parts.push(<mark>{hit.snippet.slice(h.offset, h.offset + h.length)}</mark>);
    at = h.offset + h.length;
  }
  parts.push(hit.snippet.slice(at));
  return parts;
}
