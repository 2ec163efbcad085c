// ChatStore: one signed-in user's ChatClient, the thread list (last activity, last message, unread and mention
// counts from Natter's extension, kept current by realtime events),
// the realtime connection state, and a fan-out of realtime events to the open conversation. After a lost
// connection (or the browser coming back online) it re-reads the thread list and asks the conversation to
// re-read its latest page, so nothing sent meanwhile is missed.
import { ChatClient } from "@natter/communication-chat";
import type { ChatEventMap, ChatMessage, ChatThreadClient, ChatThreadItem } from "@natter/communication-chat";
import { AzureCommunicationTokenCredential } from "@natter/communication-common";
import type { Session } from "./session";
import { ENDPOINT, INSECURE, saveSession, signIn } from "./session";
import { errorMessage, messageFromEvent, previewText, rawId } from "./model";

/** connecting: first connection; live: events flow; reconnecting: lost, retrying. */
export type LiveState = "connecting" | "live" | "reconnecting";

export interface ThreadSummary {
  id: string;
  topic: string;
  lastActivity?: Date;
  lastMessageId?: string;
  lastMessage?: string;
  lastSender?: string;
  unread: number;
  /** Unread messages that mention the user. */
  mentions: number;
}

/** What the open conversation hears: SDK events of its thread, and "resync" after a reconnect. */
export type ThreadEvent =
  | { [K in keyof ChatEventMap]: { name: K; payload: ChatEventMap[K] } }[Exclude<keyof ChatEventMap, "realTimeNotificationConnected" | "realTimeNotificationDisconnected">]
  | { name: "resync"; payload: undefined };

export class ChatStore {
  readonly client: ChatClient;
  readonly me: string;
  threads = new Map<string, ThreadSummary>();
  threadsLoaded = false;
  threadsError: string | undefined;
  live: LiveState = "connecting";
  offline = !navigator.onLine;
  activeThreadId: string | undefined;
  private readonly credential: AzureCommunicationTokenCredential;
  private readonly threadClients = new Map<string, ChatThreadClient>();
  private readonly listeners = new Set<() => void>();
  private readonly threadListeners = new Set<(e: ThreadEvent) => void>();
  private stopped = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private retryDelay = 1000;

  constructor(public session: Session) {
    this.me = session.userId;
    // The demo sign-in is the token service: a fresh token for the same display name is the same user.
    this.credential = new AzureCommunicationTokenCredential({
      token: session.token,
      refreshProactively: true,
      tokenRefresher: async () => {
        const renewed = await signIn(this.session.displayName);
        if (renewed.userId === this.me) {
          this.session = renewed;
          saveSession(renewed);
        }
        return renewed.token;
      },
    });
    this.client = new ChatClient(ENDPOINT, this.credential, { allowInsecureConnection: INSECURE });
  }

  /** The (cached) thread client: one per thread, so the SDK's typing-notification throttle holds. */
  thread(threadId: string): ChatThreadClient {
    let client = this.threadClients.get(threadId);
    if (!client) this.threadClients.set(threadId, (client = this.client.getChatThreadClient(threadId)));
    return client;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onThreadEvent(listener: (e: ThreadEvent) => void): () => void {
    this.threadListeners.add(listener);
    return () => this.threadListeners.delete(listener);
  }

  private changed(): void {
    for (const listener of [...this.listeners]) listener();
  }

  private forward(event: ThreadEvent): void {
    for (const listener of [...this.threadListeners]) listener(event);
  }

  /** Threads, most recent activity first. */
  sortedThreads(): ThreadSummary[] {
    return [...this.threads.values()].sort((a, b) => (b.lastActivity?.getTime() ?? 0) - (a.lastActivity?.getTime() ?? 0) || a.topic.localeCompare(b.topic));
  }

  async start(): Promise<void> {
    window.addEventListener("online", this.handleOnline);
    window.addEventListener("offline", this.handleOffline);
    window.addEventListener("focus", this.handleFocus);
    await Promise.all([this.loadThreads(), this.startRealtime()]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    window.removeEventListener("online", this.handleOnline);
    window.removeEventListener("offline", this.handleOffline);
    window.removeEventListener("focus", this.handleFocus);
    this.listeners.clear();
    this.threadListeners.clear();
    try {
      await this.client.stopRealtimeNotifications();
    } catch {
      // already stopped
    }
    this.credential.dispose();
  }

  private readonly handleOnline = (): void => {
    this.offline = false;
    this.changed();
    void this.resync();
  };

  /** Without live events, the thread list refreshes when the user returns to the window. */
  private readonly handleFocus = (): void => {
    if (this.live !== "live" && !this.offline) void this.loadThreads();
  };

  private readonly handleOffline = (): void => {
    this.offline = true;
    this.changed();
  };

  /** Re-reads everything that may have changed while events could not arrive. */
  async resync(): Promise<void> {
    if (this.stopped) return;
    this.forward({ name: "resync", payload: undefined });
    await this.loadThreads();
  }

  /**
   * Reads the thread list with the user's unread counts and last messages (one request per 100 threads: the
   * SDK's listChatThreads calls Natter's extension route, docs/extensions.md).
   */
  async loadThreads(): Promise<void> {
    try {
      const items: ChatThreadItem[] = [];
      for await (const item of this.client.listChatThreads({ maxPageSize: 100 })) {
        if (!item.deletedOn) items.push(item);
        if (items.length >= 200) break;
      }
      if (this.stopped) return;
      const ids = new Set(items.map((t) => t.id));
      for (const id of this.threads.keys()) if (!ids.has(id)) this.threads.delete(id);
      for (const item of items) this.threads.set(item.id, this.summaryOf(item));
      this.threadsError = undefined;
    } catch (error) {
      if (this.stopped) return;
      this.threadsError = `Could not load your conversations: ${errorMessage(error)}`;
    }
    this.threadsLoaded = true;
    this.changed();
  }

  private summaryOf(item: ChatThreadItem): ThreadSummary {
    const last = item.lastMessage;
    const reading = this.isReading(item.id);
    const times = [item.lastMessageReceivedOn, last?.createdOn].filter((d): d is Date => !!d).map((d) => d.getTime());
    return {
      id: item.id,
      topic: item.topic,
      lastActivity: times.length ? new Date(Math.max(...times)) : this.threads.get(item.id)?.lastActivity,
      lastMessageId: last?.id,
      lastMessage: last?.preview,
      lastSender: last ? (rawId(last.sender) === this.me ? "You" : last.senderDisplayName || "Someone") : undefined,
      unread: reading ? 0 : (item.unreadCount ?? 0),
      mentions: reading ? 0 : (item.unreadMentionCount ?? 0),
    };
  }

  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  /** Re-reads the thread list soon (several changes in a burst share one request). */
  refreshSummary(_threadId?: string): void {
    if (this.refreshTimer !== undefined || this.stopped) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      void this.loadThreads();
    }, 150);
  }

  /** Unread messages over all conversations (the tab title shows it). */
  totalUnread(): number {
    let total = 0;
    for (const t of this.threads.values()) total += t.unread;
    return total;
  }

  private senderName(m: ChatMessage): string {
    return rawId(m.sender) === this.me ? "You" : (m.senderDisplayName ?? "Someone");
  }

  /** Whether the user is looking at this thread right now. */
  isReading(threadId: string): boolean {
    return this.activeThreadId === threadId && document.visibilityState === "visible";
  }

  setActive(threadId: string | undefined): void {
    this.activeThreadId = threadId;
    if (threadId) this.markRead(threadId);
    this.changed();
  }

  markRead(threadId: string): void {
    const summary = this.threads.get(threadId);
    if (summary && (summary.unread !== 0 || summary.mentions !== 0)) {
      summary.unread = 0;
      summary.mentions = 0;
      this.changed();
    }
  }

  /** Removes a thread locally (after leaving it). */
  forget(threadId: string): void {
    this.threads.delete(threadId);
    this.threadClients.delete(threadId);
    if (this.activeThreadId === threadId) this.activeThreadId = undefined;
    this.changed();
  }

  /** Records a message the user just sent or received outside events (keeps the list order right). */
  noteMessage(threadId: string, message: ChatMessage): void {
    const summary = this.threads.get(threadId);
    if (!summary) return;
    summary.lastActivity = message.createdOn;
    summary.lastMessageId = message.id;
    summary.lastMessage = previewText(message);
    summary.lastSender = this.senderName(message);
    this.changed();
  }

  setTopic(threadId: string, topic: string): void {
    const summary = this.threads.get(threadId);
    if (summary) {
      summary.topic = topic;
      this.changed();
    }
  }

  private async startRealtime(): Promise<void> {
    this.client.on("realTimeNotificationConnected", this.handleConnected);
    this.client.on("realTimeNotificationDisconnected", this.handleDisconnected);
    try {
      await this.client.startRealtimeNotifications();
    } catch {
      if (this.stopped) return;
      // The first connection failed (server or network down): keep trying, and say so.
      this.live = "reconnecting";
      this.retryTimer = setTimeout(() => void this.startRealtime(), this.retryDelay);
      this.retryDelay = Math.min(this.retryDelay * 2, 30_000);
      this.changed();
      return;
    }
    this.retryDelay = 1000;
    this.subscribeEvents();
    const wasDown = this.live === "reconnecting";
    this.live = "live";
    this.changed();
    if (wasDown) await this.resync();
  }

  private subscribed = false;
  private subscribeEvents(): void {
    if (this.subscribed) return;
    this.subscribed = true;
    const c = this.client;
    c.on("chatMessageReceived", (e) => {
      const summary = this.threads.get(e.threadId);
      if (!summary) {
        this.refreshSummary(e.threadId);
      } else {
        const message = messageFromEvent(e);
        this.noteMessage(e.threadId, message);
        if (rawId(e.sender) !== this.me && !this.isReading(e.threadId)) {
          summary.unread++;
          if (e.mentioned) summary.mentions++;
        }
        this.changed();
      }
      this.forward({ name: "chatMessageReceived", payload: e });
    });
    c.on("chatMessageEdited", (e) => {
      const summary = this.threads.get(e.threadId);
      // An edit may add or remove a mention of the user.
      if (rawId(e.sender) !== this.me && !this.isReading(e.threadId)) this.refreshSummary(e.threadId);
      if (summary?.lastMessageId === e.id) {
        summary.lastMessage = previewText({ ...messageFromEvent(e), editedOn: e.editedOn });
        this.changed();
      }
      this.forward({ name: "chatMessageEdited", payload: e });
    });
    c.on("chatMessageDeleted", (e) => {
      // The last message or an unread one may be gone: the counts come from the server.
      if (rawId(e.sender) !== this.me || this.threads.get(e.threadId)?.lastMessageId === e.id) this.refreshSummary(e.threadId);
      this.forward({ name: "chatMessageDeleted", payload: e });
    });
    c.on("typingIndicatorReceived", (e) => this.forward({ name: "typingIndicatorReceived", payload: e }));
    c.on("readReceiptReceived", (e) => this.forward({ name: "readReceiptReceived", payload: e }));
    // The user read in another tab (or here): the server's new counts.
    c.on("unreadCountChanged", (e) => {
      const summary = this.threads.get(e.threadId);
      if (summary && (summary.unread !== e.unreadCount || summary.mentions !== e.unreadMentionCount)) {
        summary.unread = this.isReading(e.threadId) ? 0 : e.unreadCount;
        summary.mentions = this.isReading(e.threadId) ? 0 : e.unreadMentionCount;
        this.changed();
      }
    });
    c.on("chatThreadCreated", (e) => {
      this.refreshSummary(e.threadId);
      this.forward({ name: "chatThreadCreated", payload: e });
    });
    c.on("chatThreadDeleted", (e) => {
      this.forget(e.threadId);
      this.forward({ name: "chatThreadDeleted", payload: e });
    });
    c.on("chatThreadPropertiesUpdated", (e) => {
      this.setTopic(e.threadId, e.properties.topic);
      this.forward({ name: "chatThreadPropertiesUpdated", payload: e });
    });
    c.on("participantsAdded", (e) => {
      if (!this.threads.has(e.threadId) && e.participantsAdded.some((p) => rawId(p.id) === this.me)) this.refreshSummary(e.threadId);
      this.forward({ name: "participantsAdded", payload: e });
    });
    c.on("participantsRemoved", (e) => {
      if (e.participantsRemoved.some((p) => rawId(p.id) === this.me)) this.forget(e.threadId);
      this.forward({ name: "participantsRemoved", payload: e });
    });
  }

  private readonly handleConnected = (): void => {
    if (this.stopped) return;
    const wasDown = this.live === "reconnecting";
    this.live = "live";
    this.changed();
    if (wasDown) void this.resync();
  };

  private readonly handleDisconnected = (): void => {
    if (this.stopped) return;
    this.live = "reconnecting";
    this.changed();
  };
}
