// ChatClient: thread creation, listing and deletion, thread clients, and realtime notifications
// (listeners and start/stop state here; the connection itself behind the RealtimeTransport seam).
import type { CommunicationTokenCredential, PagedAsyncIterableIterator, PageSettings } from "@natter/communication-common";
import { createPagedAsyncIterator, generateUuid } from "@natter/communication-common";
import type * as Wire from "@natter/wire";
import { ChatRestClient, encodePathParam, pickOperationOptions } from "./chat-rest-client.js";
import { ChatThreadClient } from "./chat-thread-client.js";
import type {
  ChatEventMap,
  ChatMessageDeletedEvent,
  ChatMessageEditedEvent,
  ChatMessageReceivedEvent,
  ChatThreadCreatedEvent,
  ChatThreadDeletedEvent,
  ChatThreadPropertiesUpdatedEvent,
  ParticipantsAddedEvent,
  ParticipantsRemovedEvent,
  ReadReceiptReceivedEvent,
  TypingIndicatorReceivedEvent,
  UnreadCountChangedEvent,
} from "./models/events.js";
import { fromWireCreateChatThreadResult, fromWireMessage, fromWireNatterThreadItem, fromWireThreadItem, toWireParticipant } from "./models/mappers.js";
import type { ChatMessageSearchHit, SearchMessagesOptions } from "./models/search.js";
import type { ChatThreadItem, CreateChatThreadResult } from "./models/models.js";
import type {
  ChatClientOptions,
  CreateChatThreadOptions,
  DeleteChatThreadOptions,
  ListChatThreadsOptions,
} from "./models/options.js";
import type { CreateChatThreadRequest } from "./models/requests.js";
import type { Listener } from "./realtime/event-dispatcher.js";
import { EventDispatcher } from "./realtime/event-dispatcher.js";
import type { RealtimeTransport } from "./realtime/realtime-transport.js";
import { getDefaultRealtimeTransport } from "./realtime/realtime-transport.js";
import { createWebSocketTransport } from "./realtime/websocket-transport.js";

/** The client for chat operations of one user. */
export class ChatClient {
  private readonly endpoint: string;
  private readonly tokenCredential: CommunicationTokenCredential;
  private readonly clientOptions: ChatClientOptions;
  private readonly rest: ChatRestClient;
  private readonly emitter = new EventDispatcher<ChatEventMap>();
  private transport: RealtimeTransport | undefined;
  private isRealtimeNotificationsStarted = false;
  /** Set once the endpoint answered 404 to an extension route (real ACS, or a Natter without them). */
  private extensionsMissing = false;

  /**
   * Creates a chat client for a user.
   * @param endpoint - The service endpoint, e.g. `https://localhost:8445/`.
   * @param credential - The user's token credential: our AzureCommunicationTokenCredential, Azure's, or any
   *   object with `getToken({ abortSignal })` resolving to `{ token, expiresOnTimestamp }`.
   * @param options - Client options (retry, api-version, ...).
   */
  constructor(endpoint: string, credential: CommunicationTokenCredential, options: ChatClientOptions = {}) {
    this.endpoint = endpoint;
    this.tokenCredential = credential;
    this.clientOptions = { ...options };
    this.rest = new ChatRestClient(endpoint, credential, this.clientOptions);
  }

  /**
   * Returns a ChatThreadClient for a thread.
   * @param threadId - The thread id.
   */
  getChatThreadClient(threadId: string): ChatThreadClient {
    return new ChatThreadClient(this.endpoint, threadId, this.tokenCredential, this.clientOptions);
  }

  /**
   * Creates a chat thread; the caller becomes a participant. Sends `repeatability-request-id`
   * (options.idempotencyToken, or a new UUID). `POST /chat/threads` → 201.
   * @param request - The topic.
   * @param options - Participants, idempotency token, metadata, retention policy, and operation options.
   */
  async createChatThread(
    request: CreateChatThreadRequest,
    options: CreateChatThreadOptions = {},
  ): Promise<CreateChatThreadResult> {
    if (request?.topic === undefined || request.topic === null) {
      throw new Error("createChatThreadRequest.topic cannot be null or undefined.");
    }
    const body: Wire.CreateChatThreadRequest = { topic: request.topic };
    if (options.participants) body.participants = options.participants.map(toWireParticipant);
    if (options.metadata !== undefined) body.metadata = options.metadata;
    if (options.retentionPolicy !== undefined) body.retentionPolicy = options.retentionPolicy;
    const result = await this.rest.send<Wire.CreateChatThreadResult>(
      {
        method: "POST",
        url: this.rest.url("/chat/threads"),
        body,
        headers: { "repeatability-request-id": options.idempotencyToken ?? generateUuid() },
        expectedStatus: [201],
      },
      options,
    );
    return fromWireCreateChatThreadResult(result);
  }

  /**
   * Lists the threads the user participates in, in ListChatThreads' order, each with the user's `unreadCount`,
   * `unreadMentionCount` and `lastMessage` (Natter extension). `GET /natter/chat/threads` (api-version
   * 2026-12-01-natter; docs/extensions.md) → 200, then nextLinks. Azure's SDK calls `GET /chat/threads` instead,
   * whose items have no counts; so does this client, for good, once the endpoint answers the extension route with
   * 404 (real ACS), so that the same app runs against both.
   * @param options - Page size, start time, and operation options.
   */
  listChatThreads(
    options: ListChatThreadsOptions = {},
  ): PagedAsyncIterableIterator<ChatThreadItem, ChatThreadItem[], PageSettings> {
    const operationOptions = pickOperationOptions(options);
    const acsPage = async (url: string) => {
      const page = await this.rest.send<Wire.ChatThreadsItemCollection>({ method: "GET", url, expectedStatus: [200] }, operationOptions);
      return { items: page?.value?.map(fromWireThreadItem), continuationToken: page?.nextLink || undefined };
    };
    return createPagedAsyncIterator<ChatThreadItem>(async (continuationToken, maxPageSize) => {
      if (this.extensionsMissing) {
        return acsPage(continuationToken ? this.rest.nextUrl(continuationToken) : this.rest.url("/chat/threads", { maxPageSize, startTime: options.startTime }));
      }
      const url = continuationToken
        ? this.rest.extensionNextUrl(continuationToken)
        : this.rest.extensionUrl("/chat/threads", { maxPageSize, startTime: options.startTime });
      try {
        const page = await this.rest.send<Wire.NatterChatThreadsItemCollection>({ method: "GET", url, expectedStatus: [200] }, operationOptions);
        return { items: page?.value?.map(fromWireNatterThreadItem), continuationToken: page?.nextLink || undefined };
      } catch (error) {
        if (continuationToken || (error as { statusCode?: number }).statusCode !== 404) throw error;
        this.extensionsMissing = true;
        return acsPage(this.rest.url("/chat/threads", { maxPageSize, startTime: options.startTime }));
      }
    }, options.maxPageSize);
  }

  /**
   * Searches the messages of every thread the user is in (Natter extension, docs/extensions.md "Search"): text
   * and html messages inside the user's shared history, never deleted ones, newest first. Words must all match;
   * `pine*` is a prefix, `"exact words"` a phrase; anything else is plain text.
   * `GET /natter/chat/search/messages` → 200, then nextLinks.
   * @param text - What the user typed.
   * @param options - Thread, page size, start time, and operation options.
   */
  searchMessages(
    text: string,
    options: SearchMessagesOptions = {},
  ): PagedAsyncIterableIterator<ChatMessageSearchHit, ChatMessageSearchHit[], PageSettings> {
    const operationOptions = pickOperationOptions(options);
    return createPagedAsyncIterator<ChatMessageSearchHit>(async (continuationToken, maxPageSize) => {
      const url = continuationToken
        ? this.rest.extensionNextUrl(continuationToken)
        : this.rest.extensionUrl("/chat/search/messages", { q: text, threadId: options.threadId, maxPageSize, startTime: options.startTime });
      const page = await this.rest.send<Wire.ChatMessageSearchHitsCollection>({ method: "GET", url, expectedStatus: [200] }, operationOptions);
      return {
        items: page?.value?.map((hit) => ({ threadId: hit.chatThreadId, message: fromWireMessage(hit.message), snippet: hit.snippet, highlights: hit.highlights ?? [] })),
        continuationToken: page?.nextLink || undefined,
      };
    }, options.maxPageSize);
  }

  /**
   * Deletes a thread. `DELETE /chat/threads/{t}` → 204.
   * @param threadId - The thread id.
   * @param options - Operation options.
   */
  async deleteChatThread(threadId: string, options: DeleteChatThreadOptions = {}): Promise<void> {
    await this.rest.send(
      { method: "DELETE", url: this.rest.url(`/chat/threads/${encodePathParam(threadId)}`), expectedStatus: [204] },
      options,
    );
  }

  /**
   * Starts receiving realtime notifications; call before subscribing to events. Resolves once connected
   * (Natter's WebSocket protocol by default, or `ChatClientOptions.realtimeTransport`); rejects if the first
   * connection fails. Afterwards it reconnects and resumes by itself until stopRealtimeNotifications. In Node 20
   * it needs the `ws` package (Node 22+ and browsers have a global WebSocket).
   */
  async startRealtimeNotifications(): Promise<void> {
    if (this.isRealtimeNotificationsStarted) return;
    if (!this.transport) {
      const factory = this.clientOptions.realtimeTransport ?? getDefaultRealtimeTransport() ?? createWebSocketTransport;
      this.transport = factory({
        endpoint: this.endpoint,
        credential: this.tokenCredential,
        apiVersion: this.rest.apiVersion,
        emit: (event, ...payload) => {
          (this.emitter.emit as (e: keyof ChatEventMap, ...p: unknown[]) => boolean)(event, ...payload);
        },
      });
    }
    this.isRealtimeNotificationsStarted = true;
    try {
      await this.transport.start();
    } catch (error) {
      this.isRealtimeNotificationsStarted = false;
      throw error;
    }
  }

  /** Stops realtime notifications and removes every listener. */
  async stopRealtimeNotifications(): Promise<void> {
    this.isRealtimeNotificationsStarted = false;
    try {
      await this.transport?.stop();
    } finally {
      this.emitter.removeAllListeners();
    }
  }

  /**
   * Subscribes to chatMessageReceived (the sender receives it too). Requires startRealtimeNotifications.
   * @param event - The event name.
   * @param listener - The listener.
   */
  on(event: "chatMessageReceived", listener: (e: ChatMessageReceivedEvent) => void): void;
  /**
   * Subscribes to chatMessageEdited.
   * @param event - The event name.
   * @param listener - The listener.
   */
  on(event: "chatMessageEdited", listener: (e: ChatMessageEditedEvent) => void): void;
  /**
   * Subscribes to chatMessageDeleted.
   * @param event - The event name.
   * @param listener - The listener.
   */
  on(event: "chatMessageDeleted", listener: (e: ChatMessageDeletedEvent) => void): void;
  /**
   * Subscribes to typingIndicatorReceived.
   * @param event - The event name.
   * @param listener - The listener.
   */
  on(event: "typingIndicatorReceived", listener: (e: TypingIndicatorReceivedEvent) => void): void;
  /**
   * Subscribes to readReceiptReceived.
   * @param event - The event name.
   * @param listener - The listener.
   */
  on(event: "readReceiptReceived", listener: (e: ReadReceiptReceivedEvent) => void): void;
  /**
   * Subscribes to chatThreadCreated.
   * @param event - The event name.
   * @param listener - The listener.
   */
  on(event: "chatThreadCreated", listener: (e: ChatThreadCreatedEvent) => void): void;
  /**
   * Subscribes to chatThreadDeleted.
   * @param event - The event name.
   * @param listener - The listener.
   */
  on(event: "chatThreadDeleted", listener: (e: ChatThreadDeletedEvent) => void): void;
  /**
   * Subscribes to chatThreadPropertiesUpdated.
   * @param event - The event name.
   * @param listener - The listener.
   */
  on(event: "chatThreadPropertiesUpdated", listener: (e: ChatThreadPropertiesUpdatedEvent) => void): void;
  /**
   * Subscribes to participantsAdded.
   * @param event - The event name.
   * @param listener - The listener.
   */
  on(event: "participantsAdded", listener: (e: ParticipantsAddedEvent) => void): void;
  /**
   * Subscribes to participantsRemoved.
   * @param event - The event name.
   * @param listener - The listener.
   */
  on(event: "participantsRemoved", listener: (e: ParticipantsRemovedEvent) => void): void;
  /**
   * Natter extension: subscribes to unreadCountChanged, the user's new unread counts of a thread after a read
   * receipt from any of the user's sessions (so another tab clears its badge).
   * @param event - The event name.
   * @param listener - The listener.
   */
  on(event: "unreadCountChanged", listener: (e: UnreadCountChangedEvent) => void): void;
  /**
   * Subscribes to realTimeNotificationConnected (allowed before startRealtimeNotifications).
   * @param event - The event name.
   * @param listener - The listener.
   */
  on(event: "realTimeNotificationConnected", listener: () => void): void;
  /**
   * Subscribes to realTimeNotificationDisconnected (allowed before startRealtimeNotifications).
   * @param event - The event name.
   * @param listener - The listener.
   */
  on(event: "realTimeNotificationDisconnected", listener: () => void): void;
  on<K extends keyof ChatEventMap>(event: K, listener: Listener<ChatEventMap[K]>): void {
    if (
      !this.isRealtimeNotificationsStarted &&
      event !== "realTimeNotificationConnected" &&
      event !== "realTimeNotificationDisconnected"
    ) {
      throw new Error("You must call startRealtimeNotifications before you can subscribe to events.");
    }
    this.emitter.on(event, listener);
  }

  /**
   * Unsubscribes from chatMessageReceived.
   * @param event - The event name.
   * @param listener - The listener.
   */
  off(event: "chatMessageReceived", listener: (e: ChatMessageReceivedEvent) => void): void;
  /**
   * Unsubscribes from chatMessageEdited.
   * @param event - The event name.
   * @param listener - The listener.
   */
  off(event: "chatMessageEdited", listener: (e: ChatMessageEditedEvent) => void): void;
  /**
   * Unsubscribes from chatMessageDeleted.
   * @param event - The event name.
   * @param listener - The listener.
   */
  off(event: "chatMessageDeleted", listener: (e: ChatMessageDeletedEvent) => void): void;
  /**
   * Unsubscribes from typingIndicatorReceived.
   * @param event - The event name.
   * @param listener - The listener.
   */
  off(event: "typingIndicatorReceived", listener: (e: TypingIndicatorReceivedEvent) => void): void;
  /**
   * Unsubscribes from readReceiptReceived.
   * @param event - The event name.
   * @param listener - The listener.
   */
  off(event: "readReceiptReceived", listener: (e: ReadReceiptReceivedEvent) => void): void;
  /**
   * Unsubscribes from chatThreadCreated.
   * @param event - The event name.
   * @param listener - The listener.
   */
  off(event: "chatThreadCreated", listener: (e: ChatThreadCreatedEvent) => void): void;
  /**
   * Unsubscribes from chatThreadDeleted.
   * @param event - The event name.
   * @param listener - The listener.
   */
  off(event: "chatThreadDeleted", listener: (e: ChatThreadDeletedEvent) => void): void;
  /**
   * Unsubscribes from chatThreadPropertiesUpdated.
   * @param event - The event name.
   * @param listener - The listener.
   */
  off(event: "chatThreadPropertiesUpdated", listener: (e: ChatThreadPropertiesUpdatedEvent) => void): void;
  /**
   * Unsubscribes from participantsAdded.
   * @param event - The event name.
   * @param listener - The listener.
   */
  off(event: "participantsAdded", listener: (e: ParticipantsAddedEvent) => void): void;
  /**
   * Unsubscribes from participantsRemoved.
   * @param event - The event name.
   * @param listener - The listener.
   */
  off(event: "participantsRemoved", listener: (e: ParticipantsRemovedEvent) => void): void;
  /**
   * Unsubscribes from unreadCountChanged.
   * @param event - The event name.
   * @param listener - The listener.
   */
  off(event: "unreadCountChanged", listener: (e: UnreadCountChangedEvent) => void): void;
  /**
   * Unsubscribes from realTimeNotificationConnected.
   * @param event - The event name.
   * @param listener - The listener.
   */
  off(event: "realTimeNotificationConnected", listener: () => void): void;
  /**
   * Unsubscribes from realTimeNotificationDisconnected.
   * @param event - The event name.
   * @param listener - The listener.
   */
  off(event: "realTimeNotificationDisconnected", listener: () => void): void;
  off<K extends keyof ChatEventMap>(event: K, listener: Listener<ChatEventMap[K]>): void {
    this.emitter.off(event, listener);
  }
}
