// PostgresStore: the scale-out Store on PostgreSQL (`pg` Pool). Several Natter nodes share one database.
// transaction(fn) runs on one pooled client between BEGIN and COMMIT (READ COMMITTED; synchronous_commit=on,
// so a resolved transaction is durable); lockThread is SELECT ... FOR UPDATE; plain reads go to the pool.
//
// Stream positions, without a cluster-wide lock. Readers resume with "events after position P", so a reader
// who has seen P must never later find a newly committed event below P. A plain sequence does not give that
// (T1 takes 5, T2 takes 6, T2 commits, a reader sees 6, then T1 commits 5 behind it). Instead an event's
// position is derived from its transaction's id: ((xid8 + base) << 8) | index of the event in its transaction
// (natter_event_position, migration 7), and every read of the stream stops below the horizon
// natter_stream_horizon() = the position of xmin of the reader's own snapshot. PostgreSQL guarantees that
// every transaction with an xid below a snapshot's xmin has ended (committed and visible to that snapshot, or
// rolled back), and that every transaction that has no xid yet will get one at or above it. So everything below
// the horizon is final: no event can ever appear there later, and no reader skips one. Transactions commit in
// parallel; the cost moves to readers: an event committed above the horizon is readable only once every older
// transaction (cluster-wide, any database) has ended, usually within milliseconds. headPosition() waits for
// that (see there). The xid counter never wraps (xid8); 2^44 transactions fit a JS-safe position. See
// docs/scaling.md "Ordering without a cluster-wide lock".
import pg from "pg";
import type { PoolClient, PoolConfig, QueryConfig, QueryResult, QueryResultRow } from "pg";
import type {
  DirectoryOps, EventRecord, EventSubscriptionRecord, IdempotencyRecord, NewEventDelivery, ParkedOutcome, ImageRecord, StreamEvent, MessagePageQuery, MessageRecord, ParticipantRecord, ParticipantWindows, ProfileRecord,
  ReadReceiptRecord, Store, StoreOps, ThreadListItem, ThreadPageQuery, ThreadRecord, ThreadSummaryQuery, ThreadSummaryRecord, UserRecord, MessageSearchQuery, MessageSearchHit, SequencePageQuery,
} from "../store.js";
import { searchTokens, searchableText } from "../../domain/search-text.js";
import { IdempotencyConflictError, participantWindows } from "../store.js";
import { toDelivery, toSubscription } from "../event-subscription-rows.js";
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

/** PostgreSQL refuses a prepared statement whose result columns a schema change altered (feature_not_supported). */
function isStalePlanError(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "0A000" && /cached plan must not change result type/.test((error as Error).message);
}

/** Advisory lock key (bigint, database-wide) of schema migrations. */
export const MIGRATION_LOCK = "7953083516447997952"; // 0x6e61747465720000 ("natter\0\0")

/** Events one transaction may append: the low 8 bits of a position number them. */
export const MAX_EVENTS_PER_TRANSACTION = 256;
/**
 * How long headPosition waits for older transactions to end before it answers with the horizon it has (while
 * it waits, nothing newer is readable anyway). Longer than IDLE_IN_TRANSACTION_MS, so that a transaction of
 * ours whose node vanished has been ended by then.
 */
const HEAD_WAIT_MS = 30_000;
/** PostgreSQL ends a transaction of ours that has been idle this long (its node is gone). */
const IDLE_IN_TRANSACTION_MS = 10_000;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The columns of a MessageRecord, read by name: not the search document (migration 12), and a later column
 * does not change the result type of a statement prepared before it (PostgreSQL refuses to run those).
 */
const MESSAGE_FIELDS = "thread_id, id, sequence, type, body, sender, sender_display_name, created_at, edited_at, deleted_at, version, metadata";
const MESSAGE_FIELDS_OF_M = MESSAGE_FIELDS.split(", ").map((c) => `m.${c}`).join(", ");

/**
 * listMessages: a backward range of messages_version. The lower end is the greater of minVersion and
 * minCreatedAt (version >= createdAt, see MessagePageQuery), so a shareHistoryTime in the future is an empty
 * range instead of a scan of the whole thread. Exported for the query-plan test.
 */
export const LIST_MESSAGES_SQL = `SELECT ${MESSAGE_FIELDS} FROM messages WHERE thread_id = $1 AND version < $2
  AND version >= GREATEST($3::bigint, $4::bigint) AND created_at >= $4 ORDER BY version DESC LIMIT $5`;

/**
 * searchMessages: GIN match on the message's search document (migration 12), joined to the caller's
 * participation (its shareHistoryTime), newest document first (search_id). Exported for the plan test.
 */
export const SEARCH_MESSAGES_SQL = `SELECT ${MESSAGE_FIELDS_OF_M}, m.search_id AS search_cursor FROM messages m
  JOIN participants p ON p.thread_id = m.thread_id AND p.user_id = $2
  WHERE m.search_document @@ $1::tsquery AND m.search_id < $3 AND m.created_at >= p.share_history_time AND m.created_at >= $4
  ORDER BY m.search_id DESC LIMIT $5`;
const SEARCH_THREAD_MESSAGES_SQL = SEARCH_MESSAGES_SQL.replace("AND m.created_at >= $4", "AND m.created_at >= $4 AND m.thread_id = $6");
if (SEARCH_THREAD_MESSAGES_SQL === SEARCH_MESSAGES_SQL) throw new Error("the thread filter of the search query lost its anchor");

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

/**
 * Runs `send` (which queues statements on the pipelined client, synchronously up to its first wait) with the
 * socket corked, so that they go out in one write. pg corks each statement's own messages the same way.
 */
function corked<T>(client: PoolClient, send: () => T): T {
  const stream = (client as unknown as { connection?: { stream?: { cork?: () => void; uncork?: () => void } } }).connection?.stream;
  stream?.cork?.();
  try {
    return send();
  } finally {
    stream?.uncork?.();
  }
}

/**
 * One data-modifying statement of a deferred write, on `table`, with its own $1… parameters: a plain INSERT,
 * UPDATE or DELETE without a WITH of its own (combine nests it in one, where data-modifying CTEs are not allowed).
 */
interface WritePart {
  table: string;
  sql: string;
  params: unknown[];
}

/**
 * Writes as one statement: all but the last as data-modifying CTEs, the last as the main statement, their
 * parameters renumbered. They run with one snapshot and see none of each other's rows (see PostgresOps.write).
 */
function combine(parts: readonly WritePart[]): { sql: string; params: unknown[] } {
  if (parts.length === 1) return parts[0];
  const params: unknown[] = [];
  const texts = parts.map((p) => {
    const offset = params.length;
    params.push(...p.params);
    return offset === 0 ? p.sql : p.sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`);
  });
  const last = texts.pop()!;
  return { sql: `WITH ${texts.map((t, i) => `w${i} AS (${t})`).join(", ")} ${last}`, params };
}

/** StoreOps over one query function: a transaction's client, or the pool (each statement on its own). */
class PostgresOps implements StoreOps, DirectoryOps {
  constructor(private readonly run: Query, private readonly inTransaction: boolean) {}

  // Inside a transaction the connection is in pipeline mode: writes whose result the caller does not need are
  // deferred (`write`) and sent with the next statement that is awaited, or with COMMIT. Deferred writes to
  // different tables are sent as one statement (data-modifying CTEs), which saves PostgreSQL and the node the
  // per-statement work (bind, portal, executor start, Sync and its reply): a send's message, search document,
  // thread update and event are one statement. Such writes cannot see each other's rows, which none of ours
  // needs (each reads only its own table, no triggers or foreign keys cross tables); a write to a table already
  // in the batch starts a new statement, so the same table's writes stay in order. A failed write fails its
  // statement (the transaction is aborted) and is rethrown in place of the next awaited statement; a transaction
  // whose deferred write failed never commits (see PostgresStore.withClient).
  private failure: { error: unknown } | undefined;
  private readonly inFlight: Promise<void>[] = [];
  private batch: { tables: Set<string>; parts: WritePart[]; mapErrors: ((error: unknown) => unknown)[] } | undefined;
  /** The position of this transaction's first event, known once lockThread has drawn its xid. */
  private firstPosition: number | undefined;
  /** Participants read by lockThread, by thread; dropped by any participant write of this transaction. */
  private readonly windows = new Map<string, ParticipantWindows>();

  private readonly q: Query = async (sql, params) => {
    this.flush();
    try {
      return await this.run(sql, params);
    } catch (error) {
      await this.settle();
      throw error;
    }
  };
  private write(parts: WritePart[], mapError: (error: unknown) => unknown = (e) => e): Promise<void> {
    if (!this.inTransaction) {
      const { sql, params } = combine(parts);
      return this.run(sql, params).then(() => undefined, (error: unknown) => Promise.reject(mapError(error)));
    }
    if (this.batch && parts.some((p) => this.batch!.tables.has(p.table))) this.flush();
    this.batch ??= { tables: new Set(), parts: [], mapErrors: [] };
    for (const p of parts) this.batch.tables.add(p.table);
    this.batch.parts.push(...parts);
    this.batch.mapErrors.push(mapError);
    return Promise.resolve();
  }
  /** Sends the batch of deferred writes (pipelined: nothing waits for its answer here). */
  flush(): void {
    const batch = this.batch;
    if (!batch) return;
    this.batch = undefined;
    const { sql, params } = combine(batch.parts);
    // Each write's mapper turns only its own errors (a named constraint) into a domain error.
    this.inFlight.push(this.run(sql, params).then(() => undefined, (error: unknown) => {
      this.failure ??= { error: batch.mapErrors.reduce((e, map) => map(e), error) };
    }));
  }
  /** Waits for the deferred writes; throws the first one's error. */
  async settle(): Promise<void> {
    this.flush();
    await Promise.all(this.inFlight);
    if (this.failure) throw this.failure.error;
  }
  /** Records a failure found outside the ops (BEGIN), so that the transaction rethrows it. */
  fail(error: unknown): void {
    this.failure ??= { error };
  }

  private async update(table: string, where: string, whereArgs: unknown[], patch: Record<string, unknown>, columns: Record<string, (v: unknown) => unknown>) {
    const keys = Object.keys(patch).filter((k) => k in columns && patch[k] !== undefined);
    if (keys.length === 0) return;
    const sets = keys.map((k, i) => `${snake(k)} = $${i + 1}`).join(", ");
    let n = keys.length;
    const clause = where.replace(/\?/g, () => `$${++n}`);
    await this.write([{ table, sql: `UPDATE ${table} SET ${sets} WHERE ${clause}`, params: [...keys.map((k) => columns[k](patch[k])), ...whereArgs] }]);
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
    // A transaction gets its xid (so its events' positions) at its first write, and a row lock is one that
    // PostgreSQL takes *before* waiting for the row. So natter_lock_thread (migration 11) first locks the thread
    // with an advisory lock keyed by its id, which needs no xid, then the row: the xid is then drawn after the lock
    // is granted, and the events of transactions that lock one thread keep the order in which they locked it
    // (per-thread event order = sequence order). It also returns where this transaction's positions start (its
    // xid, now drawn), so appendEvent can be deferred, and the participants as read after the locks, which
    // listParticipantWindows/Ids then answer from (the writers of a thread's participants lock the thread).
    const { rows } = await this.q(`SELECT (r.thread).*, r.first_position AS natter_first_position, r.user_ids AS natter_user_ids,
      r.share_history_times AS natter_share_history_times FROM natter_lock_thread($1) r`, [id]);
    const r = rows[0];
    if (!r || r.id === null) return undefined;
    this.firstPosition = Number(r.natter_first_position);
    this.windows.set(id, participantWindows(r.natter_user_ids as string[], (r.natter_share_history_times as (string | number)[]).map(Number)));
    return toThread(r);
  }
  async insertThread(t: ThreadRecord) {
    await this.write([{ table: "threads", sql: `INSERT INTO threads (id, topic, created_at, created_by, deleted_at, metadata, retention, next_sequence, clock, last_message_at, expires_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, params: [
      t.id, t.topic, t.createdAt, t.createdBy, t.deletedAt, json(t.metadata), json(t.retention), t.nextSequence, t.clock, t.lastMessageAt, t.expiresAt] }]);
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
    await this.q("DELETE FROM messages WHERE thread_id = $1", [id]);
    // Documents written by nodes of the previous version (migration 12); after the messages, so that their
    // mirror trigger finds no row to update.
    await this.q("DELETE FROM message_search WHERE thread_id = $1", [id]);
    await this.q("DELETE FROM images WHERE thread_id = $1", [id]);
    await this.q("DELETE FROM read_receipts WHERE thread_id = $1", [id]);
  }
  async purgeThread(id: string) {
    this.windows.delete(id);
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
    return (await this.listParticipantWindows(threadId)).ids;
  }
  async listParticipantWindows(threadId: string): Promise<ParticipantWindows> {
    const known = this.windows.get(threadId);
    if (known) return known;
    const { rows } = await this.q("SELECT user_id, share_history_time FROM participants WHERE thread_id = $1 ORDER BY joined_at, ord", [threadId]);
    return participantWindows(rows.map((r) => r.user_id as string), rows.map((r) => r.share_history_time as number));
  }
  async countParticipants(threadId: string) {
    const { rows } = await this.q("SELECT COUNT(*) AS n FROM participants WHERE thread_id = $1", [threadId]);
    return rows[0].n as number;
  }
  async upsertParticipant(p: ParticipantRecord) {
    this.windows.delete(p.threadId);
    await this.write([{ table: "participants", sql: `INSERT INTO participants (thread_id, user_id, display_name, share_history_time, metadata, joined_at) VALUES ($1, $2, $3, $4, $5, $6)
      ON CONFLICT (thread_id, user_id) DO UPDATE SET display_name = excluded.display_name, share_history_time = excluded.share_history_time, metadata = excluded.metadata`,
    params: [p.threadId, p.userId, p.displayName, p.shareHistoryTime, json(p.metadata), p.joinedAt] }]);
  }
  async deleteParticipant(threadId: string, userId: string) {
    this.windows.delete(threadId);
    await this.write([{ table: "participants", sql: "DELETE FROM participants WHERE thread_id = $1 AND user_id = $2", params: [threadId, userId] }]);
  }

  async getMessage(threadId: string, id: string) {
    const { rows } = await this.q(`SELECT ${MESSAGE_FIELDS} FROM messages WHERE thread_id = $1 AND id = $2`, [threadId, id]);
    return rows[0] && toMessage(rows[0]);
  }
  async insertMessage(m: MessageRecord) {
    const params = [m.threadId, m.id, m.sequence, m.type, JSON.stringify(m.body), m.sender, m.senderDisplayName, m.createdAt, m.editedAt, m.deletedAt, m.version, json(m.metadata)];
    // The search document is on the row (migration 12), with its place in the search order.
    const document = tsVector(m);
    await this.write([document === undefined
      ? { table: "messages", sql: `INSERT INTO messages (${MESSAGE_FIELDS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`, params }
      : { table: "messages", sql: `INSERT INTO messages (${MESSAGE_FIELDS}, search_id, search_document)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, nextval('messages_search_id'), $13::tsvector)`, params: [...params, document] }]);
  }
  async updateMessage(threadId: string, id: string, patch: Partial<Pick<MessageRecord, "body" | "editedAt" | "deletedAt" | "version" | "metadata">>) {
    await this.update("messages", "thread_id = ? AND id = ?", [threadId, id], patch, MESSAGE_COLUMNS);
    if (patch.body === undefined && patch.deletedAt === undefined) return;
    if (patch.deletedAt !== undefined && patch.deletedAt !== null) {
      // A deleted message is never found: its document goes, with no read of the row (sent with the next statement).
      await this.write([{ table: "messages", sql: "UPDATE messages SET search_document = NULL WHERE thread_id = $1 AND id = $2", params: [threadId, id] }]);
      return;
    }
    // The search document follows the content (keeping its place in the search order), or goes.
    const { rows } = await this.q("SELECT type, body, deleted_at FROM messages WHERE thread_id = $1 AND id = $2", [threadId, id]);
    const r = rows[0];
    if (!r) return;
    const document = tsVector({ type: r.type as MessageRecord["type"], body: JSON.parse(r.body as string), deletedAt: num(r.deleted_at) });
    await this.q(`UPDATE messages SET search_document = $3::tsvector,
      search_id = CASE WHEN $3::tsvector IS NULL THEN search_id ELSE COALESCE(search_id, nextval('messages_search_id')) END
      WHERE thread_id = $1 AND id = $2`, [threadId, id, document ?? null]);
  }
  /** Indexes a batch of the messages that predate the search index (called by migrate()); false when none are left. */
  async backfillSearch(batch: number): Promise<boolean> {
    const { rows: state } = await this.q("SELECT done, after_thread, after_message FROM search_backfill WHERE id = 1 FOR UPDATE");
    if (!state[0] || state[0].done) return false;
    const { rows } = await this.q(`SELECT thread_id, id, type, body, deleted_at FROM messages WHERE (thread_id, id) > ($1, $2)
      ORDER BY thread_id, id LIMIT $3`, [state[0].after_thread, state[0].after_message, batch]);
    const threads: string[] = [], ids: string[] = [], documents: string[] = [];
    for (const r of rows) {
      const document = tsVector({ type: r.type as MessageRecord["type"], body: JSON.parse(r.body as string), deletedAt: num(r.deleted_at) });
      if (document === undefined) continue;
      threads.push(r.thread_id as string);
      ids.push(r.id as string);
      documents.push(document);
    }
    // One statement for the batch; search ids are drawn in the batch's (thread, id) order (the inner ORDER BY).
    if (ids.length > 0) {
      await this.q(`UPDATE messages m SET search_document = d.document::tsvector, search_id = d.search_id
        FROM (SELECT thread_id, id, document, nextval('messages_search_id') AS search_id
              FROM (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS u(thread_id, id, document, n) ORDER BY n) ordered) d
        WHERE m.thread_id = d.thread_id AND m.id = d.id AND m.search_document IS NULL`, [threads, ids, documents]);
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
      ? `SELECT ${MESSAGE_FIELDS} FROM messages WHERE thread_id = $1 AND sequence < $2 AND created_at >= $3 ORDER BY sequence DESC LIMIT $4`
      : `SELECT ${MESSAGE_FIELDS} FROM messages WHERE thread_id = $1 AND sequence > $2 AND created_at >= $3 ORDER BY sequence ASC LIMIT $4`;
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
    await this.write([{ table: "read_receipts", sql: `INSERT INTO read_receipts (thread_id, user_id, message_id, sequence, read_at) VALUES ($1, $2, $3, $4, $5)
      ON CONFLICT (thread_id, user_id) DO UPDATE SET message_id = excluded.message_id, sequence = excluded.sequence, read_at = excluded.read_at`,
    params: [r.threadId, r.userId, r.messageId, r.sequence, r.readAt] }]);
  }
  async listReadReceipts(threadId: string, skip: number, limit: number, minCreatedAt = 0) {
    const { rows } = minCreatedAt <= 0
      ? await this.q("SELECT * FROM read_receipts WHERE thread_id = $1 ORDER BY read_at DESC, user_id LIMIT $2 OFFSET $3", [threadId, limit, skip])
      : await this.q(`SELECT r.* FROM read_receipts r JOIN messages m ON m.thread_id = r.thread_id AND m.id = r.message_id
          WHERE r.thread_id = $1 AND m.created_at >= $2 ORDER BY r.read_at DESC, r.user_id LIMIT $3 OFFSET $4`, [threadId, minCreatedAt, limit, skip]);
    return rows.map(toReceipt);
  }

  async summarizeThreadsForUser(q: ThreadSummaryQuery): Promise<ThreadSummaryRecord[]> {
    if (q.threadIds.length === 0) return [];
    // One round trip for the page: per thread, a count over the unread range of messages_sequence (stopping at
    // countLimit) and the newest countable message; bodies are parsed as JSON only when they name mentions.
    const { rows } = await this.q(`SELECT p.thread_id AS summary_thread_id, c.n, c.mentions, lm.*
      FROM participants p
      LEFT JOIN read_receipts r ON r.thread_id = p.thread_id AND r.user_id = p.user_id
      CROSS JOIN LATERAL (
        SELECT COUNT(*)::int AS n,
          (COUNT(*) FILTER (WHERE u.body LIKE '%"mentions"%' AND (u.body::jsonb -> 'mentions') @> jsonb_build_array($1::text)))::int AS mentions
        FROM (SELECT m.body FROM messages m WHERE m.thread_id = p.thread_id AND m.sequence > COALESCE(r.sequence, 0)
          AND m.created_at >= p.share_history_time AND m.deleted_at IS NULL AND m.sender IS NOT NULL AND m.sender <> $1
          AND m.type = ANY($3::text[]) ORDER BY m.sequence LIMIT $4) u
      ) c
      LEFT JOIN LATERAL (SELECT ${MESSAGE_FIELDS_OF_M} FROM messages m WHERE m.thread_id = p.thread_id AND m.created_at >= p.share_history_time
        AND m.deleted_at IS NULL AND m.type = ANY($3::text[]) ORDER BY m.sequence DESC LIMIT 1) lm ON true
      WHERE p.user_id = $1 AND p.thread_id = ANY($2::text[])`, [q.userId, [...q.threadIds], [...q.types], q.countLimit]);
    return rows.map((r) => ({
      threadId: r.summary_thread_id as string, unreadCount: r.n as number, unreadMentionCount: r.mentions as number,
      lastMessage: r.id == null ? null : toMessage(r),
    }));
  }

  async getIdempotency(scope: string, key: string) {
    const { rows } = await this.q("SELECT * FROM idempotency WHERE scope = $1 AND key = $2", [scope, key]);
    const r = rows[0];
    return r && ({ scope: r.scope, key: r.key, fingerprint: r.fingerprint, status: r.status, body: r.body, createdAt: r.created_at } as IdempotencyRecord);
  }
  async insertIdempotency(r: IdempotencyRecord) {
    // unique_violation on the primary key: another transaction holds (or committed) this key. When it was still
    // in flight, PostgreSQL waited for its commit before answering, so the record is now readable. Inside a
    // transaction the insert is deferred: the conflict then fails the transaction (its COMMIT) instead.
    await this.write([{ table: "idempotency", sql: "INSERT INTO idempotency (scope, key, fingerprint, status, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
      params: [r.scope, r.key, r.fingerprint, r.status, r.body, r.createdAt] }], (error) => {
        const e = error as { code?: unknown; constraint?: unknown };
        return e.code === "23505" && e.constraint === "idempotency_pkey" ? new IdempotencyConflictError(r.scope, r.key, { cause: error }) : error;
      });
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

  /** Events appended so far by this transaction (the low bits of their positions). */
  private eventsAppended = 0;

  async appendEvent(e: Omit<EventRecord, "position">) {
    if (!this.inTransaction) throw new Error("appendEvent runs inside a transaction");
    if (this.eventsAppended >= MAX_EVENTS_PER_TRANSACTION) throw new Error(`a transaction appends at most ${MAX_EVENTS_PER_TRANSACTION} events`);
    // The position comes from this transaction's id (see the top of this file): no lock, no sequence. Known
    // here once lockThread has drawn the xid: then the insert travels with the next statement (or COMMIT).
    if (this.firstPosition !== undefined) {
      const position = this.firstPosition + this.eventsAppended++;
      await this.write([{ table: "events", sql: "INSERT INTO events (position, thread_id, type, recipients, payload, created_at) VALUES ($1, $2, $3, $4::text[], $5, $6)",
        params: [position, e.threadId, e.type, e.recipients, JSON.stringify(e.payload), e.createdAt] }]);
      return position;
    }
    const { rows } = await this.q(`INSERT INTO events (position, thread_id, type, recipients, payload, created_at)
      VALUES (natter_event_position($1), $2, $3, $4::text[], $5, $6) RETURNING position`,
    [this.eventsAppended++, e.threadId, e.type, e.recipients, JSON.stringify(e.payload), e.createdAt]);
    return rows[0].position as number;
  }
  async readStream(after: number, limit: number): Promise<EventRecord[]> {
    // Below the horizon only: everything there is final (see the top of this file).
    const { rows } = await this.q(`SELECT * FROM events WHERE position > $1 AND position < natter_stream_horizon()
      ORDER BY position LIMIT $2`, [after, limit]);
    return rows.map((r) => ({ ...toStreamEvent(r), recipients: r.recipients as string[] }));
  }
  async readEvents(userId: string, after: number, limit: number) {
    // The GIN index finds the user's events; the recipient list itself is not read back (see StreamEvent).
    const { rows } = await this.q(`SELECT position, thread_id, type, payload, created_at FROM events
      WHERE position > $1 AND position < natter_stream_horizon() AND recipients @> ARRAY[$2::text] ORDER BY position LIMIT $3`, [after, userId, limit]);
    return rows.map(toStreamEvent);
  }
  async deleteEventsBefore(time: number) {
    // One statement: the delete and the marker move together (the marker row lock also serialises purges).
    // Below the horizon only, so the marker (and the head, never below it) stays a final position.
    const { rows } = await this.q(`WITH gone AS (DELETE FROM events WHERE created_at < $1 AND position < natter_stream_horizon() RETURNING position),
      bumped AS (UPDATE stream_state SET purged_through = GREATEST(purged_through, (SELECT COALESCE(max(position), 0) FROM gone)) WHERE id = 1)
      SELECT count(*)::int AS n FROM gone`, [time]);
    return rows[0].n as number;
  }
  async purgedThrough() {
    const { rows } = await this.q("SELECT purged_through FROM stream_state WHERE id = 1");
    return (rows[0]?.purged_through as number | undefined) ?? 0;
  }
  async headPosition() {
    // The head must be final (nothing at or below it appears later) and cover every event committed before
    // the call (a socket that starts at the head must not miss an event that committed before it). So: the
    // highest position below the horizon, once the horizon has passed the highest committed position seen by
    // the first look. Waiting is needed only while an older transaction is still running (milliseconds); the
    // target is fixed at the first look, so a steady stream of new commits cannot keep it waiting. Inside a
    // transaction (its own xid holds the horizon back) and after HEAD_WAIT_MS (a transaction left open for
    // long) it answers with the horizon it has: final, and any later event still wakes its readers.
    let target: number | undefined;
    const deadline = Date.now() + HEAD_WAIT_MS;
    for (let wait = 1; ; wait = Math.min(wait * 2, 32)) {
      const { rows } = await this.q(`SELECT h.horizon, (SELECT max(position) FROM events) AS top,
        (SELECT max(position) FROM events WHERE position < h.horizon) AS safe, (SELECT purged_through FROM stream_state WHERE id = 1) AS purged
        FROM (SELECT natter_stream_horizon() AS horizon) h`);
      const { horizon, top, safe, purged } = rows[0] as { horizon: number; top: number | null; safe: number | null; purged: number | null };
      target ??= top ?? 0;
      if (target < horizon || this.inTransaction || Date.now() >= deadline) return Math.max(safe ?? 0, purged ?? 0);
      await pause(wait);
    }
  }

  // ---- event subscriptions (server-side events) ----
  async insertEventSubscription(r: EventSubscriptionRecord) {
    const { rowCount } = await this.q(`INSERT INTO event_subscriptions (name, definition, secret, state, created_at, updated_at, cursor)
      VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) DO NOTHING`,
    [r.name, JSON.stringify(r.definition), r.secret, r.state, r.createdAt, r.updatedAt, r.cursor]);
    return rowCount === 1;
  }
  async updateEventSubscription(name: string, patch: Partial<Pick<EventSubscriptionRecord, "definition" | "secret" | "state" | "updatedAt">>) {
    const { rowCount } = await this.q(`UPDATE event_subscriptions SET definition = COALESCE($2, definition), state = COALESCE($3, state),
      updated_at = COALESCE($4, updated_at), secret = COALESCE($5, secret) WHERE name = $1`,
    [name, patch.definition === undefined ? null : JSON.stringify(patch.definition), patch.state ?? null, patch.updatedAt ?? null, patch.secret ?? null]);
    return rowCount === 1;
  }
  async getEventSubscription(name: string) {
    const { rows } = await this.q("SELECT * FROM event_subscriptions WHERE name = $1", [name]);
    return rows[0] && toSubscription(rows[0]);
  }
  async listEventSubscriptions() {
    const { rows } = await this.q(`SELECT * FROM event_subscriptions ORDER BY name COLLATE "C"`);
    return rows.map(toSubscription);
  }
  async deleteEventSubscription(name: string) {
    await this.q("DELETE FROM event_deliveries WHERE subscription = $1", [name]);
    return (await this.q("DELETE FROM event_subscriptions WHERE name = $1", [name])).rowCount === 1;
  }
  async acquireEventSubscriptionLease(name: string, holder: string, now: number, ttlMs: number) {
    const { rowCount } = await this.q(`UPDATE event_subscriptions SET lease_holder = $2, lease_expires_at = $4
      WHERE name = $1 AND (lease_holder IS NULL OR lease_holder = $2 OR lease_expires_at < $3)`, [name, holder, now, now + ttlMs]);
    return rowCount === 1;
  }
  async releaseEventSubscriptionLease(name: string, holder: string) {
    await this.q("UPDATE event_subscriptions SET lease_holder = NULL, lease_expires_at = 0 WHERE name = $1 AND lease_holder = $2", [name, holder]);
  }
  /** Locks the subscription's row if `holder` holds its lease (a lease takeover waits for this transaction). */
  private async holdsLease(name: string, holder: string): Promise<boolean> {
    const { rows } = await this.q("SELECT 1 FROM event_subscriptions WHERE name = $1 AND lease_holder = $2 FOR UPDATE", [name, holder]);
    return rows.length === 1;
  }
  private async insertDeliveries(name: string, dead: boolean, list: NewEventDelivery[]) {
    if (list.length === 0) return;
    // One statement per round: unnest keeps the input order, so seqs follow it.
    await this.q(`INSERT INTO event_deliveries (subscription, dead, event_id, thread_id, position, event, attempts, at, reason, last_error)
      SELECT $1, $2, a, b, c, d, e, f, g, h FROM unnest($3::text[], $4::text[], $5::bigint[], $6::text[], $7::int[], $8::bigint[], $9::text[], $10::text[]) WITH ORDINALITY AS u(a, b, c, d, e, f, g, h, n) ORDER BY n`,
    [name, dead, list.map((d) => d.eventId), list.map((d) => d.threadId), list.map((d) => d.position), list.map((d) => JSON.stringify(d.event)),
      list.map((d) => d.attempts), list.map((d) => d.at), list.map((d) => d.reason), list.map((d) => d.lastError)]);
  }
  async advanceEventSubscription(name: string, holder: string, cursor: number, parked: NewEventDelivery[], deadLetters: NewEventDelivery[]) {
    if (!(await this.holdsLease(name, holder))) return false;
    await this.q("UPDATE event_subscriptions SET cursor = GREATEST(cursor, $2) WHERE name = $1", [name, cursor]);
    await this.insertDeliveries(name, false, parked);
    await this.insertDeliveries(name, true, deadLetters);
    return true;
  }
  async listParkedDeliveries(name: string, limit: number) {
    const { rows } = await this.q("SELECT * FROM event_deliveries WHERE subscription = $1 AND NOT dead ORDER BY seq LIMIT $2", [name, limit]);
    return rows.map(toDelivery);
  }
  async settleParkedDeliveries(name: string, holder: string, outcome: ParkedOutcome, now: number) {
    if (!(await this.holdsLease(name, holder))) return false;
    if (outcome.delivered.length) await this.q("DELETE FROM event_deliveries WHERE subscription = $1 AND NOT dead AND seq = ANY($2::bigint[])", [name, outcome.delivered]);
    for (const r of outcome.retry) {
      await this.q("UPDATE event_deliveries SET attempts = $3, at = $4, last_error = $5 WHERE seq = $2 AND subscription = $1 AND NOT dead", [name, r.seq, r.attempts, r.at, r.lastError]);
    }
    for (const d of outcome.deadLetter) {
      await this.q("UPDATE event_deliveries SET dead = true, attempts = $3, at = $4, reason = $5, last_error = $6 WHERE seq = $2 AND subscription = $1 AND NOT dead",
        [name, d.seq, d.attempts, now, d.reason, d.lastError]);
    }
    return true;
  }
  async listDeadLetters(name: string | undefined, limit: number, afterSeq = 0) {
    const { rows } = await this.q("SELECT * FROM event_deliveries WHERE dead AND ($1::text IS NULL OR subscription = $1) AND seq > $2 ORDER BY seq LIMIT $3",
      [name ?? null, afterSeq, limit]);
    return rows.map(toDelivery);
  }
  async redeliverDeadLetters(name: string, now: number) {
    // New seqs (re-inserted in the old order), so they queue behind what is already waiting.
    const { rows } = await this.q("DELETE FROM event_deliveries WHERE subscription = $1 AND dead RETURNING *", [name]);
    const list = rows.map(toDelivery).sort((a, b) => a.seq - b.seq).map((d) => ({ ...d, attempts: 0, at: now, reason: null }));
    await this.insertDeliveries(name, false, list);
    return list.length;
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
const TRANSACTIONAL = new Set<string>([
  "appendEvent", "deleteThreadContent", "purgeThread", "updateMessage", "backfillSearch",
  "deleteEventSubscription", "advanceEventSubscription", "settleParkedDeliveries", "redeliverDeadLetters",
]);


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
    // idle_in_transaction_session_timeout: a transaction whose client vanished (a node killed or cut off mid-
    // transaction) would otherwise keep its xid for as long as TCP takes to notice, holding back every reader's
    // horizon (see the top of this file); ours never wait on anything but the database between statements.
    const onConnect = (client: pg.ClientBase) => client.query(`SET synchronous_commit TO on; SET idle_in_transaction_session_timeout TO ${IDLE_IN_TRANSACTION_MS}`); // awaited by pg-pool
    this.pool = new pg.Pool({
      connectionTimeoutMillis: 5_000,
      query_timeout: 10_000,
      keepAlive: true,
      ...poolConfig,
      // Pipeline mode: a statement is sent without waiting for the answers to the ones before it (one
      // connection still runs one transaction at a time). See withClient and PostgresOps.write.
      pipeline: true,
      types: typeParsers,
      onConnect,
    });
    // Without a listener, an idle client's error (server restart, network cut) would crash the process.
    this.pool.on("error", (error) => onError?.(error));
    const poolOps = new PostgresOps((sql, params) => this.pool.query(prepared(sql, params)), false);
    for (const name of Object.getOwnPropertyNames(PostgresOps.prototype) as (keyof PostgresOps)[]) {
      if (["constructor", "update", "holdsLease", "insertDeliveries"].includes(name as string)) continue;
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
      return { result: undefined };
    });
    // Messages stored before the search index existed: indexed in batches, each its own transaction.
    while (await this.transaction((tx) => (tx as unknown as PostgresOps).backfillSearch(2_000))) { /* next batch */ }
  }

  transaction<T>(fn: (tx: StoreOps) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error("store is closed"));
    return this.withClient(async (client, began) => {
      const ops = new PostgresOps((sql, params) => client.query(prepared(sql, params)), true);
      began.catch((error: unknown) => ops.fail(error));
      const result = await fn(ops);
      // The last deferred writes go out before COMMIT, in the same packet.
      return { result, beforeCommit: () => ops.flush(), settle: () => ops.settle() };
    });
  }

  /**
   * BEGIN … COMMIT on one pooled client; ROLLBACK and rethrow on error. A broken connection is discarded. The
   * connection pipelines: BEGIN goes out with the first statement and COMMIT with the deferred writes, whose
   * failure (`settle`) turns the COMMIT into a rollback (PostgreSQL answers COMMIT of an aborted transaction
   * with ROLLBACK) and is rethrown.
   */
  private async withClient<T>(fn: (client: PoolClient, began: Promise<unknown>) => Promise<{ result: T; beforeCommit?: () => void; settle?: () => Promise<void> }>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    const onClientError = (error: Error) => {
      broken = error;
    };
    client.on("error", onClientError);
    try {
      // BEGIN and the statements fn sends before its first wait leave in one packet, and so do the last
      // deferred writes and COMMIT: one write for the node and one read for PostgreSQL instead of one per statement.
      let began!: Promise<unknown>;
      const running = corked(client, () => {
        began = client.query("BEGIN");
        began.catch(() => undefined);
        return fn(client, began);
      });
      const { result, beforeCommit, settle } = await running;
      const committed = corked(client, () => {
        beforeCommit?.();
        return client.query("COMMIT");
      });
      committed.catch(() => undefined);
      await began;
      await settle?.();
      await committed;
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
        // A statement this connection prepared before a migration changed its result columns is refused for
        // good: a fresh connection prepares it anew (pool.query drops such a connection by itself).
        if (isStalePlanError(error)) broken ??= error as Error;
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
