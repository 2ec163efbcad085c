// Versioned SQLite schema. Each entry runs once, in order, inside a transaction; PRAGMA user_version
// records how many have run. Never edit an entry that has shipped: append a new one.

export const SQLITE_MIGRATIONS: readonly string[] = [
  // 1: the initial schema
  `
  CREATE TABLE users (
    id TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    deleted_at INTEGER,
    token_generation INTEGER NOT NULL DEFAULT 0
  ) STRICT;

  CREATE TABLE threads (
    id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    deleted_at INTEGER,
    metadata TEXT,
    retention TEXT,
    next_sequence INTEGER NOT NULL,
    clock INTEGER NOT NULL,
    last_message_at INTEGER,
    expires_at INTEGER
  ) STRICT;
  CREATE INDEX threads_expires ON threads(expires_at) WHERE expires_at IS NOT NULL;

  CREATE TABLE participants (
    thread_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    display_name TEXT,
    share_history_time INTEGER NOT NULL,
    metadata TEXT,
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (thread_id, user_id)
  ) STRICT;
  CREATE INDEX participants_user ON participants(user_id, thread_id);

  CREATE TABLE messages (
    thread_id TEXT NOT NULL,
    id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    sender TEXT,
    sender_display_name TEXT,
    created_at INTEGER NOT NULL,
    edited_at INTEGER,
    deleted_at INTEGER,
    version INTEGER NOT NULL,
    metadata TEXT,
    PRIMARY KEY (thread_id, id)
  ) STRICT;
  CREATE UNIQUE INDEX messages_sequence ON messages(thread_id, sequence);
  CREATE UNIQUE INDEX messages_version ON messages(thread_id, version);

  CREATE TABLE read_receipts (
    thread_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    read_at INTEGER NOT NULL,
    PRIMARY KEY (thread_id, user_id)
  ) STRICT;

  CREATE TABLE idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
  ) STRICT;
  CREATE INDEX idempotency_created ON idempotency(created_at);

  CREATE TABLE events (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    thread_id TEXT NOT NULL,
    type TEXT NOT NULL,
    recipients TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX events_thread ON events(thread_id, position);
  CREATE INDEX events_created ON events(created_at);
  `,
  // 2: the user directory of demo sign-in
  `
  CREATE TABLE profiles (
    user_id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;
  CREATE UNIQUE INDEX profiles_name ON profiles(display_name COLLATE NOCASE);
  `,
  // 3: the retention marker of the event stream (one row): the highest position deleted by retention.
  // An existing database starts conservatively: everything below its oldest remaining event counts as purged
  // (or, with no event left, everything ever allocated), so a resume from before it gets resyncNeeded.
  `
  CREATE TABLE stream_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    purged_through INTEGER NOT NULL
  ) STRICT;
  INSERT INTO stream_state (id, purged_through) VALUES (1, COALESCE(
    (SELECT MIN(position) - 1 FROM events),
    (SELECT seq FROM sqlite_sequence WHERE name = 'events'),
    0));
  `,
  // 4: one row per (recipient, event), so a user's events are an index range scan instead of a scan of
  // every newer event's recipient list (which cost 250 JSON scans per message in a 250-member thread).
  `
  CREATE TABLE event_recipients (
    user_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (user_id, position)
  ) STRICT, WITHOUT ROWID;
  INSERT OR IGNORE INTO event_recipients (user_id, position) SELECT j.value, e.position FROM events e, json_each(e.recipients) j;
  `,
  // 5: recipient sets replace migration 4's per-recipient rows. Each event points at the set of users it goes
  // to (members: the sorted JSON array of their raw ids), and a thread's events share one set until its
  // membership changes. Why: event_recipients(user_id, position) is clustered by user, so one message to a
  // 250-member thread dirtied ~250 leaf pages (about 1 MB of WAL per message, written again by the
  // checkpoint), and each event also kept its 20 KB recipient list. A user's events are now the events of the
  // sets the user is in (recipient_set_users), read through events(set_id, position). AUTOINCREMENT: a set id
  // is never reused, so readers may cache a set's members by id.
  `
  CREATE TABLE recipient_sets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    members TEXT NOT NULL UNIQUE
  ) STRICT;
  CREATE TABLE recipient_set_users (
    user_id TEXT NOT NULL,
    set_id INTEGER NOT NULL,
    PRIMARY KEY (user_id, set_id)
  ) STRICT, WITHOUT ROWID;
  ALTER TABLE events ADD COLUMN set_id INTEGER NOT NULL DEFAULT 0;
  CREATE TEMP TABLE event_members (position INTEGER PRIMARY KEY, members TEXT NOT NULL);
  INSERT INTO event_members (position, members) SELECT e.position,
    (SELECT json_group_array(value) FROM (SELECT DISTINCT value FROM json_each(e.recipients) ORDER BY value))
    FROM events e;
  INSERT INTO recipient_sets (members) SELECT members FROM event_members GROUP BY members ORDER BY MIN(position);
  UPDATE events SET set_id = (SELECT s.id FROM event_members m JOIN recipient_sets s ON s.members = m.members WHERE m.position = events.position);
  DROP TABLE event_members;
  INSERT INTO recipient_set_users (user_id, set_id) SELECT DISTINCT j.value, s.id FROM recipient_sets s, json_each(s.members) j;
  CREATE INDEX events_set ON events(set_id, position);
  DROP TABLE event_recipients;
  ALTER TABLE events DROP COLUMN recipients;
  `,
  // 6: identity api-version 2025-06-30: a caller-chosen customId per identity (unique among the users that hold
  // one; the partial index is also insertUser's ON CONFLICT target) and when a token was last issued.
  `
  ALTER TABLE users ADD COLUMN custom_id TEXT;
  ALTER TABLE users ADD COLUMN last_token_issued_at INTEGER;
  CREATE UNIQUE INDEX users_custom_id ON users(custom_id) WHERE custom_id IS NOT NULL;
  `,
  // 7: chat images (UploadChatImage, chat preview api-versions), per thread; deleted with the thread's content.
  `
  CREATE TABLE images (
    thread_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT,
    content_type TEXT NOT NULL,
    data BLOB NOT NULL,
    uploaded_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (thread_id, id)
  ) STRICT;
  `,
  // 8: Trouter resume: per (user, endpoint id) the stream position the client acknowledged, so Azure's SDK,
  // which reconnects with the same epid, gets the events committed while it was away (also across a restart).
  `
  CREATE TABLE endpoint_cursors (
    user_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, endpoint_id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX endpoint_cursors_updated ON endpoint_cursors(updated_at);
  `,
  // 9: fewer b-trees written per send (issue #17). With many active threads each send's entry in a per-thread
  // index lands on its own page, and every such page is a 4 KB WAL frame (and later a checkpoint write).
  // events_thread only served purgeThread: thread_sets (a row per thread and recipient set, written when a
  // thread first uses a set) finds a thread's events through events_set instead.
  `
  CREATE TABLE thread_sets (
    thread_id TEXT NOT NULL,
    set_id INTEGER NOT NULL,
    PRIMARY KEY (thread_id, set_id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX thread_sets_set ON thread_sets(set_id);
  INSERT INTO thread_sets (thread_id, set_id) SELECT DISTINCT thread_id, set_id FROM events;
  DROP INDEX events_thread;
  `,
  // 10: server-side events (docs/events.md): webhook subscriptions with their stream cursor and delivery lease, the
  // per-subscription retry queue (events whose first attempt failed, and those of their threads behind them), and
  // dead letters.
  `
  CREATE TABLE event_subscriptions (
    name TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    secret TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    cursor INTEGER NOT NULL,
    lease_holder TEXT,
    lease_expires_at INTEGER NOT NULL DEFAULT 0
  ) STRICT;
  CREATE TABLE event_deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription TEXT NOT NULL,
    dead INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    event TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    at INTEGER NOT NULL,
    reason TEXT,
    last_error TEXT
  ) STRICT;
  CREATE INDEX event_deliveries_queue ON event_deliveries(subscription, dead, seq);
  `,
  // 11: full-text search of messages (docs/extensions.md "Search"). message_search maps a search document id (an
  // INTEGER PRIMARY KEY, so VACUUM keeps it; append-only) to its message, and messages.search_id points back (no
  // index on (thread, message) to update at random per send). The FTS5 table is contentless (the text lives in
  // messages) and holds the tokens domain/search-text.ts makes, so unicode61 only splits them at spaces; its
  // `thread` column holds one token per thread, so a query can be narrowed to the caller's threads. Existing
  // messages are indexed by SqliteStore.migrate() (search_backfill marks how far it got; -1 when done).
  `
  CREATE TABLE message_search (
    id INTEGER PRIMARY KEY,
    thread_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;
  ALTER TABLE messages ADD COLUMN search_id INTEGER;
  CREATE VIRTUAL TABLE message_search_fts USING fts5(document, thread, content='', contentless_delete=1,
    tokenize="unicode61 remove_diacritics 0 categories 'L* N* Co M*'");
  CREATE TABLE search_backfill (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    after_rowid INTEGER NOT NULL
  ) STRICT;
  INSERT INTO search_backfill (id, after_rowid) VALUES (1, 0);
  `,
  // 12: messages keyed by an integer per thread (issue #17). With many active threads each send's entry in a per-thread
  // index lands on its own 1 KB page, and an entry that repeats the 45-byte thread id filled a leaf in ~13 sends, so
  // each index cost ~1.6 WAL frames per send. thread_keys gives every thread id a small integer (allocated at the
  // thread's first message; a thread's messages are gone before its key is, see purgeThread), and messages store it
  // instead of the id. The (id, thread) index leads with the id: ids are the thread's clock (epoch ms), so new entries
  // of every thread land at its right end, on a page they share, instead of one page per thread. Rowids are kept
  // (search_backfill counts by them).
  `
  CREATE TABLE thread_keys (
    key INTEGER PRIMARY KEY,
    thread_id TEXT NOT NULL UNIQUE
  ) STRICT;
  INSERT INTO thread_keys (thread_id) SELECT id FROM threads UNION SELECT thread_id FROM messages;
  CREATE TABLE messages_keyed (
    thread_key INTEGER NOT NULL,
    id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    sender TEXT,
    sender_display_name TEXT,
    created_at INTEGER NOT NULL,
    edited_at INTEGER,
    deleted_at INTEGER,
    version INTEGER NOT NULL,
    metadata TEXT,
    search_id INTEGER
  ) STRICT;
  INSERT INTO messages_keyed (rowid, thread_key, id, sequence, type, body, sender, sender_display_name, created_at, edited_at, deleted_at, version, metadata, search_id)
    SELECT m.rowid, k.key, m.id, m.sequence, m.type, m.body, m.sender, m.sender_display_name, m.created_at, m.edited_at, m.deleted_at, m.version, m.metadata, m.search_id
    FROM messages m JOIN thread_keys k ON k.thread_id = m.thread_id ORDER BY m.rowid;
  DROP TABLE messages;
  ALTER TABLE messages_keyed RENAME TO messages;
  CREATE UNIQUE INDEX messages_id ON messages(id, thread_key);
  CREATE UNIQUE INDEX messages_sequence ON messages(thread_key, sequence);
  CREATE UNIQUE INDEX messages_version ON messages(thread_key, version);
  `,
];
