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
];
