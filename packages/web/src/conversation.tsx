// One conversation: its state and effects (messages paged, older pages on scroll, realtime events, typing,
// read receipts, own actions) and its layout. The pieces live beside it: message-item.tsx (a message),
// composer.tsx and mention-picker.tsx (writing, @mentions), conversation-header.tsx (title, topic edit),
// people-panel.tsx (participants), seen-by.ts ("seen by").
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import type { ChatMessage, ChatParticipant, PageSettings } from "@natter/communication-chat";
import type { ChatStore, ThreadEvent } from "./chat-store";
import { useStore } from "./hooks";
import { errorMessage, isUserMessage, mergeMessages, messageFromEvent, rawId } from "./model";
import { continuesGroup } from "./grouping";
import { Composer } from "./composer";
import { ConversationHeader, TopicEditor } from "./conversation-header";
import { MessageItem, SystemMessage } from "./message-item";
import { PeoplePanel } from "./people-panel";
import type { Receipt } from "./seen-by";
import { computeSeenBy } from "./seen-by";
import type { JumpTarget } from "./jump-to-message";
import { useJumpToMessage } from "./jump-to-message";

const PAGE_SIZE = 30;
const TYPING_SHOWN_MS = 8000;

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

  const send = async (content: string, type: "text" | "html"): Promise<boolean> => {
    try {
      atBottom.current = true;
      const result = await client.sendMessage({ content }, { senderDisplayName: store.session.displayName, type });
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
      if (store.threads.get(threadId)?.lastMessageId === id) store.refreshSummary(threadId);
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

  /** The other participants, for the composer's @-picker. */
  const mentionable = useMemo(
    () => participants.flatMap((p) => (rawId(p.id) && rawId(p.id) !== me ? [{ id: rawId(p.id)!, name: p.displayName || "Someone" }] : [])),
    [participants, me],
  );

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
                  me={me}
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
      <Composer inputRef={composer} onSend={send} people={mentionable} onTyping={() => void client.sendTypingNotification({ senderDisplayName: store.session.displayName }).catch(() => undefined)} />
    </section>
  );
}

function withoutKey<K, V>(map: Map<K, V>, key: K): Map<K, V> {
  const next = new Map(map);
  next.delete(key);
  return next;
}
