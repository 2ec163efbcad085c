// One conversation: messages (paged, older pages on scroll), own-message edit/delete, system messages,
// typing indicator, "seen by" from read receipts, composer, topic edit, participants panel, leave.
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import type { ComponentChildren, RefObject } from "preact";
import type { ChatMessage, ChatParticipant, PageSettings } from "@natter/communication-chat";
import type { ChatStore, ThreadEvent } from "./chat-store";
import { useStore } from "./hooks";
import { useDirectory } from "./new-thread";
import { errorMessage, fullTime, initials, isUserMessage, mergeMessages, messageFromEvent, rawId, sanitizeHtml, shortTime } from "./model";
import { continuesGroup } from "./grouping";
import { linkify } from "./linkify";
import type { JumpTarget } from "./jump-to-message";
import { useJumpToMessage } from "./jump-to-message";

const PAGE_SIZE = 30;
const TYPING_SHOWN_MS = 8000;

interface Receipt {
  messageId: string;
  readOn: Date;
}

interface Props {
  store: ChatStore;
  threadId: string;
  onClose: () => void;
  /** Open at this message (a search hit): see jump-to-message.ts. */
  jumpTo?: JumpTarget;
}

export function Conversation({ store, threadId, onClose, jumpTo }: Props) {
  useStore(store);
  const client = store.thread(threadId);
  const me = store.me;
  const [messages, setMessages] = useState<ChatMessage[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [loadError, setLoadError] = useState<string>();
  const [gone, setGone] = useState<string>();
  const [olderToken, setOlderToken] = useState<string>();
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [participants, setParticipants] = useState<ChatParticipant[]>([]);
  const [receipts, setReceipts] = useState<Map<string, Receipt>>(new Map());
  const [typing, setTyping] = useState<Map<string, { name: string; until: number }>>(new Map());
  const [notice, setNotice] = useState<string>();
  const [editingId, setEditingId] = useState<string>();
  const [showPeople, setShowPeople] = useState(false);
  const [editingTopic, setEditingTopic] = useState(false);
  const [confirmLeave, setConfirmLeave] = useState(false);
  const [propsTopic, setPropsTopic] = useState<string>();
  const scroller = useRef<HTMLDivElement>(null);
  const composer = useRef<HTMLTextAreaElement>(null);
  const atBottom = useRef(true);
  const restoreFromBottom = useRef<number | undefined>(undefined);
  const sentReceipt = useRef<string | undefined>(undefined);
  const messagesRef = useRef<ChatMessage[]>([]);
  messagesRef.current = messages;

  const topic = store.threads.get(threadId)?.topic ?? propsTopic ?? "";

  const fail = useCallback((e: unknown) => {
    const status = (e as { statusCode?: number }).statusCode;
    if (status === 403 || status === 404) setGone("You are not a participant of this conversation (or it no longer exists).");
    else setNotice(errorMessage(e));
  }, []);

  /** Reads the newest page; after a long gap, keeps reading until it meets a message already shown. */
  const loadLatest = useCallback(
    async (initial: boolean) => {
      const settings: PageSettings = { maxPageSize: PAGE_SIZE };
      const pages = client.listMessages().byPage(settings);
      const known = new Set(messagesRef.current.map((m) => m.id));
      const fetched: ChatMessage[] = [];
      for (let i = 0; i < 10; i++) {
        const page = await pages.next();
        if (page.done) break;
        fetched.push(...page.value);
        if (initial || known.size === 0 || page.value.some((m) => known.has(m.id))) break;
      }
      setMessages((current) => mergeMessages(current, fetched));
      if (initial) setOlderToken(settings.continuationToken);
    },
    [client],
  );

  const loadPeople = useCallback(async () => {
    const list: ChatParticipant[] = [];
    for await (const p of client.listParticipants()) list.push(p);
    setParticipants(list);
  }, [client]);

  const loadReceipts = useCallback(async () => {
    const map = new Map<string, Receipt>();
    for await (const r of client.listReadReceipts()) {
      const id = rawId(r.sender);
      const prev = id ? map.get(id) : undefined;
      if (id && (!prev || prev.readOn < r.readOn)) map.set(id, { messageId: r.chatMessageId, readOn: r.readOn });
    }
    setReceipts(map);
  }, [client]);

  const refreshAll = useCallback(
    async (initial: boolean) => {
      try {
        await Promise.all([loadLatest(initial), loadPeople(), loadReceipts()]);
        setLoadError(undefined);
      } catch (e) {
        const status = (e as { statusCode?: number }).statusCode;
        if (status === 403 || status === 404) setGone("You are not a participant of this conversation (or it no longer exists).");
        else if (initial) setLoadError(errorMessage(e));
        else setNotice(`Could not refresh: ${errorMessage(e)}`);
      } finally {
        setLoaded(true);
      }
    },
    [loadLatest, loadPeople, loadReceipts],
  );

  // First load; the topic comes from the thread list, or from the thread itself (opened by URL).
  useEffect(() => {
    void refreshAll(true);
    if (!store.threads.has(threadId)) client.getProperties().then((p) => setPropsTopic(p.topic), fail);
  }, [refreshAll]);

  // Without live events, refresh when the user comes back to the window.
  useEffect(() => {
    const onFocus = () => {
      if (store.live !== "live" || store.offline) void refreshAll(false);
    };
    window.addEventListener("focus", onFocus);
    return () => window.removeEventListener("focus", onFocus);
  }, [store, refreshAll]);

  // Realtime events of this thread.
  useEffect(() => {
    const handle = (event: ThreadEvent) => {
      if (event.name === "resync") {
        void refreshAll(false);
        return;
      }
      if (event.payload.threadId !== threadId) return;
      switch (event.name) {
        case "chatMessageReceived": {
          const e = event.payload;
          setMessages((current) => mergeMessages(current, [messageFromEvent(e)]));
          const sender = rawId(e.sender);
          if (sender) setTyping((t) => (t.has(sender) ? withoutKey(t, sender) : t));
          break;
        }
        case "chatMessageEdited": {
          const e = event.payload;
          setMessages((current) => mergeMessages(current, [{ ...messageFromEvent(e), editedOn: e.editedOn }]));
          break;
        }
        case "chatMessageDeleted": {
          const e = event.payload;
          setMessages((current) => current.map((m) => (m.id === e.id ? { ...m, deletedOn: e.deletedOn, version: e.version } : m)));
          break;
        }
        case "typingIndicatorReceived": {
          const e = event.payload;
          const sender = rawId(e.sender);
          if (!sender || sender === me) break;
          setTyping((t) => new Map(t).set(sender, { name: e.senderDisplayName || "Someone", until: Date.now() + TYPING_SHOWN_MS }));
          break;
        }
        case "readReceiptReceived": {
          const e = event.payload;
          const sender = rawId(e.sender);
          if (sender) setReceipts((r) => new Map(r).set(sender, { messageId: e.chatMessageId, readOn: e.readOn }));
          break;
        }
        case "participantsAdded":
        case "participantsRemoved":
          if (event.name === "participantsRemoved" && event.payload.participantsRemoved.some((p) => rawId(p.id) === me)) {
            setGone("You are no longer a participant of this conversation.");
            break;
          }
          void loadPeople().catch(fail);
          void loadLatest(false).catch(fail);
          break;
        case "chatThreadPropertiesUpdated":
          void loadLatest(false).catch(fail);
          break;
        case "chatThreadDeleted":
          setGone("This conversation was deleted.");
          break;
      }
    };
    return store.onThreadEvent(handle);
  }, [store, threadId, me, refreshAll, loadLatest, loadPeople, fail]);

  // Typing indicators expire.
  useEffect(() => {
    if (typing.size === 0) return;
    const next = Math.min(...[...typing.values()].map((t) => t.until));
    const timer = setTimeout(() => {
      const now = Date.now();
      setTyping((t) => new Map([...t].filter(([, v]) => v.until > now)));
    }, Math.max(0, next - Date.now()) + 50);
    return () => clearTimeout(timer);
  }, [typing]);

  // Read receipt for the newest message from someone else, while the page is visible.
  useEffect(() => {
    const send = () => {
      if (document.visibilityState !== "visible") return;
      const newest = [...messages].reverse().find((m) => isUserMessage(m) && !m.deletedOn && rawId(m.sender) !== me);
      if (!newest || sentReceipt.current === newest.id) return;
      sentReceipt.current = newest.id;
      store.markRead(threadId);
      client.sendReadReceipt({ chatMessageId: newest.id }).catch(() => {
        sentReceipt.current = undefined;
      });
    };
    send();
    document.addEventListener("visibilitychange", send);
    return () => document.removeEventListener("visibilitychange", send);
  }, [messages, client, store, threadId, me]);

  // Scrolling: stay at the bottom when already there; keep the position when older messages load.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    if (restoreFromBottom.current !== undefined) {
      el.scrollTop = el.scrollHeight - restoreFromBottom.current;
      restoreFromBottom.current = undefined;
    } else if (atBottom.current) {
      el.scrollTop = el.scrollHeight;
    }
  }, [messages, typing.size]);

  useJumpToMessage({ client, target: jumpTo, messages, setMessages, scroller, atBottom, onError: fail });

  const loadOlder = useCallback(async () => {
    if (!olderToken || loadingOlder) return;
    setLoadingOlder(true);
    try {
      const settings: PageSettings = { continuationToken: olderToken, maxPageSize: PAGE_SIZE };
      const page = await client.listMessages().byPage(settings).next();
      const el = scroller.current;
      if (el) restoreFromBottom.current = el.scrollHeight - el.scrollTop;
      if (!page.done) setMessages((current) => mergeMessages(current, page.value));
      setOlderToken(settings.continuationToken);
    } catch (e) {
      fail(e);
    } finally {
      setLoadingOlder(false);
    }
  }, [client, olderToken, loadingOlder, fail]);

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 60;
    if (el.scrollTop < 80 && olderToken && !loadingOlder) void loadOlder();
  };

  /** After the user's own action: show it now (even without live events). */
  const afterOwnAction = async (messageId?: string) => {
    if (messageId) {
      const message = await client.getMessage(messageId);
      setMessages((current) => mergeMessages(current, [message]));
      store.noteMessage(threadId, message);
    }
    if (store.live !== "live") await Promise.all([loadLatest(false), loadReceipts()]);
  };

  const send = async (text: string): Promise<boolean> => {
    try {
      atBottom.current = true;
      const result = await client.sendMessage({ content: text }, { senderDisplayName: store.session.displayName, type: "text" });
      await afterOwnAction(result.id);
      return true;
    } catch (e) {
      fail(e);
      return false;
    }
  };

  const saveEdit = async (id: string, text: string) => {
    try {
      await client.updateMessage(id, { content: text });
      setEditingId(undefined);
      await afterOwnAction(id);
    } catch (e) {
      fail(e);
    }
  };

  const remove = async (id: string) => {
    try {
      await client.deleteMessage(id);
      setMessages((current) => current.map((m) => (m.id === id ? { ...m, deletedOn: new Date() } : m)));
      if (store.threads.get(threadId)?.lastMessageId === id) void store.refreshSummary(threadId);
      await afterOwnAction();
    } catch (e) {
      fail(e);
    }
  };

  const leave = async () => {
    try {
      await client.removeParticipant({ communicationUserId: me });
      store.forget(threadId);
      onClose();
    } catch (e) {
      fail(e);
    }
  };

  const names = useMemo(() => {
    const map = new Map<string, string>();
    for (const p of participants) {
      const id = rawId(p.id);
      if (id && p.displayName) map.set(id, p.displayName);
    }
    for (const m of messages) {
      const id = rawId(m.sender);
      if (id && m.senderDisplayName && !map.has(id)) map.set(id, m.senderDisplayName);
    }
    map.set(me, store.session.displayName);
    return map;
  }, [participants, messages, me, store.session.displayName]);

  const seenBy = useMemo(() => computeSeenBy(messages, receipts, me, names), [messages, receipts, me, names]);

  if (gone) {
    return (
      <section class="conversation" aria-label="Conversation">
        <ConversationHeader title="Conversation unavailable" onClose={onClose} />
        <div class="empty-state">
          <p role="alert">{gone}</p>
          <button type="button" onClick={onClose}>
            Back to conversations
          </button>
        </div>
      </section>
    );
  }

  const typingNames = [...typing.values()].map((t) => t.name);

  return (
    <section class={`conversation${showPeople ? " with-people" : ""}`} aria-label={`Conversation: ${topic}`}>
      <ConversationHeader title={topic} onClose={onClose}>
        {editingTopic ? (
          <TopicEditor
            topic={topic}
            onCancel={() => setEditingTopic(false)}
            onSave={async (t) => {
              try {
                await client.updateTopic(t);
                store.setTopic(threadId, t);
                setPropsTopic(t);
                setEditingTopic(false);
                await afterOwnAction();
              } catch (e) {
                fail(e);
              }
            }}
          />
        ) : (
          <>
            <h2 class="conversation-title">{topic || "Untitled"}</h2>
            <button type="button" class="ghost" onClick={() => setEditingTopic(true)} aria-label="Edit topic">
              Rename
            </button>
          </>
        )}
        <button type="button" class="ghost" aria-expanded={showPeople} aria-controls="people-panel" onClick={() => setShowPeople(!showPeople)}>
          People ({participants.length})
        </button>
        {confirmLeave ? (
          <span class="confirm">
            <button type="button" class="danger" onClick={() => void leave()}>
              Leave now
            </button>
            <button type="button" onClick={() => setConfirmLeave(false)}>
              Stay
            </button>
          </span>
        ) : (
          <button type="button" class="ghost" onClick={() => setConfirmLeave(true)}>
            Leave
          </button>
        )}
      </ConversationHeader>
      {notice && (
        <div class="notice error" role="alert">
          <span>{notice}</span>
          <button type="button" class="link" onClick={() => setNotice(undefined)} aria-label="Dismiss error">
            Dismiss
          </button>
        </div>
      )}
      <div class="conversation-body">
        <div class="messages" ref={scroller} onScroll={onScroll} role="log" aria-label="Messages" aria-live="polite" tabIndex={0}>
          {!loaded && <p class="placeholder">Loading messages…</p>}
          {loadError && (
            <div class="error" role="alert">
              Could not load messages: {loadError}{" "}
              <button type="button" class="link" onClick={() => void refreshAll(true)}>
                Retry
              </button>
            </div>
          )}
          {olderToken && (
            <button type="button" class="load-older" onClick={() => void loadOlder()} disabled={loadingOlder}>
              {loadingOlder ? "Loading older messages…" : "Load older messages"}
            </button>
          )}
          {loaded && !loadError && !olderToken && messages.length > 0 && <p class="history-start">Start of the conversation</p>}
          {loaded && !loadError && messages.length === 0 && <p class="placeholder">No messages yet. Say hello!</p>}
          <ol class="message-list">
            {messages.map((m, i) =>
              isUserMessage(m) ? (
                <MessageItem
                  key={m.id}
                  message={m}
                  own={rawId(m.sender) === me}
                  continued={continuesGroup(messages[i - 1], m)}
                  seenBy={seenBy?.messageId === m.id ? seenBy.names : undefined}
                  editing={editingId === m.id}
                  onEdit={() => setEditingId(m.id)}
                  onCancelEdit={() => {
                    setEditingId(undefined);
                    composer.current?.focus();
                  }}
                  onSave={(text) => saveEdit(m.id, text)}
                  onDelete={() => remove(m.id)}
                />
              ) : (
                <SystemMessage key={m.id} message={m} names={names} me={me} />
              ),
            )}
          </ol>
        </div>
        {showPeople && (
          <PeoplePanel
            store={store}
            participants={participants}
            onClose={() => setShowPeople(false)}
            onChanged={() => {
              void loadPeople().catch(fail);
              void afterOwnAction().catch(fail);
            }}
            onLeave={() => setConfirmLeave(true)}
            fail={fail}
            threadId={threadId}
          />
        )}
      </div>
      <p class="typing" aria-live="polite">
        {typingNames.length === 1 ? `${typingNames[0]} is typing…` : typingNames.length > 1 ? `${typingNames.join(", ")} are typing…` : ""}
      </p>
      <Composer inputRef={composer} onSend={send} onTyping={() => void client.sendTypingNotification({ senderDisplayName: store.session.displayName }).catch(() => undefined)} />
    </section>
  );
}

function withoutKey<K, V>(map: Map<K, V>, key: K): Map<K, V> {
  const next = new Map(map);
  next.delete(key);
  return next;
}

/** "Seen by" belongs under the user's newest own message: everyone else whose receipt reaches it. */
function computeSeenBy(messages: ChatMessage[], receipts: Map<string, Receipt>, me: string, names: Map<string, string>): { messageId: string; names: string[] } | undefined {
  let ownIndex = -1;
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (isUserMessage(m) && !m.deletedOn && rawId(m.sender) === me) {
      ownIndex = i;
      break;
    }
  }
  if (ownIndex < 0) return undefined;
  const own = messages[ownIndex];
  const seen: string[] = [];
  for (const [reader, receipt] of receipts) {
    if (reader === me) continue;
    const index = messages.findIndex((m) => m.id === receipt.messageId);
    const reaches = index >= 0 ? index >= ownIndex : receipt.readOn >= own.createdOn;
    if (reaches) seen.push(names.get(reader) ?? "Someone");
  }
  return seen.length ? { messageId: own.id, names: seen.sort() } : undefined;
}

function ConversationHeader({ title, onClose, children }: { title: string; onClose: () => void; children?: ComponentChildren }) {
  return (
    <header class="conversation-header">
      <button type="button" class="ghost back" onClick={onClose} aria-label="Back to conversations">
        ‹ Back
      </button>
      {children ?? <h2 class="conversation-title">{title}</h2>}
    </header>
  );
}

function TopicEditor({ topic, onSave, onCancel }: { topic: string; onSave: (t: string) => Promise<void>; onCancel: () => void }) {
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

interface MessageProps {
  message: ChatMessage;
  own: boolean;
  /** Follows a message from the same sender: no avatar, and the name only for screen readers. */
  continued: boolean;
  seenBy: string[] | undefined;
  editing: boolean;
  onEdit: () => void;
  onCancelEdit: () => void;
  onSave: (text: string) => Promise<void>;
  onDelete: () => Promise<void>;
}

function MessageItem({ message: m, own, continued, seenBy, editing, onEdit, onCancelEdit, onSave, onDelete }: MessageProps) {
  const [confirmDelete, setConfirmDelete] = useState(false);
  const html = useMemo(() => (m.type === "html" && !m.deletedOn ? sanitizeHtml(m.content?.message ?? "") : undefined), [m.type, m.deletedOn, m.content?.message]);
  const editButton = useRef<HTMLButtonElement>(null);
  const sender = own ? "You" : (m.senderDisplayName ?? "Someone");
  return (
    <li class={`message ${own ? "own" : "other"}${continued ? " continued" : ""}${m.deletedOn ? " deleted" : ""}`} data-message-id={m.id}>
      {!own &&
        (continued ? (
          <span class="avatar-gap" aria-hidden="true" />
        ) : (
          <span class="avatar small" aria-hidden="true">
            {initials(m.senderDisplayName)}
          </span>
        ))}
      <div class="bubble">
        <div class="meta">
          <span class={continued ? "sender visually-hidden" : "sender"}>{sender}</span>
          <time dateTime={m.createdOn.toISOString()} title={fullTime(m.createdOn)}>
            {shortTime(m.createdOn)}
          </time>
          {m.editedOn && !m.deletedOn && <span class="edited">(edited)</span>}
        </div>
        {m.deletedOn ? (
          <p class="content deleted-text">This message was deleted.</p>
        ) : editing ? (
          <EditBox initial={m.content?.message ?? ""} onSave={onSave} onCancel={onCancelEdit} />
        ) : html !== undefined ? (
          <div class="content html" dangerouslySetInnerHTML={{ __html: html }} />
        ) : (
          <p class="content">{linkify(m.content?.message ?? "")}</p>
        )}
        {own && !m.deletedOn && !editing && (
          <div class="actions">
            {confirmDelete ? (
              <>
                <span>Delete this message?</span>
                <button type="button" class="danger" onClick={() => void onDelete()}>
                  Delete
                </button>
                <button
                  type="button"
                  onClick={() => {
                    setConfirmDelete(false);
                    editButton.current?.focus();
                  }}
                >
                  Keep
                </button>
              </>
            ) : (
              <>
                {m.type === "text" && (
                  <button type="button" class="ghost" ref={editButton} onClick={onEdit} aria-label={`Edit message: ${m.content?.message ?? ""}`}>
                    Edit
                  </button>
                )}
                <button type="button" class="ghost" onClick={() => setConfirmDelete(true)} aria-label={`Delete message: ${m.content?.message ?? ""}`}>
                  Delete
                </button>
              </>
            )}
          </div>
        )}
        {seenBy && <p class="seen-by">Seen by {seenBy.join(", ")}</p>}
      </div>
    </li>
  );
}

function EditBox({ initial, onSave, onCancel }: { initial: string; onSave: (text: string) => Promise<void>; onCancel: () => void }) {
  const [value, setValue] = useState(initial);
  const area = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    const el = area.current;
    if (el) {
      el.focus();
      el.setSelectionRange(el.value.length, el.value.length);
    }
  }, []);
  const save = () => {
    const text = value.trim();
    if (!text) return;
    if (text === initial) onCancel();
    else void onSave(text);
  };
  return (
    <div class="edit-box">
      <textarea
        ref={area}
        value={value}
        rows={2}
        aria-label="Edit message"
        onInput={(e) => setValue(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === "Escape") {
            e.preventDefault();
            onCancel();
          } else if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            save();
          }
        }}
      />
      <div class="actions">
        <button type="button" class="primary" onClick={save}>
          Save
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <span class="muted hint">Enter to save, Escape to cancel</span>
      </div>
    </div>
  );
}

function SystemMessage({ message: m, names, me }: { message: ChatMessage; names: Map<string, string>; me: string }) {
  const nameOf = (id: string | undefined, fallback?: string) => (id === me ? "You" : ((id && names.get(id)) ?? fallback ?? "Someone"));
  const initiatorId = rawId(m.content?.initiator);
  const initiator = nameOf(initiatorId);
  const people = (m.content?.participants ?? []).map((p) => ({ id: rawId(p.id), name: nameOf(rawId(p.id), p.displayName) }));
  const others = people.filter((p) => p.id !== initiatorId);
  let text: string;
  switch (m.type) {
    case "participantAdded":
      text = others.length === 0 ? `${initiator} joined` : `${initiator} added ${others.map((p) => p.name).join(", ")}`;
      break;
    case "participantRemoved":
      text = others.length === 0 ? `${initiator} left` : `${initiator} removed ${others.map((p) => p.name).join(", ")}`;
      break;
    case "topicUpdated":
      text = `${initiator} changed the topic to “${m.content?.topic ?? ""}”`;
      break;
    default:
      text = m.type;
  }
  return (
    <li class="system-message" data-message-id={m.id}>
      <span>{text}</span> <time dateTime={m.createdOn.toISOString()}>{shortTime(m.createdOn)}</time>
    </li>
  );
}

function Composer({ onSend, onTyping, inputRef }: { onSend: (text: string) => Promise<boolean>; onTyping: () => void; inputRef: RefObject<HTMLTextAreaElement | null> }) {
  const [value, setValue] = useState("");
  const [sending, setSending] = useState(false);
  useEffect(() => inputRef.current?.focus(), [inputRef]);
  const submit = async () => {
    const text = value.trim();
    if (!text || sending) return;
    setSending(true);
    setValue("");
    const ok = await onSend(text);
    if (!ok) setValue(text);
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
      <textarea
        ref={inputRef}
        value={value}
        rows={1}
        placeholder="Write a message"
        aria-label="Message"
        onInput={(e) => {
          setValue(e.currentTarget.value);
          if (e.currentTarget.value.trim()) onTyping();
        }}
        onKeyDown={(e) => {
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

interface PeopleProps {
  store: ChatStore;
  threadId: string;
  participants: ChatParticipant[];
  onClose: () => void;
  onChanged: () => void;
  onLeave: () => void;
  fail: (e: unknown) => void;
}

function PeoplePanel({ store, threadId, participants, onClose, onChanged, onLeave, fail }: PeopleProps) {
  const { users, error } = useDirectory(store);
  const [toAdd, setToAdd] = useState("");
  const [busy, setBusy] = useState(false);
  const client = store.thread(threadId);
  const inThread = new Set(participants.map((p) => rawId(p.id)));
  const candidates = (users ?? []).filter((u) => !inThread.has(u.userId));
  const act = async (action: () => Promise<unknown>) => {
    setBusy(true);
    try {
      await action();
      onChanged();
    } catch (e) {
      fail(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <aside class="people" id="people-panel" aria-label="People in this conversation">
      <div class="people-head">
        <h3>People</h3>
        <button type="button" class="ghost" onClick={onClose} aria-label="Close people panel">
          Close
        </button>
      </div>
      <ul class="people-list">
        {participants.map((p) => {
          const id = rawId(p.id);
          const mine = id === store.me;
          return (
            <li key={id}>
              <span class="avatar small" aria-hidden="true">
                {initials(p.displayName)}
              </span>
              <span class="person-name">
                {p.displayName ?? id}
                {mine && <span class="muted"> (you)</span>}
              </span>
              {mine ? (
                <button type="button" class="ghost" onClick={onLeave}>
                  Leave
                </button>
              ) : (
                <button type="button" class="ghost" disabled={busy} aria-label={`Remove ${p.displayName ?? id}`} onClick={() => void act(() => client.removeParticipant(p.id))}>
                  Remove
                </button>
              )}
            </li>
          );
        })}
      </ul>
      <form
        class="add-person"
        onSubmit={(e) => {
          e.preventDefault();
          const user = candidates.find((u) => u.userId === toAdd);
          if (!user) return;
          void act(async () => {
            const result = await client.addParticipants({
              participants: [{ id: { communicationUserId: user.userId }, displayName: user.displayName, shareHistoryTime: new Date(0) }],
            });
            if (result.invalidParticipants?.length) throw new Error(`Could not add ${user.displayName}.`);
            setToAdd("");
          });
        }}
      >
        <label for="add-person">Add someone</label>
        {error && <p class="error">{error}</p>}
        {users === undefined && !error && <p class="placeholder">Loading people…</p>}
        {users && candidates.length === 0 && <p class="placeholder">Everyone in the directory is already here.</p>}
        {candidates.length > 0 && (
          <div class="row">
            <select id="add-person" value={toAdd} onChange={(e) => setToAdd(e.currentTarget.value)}>
              <option value="">Choose a person…</option>
              {candidates.map((u) => (
                <option key={u.userId} value={u.userId}>
                  {u.displayName}
                </option>
              ))}
            </select>
            <button type="submit" class="primary" disabled={busy || !toAdd}>
              Add
            </button>
          </div>
        )}
      </form>
    </aside>
  );
}
