-- Search keys become typed, fixed-size hashes (see types.SearchKey): the
-- index stores SHA-256("tabula-search-key:" || kind || ":" || value) with
-- kind one of digest, key, email, subject, so no key is too long for a
-- B-tree row, none holds a byte a TEXT column refuses, and keys of different
-- kinds never match each other.
--
-- Existing keys were stored lower-cased, untyped; each is classified by its
-- text and hashed as it stands (lower-casing again would change nothing):
--   "<alg>:<hex>"  (^[a-z0-9_-]+:[0-9a-f]+$)   digest
--   64 hex digits  (^[0-9a-f]{64}$)            key
--   an '@' and no ':'                          email
--   anything else                              subject
-- The same rule, in Go, migrates SQLite databases (package migrations).

-- +goose Up
CREATE TABLE search_keys_hashed (
    key BYTEA  NOT NULL CHECK (length(key) = 32),
    idx BIGINT NOT NULL,
    CONSTRAINT search_keys_hashed_pkey PRIMARY KEY (key, idx)
);

INSERT INTO search_keys_hashed (key, idx)
SELECT sha256(convert_to('tabula-search-key:' || CASE
           WHEN key ~ '^[a-z0-9_-]+:[0-9a-f]+$' COLLATE "C" THEN 'digest'
           WHEN key ~ '^[0-9a-f]{64}$' COLLATE "C" THEN 'key'
           WHEN strpos(key, '@') > 0 AND strpos(key, ':') = 0 THEN 'email'
           ELSE 'subject'
       END || ':' || key, 'UTF8')),
       idx
FROM search_keys
ON CONFLICT DO NOTHING;

DROP TABLE search_keys;
ALTER TABLE search_keys_hashed RENAME TO search_keys;
ALTER TABLE search_keys RENAME CONSTRAINT search_keys_hashed_pkey TO search_keys_pkey;

-- +goose Down
-- The keys' texts are gone; there is no way back.
-- +goose StatementBegin
DO $$ BEGIN
    RAISE EXCEPTION 'migration 2 cannot be undone: search keys are stored as hashes';
END $$;
-- +goose StatementEnd
