// PostgresStore: the scale-out Store on PostgreSQL (`pg` Pool). Several Natter nodes share one database.
// transaction(fn) runs on one pooled client between BEGIN and COMMIT (READ COMMITTED; synchronous_commit=on,
// so a resolved transaction is durable); lockThread is SELECT ... FOR UPDATE; plain reads go to the pool.
//
// Stream positions. Readers resume with "events after position P", so a reader who has seen P must never
// later find a newly committed event below P. A plain sequence does not give that: T1 takes 5, T2 takes 6,
// T2 commits, a reader sees 6, then T1 commits 5 behind it. We therefore allocate positions under one
// cluster-wide transaction-scoped advisory lock (EVENT_LOCK), taken by the very statement that inserts the
// event and held until COMMIT/ROLLBACK: event-writing transactions pass the lock one after the other, so they
// take positions in the order in which they commit. PostgreSQL releases a transaction's locks only after it
// has become visible to new snapshots, so the next holder's (larger) position cannot become visible before
// this one. A rollback leaves a hole that is never filled. The cost: event-writing transactions are serialised
// from their appendEvent to their COMMIT (the domain appends the event as one of the last statements, so the
// lock covers roughly one round trip plus the commit's WAL flush). See docs/scaling.md.
import pg from "pg";
import type { PoolClient, PoolConfig, QueryConfig, QueryResult, QueryResultRow } from "pg";
import type {
  DirectoryOps, EventRecord, IdempotencyRecord, ImageRecord, StreamEvent, MessagePageQuery, MessageRecord, ParticipantRecord, ParticipantWindows, ProfileRecord,
  ReadReceiptRecord, Store, StoreOps, ThreadListItem, ThreadPageQuery, ThreadRecord, UserRecord, MessageSearchQuery, MessageSearchHit, SequencePageQuery,
} from "../store.js";
import { searchTokens, searchableText } from "../../domain/search-text.js";
import { IdempotencyConflictError } from "../store.js";
import { POSTGRES_MIGRATIONS } from "./migrations.js";
import { isUnavailableError } from "../unavailable.js";

type Row = Record<string, unknown>;
type Query = <R extends QueryResultRow = Row>(sql: string, params?: unknown[]) => Promise<QueryResult<R>>;

// Every statement runs as a named prepared statement (pg prepares it once per connection), so PostgreSQL
// parses and plans each distinct SQL text once per connection instead of on every call. The set of texts is
// small and fixed (update() builds one text per column subset).
const statementNames = new Map<string, string>();
function prepared(text: string, values: unknown[] | undefined): QueryConfig {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `natter_${statementNames.size}`;
    statementNames.set(text, name);
  }
  return { name, text, values };
}

/** Advisory lock keys (bigint, database-wide): schema migrations, and the event-position lock. */
export const MIGRATION_LOCK = "7953083516447997952"; // 0x6e61747465720000 ("natter\0\0")
export const EVENT_LOCK = "7953083516447997953";

/**
 * listMessages: a backward range of messages_version. The lower end is the greater of minVersion and
 * minCreatedAt (version >= createdAt, see MessagePageQuery), so a shareHistoryTime in the future is an empty
 * range instead of a scan of the whole thread. Exported for the query-plan test.
 */
export const LIST_MESSAGES_SQL = `SELECT * FROM messages WHERE thread_id = $1 AND version < $2
  AND version >= GREATEST($3::bigint, $4::bigint) AND created_at >= $4 ORDER BY version DESC LIMIT $5`;

/**
 * searchMessages: GIN match, joined to the caller's participation (its shareHistoryTime) and the message, newest
 * document first. Exported for the plan test.
 */
export const SEARCH_MESSAGES_SQL = `SELECT m.*, s.id AS search_cursor FROM message_search s
  JOIN participants p ON p.thread_id = s.thread_id AND p.user_id = $2
  JOIN messages m ON m.thread_id = s.thread_id AND m.id = s.message_id
  WHERE s.document @@ $1::tsquery AND s.id < $3 AND s.created_at >= p.share_history_time AND s.created_at >= $4
  ORDER BY s.id DESC LIMIT $5`;
const SEARCH_THREAD_MESSAGES_SQL = SEARCH_MESSAGES_SQL.replace("AND s.created_at >= $4", "AND s.created_at >= $4 AND s.thread_id = $6");

const quoteLexeme = (token: string) => `'${token.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;

/** A tsquery literal from parsed terms: each a phrase (<->) of quoted lexemes, the last one :* for a prefix, ANDed. */
export function tsQuery(terms: MessageSearchQuery["terms"]): string {
  return terms.map((t) => `(${t.tokens.map(quoteLexeme).join(" <-> ")}${t.prefix ? ":*" : ""})`).join(" & ");
}

/** A message's search document as a tsvector literal with positions (for phrases), or undefined when not searchable. */
function tsVector(message: Pick<MessageRecord, "type" | "body" | "deletedAt">): string | undefined {
  const text = searchableText(message);
  const tokens = text === undefined ? [] : searchTokens(text);
  // Positions above 16383 are stored as 16383 by PostgreSQL: phrases are exact in the first 16383 tokens.
  return tokens.length === 0 ? undefined : tokens.map((t, i) => `${quoteLexeme(t)}:${Math.min(i + 1, 16383)}`).join(" ");
}

const json = (value: unknown): string | null => (value == null ? null : JSON.stringify(value));
const parse = <T>(value: unknown): T | null => (value == null ? null : (JSON.parse(value as string) as T));
const num = (value: unknown): number | null => (value == null ? null : Number(value));

// BIGINT (int8, oid 20) columns hold epoch ms and counters, all far below 2^53: read them as numbers.
const typeParsers = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === 20 && format !== "binary" ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

function toUser(r: Row): UserRecord {
  return {
    id: r.id as string, createdAt: r.created_at as number, deletedAt: num(r.deleted_at), tokenGeneration: r.token_generation as number,
    customId: (r.custom_id as string | null) ?? null, lastTokenIssuedAt: num(r.last_token_issued_at),
  };
}
function toThread(r: Row): ThreadRecord {
  return {
    id: r.id as string, topic: r.topic as string, createdAt: r.created_at as number, createdBy: r.created_by as string,
    deletedAt: num(r.deleted_at), metadata: parse(r.metadata), retention: parse(r.retention),
    nextSequence: r.next_sequence as number, clock: r.clock as number, lastMessageAt: num(r.last_message_at), expiresAt: num(r.expires_at),
  };
}
function toParticipant(r: Row): ParticipantRecord {
  return {
    threadId: r.thread_id as string, userId: r.user_id as string, displayName: (r.display_name as string | null) ?? null,
    shareHistoryTime: r.share_history_time as number, metadata: parse(r.metadata), joinedAt: r.joined_at as number,
  };
}
function toMessage(r: Row): MessageRecord {
  return {
    threadId: r.thread_id as string, id: r.id as string, sequence: r.sequence as number, type: r.type as MessageRecord["type"],
    body: JSON.parse(r.body as string), sender: (r.sender as string | null) ?? null, senderDisplayName: (r.sender_display_name as string | null) ?? null,
    createdAt: r.created_at as number, editedAt: num(r.edited_at), deletedAt: num(r.deleted_at), version: r.version as number, metadata: parse(r.metadata),
  };
}
function toImage(r: Row): ImageRecord {
  return {
    threadId: r.thread_id as string, id: r.id as string, name: (r.name as string | null) ?? null, contentType: r.content_type as string,
    data: new Uint8Array(r.data as Buffer), uploadedBy: r.uploaded_by as string, createdAt: Number(r.created_at),
  };
}
function toReceipt(r: Row): ReadReceiptRecord {
  return { threadId: r.thread_id as string, userId: r.user_id as string, messageId: r.message_id as string, sequence: r.sequence as number, readAt: r.read_at as number };
}
function toStreamEvent(r: Row): StreamEvent {
  return { position: Number(r.position), threadId: r.thread_id as string, type: r.type as string, payload: JSON.parse(r.payload as string), createdAt: Number(r.created_at) };
}
function toProfile(r: Row): ProfileRecord {
  return { userId: r.user_id as string, displayName: r.display_name as string, createdAt: r.created_at as number };
}

const same = (v: unknown) => v;
const THREAD_COLUMNS: Record<string, (v: unknown) => unknown> = {
  topic: same, createdAt: same, createdBy: same, deletedAt: same, metadata: json, retention: json,
  nextSequence: same, clock: same, lastMessageAt: same, expiresAt: same,
};
const MESSAGE_COLUMNS: Record<string, (v: unknown) => unknown> = {
  body: (v) => JSON.stringify(v), editedAt: same, deletedAt: same, version: same, metadata: json,
};
const USER_COLUMNS: Record<string, (v: unknown) => unknown> = {
  createdAt: same, deletedAt: same, tokenGeneration: same, customId: same, lastTokenIssuedAt: same,
};
const snake = (name: string) => name.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());

/** StoreOps over one query function: a transaction's client, or the pool (each statement on its own). */
class PostgresOps implements StoreOps, DirectoryOps {
  constructor(private readonly q: Query, private readonly inTransaction: boolean) {}

  private async update(table: string, where: string, whereArgs: unknown[], patch: Record<string, unknown>, columns: Record<string, (v: unknown) => unknown>) {
    const keys = Object.keys(patch).filter((k) => k in columns && patch[k] !== undefined);
    if (keys.length === 0) return;
    const sets = keys.map((k, i) => `${snake(k)} = $${i + 1}`).join(", ");
    let n = keys.length;
    const clause = where.replace(/\?/g, () => `$${++n}`);
    await this.q(`UPDATE ${table} SET ${sets} WHERE ${clause}`, [...keys.map((k) => columns[k](patch[k])), ...whereArgs]);
  }

  async getUser(id: string) {
    const { rows } = await this.q("SELECT * FROM users WHERE id = $1", [id]);
    return rows[0] && toUser(rows[0]);
  }
  async getUserByCustomId(customId: string) {
    const { rows } = await this.q("SELECT * FROM users WHERE custom_id = $1", [customId]);
    return rows[0] && toUser(rows[0]);
  }
  async insertUser(u: UserRecord) {
    // The conflict target is the partial unique index of migration 4: only a taken customId is skipped (a
    // concurrent insert of the same customId makes this one wait for its commit, then skip).
    const result = await this.q(`INSERT INTO users (id, created_at, deleted_at, token_generation, custom_id, last_token_issued_at)
      VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (custom_id) WHERE custom_id IS NOT NULL DO NOTHING`, [
      u.id, u.createdAt, u.deletedAt, u.tokenGeneration, u.customId, u.lastTokenIssuedAt]);
    return result.rowCount === 1;
  }
  async updateUser(id: string, patch: Partial<Omit<UserRecord, "id">>) {
    await this.update("users", "id = ?", [id], patch, USER_COLUMNS);
  }

  async getThread(id: string) {
    const { rows } = await this.q("SELECT * FROM threads WHERE id = $1", [id]);
    return rows[0] && toThread(rows[0]);
  }
  async lockThread(id: string) {
    if (!this.inTransaction) return this.getThread(id);
    const { rows } = await this.q("SELECT * FROM threads WHERE id = $1 FOR UPDATE", [id]);
    return rows[0] && toThread(rows[0]);
  }
  async insertThread(t: ThreadRecord) {
    await this.q(`INSERT INTO threads (id, topic, created_at, created_by, deleted_at, metadata, retention, next_sequence, clock, last_message_at, expires_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, [
      t.id, t.topic, t.createdAt, t.createdBy, t.deletedAt, json(t.metadata), json(t.retention), t.nextSequence, t.clock, t.lastMessageAt, t.expiresAt]);
  }
  async updateThread(id: string, patch: Partial<Omit<ThreadRecord, "id">>) {
    await this.update("threads", "id = ?", [id], patch, THREAD_COLUMNS);
  }
  async listThreadsForUser(userId: string, q: ThreadPageQuery): Promise<ThreadListItem[]> {
    // Order: see ThreadPageQuery. BIGINT division truncates toward zero, as Math.trunc does for the cursor.
    const activity = "COALESCE(t.last_message_at, t.created_at)";
    const { rows } = await this.q(`SELECT t.*, ${activity} AS activity
      FROM participants p JOIN threads t ON t.id = p.thread_id
      WHERE p.user_id = $1 AND ${activity} >= $2
        AND ($3::bigint IS NULL OR ${activity} / 1000 < $3::bigint
             OR (${activity} / 1000 = $3::bigint AND (t.created_at, t.id COLLATE "C") > ($4::bigint, $5::text COLLATE "C")))
      ORDER BY ${activity} / 1000 DESC, t.created_at ASC, t.id COLLATE "C" ASC LIMIT $6`, [
      userId, q.minActivityAt ?? Number.MIN_SAFE_INTEGER, q.after ? Math.trunc(q.after.activityAt / 1000) : null,
      q.after?.createdAt ?? null, q.after?.id ?? null, q.limit]);
    return rows.map((r) => ({ thread: toThread(r), activityAt: r.activity as number }));
  }
  async listExpiredThreads(now: number, limit: number) {
    const { rows } = await this.q("SELECT id FROM threads WHERE expires_at IS NOT NULL AND expires_at <= $1 ORDER BY expires_at, id LIMIT $2", [now, limit]);
    return rows.map((r) => r.id as string);
  }
  async deleteThreadContent(id: string) {
    await this.q("DELETE FROM message_search WHERE thread_id = $1", [id]);
    await this.q("DELETE FROM messages WHERE thread_id = $1", [id]);
    await this.q("DELETE FROM images WHERE thread_id = $1", [id]);
    await this.q("DELETE FROM read_receipts WHERE thread_id = $1", [id]);
  }
  async purgeThread(id: string) {
    await this.deleteThreadContent(id);
    await this.q("DELETE FROM participants WHERE thread_id = $1", [id]);
    await this.q("DELETE FROM events WHERE thread_id = $1", [id]);
    await this.q("DELETE FROM threads WHERE id = $1", [id]);
  }

  async getParticipant(threadId: string, userId: string) {
    const { rows } = await this.q("SELECT * FROM participants WHERE thread_id = $1 AND user_id = $2", [threadId, userId]);
    return rows[0] && toParticipant(rows[0]);
  }
  async listParticipants(threadId: string, skip: number, limit: number) {
    const { rows } = await this.q("SELECT * FROM participants WHERE thread_id = $1 ORDER BY joined_at, ord LIMIT $2 OFFSET $3", [threadId, limit, skip]);
    return rows.map(toParticipant);
  }
  async listParticipantIds(threadId: string) {
    const { rows } = await this.q("SELECT user_id FROM participants WHERE thread_id = $1 ORDER BY joined_at, ord", [threadId]);
    return rows.map((r) => r.user_id as string);
  }
  async listParticipantWindows(threadId: string): Promise<ParticipantWindows> {
    const { rows } = await this.q("SELECT user_id, share_history_time FROM participants WHERE thread_id = $1 ORDER BY joined_at, ord", [threadId]);
    const shareHistoryTimes = rows.map((r) => r.share_history_time as number);
    return {
      ids: rows.map((r) => r.user_id as string), shareHistoryTimes,
      latestShareHistoryTime: shareHistoryTimes.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY),
    };
  }
  async countParticipants(threadId: string) {
    const { rows } = await this.q("SELECT COUNT(*) AS n FROM participants WHERE thread_id = $1", [threadId]);
    return rows[0].n as number;
  }
  async upsertParticipant(p: ParticipantRecord) {
    await this.q(`INSERT INTO participants (thread_id, user_id, display_name, share_history_time, metadata, joined_at) VALUES ($1, $2, $3, $4, $5, $6)
      ON CONFLICT (thread_id, user_id) DO UPDATE SET display_name = excluded.display_name, share_history_time = excluded.share_history_time, metadata = excluded.metadata`,
    [p.threadId, p.userId, p.displayName, p.shareHistoryTime, json(p.metadata), p.joinedAt]);
  }
  async deleteParticipant(threadId: string, userId: string) {
    await this.q("DELETE FROM participants WHERE thread_id = $1 AND user_id = $2", [threadId, userId]);
  }

  async getMessage(threadId: string, id: string) {
    const { rows } = await this.q("SELECT * FROM messages WHERE thread_id = $1 AND id = $2", [threadId, id]);
    return rows[0] && toMessage(rows[0]);
  }
  async insertMessage(m: MessageRecord) {
    const insert = `INSERT INTO messages (thread_id, id, sequence, type, body, sender, sender_display_name, created_at, edited_at, deleted_at, version, metadata)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`;
    const values = [m.threadId, m.id, m.sequence, m.type, JSON.stringify(m.body), m.sender, m.senderDisplayName, m.createdAt, m.editedAt, m.deletedAt, m.version, json(m.metadata)];
    const document = tsVector(m);
    if (document === undefined) {
      await this.q(insert, values);
      return;
    }
    // One statement, so the message and its search document are written together even outside a transaction.
    await this.q(`WITH m AS (${insert} RETURNING thread_id, id, created_at)
      INSERT INTO message_search (thread_id, message_id, created_at, document) SELECT thread_id, id, created_at, $13::tsvector FROM m`, [...values, document]);
  }
  async updateMessage(threadId: string, id: string, patch: Partial<Pick<MessageRecord, "body" | "editedAt" | "deletedAt" | "version" | "metadata">>) {
    await this.update("messages", "thread_id = ? AND id = ?", [threadId, id], patch, MESSAGE_COLUMNS);
    if (patch.body === undefined && patch.deletedAt === undefined) return;
    // The search document follows the content (upserted under the same id, its place in the order), or goes.
    const { rows } = await this.q("SELECT type, body, deleted_at, created_at FROM messages WHERE thread_id = $1 AND id = $2", [threadId, id]);
    const r = rows[0];
    const document = r && tsVector({ type: r.type as MessageRecord["type"], body: JSON.parse(r.body as string), deletedAt: num(r.deleted_at) });
    if (document === undefined) {
      await this.q("DELETE FROM message_search WHERE thread_id = $1 AND message_id = $2", [threadId, id]);
    } else {
      await this.q(`INSERT INTO message_search (thread_id, message_id, created_at, document) VALUES ($1, $2, $3, $4::tsvector)
        ON CONFLICT (thread_id, message_id) DO UPDATE SET document = excluded.document`, [threadId, id, r.created_at, document]);
    }
  }
  /** Indexes a batch of the messages that predate the search index (called by migrate()); false when none are left. */
  async backfillSearch(batch: number): Promise<boolean> {
    const { rows: state } = await this.q("SELECT done, after_thread, after_message FROM search_backfill WHERE id = 1 FOR UPDATE");
    if (!state[0] || state[0].done) return false;
    const { rows } = await this.q(`SELECT thread_id, id, type, body, deleted_at, created_at FROM messages WHERE (thread_id, id) > ($1, $2)
      ORDER BY thread_id, id LIMIT $3`, [state[0].after_thread, state[0].after_message, batch]);
    for (const r of rows) {
      const document = tsVector({ type: r.type as MessageRecord["type"], body: JSON.parse(r.body as string), deletedAt: num(r.deleted_at) });
      if (document === undefined) continue;
      await this.q(`INSERT INTO message_search (thread_id, message_id, created_at, document) VALUES ($1, $2, $3, $4::tsvector)
        ON CONFLICT (thread_id, message_id) DO NOTHING`, [r.thread_id, r.id, r.created_at, document]);
    }
    const last = rows[rows.length - 1];
    const done = rows.length < batch;
    await this.q("UPDATE search_backfill SET done = $1, after_thread = $2, after_message = $3 WHERE id = 1",
      [done, last ? last.thread_id : state[0].after_thread, last ? last.id : state[0].after_message]);
    return !done;
  }
  async searchMessages(q: MessageSearchQuery): Promise<MessageSearchHit[]> {
    const values = [tsQuery(q.terms), q.userId, q.after ?? Number.MAX_SAFE_INTEGER, q.minCreatedAt ?? Number.MIN_SAFE_INTEGER, q.limit];
    const { rows } = q.threadId === undefined
      ? await this.q(SEARCH_MESSAGES_SQL, values)
      : await this.q(SEARCH_THREAD_MESSAGES_SQL, [...values, q.threadId]);
    return rows.map((r) => ({ message: toMessage(r), cursor: r.search_cursor as number }));
  }
  async listMessagesBySequence(threadId: string, q: SequencePageQuery) {
    const sql = q.direction === "older"
      ? "SELECT * FROM messages WHERE thread_id = $1 AND sequence < $2 AND created_at >= $3 ORDER BY sequence DESC LIMIT $4"
      : "SELECT * FROM messages WHERE thread_id = $1 AND sequence > $2 AND created_at >= $3 ORDER BY sequence ASC LIMIT $4";
    const { rows } = await this.q(sql, [threadId, q.from, q.minCreatedAt ?? Number.MIN_SAFE_INTEGER, q.limit]);
    return rows.map(toMessage);
  }
  async listMessages(threadId: string, q: MessagePageQuery) {
    const { rows } = await this.q(LIST_MESSAGES_SQL, [
      threadId, q.beforeVersion ?? Number.MAX_SAFE_INTEGER, q.minVersion ?? Number.MIN_SAFE_INTEGER, q.minCreatedAt ?? Number.MIN_SAFE_INTEGER, q.limit]);
    return rows.map(toMessage);
  }

  async insertImage(i: ImageRecord) {
    await this.q("INSERT INTO images (thread_id, id, name, content_type, data, uploaded_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)", [
      i.threadId, i.id, i.name, i.contentType, Buffer.from(i.data.buffer, i.data.byteOffset, i.data.byteLength), i.uploadedBy, i.createdAt]);
  }
  async getImage(threadId: string, id: string) {
    const { rows } = await this.q("SELECT * FROM images WHERE thread_id = $1 AND id = $2", [threadId, id]);
    return rows[0] && toImage(rows[0]);
  }
  async deleteImage(threadId: string, id: string) {
    const { rowCount } = await this.q("DELETE FROM images WHERE thread_id = $1 AND id = $2", [threadId, id]);
    return (rowCount ?? 0) > 0;
  }

  async getReadReceipt(threadId: string, userId: string) {
    const { rows } = await this.q("SELECT * FROM read_receipts WHERE thread_id = $1 AND user_id = $2", [threadId, userId]);
    return rows[0] && toReceipt(rows[0]);
  }
  async upsertReadReceipt(r: ReadReceiptRecord) {
    await this.q(`INSERT INTO read_receipts (thread_id, user_id, message_id, sequence, read_at) VALUES ($1, $2, $3, $4, $5)
      ON CONFLICT (thread_id, user_id) DO UPDATE SET message_id = excluded.message_id, sequence = excluded.sequence, read_at = excluded.read_at`,
    [r.threadId, r.userId, r.messageId, r.sequence, r.readAt]);
  }
  async listReadReceipts(threadId: string, skip: number, limit: number, minCreatedAt = 0) {
    const { rows } = minCreatedAt <= 0
      ? await this.q("SELECT * FROM read_receipts WHERE thread_id = $1 ORDER BY read_at DESC, user_id LIMIT $2 OFFSET $3", [threadId, limit, skip])
      : await this.q(`SELECT r.* FROM read_receipts r JOIN messages m ON m.thread_id = r.thread_id AND m.id = r.message_id
          WHERE r.thread_id = $1 AND m.created_at >= $2 ORDER BY r.read_at DESC, r.user_id LIMIT $3 OFFSET $4`, [threadId, minCreatedAt, limit, skip]);
    return rows.map(toReceipt);
  }

  async getIdempotency(scope: string, key: string) {
    const { rows } = await this.q("SELECT * FROM idempotency WHERE scope = $1 AND key = $2", [scope, key]);
    const r = rows[0];
    return r && ({ scope: r.scope, key: r.key, fingerprint: r.fingerprint, status: r.status, body: r.body, createdAt: r.created_at } as IdempotencyRecord);
  }
  async insertIdempotency(r: IdempotencyRecord) {
    try {
      await this.q("INSERT INTO idempotency (scope, key, fingerprint, status, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        [r.scope, r.key, r.fingerprint, r.status, r.body, r.createdAt]);
    } catch (error) {
      // unique_violation on the primary key: another transaction holds (or committed) this key. When it was
      // still in flight, PostgreSQL waited for its commit before answering, so the record is now readable.
      const e = error as { code?: unknown; constraint?: unknown };
      if (e.code === "23505" && e.constraint === "idempotency_pkey") throw new IdempotencyConflictError(r.scope, r.key, { cause: error });
      throw error;
    }
  }
  async getEndpointCursor(userId: string, endpointId: string, savedSince = Number.MIN_SAFE_INTEGER) {
    const { rows } = await this.q("SELECT position FROM endpoint_cursors WHERE user_id = $1 AND endpoint_id = $2 AND updated_at >= $3", [userId, endpointId, savedSince]);
    return rows[0] === undefined ? undefined : Number(rows[0].position);
  }
  async saveEndpointCursor(userId: string, endpointId: string, position: number, at: number, replace = false) {
    await this.q(`INSERT INTO endpoint_cursors (user_id, endpoint_id, position, updated_at) VALUES ($1, $2, $3, $4)
      ON CONFLICT (user_id, endpoint_id) DO UPDATE SET updated_at = EXCLUDED.updated_at,
        position = CASE WHEN $5::boolean THEN EXCLUDED.position ELSE GREATEST(endpoint_cursors.position, EXCLUDED.position) END`,
    [userId, endpointId, position, at, replace]);
  }
  async trimEndpointCursors(userId: string, keep: number, endpointId: string) {
    return (await this.q(`DELETE FROM endpoint_cursors WHERE user_id = $1 AND endpoint_id <> $2 AND endpoint_id IN (
      SELECT endpoint_id FROM endpoint_cursors WHERE user_id = $1 AND endpoint_id <> $2
      ORDER BY updated_at DESC, endpoint_id OFFSET $3)`, [userId, endpointId, Math.max(0, keep - 1)])).rowCount ?? 0;
  }
  async deleteEndpointCursorsBefore(time: number) {
    return (await this.q("DELETE FROM endpoint_cursors WHERE updated_at < $1", [time])).rowCount ?? 0;
  }
  async deleteIdempotencyBefore(time: number) {
    return (await this.q("DELETE FROM idempotency WHERE created_at < $1", [time])).rowCount ?? 0;
  }

  async appendEvent(e: Omit<EventRecord, "position">) {
    if (!this.inTransaction) throw new Error("appendEvent runs inside a transaction");
    // The lock (held to the end of the transaction) is taken before nextval: see the top of this file.
    // MATERIALIZED keeps the planner from folding the CTE, so the lock is always acquired first.
    const { rows } = await this.q(`WITH gate AS MATERIALIZED (SELECT pg_advisory_xact_lock($1::bigint))
      INSERT INTO events (position, thread_id, type, recipients, payload, created_at)
      SELECT nextval('events_position'), $2, $3, $4::text[], $5, $6 FROM gate RETURNING position`,
    [EVENT_LOCK, e.threadId, e.type, e.recipients, JSON.stringify(e.payload), e.createdAt]);
    return rows[0].position as number;
  }
  async readStream(after: number, limit: number): Promise<EventRecord[]> {
    const { rows } = await this.q("SELECT * FROM events WHERE position > $1 ORDER BY position LIMIT $2", [after, limit]);
    return rows.map((r) => ({ ...toStreamEvent(r), recipients: r.recipients as string[] }));
  }
  async readEvents(userId: string, after: number, limit: number) {
    // The GIN index finds the user's events; the recipient list itself is not read back (see StreamEvent).
    const { rows } = await this.q(`SELECT position, thread_id, type, payload, created_at FROM events
      WHERE position > $1 AND recipients @> ARRAY[$2::text] ORDER BY position LIMIT $3`, [after, userId, limit]);
    return rows.map(toStreamEvent);
  }
  async deleteEventsBefore(time: number) {
    // One statement: the delete and the marker move together (the marker row lock also serialises purges).
    const { rows } = await this.q(`WITH gone AS (DELETE FROM events WHERE created_at < $1 RETURNING position),
      bumped AS (UPDATE stream_state SET purged_through = GREATEST(purged_through, (SELECT COALESCE(max(position), 0) FROM gone)) WHERE id = 1)
      SELECT count(*)::int AS n FROM gone`, [time]);
    return rows[0].n as number;
  }
  async purgedThrough() {
    const { rows } = await this.q("SELECT purged_through FROM stream_state WHERE id = 1");
    return (rows[0]?.purged_through as number | undefined) ?? 0;
  }
  async headPosition() {
    // max(position) is a backward scan of the primary key's index, stopping at its first row. Positions
    // become visible in commit order (EVENT_LOCK), so nothing committed later can come in below it.
    const { rows } = await this.q(`SELECT GREATEST(COALESCE((SELECT max(position) FROM events), 0),
      COALESCE((SELECT purged_through FROM stream_state WHERE id = 1), 0)) AS p`);
    return rows[0].p as number;
  }

  async findProfileByName(displayName: string) {
    const { rows } = await this.q("SELECT * FROM profiles WHERE lower(display_name) = lower($1)", [displayName]);
    return rows[0] && toProfile(rows[0]);
  }
  async insertProfile(p: ProfileRecord) {
    await this.q("INSERT INTO profiles (user_id, display_name, created_at) VALUES ($1, $2, $3)", [p.userId, p.displayName, p.createdAt]);
  }
  async listProfiles(limit: number, afterName?: string) {
    const { rows } = await this.q(`SELECT * FROM profiles WHERE ($1::text IS NULL OR lower(display_name) COLLATE "C" > lower($1) COLLATE "C")
      ORDER BY lower(display_name) COLLATE "C" LIMIT $2`, [afterName ?? null, limit]);
    return rows.map(toProfile);
  }
}

/** Writes that take several statements (or the event lock) and so run as a transaction of their own. */
const TRANSACTIONAL = new Set<string>(["appendEvent", "deleteThreadContent", "purgeThread", "updateMessage", "backfillSearch"]);


/**
 * `pg` pool settings, with our defaults: `connectionTimeoutMillis` 5 000 and `query_timeout` 10 000 (a statement
 * without an answer in that time fails and its connection is discarded, so a network partition from PostgreSQL
 * gives 503s instead of requests that hang for ever).
 */
export interface PostgresStoreOptions extends PoolConfig {
  /** Called with errors of idle pooled connections (PostgreSQL restarted, network cut). They never crash the process. */
  onError?: (error: Error) => void;
}

// The StoreOps methods are installed in the constructor (reads on the pool, writes as one statement or as a
// transaction of their own); this merge tells TypeScript they exist.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface PostgresStore extends StoreOps, DirectoryOps {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class PostgresStore implements Store {
  readonly pool: pg.Pool;
  private closed: Promise<void> | undefined;

  constructor(config: string | PostgresStoreOptions) {
    const { onError, ...poolConfig } = typeof config === "string" ? { connectionString: config } as PostgresStoreOptions : config;
    // A resolved transaction must be durable, whatever the server's default is: pg-pool's onConnect hook runs
    // the SET before a new connection is handed out. (A SET rather than startup `options`: options given in the
    // URL would replace ours.)
    const onConnect = (client: pg.ClientBase) => client.query("SET synchronous_commit TO on"); // awaited by pg-pool
    this.pool = new pg.Pool({
      connectionTimeoutMillis: 5_000,
      query_timeout: 10_000,
      keepAlive: true,
      ...poolConfig,
      types: typeParsers,
      onConnect,
    });
    // Without a listener, an idle client's error (server restart, network cut) would crash the process.
    this.pool.on("error", (error) => onError?.(error));
    const poolOps = new PostgresOps((sql, params) => this.pool.query(prepared(sql, params)), false);
    for (const name of Object.getOwnPropertyNames(PostgresOps.prototype) as (keyof PostgresOps)[]) {
      if ((name as string) === "constructor" || (name as string) === "update") continue;
      const method = TRANSACTIONAL.has(name)
        ? (...args: unknown[]) => this.transaction((tx) => (tx[name as keyof StoreOps] as (...a: unknown[]) => Promise<unknown>)(...args))
        : (...args: unknown[]) => (poolOps[name] as (...a: unknown[]) => Promise<unknown>).call(poolOps, ...args);
      Object.defineProperty(this, name, { value: method });
    }
  }

  /** Applies missing migrations in one transaction, under an advisory lock: nodes starting together take turns. */
  async migrate(): Promise<void> {
    await this.withClient(async (client) => {
      await client.query("SELECT pg_advisory_xact_lock($1::bigint)", [MIGRATION_LOCK]);
      await client.query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
      const { rows } = await client.query<{ version: number }>("SELECT version FROM schema_migrations");
      const applied = new Set(rows.map((r) => r.version));
      for (let version = 1; version <= POSTGRES_MIGRATIONS.length; version++) {
        if (applied.has(version)) continue;
        await client.query(POSTGRES_MIGRATIONS[version - 1]);
        await client.query("INSERT INTO schema_migrations (version) VALUES ($1)", [version]);
      }
    });
    // Messages stored before the search index existed: indexed in batches, each its own transaction.
    while (await this.transaction((tx) => (tx as unknown as PostgresOps).backfillSearch(2_000))) { /* next batch */ }
  }

  transaction<T>(fn: (tx: StoreOps) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error("store is closed"));
    return this.withClient((client) => fn(new PostgresOps((sql, params) => client.query(prepared(sql, params)), true)));
  }

  /** BEGIN … COMMIT on one pooled client; ROLLBACK and rethrow on error. A broken connection is discarded. */
  private async withClient<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    const onClientError = (error: Error) => {
      broken = error;
    };
    client.on("error", onClientError);
    try {
      await client.query("BEGIN");
      const result = await fn(client);
      await client.query("COMMIT");
      return result;
    } catch (error) {
      // A connection that timed out or broke cannot roll back (and a ROLLBACK would wait for its own timeout):
      // discard it; PostgreSQL rolls back what it had when the connection goes.
      if (isUnavailableError(error)) broken ??= error as Error;
      else {
        try {
          await client.query("ROLLBACK");
        } catch (rollbackError) {
          broken ??= rollbackError as Error;
        }
      }
      throw error;
    } finally {
      client.off("error", onClientError);
      client.release(broken ?? false);
    }
  }

  async ping(): Promise<void> {
    await this.pool.query("SELECT 1");
  }

  close(): Promise<void> {
    this.closed ??= this.pool.end();
    return this.closed;
  }
}
