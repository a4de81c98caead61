-- Fewer bytes on disk per entry (issue 15; docs/BENCHMARKS.md).
--
-- 1. Partial level-0 tiles are no longer stored. A level-0 tile's hashes
--    are its entries' leaf hashes, so the driver stores a level-0 tile once
--    full and answers the right-edge one from entries.leaf_hash, in the
--    snapshot that gives the log's size. Rewriting it on every batch (~4 KiB
--    on average, TOASTed) was ~12 % of the WAL and left ~160 bytes of dead
--    tile per entry. The partial level-0 tiles stored so far are deleted
--    (reads ignore them anyway: an older release still running beside this
--    one may write them again until it stops).
--
-- 2. Search keys are stored as the first 16 bytes of their SHA-256, as a
--    uuid: a fixed 16-byte type with B-tree support and no varlena header,
--    so a (key, idx) index tuple is 32 bytes instead of 56. A search
--    matches on the 128-bit prefix; a false match needs a deliberate
--    collision (~2^64 work) and yields an extra index in a search result,
--    which clients verify anyway (storage.Storage.Search). Rows that
--    collapse onto one (prefix, idx) are kept once. The table is rebuilt
--    and its index built once, sorted, after the copy, in this migration's
--    transaction: writes wait for it (400,000 keys took 5 s on a loaded
--    2-core machine; a 10M-entry log's 20M keys take minutes).

-- +goose Up
DELETE FROM tiles WHERE level = 0 AND length(hashes) < 8192;

CREATE TABLE search_keys_short (
    key UUID   NOT NULL,
    idx BIGINT NOT NULL
);

INSERT INTO search_keys_short (key, idx)
SELECT DISTINCT encode(substring(key FROM 1 FOR 16), 'hex')::uuid, idx
FROM search_keys;

DROP TABLE search_keys;
ALTER TABLE search_keys_short RENAME TO search_keys;
ALTER TABLE search_keys ADD CONSTRAINT search_keys_pkey PRIMARY KEY (key, idx);

-- +goose Down
-- The keys' last 16 bytes are gone: a search index that holds keys cannot
-- be given back to a release that reads 32-byte keys. An empty one can, and
-- the partial level-0 tiles that release reads are rebuilt from the
-- entries.
-- +goose StatementBegin
DO $$ BEGIN
    IF EXISTS (SELECT FROM search_keys) THEN
        RAISE EXCEPTION 'migration 7 cannot be undone: search keys are stored as 16-byte prefixes';
    END IF;
END $$;
-- +goose StatementEnd

DROP TABLE search_keys;
CREATE TABLE search_keys (
    key BYTEA  NOT NULL CHECK (length(key) = 32),
    idx BIGINT NOT NULL,
    CONSTRAINT search_keys_pkey PRIMARY KEY (key, idx)
);

INSERT INTO tiles (tree_id, level, idx, hashes)
SELECT s.tree_id, 0, s.size / 256,
       (SELECT string_agg(e.leaf_hash, ''::bytea ORDER BY e.idx) FROM entries e
        WHERE e.idx >= l.start_index + s.size / 256 * 256 AND e.idx < l.start_index + s.size)
FROM tree_state s JOIN logs l ON l.tree_id = s.tree_id
WHERE s.size % 256 <> 0
ON CONFLICT (tree_id, level, idx) DO UPDATE SET hashes = excluded.hashes;
