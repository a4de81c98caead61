-- The log's schema: one tree per database.
--
-- tree_state is a singleton row (id = 1) holding the committed head; Append
-- takes its row lock (SELECT ... FOR UPDATE) and compares size, which is what
-- serialises writers from any number of processes.

-- +goose Up
CREATE TABLE tree_state (
    id         SMALLINT    NOT NULL PRIMARY KEY CHECK (id = 1),
    tree_id    BIGINT      NOT NULL,
    size       BIGINT      NOT NULL CHECK (size >= 0),
    root       BYTEA       NOT NULL CHECK (length(root) = 32),
    checkpoint BYTEA,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE entries (
    idx             BIGINT NOT NULL CHECK (idx >= 0),
    leaf_hash       BYTEA  NOT NULL CHECK (length(leaf_hash) = 32),
    body            BYTEA  NOT NULL,
    integrated_time BIGINT NOT NULL,
    set_sig         BYTEA,
    attestation     BYTEA,
    CONSTRAINT entries_pkey PRIMARY KEY (idx),
    CONSTRAINT entries_leaf_hash_key UNIQUE (leaf_hash)
);

-- A tile holds the hashes of tree level 8*level, nodes [256*idx, 256*idx+n).
CREATE TABLE tiles (
    level  SMALLINT NOT NULL CHECK (level >= 0 AND level <= 255),
    idx    BIGINT   NOT NULL CHECK (idx >= 0),
    hashes BYTEA    NOT NULL CHECK (length(hashes) > 0 AND length(hashes) % 32 = 0 AND length(hashes) <= 8192),
    PRIMARY KEY (level, idx)
);

CREATE TABLE search_keys (
    key TEXT   NOT NULL,
    idx BIGINT NOT NULL,
    PRIMARY KEY (key, idx)
);

-- +goose Down
DROP TABLE search_keys;
DROP TABLE tiles;
DROP TABLE entries;
DROP TABLE tree_state;
