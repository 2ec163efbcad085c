// ChatStore: one signed-in user's ChatClient, the thread list (last activity, last message, unread count),
// the realtime connection state, and a fan-out of realtime events to the open conversation. After a lost
// connection (or the browser coming back online) it re-reads the thread list and asks the conversation to
// re-read its latest page, so nothing sent meanwhile is missed.
import { ChatClient } from "@natter/communication-chat";
import type { ChatEventMap, ChatMessage, ChatThreadClient, ChatThreadItem } from "@natter/communication-chat";
import { AzureCommunicationTokenCredential } from "@natter/communication-common";
import type { Session } from "./session";
import { ENDPOINT, INSECURE, saveSession, signIn } from "./session";
import { errorMessage, isUserMessage, messageFromEvent, previewText, rawId } from "./model";

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
}

/** What the open conversation hears: SDK events of its thread, and "resync" after a reconnect. */
export type ThreadEvent =
  | { [K in keyof ChatEventMap]: { name: K; payload: ChatEventMap[K] } }[Exclude<keyof ChatEventMap, "realTimeNotificationConnected" | "realTimeNotificationDisconnected">]
  | { name: "resync"; payload: undefined };

const SUMMARY_PAGE = 20;

async function firstPage<T>(pages: AsyncIterableIterator<T[]>): Promise<T[]> {
  const first = await pages.next();
  return first.done ? [] : first.value;
}

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

  async loadThreads(): Promise<void> {
    try {
      const items: ChatThreadItem[] = [];
      for await (const item of this.client.listChatThreads({ maxPageSize: 100 })) {
        if (!item.deletedOn) items.push(item);
        if (items.length >= 200) break;
      }
      const ids = new Set(items.map((t) => t.id));
      for (const id of this.threads.keys()) if (!ids.has(id)) this.threads.delete(id);
      await Promise.all(items.map((item) => this.refreshSummary(item.id, item)));
      this.threadsError = undefined;
    } catch (error) {
      if (this.stopped) return;
      this.threadsError = `Could not load your conversations: ${errorMessage(error)}`;
    }
    this.threadsLoaded = true;
    this.changed();
  }

  /** Reads a thread's latest messages and the user's read receipt: last message and unread count. */
  async refreshSummary(threadId: string, item?: Pick<ChatThreadItem, "topic" | "lastMessageReceivedOn">): Promise<void> {
    const client = this.thread(threadId);
    try {
      const [page, receipts, topic] = await Promise.all([
        firstPage(client.listMessages({ maxPageSize: SUMMARY_PAGE }).byPage()),
        firstPage(client.listReadReceipts().byPage()),
        item ? Promise.resolve(item.topic) : client.getProperties().then((p) => p.topic),
      ]);
      if (this.stopped) return;
      const last = page.find(isUserMessage);
      const mine = receipts.find((r) => rawId(r.sender) === this.me);
      const readMessage = mine ? page.find((m) => m.id === mine.chatMessageId) : undefined;
      const unreadMessages = page.filter((m) => {
        if (!isUserMessage(m) || m.deletedOn || rawId(m.sender) === this.me) return false;
        if (!mine) return true;
        if (readMessage) return Number(m.sequenceId) > Number(readMessage.sequenceId);
        return m.createdOn > mine.readOn;
      });
      const times = [item?.lastMessageReceivedOn, page[0]?.createdOn].filter((d): d is Date => !!d).map((d) => d.getTime());
      this.threads.set(threadId, {
        id: threadId,
        topic,
        lastActivity: times.length ? new Date(Math.max(...times)) : undefined,
        lastMessageId: last?.id,
        lastMessage: last ? previewText(last) : undefined,
        lastSender: last ? this.senderName(last) : undefined,
        unread: this.isReading(threadId) ? 0 : unreadMessages.length,
      });
    } catch (error) {
      // 403/404: no longer a participant, or the thread is gone.
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 403 || status === 404) this.threads.delete(threadId);
      else throw error;
    }
    this.changed();
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
    if (summary && summary.unread !== 0) {
      summary.unread = 0;
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
        void this.refreshSummary(e.threadId);
      } else {
        const message = messageFromEvent(e);
        this.noteMessage(e.threadId, message);
        if (rawId(e.sender) !== this.me && !this.isReading(e.threadId)) summary.unread++;
        this.changed();
      }
      this.forward({ name: "chatMessageReceived", payload: e });
    });
    c.on("chatMessageEdited", (e) => {
      const summary = this.threads.get(e.threadId);
      if (summary?.lastMessageId === e.id) {
        summary.lastMessage = previewText({ ...messageFromEvent(e), editedOn: e.editedOn });
        this.changed();
      }
      this.forward({ name: "chatMessageEdited", payload: e });
    });
    c.on("chatMessageDeleted", (e) => {
      if (this.threads.get(e.threadId)?.lastMessageId === e.id) void this.refreshSummary(e.threadId);
      this.forward({ name: "chatMessageDeleted", payload: e });
    });
    c.on("typingIndicatorReceived", (e) => this.forward({ name: "typingIndicatorReceived", payload: e }));
    c.on("readReceiptReceived", (e) => this.forward({ name: "readReceiptReceived", payload: e }));
    c.on("chatThreadCreated", (e) => {
      void this.refreshSummary(e.threadId, { topic: e.properties.topic, lastMessageReceivedOn: e.createdOn });
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
      if (!this.threads.has(e.threadId) && e.participantsAdded.some((p) => rawId(p.id) === this.me)) void this.refreshSummary(e.threadId);
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
