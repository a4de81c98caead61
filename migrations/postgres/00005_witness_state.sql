-- A witness's state (tabula witness, c2sp.org/tlog-witness): per log
-- origin, the checkpoint it last cosigned. Rows are replaced by
-- compare-and-swap on (size, root), never deleted.

-- +goose Up
CREATE TABLE witness_checkpoints (
    origin     TEXT        NOT NULL PRIMARY KEY,
    size       BIGINT      NOT NULL CHECK (size >= 0),
    root       BYTEA       NOT NULL CHECK (length(root) = 32),
    note       BYTEA       NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE witness_checkpoints;
