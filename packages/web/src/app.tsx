// The app: demo sign-in, then the shell (thread list + open conversation), with the live-update state.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { Session } from "./session";
import { clearSession, loadRecentNames, loadSession, saveSession, signIn } from "./session";
import { ChatStore } from "./chat-store";
import type { ThreadSummary } from "./chat-store";
import { useHashThread, useStore } from "./hooks";
import { errorMessage, initials, shortTime } from "./model";
import { Conversation } from "./conversation";
import { NewThreadDialog } from "./new-thread";
import { SearchPanel } from "./search-panel";
import type { JumpTarget } from "./jump-to-message";

export function App() {
  const [session, setSession] = useState<Session | undefined>(loadSession);
  if (!session) {
    return (
      <SignIn
        onSignedIn={(s) => {
          saveSession(s);
          setSession(s);
        }}
      />
    );
  }
  return (
    <Shell
      key={session.userId}
      session={session}
      onSignOut={() => {
        clearSession();
        history.replaceState(null, "", window.location.pathname);
        setSession(undefined);
      }}
    />
  );
}

function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const recent = useMemo(loadRecentNames, []);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);

  const go = async (displayName: string) => {
    const trimmed = displayName.trim();
    if (!trimmed) {
      setError("Enter a display name.");
      input.current?.focus();
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      onSignedIn(await signIn(trimmed));
    } catch (e) {
      setError(errorMessage(e));
      setBusy(false);
    }
  };

  return (
    <main class="sign-in">
      <div class="sign-in-card">
        <h1 class="brand">
          <span class="brand-mark" aria-hidden="true" />
          Natter
        </h1>
        <p class="muted">Sign in to chat. This demo sign-in stands in for your app's own sign-in and token service.</p>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void go(name);
          }}
        >
          <label for="display-name">Display name</label>
          <input
            id="display-name"
            ref={input}
            value={name}
            maxLength={64}
            autoComplete="nickname"
            onInput={(e) => setName(e.currentTarget.value)}
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? "sign-in-error" : undefined}
          />
          <button type="submit" class="primary" disabled={busy}>
            {busy ? "Signing in…" : "Sign in"}
          </button>
        </form>
        {error && (
          <p id="sign-in-error" class="error" role="alert">
            {error}
          </p>
        )}
        {recent.length > 0 && (
          <section class="recent" aria-labelledby="recent-heading">
            <h2 id="recent-heading">Signed in here before</h2>
            <ul>
              {recent.map((n) => (
                <li key={n}>
                  <button type="button" disabled={busy} onClick={() => void go(n)}>
                    <span class="avatar" aria-hidden="true">
                      {initials(n)}
                    </span>
                    Continue as {n}
                  </button>
                </li>
              ))}
            </ul>
          </section>
        )}
      </div>
    </main>
  );
}

function LiveBadge({ store }: { store: ChatStore }) {
  const state = store.offline ? "offline" : store.live;
  const text = { offline: "Offline", connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…" }[state];
  return (
    <span class={`live-badge live-${state}`} role="status" aria-label={`Connection: ${text}`} data-state={state}>
      <span class="dot" aria-hidden="true" />
      <span class="label">{text}</span>
    </span>
  );
}

function Shell({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const store = useMemo(() => new ChatStore(session), [session]);
  useStore(store);
  const [activeId, setActiveId] = useHashThread();
  const [jump, setJump] = useState<JumpTarget & { threadId: string }>();
  const [creating, setCreating] = useState(false);
  const newButton = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    void store.start();
    return () => void store.stop();
  }, [store]);
  useEffect(() => store.setActive(activeId), [store, activeId]);
  // The tab title shows the unread total, so a background tab says there is something to read.
  const total = store.totalUnread();
  useEffect(() => {
    document.title = total > 0 ? `(${total > 999 ? "999+" : total}) Natter` : "Natter";
  }, [total]);
  useEffect(() => () => void (document.title = "Natter"), []);

  const banner =
    store.offline || store.live === "reconnecting" ? (
      <div class="banner warn" role="status">
        {store.offline ? "You are offline." : "Connection lost."} Reconnecting… Messages sent meanwhile will appear once you are back.
      </div>
    ) : null;

  return (
    <div class={`shell${activeId ? " has-thread" : ""}`}>
      <header class="topbar">
        <h1 class="brand">
          <span class="brand-mark" aria-hidden="true" />
          Natter
        </h1>
        <LiveBadge store={store} />
        <span class="spacer" />
        <span class="me" title={session.userId}>
          <span class="avatar small" aria-hidden="true">
            {initials(session.displayName)}
          </span>
          <span class="me-name">{session.displayName}</span>
        </span>
        <button
          type="button"
          onClick={() => {
            void store.stop();
            onSignOut();
          }}
        >
          Sign out
        </button>
      </header>
      {banner}
      <div class="panes">
        <nav class="sidebar" aria-label="Conversations">
          <div class="sidebar-head">
            <h2>Conversations</h2>
            <button type="button" class="primary" ref={newButton} onClick={() => setCreating(true)} aria-label="New conversation">
              + New
            </button>
          </div>
          <SearchPanel
            store={store}
            onOpen={(threadId, messageId) => {
              setJump((j) => ({ threadId, messageId, nonce: (j?.nonce ?? 0) + 1 }));
              setActiveId(threadId);
            }}
          />
          <ThreadList store={store} activeId={activeId} onOpen={setActiveId} />
        </nav>
        <main class="main">
          {activeId ? (
            <Conversation
              key={activeId}
              store={store}
              threadId={activeId}
              onClose={() => setActiveId(undefined)}
              jumpTo={jump?.threadId === activeId ? jump : undefined}
            />
          ) : (
            <div class="empty-state">
              <p>Select a conversation, or start a new one.</p>
            </div>
          )}
        </main>
      </div>
      {creating && (
        <NewThreadDialog
          store={store}
          onClose={(threadId) => {
            setCreating(false);
            if (threadId) setActiveId(threadId);
            else newButton.current?.focus();
          }}
        />
      )}
    </div>
  );
}

function ThreadList({ store, activeId, onOpen }: { store: ChatStore; activeId: string | undefined; onOpen: (id: string) => void }) {
  if (!store.threadsLoaded) return <p class="placeholder">Loading conversations…</p>;
  const threads = store.sortedThreads();
  return (
    <>
      {store.threadsError && (
        <div class="error" role="alert">
          {store.threadsError}{" "}
          <button type="button" class="link" onClick={() => void store.loadThreads()}>
            Retry
          </button>
        </div>
      )}
      {threads.length === 0 && !store.threadsError ? (
        <p class="placeholder">No conversations yet. Start one with “New conversation”.</p>
      ) : (
        <ul class="thread-list">
          {threads.map((t) => (
            <ThreadRow key={t.id} thread={t} active={t.id === activeId} onOpen={onOpen} />
          ))}
        </ul>
      )}
    </>
  );
}

function ThreadRow({ thread, active, onOpen }: { thread: ThreadSummary; active: boolean; onOpen: (id: string) => void }) {
  const label = `${thread.topic || "Untitled"}${thread.unread ? `, ${thread.unread} unread` : ""}${thread.mentions ? `, ${thread.mentions} mentioning you` : ""}${thread.lastMessage ? `, last message from ${thread.lastSender}: ${thread.lastMessage}` : ""}`;
  return (
    <li>
      <button
        type="button"
        class={`thread-row${active ? " active" : ""}${thread.unread ? " unread" : ""}`}
        aria-current={active ? "true" : undefined}
        aria-label={label}
        data-thread-id={thread.id}
        onClick={() => onOpen(thread.id)}
      >
        <span class="avatar" aria-hidden="true">
          {initials(thread.topic)}
        </span>
        <span class="thread-text">
          <span class="thread-line">
            <span class="thread-topic">{thread.topic || "Untitled"}</span>
            <span class="thread-time">{shortTime(thread.lastActivity)}</span>
          </span>
          <span class="thread-line">
            <span class="thread-preview">{thread.lastMessage ? `${thread.lastSender}: ${thread.lastMessage}` : "No messages yet"}</span>
            {thread.mentions > 0 && (
              <span class="mention-badge" title={`${thread.mentions} mentioning you`}>
                @
              </span>
            )}
            {thread.unread > 0 && <span class="unread-badge">{thread.unread > 99 ? "99+" : thread.unread}</span>}
          </span>
        </span>
      </button>
    </li>
  );
}
