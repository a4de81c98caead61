-- Witnessed logs (issue 13): the newest cosigned checkpoint of each log, and
-- leases that let one process at a time submit a log's checkpoints to its
-- witnesses.
--
-- cosigned_checkpoints holds one row per log: the newest checkpoint that met
-- the log's witness policy, as a signed note with the log's signature and the
-- witnesses' cosignature lines. The row only moves forward (the store's
-- StoreCosigned compares sizes). Every replica reads it, so cosignatures one
-- process gathered are served by all.
--
-- leases holds named, expiring leases (holder, expires_at by the database's
-- clock).

-- +goose Up
CREATE TABLE cosigned_checkpoints (
    tree_id   BIGINT      NOT NULL PRIMARY KEY REFERENCES logs (tree_id),
    size      BIGINT      NOT NULL CHECK (size >= 0),
    note      BYTEA       NOT NULL,
    stored_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE leases (
    name       TEXT        NOT NULL PRIMARY KEY,
    holder     TEXT        NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE leases;
DROP TABLE cosigned_checkpoints;
