// Versioned PostgreSQL schema (the same tables as SQLite's). Each entry runs once, in order, inside the
// migrating transaction; schema_migrations records which have run. Never edit an entry that has shipped.
// Times are BIGINT epoch milliseconds; JSON values are TEXT (exact round trip; "\u0000" stays legal).

export const POSTGRES_MIGRATIONS: readonly string[] = [
  // 1: the initial schema
  `
  CREATE TABLE users (
    id TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT,
    token_generation INTEGER NOT NULL DEFAULT 0
  );

  CREATE TABLE threads (
    id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    deleted_at BIGINT,
    metadata TEXT,
    retention TEXT,
    next_sequence BIGINT NOT NULL,
    clock BIGINT NOT NULL,
    last_message_at BIGINT,
    expires_at BIGINT
  );
  CREATE INDEX threads_expires ON threads(expires_at) WHERE expires_at IS NOT NULL;

  CREATE TABLE participants (
    thread_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    display_name TEXT,
    share_history_time BIGINT NOT NULL,
    metadata TEXT,
    joined_at BIGINT NOT NULL,
    ord BIGINT GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (thread_id, user_id)
  );
  CREATE INDEX participants_user ON participants(user_id, thread_id);
  CREATE INDEX participants_order ON participants(thread_id, joined_at, ord);

  CREATE TABLE messages (
    thread_id TEXT NOT NULL,
    id TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    sender TEXT,
    sender_display_name TEXT,
    created_at BIGINT NOT NULL,
    edited_at BIGINT,
    deleted_at BIGINT,
    version BIGINT NOT NULL,
    metadata TEXT,
    PRIMARY KEY (thread_id, id)
  );
  CREATE UNIQUE INDEX messages_sequence ON messages(thread_id, sequence);
  CREATE UNIQUE INDEX messages_version ON messages(thread_id, version);

  CREATE TABLE read_receipts (
    thread_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    read_at BIGINT NOT NULL,
    PRIMARY KEY (thread_id, user_id)
  );

  CREATE TABLE idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
  );
  CREATE INDEX idempotency_created ON idempotency(created_at);

  -- Positions come from this sequence, but only under the event-append lock (see postgres-store.ts).
  CREATE SEQUENCE events_position;
  CREATE TABLE events (
    position BIGINT PRIMARY KEY,
    thread_id TEXT NOT NULL,
    type TEXT NOT NULL,
    recipients TEXT[] NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL
  );
  CREATE INDEX events_thread ON events(thread_id, position);
  CREATE INDEX events_created ON events(created_at);
  CREATE INDEX events_recipients ON events USING GIN (recipients);
  `,
  // 2: the user directory of demo sign-in
  `
  CREATE TABLE profiles (
    user_id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    created_at BIGINT NOT NULL
  );
  CREATE UNIQUE INDEX profiles_name ON profiles(lower(display_name));
  `,
  // 3: the retention marker of the event stream (one row): the highest position deleted by retention.
  // An existing database starts conservatively: everything below its oldest remaining event counts as purged
  // (or, with no event left, everything the sequence handed out), so a resume from before it gets resyncNeeded.
  `
  CREATE TABLE stream_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    purged_through BIGINT NOT NULL
  );
  INSERT INTO stream_state (id, purged_through) VALUES (1, COALESCE(
    (SELECT min(position) - 1 FROM events),
    (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM events_position),
    0));
  `,
  // 4: identity api-version 2025-06-30: a caller-chosen customId per identity (unique among the users that hold
  // one; the partial index is also insertUser's ON CONFLICT target) and when a token was last issued.
  `
  ALTER TABLE users ADD COLUMN custom_id TEXT;
  ALTER TABLE users ADD COLUMN last_token_issued_at BIGINT;
  CREATE UNIQUE INDEX users_custom_id ON users(custom_id) WHERE custom_id IS NOT NULL;
  `,
  // 5: chat images (UploadChatImage, chat preview api-versions), per thread; deleted with the thread's content.
  `
  CREATE TABLE images (
    thread_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT,
    content_type TEXT NOT NULL,
    data BYTEA NOT NULL,
    uploaded_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (thread_id, id)
  );
  `,
  // 6: Trouter resume: per (user, endpoint id) the stream position the client acknowledged, so Azure's SDK,
  // which reconnects with the same epid, gets the events committed while it was away (also across a restart).
  `
  CREATE TABLE endpoint_cursors (
    user_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, endpoint_id)
  );
  CREATE INDEX endpoint_cursors_updated ON endpoint_cursors(updated_at);
  `,
  // 7: stream positions from transaction ids, without a cluster-wide lock (see postgres-store.ts): an event's
  // position is ((xid8 of its transaction + base) << 8) | its index in the transaction, and readers stop below
  // natter_stream_horizon(), the position of the oldest transaction still running. `base` is chosen here so that
  // every new position is above every position handed out before (the sequence's, and the retention marker).
  // A node of the previous version still draws positions from the sequence while a rolling upgrade runs: the
  // sequence now starts at 2^52, far above the new range, and the trigger (for those values only) gives such an
  // event its position in the new order instead.
  `
  CREATE FUNCTION natter_events_legacy_position() RETURNS trigger LANGUAGE plpgsql AS $body$
  BEGIN
    NEW.position := natter_event_position((NEW.position % 256)::integer);
    RETURN NEW;
  END
  $body$;
  DO $migration$
  DECLARE
    old_max bigint := GREATEST(
      COALESCE((SELECT max(position) FROM events), 0),
      (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM events_position),
      COALESCE((SELECT purged_through FROM stream_state WHERE id = 1), 0));
    base bigint := GREATEST(0, (old_max >> 8) + 1 - pg_current_xact_id()::text::bigint);
  BEGIN
    EXECUTE format($f$CREATE FUNCTION natter_event_position(idx integer) RETURNS bigint LANGUAGE sql VOLATILE
      AS 'SELECT ((pg_current_xact_id()::text::bigint + %s) << 8) | $1'$f$, base);
    EXECUTE format($f$CREATE FUNCTION natter_stream_horizon() RETURNS bigint LANGUAGE sql STABLE
      AS 'SELECT (pg_snapshot_xmin(pg_current_snapshot())::text::bigint + %s) << 8'$f$, base);
    EXECUTE format($f$CREATE FUNCTION natter_position_of_xid(xid bigint) RETURNS bigint LANGUAGE sql IMMUTABLE
      AS 'SELECT ($1 + %s) << 8'$f$, base);
  END
  $migration$;
  ALTER SEQUENCE events_position RESTART WITH 4503599627370496;
  CREATE TRIGGER events_legacy_position BEFORE INSERT ON events FOR EACH ROW
    WHEN (NEW.position >= 4503599627370496) EXECUTE FUNCTION natter_events_legacy_position();
  `,
  // 8: keys that lead with the thread id, so that the events table can later be partitioned or distributed by
  // thread (several databases, Citus: docs/scaling.md) like messages, participants and receipts already can:
  // the primary key becomes (thread_id, position), which also serves the per-thread index it replaces, and the
  // stream order is a plain index on position (positions are unique by construction, migration 7).
  `
  ALTER TABLE events DROP CONSTRAINT events_pkey;
  ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (thread_id, position);
  DROP INDEX events_thread;
  CREATE INDEX events_stream_order ON events(position);
  `,
  // 9: server-side events (docs/events.md): webhook subscriptions with their stream cursor and delivery lease, the
  // per-subscription retry queue (events whose first attempt failed, and those of their threads behind them), and
  // dead letters.
  `
  CREATE TABLE event_subscriptions (
    name TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    secret TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    cursor BIGINT NOT NULL,
    lease_holder TEXT,
    lease_expires_at BIGINT NOT NULL DEFAULT 0
  );
  CREATE TABLE event_deliveries (
    seq BIGSERIAL PRIMARY KEY,
    subscription TEXT NOT NULL,
    dead BOOLEAN NOT NULL,
    event_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    event TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    at BIGINT NOT NULL,
    reason TEXT,
    last_error TEXT
  );
  CREATE INDEX event_deliveries_queue ON event_deliveries(subscription, dead, seq);
  `,
  // 10: full-text search of messages (docs/extensions.md "Search"): one row per searchable message with the tsvector
  // of the tokens domain/search-text.ts makes (positions kept, for phrases), under a GIN index. id orders hits
  // newest first. Existing messages are indexed by PostgresStore.migrate() (search_backfill: how far it got).
  `
  CREATE TABLE message_search (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    thread_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    document tsvector NOT NULL
  );
  CREATE UNIQUE INDEX message_search_message ON message_search(thread_id, message_id);
  CREATE INDEX message_search_document ON message_search USING GIN (document);
  CREATE TABLE search_backfill (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    done BOOLEAN NOT NULL,
    after_thread TEXT NOT NULL,
    after_message TEXT NOT NULL
  );
  INSERT INTO search_backfill (id, done, after_thread, after_message) VALUES (1, false, '', '');
  `,
  // 11: lockThread in one statement (postgres-store.ts): the thread's advisory lock, then its row lock, then the
  // position of the transaction's first event and the participants, read after the locks were granted (each
  // query of a VOLATILE function takes a new snapshot under READ COMMITTED, so a participant added by a writer
  // this one waited for is seen, as with a separate statement). Storage only: the rules stay in TypeScript.
  `
  CREATE FUNCTION natter_lock_thread(thread_id text, OUT thread threads, OUT first_position bigint,
    OUT user_ids text[], OUT share_history_times bigint[]) LANGUAGE plpgsql VOLATILE AS $body$
  BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(thread_id, 0));
    SELECT t.* INTO thread FROM threads t WHERE t.id = natter_lock_thread.thread_id FOR UPDATE;
    IF NOT FOUND THEN
      thread := NULL;
      RETURN;
    END IF;
    first_position := natter_position_of_xid(pg_current_xact_id()::text::bigint);
    SELECT COALESCE(array_agg(p.user_id ORDER BY p.joined_at, p.ord), '{}'), COALESCE(array_agg(p.share_history_time ORDER BY p.joined_at, p.ord), '{}')
      INTO user_ids, share_history_times FROM participants p WHERE p.thread_id = natter_lock_thread.thread_id;
  END
  $body$;
  `,

  // 12: the search document lives on the message row (search_document, and search_id: the search order, newest
  // first, kept when the document changes), so a send writes one row under one GIN index instead of a second
  // row in message_search with its two btree indexes (PostgreSQL CPU per send: bench/RESULTS.notes.md). The
  // documents of message_search are copied over. message_search stays for nodes of the previous version during a
  // rolling upgrade: what they write there is mirrored onto the message rows (their own searches miss messages
  // written by new nodes until they are replaced). A later migration drops it.
  `
  CREATE SEQUENCE messages_search_id;
  ALTER TABLE messages ADD COLUMN search_id BIGINT, ADD COLUMN search_document tsvector;
  UPDATE messages m SET search_id = s.id, search_document = s.document FROM message_search s
    WHERE s.thread_id = m.thread_id AND s.message_id = m.id;
  SELECT setval('messages_search_id', COALESCE((SELECT max(id) FROM message_search), 0) + 1, false);
  CREATE INDEX messages_search_document ON messages USING GIN (search_document) WHERE search_document IS NOT NULL;
  CREATE INDEX messages_search_order ON messages (search_id) WHERE search_document IS NOT NULL;
  CREATE FUNCTION natter_message_search_mirror() RETURNS trigger LANGUAGE plpgsql AS $body$
  BEGIN
    IF TG_OP = 'DELETE' THEN
      UPDATE messages SET search_document = NULL WHERE thread_id = OLD.thread_id AND id = OLD.message_id;
    ELSE
      UPDATE messages SET search_document = NEW.document, search_id = COALESCE(search_id, nextval('messages_search_id'))
        WHERE thread_id = NEW.thread_id AND id = NEW.message_id;
    END IF;
    RETURN NULL;
  END
  $body$;
  CREATE TRIGGER message_search_mirror AFTER INSERT OR UPDATE OR DELETE ON message_search
    FOR EACH ROW EXECUTE FUNCTION natter_message_search_mirror();
  `,
];
