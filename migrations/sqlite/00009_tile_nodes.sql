-- A full tile's upper inner nodes beside it (issue 15; see the PostgreSQL
-- migration of the same version). Tiles written before this version have
-- none and are read whole.

-- +goose Up
ALTER TABLE tiles ADD COLUMN nodes BLOB
    CHECK (nodes IS NULL OR (length(nodes) = 960 AND length(hashes) = 8192));

-- +goose Down
ALTER TABLE tiles DROP COLUMN nodes;
