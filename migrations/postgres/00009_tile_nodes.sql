-- A full tile's upper inner nodes beside it (issue 15; docs/SCALE.md).
--
-- A random read of an old entry answers with an inclusion proof through
-- the entry's level-0 tile. With the tile's 30 inner nodes at heights 4 to
-- 7 stored (960 bytes, inline in the row), the read takes of the tile only
-- the 16 hashes of the entry's group, a 512-byte slice of the TOASTed
-- 8 KiB value, and the proof hashes 15 times instead of 254
-- (merkle.GroupNodes). Tiles written before this version have no nodes and
-- are read whole, as before; nothing is backfilled here (a billion-entry
-- log has millions of tiles).
--
-- The hashes are stored EXTERNAL: out of line and never compressed (hashes
-- do not compress), so that PostgreSQL reads only the chunks a slice needs
-- and does not try to compress every full tile it writes. This applies to
-- values written from now on.

-- +goose Up
ALTER TABLE tiles ADD COLUMN nodes BYTEA
    CHECK (nodes IS NULL OR (length(nodes) = 960 AND length(hashes) = 8192));
ALTER TABLE tiles ALTER COLUMN hashes SET STORAGE EXTERNAL;

-- +goose Down
ALTER TABLE tiles ALTER COLUMN hashes SET STORAGE EXTENDED;
ALTER TABLE tiles DROP COLUMN nodes;
