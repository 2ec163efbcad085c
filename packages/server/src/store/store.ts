// The Store seam: the source of truth for users, threads, participants, messages, receipts,
// idempotency records and the durable event stream. Implementations are dumb: the rules live in domain/.
// Times are epoch milliseconds; identifiers are ACS raw ids.

export interface UserRecord {
  id: string;
  createdAt: number;
  deletedAt: number | null;
  /** Incremented by revokeTokens/deleteUser; a token is valid only for the generation it was issued in. */
  tokenGeneration: number;
  /**
   * The caller's own key for this identity (identity api-version 2025-06-30): unique among users that hold
   * one; cleared when the user is deleted, so the key can name a new identity.
   */
  customId: string | null;
  /** When a token was last issued for this user (epoch ms), or null if never. */
  lastTokenIssuedAt: number | null;
}

export type RetentionRecord = { kind: "threadCreationDate"; deleteThreadAfterDays: number } | { kind: "none" };

export interface ThreadRecord {
  id: string;
  topic: string;
  createdAt: number;
  createdBy: string;
  deletedAt: number | null;
  metadata: Record<string, string> | null;
  retention: RetentionRecord | null;
  /** The sequence number the next message of this thread gets (starts at 1). */
  nextSequence: number;
  /** Last message id/version handed out in this thread (epoch ms, strictly increasing). */
  clock: number;
  lastMessageAt: number | null;
  /** When retention says so, the time after which the thread is purged. */
  expiresAt: number | null;
}

export interface ParticipantRecord {
  threadId: string;
  userId: string;
  displayName: string | null;
  shareHistoryTime: number;
  metadata: Record<string, string> | null;
  joinedAt: number;
}

export interface ParticipantSnapshot {
  userId: string;
  displayName: string | null;
  shareHistoryTime: number;
  metadata: Record<string, string> | null;
}

/**
 * A thread's participants as the recipients of its events: who they are and from when each one may see the
 * thread's messages (shareHistoryTime). `ids` is the list `listParticipantIds` returns (join order); a store
 * may hand out one shared, frozen object.
 */
export interface ParticipantWindows {
  ids: readonly string[];
  /** `shareHistoryTimes[i]` is the shareHistoryTime of `ids[i]`. */
  shareHistoryTimes: readonly number[];
  /** The greatest of `shareHistoryTimes` (-Infinity for a thread without participants). */
  latestShareHistoryTime: number;
}

/** ParticipantWindows of two parallel lists, frozen so that a store may hand out one cached object. */
export function participantWindows(ids: string[], shareHistoryTimes: number[]): ParticipantWindows {
  return Object.freeze({
    ids: Object.freeze(ids), shareHistoryTimes: Object.freeze(shareHistoryTimes),
    latestShareHistoryTime: shareHistoryTimes.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY),
  });
}

export type MessageType = "text" | "html" | "topicUpdated" | "participantAdded" | "participantRemoved";

/** A message's attachment: an image of the same thread, by id (the chat previews' ChatAttachment). */
export interface AttachmentRef {
  id: string;
  type: "image";
  name: string | null;
}

export interface MessageBody {
  message?: string;
  /**
   * Raw ids of the participants an html message mentions (`<msft-mention id="{rawId}">`), as the domain parsed
   * them on send or edit: participants only, no duplicates, in order of first mention. Absent: no mention.
   */
  mentions?: string[];
  topic?: string;
  participants?: ParticipantSnapshot[];
  initiator?: string;
  /** Images of the thread the message shows (sent at a chat preview api-version). */
  attachments?: AttachmentRef[];
}

/** An image uploaded to a thread (UploadChatImage), kept until it is deleted or its thread's content is. */
export interface ImageRecord {
  threadId: string;
  id: string;
  /** The file name the uploader gave (image-filename header), or null. */
  name: string | null;
  contentType: string;
  data: Uint8Array;
  uploadedBy: string;
  createdAt: number;
}

export interface MessageRecord {
  threadId: string;
  id: string;
  sequence: number;
  type: MessageType;
  body: MessageBody;
  sender: string | null;
  senderDisplayName: string | null;
  createdAt: number;
  editedAt: number | null;
  deletedAt: number | null;
  /** Never below `createdAt` (the domain's thread clock only moves forward): stores bound scans by it. */
  version: number;
  metadata: Record<string, string> | null;
}

export interface ReadReceiptRecord {
  threadId: string;
  userId: string;
  messageId: string;
  sequence: number;
  readAt: number;
}

export interface IdempotencyRecord {
  scope: string;
  key: string;
  /** A fingerprint of the request, so a reused key with a different body can be told apart. */
  fingerprint: string;
  status: number;
  body: string;
  createdAt: number;
}

/** An event as a reader gets it back from the stream. */
export type StreamEvent = Omit<EventRecord, "recipients">;

export interface EventRecord {
  /**
   * Stream position, assigned by the Store, unique. No reader ever skips an event: readEvents/readStream return
   * an event only once no event with a lower position can still appear (SQLite: at commit, positions follow
   * commit order; PostgreSQL: once every transaction older than its own has ended, see postgres-store.ts).
   * Positions of one transaction increase in append order; a later transaction may get a lower position.
   */
  position: number;
  threadId: string;
  type: string;
  /** The users that receive this event (participants at the time of the event). */
  recipients: readonly string[];
  payload: unknown;
  createdAt: number;
}

export interface ThreadListItem {
  thread: ThreadRecord;
  /** Last activity used for ordering: last message time, or creation. */
  activityAt: number;
}

export interface MessagePageQuery {
  /** Only messages whose version is below this (keyset cursor, exclusive). */
  beforeVersion?: number;
  /** Only messages modified at or after this time. */
  minVersion?: number;
  /**
   * Only messages created at or after this time (history sharing). Since `version >= createdAt`, it is also a
   * lower bound of the (thread, version) index range: a page costs what it returns plus the messages created
   * before this time and modified after it, never a scan of the older history (even when this time is in the
   * future and nothing matches).
   */
  minCreatedAt?: number;
  limit: number;
}

/**
 * The order of listThreadsForUser (the rule ACS follows, docs/architecture.md "Thread list order"): activity
 * truncated to the whole second (toward zero), newest second first; within one second, creation order
 * (createdAt ascending, then id ascending by code point).
 */
export interface ThreadPageQuery {
  /**
   * Keyset cursor: the last item of the previous page (its activityAt, thread createdAt and id); the page
   * continues strictly after it in the order above.
   */
  after?: { activityAt: number; createdAt: number; id: string };
  minActivityAt?: number;
  limit: number;
}

/**
 * What summarizeThreadsForUser reads (Natter extension: unread counts and last message). The rule (which message
 * types count, how far to count) is the domain's; a store applies it as given.
 */
export interface ThreadSummaryQuery {
  userId: string;
  /** The threads to summarize (one page of the user's thread list); threads the user is not in are skipped. */
  threadIds: readonly string[];
  /** Message types that count as unread and can be the last message. */
  types: readonly MessageType[];
  /** Counts stop at this many per thread (unreadCount and unreadMentionCount are each at most this). */
  countLimit: number;
}

/** One thread's unread state for a user (see StoreOps.summarizeThreadsForUser). */
export interface ThreadSummaryRecord {
  threadId: string;
  /**
   * Messages of `types`, not deleted, sent by someone else (sender not null and not the user), created at or
   * after the user's shareHistoryTime, with a sequence above the user's read receipt's (0 without a receipt);
   * at most `countLimit`.
   */
  unreadCount: number;
  /** Of those, the ones whose body.mentions holds the user (at most `countLimit`). */
  unreadMentionCount: number;
  /** The thread's newest message (by sequence) of `types`, not deleted, created at or after shareHistoryTime. */
  lastMessage: MessageRecord | null;
}

/**
 * searchMessages (the search extension): the messages matching every term of a parsed query (domain/search-text.ts:
 * each term a phrase of index tokens, the last one a prefix when `prefix`), newest first.
 */
export interface MessageSearchQuery {
  terms: { tokens: string[]; prefix: boolean }[];
  /** Only messages of threads `userId` participates in, created at or after that participant's shareHistoryTime. */
  userId: string;
  /** Only this thread's messages. */
  threadId?: string;
  /** Only messages created at or after this time. */
  minCreatedAt?: number;
  /** Keyset cursor: only hits strictly after this one (a `cursor` of an earlier hit) in the result order. */
  after?: number;
  limit: number;
}

export interface MessageSearchHit {
  message: MessageRecord;
  /** The hit's place in the result order (descending), for `MessageSearchQuery.after`. */
  cursor: number;
}

/** listMessagesBySequence (messages around one, the jump-to-message extension). */
export interface SequencePageQuery {
  /** "older": sequence descending from below `from`; "newer": ascending from above it. */
  direction: "older" | "newer";
  /** Exclusive start. */
  from: number;
  /** Only messages created at or after this time (history sharing). */
  minCreatedAt?: number;
  limit: number;
}

/** A display name a user picked at demo sign-in (the web app's user directory). */
export interface ProfileRecord {
  userId: string;
  displayName: string;
  createdAt: number;
}

/** The user directory behind demo sign-in. Kept apart from StoreOps until every Store implements it. */
export interface DirectoryOps {
  /** Case-insensitive lookup by display name. */
  findProfileByName(displayName: string): Promise<ProfileRecord | undefined>;
  /** Fails if the name is taken (case-insensitively) by another user. */
  insertProfile(profile: ProfileRecord): Promise<void>;
  /** Profiles ordered by display name (case-insensitive), after `afterName` when given. */
  listProfiles(limit: number, afterName?: string): Promise<ProfileRecord[]>;
}

/**
 * A webhook subscription to the chat events (server-side events, docs/events.md). `definition` is the
 * subscription's settings as events/subscription.ts validated them (opaque JSON to the Store).
 */
export interface EventSubscriptionRecord {
  name: string;
  definition: unknown;
  /** The Standard Webhooks signing secret (`whsec_…`). */
  secret: string;
  /** "Succeeded", or "AwaitingManualAction" while the endpoint has not yet opened its validationUrl. */
  state: string;
  createdAt: number;
  updatedAt: number;
  /**
   * Stream position up to which every event was delivered, parked for retry or dead-lettered; delivery goes on
   * with the events after it. Only moves forward.
   */
  cursor: number;
}

/** One outgoing event waiting for another attempt (a subscription's retry queue), or dead-lettered. */
export interface EventDeliveryRecord {
  subscription: string;
  /** Order of the queue, assigned by the Store (increasing in insertion order). */
  seq: number;
  /** The outgoing event's id (stable: a redelivery carries the same id). */
  eventId: string;
  threadId: string;
  /** Stream position of the durable event it came from. */
  position: number;
  /** The outgoing event (events/chat-event-grid.ts OutgoingEvent), opaque to the Store. */
  event: unknown;
  /** Attempts made so far. */
  attempts: number;
  /** Parked: when the next attempt is due (epoch ms). Dead letter: when it was dead-lettered. */
  at: number;
  /** Dead letters only: why ("MaxDeliveryAttemptsExceeded", "TimeToLiveExceeded", "DeliveryFailed"). */
  reason: string | null;
  /** The last attempt's outcome ("HTTP 503", "timeout", …). */
  lastError: string | null;
}

export type NewEventDelivery = Omit<EventDeliveryRecord, "seq" | "subscription">;

/** What a delivery round did with parked deliveries (by seq), applied atomically. */
export interface ParkedOutcome {
  delivered: number[];
  retry: { seq: number; attempts: number; at: number; lastError: string | null }[];
  deadLetter: { seq: number; attempts: number; reason: string; lastError: string | null }[];
}

/**
 * Event subscriptions, their cursors over the stream, retry queues, dead letters and delivery leases. Writes that
 * only the delivering node may make take the lease `holder` and do nothing (returning false) when another node
 * holds the lease: a node that lost its lease (paused, partitioned) cannot move a cursor back or forth.
 */
export interface EventSubscriptionOps {
  /** Inserts a subscription; false (writing nothing) when the name is taken. */
  insertEventSubscription(record: EventSubscriptionRecord): Promise<boolean>;
  /** Replaces definition/state/updatedAt (cursor, secret and createdAt stay); false when there is none. */
  updateEventSubscription(name: string, patch: Partial<Pick<EventSubscriptionRecord, "definition" | "secret" | "state" | "updatedAt">>): Promise<boolean>;
  getEventSubscription(name: string): Promise<EventSubscriptionRecord | undefined>;
  /** All subscriptions, by name. */
  listEventSubscriptions(): Promise<EventSubscriptionRecord[]>;
  /** Deletes the subscription with its retry queue, dead letters and lease; false when there was none. */
  deleteEventSubscription(name: string): Promise<boolean>;
  /**
   * Takes or renews the subscription's delivery lease for `ttlMs`: succeeds when nobody holds it, `holder`
   * holds it, or the holder's lease expired before `now`. One conditional UPDATE (atomic across nodes).
   */
  acquireEventSubscriptionLease(name: string, holder: string, now: number, ttlMs: number): Promise<boolean>;
  /** Gives the lease up (only when `holder` holds it), so another node takes over at once. */
  releaseEventSubscriptionLease(name: string, holder: string): Promise<void>;
  /**
   * One delivery round over the stream, atomically: moves the cursor forward to `cursor` (never back), parks
   * `parked` deliveries for retry and records `deadLetters`. False, writing nothing, unless `holder` holds the lease.
   */
  advanceEventSubscription(name: string, holder: string, cursor: number, parked: NewEventDelivery[], deadLetters: NewEventDelivery[]): Promise<boolean>;
  /** The retry queue, in seq order (up to `limit`). */
  listParkedDeliveries(name: string, limit: number): Promise<EventDeliveryRecord[]>;
  /** Applies a retry round's outcome atomically; false, writing nothing, unless `holder` holds the lease. */
  settleParkedDeliveries(name: string, holder: string, outcome: ParkedOutcome, now: number): Promise<boolean>;
  /** Dead letters of one subscription (or all), in seq order, after `afterSeq`. */
  listDeadLetters(name: string | undefined, limit: number, afterSeq?: number): Promise<EventDeliveryRecord[]>;
  /** Moves a subscription's dead letters back to its retry queue (attempts reset, due at `now`); returns how many. */
  redeliverDeadLetters(name: string, now: number): Promise<number>;
}

/** Every operation a transaction or a plain read can perform. */
export interface StoreOps extends EventSubscriptionOps {
  getUser(id: string): Promise<UserRecord | undefined>;
  /** The user that holds `customId`, deleted or not (a deleted user no longer holds one, see UserRecord). */
  getUserByCustomId(customId: string): Promise<UserRecord | undefined>;
  /**
   * Inserts the user. Returns false, writing nothing, when `user.customId` is already held by another user
   * (also one inserted by a concurrent transaction that commits first); a duplicate `id` still throws.
   */
  insertUser(user: UserRecord): Promise<boolean>;
  updateUser(id: string, patch: Partial<Omit<UserRecord, "id">>): Promise<void>;

  getThread(id: string): Promise<ThreadRecord | undefined>;
  /**
   * Reads the thread and, inside a transaction, locks it against concurrent writers until commit. When it is the
   * transaction's first write, the events of transactions that lock the same thread get positions in the order
   * in which they were granted the lock (so a thread's messages are in sequence order in the stream).
   */
  lockThread(id: string): Promise<ThreadRecord | undefined>;
  insertThread(thread: ThreadRecord): Promise<void>;
  updateThread(id: string, patch: Partial<Omit<ThreadRecord, "id">>): Promise<void>;
  listThreadsForUser(userId: string, query: ThreadPageQuery): Promise<ThreadListItem[]>;
  /** Threads whose retention expired before `now` (not yet purged). */
  listExpiredThreads(now: number, limit: number): Promise<string[]>;
  /** Deletes messages, images and read receipts of a thread (kept: the thread row and its participants). */
  deleteThreadContent(id: string): Promise<void>;
  /** Deletes the thread and everything it owns. */
  purgeThread(id: string): Promise<void>;

  getParticipant(threadId: string, userId: string): Promise<ParticipantRecord | undefined>;
  listParticipants(threadId: string, skip: number, limit: number): Promise<ParticipantRecord[]>;
  /** All participant user ids of a thread, in join order (a store may hand out one shared, frozen list). */
  listParticipantIds(threadId: string): Promise<readonly string[]>;
  /** All participants of a thread with their shareHistoryTime, in join order (see ParticipantWindows). */
  listParticipantWindows(threadId: string): Promise<ParticipantWindows>;
  countParticipants(threadId: string): Promise<number>;
  upsertParticipant(participant: ParticipantRecord): Promise<void>;
  deleteParticipant(threadId: string, userId: string): Promise<void>;

  getMessage(threadId: string, id: string): Promise<MessageRecord | undefined>;
  insertMessage(message: MessageRecord): Promise<void>;
  updateMessage(threadId: string, id: string, patch: Partial<Pick<MessageRecord, "body" | "editedAt" | "deletedAt" | "version" | "metadata">>): Promise<void>;
  /** Newest version first. */
  listMessages(threadId: string, query: MessagePageQuery): Promise<MessageRecord[]>;
  /**
   * Messages by sequence, away from `query.from` (see SequencePageQuery): a range of (thread, sequence).
   * Deleted messages included, as listMessages does.
   */
  listMessagesBySequence(threadId: string, query: SequencePageQuery): Promise<MessageRecord[]>;
  /**
   * Full-text search (see MessageSearchQuery). The index follows the messages in the same transaction: a text
   * or html message is found from its insert on, by its current content after an edit, never once deleted
   * (deletedAt set) or once its thread's content is deleted or purged. Html is searched as its visible text.
   * Newest first: the order messages were indexed in, which is their creation order within a store.
   */
  searchMessages(query: MessageSearchQuery): Promise<MessageSearchHit[]>;

  insertImage(image: ImageRecord): Promise<void>;
  getImage(threadId: string, id: string): Promise<ImageRecord | undefined>;
  /** Deletes the image; false when there was none. */
  deleteImage(threadId: string, id: string): Promise<boolean>;

  getReadReceipt(threadId: string, userId: string): Promise<ReadReceiptRecord | undefined>;
  upsertReadReceipt(receipt: ReadReceiptRecord): Promise<void>;
  /**
   * Newest receipt first. With `minCreatedAt`, only receipts of messages created at or after it (a participant's
   * shared history): skip and limit count those only.
   */
  listReadReceipts(threadId: string, skip: number, limit: number, minCreatedAt?: number): Promise<ReadReceiptRecord[]>;
  /**
   * Natter extension: per thread of `q.threadIds` that `q.userId` participates in, its unread counts and last
   * message for that user (ThreadSummaryRecord), in no particular order. Computed at read time from the
   * participant row, the read receipt and the messages' (thread, sequence) index: a thread costs an index seek,
   * the unread messages it counts (at most `countLimit`) and the deleted messages it skips from the newest.
   */
  summarizeThreadsForUser(q: ThreadSummaryQuery): Promise<ThreadSummaryRecord[]>;

  getIdempotency(scope: string, key: string): Promise<IdempotencyRecord | undefined>;
  /**
   * Fails with `IdempotencyConflictError` (and nothing else) when a record with the same (scope, key) exists,
   * including one committed by a concurrent transaction after this one read "no record". On PostgreSQL the
   * failed statement aborts the transaction: the caller must let it roll back and may then run it again.
   */
  insertIdempotency(record: IdempotencyRecord): Promise<void>;
  deleteIdempotencyBefore(time: number): Promise<number>;

  /**
   * Appends a durable event; readers see it only after the transaction commits, and only once nothing can
   * appear below it (see EventRecord.position): call headPosition() first to read every event committed before.
   */
  appendEvent(event: Omit<EventRecord, "position">): Promise<number>;
  /**
   * Events for `userId` with position > `after`, oldest first, without their recipient lists (a reader only
   * needs to know it is one of them; with 250 recipients the list would dwarf the payload). Cost: an index
   * range scan on (user, position), independent of how many events other users have.
   */
  readEvents(userId: string, after: number, limit: number): Promise<StreamEvent[]>;
  /** Every event with position > `after`, oldest first, with recipients (a node's shared read of the stream). */
  readStream(after: number, limit: number): Promise<EventRecord[]>;
  /**
   * Retention: deletes the events created before `time` and returns how many. Also raises the retention
   * marker (`purgedThrough`) to the highest position it deleted, in the same transaction.
   */
  deleteEventsBefore(time: number): Promise<number>;
  /**
   * The retention marker: no event above this position was ever deleted by `deleteEventsBefore` (0 when
   * nothing was). Never decreases. A single-row read. (Events deleted with their thread by `purgeThread` do not
   * move it.)
   */
  purgedThrough(): Promise<number>;
  /**
   * The stream head: a position at or above every event committed before the call, and final: every event
   * that commits later gets a greater position, so a reader may start there. Never below `purgedThrough()`;
   * 0 on an empty stream. An index lookup, not a scan; on PostgreSQL it may wait (milliseconds) for transactions
   * older than the newest committed event to end. Reads after it see every event up to it.
   */
  headPosition(): Promise<number>;

  /**
   * Trouter resume (Azure's SDK): the stream position up to which the endpoint `endpointId` (the client's
   * `epid`) of `userId` has acknowledged events; undefined when none was saved. Keyed by user too: an endpoint
   * id is chosen by the client, so another user's id names a different cursor. With `savedSince` (epoch ms),
   * only a cursor last saved at or after it.
   */
  getEndpointCursor(userId: string, endpointId: string, savedSince?: number): Promise<number | undefined>;
  /**
   * Saves the endpoint's cursor, stamped `at` (epoch ms). It only moves forward (a late save from an older
   * socket of the same endpoint cannot move it back), unless `replace` (the cursor was beyond the stream head:
   * a restore from an older backup).
   */
  saveEndpointCursor(userId: string, endpointId: string, position: number, at: number, replace?: boolean): Promise<void>;
  /**
   * Keeps the `keep` most recently saved cursors of `userId` (and always `endpointId`'s), deleting the others;
   * returns how many went. Bounds what one user's new endpoint ids can store.
   */
  trimEndpointCursors(userId: string, keep: number, endpointId: string): Promise<number>;
  /** Deletes the endpoint cursors last saved before `time` (they are beyond event retention); returns how many. */
  deleteEndpointCursorsBefore(time: number): Promise<number>;
}

/** Thrown by `insertIdempotency` when the (scope, key) is taken: a typed conflict the domain can act on. */
export class IdempotencyConflictError extends Error {
  constructor(readonly scope: string, readonly key: string, options?: { cause?: unknown }) {
    super(`An idempotency record for (${scope}, ${key}) already exists.`, options);
    this.name = "IdempotencyConflictError";
  }
}

export interface Store extends StoreOps {
  /** Creates or upgrades the schema (versioned migrations). Safe to call when several nodes start together. */
  migrate(): Promise<void>;
  /**
   * Runs `fn` atomically. When the returned promise resolves, every write of `fn` is durable (fsync'd).
   * `fn` must only use `tx` (no other I/O): implementations may batch several transactions into one commit.
   * If `fn` throws, none of its writes happen and the error is rethrown.
   */
  transaction<T>(fn: (tx: StoreOps) => Promise<T>): Promise<T>;
  /** Cheap liveness check of the underlying database. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
