-- The log's schema: one tree per database file. Same tables and meaning as
-- the PostgreSQL schema; tree_state is a singleton row (id = 1), and writers
-- are serialised by BEGIN IMMEDIATE.

-- +goose Up
CREATE TABLE tree_state (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    tree_id    INTEGER NOT NULL,
    size       INTEGER NOT NULL CHECK (size >= 0),
    root       BLOB    NOT NULL CHECK (typeof(root) = 'blob' AND length(root) = 32),
    checkpoint BLOB,
    updated_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE entries (
    idx             INTEGER NOT NULL PRIMARY KEY CHECK (idx >= 0),
    leaf_hash       BLOB    NOT NULL UNIQUE CHECK (typeof(leaf_hash) = 'blob' AND length(leaf_hash) = 32),
    body            BLOB    NOT NULL,
    integrated_time INTEGER NOT NULL,
    set_sig         BLOB,
    attestation     BLOB
);

-- A tile holds the hashes of tree level 8*level, nodes [256*idx, 256*idx+n).
CREATE TABLE tiles (
    level  INTEGER NOT NULL CHECK (level >= 0 AND level <= 255),
    idx    INTEGER NOT NULL CHECK (idx >= 0),
    hashes BLOB    NOT NULL CHECK (length(hashes) > 0 AND length(hashes) % 32 = 0 AND length(hashes) <= 8192),
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;

CREATE TABLE search_keys (
    key TEXT    NOT NULL,
    idx INTEGER NOT NULL,
    PRIMARY KEY (key, idx)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE search_keys;
DROP TABLE tiles;
DROP TABLE entries;
DROP TABLE tree_state;
