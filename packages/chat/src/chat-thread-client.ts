// ChatThreadClient: every operation on one thread (properties, messages, participants, typing, read
// receipts), with the 8-second client-side typing throttle. Same public API as @azure/communication-chat 1.6.
import type {
  CommunicationIdentifier,
  CommunicationTokenCredential,
  PagedAsyncIterableIterator,
  PageSettings,
} from "@natter/communication-common";
import { createPagedAsyncIterator } from "@natter/communication-common";
import type * as Wire from "@natter/wire";
import { ChatRestClient, encodePathParam, pickOperationOptions } from "./chat-rest-client.js";
import type { ChatMessagesAround, ListMessagesAroundOptions } from "./models/search.js";
import {
  fromWireAddParticipantsResult,
  fromWireMessage,
  fromWireParticipant,
  fromWireReadReceipt,
  fromWireThreadProperties,
  toWireIdentifier,
  toWireParticipant,
} from "./models/mappers.js";
import type {
  AddChatParticipantsResult,
  ChatMessage,
  ChatMessageReadReceipt,
  ChatMessageType,
  ChatParticipant,
  ChatThreadProperties,
  SendChatMessageResult,
} from "./models/models.js";
import type {
  AddParticipantsOptions,
  ChatThreadClientOptions,
  DeleteMessageOptions,
  GetMessageOptions,
  GetPropertiesOptions,
  ListMessagesOptions,
  ListParticipantsOptions,
  ListReadReceiptsOptions,
  RemoveParticipantOptions,
  SendMessageOptions,
  SendReadReceiptOptions,
  SendTypingNotificationOptions,
  UpdateChatThreadPropertiesOptions,
  UpdateMessageOptions,
  UpdateTopicOptions,
} from "./models/options.js";
import type { AddParticipantsRequest, SendMessageRequest, SendReadReceiptRequest } from "./models/requests.js";

/** Minimum time between two typing notifications sent by one ChatThreadClient. */
const MINIMUM_TYPING_INTERVAL_MS = 8000;
const MESSAGE_TYPES: readonly ChatMessageType[] = ["text", "html", "topicUpdated", "participantAdded", "participantRemoved"];

function requireValue(value: unknown, name: string): void {
  if (value === undefined || value === null) throw new Error(`${name} cannot be null or undefined.`);
}

/** Client for the operations on one chat thread. */
export class ChatThreadClient {
  /** Id of the thread this client works on. */
  readonly threadId: string;
  private readonly rest: ChatRestClient;
  private timeOfLastTypingRequest: Date | undefined = undefined;

  /**
   * Creates a client for one thread. Usually obtained with ChatClient.getChatThreadClient.
   * @param endpoint - The service endpoint.
   * @param threadId - The thread id.
   * @param credential - The user's token credential (ours or Azure's AzureCommunicationTokenCredential).
   * @param options - Client options.
   */
  constructor(
    endpoint: string,
    threadId: string,
    credential: CommunicationTokenCredential,
    options: ChatThreadClientOptions = {},
  ) {
    this.threadId = threadId;
    this.rest = new ChatRestClient(endpoint, credential, options);
  }

  private path(suffix = ""): string {
    return `/chat/threads/${encodePathParam(this.threadId)}${suffix}`;
  }

  /**
   * Gets the thread's properties. `GET /chat/threads/{t}` → 200.
   * @param options - Operation options.
   */
  async getProperties(options: GetPropertiesOptions = {}): Promise<ChatThreadProperties> {
    const wire = await this.rest.send<Wire.ChatThreadProperties>(
      { method: "GET", url: this.rest.url(this.path()), expectedStatus: [200] },
      options,
    );
    return fromWireThreadProperties(wire);
  }

  /**
   * Updates the thread's topic. `PATCH /chat/threads/{t}` → 204.
   * @param topic - The new topic.
   * @param options - Operation options.
   */
  async updateTopic(topic: string, options: UpdateTopicOptions = {}): Promise<void> {
    await this.patchThread({ topic }, options);
  }

  /**
   * Updates the thread's topic, metadata and/or retention policy (only the fields given).
   * `PATCH /chat/threads/{t}` → 204.
   * @param options - The fields to update, and operation options.
   */
  async updateProperties(options: UpdateChatThreadPropertiesOptions = {}): Promise<void> {
    const body: Wire.UpdateChatThreadRequest = {};
    if (options.topic !== undefined) body.topic = options.topic;
    if (options.metadata !== undefined) body.metadata = options.metadata;
    if (options.retentionPolicy !== undefined) body.retentionPolicy = options.retentionPolicy;
    await this.patchThread(body, options);
  }

  private async patchThread(body: Wire.UpdateChatThreadRequest, options: UpdateTopicOptions): Promise<void> {
    await this.rest.send(
      {
        method: "PATCH",
        url: this.rest.url(this.path()),
        body,
        contentType: "application/merge-patch+json",
        expectedStatus: [204],
      },
      options,
    );
  }

  /**
   * Sends a message; resets the typing-notification throttle. `POST /chat/threads/{t}/messages` → 201.
   * @param request - The content.
   * @param options - Sender display name, type, metadata, and operation options.
   */
  async sendMessage(request: SendMessageRequest, options: SendMessageOptions = {}): Promise<SendChatMessageResult> {
    this.timeOfLastTypingRequest = undefined;
    const merged: SendMessageRequest & SendMessageOptions = { ...request, ...options };
    requireValue(merged.content, "request.content");
    const body: Wire.SendChatMessageRequest = { content: merged.content };
    if (merged.senderDisplayName !== undefined) body.senderDisplayName = merged.senderDisplayName;
    if (merged.type !== undefined) {
      if (!MESSAGE_TYPES.some((t) => t.toLowerCase() === String(merged.type).toLowerCase())) {
        throw new Error(`${merged.type} is not a valid value for type. The valid values are: ${MESSAGE_TYPES.join(", ")}.`);
      }
      body.type = merged.type;
    }
    if (merged.metadata !== undefined) body.metadata = merged.metadata;
    const result = await this.rest.send<Wire.SendChatMessageResult>(
      { method: "POST", url: this.rest.url(this.path("/messages")), body, expectedStatus: [201] },
      options,
    );
    return { ...result };
  }

  /**
   * Gets one message. `GET /chat/threads/{t}/messages/{m}` → 200.
   * @param messageId - The message id.
   * @param options - Operation options.
   */
  async getMessage(messageId: string, options: GetMessageOptions = {}): Promise<ChatMessage> {
    const wire = await this.rest.send<Wire.ChatMessage>(
      { method: "GET", url: this.rest.url(this.path(`/messages/${encodePathParam(messageId)}`)), expectedStatus: [200] },
      options,
    );
    return fromWireMessage(wire);
  }

  /**
   * Lists the thread's messages, newest first. `GET /chat/threads/{t}/messages` → 200, then nextLinks.
   * @param options - Page size, start time, and operation options.
   */
  listMessages(options: ListMessagesOptions = {}): PagedAsyncIterableIterator<ChatMessage, ChatMessage[], PageSettings> {
    return this.list<Wire.ChatMessage, ChatMessage>("/messages", options, { startTime: options.startTime }, fromWireMessage);
  }

  /**
   * Deletes a message. `DELETE /chat/threads/{t}/messages/{m}` → 204.
   * @param messageId - The message id.
   * @param options - Operation options.
   */
  async deleteMessage(messageId: string, options: DeleteMessageOptions = {}): Promise<void> {
    await this.rest.send(
      { method: "DELETE", url: this.rest.url(this.path(`/messages/${encodePathParam(messageId)}`)), expectedStatus: [204] },
      options,
    );
  }

  /**
   * Updates a message's content and/or metadata. `PATCH /chat/threads/{t}/messages/{m}` → 204.
   * @param messageId - The message id.
   * @param options - The new content/metadata, and operation options.
   */
  async updateMessage(messageId: string, options: UpdateMessageOptions = {}): Promise<void> {
    const body: Wire.UpdateChatMessageRequest = {};
    if (options.content !== undefined) body.content = options.content;
    if (options.metadata !== undefined) body.metadata = options.metadata;
    await this.rest.send(
      {
        method: "PATCH",
        url: this.rest.url(this.path(`/messages/${encodePathParam(messageId)}`)),
        body,
        contentType: "application/merge-patch+json",
        expectedStatus: [204],
      },
      options,
    );
  }

  /**
   * Adds participants. `POST /chat/threads/{t}/participants/:add` → 201.
   * @param request - The participants.
   * @param options - Operation options.
   */
  async addParticipants(
    request: AddParticipantsRequest,
    options: AddParticipantsOptions = {},
  ): Promise<AddChatParticipantsResult> {
    requireValue(request?.participants, "addChatParticipantsRequest.participants");
    const body: Wire.AddChatParticipantsRequest = { participants: request.participants.map(toWireParticipant) };
    const result = await this.rest.send<Wire.AddChatParticipantsResult>(
      { method: "POST", url: this.rest.url(this.path("/participants/:add")), body, expectedStatus: [201] },
      options,
    );
    return fromWireAddParticipantsResult(result);
  }

  /**
   * Lists the thread's participants. `GET /chat/threads/{t}/participants` → 200, then nextLinks.
   * @param options - Page size, skip, and operation options.
   */
  listParticipants(
    options: ListParticipantsOptions = {},
  ): PagedAsyncIterableIterator<ChatParticipant, ChatParticipant[], PageSettings> {
    return this.list<Wire.ChatParticipant, ChatParticipant>("/participants", options, { skip: options.skip }, fromWireParticipant);
  }

  /**
   * Removes a participant. `POST /chat/threads/{t}/participants/:remove` (body: the identifier) → 204.
   * @param participant - The participant's identifier.
   * @param options - Operation options.
   */
  async removeParticipant(participant: CommunicationIdentifier, options: RemoveParticipantOptions = {}): Promise<void> {
    await this.rest.send(
      {
        method: "POST",
        url: this.rest.url(this.path("/participants/:remove")),
        body: toWireIdentifier(participant),
        expectedStatus: [204],
      },
      options,
    );
  }

  /**
   * Sends a typing notification, at most once per 8 seconds per client (sendMessage resets the clock).
   * `POST /chat/threads/{t}/typing` → 200.
   * @param options - Sender display name, and operation options.
   * @returns True if the notification was sent, false if throttled (no request made).
   */
  async sendTypingNotification(options: SendTypingNotificationOptions = {}): Promise<boolean> {
    const now = new Date();
    if (!this.canPostTypingNotification(now)) return false;
    this.timeOfLastTypingRequest = now;
    const body: Wire.SendTypingNotificationRequest = {};
    if (options.senderDisplayName !== undefined) body.senderDisplayName = options.senderDisplayName;
    await this.rest.send(
      { method: "POST", url: this.rest.url(this.path("/typing")), body, expectedStatus: [200] },
      options,
    );
    return true;
  }

  /**
   * Marks a message (and all before it) as read. `POST /chat/threads/{t}/readReceipts` → 200.
   * @param request - The id of the latest message read.
   * @param options - Operation options.
   */
  async sendReadReceipt(request: SendReadReceiptRequest, options: SendReadReceiptOptions = {}): Promise<void> {
    requireValue(request?.chatMessageId, "sendReadReceiptRequest.chatMessageId");
    const body: Wire.SendReadReceiptRequest = { chatMessageId: request.chatMessageId };
    await this.rest.send(
      { method: "POST", url: this.rest.url(this.path("/readReceipts")), body, expectedStatus: [200] },
      options,
    );
  }

  /**
   * Lists the latest read receipt of each participant. `GET /chat/threads/{t}/readReceipts` → 200.
   * @param options - Page size, skip, and operation options.
   */
  listReadReceipts(
    options: ListReadReceiptsOptions = {},
  ): PagedAsyncIterableIterator<ChatMessageReadReceipt, ChatMessageReadReceipt[], PageSettings> {
    return this.list<Wire.ChatMessageReadReceipt, ChatMessageReadReceipt>(
      "/readReceipts",
      options,
      { skip: options.skip },
      fromWireReadReceipt,
    );
  }

  /**
   * Lists the messages around one message (Natter extension, docs/extensions.md "Messages around a message"): the
   * page holding it, with the ways on to older and newer messages, so a search hit or a mention opens in context.
   * Shared history and deletions apply as in listMessages. `GET /natter/chat/threads/{t}/messages/around/{m}` → 200.
   * @param messageId - The message to open at.
   * @param options - Page size and operation options.
   */
  async listMessagesAround(messageId: string, options: ListMessagesAroundOptions = {}): Promise<ChatMessagesAround> {
    const operationOptions = pickOperationOptions(options);
    const path = `/chat/threads/${encodePathParam(this.threadId)}/messages/around/${encodePathParam(messageId)}`;
    const page = await this.rest.send<Wire.ChatMessagesAroundCollection>(
      { method: "GET", url: this.rest.extensionUrl(path, { maxPageSize: options.maxPageSize }), expectedStatus: [200] },
      operationOptions,
    );
    const walk = (link: string | undefined) =>
      createPagedAsyncIterator<ChatMessage>(async (continuationToken) => {
        const url = continuationToken ?? link;
        if (!url) return { items: undefined };
        const next = await this.rest.send<Wire.ChatMessagesAroundCollection>(
          { method: "GET", url: this.rest.extensionNextUrl(url), expectedStatus: [200] },
          operationOptions,
        );
        return { items: next?.value?.map(fromWireMessage), continuationToken: next?.nextLink || undefined };
      });
    return {
      messages: (page?.value ?? []).map(fromWireMessage),
      hasOlder: page?.olderLink !== undefined,
      hasNewer: page?.newerLink !== undefined,
      older: walk(page?.olderLink),
      newer: walk(page?.newerLink),
    };
  }

  private list<W, S>(
    suffix: string,
    options: { maxPageSize?: number } & ListMessagesOptions,
    query: { skip?: number; startTime?: Date },
    map: (wire: W) => S,
  ): PagedAsyncIterableIterator<S, S[], PageSettings> {
    const operationOptions = pickOperationOptions(options);
    return createPagedAsyncIterator<S>(async (continuationToken, maxPageSize) => {
      const url = continuationToken
        ? this.rest.nextUrl(continuationToken)
        : this.rest.url(this.path(suffix), { maxPageSize, ...query });
      const page = await this.rest.send<{ value?: W[]; nextLink?: string }>(
        { method: "GET", url, expectedStatus: [200] },
        operationOptions,
      );
      return { items: page?.value?.map(map), continuationToken: page?.nextLink || undefined };
    }, options.maxPageSize);
  }

  private canPostTypingNotification(now: Date): boolean {
    if (!this.timeOfLastTypingRequest) return true;
    return now.getTime() - this.timeOfLastTypingRequest.getTime() >= MINIMUM_TYPING_INTERVAL_MS;
  }
}
