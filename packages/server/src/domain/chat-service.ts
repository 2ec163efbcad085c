// The chat rules: threads, participants and history sharing, messages (sequence, version, soft delete),
// read receipts, typing, idempotent creation, retention, and which events go to whom.
import { createHash, randomBytes } from "node:crypto";
import type { Bus } from "../bus/bus.js";
import { userTopic } from "../bus/bus.js";
import type {
  AttachmentRef, ImageRecord, MessageRecord, MessageType, ParticipantRecord, ParticipantWindows, ParticipantSnapshot, ReadReceiptRecord, RetentionRecord, Store, StoreOps,
  ThreadListItem, ThreadPageQuery, ThreadRecord,
} from "../store/store.js";
import { IdempotencyConflictError } from "../store/store.js";
import type { Caller } from "./caller.js";
import { requireCapability } from "./caller.js";
import { ChatError, forbidden, notFound, validationError } from "./errors.js";
import type { ChatEvent } from "./events.js";
import { CHAT_EVENT } from "./events.js";
import { belongsToResource } from "./identifiers.js";
import { newImageId, sniffImageType } from "./images.js";
import { LIMITS, checkContent, checkLength, checkMetadata, isStorableId } from "./limits.js";
import { mayHaveMentions, parseMentions } from "./mentions.js";
import { COUNTED_MESSAGE_TYPES, UNREAD_COUNT_LIMIT } from "./unread.js";

/** Where a thread list page continues: its last item (see ThreadPageQuery). */
export type ThreadCursor = NonNullable<ThreadPageQuery["after"]>;

export interface ParticipantInput {
  userId: string;
  displayName?: string;
  shareHistoryTime?: number;
  metadata?: Record<string, string>;
}

export interface CreateThreadInput {
  topic: string;
  participants: ParticipantInput[];
  metadata?: Record<string, string>;
  retention?: RetentionRecord;
  /** repeatability-request-id: the same key from the same user returns the first result. */
  idempotencyKey?: string;
}

export interface InvalidParticipant {
  code: string;
  message: string;
  target: string;
}

export interface CreateThreadResult {
  thread: ThreadRecord;
  invalidParticipants: InvalidParticipant[];
}

export interface UpdateThreadInput {
  topic?: string;
  metadata?: Record<string, string>;
  retention?: RetentionRecord;
}

/** A message attachment from a request: an image of the thread by the id UploadChatImage gave. */
export interface AttachmentInput {
  id: string;
  attachmentType: string;
  name?: string;
}

export interface SendMessageInput {
  content: string;
  type: "text" | "html";
  senderDisplayName?: string;
  metadata?: Record<string, string>;
  attachments?: AttachmentInput[];
}

export interface UpdateMessageInput {
  content?: string;
  metadata?: Record<string, string>;
  /** Replaces the message's attachments ([] removes them). */
  attachments?: AttachmentInput[];
}

export interface UploadImageInput {
  data: Uint8Array;
  /** The image-filename header, if given. */
  name?: string;
}

export interface Page<T, C> {
  items: T[];
  /** Where the next page starts; absent on the last page. */
  next?: C;
}

export interface ChatServiceOptions {
  store: Store;
  bus: Bus;
  /** The resource id of this deployment: only its users can join threads. */
  resourceId: string;
  now?: () => number;
  /** How long repeatability-request-id results are kept (ms). */
  idempotencyWindowMs?: number;
  /** How long durable events are kept for realtime resume (ms). */
  eventRetentionMs?: number;
  /** Told of each typing notification (not durable): the webhook deliveries' best-effort typing events. */
  onTyping?: (event: Extract<ChatEvent, { type: "typingIndicatorReceived" }>) => void;
}

const DAY_MS = 86_400_000;

export class ChatService {
  private readonly store: Store;
  private readonly onTyping?: ChatServiceOptions["onTyping"];
  private readonly bus: Bus;
  /** Bus topics by recipient list (see topicsOf). */
  private readonly topics = new WeakMap<readonly string[], readonly string[]>();
  private readonly resourceId: string;
  private readonly now: () => number;
  readonly idempotencyWindowMs: number;
  readonly eventRetentionMs: number;

  constructor(options: ChatServiceOptions) {
    this.store = options.store;
    this.bus = options.bus;
    this.resourceId = options.resourceId;
    this.now = options.now ?? Date.now;
    this.idempotencyWindowMs = options.idempotencyWindowMs ?? DAY_MS;
    this.eventRetentionMs = options.eventRetentionMs ?? DAY_MS;
    this.onTyping = options.onTyping;
  }

  // ---- threads ----

  /** CreateChatThread: the creator always joins; unknown or foreign users are reported, not fatal. */
  async createThread(caller: Caller, input: CreateThreadInput): Promise<CreateThreadResult> {
    requireCapability(caller, "manageThread");
    this.checkThreadProperties(input);
    if (input.participants.length > LIMITS.participantsPerBatch) {
      throw validationError(`At most ${LIMITS.participantsPerBatch} participants can be added at once.`, "participants");
    }
    input.participants.forEach((p) => this.checkParticipantInput(p));
    const fingerprint = hash(JSON.stringify([input.topic, input.participants, input.metadata, input.retention]));
    const key: OnceOptions = { scope: `createChatThread:${caller.userId}`, key: input.idempotencyKey, fingerprint, windowMs: this.idempotencyWindowMs, strict: true };
    return this.writeOnce(key, async (tx, events) => {
      const now = this.now();
      const invalidParticipants: InvalidParticipant[] = [];
      const members = new Map<string, ParticipantInput>();
      members.set(caller.userId, { userId: caller.userId });
      for (const p of input.participants) {
        if (!(await this.isKnownUser(tx, p.userId))) {
          invalidParticipants.push({ code: "403", message: "Permissions check failed", target: p.userId });
        } else {
          members.set(p.userId, p);
        }
      }
      const thread: ThreadRecord = {
        id: `19:${randomBytes(16).toString("hex")}@thread.v2`,
        topic: input.topic,
        createdAt: now,
        createdBy: caller.userId,
        deletedAt: null,
        metadata: input.metadata ?? null,
        retention: input.retention ?? null,
        nextSequence: 1,
        clock: now - 1,
        lastMessageAt: null,
        expiresAt: expiry(now, input.retention),
      };
      await tx.insertThread(thread);
      const records = [...members.values()].map((p) => toParticipantRecord(thread.id, p, now));
      for (const p of records) await tx.upsertParticipant(p);
      const snapshots = records.map(snapshot);
      await this.appendSystemMessage(tx, thread, "participantAdded", { participants: snapshots, initiator: caller.userId }, now);
      await this.appendSystemMessage(tx, thread, "topicUpdated", { topic: input.topic, initiator: caller.userId }, now);
      await tx.updateThread(thread.id, { nextSequence: thread.nextSequence, clock: thread.clock });
      const recipients = records.map((p) => p.userId);
      await this.record(tx, events, { type: "chatThreadCreated", threadId: thread.id, at: now, actor: caller.userId, thread, participants: snapshots }, recipients);
      return { thread, invalidParticipants };
    });
  }

  /** GetChatThreadProperties. */
  async getThread(caller: Caller, threadId: string): Promise<ThreadRecord> {
    requireCapability(caller, "participate");
    const { thread } = await threadAccess(this.store, caller, threadId);
    return thread;
  }

  /**
   * ListChatThreads: the caller's threads (deleted ones with deletedOn), most recent activity first at
   * second precision, threads active in the same second in creation order (the order ACS answers with; see
   * ThreadPageQuery).
   */
  async listThreads(caller: Caller, options: { maxPageSize?: number; startTime?: number; after?: ThreadCursor }): Promise<Page<ThreadListItem, ThreadCursor>> {
    requireCapability(caller, "participate");
    const limit = pageSize(options.maxPageSize);
    const rows = await this.store.listThreadsForUser(caller.userId, { after: options.after, minActivityAt: options.startTime, limit: limit + 1 });
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return { items, next: rows.length > limit && last ? { activityAt: last.activityAt, createdAt: last.thread.createdAt, id: last.thread.id } : undefined };
  }

  /** UpdateChatThreadProperties (merge-patch): a topic change adds a topicUpdated message. */
  async updateThread(caller: Caller, threadId: string, input: UpdateThreadInput): Promise<void> {
    requireCapability(caller, "manageThread");
    this.checkThreadProperties(input);
    const events: Pending[] = [];
    await this.store.transaction(async (tx) => {
      const { thread } = await threadAccess(tx, caller, threadId, true);
      const now = this.now();
      if (input.topic !== undefined) thread.topic = input.topic;
      if (input.metadata !== undefined) thread.metadata = input.metadata;
      if (input.retention !== undefined) {
        thread.retention = input.retention;
        thread.expiresAt = expiry(thread.createdAt, input.retention);
      }
      if (input.topic !== undefined) {
        await this.appendSystemMessage(tx, thread, "topicUpdated", { topic: input.topic, initiator: caller.userId }, now);
      }
      await tx.updateThread(thread.id, {
        topic: thread.topic, metadata: thread.metadata, retention: thread.retention, expiresAt: thread.expiresAt,
        nextSequence: thread.nextSequence, clock: thread.clock,
      });
      const recipients = await tx.listParticipantIds(thread.id);
      await this.record(tx, events, { type: "chatThreadPropertiesUpdated", threadId, at: now, actor: caller.userId, thread }, recipients);
    });
    this.publish(events);
  }

  /** DeleteChatThread: content is erased at once; the thread stays listed with deletedOn. Repeating is a no-op. */
  async deleteThread(caller: Caller, threadId: string): Promise<void> {
    requireCapability(caller, "manageThread");
    const events: Pending[] = [];
    await this.store.transaction(async (tx) => {
      const thread = isStorableId(threadId) ? await tx.lockThread(threadId) : undefined;
      if (!thread) throw notFound("The chat thread was not found.");
      // 404 before 403, as for every other operation on a deleted thread; a participant's repeat is a no-op.
      if (!(await tx.getParticipant(threadId, caller.userId))) throw thread.deletedAt !== null ? notFound("The chat thread was not found.") : forbidden();
      if (thread.deletedAt !== null) return;
      const now = this.now();
      await tx.updateThread(threadId, { deletedAt: now });
      await tx.deleteThreadContent(threadId);
      const recipients = await tx.listParticipantIds(threadId);
      await this.record(tx, events, { type: "chatThreadDeleted", threadId, at: now, actor: caller.userId, threadCreatedAt: thread.createdAt }, recipients);
    });
    this.publish(events);
  }

  // ---- messages ----

  /** SendChatMessage: allocates the next sequence number and a new id/version. */
  async sendMessage(caller: Caller, threadId: string, input: SendMessageInput, requestId?: string): Promise<MessageRecord> {
    requireCapability(caller, "participate");
    checkContent(input.content);
    if (input.senderDisplayName !== undefined) checkLength(input.senderDisplayName, LIMITS.displayNameLength, "senderDisplayName");
    if (input.metadata) checkMetadata(input.metadata, LIMITS.messageMetadataBytes, "metadata");
    if (input.attachments) checkAttachments(input.attachments);
    const retry = this.retryKey("sendMessage", caller, threadId, requestId, input);
    return this.writeOnce(retry, async (tx, events) => {
      const { thread, windows } = await lockAsMember(tx, caller, threadId);
      const now = this.now();
      const body: MessageRecord["body"] = { message: input.content };
      const recipients = recipientsOf(windows, now);
      if (input.type === "html" && mayHaveMentions(input.content)) await applyMentions(body, recipients);
      if (input.attachments && input.attachments.length > 0) body.attachments = await resolveAttachments(tx, threadId, input.attachments);
      const id = tick(thread, now);
      const record: MessageRecord = {
        threadId, id: String(id), sequence: thread.nextSequence++, type: input.type, body,
        sender: caller.userId, senderDisplayName: input.senderDisplayName ?? "", createdAt: now, editedAt: null, deletedAt: null,
        version: id, metadata: input.metadata ?? null,
      };
      await tx.insertMessage(record);
      await tx.updateThread(threadId, { nextSequence: thread.nextSequence, clock: thread.clock, lastMessageAt: now });
      await this.record(tx, events, { type: "chatMessageReceived", threadId, at: now, actor: caller.userId, message: record }, recipients);
      return record;
    });
  }

  /** GetChatMessage: only messages inside the caller's shared history. */
  async getMessage(caller: Caller, threadId: string, messageId: string): Promise<MessageRecord> {
    requireCapability(caller, "participate");
    const { participant } = await threadAccess(this.store, caller, threadId);
    const message = await findMessage(this.store, threadId, messageId);
    if (!message || message.createdAt < participant.shareHistoryTime) throw notFound("The chat message was not found.");
    return message;
  }

  /** ListChatMessages: newest version first (an edit moves a message up), within the shared history. */
  async listMessages(caller: Caller, threadId: string, options: { maxPageSize?: number; startTime?: number; beforeVersion?: number }): Promise<Page<MessageRecord, number>> {
    requireCapability(caller, "participate");
    const { participant } = await threadAccess(this.store, caller, threadId);
    const limit = pageSize(options.maxPageSize);
    const rows = await this.store.listMessages(threadId, {
      beforeVersion: options.beforeVersion, minVersion: options.startTime, minCreatedAt: participant.shareHistoryTime, limit: limit + 1,
    });
    const items = rows.slice(0, limit);
    return { items, next: rows.length > limit ? items[items.length - 1].version : undefined };
  }

  /** UpdateChatMessage: sender only; content replaced, metadata merged ("" removes a key); version bumped. */
  async updateMessage(caller: Caller, threadId: string, messageId: string, input: UpdateMessageInput): Promise<void> {
    requireCapability(caller, "participate");
    if (input.content !== undefined) checkContent(input.content);
    if (input.metadata) checkMetadata(input.metadata, LIMITS.messageMetadataBytes, "metadata");
    if (input.attachments) checkAttachments(input.attachments);
    const events: Pending[] = [];
    await this.store.transaction(async (tx) => {
      const { thread, participant } = await threadAccess(tx, caller, threadId, true);
      const message = await findMessage(tx, threadId, messageId);
      if (!message || message.createdAt < participant.shareHistoryTime || message.deletedAt !== null) throw notFound("The chat message was not found.");
      if (message.sender !== caller.userId) throw forbidden("Only the sender can edit a message.");
      const now = this.now();
      if (input.content !== undefined) {
        const { mentions: _mentions, ...rest } = message.body;
        message.body = { ...rest, message: input.content };
        if (message.type === "html" && mayHaveMentions(input.content)) await applyMentions(message.body, await messageRecipients(tx, threadId, message.createdAt));
      }
      if (input.attachments !== undefined) {
        const { attachments: _previous, ...rest } = message.body;
        message.body = input.attachments.length > 0 ? { ...rest, attachments: await resolveAttachments(tx, threadId, input.attachments) } : rest;
      }
      if (input.metadata !== undefined) {
        const merged = { ...(message.metadata ?? {}) };
        for (const [k, v] of Object.entries(input.metadata)) {
          if (v === "") delete merged[k];
          else merged[k] = v;
        }
        checkMetadata(merged, LIMITS.messageMetadataBytes, "metadata");
        message.metadata = Object.keys(merged).length > 0 ? merged : null;
      }
      message.editedAt = now;
      message.version = tick(thread, now);
      await tx.updateMessage(threadId, messageId, { body: message.body, metadata: message.metadata, editedAt: now, version: message.version });
      await tx.updateThread(threadId, { clock: thread.clock });
      const recipients = await messageRecipients(tx, threadId, message.createdAt);
      await this.record(tx, events, { type: "chatMessageEdited", threadId, at: now, actor: caller.userId, message }, recipients);
    });
    this.publish(events);
  }

  /** DeleteChatMessage: sender only; soft delete (content emptied, deletedOn set); repeating is a no-op. */
  async deleteMessage(caller: Caller, threadId: string, messageId: string): Promise<void> {
    requireCapability(caller, "participate");
    const events: Pending[] = [];
    await this.store.transaction(async (tx) => {
      const { thread, participant } = await threadAccess(tx, caller, threadId, true);
      const message = await findMessage(tx, threadId, messageId);
      if (!message || message.createdAt < participant.shareHistoryTime) throw notFound("The chat message was not found.");
      if (message.sender !== caller.userId) throw forbidden("Only the sender can delete a message.");
      if (message.deletedAt !== null) return;
      const now = this.now();
      const { attachments: _attachments, ...rest } = message.body;
      message.body = { ...rest, message: "" };
      message.deletedAt = now;
      message.version = tick(thread, now);
      await tx.updateMessage(threadId, messageId, { body: message.body, deletedAt: now, version: message.version });
      await tx.updateThread(threadId, { clock: thread.clock });
      const recipients = await messageRecipients(tx, threadId, message.createdAt);
      await this.record(tx, events, { type: "chatMessageDeleted", threadId, at: now, actor: caller.userId, message }, recipients);
    });
    this.publish(events);
  }

  // ---- images (chat preview api-versions) ----

  /**
   * UploadChatImage: a participant stores an image in the thread (jpeg, png, gif, heic or webp, told by its bytes;
   * at most LIMITS.imageBytes). Kept until DeleteChatImage or until the thread's content goes (delete, retention).
   */
  async uploadImage(caller: Caller, threadId: string, input: UploadImageInput): Promise<ImageRecord> {
    requireCapability(caller, "participate");
    if (input.data.byteLength > LIMITS.imageBytes) throw new ChatError("payloadTooLarge", `An image must be at most ${LIMITS.imageBytes} bytes.`);
    if (input.name !== undefined) checkLength(input.name, LIMITS.imageNameLength, "image-filename");
    const contentType = sniffImageType(input.data);
    if (!contentType) throw validationError("The image must be a JPEG, PNG, GIF, HEIC or WebP image.", "chatImageFile");
    return this.store.transaction(async (tx) => {
      await threadAccess(tx, caller, threadId);
      const image: ImageRecord = {
        threadId, id: newImageId(), name: input.name ?? null, contentType, data: input.data, uploadedBy: caller.userId, createdAt: this.now(),
      };
      await tx.insertImage(image);
      return image;
    });
  }

  /** GetChatImage: any participant of the thread (from any point of its history) may view its images. */
  async getImage(caller: Caller, threadId: string, imageId: string): Promise<ImageRecord> {
    requireCapability(caller, "participate");
    await threadAccess(this.store, caller, threadId);
    const image = isStorableId(imageId) ? await this.store.getImage(threadId, imageId) : undefined;
    if (!image) throw notFound("The image was not found.");
    return image;
  }

  /** DeleteChatImage: the uploader only (403 for other participants); 404 when there is no such image. */
  async deleteImage(caller: Caller, threadId: string, imageId: string): Promise<void> {
    requireCapability(caller, "participate");
    await this.store.transaction(async (tx) => {
      await threadAccess(tx, caller, threadId);
      const image = isStorableId(imageId) ? await tx.getImage(threadId, imageId) : undefined;
      if (!image) throw notFound("The image was not found.");
      if (image.uploadedBy !== caller.userId) throw forbidden("Only the participant who uploaded an image can delete it.");
      await tx.deleteImage(threadId, imageId);
    });
  }

  // ---- participants ----

  /** ListChatParticipants (skip/maxPageSize paging, join order). */
  async listParticipants(caller: Caller, threadId: string, options: { maxPageSize?: number; skip?: number }): Promise<Page<ParticipantRecord, number>> {
    requireCapability(caller, "participate");
    await threadAccess(this.store, caller, threadId);
    const limit = pageSize(options.maxPageSize);
    const skip = options.skip ?? 0;
    const rows = await this.store.listParticipants(threadId, skip, limit + 1);
    const items = rows.slice(0, limit);
    return { items, next: rows.length > limit ? skip + limit : undefined };
  }

  /** AddChatParticipants: present users are left unchanged; unknown users are reported in invalidParticipants. */
  async addParticipants(caller: Caller, threadId: string, participants: ParticipantInput[], requestId?: string): Promise<InvalidParticipant[]> {
    requireCapability(caller, "manageParticipants");
    if (participants.length === 0) throw validationError("At least one participant is required.", "participants");
    if (participants.length > LIMITS.participantsPerBatch) {
      throw validationError(`At most ${LIMITS.participantsPerBatch} participants can be added at once.`, "participants");
    }
    participants.forEach((p) => this.checkParticipantInput(p));
    const retry = this.retryKey("addParticipants", caller, threadId, requestId, participants);
    return this.writeOnce(retry, async (tx, events) => {
      const { thread } = await lockAsMember(tx, caller, threadId);
      const now = this.now();
      const invalidParticipants: InvalidParticipant[] = [];
      const added = new Map<string, ParticipantRecord>();
      for (const p of participants) {
        if (!(await this.isKnownUser(tx, p.userId))) {
          invalidParticipants.push({ code: "403", message: "Permissions check failed", target: p.userId });
        } else if (!(await tx.getParticipant(threadId, p.userId))) {
          added.set(p.userId, toParticipantRecord(threadId, p, now));
        }
      }
      if (added.size === 0) return invalidParticipants;
      const count = await tx.countParticipants(threadId);
      if (count + added.size > LIMITS.participantsPerThread) {
        throw validationError(`A thread can have at most ${LIMITS.participantsPerThread} participants.`, "participants");
      }
      for (const p of added.values()) await tx.upsertParticipant(p);
      const snapshots = [...added.values()].map(snapshot);
      await this.appendSystemMessage(tx, thread, "participantAdded", { participants: snapshots, initiator: caller.userId }, now);
      await tx.updateThread(threadId, { nextSequence: thread.nextSequence, clock: thread.clock });
      const recipients = await tx.listParticipantIds(threadId);
      await this.record(tx, events, { type: "participantsAdded", threadId, at: now, actor: caller.userId, threadCreatedAt: thread.createdAt, participants: snapshots }, recipients);
      return invalidParticipants;
    });
  }

  /** RemoveChatParticipant: anyone may remove themselves; removing a non-participant is a no-op. */
  async removeParticipant(caller: Caller, threadId: string, userId: string): Promise<void> {
    requireCapability(caller, userId === caller.userId ? "participate" : "manageParticipants");
    const events: Pending[] = [];
    await this.store.transaction(async (tx) => {
      const { thread } = await threadAccess(tx, caller, threadId, true);
      const removed = await tx.getParticipant(threadId, userId);
      if (!removed) return;
      const now = this.now();
      const recipients = await tx.listParticipantIds(threadId);
      await tx.deleteParticipant(threadId, userId);
      const snapshots = [snapshot(removed)];
      await this.appendSystemMessage(tx, thread, "participantRemoved", { participants: snapshots, initiator: caller.userId }, now);
      await tx.updateThread(threadId, { nextSequence: thread.nextSequence, clock: thread.clock });
      await this.record(tx, events, { type: "participantsRemoved", threadId, at: now, actor: caller.userId, threadCreatedAt: thread.createdAt, participants: snapshots }, recipients);
    });
    this.publish(events);
  }

  // ---- typing and read receipts ----

  /** SendTypingNotification. `announceName: false` validates the name but leaves it out of the event (2021-03-07's
   *  typing event has no display name), so an over-long name is rejected at every api-version alike. */
  async sendTyping(caller: Caller, threadId: string, displayName?: string, { announceName = true } = {}): Promise<void> {
    requireCapability(caller, "participate");
    if (displayName !== undefined) checkLength(displayName, LIMITS.displayNameLength, "senderDisplayName");
    const senderDisplayName = announceName ? displayName : undefined;
    await threadAccess(this.store, caller, threadId);
    const recipients = await this.store.listParticipantIds(threadId);
    const typing = { type: "typingIndicatorReceived" as const, threadId, at: this.now(), actor: caller.userId, senderDisplayName: senderDisplayName ?? null };
    this.publish([{ event: typing, recipients }]);
    this.onTyping?.(typing);
  }

  /** SendChatReadReceipt: keeps the latest (highest sequence) receipt per user. */
  async sendReadReceipt(caller: Caller, threadId: string, messageId: string, requestId?: string): Promise<void> {
    requireCapability(caller, "participate");
    const retry = this.retryKey("sendReadReceipt", caller, threadId, requestId, messageId);
    const readAt = await this.writeOnce(retry, async (tx, events) => {
      const { participant } = await threadAccess(tx, caller, threadId);
      const message = await findMessage(tx, threadId, messageId);
      if (!message || message.createdAt < participant.shareHistoryTime) throw notFound("The chat message was not found.");
      const current = await tx.getReadReceipt(threadId, caller.userId);
      if (current && current.sequence >= message.sequence) return undefined;
      const now = this.now();
      const receipt: ReadReceiptRecord = { threadId, userId: caller.userId, messageId, sequence: message.sequence, readAt: now };
      await tx.upsertReadReceipt(receipt);
      const recipients = await messageRecipients(tx, threadId, message.createdAt);
      await this.record(tx, events, { type: "readReceiptReceived", threadId, at: now, actor: caller.userId, receipt }, recipients);
      return now;
    });
    if (readAt === undefined) return;
    // The reader's other sessions learn their new counts (one user, one thread: not a per-member cost). Ephemeral,
    // so counted after the commit, on the store's readers, not inside the write transaction every send waits for.
    const [counts] = await this.store.summarizeThreadsForUser({ userId: caller.userId, threadIds: [threadId], types: COUNTED_MESSAGE_TYPES, countLimit: UNREAD_COUNT_LIMIT });
    this.publish([{
      event: { type: "unreadCountChanged", threadId, at: readAt, actor: caller.userId, unreadCount: counts?.unreadCount ?? 0, unreadMentionCount: counts?.unreadMentionCount ?? 0 },
      recipients: [caller.userId],
    }]);
  }

  /** ListChatReadReceipts (skip/maxPageSize paging, newest first). */
  async listReadReceipts(caller: Caller, threadId: string, options: { maxPageSize?: number; skip?: number }): Promise<Page<ReadReceiptRecord, number>> {
    requireCapability(caller, "participate");
    const { participant } = await threadAccess(this.store, caller, threadId);
    const limit = pageSize(options.maxPageSize);
    const skip = options.skip ?? 0;
    // Receipts of messages before the caller's shared history are hidden, as the messages are (and as realtime does).
    const rows = await this.store.listReadReceipts(threadId, skip, limit + 1, participant.shareHistoryTime);
    const items = rows.slice(0, limit);
    return { items, next: rows.length > limit ? skip + limit : undefined };
  }

  // ---- background work ----

  /** Purges threads whose retention policy expired, and old idempotency records and events. */
  async runHousekeeping(): Promise<{ purgedThreads: number }> {
    const now = this.now();
    const expired = await this.store.listExpiredThreads(now, 100);
    const events: Pending[] = [];
    for (const id of expired) {
      const purged: Pending[] = [];
      await this.store.transaction(async (tx) => {
        const thread = await tx.lockThread(id);
        if (!thread) return;
        const recipients = await tx.listParticipantIds(id);
        await tx.purgeThread(id);
        // Durable, like a user's deletion, so a client that was away gets it on resume. Appended after the purge
        // (which deletes the thread's events), with the participants at purge time as recipients.
        if (thread.deletedAt === null) {
          await this.record(tx, purged, { type: "chatThreadDeleted", threadId: id, at: now, actor: thread.createdBy, threadCreatedAt: thread.createdAt, reason: "deletedByPolicy" }, recipients);
        }
      });
      events.push(...purged);
    }
    await this.store.deleteIdempotencyBefore(now - this.idempotencyWindowMs);
    await this.store.deleteEventsBefore(now - this.eventRetentionMs);
    // A Trouter endpoint's cursor not saved within retention is useless (its events are gone): resume starts at the head.
    await this.store.deleteEndpointCursorsBefore(now - this.eventRetentionMs);
    this.publish(events);
    return { purgedThreads: expired.length };
  }

  // ---- helpers ----

  /**
   * One idempotent write: a transaction guarded by `once`, whose events are published after commit.
   * Two identical requests racing on a Store with concurrent transactions (PostgreSQL) can both find no
   * record; the loser's insertIdempotency then fails with IdempotencyConflictError (the winner has committed by
   * then) and its transaction rolls back, writing nothing. It runs again: now it finds the winner's record
   * and answers with the first result, like any replay. Events of a rolled-back attempt are discarded.
   */
  private async writeOnce<T>(o: OnceOptions, fn: (tx: StoreOps, events: Pending[]) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const events: Pending[] = [];
      try {
        // Without a key (most sends) there is nothing to look up or record: no once() layer (a promise per write).
        const result = await this.store.transaction((tx) => (o.key === undefined ? fn(tx, events) : this.once(tx, { ...o, key: o.key }, () => fn(tx, events))));
        this.publish(events);
        return result;
      } catch (error) {
        // A few attempts: a conflict means a committed record exists, so the next attempt normally replays it.
        if (error instanceof IdempotencyConflictError && attempt < MAX_IDEMPOTENCY_ATTEMPTS) continue;
        throw error;
      }
    }
  }

  /**
   * Runs `run` once per (scope, key) (writeOnce calls it only with a key): a replay with the same fingerprint inside the window returns the first
   * result and writes nothing. A different request under the same key is 409 when `strict`
   * (repeatability-request-id), and otherwise simply runs (x-ms-client-request-id is also a tracing header).
   */
  private async once<T>(tx: StoreOps, o: OnceOptions & { key: string }, run: () => Promise<T>): Promise<T> {
    const previous = await tx.getIdempotency(o.scope, o.key);
    const live = previous !== undefined && previous.createdAt > this.now() - o.windowMs;
    if (live && previous.fingerprint === o.fingerprint) return (previous.body === "" ? undefined : JSON.parse(previous.body)) as T;
    if (live && o.strict) throw new ChatError("conflict", "The repeatability-request-id was already used for a different request.");
    const result = await run();
    if (previous === undefined) {
      await tx.insertIdempotency({ scope: o.scope, key: o.key, fingerprint: o.fingerprint, status: 0, body: result === undefined ? "" : JSON.stringify(result), createdAt: this.now() });
    }
    return result;
  }

  /** Retried POSTs (same x-ms-client-request-id, same user) within 10 minutes are answered from the first run. */
  private retryKey(operation: string, caller: Caller, threadId: string, requestId: string | undefined, input: unknown): OnceOptions {
    // No request id, no record: skip the fingerprint (a JSON copy and a SHA-256 of the input per send) and scope.
    if (requestId === undefined) return { scope: "", key: undefined, fingerprint: "", windowMs: RETRY_WINDOW_MS, strict: false };
    const fingerprint = hash(JSON.stringify([threadId, input]));
    // The scope leads with the thread id, so a store partitioned by thread keeps the record with its thread.
    return { scope: `${threadId} ${operation}:${caller.userId}`, key: requestId, fingerprint, windowMs: RETRY_WINDOW_MS, strict: false };
  }

  /** Whether `userId` is a participant of `threadId` (rate limits count a thread's participants only). */
  async isParticipant(userId: string, threadId: string): Promise<boolean> {
    return (await this.store.getParticipant(threadId, userId)) !== undefined;
  }

  private async isKnownUser(ops: StoreOps, userId: string): Promise<boolean> {
    if (!belongsToResource(userId, this.resourceId)) return false;
    const user = await ops.getUser(userId);
    return user !== undefined && user.deletedAt === null;
  }

  private checkThreadProperties(input: { topic?: string; metadata?: Record<string, string>; retention?: RetentionRecord }): void {
    if (input.topic !== undefined) checkLength(input.topic, LIMITS.topicLength, "topic");
    if (input.metadata) checkMetadata(input.metadata, LIMITS.metadataBytes, "metadata");
    if (input.retention?.kind === "threadCreationDate") {
      const days = input.retention.deleteThreadAfterDays;
      if (!Number.isInteger(days) || days < LIMITS.retentionMinDays || days > LIMITS.retentionMaxDays) {
        throw validationError(`deleteThreadAfterDays must be an integer from ${LIMITS.retentionMinDays} to ${LIMITS.retentionMaxDays}.`, "retentionPolicy.deleteThreadAfterDays");
      }
    }
  }

  private checkParticipantInput(p: ParticipantInput): void {
    if (p.displayName !== undefined) checkLength(p.displayName, LIMITS.displayNameLength, "displayName");
    if (p.metadata) checkMetadata(p.metadata, LIMITS.metadataBytes, "participant metadata");
  }

  private async appendSystemMessage(tx: StoreOps, thread: ThreadRecord, type: MessageType, body: MessageRecord["body"], now: number): Promise<void> {
    const id = tick(thread, now);
    await tx.insertMessage({
      threadId: thread.id, id: String(id), sequence: thread.nextSequence++, type, body, sender: null, senderDisplayName: null,
      createdAt: now, editedAt: null, deletedAt: null, version: id, metadata: null,
    });
  }

  /** Stores a durable event (its stream position) and queues it for publishing after commit. */
  private async record(tx: StoreOps, pending: Pending[], event: ChatEvent, recipients: readonly string[]): Promise<void> {
    event.position = await tx.appendEvent({ threadId: event.threadId, type: event.type, recipients, payload: event, createdAt: event.at });
    pending.push({ event, recipients });
  }

  private publish(pending: Pending[]): void {
    // One fan-out per event: the Bus sends one message per node with recipients; each socket knows its user.
    for (const { event, recipients } of pending) {
      void this.bus.publishMany(this.topicsOf(recipients), { type: CHAT_EVENT, data: { event } });
    }
  }

  /**
   * The users' topics of a recipient list. A frozen list (the store's cached participant list, shared by every
   * send to the thread) keeps its topics: the same string objects each time, whose hashes the bus's maps already
   * know (64 new topic strings per send to a 64-member thread cost ~10 µs in bench/durable-sends-profile.mjs).
   */
  private topicsOf(recipients: readonly string[]): readonly string[] {
    let topics = this.topics.get(recipients);
    if (!topics) {
      topics = recipients.map(userTopic);
      if (Object.isFrozen(recipients)) this.topics.set(recipients, topics);
    }
    return topics;
  }
}

interface OnceOptions {
  scope: string;
  key: string | undefined;
  fingerprint: string;
  windowMs: number;
  strict: boolean;
}

/** Attempts of an idempotent write whose record insert lost a race (see writeOnce). */
const MAX_IDEMPOTENCY_ATTEMPTS = 3;

/** How long a retried POST is recognised by its x-ms-client-request-id. */
const RETRY_WINDOW_MS = 10 * 60_000;

interface Pending {
  event: ChatEvent;
  recipients: readonly string[];
}

/** A message by an id from a request: none for an id no stored message can have (see isStorableId). */
async function findMessage(ops: StoreOps, threadId: string, messageId: string): Promise<MessageRecord | undefined> {
  return isStorableId(messageId) ? ops.getMessage(threadId, messageId) : undefined;
}

/**
 * Which events go to whom, for events about one message (received, edited, deleted, read receipt): only the
 * participants whose shared history includes the message (createdAt >= shareHistoryTime), as for REST reads.
 * Thread-level events (thread created/updated/deleted, participants added/removed) and typing go to every
 * participant: what they carry is visible to every participant over REST too (thread properties, participants).
 * The common case (nobody's history starts after the message) costs one comparison and hands back the store's
 * shared participant list, so the SQLite writer's recipient-set cache keyed by that list still hits.
 */
async function messageRecipients(tx: StoreOps, threadId: string, createdAt: number): Promise<readonly string[]> {
  return recipientsOf(await tx.listParticipantWindows(threadId), createdAt);
}

function recipientsOf(windows: ParticipantWindows, createdAt: number): readonly string[] {
  if (windows.latestShareHistoryTime <= createdAt) return windows.ids;
  return windows.ids.filter((_, i) => windows.shareHistoryTimes[i] <= createdAt);
}

/** A thread that exists and is not deleted (locked when `lock`), else 404 as ACS. */
async function liveThread(ops: StoreOps, threadId: string, lock: boolean): Promise<ThreadRecord> {
  if (!isStorableId(threadId)) throw notFound("The chat thread was not found.");
  const thread = lock ? await ops.lockThread(threadId) : await ops.getThread(threadId);
  if (!thread || thread.deletedAt !== null) throw notFound("The chat thread was not found.");
  return thread;
}

/** The thread (404 when missing or deleted) and the caller's participation (403 when not a participant), as ACS. */
export async function threadAccess(ops: StoreOps, caller: Caller, threadId: string, lock = false): Promise<{ thread: ThreadRecord; participant: ParticipantRecord }> {
  const thread = await liveThread(ops, threadId, lock);
  const participant = await ops.getParticipant(threadId, caller.userId);
  if (!participant) throw forbidden();
  return { thread, participant };
}

/**
 * Locks a live thread for a write by one of its participants (access() for writers that need the participant
 * list anyway): membership is checked on that list, which the SQLite writer caches, so one store read fewer.
 */
async function lockAsMember(tx: StoreOps, caller: Caller, threadId: string): Promise<{ thread: ThreadRecord; windows: ParticipantWindows }> {
  const thread = await liveThread(tx, threadId, true);
  const windows = await tx.listParticipantWindows(threadId);
  if (!windows.ids.includes(caller.userId)) throw forbidden();
  return { thread, windows };
}

/**
 * Parses the mentions of an html body (Natter extension, domain/mentions.ts): a mention is valid for a participant
 * who sees the message (`visible`: the message's recipients); invalid mention tags become their text.
 */
async function applyMentions(body: MessageRecord["body"], recipients: readonly string[]): Promise<void> {
  const visible = new Set(recipients);
  const parsed = await parseMentions(body.message ?? "", (rawId) => visible.has(rawId));
  body.message = parsed.content;
  if (parsed.mentions.length > 0) body.mentions = parsed.mentions;
  else delete body.mentions;
}

/** Shape checks of a request's attachments (before any store access). */
function checkAttachments(attachments: AttachmentInput[]): void {
  if (attachments.length > LIMITS.attachmentsPerMessage) {
    throw validationError(`A message can have at most ${LIMITS.attachmentsPerMessage} attachments.`, "attachments");
  }
  for (const a of attachments) {
    if (a.attachmentType.toLowerCase() !== "image") {
      throw validationError(`Attachment type '${a.attachmentType.slice(0, 40)}' cannot be sent; upload images with UploadChatImage.`, "attachments.attachmentType");
    }
    if (a.name !== undefined) checkLength(a.name, LIMITS.imageNameLength, "attachments.name");
  }
}

/** The stored attachments of a message: each id must name an image of the thread (400 otherwise). */
async function resolveAttachments(tx: StoreOps, threadId: string, attachments: AttachmentInput[]): Promise<AttachmentRef[]> {
  const refs: AttachmentRef[] = [];
  for (const a of attachments) {
    const image = isStorableId(a.id) ? await tx.getImage(threadId, a.id) : undefined;
    if (!image) throw validationError(`Attachment '${a.id.slice(0, 80)}' is not an image of this thread.`, "attachments.id");
    refs.push({ id: image.id, type: "image", name: a.name ?? image.name });
  }
  return refs;
}

/** Next id/version of a thread: epoch ms, strictly increasing even within one millisecond. */
function tick(thread: ThreadRecord, now: number): number {
  thread.clock = Math.max(now, thread.clock + 1);
  return thread.clock;
}

function pageSize(requested: number | undefined): number {
  if (requested === undefined) return LIMITS.defaultPageSize;
  return Math.min(Math.max(1, requested), LIMITS.maxPageSize);
}

function expiry(createdAt: number, retention: RetentionRecord | null | undefined): number | null {
  return retention?.kind === "threadCreationDate" ? createdAt + retention.deleteThreadAfterDays * DAY_MS : null;
}

function toParticipantRecord(threadId: string, p: ParticipantInput, now: number): ParticipantRecord {
  return {
    threadId, userId: p.userId, displayName: p.displayName ?? null, shareHistoryTime: p.shareHistoryTime ?? 0,
    metadata: p.metadata ?? null, joinedAt: now,
  };
}

function snapshot(p: ParticipantRecord): ParticipantSnapshot {
  return { userId: p.userId, displayName: p.displayName, shareHistoryTime: p.shareHistoryTime, metadata: p.metadata };
}

function hash(text: string): string {
  return createHash("sha256").update(text).digest("base64url");
}
