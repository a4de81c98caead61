-- Many logs in one database: the log set.
--
-- logs holds one row per log. Entries and search keys stay where they are,
-- stored under their VIRTUAL index (the log's start_index + its own index),
-- so entries.idx, search_keys.idx and UNIQUE (leaf_hash) keep their meaning
-- across logs and this upgrade rewrites no entry and rebuilds no entry
-- index: the existing tree becomes the active rekor-v1 log with
-- start_index 0. Its origin and public key are unknown here (NULL) until
-- the server first starts it and fills them from its configured key.
--
-- tree_state becomes one row per log, keyed by tree_id. tiles gains tree_id
-- in its primary key: that table (about 3% of the data) is copied once,
-- which is acceptable for a one-time upgrade.

-- +goose Up
CREATE TABLE logs (
    tree_id          BIGINT      NOT NULL PRIMARY KEY CHECK (tree_id > 0),
    origin           TEXT,
    profile          TEXT        NOT NULL,
    public_key       BYTEA,
    state            TEXT        NOT NULL CHECK (state IN ('active', 'frozen')),
    start_index      BIGINT      NOT NULL CHECK (start_index >= 0),
    final_size       BIGINT      CHECK (final_size >= 0),
    final_checkpoint BYTEA,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- At most one active log per profile.
CREATE UNIQUE INDEX logs_one_active ON logs (profile) WHERE state = 'active';

INSERT INTO logs (tree_id, profile, state, start_index)
SELECT tree_id, 'rekor-v1', 'active', 0 FROM tree_state;

ALTER TABLE tree_state DROP CONSTRAINT tree_state_pkey;
ALTER TABLE tree_state DROP COLUMN id;
ALTER TABLE tree_state ADD CONSTRAINT tree_state_pkey PRIMARY KEY (tree_id);
ALTER TABLE tree_state ADD CONSTRAINT tree_state_tree_id_fkey FOREIGN KEY (tree_id) REFERENCES logs (tree_id);

CREATE TABLE tiles_by_tree (
    tree_id BIGINT   NOT NULL,
    level   SMALLINT NOT NULL CHECK (level >= 0 AND level <= 255),
    idx     BIGINT   NOT NULL CHECK (idx >= 0),
    hashes  BYTEA    NOT NULL CHECK (length(hashes) > 0 AND length(hashes) % 32 = 0 AND length(hashes) <= 8192),
    CONSTRAINT tiles_by_tree_pkey PRIMARY KEY (tree_id, level, idx)
);
INSERT INTO tiles_by_tree (tree_id, level, idx, hashes)
SELECT s.tree_id, t.level, t.idx, t.hashes FROM tiles t CROSS JOIN tree_state s;
DROP TABLE tiles;
ALTER TABLE tiles_by_tree RENAME TO tiles;
ALTER TABLE tiles RENAME CONSTRAINT tiles_by_tree_pkey TO tiles_pkey;

-- +goose Down
-- Back to one tree: fails (a primary key conflict) if the set holds more
-- than one log.
CREATE TABLE tiles_one_tree (
    level  SMALLINT NOT NULL CHECK (level >= 0 AND level <= 255),
    idx    BIGINT   NOT NULL CHECK (idx >= 0),
    hashes BYTEA    NOT NULL CHECK (length(hashes) > 0 AND length(hashes) % 32 = 0 AND length(hashes) <= 8192),
    CONSTRAINT tiles_one_tree_pkey PRIMARY KEY (level, idx)
);
INSERT INTO tiles_one_tree (level, idx, hashes) SELECT level, idx, hashes FROM tiles;
DROP TABLE tiles;
ALTER TABLE tiles_one_tree RENAME TO tiles;
ALTER TABLE tiles RENAME CONSTRAINT tiles_one_tree_pkey TO tiles_pkey;

ALTER TABLE tree_state DROP CONSTRAINT tree_state_tree_id_fkey;
ALTER TABLE tree_state DROP CONSTRAINT tree_state_pkey;
ALTER TABLE tree_state ADD COLUMN id SMALLINT NOT NULL DEFAULT 1 CHECK (id = 1);
ALTER TABLE tree_state ALTER COLUMN id DROP DEFAULT;
ALTER TABLE tree_state ADD CONSTRAINT tree_state_pkey PRIMARY KEY (id);
DROP TABLE logs;
