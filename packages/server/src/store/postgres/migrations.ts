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
  // 7: full-text search of messages (docs/extensions.md "Search"): one row per searchable message with the tsvector
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
];
