-- A witness's state (tabula witness, c2sp.org/tlog-witness): per log
-- origin, the checkpoint it last cosigned. Same table and meaning as the
-- PostgreSQL migration of this version.

-- +goose Up
CREATE TABLE witness_checkpoints (
    origin     TEXT    NOT NULL PRIMARY KEY,
    size       INTEGER NOT NULL CHECK (size >= 0),
    root       BLOB    NOT NULL CHECK (typeof(root) = 'blob' AND length(root) = 32),
    note       BLOB    NOT NULL,
    updated_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- +goose Down
DROP TABLE witness_checkpoints;
