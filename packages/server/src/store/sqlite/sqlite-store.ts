// SqliteStore: the embedded Store on better-sqlite3 (WAL). One writer connection runs transactions in
// batches (group commit: every transaction that arrives while the previous commit's fdatasync runs shares the
// next commit, each isolated by a SAVEPOINT);
// a second connection serves plain reads, so they only ever see committed data.
// Durability: SQLite commits with synchronous=NORMAL (no fsync on the event loop), then the WAL file is
// fdatasync'd on libuv's thread pool, and only then do the batch's transactions resolve. So a resolved
// transaction is on disk, exactly as with synchronous=FULL, while the next batch already runs.
import Database from "better-sqlite3";
import { chmodSync, closeSync, copyFileSync, existsSync, fdatasync, mkdirSync, openSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { dirname } from "node:path";
import type {
  DirectoryOps, ProfileRecord,
  EventRecord, EventSubscriptionRecord, IdempotencyRecord, NewEventDelivery, ParkedOutcome, ImageRecord, StreamEvent, MessagePageQuery, MessageRecord, ParticipantRecord, ParticipantWindows, ReadReceiptRecord,
  Store, StoreOps, ThreadListItem, ThreadPageQuery, ThreadRecord, ThreadSummaryQuery, ThreadSummaryRecord, UserRecord, MessageSearchQuery, MessageSearchHit, SequencePageQuery,
} from "../store.js";
import { searchDocument } from "../../domain/search-text.js";
import { IdempotencyConflictError, participantWindows } from "../store.js";
import { toDelivery, toSubscription } from "../event-subscription-rows.js";
import { SQLITE_MIGRATIONS } from "./migrations.js";
import type { CheckpointReport } from "./checkpoint-worker.js";

type Row = Record<string, unknown>;
type Db = Database.Database;

const json = (value: unknown): string | null => (value == null ? null : JSON.stringify(value));
const parse = <T>(value: unknown): T | null => (value == null ? null : (JSON.parse(value as string) as T));
const MAX_BATCH = 256;
/**
 * fdatasyncs in flight: one, so transactions that arrive meanwhile share the next commit (group commit). 2 and
 * 8 were tried in interleaved quick runs: no measurable gain in rate, more commits and bytes.
 */
const MAX_FLUSHES = 1;
/**
 * The WAL starts over from its first frame only when a write transaction begins with every frame already copied
 * into the database file. Under steady load the writer begins its next batch as soon as it commits, so the
 * checkpoint worker was always behind and the WAL grew without end: 1.6 GB after 40 s of sends over 64 threads,
 * CPU per send rising with it (149 to 218 µs), and a 0.6–0.7 s stall of every write when the first idle moment
 * let it be cut back to journal_size_limit (bench/sustained-sends.mjs). So once the WAL holds this many frames
 * (32 MiB at 1 KB pages) and a periodic pass has copied them, the writer waits before its next BEGIN for one more
 * pass that copies the frames written since (a few ms, two fsyncs), and that BEGIN starts the WAL over.
 */
const WAL_RESTART_FRAMES = 32_768;

/** How the WAL is kept small; the defaults suit a server, tests use smaller figures. */
export interface WalOptions {
  /** Frames (see WAL_RESTART_FRAMES). */
  restartFrames?: number;
  /** Between the checkpoint worker's passes. */
  checkpointIntervalMs?: number;
}

/**
 * Messages name their thread by its integer key (migration 12); a read finds the key by the thread id in the same
 * statement (a constant subquery, one index lookup), so no connection has a key cache to keep in step.
 */
const threadKeyOf = (param: string) => `(SELECT key FROM thread_keys WHERE thread_id = ${param})`;

/**
 * listMessages: a backward range of messages_version. The lower end is the greater of minVersion and
 * minCreatedAt (version >= createdAt, see MessagePageQuery), so a shareHistoryTime in the future is an empty
 * range instead of a scan of the whole thread. Exported for the query-plan test.
 */
export const LIST_MESSAGES_SQL = `SELECT * FROM messages WHERE thread_key = ${threadKeyOf("@threadId")} AND version < @before
  AND version >= MAX(@minVersion, @minCreatedAt) AND created_at >= @minCreatedAt ORDER BY version DESC LIMIT @limit`;

/**
 * searchMessages: the FTS5 match, newest document first (FTS5 walks its rowids backwards), each joined to the
 * caller's participation (its shareHistoryTime) and the message; stops at the limit. Exported for the plan test.
 */
export const SEARCH_MESSAGES_SQL = `SELECT m.*, s.thread_id AS thread_id, s.id AS search_cursor FROM message_search_fts f
  JOIN message_search s ON s.id = f.rowid
  JOIN participants p ON p.thread_id = s.thread_id AND p.user_id = @userId
  JOIN thread_keys k ON k.thread_id = s.thread_id
  JOIN messages m ON m.thread_key = k.key AND m.id = s.message_id
  WHERE message_search_fts MATCH @match AND f.rowid < @after AND s.created_at >= p.share_history_time AND s.created_at >= @minCreatedAt
  ORDER BY f.rowid DESC LIMIT @limit`;
/** The same within one thread. */
const SEARCH_THREAD_MESSAGES_SQL = SEARCH_MESSAGES_SQL.replace("AND s.created_at >= @minCreatedAt", "AND s.created_at >= @minCreatedAt AND s.thread_id = @threadId");
if (SEARCH_THREAD_MESSAGES_SQL === SEARCH_MESSAGES_SQL) throw new Error("the thread filter of the search query lost its anchor");

/** An FTS5 query from parsed terms: each a quoted phrase ("" escapes a quote), ANDed; never user syntax. */
export function fts5Match(terms: MessageSearchQuery["terms"], threads?: readonly string[]): string {
  const words = terms.map((t) => `"${t.tokens.join(" ").replace(/"/g, '""')}"${t.prefix ? "*" : ""}`).join(" AND ");
  if (!threads) return `document : (${words})`;
  return `document : (${words}) AND thread : (${threads.map((t) => `"${threadToken(t)}"`).join(" OR ")})`;
}

/**
 * The token of a thread in the FTS5 `thread` column: its id's letters and digits. Only narrows the match (the
 * query still joins on the thread id), so two ids with one token would cost time, never a wrong hit.
 */
export const threadToken = (threadId: string): string => `t${threadId.replace(/[^A-Za-z0-9]/g, "")}`;

/**
 * Up to this many threads, a search names the caller's threads in the FTS5 query (an OR of thread tokens), so
 * FTS5 intersects doclists instead of walking every match and dropping those of other threads.
 */
const THREAD_FILTER_MAX = 256;

function toUser(r: Row): UserRecord {
  return {
    id: r.id as string, createdAt: r.created_at as number, deletedAt: (r.deleted_at as number) ?? null, tokenGeneration: r.token_generation as number,
    customId: (r.custom_id as string | null) ?? null, lastTokenIssuedAt: (r.last_token_issued_at as number | null) ?? null,
  };
}
function toThread(r: Row): ThreadRecord {
  return {
    id: r.id as string, topic: r.topic as string, createdAt: r.created_at as number, createdBy: r.created_by as string,
    deletedAt: (r.deleted_at as number) ?? null, metadata: parse(r.metadata), retention: parse(r.retention),
    nextSequence: r.next_sequence as number, clock: r.clock as number, lastMessageAt: (r.last_message_at as number) ?? null,
    expiresAt: (r.expires_at as number) ?? null,
  };
}
function toParticipant(r: Row): ParticipantRecord {
  return {
    threadId: r.thread_id as string, userId: r.user_id as string, displayName: (r.display_name as string) ?? null,
    shareHistoryTime: r.share_history_time as number, metadata: parse(r.metadata), joinedAt: r.joined_at as number,
  };
}
function toImage(r: Row): ImageRecord {
  return {
    threadId: r.thread_id as string, id: r.id as string, name: (r.name as string | null) ?? null, contentType: r.content_type as string,
    data: new Uint8Array(r.data as Buffer), uploadedBy: r.uploaded_by as string, createdAt: r.created_at as number,
  };
}
/** A messages row as a record; `threadId`: the thread the caller asked for (rows hold its key, not its id). */
function toMessage(r: Row, threadId = r.thread_id as string): MessageRecord {
  return {
    threadId, id: r.id as string, sequence: r.sequence as number, type: r.type as MessageRecord["type"],
    body: JSON.parse(r.body as string), sender: (r.sender as string) ?? null, senderDisplayName: (r.sender_display_name as string) ?? null,
    createdAt: r.created_at as number, editedAt: (r.edited_at as number) ?? null, deletedAt: (r.deleted_at as number) ?? null,
    version: r.version as number, metadata: parse(r.metadata),
  };
}
function toReceipt(r: Row): ReadReceiptRecord {
  return { threadId: r.thread_id as string, userId: r.user_id as string, messageId: r.message_id as string, sequence: r.sequence as number, readAt: r.read_at as number };
}


const THREAD_COLUMNS: Record<string, (v: unknown) => unknown> = {
  topic: (v) => v, createdAt: (v) => v, createdBy: (v) => v, deletedAt: (v) => v, metadata: json, retention: json,
  nextSequence: (v) => v, clock: (v) => v, lastMessageAt: (v) => v, expiresAt: (v) => v,
};
const MESSAGE_COLUMNS: Record<string, (v: unknown) => unknown> = {
  body: (v) => JSON.stringify(v), editedAt: (v) => v, deletedAt: (v) => v, version: (v) => v, metadata: json,
};
const USER_COLUMNS: Record<string, (v: unknown) => unknown> = {
  createdAt: (v) => v, deletedAt: (v) => v, tokenGeneration: (v) => v, customId: (v) => v, lastTokenIssuedAt: (v) => v,
};
/**
 * An event's payload as stored: the fields that repeat the row or each other are left out, and the first key "~"
 * says which (bits: 1 `type`, `threadId` and `at` = created_at; 2 `message.threadId`; 4 `actor` =
 * `message.sender`; 0: a payload of its own that starts with "~", wrapped as `p`). Why: a message event was ~550
 * bytes, so a 1 KB page held one and every send wrote a page of events; ~340 bytes fit two. Still JSON
 * (json_extract works); payloads that repeat nothing, and rows stored before, are kept as they are.
 */
function storedPayload(e: Omit<EventRecord, "position">): string {
  const p = e.payload as Record<string, unknown> | null;
  const text = JSON.stringify(p);
  // Textual: the repeated fields must lead the JSON in this order (so reading restores the same key order), and
  // cutting the text is cheaper than copying the objects without them (~4 µs per send).
  if (p === null || typeof p !== "object" || Array.isArray(p) || "~" in p || p.type !== e.type || p.threadId !== e.threadId || p.at !== e.createdAt) {
    // A payload of its own whose first key is "~" (never a chat event) is wrapped, so it cannot pass for one.
    return text.startsWith('{"~":') ? JSON.stringify({ "~": 0, p }) : text;
  }
  const thread = JSON.stringify(e.threadId);
  const head = `{"type":${JSON.stringify(e.type)},"threadId":${thread},"at":${JSON.stringify(e.createdAt)},`;
  if (!text.startsWith(head)) return text;
  const m = p.message as Record<string, unknown> | null | undefined;
  if (m !== null && typeof m === "object" && m.threadId === e.threadId && typeof p.actor === "string") {
    const actor = `"actor":${JSON.stringify(p.actor)},`;
    const message = `"message":{"threadId":${thread},`;
    if (text.startsWith(message, head.length + actor.length) && text.startsWith(actor, head.length)) {
      const rest = text.slice(head.length + actor.length + message.length);
      return p.actor === m.sender ? `{"~":7,"message":{${rest}` : `{"~":3,${actor}"message":{${rest}`;
    }
  }
  return `{"~":1,${text.slice(head.length)}`;
}
/** The payload storedPayload() stored, as it was appended (same keys, same order for chat events). */
function eventPayload(text: string, type: string, threadId: string, createdAt: number): unknown {
  if (!text.startsWith('{"~":')) return JSON.parse(text);
  const { "~": mode, ...rest } = JSON.parse(text) as Record<string, unknown>;
  if (mode === 0) return rest.p;
  if (((mode as number) & 2) !== 0) rest.message = { threadId, ...(rest.message as object) };
  if (((mode as number) & 4) !== 0) return { type, threadId, at: createdAt, actor: (rest.message as { sender: unknown }).sender, ...rest };
  return { type, threadId, at: createdAt, ...rest };
}

const snake = (name: string) => name.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());

/** StoreOps over one better-sqlite3 connection, with a statement cache. */
class SqliteOps implements StoreOps, DirectoryOps {
  private readonly statements = new Map<string, Database.Statement>();
  private readonly updates = new Map<string, { statement: Database.Statement; columns: string[] }>();
  /**
   * Members of recipient sets by id (sets never change and ids are never reused), for readStream. Only on a
   * read-only connection: the writer could see, and cache, a set whose transaction later rolls back.
   */
  private readonly setMembers?: Map<number, string[]>;
  /**
   * Set ids by canonical member list, on the writer: the lookup by the UNIQUE members index was half of
   * appendEvent's time. Entries created by a transaction that rolls back must go: the store calls
   * stmtForgetCaches() after every rollback (and set deletions clear it too). Another writer on the same file
   * (a second store: tests, a migration) is noticed by PRAGMA data_version at each batch's BEGIN, which also
   * clears every writer cache (see drain).
   */
  private readonly setIds?: Map<string, number>;
  /**
   * Participants (ids and shareHistoryTimes) by thread, on the writer: every event reads its thread's
   * recipients, and a 250-member thread's read was a tenth of a send's time. Changed with the participants
   * table (upsert, delete, purge), and forgotten on any rollback or another writer's commit with the set ids
   * (stmtForgetCaches).
   */
  private readonly participantIds?: Map<string, ParticipantWindows>;
  /**
   * Thread rows by id, on the writer: every send reads its thread (lockThread) and writes it back (updateThread),
   * and the read was ~4 µs per send. Kept in step by insertThread/updateThread/purgeThread (nothing else writes
   * threads) and forgotten with the set ids (rollback, another writer's commit: stmtForgetCaches). Rows, not
   * records: each read builds a fresh ThreadRecord, which callers may change.
   */
  private readonly threadRows?: Map<string, Row>;
  /**
   * Thread keys by thread id (migration 12), on the writer: every send inserts its message by key. Forgotten with
   * the set ids (rollback, another writer's commit) and by purgeThread, which deletes the key.
   */
  private readonly threadKeys?: Map<string, number>;
  /** (set id, thread id) pairs known to be in thread_sets, on the writer; forgotten with the set ids. */
  private readonly threadSets?: Set<string>;
  /**
   * FTS5 writes of the current batch, applied in order just before COMMIT (stmtFlushSearch), on the writer. Why:
   * FTS5 flushes its pending terms to a new segment at every SAVEPOINT, and each transaction of a batch runs in
   * one, so indexing in place cost ~11 µs more per message than one flush per batch. A job that rolls back drops
   * its writes (stmtSearchMark / stmtSearchRollback); they still commit in the same transaction as the message.
   */
  private readonly pendingSearch: { rowid: number | bigint; document?: string; thread?: string }[] = [];
  /** The canonical member list (set key) of a cached participant list, computed once per list. */
  private readonly setKeys = new WeakMap<readonly string[], string>();
  constructor(private readonly db: Db, role: "reader" | "writer" | "both") {
    if (role === "reader") this.setMembers = new Map();
    if (role === "writer") {
      this.setIds = new Map();
      this.participantIds = new Map();
      this.threadSets = new Set();
      this.threadRows = new Map();
      this.threadKeys = new Map();
    }
  }

  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }
  private update(table: string, where: string, whereArgs: unknown[], patch: Record<string, unknown>, columns: Record<string, (v: unknown) => unknown>, row?: Row) {
    const keys = Object.keys(patch).filter((k) => k in columns && patch[k] !== undefined);
    if (keys.length === 0) return;
    // The statement by table and column list, without rebuilding its SQL (every send updates its thread).
    const id = `${table}\n${where}\n${keys.join(",")}`;
    let update = this.updates.get(id);
    if (!update) {
      const names = keys.map(snake);
      update = { statement: this.stmt(`UPDATE ${table} SET ${names.map((n) => `${n} = ?`).join(", ")} WHERE ${where}`), columns: names };
      this.updates.set(id, update);
    }
    const values = keys.map((k) => columns[k](patch[k]));
    update.statement.run(...values, ...whereArgs);
    // A cached copy of the row (threadRows) follows the update.
    if (row) update.columns.forEach((name, i) => (row[name] = values[i]));
  }

  /**
   * A thread's message key (migration 12), allocated at its first message when `create` (named stmt*: not a Store
   * method). Keys of purged threads may be reused: their messages went in the same transaction as the key.
   */
  private stmtThreadKey(threadId: string, create: boolean): number | undefined {
    const cached = this.threadKeys?.get(threadId);
    if (cached !== undefined) return cached;
    let key = this.stmt("SELECT key FROM thread_keys WHERE thread_id = ?").pluck().get(threadId) as number | undefined;
    if (key === undefined) {
      if (!create) return undefined;
      key = Number(this.stmt("INSERT INTO thread_keys (thread_id) VALUES (?)").run(threadId).lastInsertRowid);
    }
    if (this.threadKeys) {
      if (this.threadKeys.size >= 10_000) this.threadKeys.clear(); // bounded; a node's active threads fit
      this.threadKeys.set(threadId, key);
    }
    return key;
  }

  async getUser(id: string) {
    const r = this.stmt("SELECT * FROM users WHERE id = ?").get(id) as Row | undefined;
    return r && toUser(r);
  }
  async getUserByCustomId(customId: string) {
    const r = this.stmt("SELECT * FROM users WHERE custom_id = ?").get(customId) as Row | undefined;
    return r && toUser(r);
  }
  async insertUser(u: UserRecord) {
    // The conflict target is the partial unique index of migration 6: only a taken customId is skipped.
    const result = this.stmt(`INSERT INTO users (id, created_at, deleted_at, token_generation, custom_id, last_token_issued_at)
      VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (custom_id) WHERE custom_id IS NOT NULL DO NOTHING`).run(
      u.id, u.createdAt, u.deletedAt, u.tokenGeneration, u.customId, u.lastTokenIssuedAt);
    return result.changes === 1;
  }
  async updateUser(id: string, patch: Partial<Omit<UserRecord, "id">>) {
    this.update("users", "id = ?", [id], patch, USER_COLUMNS);
  }

  async getThread(id: string) {
    let r = this.threadRows?.get(id);
    if (!r) {
      r = this.stmt("SELECT * FROM threads WHERE id = ?").get(id) as Row | undefined;
      if (r && this.threadRows) {
        if (this.threadRows.size >= 10_000) this.threadRows.clear(); // bounded; a node's active threads fit
        this.threadRows.set(id, r);
      }
    }
    return r && toThread(r);
  }
  async lockThread(id: string) {
    // The writer connection holds the database's write lock for the whole transaction already.
    return this.getThread(id);
  }
  async insertThread(t: ThreadRecord) {
    this.threadRows?.delete(t.id);
    this.stmt(`INSERT INTO threads (id, topic, created_at, created_by, deleted_at, metadata, retention, next_sequence, clock, last_message_at, expires_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
      t.id, t.topic, t.createdAt, t.createdBy, t.deletedAt, json(t.metadata), json(t.retention), t.nextSequence, t.clock, t.lastMessageAt, t.expiresAt);
  }
  async updateThread(id: string, patch: Partial<Omit<ThreadRecord, "id">>) {
    this.update("threads", "id = ?", [id], patch, THREAD_COLUMNS, this.threadRows?.get(id));
  }
  async listThreadsForUser(userId: string, q: ThreadPageQuery): Promise<ThreadListItem[]> {
    // Order: see ThreadPageQuery. Integer division truncates toward zero, as Math.trunc does for the cursor.
    const activity = "COALESCE(t.last_message_at, t.created_at)";
    const rows = this.stmt(`SELECT t.*, ${activity} AS activity
      FROM participants p JOIN threads t ON t.id = p.thread_id
      WHERE p.user_id = @userId AND ${activity} >= @minActivity
        AND (@afterSecond IS NULL OR ${activity} / 1000 < @afterSecond
             OR (${activity} / 1000 = @afterSecond AND (t.created_at > @afterCreated OR (t.created_at = @afterCreated AND t.id > @afterId))))
      ORDER BY ${activity} / 1000 DESC, t.created_at ASC, t.id ASC LIMIT @limit`).all({
      userId, minActivity: q.minActivityAt ?? Number.MIN_SAFE_INTEGER,
      afterSecond: q.after ? Math.trunc(q.after.activityAt / 1000) : null, afterCreated: q.after?.createdAt ?? null,
      afterId: q.after?.id ?? null, limit: q.limit,
    }) as Row[];
    return rows.map((r) => ({ thread: toThread(r), activityAt: r.activity as number }));
  }
  async listExpiredThreads(now: number, limit: number) {
    return (this.stmt("SELECT id FROM threads WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ?").all(now, limit) as Row[]).map((r) => r.id as string);
  }
  async deleteThreadContent(id: string) {
    const key = this.stmtThreadKey(id, false);
    if (key !== undefined) {
      const documents = (this.stmt("SELECT search_id FROM messages WHERE thread_key = ? AND search_id IS NOT NULL").all(key) as Row[]).map((r) => r.search_id as number);
      for (const rowid of documents) {
        this.stmt("DELETE FROM message_search WHERE id = ?").run(rowid);
        this.pendingSearch.push({ rowid });
      }
      this.stmt("DELETE FROM messages WHERE thread_key = ?").run(key);
    }
    this.stmt("DELETE FROM images WHERE thread_id = ?").run(id);
    this.stmt("DELETE FROM read_receipts WHERE thread_id = ?").run(id);
  }
  async purgeThread(id: string) {
    await this.deleteThreadContent(id);
    this.stmt("DELETE FROM participants WHERE thread_id = ?").run(id);
    this.participantIds?.delete(id);
    // The thread's events, set by set (see migration 9: events has no thread index).
    const sets = (this.stmt("SELECT set_id FROM thread_sets WHERE thread_id = ?").all(id) as Row[]).map((r) => r.set_id as number);
    for (const setId of sets) this.stmt("DELETE FROM events WHERE set_id = ? AND thread_id = ?").run(setId, id);
    this.stmt("DELETE FROM thread_sets WHERE thread_id = ?").run(id);
    this.threadSets?.clear();
    for (const setId of sets) this.stmtDropSetIfUnused(setId);
    this.stmt("DELETE FROM threads WHERE id = ?").run(id);
    this.threadRows?.delete(id);
    this.stmt("DELETE FROM thread_keys WHERE thread_id = ?").run(id);
    this.threadKeys?.delete(id);
  }

  async getParticipant(threadId: string, userId: string) {
    const r = this.stmt("SELECT * FROM participants WHERE thread_id = ? AND user_id = ?").get(threadId, userId) as Row | undefined;
    return r && toParticipant(r);
  }
  async listParticipants(threadId: string, skip: number, limit: number) {
    return (this.stmt("SELECT * FROM participants WHERE thread_id = ? ORDER BY joined_at, rowid LIMIT ? OFFSET ?").all(threadId, limit, skip) as Row[]).map(toParticipant);
  }
  async listParticipantIds(threadId: string): Promise<readonly string[]> {
    return (await this.listParticipantWindows(threadId)).ids;
  }
  async listParticipantWindows(threadId: string): Promise<ParticipantWindows> {
    const cached = this.participantIds?.get(threadId);
    // Frozen: callers share the cached lists (they only read them).
    if (cached) return cached;
    const rows = this.stmt("SELECT user_id, share_history_time FROM participants WHERE thread_id = ? ORDER BY joined_at, rowid").all(threadId) as Row[];
    const windows = participantWindows(rows.map((r) => r.user_id as string), rows.map((r) => r.share_history_time as number));
    if (this.participantIds) {
      if (this.participantIds.size >= 10_000) this.participantIds.clear(); // bounded; a node's active threads fit
      this.participantIds.set(threadId, windows);
    }
    return windows;
  }
  async countParticipants(threadId: string) {
    return (this.stmt("SELECT COUNT(*) AS n FROM participants WHERE thread_id = ?").get(threadId) as Row).n as number;
  }
  async upsertParticipant(p: ParticipantRecord) {
    this.stmt(`INSERT INTO participants (thread_id, user_id, display_name, share_history_time, metadata, joined_at) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (thread_id, user_id) DO UPDATE SET display_name = excluded.display_name, share_history_time = excluded.share_history_time, metadata = excluded.metadata`)
      .run(p.threadId, p.userId, p.displayName, p.shareHistoryTime, json(p.metadata), p.joinedAt);
    this.participantIds?.delete(p.threadId);
  }
  async deleteParticipant(threadId: string, userId: string) {
    this.stmt("DELETE FROM participants WHERE thread_id = ? AND user_id = ?").run(threadId, userId);
    this.participantIds?.delete(threadId);
  }

  async getMessage(threadId: string, id: string) {
    const r = this.stmt(`SELECT * FROM messages WHERE thread_key = ${threadKeyOf("?")} AND id = ?`).get(threadId, id) as Row | undefined;
    return r && toMessage(r, threadId);
  }
  async insertMessage(m: MessageRecord) {
    // The search document's id first, so the message row is written once with it (no UPDATE of the new row).
    const document = searchDocument(m);
    const docId = document === undefined ? null : this.stmt("INSERT INTO message_search (thread_id, message_id, created_at) VALUES (?, ?, ?)").run(m.threadId, m.id, m.createdAt).lastInsertRowid;
    try {
      this.stmt(`INSERT INTO messages (thread_key, id, sequence, type, body, sender, sender_display_name, created_at, edited_at, deleted_at, version, metadata, search_id)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
        this.stmtThreadKey(m.threadId, true), m.id, m.sequence, m.type, JSON.stringify(m.body), m.sender, m.senderDisplayName, m.createdAt, m.editedAt, m.deletedAt, m.version, json(m.metadata), docId);
    } catch (error) {
      // A rejected message (duplicate id, sequence or version) leaves no search document behind.
      if (docId !== null && this.db.inTransaction) this.stmt("DELETE FROM message_search WHERE id = ?").run(docId);
      throw error;
    }
    if (docId !== null) this.pendingSearch.push({ rowid: docId, document, thread: threadToken(m.threadId) });
  }
  async updateMessage(threadId: string, id: string, patch: Partial<Pick<MessageRecord, "body" | "editedAt" | "deletedAt" | "version" | "metadata">>) {
    const key = this.stmtThreadKey(threadId, false);
    if (key === undefined) return; // no message in this thread
    this.update("messages", "thread_key = ? AND id = ?", [key, id], patch, MESSAGE_COLUMNS);
    if (patch.body === undefined && patch.deletedAt === undefined) return;
    // The search index follows the content: re-indexed under the same document id (its place in the order), or dropped.
    const r = this.stmt("SELECT rowid, type, body, deleted_at, created_at, search_id FROM messages WHERE thread_key = ? AND id = ?").get(key, id) as Row | undefined;
    const document = r && searchDocument({ type: r.type as MessageRecord["type"], body: JSON.parse(r.body as string), deletedAt: (r.deleted_at as number | null) ?? null });
    const existing = (r?.search_id as number | null | undefined) ?? undefined;
    if (existing !== undefined) {
      this.pendingSearch.push({ rowid: existing });
      if (document !== undefined) this.pendingSearch.push({ rowid: existing, document, thread: threadToken(threadId) });
      else {
        this.stmt("DELETE FROM message_search WHERE id = ?").run(existing);
        this.stmt("UPDATE messages SET search_id = NULL WHERE rowid = ?").run(r!.rowid);
      }
    } else if (r && document !== undefined) {
      this.stmtIndex(threadId, id, r.created_at as number, document, r.rowid as number);
    }
  }
  /** Adds a message's search document (named stmt*: not a Store method). */
  private stmtIndex(threadId: string, messageId: string, createdAt: number, document: string, messageRowid: number | bigint) {
    const docId = this.stmt("INSERT INTO message_search (thread_id, message_id, created_at) VALUES (?, ?, ?)").run(threadId, messageId, createdAt).lastInsertRowid;
    // The message points at its document (edits and deletes find it there): no index on (thread, message) to keep.
    this.stmt("UPDATE messages SET search_id = ? WHERE rowid = ?").run(docId, messageRowid);
    this.pendingSearch.push({ rowid: docId, document, thread: threadToken(threadId) });
  }
  /** Applies the batch's FTS5 writes (see pendingSearch); the store calls it before COMMIT, outside any SAVEPOINT. */
  stmtFlushSearch() {
    for (const w of this.pendingSearch) {
      if (w.document === undefined) this.stmt("DELETE FROM message_search_fts WHERE rowid = ?").run(w.rowid);
      else this.stmt("INSERT INTO message_search_fts (rowid, document, thread) VALUES (?, ?, ?)").run(w.rowid, w.document, w.thread);
    }
    this.pendingSearch.length = 0;
  }
  /** Where the current job's FTS5 writes start (see pendingSearch). */
  stmtSearchMark(): number {
    return this.pendingSearch.length;
  }
  /** Drops the FTS5 writes queued since `mark` (a job that rolled back; 0: the whole batch). */
  stmtSearchRollback(mark: number) {
    this.pendingSearch.length = mark;
  }
  /**
   * Indexes the messages that predate the search index, a batch per call, oldest first; false when none are left
   * (named stmt*: not a Store method; called by migrate()).
   */
  stmtBackfillSearch(batch: number): boolean {
    const after = (this.stmt("SELECT after_rowid FROM search_backfill WHERE id = 1").get() as Row | undefined)?.after_rowid as number | undefined;
    if (after === undefined || after < 0) return false;
    const rows = this.stmt(`SELECT m.rowid, k.thread_id, m.id, m.type, m.body, m.deleted_at, m.created_at, m.search_id
      FROM messages m JOIN thread_keys k ON k.key = m.thread_key WHERE m.rowid > ? ORDER BY m.rowid LIMIT ?`).all(after, batch) as Row[];
    for (const r of rows) {
      const document = searchDocument({ type: r.type as MessageRecord["type"], body: JSON.parse(r.body as string), deletedAt: (r.deleted_at as number | null) ?? null });
      if (document !== undefined && r.search_id === null) {
        this.stmtIndex(r.thread_id as string, r.id as string, r.created_at as number, document, r.rowid as number);
      }
    }
    this.stmtFlushSearch();
    const done = rows.length < batch;
    this.stmt("UPDATE search_backfill SET after_rowid = ? WHERE id = 1").run(done ? -1 : (rows[rows.length - 1].rowid as number));
    return !done;
  }
  async searchMessages(q: MessageSearchQuery): Promise<MessageSearchHit[]> {
    let threads: readonly string[] | undefined = q.threadId === undefined ? undefined : [q.threadId];
    if (!threads) {
      const mine = (this.stmt("SELECT thread_id FROM participants WHERE user_id = ? LIMIT ?").all(q.userId, THREAD_FILTER_MAX + 1) as Row[]).map((r) => r.thread_id as string);
      if (mine.length === 0) return [];
      if (mine.length <= THREAD_FILTER_MAX) threads = mine;
    }
    const rows = this.stmt(q.threadId === undefined ? SEARCH_MESSAGES_SQL : SEARCH_THREAD_MESSAGES_SQL).all({
      match: fts5Match(q.terms, threads), userId: q.userId, after: q.after ?? Number.MAX_SAFE_INTEGER, minCreatedAt: q.minCreatedAt ?? Number.MIN_SAFE_INTEGER,
      limit: q.limit, ...(q.threadId === undefined ? {} : { threadId: q.threadId }),
    }) as Row[];
    return rows.map((r) => ({ message: toMessage(r), cursor: r.search_cursor as number }));
  }
  async listMessagesBySequence(threadId: string, q: SequencePageQuery) {
    const sql = q.direction === "older"
      ? `SELECT * FROM messages WHERE thread_key = ${threadKeyOf("@threadId")} AND sequence < @from AND created_at >= @minCreatedAt ORDER BY sequence DESC LIMIT @limit`
      : `SELECT * FROM messages WHERE thread_key = ${threadKeyOf("@threadId")} AND sequence > @from AND created_at >= @minCreatedAt ORDER BY sequence ASC LIMIT @limit`;
    return (this.stmt(sql).all({ threadId, from: q.from, minCreatedAt: q.minCreatedAt ?? Number.MIN_SAFE_INTEGER, limit: q.limit }) as Row[]).map((r) => toMessage(r, threadId));
  }
  async listMessages(threadId: string, q: MessagePageQuery) {
    return (this.stmt(LIST_MESSAGES_SQL).all({
      threadId, before: q.beforeVersion ?? Number.MAX_SAFE_INTEGER, minVersion: q.minVersion ?? Number.MIN_SAFE_INTEGER,
      minCreatedAt: q.minCreatedAt ?? Number.MIN_SAFE_INTEGER, limit: q.limit,
    }) as Row[]).map((r) => toMessage(r, threadId));
  }

  async insertImage(i: ImageRecord) {
    this.stmt("INSERT INTO images (thread_id, id, name, content_type, data, uploaded_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .run(i.threadId, i.id, i.name, i.contentType, Buffer.from(i.data.buffer, i.data.byteOffset, i.data.byteLength), i.uploadedBy, i.createdAt);
  }
  async getImage(threadId: string, id: string) {
    const r = this.stmt("SELECT * FROM images WHERE thread_id = ? AND id = ?").get(threadId, id) as Row | undefined;
    return r && toImage(r);
  }
  async deleteImage(threadId: string, id: string) {
    return this.stmt("DELETE FROM images WHERE thread_id = ? AND id = ?").run(threadId, id).changes > 0;
  }

  async getReadReceipt(threadId: string, userId: string) {
    const r = this.stmt("SELECT * FROM read_receipts WHERE thread_id = ? AND user_id = ?").get(threadId, userId) as Row | undefined;
    return r && toReceipt(r);
  }
  async upsertReadReceipt(r: ReadReceiptRecord) {
    this.stmt(`INSERT INTO read_receipts (thread_id, user_id, message_id, sequence, read_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (thread_id, user_id) DO UPDATE SET message_id = excluded.message_id, sequence = excluded.sequence, read_at = excluded.read_at`)
      .run(r.threadId, r.userId, r.messageId, r.sequence, r.readAt);
  }
  async listReadReceipts(threadId: string, skip: number, limit: number, minCreatedAt = 0) {
    if (minCreatedAt <= 0) {
      return (this.stmt("SELECT * FROM read_receipts WHERE thread_id = ? ORDER BY read_at DESC, user_id LIMIT ? OFFSET ?").all(threadId, limit, skip) as Row[]).map(toReceipt);
    }
    return (this.stmt(`SELECT r.* FROM read_receipts r JOIN thread_keys k ON k.thread_id = r.thread_id JOIN messages m ON m.thread_key = k.key AND m.id = r.message_id
      WHERE r.thread_id = ? AND m.created_at >= ? ORDER BY r.read_at DESC, r.user_id LIMIT ? OFFSET ?`).all(threadId, minCreatedAt, limit, skip) as Row[]).map(toReceipt);
  }

  async summarizeThreadsForUser(q: ThreadSummaryQuery): Promise<ThreadSummaryRecord[]> {
    if (q.threadIds.length === 0 || q.types.length === 0) return [];
    const windows = this.stmt(`SELECT p.thread_id, k.key AS thread_key, p.share_history_time, COALESCE(r.sequence, 0) AS read_sequence
      FROM participants p LEFT JOIN read_receipts r ON r.thread_id = p.thread_id AND r.user_id = p.user_id
      LEFT JOIN thread_keys k ON k.thread_id = p.thread_id
      WHERE p.user_id = ? AND p.thread_id IN (SELECT value FROM json_each(?))`).all(q.userId, JSON.stringify(q.threadIds)) as Row[];
    // Per thread: two messages_sequence range reads (SQLite statements run in-process: no round trip to save).
    // The types are literal parameters (a json_each list would be rebuilt on every run), and the count limit is
    // part of the SQL text: with `LIMIT ?` the count ran 10–20× slower (measured on 200 threads of 20 messages).
    // A body is parsed as JSON only when it holds the user's quoted id at all.
    const types = q.types.map((_, i) => `@t${i}`).join(", ");
    const typeParams = Object.fromEntries(q.types.map((t, i) => [`t${i}`, t]));
    const count = this.stmt(`SELECT COUNT(*) AS n,
        COALESCE(SUM(instr(body, @quotedUser) > 0 AND EXISTS (SELECT 1 FROM json_each(body, '$.mentions') WHERE value = @userId)), 0) AS mentions
      FROM (SELECT body FROM messages WHERE thread_key = @threadKey AND sequence > @after AND created_at >= @minCreatedAt
        AND deleted_at IS NULL AND sender IS NOT NULL AND sender <> @userId AND type IN (${types})
        ORDER BY sequence LIMIT ${Math.max(0, Math.trunc(q.countLimit))})`);
    const last = this.stmt(`SELECT * FROM messages WHERE thread_key = @threadKey AND created_at >= @minCreatedAt AND deleted_at IS NULL
      AND type IN (${types}) ORDER BY sequence DESC LIMIT 1`);
    const quotedUser = JSON.stringify(q.userId);
    return windows.map((w) => {
      const threadId = w.thread_id as string;
      const minCreatedAt = w.share_history_time as number;
      const threadKey = w.thread_key as number | null; // null: no message yet
      const c = count.get({ userId: q.userId, quotedUser, threadKey, after: w.read_sequence, minCreatedAt, ...typeParams }) as Row;
      const m = last.get({ threadKey, minCreatedAt, ...typeParams }) as Row | undefined;
      return { threadId, unreadCount: c.n as number, unreadMentionCount: c.mentions as number, lastMessage: m ? toMessage(m, threadId) : null };
    });
  }

  async getIdempotency(scope: string, key: string) {
    const r = this.stmt("SELECT * FROM idempotency WHERE scope = ? AND key = ?").get(scope, key) as Row | undefined;
    return r && ({ scope: r.scope, key: r.key, fingerprint: r.fingerprint, status: r.status, body: r.body, createdAt: r.created_at } as IdempotencyRecord);
  }
  async insertIdempotency(r: IdempotencyRecord) {
    try {
      this.stmt("INSERT INTO idempotency (scope, key, fingerprint, status, body, created_at) VALUES (?, ?, ?, ?, ?, ?)").run(r.scope, r.key, r.fingerprint, r.status, r.body, r.createdAt);
    } catch (error) {
      if ((error as { code?: unknown }).code === "SQLITE_CONSTRAINT_PRIMARYKEY") throw new IdempotencyConflictError(r.scope, r.key, { cause: error });
      throw error;
    }
  }
  async deleteIdempotencyBefore(time: number) {
    return this.stmt("DELETE FROM idempotency WHERE created_at < ?").run(time).changes;
  }

  async appendEvent(e: Omit<EventRecord, "position">) {
    // The recipients' set (see migration 5): found by its canonical member list, or created with its members.
    let members = this.setKeys.get(e.recipients);
    if (members === undefined) {
      members = JSON.stringify([...new Set(e.recipients)].sort());
      // Only frozen lists (the cached participant lists) can be remembered by identity.
      if (Object.isFrozen(e.recipients)) this.setKeys.set(e.recipients, members);
    }
    let setId = this.setIds?.get(members) ?? ((this.stmt("SELECT id FROM recipient_sets WHERE members = ?").get(members) as Row | undefined)?.id as number | undefined);
    if (setId === undefined) {
      setId = Number(this.stmt("INSERT INTO recipient_sets (members) VALUES (?)").run(members).lastInsertRowid);
      this.stmt("INSERT INTO recipient_set_users (user_id, set_id) SELECT value, ? FROM json_each(?)").run(setId, members);
    }
    if (this.setIds) {
      if (this.setIds.size >= 10_000) this.setIds.clear(); // bounded; a node's active threads fit
      this.setIds.set(members, setId);
    }
    const pair = `${setId} ${e.threadId}`;
    if (!this.threadSets?.has(pair)) {
      this.stmt("INSERT OR IGNORE INTO thread_sets (thread_id, set_id) VALUES (?, ?)").run(e.threadId, setId);
      if (this.threadSets) {
        if (this.threadSets.size >= 10_000) this.threadSets.clear(); // bounded, as setIds
        this.threadSets.add(pair);
      }
    }
    const info = this.stmt("INSERT INTO events (thread_id, type, set_id, payload, created_at) VALUES (?, ?, ?, ?, ?)")
      .run(e.threadId, e.type, setId, storedPayload(e), e.createdAt);
    return Number(info.lastInsertRowid);
  }
  async readStream(after: number, limit: number): Promise<EventRecord[]> {
    return (this.stmt("SELECT * FROM events WHERE position > ? ORDER BY position LIMIT ?").all(after, limit) as Row[]).map((r) => ({
      position: r.position as number, threadId: r.thread_id as string, type: r.type as string,
      recipients: this.stmtSetMembers(r.set_id as number), payload: eventPayload(r.payload as string, r.type as string, r.thread_id as string, r.created_at as number),
      createdAt: r.created_at as number,
    }));
  }
  async readEvents(userId: string, after: number, limit: number): Promise<StreamEvent[]> {
    // The user's sets, then each one's events after the cursor (an events_set range scan per set).
    return (this.stmt(`SELECT e.position, e.thread_id, e.type, e.payload, e.created_at FROM recipient_set_users u
      JOIN events e ON e.set_id = u.set_id
      WHERE u.user_id = @userId AND e.position > @after ORDER BY e.position LIMIT @limit`)
      .all({ userId, after, limit }) as Row[]).map((r) => ({
      position: r.position as number, threadId: r.thread_id as string, type: r.type as string,
      payload: eventPayload(r.payload as string, r.type as string, r.thread_id as string, r.created_at as number), createdAt: r.created_at as number,
    }));
  }
  async getEndpointCursor(userId: string, endpointId: string, savedSince = Number.MIN_SAFE_INTEGER) {
    const r = this.stmt("SELECT position FROM endpoint_cursors WHERE user_id = ? AND endpoint_id = ? AND updated_at >= ?").get(userId, endpointId, savedSince) as Row | undefined;
    return r === undefined ? undefined : (r.position as number);
  }
  async saveEndpointCursor(userId: string, endpointId: string, position: number, at: number, replace = false) {
    this.stmt(`INSERT INTO endpoint_cursors (user_id, endpoint_id, position, updated_at) VALUES (@userId, @endpointId, @position, @at)
      ON CONFLICT (user_id, endpoint_id) DO UPDATE SET updated_at = excluded.updated_at,
        position = CASE WHEN @replace THEN excluded.position ELSE max(position, excluded.position) END`)
      .run({ userId, endpointId, position, at, replace: replace ? 1 : 0 });
  }
  async trimEndpointCursors(userId: string, keep: number, endpointId: string) {
    return this.stmt(`DELETE FROM endpoint_cursors WHERE user_id = @userId AND endpoint_id <> @endpointId AND endpoint_id IN (
      SELECT endpoint_id FROM endpoint_cursors WHERE user_id = @userId AND endpoint_id <> @endpointId
      ORDER BY updated_at DESC, endpoint_id LIMIT -1 OFFSET @skip)`).run({ userId, endpointId, skip: Math.max(0, keep - 1) }).changes;
  }
  async deleteEndpointCursorsBefore(time: number) {
    return this.stmt("DELETE FROM endpoint_cursors WHERE updated_at < ?").run(time).changes;
  }

  // ---- event subscriptions (server-side events) ----
  async insertEventSubscription(r: EventSubscriptionRecord) {
    return this.stmt(`INSERT INTO event_subscriptions (name, definition, secret, state, created_at, updated_at, cursor)
      VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`)
      .run(r.name, JSON.stringify(r.definition), r.secret, r.state, r.createdAt, r.updatedAt, r.cursor).changes === 1;
  }
  async updateEventSubscription(name: string, patch: Partial<Pick<EventSubscriptionRecord, "definition" | "secret" | "state" | "updatedAt">>) {
    return this.stmt(`UPDATE event_subscriptions SET definition = COALESCE(@definition, definition), secret = COALESCE(@secret, secret), state = COALESCE(@state, state),
      updated_at = COALESCE(@updatedAt, updated_at) WHERE name = @name`)
      .run({ name, definition: patch.definition === undefined ? null : JSON.stringify(patch.definition), secret: patch.secret ?? null, state: patch.state ?? null, updatedAt: patch.updatedAt ?? null }).changes === 1;
  }
  async getEventSubscription(name: string) {
    const r = this.stmt("SELECT * FROM event_subscriptions WHERE name = ?").get(name) as Row | undefined;
    return r && toSubscription(r);
  }
  async listEventSubscriptions() {
    return (this.stmt("SELECT * FROM event_subscriptions ORDER BY name").all() as Row[]).map(toSubscription);
  }
  async deleteEventSubscription(name: string) {
    this.stmt("DELETE FROM event_deliveries WHERE subscription = ?").run(name);
    return this.stmt("DELETE FROM event_subscriptions WHERE name = ?").run(name).changes === 1;
  }
  async acquireEventSubscriptionLease(name: string, holder: string, now: number, ttlMs: number) {
    return this.stmt(`UPDATE event_subscriptions SET lease_holder = @holder, lease_expires_at = @expires
      WHERE name = @name AND (lease_holder IS NULL OR lease_holder = @holder OR lease_expires_at < @now)`)
      .run({ name, holder, now, expires: now + ttlMs }).changes === 1;
  }
  async releaseEventSubscriptionLease(name: string, holder: string) {
    this.stmt("UPDATE event_subscriptions SET lease_holder = NULL, lease_expires_at = 0 WHERE name = ? AND lease_holder = ?").run(name, holder);
  }
  async advanceEventSubscription(name: string, holder: string, cursor: number, parked: NewEventDelivery[], deadLetters: NewEventDelivery[]) {
    const moved = this.stmt("UPDATE event_subscriptions SET cursor = MAX(cursor, ?) WHERE name = ? AND lease_holder = ?").run(cursor, name, holder).changes === 1;
    if (!moved) return false;
    for (const d of parked) this.stmtInsertDelivery(name, false, d);
    for (const d of deadLetters) this.stmtInsertDelivery(name, true, d);
    return true;
  }
  /** One row of the retry queue or the dead letters (named stmt*: not a Store method). */
  private stmtInsertDelivery(name: string, dead: boolean, d: NewEventDelivery) {
    this.stmt(`INSERT INTO event_deliveries (subscription, dead, event_id, thread_id, position, event, attempts, at, reason, last_error)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(name, dead ? 1 : 0, d.eventId, d.threadId, d.position, JSON.stringify(d.event), d.attempts, d.at, d.reason, d.lastError);
  }
  async listParkedDeliveries(name: string, limit: number) {
    return (this.stmt("SELECT * FROM event_deliveries WHERE subscription = ? AND dead = 0 ORDER BY seq LIMIT ?").all(name, limit) as Row[]).map(toDelivery);
  }
  async settleParkedDeliveries(name: string, holder: string, outcome: ParkedOutcome, now: number) {
    if (!this.stmt("SELECT 1 FROM event_subscriptions WHERE name = ? AND lease_holder = ?").get(name, holder)) return false;
    for (const seq of outcome.delivered) this.stmt("DELETE FROM event_deliveries WHERE seq = ? AND subscription = ? AND dead = 0").run(seq, name);
    for (const r of outcome.retry) {
      this.stmt("UPDATE event_deliveries SET attempts = ?, at = ?, last_error = ? WHERE seq = ? AND subscription = ? AND dead = 0").run(r.attempts, r.at, r.lastError, r.seq, name);
    }
    for (const d of outcome.deadLetter) {
      this.stmt("UPDATE event_deliveries SET dead = 1, attempts = ?, at = ?, reason = ?, last_error = ? WHERE seq = ? AND subscription = ? AND dead = 0")
        .run(d.attempts, now, d.reason, d.lastError, d.seq, name);
    }
    return true;
  }
  async listDeadLetters(name: string | undefined, limit: number, afterSeq = 0) {
    return (this.stmt("SELECT * FROM event_deliveries WHERE dead = 1 AND (@name IS NULL OR subscription = @name) AND seq > @after ORDER BY seq LIMIT @limit")
      .all({ name: name ?? null, after: afterSeq, limit }) as Row[]).map(toDelivery);
  }
  async redeliverDeadLetters(name: string, now: number) {
    // New seqs (a re-insert in the old order), so they queue behind what is already waiting.
    const rows = this.stmt("SELECT * FROM event_deliveries WHERE subscription = ? AND dead = 1 ORDER BY seq").all(name) as Row[];
    for (const r of rows) {
      this.stmt("DELETE FROM event_deliveries WHERE seq = ?").run(r.seq);
      this.stmtInsertDelivery(name, false, { ...toDelivery(r), attempts: 0, at: now, reason: null });
    }
    return rows.length;
  }

  async findProfileByName(displayName: string) {
    const r = this.stmt("SELECT * FROM profiles WHERE display_name = ? COLLATE NOCASE").get(displayName) as Row | undefined;
    return r && ({ userId: r.user_id, displayName: r.display_name, createdAt: r.created_at } as ProfileRecord);
  }
  async insertProfile(p: ProfileRecord) {
    this.stmt("INSERT INTO profiles (user_id, display_name, created_at) VALUES (?, ?, ?)").run(p.userId, p.displayName, p.createdAt);
  }
  async listProfiles(limit: number, afterName?: string) {
    return (this.stmt("SELECT * FROM profiles WHERE (@after IS NULL OR display_name > @after COLLATE NOCASE) ORDER BY display_name COLLATE NOCASE LIMIT @limit")
      .all({ after: afterName ?? null, limit }) as Row[]).map((r) => ({ userId: r.user_id, displayName: r.display_name, createdAt: r.created_at }) as ProfileRecord);
  }

  async deleteEventsBefore(time: number) {
    // Runs inside a transaction (a write method): the marker moves with the delete, atomically.
    this.stmt(`UPDATE stream_state SET purged_through = MAX(purged_through,
      COALESCE((SELECT MAX(position) FROM events WHERE created_at < ?), 0)) WHERE id = 1`).run(time);
    const emptied = (this.stmt("SELECT DISTINCT set_id FROM events WHERE created_at < ?").all(time) as Row[]).map((r) => r.set_id as number);
    const deleted = this.stmt("DELETE FROM events WHERE created_at < ?").run(time).changes;
    for (const setId of emptied) this.stmtDropSetIfUnused(setId);
    return deleted;
  }
  /** Deletes a recipient set no event refers to any more (named stmt*: not a Store method). */
  private stmtDropSetIfUnused(setId: number) {
    if (this.stmt("SELECT 1 FROM events WHERE set_id = ? LIMIT 1").get(setId)) return;
    this.stmt("DELETE FROM recipient_set_users WHERE set_id = @setId AND user_id IN (SELECT value FROM json_each((SELECT members FROM recipient_sets WHERE id = @setId)))").run({ setId });
    this.stmt("DELETE FROM recipient_sets WHERE id = ?").run(setId);
    this.stmt("DELETE FROM thread_sets WHERE set_id = ?").run(setId);
    this.setIds?.clear();
    this.threadSets?.clear();
  }
  /** Forgets the writer's caches after a rollback, which may have undone what they remember. */
  stmtForgetCaches() {
    this.threadRows?.clear();
    this.threadKeys?.clear();
    this.setIds?.clear();
    this.participantIds?.clear();
    this.threadSets?.clear();
  }
  /** A set's members (cached on the read connection). */
  private stmtSetMembers(setId: number): string[] {
    let members = this.setMembers?.get(setId);
    if (!members) {
      const r = this.stmt("SELECT members FROM recipient_sets WHERE id = ?").get(setId) as Row | undefined;
      members = r ? (JSON.parse(r.members as string) as string[]) : [];
      if (r && this.setMembers) {
        if (this.setMembers.size >= 10_000) this.setMembers.clear(); // bounded; the working set is small
        this.setMembers.set(setId, members);
      }
    }
    return members;
  }
  async purgedThrough() {
    const r = this.stmt("SELECT purged_through AS p FROM stream_state WHERE id = 1").get() as Row | undefined;
    return (r?.p as number | undefined) ?? 0;
  }
  async headPosition() {
    // MAX of the rowid alias is a seek to the last b-tree entry, not a scan.
    const r = this.stmt("SELECT MAX(COALESCE((SELECT MAX(position) FROM events), 0), COALESCE((SELECT purged_through FROM stream_state WHERE id = 1), 0)) AS p").get() as Row;
    return r.p as number;
  }
}

interface Job {
  fn: (tx: StoreOps) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

const WRITE_METHODS = [
  "insertUser", "updateUser", "insertThread", "updateThread", "deleteThreadContent", "purgeThread", "upsertParticipant",
  "deleteParticipant", "insertMessage", "updateMessage", "insertImage", "deleteImage", "upsertReadReceipt", "insertIdempotency", "deleteIdempotencyBefore",
  "appendEvent", "deleteEventsBefore", "insertProfile", "saveEndpointCursor", "trimEndpointCursors", "deleteEndpointCursorsBefore",
  "insertEventSubscription", "updateEventSubscription", "deleteEventSubscription", "acquireEventSubscriptionLease", "releaseEventSubscriptionLease",
  "advanceEventSubscription", "settleParkedDeliveries", "redeliverDeadLetters",
] as const;

// The StoreOps methods are installed in the constructor (reads on the reader connection, writes as one-step
// transactions); this merge tells TypeScript they exist.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface SqliteStore extends StoreOps, DirectoryOps {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class SqliteStore implements Store {
  private readonly writer: Db;
  private readonly reader: Db;
  private readonly writeOps: SqliteOps;
  private readonly queue: Job[] = [];
  private draining = false;
  /** Jobs applied inside the open write transaction, not committed yet (waiting for the flush in flight). */
  private open: { jobs: Job[]; outcomes: { ok: boolean; value: unknown }[] } | undefined;
  /** True while drain runs a job (the open transaction has a savepoint then: no commit). */
  private running = false;
  private walFd: number | undefined;
  private checkpointer: Worker | undefined;
  private readonly syncing = new Set<Promise<void>>();
  /** The WAL's size in frames, from the checkpoint worker's last report. */
  private walFrames = 0;
  /**
   * Starting the WAL over (see WAL_RESTART_FRAMES), so that the writer waits only for the last few frames:
   * "ready" once a periodic pass of the checkpoint worker copied every frame of a large WAL; "holding" while the
   * next BEGIN waits for the pass, asked for then, that copies the frames written since.
   */
  private walRestart: "none" | "ready" | "holding" = "none";
  /** The WAL's size at the last full pass asked for: reports of that size predate the WAL starting over. */
  private walFullPassFrames = -1;
  private readonly control: Record<"begin" | "savepoint" | "release" | "rollbackTo" | "commit" | "dataVersion", Database.Statement>;
  /** PRAGMA data_version at the writer's last transaction (see drain). */
  private dataVersion: number | undefined;
  private closed = false;
  /** Number of commits (fsyncs) and transactions so far: the group-commit ratio, for metrics. */
  readonly stats = { commits: 0, transactions: 0, walRestarts: 0 };

  private readonly wal: Required<WalOptions>;

  constructor(readonly path: string, wal: WalOptions = {}) {
    this.wal = { restartFrames: WAL_RESTART_FRAMES, checkpointIntervalMs: 250, ...wal };
    if (path !== ":memory:") {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      // Owner-only: SQLite gives the -wal and -shm files it creates the database file's mode.
      closeSync(openSync(path, "a", 0o600));
      for (const file of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(file)) chmodSync(file, 0o600);
    }
    this.writer = new Database(path);
    // 1 KB pages (new databases; an existing one keeps its size): a send's rows land on pages of their
    // thread's index b-trees, each written whole to the WAL and again by the checkpoint, so with many active
    // threads a smaller page is fewer bytes written per message (about 43% fewer than 4 KB pages in
    // bench/durable-sends, same CPU per send).
    this.writer.pragma("page_size = 1024");
    this.writer.pragma("journal_mode = WAL");
    // NORMAL: commits do not fsync here; syncWal() does it off the event loop before anything resolves.
    this.writer.pragma("synchronous = NORMAL");
    if (path !== ":memory:") {
      // Checkpoints run on a worker thread (checkpoint-worker.ts), not inside our commits.
      this.writer.pragma("wal_autocheckpoint = 0");
      this.writer.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
      const checkpointer = new Worker(new URL("./checkpoint-worker.js", import.meta.url), { workerData: { path, intervalMs: this.wal.checkpointIntervalMs } });
      checkpointer.on("message", (report: CheckpointReport | "closed") => { if (report !== "closed") this.noteCheckpoint(report); });
      // Without the worker the WAL is only checkpointed at close; the writer must not wait for it.
      checkpointer.on("error", () => { this.checkpointer = undefined; this.endWalRestart(); });
      checkpointer.unref();
      this.checkpointer = checkpointer;
    }
    this.writer.pragma("foreign_keys = ON");
    this.writer.pragma("busy_timeout = 5000");
    this.writer.pragma("cache_size = -65536"); // 64 MiB: hot thread and index pages stay in memory
    // Savepoint journals in memory: each send's SAVEPOINT copies the pages it touches first, and in a temp file
    // that was two write() calls per page (~3 µs of system time per send in bench/output/store-micro.mjs).
    this.writer.pragma("temp_store = MEMORY");
    this.reader = path === ":memory:" ? this.writer : new Database(path);
    this.reader.pragma("busy_timeout = 5000");
    this.writeOps = new SqliteOps(this.writer, path === ":memory:" ? "both" : "writer");
    this.control = {
      begin: this.writer.prepare("BEGIN IMMEDIATE"),
      savepoint: this.writer.prepare("SAVEPOINT job"),
      release: this.writer.prepare("RELEASE job"),
      rollbackTo: this.writer.prepare("ROLLBACK TO job"),
      commit: this.writer.prepare("COMMIT"),
      dataVersion: this.writer.prepare("PRAGMA data_version").pluck(),
    };
    const readOps = this.reader === this.writer ? this.writeOps : new SqliteOps(this.reader, "reader");
    const writes = new Set<string>(WRITE_METHODS);
    for (const name of Object.getOwnPropertyNames(SqliteOps.prototype) as (keyof StoreOps)[]) {
      if ((name as string) === "constructor" || (name as string).startsWith("stmt") || (name as string) === "update") continue;
      const method = writes.has(name)
        ? (...args: unknown[]) => this.transaction((tx) => (tx[name] as (...a: unknown[]) => Promise<unknown>)(...args))
        : (...args: unknown[]) => (readOps[name] as (...a: unknown[]) => Promise<unknown>).call(readOps, ...args);
      Object.defineProperty(this, name, { value: method });
    }
  }

  async migrate(): Promise<void> {
    // The version is read inside the write-locked transaction: processes migrating together take turns.
    const step = this.writer.transaction((): boolean => {
      const version = this.writer.pragma("user_version", { simple: true }) as number;
      if (version >= SQLITE_MIGRATIONS.length) return false;
      this.writer.exec(SQLITE_MIGRATIONS[version]);
      this.writer.pragma(`user_version = ${version + 1}`);
      return true;
    });
    while (step.immediate()) { /* next migration */ }
    // Messages stored before the search index existed: indexed in batches, each its own write transaction.
    const backfill = this.writer.transaction(() => this.writeOps.stmtBackfillSearch(2_000));
    while (backfill.immediate()) { /* next batch */ }
  }

  transaction<T>(fn: (tx: StoreOps) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error("store is closed"));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      this.scheduleDrain();
    });
  }

  private scheduleDrain(): void {
    if (this.draining || this.queue.length === 0) return;
    this.draining = true;
    // Let the current I/O turn queue more transactions first: they share one commit.
    setImmediate(() => void this.drain());
  }

  /** The checkpoint worker's report after a pass (see WAL_RESTART_FRAMES and walRestart). */
  private noteCheckpoint(report: CheckpointReport): void {
    if (!report.requested) {
      // A pass that ran after a full one but before the next BEGIN started the WAL over sees the same frames.
      if (report.log !== this.walFullPassFrames) this.walFrames = report.log;
      // This pass copied the backlog: the next BEGIN waits only for the frames written since.
      if (this.walRestart === "none" && this.walFrames >= this.wal.restartFrames && report.checkpointed >= report.log) this.walRestart = "ready";
      return;
    }
    // Not every frame copied: another connection reads an old snapshot (or the pass failed). The writer goes on;
    // a later complete pass makes it ready again.
    if (report.log >= 0 && report.checkpointed >= report.log && this.walRestart === "holding") {
      this.walFullPassFrames = report.log;
      this.walFrames = 0;
      this.stats.walRestarts++;
    }
    this.endWalRestart();
  }

  private endWalRestart(): void {
    if (this.walRestart === "holding") this.checkpointer?.unref();
    this.walRestart = "none";
    this.scheduleDrain();
  }

  /** True when the next BEGIN must wait for the pass that copies the WAL's last frames (asked for here). */
  private holdForWalRestart(): boolean {
    if (this.walRestart === "holding") return true;
    if (this.walRestart !== "ready" || !this.checkpointer) return false;
    this.walRestart = "holding";
    this.checkpointer.ref(); // the held transactions wait for its answer
    this.checkpointer.postMessage("now");
    return true;
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        if (!this.open) {
          if (this.holdForWalRestart()) break;
          this.control.begin.run();
          // Another connection (a second store on the file) committed since our last transaction: what the
          // writer's caches remember may be stale. One pragma per batch; our own commits do not change it.
          const dataVersion = this.control.dataVersion.get() as number;
          if (dataVersion !== this.dataVersion) {
            this.dataVersion = dataVersion;
            this.writeOps.stmtForgetCaches();
          }
          this.open = { jobs: [], outcomes: [] };
        }
        const open = this.open;
        this.running = true;
        try {
          while (this.queue.length > 0 && open.jobs.length < MAX_BATCH) {
            const job = this.queue.shift()!;
            open.jobs.push(job);
            this.control.savepoint.run();
            const searchMark = this.writeOps.stmtSearchMark();
            try {
              const value = await job.fn(this.writeOps);
              this.control.release.run();
              open.outcomes.push({ ok: true, value });
            } catch (error) {
              // SQLITE_FULL (and some I/O errors) can roll back the whole transaction, savepoint included:
              // then every job of the batch fails with that error (none of them is committed).
              if (!this.writer.inTransaction) throw error;
              this.control.rollbackTo.run();
              this.control.release.run();
              this.writeOps.stmtForgetCaches();
              this.writeOps.stmtSearchRollback(searchMark);
              open.outcomes.push({ ok: false, value: error });
            }
          }
        } catch (error) {
          this.abort(error);
          continue;
        } finally {
          this.running = false;
        }
        // Group commit with one flush in flight: while the WAL's fdatasync runs, the transactions that arrive
        // are applied but not committed; the flush's end commits them together (see commitOpen). Fewer,
        // larger commits: fewer WAL frames (a page written by many transactions goes out once) and fsyncs.
        if (this.syncing.size < MAX_FLUSHES || open.jobs.length >= MAX_BATCH) this.commitOpen();
      }
    } finally {
      this.draining = false;
    }
  }

  /** Rolls back the open batch: every job of it fails with `error`. */
  private abort(error: unknown): void {
    const open = this.open;
    this.open = undefined;
    if (this.writer.inTransaction) this.writer.exec("ROLLBACK");
    this.writeOps.stmtForgetCaches();
    this.writeOps.stmtSearchRollback(0);
    open?.jobs.forEach((job) => job.reject(error));
  }

  /** Commits the open batch and fdatasyncs the WAL; the batch's jobs settle once it is on disk. */
  private commitOpen(): void {
    const open = this.open;
    if (!open) return;
    try {
      this.writeOps.stmtFlushSearch();
      this.control.commit.run();
    } catch (error) {
      this.abort(error);
      return;
    }
    this.open = undefined;
    this.stats.commits++;
    this.stats.transactions += open.jobs.length;
    const settle = () => open.jobs.forEach((job, i) => (open.outcomes[i].ok ? job.resolve(open.outcomes[i].value) : job.reject(open.outcomes[i].value)));
    const synced: Promise<void> = this.syncWal().then(settle, (error) => open.jobs.forEach((job) => job.reject(error))).finally(() => {
      this.syncing.delete(synced);
      // The batch applied meanwhile commits now, unless a job of it is still running (drain commits it then).
      if (!this.running && this.syncing.size < MAX_FLUSHES) this.commitOpen();
    });
    this.syncing.add(synced);
  }

  /** fdatasync of the WAL on the thread pool: everything committed so far is on disk when it resolves. */
  private syncWal(): Promise<void> {
    if (this.path === ":memory:") return Promise.resolve();
    this.walFd ??= openSync(`${this.path}-wal`, "r");
    const fd = this.walFd;
    return new Promise((resolve, reject) => fdatasync(fd, (error) => (error ? reject(error) : resolve())));
  }

  async ping(): Promise<void> {
    this.reader.prepare("SELECT 1").get();
  }

  /** Consistent online copy of the database (VACUUM INTO), for `natter backup`. */
  async backup(target: string): Promise<void> {
    await this.reader.backup(target);
  }

  /** SQLite's own consistency check: "ok" when the file is sound. */
  integrityCheck(): string {
    return this.reader.pragma("integrity_check", { simple: true }) as string;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.draining || this.queue.length > 0 || this.open || this.syncing.size > 0) {
      await Promise.allSettled([...this.syncing]);
      await new Promise((r) => setImmediate(r));
    }
    if (this.checkpointer) {
      const worker = this.checkpointer;
      worker.ref(); // until it answers
      await new Promise<void>((resolve) => {
        worker.on("message", (message) => { if (message === "closed") resolve(); });
        worker.once("exit", () => resolve());
        worker.postMessage("close");
      });
      await worker.terminate();
    }
    if (this.walFd !== undefined) closeSync(this.walFd);
    if (this.reader !== this.writer) this.reader.close();
    this.writer.pragma("wal_checkpoint(TRUNCATE)");
    this.writer.close();
  }
}

/**
 * Copies a live SQLite database consistently (SQLite's online backup API: other processes may keep writing)
 * and checks the copy's integrity. Returns the number of pages copied.
 */
export async function backupSqliteDatabase(source: string, target: string): Promise<{ pages: number; integrity: string }> {
  const db = new Database(source, { readonly: true, fileMustExist: true });
  try {
    closeSync(openSync(target, "wx", 0o600)); // the copy is as private as the database
    const { totalPages } = await db.backup(target);
    return { pages: totalPages, integrity: standalone(target) };
  } finally {
    db.close();
  }
}

/**
 * Makes the SQLite file at `path` one self-contained file (rollback journal instead of WAL, so no -wal/-shm
 * files appear or stay beside it) and returns its integrity check ("ok" when sound).
 */
function standalone(path: string): string {
  const copy = new Database(path, { fileMustExist: true });
  try {
    copy.pragma("journal_mode = DELETE");
    return copy.pragma("integrity_check", { simple: true }) as string;
  } finally {
    copy.close();
  }
}

/**
 * Copies the backup `source` to `staging` (a new file, mode 0600), made self-contained; returns its integrity
 * check. `source` itself is only read. A file that is not a database is reported, not thrown.
 */
export function prepareSqliteRestore(source: string, staging: string): string {
  closeSync(openSync(staging, "wx", 0o600));
  copyFileSync(source, staging);
  chmodSync(staging, 0o600);
  try {
    return standalone(staging);
  } catch (error) {
    return (error as Error).message;
  }
}
