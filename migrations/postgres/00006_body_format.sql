-- Entry bodies stored compressed (storage/bodycodec): body_format says how
-- a row's body is encoded, NULL for a body stored as it is. Every row
-- written before this version is such a row, so none is rewritten, and a
-- NULL costs a row nothing (entries rows already have a null bitmap: set_sig
-- and attestation are nullable). The CHECK keeps one spelling of "raw" for
-- new rows; NOT VALID spares the scan of the existing ones, which are NULL.

-- +goose Up
ALTER TABLE entries ADD COLUMN body_format SMALLINT;
ALTER TABLE entries ADD CONSTRAINT entries_body_format_check CHECK (body_format > 0) NOT VALID;

-- +goose Down
-- Without the column a compressed body would be read as raw bytes: refuse
-- to go down while one is stored.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM entries WHERE body_format IS NOT NULL) THEN
        RAISE EXCEPTION 'entries hold compressed bodies (body_format): migration 6 cannot be undone';
    END IF;
END
$$;
-- +goose StatementEnd
ALTER TABLE entries DROP COLUMN body_format;
