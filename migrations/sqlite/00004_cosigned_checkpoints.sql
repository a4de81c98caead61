-- Witnessed logs: the newest cosigned checkpoint of each log, and named
-- leases. Same tables and meaning as the PostgreSQL migration of this
-- version (see its comment). expires_at is in Unix nanoseconds, by the
-- clock of the process that wrote it (processes sharing an SQLite file
-- share a machine).

-- +goose Up
CREATE TABLE cosigned_checkpoints (
    tree_id   INTEGER NOT NULL PRIMARY KEY REFERENCES logs (tree_id),
    size      INTEGER NOT NULL CHECK (size >= 0),
    note      BLOB    NOT NULL,
    stored_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE leases (
    name       TEXT    NOT NULL PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

-- +goose Down
DROP TABLE leases;
DROP TABLE cosigned_checkpoints;
