-- Many logs in one database: the log set. Same tables and meaning as the
-- PostgreSQL migration of this version (see its comment): entries and search
-- keys stay as they are, under their virtual index; the existing tree
-- becomes the active rekor-v1 log with start_index 0 (origin and public key
-- NULL until the server first starts it); tree_state is keyed by tree_id;
-- tiles gains tree_id in its primary key, which copies that table (about 3%
-- of the data) once.

-- +goose Up
CREATE TABLE logs (
    tree_id          INTEGER NOT NULL PRIMARY KEY CHECK (tree_id > 0),
    origin           TEXT,
    profile          TEXT    NOT NULL,
    public_key       BLOB,
    state            TEXT    NOT NULL CHECK (state IN ('active', 'frozen')),
    start_index      INTEGER NOT NULL CHECK (start_index >= 0),
    final_size       INTEGER CHECK (final_size >= 0),
    final_checkpoint BLOB,
    created_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- At most one active log per profile.
CREATE UNIQUE INDEX logs_one_active ON logs (profile) WHERE state = 'active';

INSERT INTO logs (tree_id, profile, state, start_index)
SELECT tree_id, 'rekor-v1', 'active', 0 FROM tree_state;

CREATE TABLE tree_state_by_tree (
    tree_id    INTEGER NOT NULL PRIMARY KEY REFERENCES logs (tree_id),
    size       INTEGER NOT NULL CHECK (size >= 0),
    root       BLOB    NOT NULL CHECK (typeof(root) = 'blob' AND length(root) = 32),
    checkpoint BLOB,
    updated_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO tree_state_by_tree (tree_id, size, root, checkpoint, updated_at)
SELECT tree_id, size, root, checkpoint, updated_at FROM tree_state;
DROP TABLE tree_state;
ALTER TABLE tree_state_by_tree RENAME TO tree_state;

CREATE TABLE tiles_by_tree (
    tree_id INTEGER NOT NULL,
    level   INTEGER NOT NULL CHECK (level >= 0 AND level <= 255),
    idx     INTEGER NOT NULL CHECK (idx >= 0),
    hashes  BLOB    NOT NULL CHECK (length(hashes) > 0 AND length(hashes) % 32 = 0 AND length(hashes) <= 8192),
    PRIMARY KEY (tree_id, level, idx)
) WITHOUT ROWID;
INSERT INTO tiles_by_tree (tree_id, level, idx, hashes)
SELECT s.tree_id, t.level, t.idx, t.hashes FROM tiles t CROSS JOIN tree_state s;
DROP TABLE tiles;
ALTER TABLE tiles_by_tree RENAME TO tiles;

-- +goose Down
-- Back to one tree: fails (a constraint) if the set holds more than one log.
CREATE TABLE tiles_one_tree (
    level  INTEGER NOT NULL CHECK (level >= 0 AND level <= 255),
    idx    INTEGER NOT NULL CHECK (idx >= 0),
    hashes BLOB    NOT NULL CHECK (length(hashes) > 0 AND length(hashes) % 32 = 0 AND length(hashes) <= 8192),
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
INSERT INTO tiles_one_tree (level, idx, hashes) SELECT level, idx, hashes FROM tiles;
DROP TABLE tiles;
ALTER TABLE tiles_one_tree RENAME TO tiles;

CREATE TABLE tree_state_one_tree (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    tree_id    INTEGER NOT NULL,
    size       INTEGER NOT NULL CHECK (size >= 0),
    root       BLOB    NOT NULL CHECK (typeof(root) = 'blob' AND length(root) = 32),
    checkpoint BLOB,
    updated_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO tree_state_one_tree (id, tree_id, size, root, checkpoint, updated_at)
SELECT 1, tree_id, size, root, checkpoint, updated_at FROM tree_state;
DROP TABLE tree_state;
ALTER TABLE tree_state_one_tree RENAME TO tree_state;
DROP TABLE logs;
