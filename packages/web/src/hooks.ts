// Preact hooks shared by the components.
import { useEffect, useState } from "preact/hooks";
import type { ChatStore } from "./chat-store";

/** Re-renders the component whenever the store changes. */
export function useStore(store: ChatStore): void {
  const [, setVersion] = useState(0);
  useEffect(() => store.subscribe(() => setVersion((v) => v + 1)), [store]);
}

/** The thread named in the URL hash (#thread=<id>), so a reload reopens it. */
export function readHashThread(): string | undefined {
  const match = /^#thread=(.+)$/.exec(window.location.hash);
  if (!match) return undefined;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return undefined;
  }
}

export function useHashThread(): [string | undefined, (id: string | undefined) => void] {
  const [threadId, setThreadId] = useState(readHashThread);
  useEffect(() => {
    const onChange = () => setThreadId(readHashThread());
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  const open = (id: string | undefined) => {
    if (id) {
      if (readHashThread() !== id) window.location.hash = `thread=${encodeURIComponent(id)}`;
    } else {
      history.replaceState(null, "", window.location.pathname + window.location.search);
    }
    setThreadId(id);
  };
  return [threadId, open];
}
